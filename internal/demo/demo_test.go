package demo

import (
	"context"
	"io"
	"testing"
)

// TestDemoFindsFlippedLabels runs the demo at a reduced size and checks
// that the attribution is meaningful, not just that it runs: the top
// proponents of a target share its label far more often than chance, and
// its top opponents are mislabelled train examples far more often than a
// random train example is.
func TestDemoFindsFlippedLabels(t *testing.T) {
	opt := Defaults
	opt.Dir = t.TempDir()
	opt.Train, opt.Targets, opt.Checkpoints, opt.Workers = 800, 40, 2, 2
	res, err := Run(context.Background(), opt, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("same label among top-10 proponents %.2f (random %.2f); flipped among top-10 opponents %.2f (random %.2f)",
		res.SameLabelTop, res.SameLabelRandom, res.FlippedOpp, res.FlippedRandom)
	// Margins far outside sampling noise: 400 draws each, so the random
	// shares have a standard error below 0.025.
	if res.SameLabelTop < res.Chance+0.15 {
		t.Errorf("proponents share the target's label %.2f of the time, chance is %.2f", res.SameLabelTop, res.Chance)
	}
	if res.FlippedOpp < 0.5 || res.FlippedOpp < 5*res.FlippedRandom {
		t.Errorf("only %.2f of the top opponents are mislabelled (random: %.2f)", res.FlippedOpp, res.FlippedRandom)
	}
}
