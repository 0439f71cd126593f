package logreg

import (
	"context"
	"fmt"
	"slices"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/config"
	model "github.com/trak-dev/trak/internal/logreg"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/subsetmodels"
)

// SubsetTrainer returns the trainer of `trak eval lds`'s subset models:
// logistic regressions fitted by full-batch gradient descent (lds.epochs
// steps of lds.lr, L2 penalty lds.weight_decay, as logreg.Train runs
// them) on subsets of the store's train set, whose output on a target is
// the margin f the store's scores attribute.
func (Task) SubsetTrainer(c config.Config, _ backend.Backend, st *store.Store, exp store.Experiment) (subsetmodels.Trainer, subsetmodels.Settings, error) {
	train, err := model.ReadCSV(st.Meta.TrainData)
	if err != nil {
		return nil, subsetmodels.Settings{}, err
	}
	if err := st.Meta.CheckTrainFingerprint(train.Fingerprint); err != nil {
		return nil, subsetmodels.Settings{}, err
	}
	targets, err := model.ReadCSV(exp.Targets)
	if err != nil {
		return nil, subsetmodels.Settings{}, err
	}
	if err := exp.CheckTargetsFingerprint(targets.Fingerprint); err != nil {
		return nil, subsetmodels.Settings{}, err
	}
	if targets.D != train.D {
		return nil, subsetmodels.Settings{}, fmt.Errorf("%s has %d features, the train set %d", exp.Targets, targets.D, train.D)
	}
	classes := slices.Max(train.Y) + 1
	if m := slices.Max(targets.Y) + 1; m > classes {
		classes = m
	}
	tr := &trainer{train: train, targets: targets, opt: model.TrainOptions{Classes: classes, Epochs: c.LDS.Epochs, LR: c.LDS.LR, L2: c.LDS.WeightDecay}}
	s := subsetmodels.Settings{
		Task: "logreg", TrainData: st.Meta.TrainData, TrainFingerprint: train.Fingerprint, TrainSize: train.N,
		ModelConfigHash: st.Meta.ModelConfigHash, Subsets: c.LDS.Subsets, ModelsPerSubset: c.LDS.ModelsPerSubset, Alpha: c.LDS.Alpha, Seed: c.LDS.Seed,
		Recipe: map[string]float64{"epochs": float64(c.LDS.Epochs), "lr": c.LDS.LR, "weight_decay": c.LDS.WeightDecay, "classes": float64(classes)},
	}
	return tr, s, nil
}

type trainer struct {
	train, targets *model.Data
	opt            model.TrainOptions
}

func (t *trainer) Ext() string { return ".npy" }

func (t *trainer) Train(_ context.Context, rows []int, seed uint64, path string) (string, error) {
	sub := &model.Data{N: len(rows), D: t.train.D, Y: make([]int, len(rows)), X: make([]float64, 0, len(rows)*t.train.D)}
	for k, i := range rows {
		sub.Y[k] = t.train.Y[i]
		sub.X = append(sub.X, t.train.Row(i)...)
	}
	opt := t.opt
	opt.Seed = seed
	return "", model.SaveCheckpoint(path, model.Train(sub, opt))
}

func (t *trainer) Outputs(_ context.Context, path string) ([]float64, error) {
	m, err := model.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if m.D != t.targets.D {
		return nil, fmt.Errorf("%s has %d features, the targets %d", path, m.D, t.targets.D)
	}
	out := make([]float64, t.targets.N)
	z, dz := make([]float64, m.C), make([]float64, m.C)
	for i := range out {
		m.Logits(t.targets.Row(i), z)
		out[i], _ = model.OutputGrad(z, t.targets.Y[i], dz)
	}
	return out, nil
}
