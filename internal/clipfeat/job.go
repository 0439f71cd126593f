package clipfeat

import (
	"context"
	"errors"
	"fmt"

	"github.com/trak-dev/trak/internal/backend/cpu"
	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/clipout"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tokenizer"
)

// Setup is what a CLIP run reads besides the store: the model and data.
type Setup struct {
	ModelConfig *clip.Config // nil: inferred from the checkpoint
	Data        dataset.Spec
	VocabDir    string
	MaxPixels   int64
	Workers     int
	SimBatch    int
	Seed        int64 // projector.seed, also the negatives' seed
}

// OpenModel loads a checkpoint on the CPU backend.
func (s Setup) OpenModel(path string) (*clip.Model, error) {
	f, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return clip.Load(cpu.New(s.Workers), f, s.ModelConfig)
}

// OpenData opens a data set for a model of configuration cfg.
func (s Setup) OpenData(spec dataset.Spec, cfg clip.Config) (*Data, error) {
	ds, err := dataset.Open(spec)
	if err != nil {
		return nil, err
	}
	return s.NewData(ds, cfg)
}

// NewData pairs an open data set with the tokenizer and image settings of
// a model of configuration cfg.
func (s Setup) NewData(ds *dataset.Dataset, cfg clip.Config) (*Data, error) {
	tok, err := tokenizer.Open(s.VocabDir)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > cfg.Text.VocabSize {
		return nil, fmt.Errorf("the tokenizer has %d ids, the model's vocabulary %d: set vocab_dir to the model's own vocabulary", tok.VocabSize(), cfg.Text.VocabSize)
	}
	return &Data{DS: ds, Tok: tok, Cfg: cfg, MaxPixels: s.MaxPixels, Workers: s.Workers}, nil
}

// sized stands in for the Examples until the embedding table exists.
type sized struct {
	n int
	p int64
}

func (s sized) Len() int         { return s.n }
func (s sized) NumParams() int64 { return s.p }
func (s sized) Gradients(context.Context, []int, featurize.GradSink, []float32) error {
	return errors.New("clipfeat: examples used before the embedding table was built")
}

// TrainJob returns the featurize job of one CLIP checkpoint's train set:
// the embedding table first (resumable, shared by shards), then the
// projected gradients of f and Q for the shard's rows.
func (s Setup) TrainJob(base featurize.TrainJob, skip bool, progress func(desc string) func(int) func(int)) (featurize.TrainJob, error) {
	m, err := s.OpenModel(base.Checkpoint)
	if err != nil {
		return base, err
	}
	data, err := s.OpenData(s.Data, m.Config)
	if err != nil {
		return base, err
	}
	base.Examples = sized{n: data.DS.Len(), p: m.NumParams()}
	base.ConfigHash = m.Config.Hash()
	base.DataFingerprint = data.DS.Fingerprint()
	base.Before = func(ctx context.Context, st *store.Store) (featurize.Examples, error) {
		t, err := st.Table(base.ModelID, m.Config.EmbedDim)
		if err != nil {
			return nil, err
		}
		from, _ := base.Shard.Range(data.DS.Len())
		var pf func(int) func(int)
		if progress != nil {
			pf = progress(fmt.Sprintf("embed train set, model %d", base.ModelID))
		}
		if err := EmbedTable(ctx, m, data, t, from, base.BatchSize, skip, pf); err != nil {
			return nil, err
		}
		return s.examples(m, data, t, base.ModelID, true), nil
	}
	return base, nil
}

// examples builds the featurize Examples over a finished table.
func (s Setup) examples(m *clip.Model, data *Data, t *store.Table, modelID int, train bool) *Examples {
	image, text := t.Data()
	tab := clipout.Table{Image: image, Text: text, N: len(image) / m.Config.EmbedDim, Dim: m.Config.EmbedDim}
	return &Examples{
		Model:       m,
		Data:        data,
		Table:       tab,
		Sampler:     clipout.NewSampler(s.Seed, modelID, tab.N, s.SimBatch).Restrict(t.Good()),
		Train:       train,
		Temperature: m.LogitScale(),
	}
}

// TargetExamples returns the targets of an experiment as Examples for
// checkpoint modelID, with negatives from that checkpoint's train table.
// The targets data set is opened once by the caller and shared by every
// checkpoint.
func (s Setup) TargetExamples(st *store.Store, modelID int, checkpointPath string, targets *dataset.Dataset) (featurize.Examples, error) {
	m, err := s.OpenModel(checkpointPath)
	if err != nil {
		return nil, err
	}
	data, err := s.NewData(targets, m.Config)
	if err != nil {
		return nil, err
	}
	t, err := st.Table(modelID, m.Config.EmbedDim)
	if err != nil {
		return nil, err
	}
	if n := len(t.Pending()); n > 0 {
		t.Close()
		return nil, fmt.Errorf("model %d: %d train rows have no embeddings: run `trak featurize --model-id %d` again", modelID, n, modelID)
	}
	return s.examples(m, data, t, modelID, false), nil
}
