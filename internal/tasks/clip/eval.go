package clip

import (
	"context"
	"fmt"

	"github.com/trak-dev/trak/internal/backend"
	clipmodel "github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/subsetmodels"
	"github.com/trak-dev/trak/internal/train"
)

// SubsetTrainer returns the trainer of `trak eval lds`'s subset models:
// CLIP models of the store's architecture, initialised and trained as
// `trak train` does (the contrastive loss, AdamW with lds.lr,
// lds.weight_decay, lds.warmup, lds.grad_clip_norm, lds.batch_size and
// lds.epochs) on subsets
// of the store's train set. A subset model's output on a target is f, the
// function the scores attribute: the target's pair against the negatives
// that model id 0's target features were computed with (same seed, same
// sim_batch_size, same skipped rows), drawn from the subset model's own
// embedding table of the whole train set.
func (Task) SubsetTrainer(c config.Config, b backend.Backend, st *store.Store, exp store.Experiment) (subsetmodels.Trainer, subsetmodels.Settings, error) {
	var none subsetmodels.Settings
	s, err := setup(c, b)
	if err != nil {
		return nil, none, err
	}
	if s, err = s.Recorded(st.Meta, func(key string) bool { return c.Set[key] }); err != nil {
		return nil, none, fmt.Errorf("store %s: %w", st.Dir, err)
	}
	s.Seed = st.Meta.Seed
	ids, err := st.ModelIDs()
	if err != nil {
		return nil, none, err
	}
	if len(ids) == 0 {
		return nil, none, fmt.Errorf("store %s has no featurized checkpoints: run `trak featurize` first", st.Dir)
	}
	first, err := st.ModelMeta(ids[0])
	if err != nil {
		return nil, none, err
	}
	cfg, s, err := s.ModelConfigOf(first.Checkpoint)
	if err != nil {
		return nil, none, err
	}
	trainDS, err := dataset.Open(columnSpec(st.Meta.TrainData, st.Meta.DataColumns))
	if err != nil {
		return nil, none, err
	}
	if err := st.Meta.CheckTrainFingerprint(trainDS.Fingerprint()); err != nil {
		return nil, none, err
	}
	trainData, err := s.NewData(trainDS, cfg)
	if err != nil {
		return nil, none, err
	}
	targetsDS, err := dataset.Open(columnSpec(exp.Targets, exp.TargetColumns(st.Meta.DataColumns)))
	if err != nil {
		return nil, none, err
	}
	if err := exp.CheckTargetsFingerprint(targetsDS.Fingerprint()); err != nil {
		return nil, none, err
	}
	targetData, err := s.NewData(targetsDS, cfg)
	if err != nil {
		return nil, none, err
	}
	// Every subset model trains on and embeds the same rows: decode them once.
	trainData.CacheInputs(TrainInputCache)
	targetData.CacheInputs(TrainInputCache / 8)
	table, err := st.Table(ids[0], cfg.EmbedDim)
	if err != nil {
		return nil, none, err
	}
	good := table.Good()
	table.Close()
	tr := &subsetTrainer{
		setup: s, cfg: cfg, train: trainData, targets: targetData, good: good, batch: max(c.BatchSize, 1),
		opt: train.Options{Epochs: c.LDS.Epochs, BatchSize: c.LDS.BatchSize, LR: c.LDS.LR, WeightDecay: c.LDS.WeightDecay, Warmup: c.LDS.Warmup, ClipNorm: c.LDS.ClipNorm},
	}
	settings := subsetmodels.Settings{
		Task: "clip", TrainData: st.Meta.TrainData, TrainFingerprint: st.Meta.TrainFingerprint, TrainSize: trainDS.Len(),
		ModelConfigHash: cfg.Hash(), Subsets: c.LDS.Subsets, ModelsPerSubset: c.LDS.ModelsPerSubset, Alpha: c.LDS.Alpha, Seed: c.LDS.Seed,
		Recipe: map[string]float64{
			"epochs": float64(c.LDS.Epochs), "batch_size": float64(c.LDS.BatchSize), "lr": c.LDS.LR,
			"weight_decay": c.LDS.WeightDecay, "warmup": float64(c.LDS.Warmup), "grad_clip_norm": c.LDS.ClipNorm,
		},
	}
	return tr, settings, nil
}

// subsetTrainer trains and evaluates CLIP subset models.
type subsetTrainer struct {
	setup          Setup
	cfg            clipmodel.Config
	train, targets *Data
	good           []int // train rows the negatives are drawn from
	batch          int   // rows per forward pass of the embedding tables
	opt            train.Options
}

func (t *subsetTrainer) Ext() string { return ".safetensors" }

func (t *subsetTrainer) Train(ctx context.Context, rows []int, seed uint64, path string) (string, error) {
	if t.opt.BatchSize > len(rows) {
		return "", fmt.Errorf("lds.batch_size %d is more than the %d rows of a subset: lower it, or raise lds.alpha", t.opt.BatchSize, len(rows))
	}
	m, err := clipmodel.New(t.setup.Backend, t.cfg, train.InitWeights(t.cfg, seed))
	if err != nil {
		return "", err
	}
	opt := t.opt
	opt.Seed = seed
	load := func(ctx context.Context, idx []int) (clipmodel.Batch, error) {
		sel := make([]int, len(idx))
		for k, i := range idx {
			sel[k] = rows[i]
		}
		return t.train.LoadAll(ctx, sel)
	}
	var losses train.EpochLosses
	if err := train.Train(ctx, m, len(rows), load, opt, losses.Add); err != nil {
		return "", err
	}
	// A model still at chance makes its outputs noise, which lowers the
	// LDS of any scores: said, so that the user raises lds.epochs or
	// lds.lr rather than blames the scores.
	warning := ""
	if err := train.CheckLearned("it", losses.Last(), opt.BatchSize); err != nil {
		warning = err.Error()
	}
	return warning, train.Save(m, path)
}

func (t *subsetTrainer) Outputs(ctx context.Context, path string) ([]float64, error) {
	m, _, err := t.setup.OpenModel(path)
	if err != nil {
		return nil, err
	}
	tab, err := t.embed(ctx, m, t.train, t.good)
	if err != nil {
		return nil, fmt.Errorf("train embedding table: %w", err)
	}
	n := t.targets.DS.Len()
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	emb, err := t.embed(ctx, m, t.targets, all)
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	sampler := NewSampler(t.setup.Seed, 0, tab.N, t.setup.SimBatch).Restrict(t.good)
	d := tab.Dim
	dphi, dpsi := make([]float32, d), make([]float32, d)
	out := make([]float64, n)
	for i := range out {
		neg := sampler.Negatives(i, -1, 1) // stream 1: targets, as score computes them
		out[i], _ = Output(emb.Image[i*d:(i+1)*d], emb.Text[i*d:(i+1)*d], tab, neg, m.LogitScale(), dphi, dpsi)
	}
	return out, nil
}

// embed returns the embeddings of the rows of data (zero for rows not
// listed), encoded in batches.
func (t *subsetTrainer) embed(ctx context.Context, m *clipmodel.Model, data *Data, rows []int) (Table, error) {
	n, d := data.DS.Len(), t.cfg.EmbedDim
	tab := Table{Image: make([]float32, n*d), Text: make([]float32, n*d), N: n, Dim: d}
	for lo := 0; lo < len(rows); lo += t.batch {
		idx := rows[lo:min(lo+t.batch, len(rows))]
		batch, err := data.LoadAll(ctx, idx)
		if err != nil {
			return Table{}, err
		}
		e, err := m.Encode(batch)
		if err != nil {
			return Table{}, err
		}
		for k, i := range idx {
			copy(tab.Image[i*d:(i+1)*d], e.Image[k*d:(k+1)*d])
			copy(tab.Text[i*d:(i+1)*d], e.Text[k*d:(k+1)*d])
		}
	}
	return tab, nil
}
