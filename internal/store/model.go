package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/trak-dev/trak/internal/atomicfile"
)

// ModelMeta is the content of <model_id>/meta.json.
type ModelMeta struct {
	ModelID int `json:"model_id"`
	// ModelUID is drawn at random when the model directory is registered,
	// before any of its arrays exists, and every array's record
	// (<array>.json) repeats it: an array that does not carry it was not
	// made in this directory for this checkpoint. Empty in stores made
	// before it was recorded, whose arrays have no records.
	ModelUID         string `json:"model_uid,omitempty"`
	Checkpoint       string `json:"checkpoint"`
	CheckpointSHA256 string `json:"checkpoint_sha256"`
	Featurized       bool   `json:"featurized"`
	Finalized        bool   `json:"finalized"`
	FinalizeForm     string `json:"finalize_form,omitempty"`
	// FinalizeLambda is the λ features.npy was computed with;
	// FinalizeLambdaSetting and FinalizeLambdaRel the settings that chose
	// it (the keys lambda and lambda_rel; both absent in stores made
	// before lambda_rel, where the λ was the setting).
	FinalizeLambda        float64 `json:"finalize_lambda,omitempty"`
	FinalizeLambdaSetting float64 `json:"finalize_lambda_setting,omitempty"`
	FinalizeLambdaRel     float64 `json:"finalize_lambda_rel,omitempty"`
	// Features is features.npy as finalize wrote it; Grads and OutToLoss
	// are the train arrays it was computed from. Finalize reuses the file
	// and score reads it only while all three still match.
	Features  *Stamp `json:"features,omitempty"`
	Grads     *Stamp `json:"grads,omitempty"`
	OutToLoss *Stamp `json:"out_to_loss,omitempty"`
}

// The file names of a model directory.
const (
	modelMetaFile = "meta.json"
	gradsFile     = "grads.npy"
	outToLossFile = "out_to_loss.npy"
	trainFlags    = "is_featurized.npy"
	featuresFile  = "features.npy"
)

// ModelDir returns the directory of a model id.
func (s *Store) ModelDir(id int) string { return filepath.Join(s.Dir, strconv.Itoa(id)) }

func (s *Store) modelMetaPath(id int) string { return filepath.Join(s.ModelDir(id), modelMetaFile) }

// GradsPath and OutToLossPath return the paths of model id's train
// features and out-to-loss terms.
func (s *Store) GradsPath(id int) string     { return filepath.Join(s.ModelDir(id), gradsFile) }
func (s *Store) OutToLossPath(id int) string { return filepath.Join(s.ModelDir(id), outToLossFile) }

// refeaturize is the fix for a model directory whose files do not belong
// together: nothing in it can be trusted, so it is computed again.
func (s *Store) refeaturize(id int) string {
	return fmt.Sprintf("remove %s and featurize model %d again", s.ModelDir(id), id)
}

// newModelUID returns a fresh random model identity.
func newModelUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// AddModel registers checkpoint (with its SHA-256) as model id, or checks
// that the id already holds the same checkpoint. A model directory that
// holds files but no meta.json is refused: its arrays were computed from a
// checkpoint nobody can name, and a new registration must not adopt them.
func (s *Store) AddModel(id int, checkpoint, sha256 string) (ModelMeta, error) {
	dir := s.ModelDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ModelMeta{}, fmt.Errorf("create model directory: %w", err)
	}
	if _, err := os.Lstat(s.modelMetaPath(id)); errors.Is(err, fs.ErrNotExist) {
		if err := s.checkNoOrphans(id); err != nil {
			return ModelMeta{}, err
		}
	}
	m := ModelMeta{ModelID: id, ModelUID: newModelUID(), Checkpoint: checkpoint, CheckpointSHA256: sha256}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return ModelMeta{}, err
	}
	err = atomicfile.CreateNew(s.modelMetaPath(id), 0o644, func(f *os.File) error {
		_, err := f.Write(append(data, '\n'))
		return err
	})
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return ModelMeta{}, fmt.Errorf("register model %d: %w", id, err)
	}
	have, err := s.ModelMeta(id)
	if err != nil {
		return ModelMeta{}, err
	}
	if have.CheckpointSHA256 != sha256 {
		return ModelMeta{}, fmt.Errorf("model id %d in %s holds checkpoint %s (sha256 %.12s…), not %s (sha256 %.12s…): give this checkpoint another --model-id",
			id, s.Dir, have.Checkpoint, have.CheckpointSHA256, checkpoint, sha256)
	}
	return have, nil
}

// ModelMeta reads the meta.json of model id.
func (s *Store) ModelMeta(id int) (ModelMeta, error) {
	path := s.modelMetaPath(id)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.checkNoOrphans(id); err != nil {
			return ModelMeta{}, err
		}
		return ModelMeta{}, fmt.Errorf("model id %d is not in store %s: run `trak featurize --model-id %d` first", id, s.Dir, id)
	}
	if err != nil {
		return ModelMeta{}, err
	}
	var m ModelMeta
	if err := json.Unmarshal(raw, &m); err != nil {
		return ModelMeta{}, fmt.Errorf("%s is corrupt (%v): %s", path, err, s.refeaturize(id))
	}
	if m.ModelID != id {
		return ModelMeta{}, fmt.Errorf("%s is the meta.json of model %d, not of model %d (copied from another model directory?): restore the right one, or %s",
			path, m.ModelID, id, s.refeaturize(id))
	}
	return m, nil
}

// SetModelMeta atomically replaces the meta.json of m.ModelID.
func (s *Store) SetModelMeta(m ModelMeta) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.modelMetaPath(m.ModelID), append(data, '\n'), 0o644)
}

// ModelIDs lists the model ids registered in the store, ascending. A model
// directory with files but no meta.json is an error rather than left out,
// so that scores never silently average over fewer checkpoints than were
// featurized.
func (s *Store) ModelIDs() ([]int, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("list store: %w", err)
	}
	var ids []int
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil || id < 0 || !e.IsDir() || strconv.Itoa(id) != e.Name() {
			continue
		}
		_, err = os.Stat(s.modelMetaPath(id))
		if err == nil {
			ids = append(ids, id)
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("list store: %w", err)
		}
		if err := s.checkNoOrphans(id); err != nil {
			return nil, err
		}
	}
	sort.Ints(ids)
	return ids, nil
}

// checkNoOrphans refuses a model directory without meta.json that holds
// files. Hidden files (temporary files, locks) do not count: a directory
// being registered by another process holds nothing else. A meta.json
// that appeared since the caller looked for it is another process's
// registration, not an orphan.
func (s *Store) checkNoOrphans(id int) error {
	dir := s.ModelDir(id)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() == modelMetaFile {
			return nil
		}
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil
	}
	if len(names) > 3 {
		names = append(names[:3], "…")
	}
	return fmt.Errorf("%s holds %s but no meta.json, so the checkpoint they were computed from is unknown: %s",
		dir, strings.Join(names, ", "), s.refeaturize(id))
}
