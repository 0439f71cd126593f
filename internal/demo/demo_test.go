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
// attribution means something: the top proponents of a target show its
// colour and its shape more often than chance, and the report is written.
func TestCLIPDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two small CLIP models")
	}
	opt := CLIPDefaults
	opt.Dir = t.TempDir()
	opt.Train, opt.Targets, opt.Epochs, opt.Checkpoints, opt.Workers = 160, 8, 4, 2, 2
	opt.Backend = cpu.New(opt.Workers)
	res, err := RunCLIP(context.Background(), opt, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shape: top-10 %.2f, random %.2f, chance %.2f; colour: top-10 %.2f, random %.2f, chance %.2f",
		res.ShapeTop, res.ShapeRandom, res.ShapeChance, res.ColorTop, res.ColorRandom, res.ColorChance)
	// 80 proponents per figure: each share's standard error is below 0.06,
	// so both above chance and a combined excess of 0.2 (about 2.4 standard
	// errors of the sum) is well outside noise.
	excess := (res.ColorTop - res.ColorChance) + (res.ShapeTop - res.ShapeChance)
	if res.ColorTop <= res.ColorChance || res.ShapeTop <= res.ShapeChance || excess < 0.2 {
		t.Errorf("proponents do not favour the target's colour and shape (combined excess over chance %.2f)", excess)
	}
	for _, f := range []string{res.HTML, res.PNG} {
		if st, err := os.Stat(f); err != nil || st.Size() < 1000 {
			t.Errorf("report file %s: %v", f, err)
		}
	}
}
