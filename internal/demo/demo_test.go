package demo

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/trak-dev/trak/internal/backend/cpu"
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

// TestCLIPDemo runs the CLIP demo at a reduced size and checks that the
// checkpoints learned and the attribution means something: the top
// proponents of a target show its colour more often than chance, and the
// report is written.
func TestCLIPDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two small CLIP models")
	}
	opt := CLIPDefaults
	opt.Dir = t.TempDir()
	// 320 pairs, 6 epochs: 60 steps bring both checkpoints clearly below
	// chance (final-epoch mean loss 2.92 and 3.04 against the cut 3.12).
	// The test used to run 160 pairs for 4 epochs, where both checkpoints
	// stayed at chance and the figures below were those of untrained models.
	opt.Train, opt.Targets, opt.Epochs, opt.Checkpoints, opt.Workers = 320, 8, 6, 2, 2
	opt.Backend = cpu.New(opt.Workers)
	res, err := RunCLIP(context.Background(), opt, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.NotLearned) > 0 {
		t.Errorf("checkpoints %v did not learn (final-epoch mean losses %.3f)", res.NotLearned, res.EpochLoss)
	}
	t.Logf("final-epoch losses %.3f; shape: top-10 %.2f, random %.2f, chance %.2f; colour: top-10 %.2f, random %.2f, chance %.2f",
		res.EpochLoss, res.ShapeTop, res.ShapeRandom, res.ShapeChance, res.ColorTop, res.ColorRandom, res.ColorChance)
	// 80 proponents: the colour share's standard error at chance (0.17) is
	// sqrt(0.17·0.83/80) ≈ 0.042, so an excess of 0.12 is about 3 standard
	// errors (measured: 0.36 against 0.17). Shape is only logged: these
	// briefly trained models separate colours first, and at this size their
	// proponents show the target's shape at about chance (0.20); the
	// full-size demo finds it above chance (30% against 20%).
	if excess := res.ColorTop - res.ColorChance; excess < 0.12 {
		t.Errorf("proponents do not favour the target's colour (excess over chance %.2f, want ≥ 0.12)", excess)
	}
	for _, f := range []string{res.HTML, res.PNG} {
		if st, err := os.Stat(f); err != nil || st.Size() < 1000 {
			t.Errorf("report file %s: %v", f, err)
		}
	}
}
