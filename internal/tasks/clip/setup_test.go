package clip

import (
	"strings"
	"testing"

	clipmodel "github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/imageprep"
	"github.com/trak-dev/trak/internal/store"
)

// TestRecorded: unset settings take the store's values, set ones must agree
// with them, and a store without a record leaves the run's values.
func TestRecorded(t *testing.T) {
	tiny, _ := clipmodel.Preset("tiny")
	small, _ := clipmodel.Preset("small")
	tr := imageprep.DefaultTransform(32)
	tr.ExifTranspose = true
	meta := store.Metadata{
		ModelConfigHash: tiny.Hash(),
		ImageTransform:  tr.String(),
		CLIPSettings:    store.CLIPSettings{ModelConfig: tiny.JSON(), SimBatchSize: 7, Tokenizer: "sha256:x", VocabDir: "/v"},
	}
	none := func(string) bool { return false }
	s, err := Setup{SimBatch: 300, Transform: imageprep.Transform{Mode: "auto"}}.Recorded(meta, none)
	if err != nil {
		t.Fatal(err)
	}
	if s.ModelConfig == nil || s.ModelConfig.Hash() != tiny.Hash() || s.SimBatch != 7 || s.VocabDir != "/v" || !s.Transform.ExifTranspose || s.Transform.Mode != "auto" || s.Transform.Size != 32 {
		t.Errorf("unset settings: %+v", s)
	}

	set := func(keys ...string) func(string) bool {
		return func(k string) bool { return strings.Contains(strings.Join(keys, " "), k) }
	}
	for _, c := range []struct {
		name string
		s    Setup
		set  func(string) bool
		want string // "" for no error
	}{
		{"same sim_batch_size", Setup{SimBatch: 7}, set("sim_batch_size"), ""},
		{"other sim_batch_size", Setup{SimBatch: 8}, set("sim_batch_size"), "sim_batch_size: the store was featurized with 7, this run sets 8"},
		{"same model_config", Setup{ModelConfig: &tiny}, set("model_config"), ""},
		{"other model_config", Setup{ModelConfig: &small}, set("model_config"), "model_config"},
		{"other exif_transpose", Setup{}, set("exif_transpose"), "exif_transpose: the store was featurized with true, this run sets false"},
	} {
		_, err := c.s.Recorded(meta, c.set)
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}

	old := Setup{SimBatch: 300, VocabDir: "mine"}
	if s, err := old.Recorded(store.Metadata{}, none); err != nil || s.SimBatch != 300 || s.VocabDir != "mine" || s.ModelConfig != nil {
		t.Errorf("store without a record: %+v, %v", s, err)
	}
}
