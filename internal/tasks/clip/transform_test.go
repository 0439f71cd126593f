package clip

import (
	"strings"
	"testing"

	clipmodel "github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/imageprep"
)

func TestResolveImageMode(t *testing.T) {
	for _, c := range []struct {
		mode string
		f    dataset.Format
		want string
	}{
		{"auto", dataset.FormatWebDataset, "rgb"},
		{"", dataset.FormatWebDataset, "rgb"},
		{"auto", dataset.FormatCSV, "native"},
		{"auto", dataset.FormatTSV, "native"},
		{"auto", dataset.FormatFolder, "native"},
		{"native", dataset.FormatWebDataset, "native"},
		{"rgb", dataset.FormatCSV, "rgb"},
	} {
		if got, err := ResolveImageMode(c.mode, c.f); err != nil || got != c.want {
			t.Errorf("ResolveImageMode(%q, %s) = %q, %v; want %q", c.mode, c.f, got, err, c.want)
		}
	}
	if _, err := ResolveImageMode("RGB", dataset.FormatCSV); err == nil || !strings.Contains(err.Error(), "image_mode") {
		t.Errorf("bad mode: %v", err)
	}
}

func TestImageTransform(t *testing.T) {
	var cfg clipmodel.Config
	cfg.Vision.ImageSize = 64
	tr, err := Setup{}.ImageTransform(dataset.FormatCSV, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := imageprep.DefaultTransform(64)
	if tr != want {
		t.Errorf("zero Setup: %s, want %s", tr, want)
	}
	// A preprocess_cfg-style template keeps its fields; auto resolves.
	s := Setup{Transform: imageprep.Transform{Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.5, 0.5, 0.5}, Interpolation: "bilinear", ResizeMode: "squash", Mode: "auto"}}
	tr, err = s.ImageTransform(dataset.FormatWebDataset, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.String(); got != "rgb squash bilinear 64 mean=0.5,0.5,0.5 std=0.5,0.5,0.5 exif_transpose=false" {
		t.Errorf("got %s", got)
	}
	s.Transform.Size = 32
	if _, err := s.ImageTransform(dataset.FormatCSV, cfg); err == nil || !strings.Contains(err.Error(), "image size 64") {
		t.Errorf("size mismatch: %v", err)
	}
	s.Transform.Size, s.Transform.ResizeMode = 0, "crop"
	if _, err := s.ImageTransform(dataset.FormatCSV, cfg); err == nil || !strings.Contains(err.Error(), "resize mode") {
		t.Errorf("bad resize mode: %v", err)
	}
}
