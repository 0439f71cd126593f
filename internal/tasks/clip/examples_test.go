package clip

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	clipmodel "github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/imageprep"
	"github.com/trak-dev/trak/internal/shapes"
)

// TestLoadInputCache checks that Load with the input cache returns the same
// batch, bit for bit and in the order asked, as Load without it; that a
// cached row is not read again (its image file is gone and it still
// loads); and that rows past the cache's limit are decoded each time.
func TestLoadInputCache(t *testing.T) {
	dir := t.TempDir()
	csv, err := shapes.WriteDataset(dir, shapes.Options{N: 6, Seed: 3}, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clipmodel.LoadConfigOrPreset("small")
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Data {
		d, err := Setup{MaxPixels: imageprep.DefaultMaxPixels, Workers: 2}.OpenData(dataset.Spec{Path: csv}, *cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ctx := context.Background()
	rows := []int{4, 1, 3, 1}
	want, err := open().LoadAll(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	rowBytes := int64(4 * (len(want.Images) + len(want.Tokens)) / want.N)
	cached := open()
	cached.CacheInputs(3 * rowBytes) // rows 4, 1 and 3; not 0
	if _, err := cached.LoadAll(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 3, 4} {
		if err := os.Remove(filepath.Join(dir, shapes.ImageName(i, 6))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := cached.LoadAll(ctx, rows)
	if err != nil {
		t.Fatalf("cached rows after their images were removed: %v", err)
	}
	same := func(a, b []float32) bool {
		return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
	}
	if got.N != want.N || !same(got.Images, want.Images) || !slices.Equal(got.Tokens, want.Tokens) {
		t.Errorf("cached batch differs from the decoded one")
	}
	// Row 0 was never cached (and the cache is full): it is read again,
	// and its image is gone.
	if _, bad := cached.Load(ctx, []int{0, 4}); len(bad) != 1 || bad[0] == nil {
		t.Errorf("uncached row with its image removed: %v, want an error for row 0 only", bad)
	}
}
