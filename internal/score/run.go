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
	report "github.com/trak-dev/trak/internal/progress"
	"github.com/trak-dev/trak/internal/store"
)

// FinalizeModel computes the finalized features K = X (XᵀX + λI)⁻¹ of model
// id from its train features and writes them to <id>/features.npy. The file
// is written under a temporary name and renamed when complete, so an
// interruption leaves either no features.npy or a complete one. It reuses
// features.npy (skipped) only if the model was finalized with the same ridge
// settings and the file is still the one finalize wrote, from the train
// arrays as they are now; see FinalizeModelOutcome.
func FinalizeModel(ctx context.Context, st *store.Store, id int, ridge Ridge, prog report.Func) (form Form, skipped bool, err error) {
	o, err := FinalizeModelOutcome(ctx, st, id, ridge, prog)
	return o.Form, o.Reused, err
}

// Ridge is how finalize chooses λ: the absolute Lambda plus Rel times the
// mean non-zero eigenvalue of each model's Gram matrix (the config keys
// `lambda` and `lambda_rel`; see FinalizeOptions).
type Ridge struct{ Lambda, Rel float64 }

// String describes the settings, as messages name them.
func (r Ridge) String() string {
	switch {
	case r.Rel == 0:
		return fmt.Sprintf("lambda %g", r.Lambda)
	case r.Lambda == 0:
		return fmt.Sprintf("lambda_rel %g", r.Rel)
	}
	return fmt.Sprintf("lambda %g + lambda_rel %g", r.Lambda, r.Rel)
}

// finalizedWith reports whether meta records a finalize with ridge's
// settings. Stores made before lambda_rel recorded only the λ used, which
// was then the setting.
func finalizedWith(meta store.ModelMeta, ridge Ridge) bool {
	if meta.FinalizeLambdaSetting == 0 && meta.FinalizeLambdaRel == 0 {
		return ridge.Rel == 0 && meta.FinalizeLambda == ridge.Lambda
	}
	return meta.FinalizeLambdaSetting == ridge.Lambda && meta.FinalizeLambdaRel == ridge.Rel
}

// FinalizeOutcome is what FinalizeModelOutcome did.
type FinalizeOutcome struct {
	Form Form
	// Lambda is the λ of features.npy: the one used, or the recorded one
	// when Reused.
	Lambda float64
	// Reused is true when features.npy was kept as it was.
	Reused bool
	// Redone, when not empty, says why the features.npy of an earlier
	// finalize with the same λ could not be reused (missing, damaged, or its
	// train arrays changed).
	Redone string
}

// FinalizeModelOutcome is FinalizeModel, saying why it finalized again.
//
// After finalizing it records in meta.json the stamps (store.Stamp) of
// features.npy and of the grads.npy and out_to_loss.npy it was computed
// from; a later run with the same λ reuses the file only if all three still
// match. A model finalized by an older trak, without stamps, is reused when
// features.npy opens with the right shape and holds only finite values, and
// its stamps are recorded then.
func FinalizeModelOutcome(ctx context.Context, st *store.Store, id int, ridge Ridge, prog report.Func) (FinalizeOutcome, error) {
	meta, err := st.ModelMeta(id)
	if err != nil {
		return FinalizeOutcome{}, err
	}
	var out FinalizeOutcome
	if meta.Finalized && finalizedWith(meta, ridge) {
		why, err := reusable(st, id, meta)
		if err != nil {
			return FinalizeOutcome{}, err
		}
		if why == "" {
			f, _ := ParseForm(meta.FinalizeForm)
			if meta.Features == nil {
				if err := recordStamps(st, id, &meta); err != nil {
					return FinalizeOutcome{}, err
				}
			}
			return FinalizeOutcome{Form: f, Lambda: meta.FinalizeLambda, Reused: true}, nil
		}
		out.Redone = why
	}
	if !st.HasTrainRows(id) {
		return FinalizeOutcome{}, fmt.Errorf("model %d is not featurized: run `trak featurize --model-id %d` first", id, id)
	}
	rows, err := st.TrainRows(id)
	if err != nil {
		return FinalizeOutcome{}, err
	}
	defer rows.Close()
	if missing := len(rows.Pending(0, rows.Len())); missing > 0 {
		return FinalizeOutcome{}, fmt.Errorf("model %d: %d of %d train rows are not featurized: run `trak featurize --model-id %d` again to finish (it resumes), or finalize the other models with --model-id", id, missing, rows.Len(), id)
	}
	// A model whose every row is a skipped bad example has zero features:
	// its scores would all be zero, which looks like a result.
	if allSkipped(rows) {
		return FinalizeOutcome{}, fmt.Errorf("model %d: all %d train rows are skipped bad examples (reasons in %s): it can attribute nothing; fix the data and featurize into a new save_dir", id, rows.Len(), filepath.Join(st.ModelDir(id), "skipped.tsv"))
	}
	for i, q := range rows.Q() {
		if q-q != 0 {
			return FinalizeOutcome{}, fmt.Errorf("model %d: %s row %d holds %g, not a finite number: the file is damaged; %s",
				id, st.OutToLossPath(id), i, q, refeaturize(st, id))
		}
	}
	n, k := rows.Dims()
	final := st.FeaturesPath(id)
	f, err := createPartial(final, npy.Header{DType: npy.Float32, Shape: []int{n, k}})
	if err != nil {
		return FinalizeOutcome{}, err
	}
	defer f.Close()
	opt := FinalizeOptions{Lambda: ridge.Lambda, LambdaRel: ridge.Rel, Progress: stepProgress(prog, fmt.Sprintf("finalize model %d", id))}
	form, lambda, err := Finalize(rows, &f32Writer{ctx: ctx, data: f.Float32s(), cols: k}, opt)
	if err != nil {
		var se *SingularError
		var nf *NonFiniteError
		switch {
		case errors.As(err, &se):
			return FinalizeOutcome{}, fmt.Errorf("model %d: %w", id, err)
		case errors.As(err, &nf):
			return FinalizeOutcome{}, fmt.Errorf("model %d: %s row %d, column %d holds %g, not a finite number: the file is damaged, or the checkpoint gives non-finite gradients; %s",
				id, st.GradsPath(id), nf.Row, nf.Col, nf.Value, refeaturize(st, id))
		}
		return FinalizeOutcome{}, fmt.Errorf("finalize model %d: %w", id, err)
	}
	if err := commitPartial(f, final); err != nil {
		return FinalizeOutcome{}, err
	}
	meta.Featurized = true
	meta.Finalized = true
	meta.FinalizeForm = form.String()
	meta.FinalizeLambda = lambda
	meta.FinalizeLambdaSetting, meta.FinalizeLambdaRel = ridge.Lambda, ridge.Rel
	out.Form, out.Lambda = form, lambda
	return out, recordStamps(st, id, &meta)
}

// refeaturize is the fix for damaged train arrays.
func refeaturize(st *store.Store, id int) string {
	return fmt.Sprintf("remove %s and featurize model %d again", st.ModelDir(id), id)
}

// recordStamps stamps features.npy and the train arrays it was computed
// from into meta and writes meta.json.
func recordStamps(st *store.Store, id int, meta *store.ModelMeta) error {
	for _, s := range []struct {
		path string
		dst  **store.Stamp
	}{
		{st.FeaturesPath(id), &meta.Features},
		{st.GradsPath(id), &meta.Grads},
		{st.OutToLossPath(id), &meta.OutToLoss},
	} {
		stamp, err := store.StampFile(s.path)
		if err != nil {
			return fmt.Errorf("model %d: %w", id, err)
		}
		*s.dst = &stamp
	}
	return st.SetModelMeta(*meta)
}

// reusable returns why the features.npy of finalized model id cannot be
// reused, or "" if it can.
func reusable(st *store.Store, id int, meta store.ModelMeta) (string, error) {
	path := st.FeaturesPath(id)
	f, err := npy.Open(path, npy.ReadOnly)
	if errors.Is(err, fs.ErrNotExist) {
		return path + " is missing", nil
	}
	if err != nil {
		return fmt.Sprintf("%s is damaged (%v)", path, err), nil
	}
	defer f.Close()
	h := f.Header()
	if h.DType != npy.Float32 || len(h.Shape) != 2 || h.Shape[0] != st.Meta.TrainSize || h.Shape[1] != st.Meta.K {
		return fmt.Sprintf("%s holds %s %v, not float32 [%d %d]", path, h.DType, h.Shape, st.Meta.TrainSize, st.Meta.K), nil
	}
	if meta.Features == nil {
		if err := CheckFinite32(f.Float32s(), st.Meta.K); err != nil {
			return fmt.Sprintf("%s is damaged (%v)", path, err), nil
		}
		return "", nil
	}
	for _, s := range []struct {
		stamp *store.Stamp
		path  string
		what  string
	}{
		{meta.Features, path, "changed since finalize wrote it"},
		{meta.Grads, st.GradsPath(id), "changed since features.npy was computed from it"},
		{meta.OutToLoss, st.OutToLossPath(id), "changed since features.npy was computed with it"},
	} {
		if s.stamp == nil {
			continue
		}
		if _, err := s.stamp.Verify(s.path, false); err != nil {
			var ce *store.ChangedError
			if !errors.As(err, &ce) {
				return "", err
			}
			return fmt.Sprintf("%s %s", s.path, s.what), nil
		}
	}
	return "", nil
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
	Progress           report.Func
	OnBad              featurize.OnBadExample
	// ImageMode is the image mode the targets' images are read in (CLIP:
	// native or rgb, resolved from image_mode and the targets' format); an
	// experiment name stays bound to one mode. The rest of the transform is
	// the train set's (the store's image_transform).
	ImageMode string
	// DataColumns is how the targets are read (format, image_column,
	// caption_column), recorded so that top reads them the same way.
	DataColumns map[string]string
}

// ScoreExperiment featurizes the targets with every checkpoint (resuming
// earlier work), then writes scores/<exp>.npy (N × T float32) averaged over
// the checkpoints with the Q term, and records the experiment. It returns the
// path of the score file.
//
// It reads only inputs it can vouch for: each model must be finalized, its
// features.npy and out_to_loss.npy must still be the files finalize stamped
// (store.ModelMeta), and every value read must be finite. The experiment
// records the targets' absolute path and fingerprint and, per model, the λ,
// form and stamps of what the scores were computed from (store.ScoreInput),
// so that `trak top` can tell when they changed since.
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
	// An absolute path, so that `trak top` finds the targets from any
	// directory.
	targets := job.Targets
	if abs, err := filepath.Abs(targets); err == nil {
		targets = abs
	}
	rec := store.Experiment{Targets: targets, TargetsFingerprint: job.Fingerprint, NumTargets: job.NumTargets, ModelIDs: slices.Clone(job.ModelIDs), ImageMode: job.ImageMode, DataColumns: job.DataColumns}
	if err := st.SetExperiment(job.Exp, rec); err != nil {
		return "", err
	}
	var ks, gs []Matrix
	var qs [][]float64
	var inputs []store.ScoreInput
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
		if !meta.Finalized {
			return "", fmt.Errorf("model %d is not finalized: run `trak finalize --model-id %d` first", id, id)
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
		in := store.ScoreInput{ModelID: id, ModelUID: meta.ModelUID, CheckpointSHA256: meta.CheckpointSHA256, FinalizeForm: meta.FinalizeForm, FinalizeLambda: meta.FinalizeLambda}
		// The finalized files are checked before the targets are featurized,
		// which takes long.
		if in.Features, err = finalizedStamp(st, id, st.FeaturesPath(id), meta.Features); err != nil {
			return "", err
		}
		if in.OutToLoss, err = finalizedStamp(st, id, st.OutToLossPath(id), meta.OutToLoss); err != nil {
			return "", err
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
		opt := featurize.Options{Projector: proj, BatchSize: job.BatchSize, Progress: job.Progress, Desc: fmt.Sprintf("featurize targets, model %d", id), OnBad: job.OnBad}
		if _, err := featurize.Run(ctx, ex, trows, opt); err != nil {
			return "", err
		}
		if in.TargetFeatures, err = store.StampFile(st.TargetGradsPath(id, job.Exp)); err != nil {
			return "", fmt.Errorf("model %d: %w", id, err)
		}
		kf, err := npy.Open(st.FeaturesPath(id), npy.ReadOnly)
		if err != nil {
			return "", fmt.Errorf("model %d: %w (run `trak finalize --model-id %d`: it finalizes again)", id, err, id)
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
		inputs = append(inputs, in)
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
		var nf *NonFiniteError
		if errors.As(err, &nf) {
			return "", nonFiniteInput(st, job, nf)
		}
		return "", fmt.Errorf("score %s: %w", job.Exp, err)
	}
	if err := commitPartial(f, final); err != nil {
		return "", err
	}
	stamp, err := store.StampFile(final)
	if err != nil {
		return "", err
	}
	rec.Scored = true
	rec.Inputs = inputs
	rec.Scores = &stamp
	return final, st.SetExperiment(job.Exp, rec)
}

// finalizedStamp checks that a file finalize stamped (features.npy,
// out_to_loss.npy) still has that content, reading all of it, and returns
// its stamp; a model finalized by an older trak has no stamp, and the file
// is stamped as it is.
func finalizedStamp(st *store.Store, id int, path string, want *store.Stamp) (store.Stamp, error) {
	if want == nil {
		s, err := store.StampFile(path)
		if err != nil {
			return store.Stamp{}, fmt.Errorf("model %d: %w (run `trak finalize --model-id %d`)", id, err, id)
		}
		return s, nil
	}
	got, err := want.Verify(path, false)
	var ce *store.ChangedError
	if errors.As(err, &ce) {
		return store.Stamp{}, fmt.Errorf("model %d: %v since finalize read or wrote it: run `trak finalize --model-id %d` (it finalizes again, or says what to do)", id, err, id)
	}
	return got, err
}

// nonFiniteInput names the file and row behind a non-finite input of the
// scores, and the fix.
func nonFiniteInput(st *store.Store, job ExperimentJob, nf *NonFiniteError) error {
	id := job.ModelIDs[nf.Checkpoint]
	switch nf.Matrix {
	case "K":
		return fmt.Errorf("model %d: %s row %d, column %d holds %g, not a finite number: the file is damaged; run `trak finalize --model-id %d` (it finalizes again)",
			id, st.FeaturesPath(id), nf.Row, nf.Col, nf.Value, id)
	case "Q":
		return fmt.Errorf("model %d: %s row %d holds %g, not a finite number: the file is damaged; %s",
			id, st.OutToLossPath(id), nf.Row, nf.Value, refeaturize(st, id))
	default:
		return fmt.Errorf("model %d: %s row %d, column %d holds %g, not a finite number: the file is damaged; remove it and %s and run `trak score --exp %s` again (it featurizes the targets again)",
			id, st.TargetGradsPath(id, job.Exp), nf.Row, nf.Col, nf.Value, st.TargetFlagsPath(id, job.Exp), job.Exp)
	}
}

// stepProgress adapts a report.Func to the (done, total) callbacks of
// Finalize and Scores, counted in steps; nil stays nil.
func stepProgress(prog report.Func, desc string) func(done, total int) {
	if prog == nil {
		return nil
	}
	var add func(int)
	last := 0
	return func(done, total int) {
		if add == nil {
			add = prog(desc, "steps", total)
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
		f := float32(v)
		if f-f != 0 {
			// Finalize and Scores check their inputs, so this is a finite
			// value beyond float32's range: refuse it rather than store Inf.
			return fmt.Errorf("value %g at row %d, column %d does not fit in float32", v, i, j+c)
		}
		dst[c] = f
	}
	return nil
}

// allSkipped reports whether every row of rows is a skipped bad example.
func allSkipped(rows *store.Rows) bool {
	for i := range rows.Len() {
		if !rows.Skipped(i) {
			return false
		}
	}
	return rows.Len() > 0
}
