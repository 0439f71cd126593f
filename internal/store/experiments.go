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
	return filepath.Join(s.ModelDir(id), "features.npy")
}
