// Package featurize computes TRAK features: for every example z of a data
// set, the projected gradient g(z) = Pᵀ ∇θ f(z; θ) of a model-output
// function f, and the out-to-loss term Q(z), written row by row into a store.
//
// The model and data are behind the Examples interface, so the same driver
// serves every task (logistic regression, CLIP). Work is resumable: rows
// whose completion flag is set are never recomputed, and a row's flag is set
// only after its data reached the disk. Each row's result depends only on
// the example, the checkpoint and the projection, never on the batch it was
// computed in, so batch size, worker count, sharding and interruptions
// change nothing in the output.
package featurize

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/store"
)

// GradSink receives per-example gradients one parameter block at a time:
// for parameters [offset, offset+n), row b of g (at g[b*stride:]) is the
// gradient of the batch's example b. Blocks may arrive in any order (a
// model's backward pass delivers them layer by layer from the output); each
// parameter at most once per batch, and parameters never delivered have
// zero gradient. *projection.Accumulator implements it.
type GradSink interface {
	Add(offset int64, n int, g []float32, stride int)
}

// Examples is a data set paired with a model checkpoint.
type Examples interface {
	// Len returns the number of examples.
	Len() int
	// NumParams returns p, the number of model parameters.
	NumParams() int64
	// Gradients computes ∇θ f(z) for the examples with indices idx and
	// feeds them to sink, example b of the batch being idx[b]; it writes
	// Q(z) for each example into q (len(q) == len(idx)).
	Gradients(ctx context.Context, idx []int, sink GradSink, q []float32) error
}

// DeviceExamples are Examples whose gradients are computed on a compute
// backend. featurize then projects them on that backend too: a per-example
// gradient is far larger than its projection (p against k values per
// example), so downloading every block to project it on the host would cost
// more than the model itself on a GPU.
type DeviceExamples interface {
	Examples
	// NewProjection returns a projection of p for batches of up to batch
	// examples on the examples' backend.
	NewProjection(p *projection.Projector, batch int) backend.Projection
	// GradientsOnDevice is Gradients delivering into a sink of that backend.
	GradientsOnDevice(ctx context.Context, idx []int, sink backend.GradSink, q []float32) error
}

// batchProjection is what the driver needs of a projection: the host
// Accumulator and a backend.Projection both provide it.
type batchProjection interface {
	SetBatch(batch int)
	Finish(out []float32, outStride int)
	Reset()
	Close()
}

// newProjection returns the projection ex's gradients go to and the
// function that computes a batch's gradients into it.
func newProjection(ex Examples, p *projection.Projector, batch int) (batchProjection, func(ctx context.Context, idx []int, q []float32) error) {
	if dx, ok := ex.(DeviceExamples); ok {
		pr := dx.NewProjection(p, batch)
		return pr, func(ctx context.Context, idx []int, q []float32) error { return dx.GradientsOnDevice(ctx, idx, pr, q) }
	}
	acc := p.NewAccumulator(batch)
	return acc, func(ctx context.Context, idx []int, q []float32) error { return ex.Gradients(ctx, idx, acc, q) }
}

// BadExamplesError is what Examples.Gradients returns when some examples of
// the batch cannot be used (an unreadable image, an empty caption): Rows
// are their indices and Reasons say why. No gradient of the batch has been
// delivered; featurize then applies the bad-example policy and, when
// skipping, computes the rest of the batch again.
type BadExamplesError struct {
	Rows    []int
	Reasons []error
}

func (e *BadExamplesError) Error() string {
	var b strings.Builder
	for i, row := range e.Rows {
		if i > 0 {
			b.WriteString("; ")
		}
		if i == 5 {
			fmt.Fprintf(&b, "and %d more", len(e.Rows)-5)
			break
		}
		fmt.Fprintf(&b, "row %d: %v", row, e.Reasons[i])
	}
	return b.String()
}

// OnBadExample is the bad-example policy.
type OnBadExample string

const (
	// FailOnBad stops at the first bad example, keeping finished rows.
	FailOnBad OnBadExample = "fail"
	// SkipBad marks bad examples as skipped (zero features and Q, listed in
	// the store's skipped.tsv report) and goes on; row indices never shift.
	SkipBad OnBadExample = "skip"
)

// Shard is one of Count disjoint, contiguous row ranges of a data set.
type Shard struct{ Index, Count int }

// ParseShard parses "i/n" with 0 ≤ i < n.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("invalid shard %q: want i/n with 0 ≤ i < n, e.g. 0/4", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// Range returns the rows [lo, hi) of the shard in a data set of n rows.
func (s Shard) Range(n int) (lo, hi int) {
	if s.Count == 0 {
		return 0, n
	}
	return s.Index * n / s.Count, (s.Index + 1) * n / s.Count
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Options control a featurize run.
type Options struct {
	Projector *projection.Projector
	BatchSize int
	Shard     Shard // zero value: all rows
	// Progress reports the rows computed under Desc; nil reports nothing.
	Progress progress.Func
	Desc     string
	// OnBad is the bad-example policy; "" means FailOnBad.
	OnBad OnBadExample
}

// Result summarises a run.
type Result struct {
	Computed  int // rows computed by this run
	Skipped   int // bad examples this run skipped
	Reused    int // rows of the shard that were already finished
	Remaining int // rows of the whole data set still unfinished (other shards)
	// SkippedTotal counts the rows of the whole data set that are skipped
	// bad examples, by this run or earlier ones.
	SkippedTotal int
	Elapsed      time.Duration
}

// Run computes the features and Q of the unfinished rows of the shard and
// stores them in rows. On cancellation it returns ctx.Err() after storing
// every batch it completed.
func Run(ctx context.Context, ex Examples, rows *store.Rows, opt Options) (Result, error) {
	start := time.Now()
	if ex.Len() != rows.Len() {
		return Result{}, fmt.Errorf("data set has %d examples, store arrays have %d rows", ex.Len(), rows.Len())
	}
	k := opt.Projector.Dim()
	if k != rows.Dim() {
		return Result{}, fmt.Errorf("projection dimension %d, store arrays have %d columns", k, rows.Dim())
	}
	lo, hi := opt.Shard.Range(ex.Len())
	pending := rows.Pending(lo, hi)
	res := Result{Reused: (hi - lo) - len(pending)}
	add := opt.Progress.Start(opt.Desc, "rows", len(pending))
	bs := max(opt.BatchSize, 1)
	feats := make([]float32, bs*k)
	q := make([]float32, bs)
	acc, gradients := newProjection(ex, opt.Projector, min(bs, max(len(pending), 1)))
	defer acc.Close()
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			res.Elapsed = time.Since(start)
			return res, err
		}
		batch := pending[:min(bs, len(pending))]
		pending = pending[len(batch):]
		batch, skipped, err := runBatch(ctx, gradients, rows, acc, batch, feats, q, k, opt.OnBad)
		res.Skipped += skipped
		if err != nil {
			res.Elapsed = time.Since(start)
			return res, err
		}
		add(skipped)
		res.Computed += len(batch)
		add(len(batch))
	}
	res.Remaining = len(rows.Pending(0, rows.Len()))
	for i := range rows.Len() {
		if rows.Skipped(i) {
			res.SkippedTotal++
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// runBatch computes and stores one batch. Bad examples are skipped (and
// the rest of the batch computed again) or reported, as policy says; it
// returns the rows computed and the number skipped.
func runBatch(ctx context.Context, gradients func(context.Context, []int, []float32) error, rows *store.Rows, acc batchProjection, batch []int, feats, q []float32, k int, policy OnBadExample) ([]int, int, error) {
	skipped := 0
	for len(batch) > 0 {
		acc.SetBatch(len(batch))
		err := gradients(ctx, batch, q[:len(batch)])
		if err == nil {
			acc.Finish(feats[:len(batch)*k], k)
			return batch, skipped, rows.Put(batch, feats[:len(batch)*k], q[:len(batch)])
		}
		acc.Reset()
		var bad *BadExamplesError
		if !errors.As(err, &bad) {
			return nil, skipped, err
		}
		if policy != SkipBad {
			return nil, skipped, fmt.Errorf("bad example: %w (set on_bad_example: skip to skip bad examples)", bad)
		}
		reasons := make([]string, len(bad.Rows))
		for i, e := range bad.Reasons {
			reasons[i] = e.Error()
		}
		if err := rows.Skip(bad.Rows, reasons); err != nil {
			return nil, skipped, err
		}
		skipped += len(bad.Rows)
		batch = slices.DeleteFunc(slices.Clone(batch), func(i int) bool { return slices.Contains(bad.Rows, i) })
	}
	return nil, skipped, nil
}

// NonFiniteError is a computed row that is not finite; the store refuses
// it (store.Rows.Put, store.Table.Put) before its flag is set.
type NonFiniteError = store.NonFiniteError
