package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/trak-dev/trak/internal/atomicfile"
)

// Experiment is one entry of experiments.json: a set of targets scored
// against the train set.
type Experiment struct {
	Targets            string `json:"targets"`
	TargetsFingerprint string `json:"targets_fingerprint"`
	NumTargets         int    `json:"num_targets"`
	// ModelIDs are the checkpoints whose features went into the scores.
	ModelIDs []int `json:"model_ids"`
	// Scored is set once scores/<exp>.npy is complete.
	Scored bool `json:"scored"`
	// ImageMode is how the target images were read (CLIP: native or rgb,
	// from image_mode and the targets' format; the other image settings are
	// the store's image_transform).
	ImageMode string `json:"image_mode,omitempty"`
	// DataColumns is how the targets were read (format, image_column,
	// caption_column), which may differ from the train set's; empty in
	// experiments scored before it was recorded (the store's are then used).
	DataColumns map[string]string `json:"data_columns,omitempty"`
	// Inputs is what the scores were computed from, one entry per model id
	// in ModelIDs order, and Scores the score file as score wrote it; both
	// are set with Scored. CheckScores compares them with the store. Empty in
	// experiments scored before they were recorded.
	Inputs []ScoreInput `json:"inputs,omitempty"`
	Scores *Stamp       `json:"scores,omitempty"`
}

// ScoreInput is what one model contributed to an experiment's scores.
type ScoreInput struct {
	ModelID          int     `json:"model_id"`
	ModelUID         string  `json:"model_uid,omitempty"`
	CheckpointSHA256 string  `json:"checkpoint_sha256"`
	FinalizeForm     string  `json:"finalize_form"`
	FinalizeLambda   float64 `json:"finalize_lambda"`
	Features         Stamp   `json:"features"`
	OutToLoss        Stamp   `json:"out_to_loss"`
	TargetFeatures   Stamp   `json:"target_features"`
}

const experimentsFile = "experiments.json"

// Experiments reads experiments.json (empty if absent).
func (s *Store) Experiments() (map[string]Experiment, error) {
	path := filepath.Join(s.Dir, experimentsFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]Experiment{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]Experiment{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s is corrupt (%v): restore it, or remove it and score again", path, err)
	}
	return m, nil
}

// SetExperiment records e under name, atomically and under a lock, so that
// concurrent `trak score` runs of different experiments lose no entry.
func (s *Store) SetExperiment(name string, e Experiment) error {
	unlock, err := lockFile(filepath.Join(s.Dir, ".experiments.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	m, err := s.Experiments()
	if err != nil {
		return err
	}
	m[name] = e
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.Dir, experimentsFile), append(data, '\n'), 0o644)
}

// ScoresPath returns the path of an experiment's score matrix.
func (s *Store) ScoresPath(exp string) string {
	return filepath.Join(s.Dir, "scores", exp+".npy")
}

// FeaturesPath returns the path of model id's finalized features K.
func (s *Store) FeaturesPath(id int) string {
	return filepath.Join(s.ModelDir(id), featuresFile)
}

// TargetGradsPath and TargetFlagsPath return the paths of experiment exp's
// target features for model id and of their row flags.
func (s *Store) TargetGradsPath(id int, exp string) string {
	return filepath.Join(s.ModelDir(id), exp+"_grads.npy")
}
func (s *Store) TargetFlagsPath(id int, exp string) string {
	return filepath.Join(s.ModelDir(id), exp+"_is_featurized.npy")
}

// StaleError says that an experiment's scores were computed from inputs
// that have changed since.
type StaleError struct {
	Exp, Path string // the experiment and its score file
	Reason    string // "computed from …, now …"
	Fix       string
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Path, e.Reason, e.Fix)
}

// CheckScores checks that the scores of experiment name (e, as recorded)
// are still those score wrote, from the inputs the store holds now: each
// model registered under the same identity and checkpoint, finalized with
// the same λ and form, and its features.npy, out_to_loss.npy and target
// features the files score read. Files are compared by size and
// modification time and, when either moved, by content. A change is a
// *StaleError. An experiment scored before inputs were recorded
// (e.Inputs empty) is not checked; legacy says so.
func (s *Store) CheckScores(name string, e Experiment) (legacy bool, err error) {
	path := s.ScoresPath(name)
	rel := filepath.Join("scores", name+".npy")
	again := fmt.Sprintf("run `trak score --exp %s` again", name)
	if e.Scores == nil || len(e.Inputs) == 0 {
		return true, nil
	}
	stale := func(fix, format string, args ...any) error {
		return &StaleError{Exp: name, Path: rel, Reason: fmt.Sprintf(format, args...), Fix: fix}
	}
	if _, err := e.Scores.Verify(path, true); err != nil {
		var ce *ChangedError
		if errors.As(err, &ce) {
			if ce.Got.SHA256 == "" {
				return false, stale(again, "is missing")
			}
			return false, stale(again, "is not the file score wrote (sha256 %s, now %s): it was modified or damaged", short(ce.Want.SHA256), short(ce.Got.SHA256))
		}
		return false, err
	}
	for _, in := range e.Inputs {
		id := in.ModelID
		m, err := s.ModelMeta(id)
		if err != nil {
			return false, fmt.Errorf("%s was computed from model %d, which cannot be read now: %w", rel, id, err)
		}
		switch {
		case m.ModelUID != in.ModelUID || m.CheckpointSHA256 != in.CheckpointSHA256:
			return false, stale(again, "was computed from model %d featurized from checkpoint sha256 %s, now the model directory holds %s (sha256 %s)",
				id, short(in.CheckpointSHA256), m.Checkpoint, short(m.CheckpointSHA256))
		case !m.Finalized:
			return false, stale(fmt.Sprintf("run `trak finalize --model-id %d`, then %s", id, again), "was computed from model %d, which is no longer finalized", id)
		case m.FinalizeLambda != in.FinalizeLambda:
			return false, stale(again, "was computed from model %d finalized with lambda %g, now %g", id, in.FinalizeLambda, m.FinalizeLambda)
		case m.FinalizeForm != in.FinalizeForm:
			return false, stale(again, "was computed from model %d finalized in the %s form, now the %s form", id, in.FinalizeForm, m.FinalizeForm)
		case m.Features != nil && m.Features.SHA256 != in.Features.SHA256:
			return false, stale(again, "was computed from model %d's features.npy with sha256 %s, finalize has since written one with sha256 %s", id, short(in.Features.SHA256), short(m.Features.SHA256))
		}
		for _, f := range []struct {
			stamp Stamp
			path  string
		}{
			{in.Features, s.FeaturesPath(id)},
			{in.OutToLoss, s.OutToLossPath(id)},
			{in.TargetFeatures, s.TargetGradsPath(id, name)},
		} {
			if _, err := f.stamp.Verify(f.path, true); err != nil {
				var ce *ChangedError
				if !errors.As(err, &ce) {
					return false, err
				}
				return false, stale(again, "was computed from model %d's %s, which %s since", id, filepath.Base(f.path), changedVerb(ce))
			}
		}
	}
	return false, nil
}

// changedVerb describes a ChangedError after "which".
func changedVerb(ce *ChangedError) string {
	if ce.Got.SHA256 == "" {
		return "was removed"
	}
	return fmt.Sprintf("changed (sha256 %s, now %s)", short(ce.Want.SHA256), short(ce.Got.SHA256))
}

// TargetColumns returns how e's targets are read: the columns it recorded,
// or the train set's (cols) for an experiment that recorded none.
func (e Experiment) TargetColumns(cols map[string]string) map[string]string {
	if len(e.DataColumns) > 0 {
		return e.DataColumns
	}
	return cols
}

// CheckTargetsFingerprint reports an error when fp, the fingerprint of the
// experiment's targets as they are now, is not the one they were scored
// with.
func (e Experiment) CheckTargetsFingerprint(fp string) error {
	if fp != e.TargetsFingerprint {
		return fmt.Errorf("the targets %s changed since they were scored (their fingerprint differs): restore them, or score them again", e.Targets)
	}
	return nil
}
