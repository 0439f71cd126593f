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
	"fmt"
	"strconv"
	"strings"
	"time"

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
	// Progress, when set, is called once with the number of rows to compute
	// and returns a function that is called with each batch's row count.
	Progress func(total int) (add func(n int))
}

// Result summarises a run.
type Result struct {
	Computed  int // rows computed by this run
	Reused    int // rows of the shard that were already finished
	Remaining int // rows of the whole data set still unfinished (other shards)
	Elapsed   time.Duration
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
	add := func(int) {}
	if opt.Progress != nil {
		add = opt.Progress(len(pending))
	}
	bs := max(opt.BatchSize, 1)
	feats := make([]float32, bs*k)
	q := make([]float32, bs)
	acc := opt.Projector.NewAccumulator(min(bs, max(len(pending), 1)))
	defer acc.Close()
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			res.Elapsed = time.Since(start)
			return res, err
		}
		batch := pending[:min(bs, len(pending))]
		pending = pending[len(batch):]
		acc.SetBatch(len(batch))
		if err := ex.Gradients(ctx, batch, acc, q[:len(batch)]); err != nil {
			acc.Reset()
			res.Elapsed = time.Since(start)
			return res, err
		}
		acc.Finish(feats[:len(batch)*k], k)
		if err := rows.Put(batch, feats[:len(batch)*k], q[:len(batch)]); err != nil {
			res.Elapsed = time.Since(start)
			return res, err
		}
		res.Computed += len(batch)
		add(len(batch))
	}
	res.Remaining = len(rows.Pending(0, rows.Len()))
	res.Elapsed = time.Since(start)
	return res, nil
}
