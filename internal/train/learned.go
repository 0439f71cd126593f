package train

import (
	"fmt"
	"math"
)

// ChanceFraction defines "clearly below chance": a run has learned when
// the mean batch loss of its final epoch is below ChanceFraction · ln(B),
// B the batch size. ln(B) is the contrastive loss of a model that cannot
// tell the pairs of a batch apart (the uniform softmax), which is where a
// collapsed or untrained CLIP sits. The final epoch's mean (not the last
// step's loss) is used because single batches are noisy: at B = 32 one
// step's loss varies by about ±0.1 around the plateau.
//
// Why 0.9: runs that did not learn ended at 0.98–1.00 · ln 32 (3.40–3.47),
// runs that did at 0.44–0.73 · ln 32 (1.52–2.54) on the demo's data, so
// the cut at 0.9 (3.12 at B = 32, a margin of 0.35 nats) separates the two
// with room on both sides.
const ChanceFraction = 0.9

// ChanceLoss is the contrastive loss of a model that cannot tell the pairs
// of a batch of b apart: ln b.
func ChanceLoss(b int) float64 { return math.Log(float64(b)) }

// NotLearnedError says that a training run's final epoch did not end
// clearly below chance (see ChanceFraction).
type NotLearnedError struct {
	Name      string  // what was trained, e.g. "checkpoint 1"
	EpochLoss float64 // mean loss of the final epoch
	BatchSize int
}

func (e *NotLearnedError) Error() string {
	c := ChanceLoss(e.BatchSize)
	return fmt.Sprintf("%s did not learn: the mean loss of its last epoch, %.3f, is not clearly below chance (ln %d = %.3f; learned means below %.0f%% of chance, %.3f)",
		e.Name, e.EpochLoss, e.BatchSize, c, 100*ChanceFraction, ChanceFraction*c)
}

// CheckLearned returns a *NotLearnedError when epochLoss, the mean loss of
// a run's final epoch at batch size b, is not clearly below chance; nil
// when it is. A NaN loss has not learned.
func CheckLearned(name string, epochLoss float64, b int) error {
	if epochLoss < ChanceFraction*ChanceLoss(b) {
		return nil
	}
	return &NotLearnedError{Name: name, EpochLoss: epochLoss, BatchSize: b}
}

// EpochLosses accumulates the mean loss of each epoch from the steps
// Train reports.
type EpochLosses struct {
	sums   []float64
	counts []int
}

// Add records one step.
func (e *EpochLosses) Add(s Step) {
	for len(e.sums) <= s.Epoch {
		e.sums, e.counts = append(e.sums, 0), append(e.counts, 0)
	}
	e.sums[s.Epoch] += s.Loss
	e.counts[s.Epoch]++
}

// Mean returns the mean loss of epoch i (0-based), NaN for an epoch
// without steps.
func (e *EpochLosses) Mean(i int) float64 {
	if i < 0 || i >= len(e.sums) || e.counts[i] == 0 {
		return math.NaN()
	}
	return e.sums[i] / float64(e.counts[i])
}

// Last returns the mean loss of the last epoch that has steps, NaN when
// none has.
func (e *EpochLosses) Last() float64 {
	return e.Mean(len(e.sums) - 1)
}

// Means returns every epoch's mean loss.
func (e *EpochLosses) Means() []float64 {
	out := make([]float64, len(e.sums))
	for i := range out {
		out[i] = e.Mean(i)
	}
	return out
}
