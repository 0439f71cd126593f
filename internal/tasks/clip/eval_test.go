package clip

import (
	"testing"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/train"
)

// TestLDSDefaultsAreTrainRecipe: trak eval lds trains its subset models
// with trak train's and the demo's recipe unless told otherwise, so that
// they are the models the user's checkpoints are.
func TestLDSDefaultsAreTrainRecipe(t *testing.T) {
	c, err := config.Load(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	r := train.Recipe()
	got := train.Options{BatchSize: c.LDS.BatchSize, LR: c.LDS.LR, WeightDecay: c.LDS.WeightDecay, Warmup: c.LDS.Warmup, ClipNorm: c.LDS.ClipNorm}
	if got != r {
		t.Errorf("lds.* defaults %+v, trak train's recipe %+v", got, r)
	}
}
