// Package subsetmodels keeps the subset models of an LDS evaluation (`trak
// eval lds`): a directory of models, each trained from scratch on one
// random subset of the train rows, and their outputs on target sets.
//
// Training them is the expensive part of the evaluation, so the directory
// is built to be shared and resumed: its settings (task, train set,
// architecture, subsets and training recipe) are recorded in
// settings.json when it is made and checked on every later use, so that
// several stores (other projections, other numbers of checkpoints) are
// evaluated against the same models; a model is written atomically, and
// one that exists is finished, so an interrupted run loses at most the
// models it was training; Train takes a shard (the same i/n semantics as
// featurize: a contiguous range of the subsets) so that processes or
// cluster jobs train disjoint parts. Each model's outputs on a target set
// are cached beside it, keyed by the targets' fingerprint.
//
// Subset j is lds.Subsets' j-th subset. It has ModelsPerSubset models
// (replicas r = 0, 1, …), trained with seed Seed·1,000,000 + j + r·2⁴⁰, so
// a model depends on (settings, j, r) only, never on the shard or process
// that trained it; the output of subset j is the mean of its models'
// outputs, which averages out part of each model's training noise.
package subsetmodels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/lds"
	"github.com/trak-dev/trak/internal/progress"
)

// Trainer is what a task brings: training a model on some train rows, and
// evaluating its model-output function on the targets.
type Trainer interface {
	// Train trains a model from scratch on the train rows rows with seed
	// and writes its checkpoint to path. A model that trained but is
	// suspect (its loss never left chance) is written all the same, and
	// warning says why; a model about which nothing is to be said returns
	// "".
	Train(ctx context.Context, rows []int, seed uint64, path string) (warning string, err error)
	// Outputs returns f(t) of every target t, in order, for the checkpoint
	// at path.
	Outputs(ctx context.Context, path string) ([]float64, error)
	// Ext is the checkpoint file extension, with its dot.
	Ext() string
}

// Settings are what the models depend on; they are recorded in
// settings.json and a directory is only used with the settings it was made
// with.
type Settings struct {
	Task             string `json:"task"`
	TrainData        string `json:"train_data"`
	TrainFingerprint string `json:"train_fingerprint"`
	TrainSize        int    `json:"train_size"`
	ModelConfigHash  string `json:"model_config_hash,omitempty"`
	Subsets          int    `json:"subsets"`
	// ModelsPerSubset is the number of models trained on each subset (0
	// is read as 1, the folders made before it was recorded).
	ModelsPerSubset int     `json:"models_per_subset,omitempty"`
	Alpha           float64 `json:"alpha"`
	Seed            int     `json:"seed"`
	// Recipe is the task's training settings, as it names them.
	Recipe map[string]float64 `json:"recipe"`
}

const settingsFile = "settings.json"

// ModelID names one model: replica Replica of subset Subset.
type ModelID struct{ Subset, Replica int }

func (id ModelID) String() string {
	if id.Replica == 0 {
		return fmt.Sprintf("subset model %d", id.Subset)
	}
	return fmt.Sprintf("subset model %d (replica %d)", id.Subset, id.Replica)
}

// Dir is an open directory of subset models.
type Dir struct {
	Path     string
	Settings Settings
	subsets  [][]int
}

// Open opens the directory at path with settings s, making it (and
// recording s) if it does not exist. An existing directory made with
// other settings is refused, naming the first difference. More subsets or
// models per subset than recorded extend the directory (the existing
// models do not change); fewer use its first ones.
func Open(path string, s Settings) (*Dir, error) {
	s.ModelsPerSubset = max(s.ModelsPerSubset, 1)
	subsets, err := lds.Subsets(s.TrainSize, s.Subsets, s.Alpha, uint64(s.Seed))
	if err != nil {
		return nil, fmt.Errorf("subsets: %w", err)
	}
	file := filepath.Join(path, settingsFile)
	raw, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(path, 0o755); err != nil {
			return nil, fmt.Errorf("subset models: %w", err)
		}
		if err := writeSettings(file, s); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("subset models: %w", err)
	default:
		var rec Settings
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("%s is corrupt (%v): remove the directory %s to train its subset models again", file, err, path)
		}
		if err := sameSettings(rec, s); err != nil {
			return nil, fmt.Errorf("%s: the subset models there were trained with other settings: %w; use another lds.dir, or the recorded settings", path, err)
		}
		// The record holds the largest counts ever used: the models that
		// exist, whatever this run uses.
		grown := s
		grown.Subsets = max(s.Subsets, rec.Subsets)
		grown.ModelsPerSubset = max(s.ModelsPerSubset, rec.ModelsPerSubset, 1)
		if grown.Subsets != rec.Subsets || grown.ModelsPerSubset != rec.ModelsPerSubset {
			if err := writeSettings(file, grown); err != nil {
				return nil, err
			}
		}
	}
	return &Dir{Path: path, Settings: s, subsets: subsets}, nil
}

func writeSettings(file string, s Settings) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(file, append(raw, '\n'), 0o644)
}

// sameSettings reports the first setting of want that differs from rec,
// the numbers of subsets and of models per subset aside.
func sameSettings(rec, want Settings) error {
	diff := func(name string, a, b any) error {
		return fmt.Errorf("%s is %v there, %v now", name, a, b)
	}
	switch {
	case rec.Task != want.Task:
		return diff("task", rec.Task, want.Task)
	case rec.TrainFingerprint != want.TrainFingerprint:
		return diff("the train set's fingerprint", rec.TrainFingerprint, want.TrainFingerprint)
	case rec.TrainSize != want.TrainSize:
		return diff("the number of train rows", rec.TrainSize, want.TrainSize)
	case rec.ModelConfigHash != want.ModelConfigHash:
		return diff("the architecture", rec.ModelConfigHash, want.ModelConfigHash)
	case rec.Alpha != want.Alpha:
		return diff("lds.alpha", rec.Alpha, want.Alpha)
	case rec.Seed != want.Seed:
		return diff("lds.seed", rec.Seed, want.Seed)
	}
	for k, v := range want.Recipe {
		if r, ok := rec.Recipe[k]; !ok || r != v {
			return diff("lds."+k, rec.Recipe[k], v)
		}
	}
	for k := range rec.Recipe {
		if _, ok := want.Recipe[k]; !ok {
			return fmt.Errorf("lds.%s was set there and is not now", k)
		}
	}
	return nil
}

// Subsets returns the train rows of every subset, in order.
func (d *Dir) Subsets() [][]int { return d.subsets }

// ModelsPerSubset returns the number of models of each subset.
func (d *Dir) ModelsPerSubset() int { return d.Settings.ModelsPerSubset }

// fileName is the file name, without extension, of a model and of its
// cached outputs; replica 0 keeps the name of folders made before there
// were several models per subset.
func fileName(id ModelID) string {
	if id.Replica == 0 {
		return fmt.Sprintf("subset_%05d", id.Subset)
	}
	return fmt.Sprintf("subset_%05d_r%d", id.Subset, id.Replica)
}

// ModelPath returns the checkpoint path of a model.
func (d *Dir) ModelPath(id ModelID, ext string) string {
	return filepath.Join(d.Path, fileName(id)+ext)
}

// Seed returns the training seed of a model. The replica's term, r·2⁴⁰,
// keeps replicas apart from every other subset's models for seeds up to
// 10⁶.
func (d *Dir) Seed(id ModelID) uint64 {
	return uint64(d.Settings.Seed)*1_000_000 + uint64(id.Subset) + uint64(id.Replica)<<40
}

// Missing returns the models of the subsets in [lo, hi) not trained yet,
// by subset, then replica.
func (d *Dir) Missing(tr Trainer, lo, hi int) []ModelID {
	var out []ModelID
	for j := lo; j < hi; j++ {
		for r := range d.ModelsPerSubset() {
			id := ModelID{j, r}
			if _, err := os.Stat(d.ModelPath(id, tr.Ext())); err != nil {
				out = append(out, id)
			}
		}
	}
	return out
}

// Train trains the models of the shard's subsets (all their replicas)
// that do not exist yet and returns how many it trained, with the
// trainer's warnings (each naming its model). On cancellation it returns
// ctx.Err() with every model it finished kept.
func (d *Dir) Train(ctx context.Context, tr Trainer, shard featurize.Shard, prog progress.Func) (int, []string, error) {
	lo, hi := shard.Range(len(d.subsets))
	missing := d.Missing(tr, lo, hi)
	add := prog.Start("train subset models", "models", len(missing))
	var warnings []string
	for n, id := range missing {
		if err := ctx.Err(); err != nil {
			return n, warnings, err
		}
		path := d.ModelPath(id, tr.Ext())
		warning, err := tr.Train(ctx, d.subsets[id.Subset], d.Seed(id), path)
		if err != nil {
			return n, warnings, fmt.Errorf("%v: %w", id, err)
		}
		if warning != "" {
			warnings = append(warnings, fmt.Sprintf("%v: %s", id, warning))
		}
		add(1)
	}
	return len(missing), warnings, nil
}

// outputsFile is the cached outputs of one model on one target set.
type outputsFile struct {
	TargetsFingerprint string    `json:"targets_fingerprint"`
	Outputs            []float64 `json:"outputs"`
}

// Outputs returns the M × T outputs on the targets whose fingerprint is
// targetsFP and whose number is t: row j is the mean over subset j's
// models of their outputs, summed in float64. It computes and caches the
// models' outputs not cached yet. Every model must exist.
func (d *Dir) Outputs(ctx context.Context, tr Trainer, targetsFP string, t int, prog progress.Func) ([]float64, error) {
	m, reps := len(d.subsets), d.ModelsPerSubset()
	if missing := d.Missing(tr, 0, m); len(missing) > 0 {
		return nil, &MissingError{Dir: d.Path, Missing: missing, Total: m * reps}
	}
	cache := filepath.Join(d.Path, "outputs", safeName(targetsFP))
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("subset model outputs: %w", err)
	}
	out := make([]float64, m*t)
	add := prog.Start("evaluate subset models", "models", m*reps)
	for j := range m {
		mean := out[j*t : (j+1)*t]
		for r := range reps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			row, err := d.modelOutputs(ctx, tr, ModelID{j, r}, cache, targetsFP, t)
			if err != nil {
				return nil, err
			}
			for i, v := range row {
				mean[i] += v
			}
			add(1)
		}
		for i := range mean {
			mean[i] /= float64(reps)
		}
	}
	return out, nil
}

// modelOutputs returns one model's outputs from the cache folder, or
// computes, checks and caches them.
func (d *Dir) modelOutputs(ctx context.Context, tr Trainer, id ModelID, cache, targetsFP string, t int) ([]float64, error) {
	file := filepath.Join(cache, fileName(id)+".json")
	if row, err := readOutputs(file, targetsFP, t); err == nil {
		return row, nil
	}
	path := d.ModelPath(id, tr.Ext())
	row, err := tr.Outputs(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", id, err)
	}
	if len(row) != t {
		return nil, fmt.Errorf("%v: %d outputs for %d targets", id, len(row), t)
	}
	for i, v := range row {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v (%s): output on target %d is %v: the model diverged; lower lds.lr and use a new lds.dir (training is deterministic, so retraining it gives the same)", id, path, i, v)
		}
	}
	raw, err := json.Marshal(outputsFile{TargetsFingerprint: targetsFP, Outputs: row})
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(file, raw, 0o644); err != nil {
		return nil, fmt.Errorf("subset model outputs: %w", err)
	}
	return row, nil
}

// readOutputs reads a cached outputs file, which must be for the targets
// fingerprint fp and hold t finite outputs.
func readOutputs(file, fp string, t int) ([]float64, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var f outputsFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	if f.TargetsFingerprint != fp || len(f.Outputs) != t {
		return nil, fmt.Errorf("%s: for other targets", file)
	}
	return f.Outputs, nil
}

// safeName turns a fingerprint into a file name.
func safeName(fp string) string {
	fp = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, fp)
	if len(fp) > 64 {
		fp = fp[:64]
	}
	if fp == "" {
		fp = "none"
	}
	return fp
}

// MissingError is returned by Outputs while some models are not trained.
type MissingError struct {
	Dir     string
	Missing []ModelID
	Total   int // models, every replica counted
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s: %d of %d subset models are not trained yet (first: %v): run `trak eval lds` without --shard, or finish every shard", e.Dir, len(e.Missing), e.Total, e.Missing[0])
}
