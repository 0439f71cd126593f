package score

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/store"
)

// ProgressFunc starts the report of a step of total units described by
// desc and returns the function that records units done.
type ProgressFunc func(desc string, total int) func(done int)

// FinalizeModel computes the finalized features K = X (XᵀX + λI)⁻¹ of model
// id from its train features and writes them to <id>/features.npy. The file
// is written under a temporary name and renamed when complete, so an
// interruption leaves either no features.npy or a complete one. It does
// nothing if the model was already finalized with the same λ.
func FinalizeModel(ctx context.Context, st *store.Store, id int, lambda float64, prog ProgressFunc) (form Form, skipped bool, err error) {
	meta, err := st.ModelMeta(id)
	if err != nil {
		return 0, false, err
	}
	if meta.Finalized && meta.FinalizeLambda == lambda {
		if _, err := os.Stat(st.FeaturesPath(id)); err == nil {
			f, _ := ParseForm(meta.FinalizeForm)
			return f, true, nil
		}
	}
	if !st.HasTrainRows(id) {
		return 0, false, fmt.Errorf("model %d is not featurized: run `trak featurize --model-id %d` first", id, id)
	}
	rows, err := st.TrainRows(id)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	if missing := len(rows.Pending(0, rows.Len())); missing > 0 {
		return 0, false, fmt.Errorf("model %d: %d of %d train rows are not featurized: run `trak featurize --model-id %d` again to finish (it resumes), or finalize the other models with --model-id", id, missing, rows.Len(), id)
	}
	n, k := rows.Dims()
	final := st.FeaturesPath(id)
	f, err := createPartial(final, npy.Header{DType: npy.Float32, Shape: []int{n, k}})
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	opt := FinalizeOptions{Lambda: lambda, Progress: stepProgress(prog, fmt.Sprintf("finalize model %d", id))}
	form, err = Finalize(rows, &f32Writer{ctx: ctx, data: f.Float32s(), cols: k}, opt)
	if err != nil {
		var se *SingularError
		if errors.As(err, &se) {
			return 0, false, fmt.Errorf("model %d: %w", id, err)
		}
		return 0, false, fmt.Errorf("finalize model %d: %w", id, err)
	}
	if err := commitPartial(f, final); err != nil {
		return 0, false, err
	}
	meta.Featurized = true
	meta.Finalized = true
	meta.FinalizeForm = form.String()
	meta.FinalizeLambda = lambda
	return form, false, st.SetModelMeta(meta)
}

// ParseForm parses "primal" or "dual".
func ParseForm(s string) (Form, error) {
	for _, f := range []Form{Primal, Dual} {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown form %q", s)
}

// ExperimentJob describes the scoring of a set of targets.
type ExperimentJob struct {
	Store *store.Store
	Exp   string
	// Targets is the target data set's path and Fingerprint its content
	// hash; an experiment name stays bound to one target set.
	Targets, Fingerprint string
	NumTargets           int
	// ModelIDs are the finalized checkpoints to average over.
	ModelIDs []int
	// Load pairs model id's checkpoint with the targets.
	Load func(id int, checkpoint string) (featurize.Examples, error)
	// Digest is the featurize job's (featurize.TrainJob.Digest): the
	// checkpoint's identity, checked against the one recorded; nil means
	// featurize.FileSHA256.
	Digest             func(path string) (string, error)
	Projector          featurize.ProjectorSpec
	BatchSize, Workers int
	Progress           ProgressFunc
	OnBad              featurize.OnBadExample
	// ImageMode is the image mode the targets' images are read in (CLIP:
	// native or rgb, resolved from image_mode and the targets' format); an
	// experiment name stays bound to one mode. The rest of the transform is
	// the train set's (the store's image_transform).
	ImageMode string
}

// ScoreExperiment featurizes the targets with every checkpoint (resuming
// earlier work), then writes scores/<exp>.npy (N × T float32) averaged over
// the checkpoints with the Q term, and records the experiment. It returns the
// path of the score file.
func ScoreExperiment(ctx context.Context, job ExperimentJob) (string, error) {
	st := job.Store
	exps, err := st.Experiments()
	if err != nil {
		return "", err
	}
	if old, ok := exps[job.Exp]; ok && old.TargetsFingerprint != job.Fingerprint {
		return "", fmt.Errorf("experiment %q was started with other targets (%s, %d targets); the targets file changed or differs: score under a new --exp name", job.Exp, old.Targets, old.NumTargets)
	}
	if old, ok := exps[job.Exp]; ok {
		oldMode := old.ImageMode
		if oldMode == "" && job.ImageMode != "" {
			oldMode = "rgb" // scored before the mode was recorded, when trak always converted to RGB first
		}
		if oldMode != job.ImageMode {
			return "", fmt.Errorf("experiment %q was started with image_mode %s, this run reads the targets with %s: set image_mode to %s or score under a new --exp name",
				job.Exp, oldMode, job.ImageMode, oldMode)
		}
	}
	rec := store.Experiment{Targets: job.Targets, TargetsFingerprint: job.Fingerprint, NumTargets: job.NumTargets, ModelIDs: slices.Clone(job.ModelIDs), ImageMode: job.ImageMode}
	if err := st.SetExperiment(job.Exp, rec); err != nil {
		return "", err
	}
	var ks, gs []Matrix
	var qs [][]float64
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, id := range job.ModelIDs {
		meta, err := st.ModelMeta(id)
		if err != nil {
			return "", err
		}
		digest := job.Digest
		if digest == nil {
			digest = featurize.FileSHA256
		}
		sum, err := digest(meta.Checkpoint)
		if err != nil {
			return "", fmt.Errorf("model %d: checkpoint: %w (it was featurized from this path; restore the file)", id, err)
		}
		if sum != meta.CheckpointSHA256 {
			return "", fmt.Errorf("model %d: checkpoint %s changed since it was featurized (sha256 %.12s…, now %.12s…): restore it, or featurize it again into a new store", id, meta.Checkpoint, meta.CheckpointSHA256, sum)
		}
		ex, err := job.Load(id, meta.Checkpoint)
		if err != nil {
			return "", err
		}
		proj, err := job.Projector.NewProjector(id, ex.NumParams(), job.Workers)
		if err != nil {
			return "", err
		}
		if proj.Dim() != st.Meta.K || ex.NumParams() != st.Meta.NumParams {
			return "", fmt.Errorf("model %d: the targets' model has %d parameters and k = %d, the store %d and %d", id, ex.NumParams(), proj.Dim(), st.Meta.NumParams, st.Meta.K)
		}
		trows, err := st.TargetRows(id, job.Exp, job.NumTargets)
		if err != nil {
			return "", err
		}
		closers = append(closers, trows.Close)
		var pf func(int) func(int)
		if job.Progress != nil {
			desc := fmt.Sprintf("featurize targets, model %d", id)
			pf = func(total int) func(int) { return job.Progress(desc, total) }
		}
		if _, err := featurize.Run(ctx, ex, trows, featurize.Options{Projector: proj, BatchSize: job.BatchSize, Progress: pf, OnBad: job.OnBad}); err != nil {
			return "", err
		}
		kf, err := npy.Open(st.FeaturesPath(id), npy.ReadOnly)
		if err != nil {
			return "", fmt.Errorf("model %d: %w (run `trak finalize`)", id, err)
		}
		closers = append(closers, kf.Close)
		h := kf.Header()
		if h.DType != npy.Float32 || len(h.Shape) != 2 || h.Shape[0] != st.Meta.TrainSize || h.Shape[1] != st.Meta.K {
			return "", fmt.Errorf("%s holds %s %v, want float32 [%d %d]: run `trak finalize --model-id %d` again", kf.Path(), h.DType, h.Shape, st.Meta.TrainSize, st.Meta.K, id)
		}
		trainRows, err := st.TrainRows(id)
		if err != nil {
			return "", err
		}
		qs = append(qs, trainRows.Q())
		trainRows.Close()
		ks = append(ks, &f32Matrix{data: kf.Float32s(), rows: h.Shape[0], cols: h.Shape[1]})
		gs = append(gs, trows)
	}
	final := st.ScoresPath(job.Exp)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	f, err := createPartial(final, npy.Header{DType: npy.Float32, Shape: []int{st.Meta.TrainSize, job.NumTargets}})
	if err != nil {
		return "", err
	}
	defer f.Close()
	opt := ScoreOptions{Progress: stepProgress(job.Progress, "score "+job.Exp)}
	if err := ScoresWithOptions(ks, gs, qs, &f32Writer{ctx: ctx, data: f.Float32s(), cols: job.NumTargets}, opt); err != nil {
		return "", fmt.Errorf("score %s: %w", job.Exp, err)
	}
	if err := commitPartial(f, final); err != nil {
		return "", err
	}
	rec.Scored = true
	return final, st.SetExperiment(job.Exp, rec)
}

// stepProgress adapts a ProgressFunc to the (done, total) callbacks of
// Finalize and Scores; nil stays nil.
func stepProgress(prog ProgressFunc, desc string) func(done, total int) {
	if prog == nil {
		return nil
	}
	var add func(int)
	last := 0
	return func(done, total int) {
		if add == nil {
			add = prog(desc, total)
		}
		add(done - last)
		last = done
	}
}

// createPartial creates the .npy file that will become final, under a
// temporary name; a leftover from an interrupted run is replaced.
func createPartial(final string, h npy.Header) (*npy.File, error) {
	partial := partialPath(final)
	if err := os.Remove(partial); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return npy.Create(partial, h)
}

// commitPartial flushes f and moves it to final.
func commitPartial(f *npy.File, final string) error {
	if err := f.Flush(0, f.Header().DataSize()); err != nil {
		return fmt.Errorf("flush %s: %w", f.Path(), err)
	}
	if err := os.Rename(f.Path(), final); err != nil {
		return fmt.Errorf("finish %s: %w", final, err)
	}
	d, err := os.Open(filepath.Dir(final))
	if err == nil {
		d.Sync() // best effort: some file systems cannot sync a directory
		d.Close()
	}
	return nil
}

func partialPath(final string) string {
	return filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+".partial")
}

// f32Matrix reads a row-major float32 matrix (a mapped .npy file).
type f32Matrix struct {
	data       []float32
	rows, cols int
}

func (m *f32Matrix) Dims() (int, int) { return m.rows, m.cols }
func (m *f32Matrix) Row(i int, dst []float64) {
	for j, v := range m.data[i*m.cols : (i+1)*m.cols] {
		dst[j] = float64(v)
	}
}

// f32Writer writes rows into a row-major float32 matrix and stops the
// computation when ctx is cancelled.
type f32Writer struct {
	ctx  context.Context
	data []float32
	cols int
}

func (w *f32Writer) SetRow(i int, src []float64) error { return w.SetBlock(i, 0, src) }
func (w *f32Writer) SetBlock(i, j int, src []float64) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	dst := w.data[i*w.cols+j : i*w.cols+j+len(src)]
	for c, v := range src {
		dst[c] = float32(v)
	}
	return nil
}
