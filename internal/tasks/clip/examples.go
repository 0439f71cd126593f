package clip

// This file joins a CLIP checkpoint, an image–caption data set and the TRAK
// model-output function into what featurize needs: the embedding table of
// the train set, and per-example projected gradients of f with their
// out-to-loss terms.

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/trak-dev/trak/internal/backend"
	clipmodel "github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/imageprep"
	"github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/projection"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tokenizer"
)

// Data turns rows of a data set into model inputs.
type Data struct {
	DS  *dataset.Dataset
	Tok *tokenizer.Tokenizer
	Cfg clipmodel.Config
	// Transform turns decoded images into the model's input (Setup.NewData
	// sets it with Setup.ImageTransform); its Size is the model's image size.
	Transform imageprep.Transform
	MaxPixels int64
	Workers   int

	cache *inputCache // nil: every Load decodes
}

// input is one row's model input: its preprocessed image and its tokens.
type input struct {
	image  []float32
	tokens []int32
}

// inputCache keeps rows' inputs after their first decode. Training reads
// every row once per epoch, and for a small model decoding is a large part
// of an epoch: `trak train` of the small preset on the 745 Tux Paint
// photos, 3 epochs, took 13.7 s without the cache and 10.6 s with it.
type inputCache struct {
	mu           sync.Mutex
	rows         map[int]input
	bytes, limit int64
}

// TrainInputCache is the input cache (CacheInputs) of the commands that
// train: trak train, the demo and eval lds's subset models. At the small
// preset's 32-pixel images it holds ~85,000 rows; at ViT-B-32's 224 pixels
// ~1,700, so larger train sets decode their other rows every epoch.
const TrainInputCache = 1 << 30

// CacheInputs makes Load keep the inputs of the rows it decodes, up to
// limit bytes (rows past it are decoded each time). Preprocessing is
// deterministic, so a cached row is the row Load would decode again.
func (d *Data) CacheInputs(limit int64) {
	d.cache = &inputCache{rows: map[int]input{}, limit: limit}
}

func (c *inputCache) get(row int) (input, bool) {
	if c == nil {
		return input{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.rows[row]
	return in, ok
}

func (c *inputCache) put(row int, in input) {
	if c == nil {
		return
	}
	size := int64(4 * (len(in.image) + len(in.tokens)))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bytes+size <= c.limit {
		c.rows[row] = in
		c.bytes += size
	}
}

// Load reads, decodes and tokenizes rows in parallel (rows in the input
// cache are taken from it). It returns the batch of the rows that could be
// used, in the order of rows, and, for the others, why not.
func (d *Data) Load(ctx context.Context, rows []int) (clipmodel.Batch, map[int]error) {
	s, ctxLen := d.Transform.Size, d.Cfg.Text.ContextLength
	prepare := func(row int, data []byte, caption string) (input, error) {
		ref, _ := d.DS.Describe(row)
		img, err := imageprep.Decode(bytes.NewReader(data), ref, d.Transform.DecodeOptions(d.MaxPixels))
		if err != nil {
			return input{}, err
		}
		in := input{image: make([]float32, 3*s*s), tokens: d.Tok.Tokenize(caption, ctxLen)}
		if err := d.Transform.Apply(img, in.image); err != nil {
			return input{}, fmt.Errorf("%s: %w", ref, err)
		}
		return in, nil
	}
	bad := map[int]error{}
	inputs := make(map[int]input, len(rows))
	var decode []int
	for _, row := range rows {
		if in, ok := d.cache.get(row); ok {
			inputs[row] = in
		} else {
			decode = append(decode, row)
		}
	}
	delivered := 0
	stream := dataset.Stream(ctx, d.DS, decode, d.Workers, 0, prepare)
	if len(decode) == 0 { // Stream reads every row when given none
		stream = func(func(dataset.Item[input], error) bool) {}
	}
	for item, err := range stream {
		if err != nil { // cancelled: the rows not delivered cannot be used
			for _, row := range decode[delivered:] {
				bad[row] = err
			}
			break
		}
		delivered++
		if item.Err != nil {
			bad[item.Row] = item.Err
			continue
		}
		inputs[item.Row] = item.Value
		d.cache.put(item.Row, item.Value)
	}
	batch := clipmodel.Batch{}
	for _, row := range rows {
		in, ok := inputs[row]
		if !ok {
			continue
		}
		batch.Images = append(batch.Images, in.image...)
		batch.Tokens = append(batch.Tokens, in.tokens...)
		batch.N++
	}
	return batch, bad
}

// LoadAll is Load for callers that need every row (training): unusable
// rows are an error that names them, in row order.
func (d *Data) LoadAll(ctx context.Context, rows []int) (clipmodel.Batch, error) {
	batch, bad := d.Load(ctx, rows)
	if len(bad) > 0 {
		return clipmodel.Batch{}, badError(rows, bad)
	}
	return batch, nil
}

// badError converts per-row failures into featurize's error, rows ascending.
func badError(rows []int, bad map[int]error) *featurize.BadExamplesError {
	e := &featurize.BadExamplesError{}
	for _, r := range rows {
		if err, ok := bad[r]; ok {
			e.Rows = append(e.Rows, r)
			e.Reasons = append(e.Reasons, err)
		}
	}
	return e
}

// EmbedTable fills the embedding table of one checkpoint: φ_j and ψ_j of
// every train row not yet done, in batches. It starts at row `from` and
// wraps around, so that shard processes start on their own rows and finish
// whatever is left; rows finished meanwhile by another process are
// skipped. With skip, bad examples are marked skipped in the table;
// otherwise the first one is an error. Progress is reported under desc.
func EmbedTable(ctx context.Context, m *clipmodel.Model, d *Data, t *store.Table, from, batchSize int, skip bool, prog progress.Func, desc string) error {
	pending := t.Pending()
	if len(pending) == 0 {
		return nil
	}
	// Rotate so that rows ≥ from come first.
	k := 0
	for k < len(pending) && pending[k] < from {
		k++
	}
	order := append(append([]int(nil), pending[k:]...), pending[:k]...)
	add := prog.Start(desc, "rows", len(order))
	for len(order) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		var rows []int
		for len(order) > 0 && len(rows) < batchSize {
			r := order[0]
			order = order[1:]
			if !t.Done(r) { // another shard process may have done it meanwhile
				rows = append(rows, r)
			}
		}
		slices.Sort(rows)
		if len(rows) == 0 {
			continue
		}
		batch, bad := d.Load(ctx, rows)
		if len(bad) > 0 {
			if !skip {
				return fmt.Errorf("bad example: %w (set on_bad_example: skip to skip bad examples)", badError(rows, bad))
			}
			var badRows []int
			for _, r := range rows {
				if bad[r] != nil {
					badRows = append(badRows, r)
				}
			}
			if err := t.Skip(badRows); err != nil {
				return err
			}
		}
		if batch.N > 0 {
			emb, err := m.Encode(batch)
			if err != nil {
				return err
			}
			good := make([]int, 0, batch.N)
			for _, r := range rows {
				if bad[r] == nil {
					good = append(good, r)
				}
			}
			if err := t.Put(good, emb.Image, emb.Text); err != nil {
				return err
			}
		}
		add(len(rows))
	}
	return nil
}

// Examples are CLIP examples for featurize: train pairs (their own row is
// never a negative) or targets (stream 1), with negatives from the table.
type Examples struct {
	Model       *clipmodel.Model
	Data        *Data
	Table       Table
	Sampler     Sampler
	Train       bool
	Temperature float64
}

// Len returns the number of examples.
func (e *Examples) Len() int { return e.Data.DS.Len() }

// NumParams returns the number of model parameters.
func (e *Examples) NumParams() int64 { return e.Model.NumParams() }

// NewProjection returns a projection of p on the model's backend, so that
// per-example gradients are projected where they are computed.
func (e *Examples) NewProjection(p *projection.Projector, batch int) backend.Projection {
	return e.Model.Backend().NewProjection(p, batch)
}

// Gradients computes ∇θ f(z) and Q(z) for the examples idx into a host
// sink.
func (e *Examples) Gradients(ctx context.Context, idx []int, sink featurize.GradSink, q []float32) error {
	return e.gradients(ctx, idx, q, func(batch clipmodel.Batch, grad clipmodel.OutputGrad) error {
		_, err := e.Model.PerExampleGradients(batch, grad, sink)
		return err
	})
}

// GradientsOnDevice computes ∇θ f(z) and Q(z) for the examples idx into a
// sink of the model's backend (a Projection from NewProjection).
func (e *Examples) GradientsOnDevice(ctx context.Context, idx []int, sink backend.GradSink, q []float32) error {
	return e.gradients(ctx, idx, q, func(batch clipmodel.Batch, grad clipmodel.OutputGrad) error {
		_, err := e.Model.PerExampleGradientsOnDevice(batch, grad, sink)
		return err
	})
}

// gradients loads the examples idx and runs backward, which computes their
// per-example gradients (given the gradient of the model-output function)
// into a sink.
func (e *Examples) gradients(ctx context.Context, idx []int, q []float32, backward func(clipmodel.Batch, clipmodel.OutputGrad) error) error {
	batch, bad := e.Data.Load(ctx, idx)
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(bad) > 0 {
		return badError(idx, bad)
	}
	stream, d := 1, e.Table.Dim
	if e.Train {
		stream = 0
	}
	grad := func(emb clipmodel.Embeddings, dphi, dpsi []float32) error {
		for b, i := range idx {
			exclude := -1
			if e.Train {
				exclude = i
			}
			neg := e.Sampler.Negatives(i, exclude, stream)
			_, qb := Output(emb.Image[b*d:(b+1)*d], emb.Text[b*d:(b+1)*d], e.Table, neg, e.Temperature, dphi[b*d:(b+1)*d], dpsi[b*d:(b+1)*d])
			q[b] = float32(qb)
		}
		return nil
	}
	return backward(batch, grad)
}
