package train

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestCheckLearned: the rule is a strict inequality against
// ChanceFraction·ln B, and the error names the run, its loss and chance.
// Losses are chosen well away from the cut (±0.01 nats) except for the
// exact-cut case, so no tolerance is involved.
func TestCheckLearned(t *testing.T) {
	cut32 := ChanceFraction * math.Log(32)
	tests := []struct {
		name    string
		loss    float64
		batch   int
		learned bool
	}{
		{"well trained", 1.5, 32, true},
		{"just below the cut", cut32 - 0.01, 32, true},
		{"at the cut", cut32, 32, false},
		{"collapsed plateau", 3.465, 32, false},
		{"above chance", 4.2, 32, false},
		{"NaN", math.NaN(), 32, false},
		{"smaller batch: cut 0.9·ln 8 = 1.87", 1.9, 8, false},
		{"smaller batch, learned", 1.8, 8, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckLearned("checkpoint 2", tt.loss, tt.batch)
			if (err == nil) != tt.learned {
				t.Fatalf("CheckLearned(%g, %d) = %v, want learned %v", tt.loss, tt.batch, err, tt.learned)
			}
			if err == nil {
				return
			}
			var nl *NotLearnedError
			if !errors.As(err, &nl) || nl.BatchSize != tt.batch {
				t.Fatalf("error %v is not a *NotLearnedError for batch %d", err, tt.batch)
			}
			for _, want := range []string{"checkpoint 2 did not learn", "chance", "90%"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
		})
	}
}

// TestEpochLosses: per-epoch means of the reported steps (exact: the sums
// are of a few binary-exact values).
func TestEpochLosses(t *testing.T) {
	var e EpochLosses
	if !math.IsNaN(e.Last()) {
		t.Errorf("no steps: Last = %g, want NaN", e.Last())
	}
	for _, s := range []Step{{Epoch: 0, Loss: 4}, {Epoch: 0, Loss: 3}, {Epoch: 1, Loss: 2}, {Epoch: 1, Loss: 1.5}} {
		e.Add(s)
	}
	if got := e.Means(); len(got) != 2 || got[0] != 3.5 || got[1] != 1.75 {
		t.Errorf("means %v, want [3.5 1.75]", got)
	}
	if e.Last() != 1.75 {
		t.Errorf("Last = %g, want 1.75", e.Last())
	}
}

// TestClipNorm: a gradient above the limit comes back with norm = limit
// (relative 1e-12: float64 rounding of a scale by one factor), one below
// it or with no limit is untouched, and the norm before clipping is
// returned.
func TestClipNorm(t *testing.T) {
	tests := []struct {
		name     string
		g        []float64
		limit    float64
		wantNorm float64
		want     []float64
	}{
		{"clipped", []float64{3, 4}, 1, 5, []float64{0.6, 0.8}},
		{"under the limit", []float64{0.3, 0.4}, 1, 0.5, []float64{0.3, 0.4}},
		{"no limit", []float64{3, 4}, 0, 5, []float64{3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := clipNorm(tt.g, tt.limit)
			if math.Abs(n-tt.wantNorm) > 1e-12*tt.wantNorm {
				t.Errorf("norm %g, want %g", n, tt.wantNorm)
			}
			for i := range tt.g {
				if math.Abs(tt.g[i]-tt.want[i]) > 1e-12 {
					t.Errorf("g = %v, want %v", tt.g, tt.want)
					break
				}
			}
		})
	}
}
