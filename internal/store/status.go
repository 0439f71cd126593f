package store

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/trak-dev/trak/internal/npy"
)

// Status is what a store holds, for `trak status`: its settings, each model
// id's progress and each experiment's scores. Reading it changes nothing in
// the store.
type Status struct {
	Dir         string             `json:"save_dir"`
	Task        string             `json:"task"`
	TrainData   string             `json:"train_data"`
	TrainSize   int                `json:"train_size"`
	Projector   string             `json:"projector"`
	K           int                `json:"k"`
	S           int                `json:"s,omitempty"` // sjlt's non-zeros per row; 0 for the other projectors
	Seed        int64              `json:"seed"`
	Models      []ModelStatus      `json:"models"`
	Experiments []ExperimentStatus `json:"experiments"`
}

// ModelStatus is one model id's progress.
type ModelStatus struct {
	ModelID    int    `json:"model_id"`
	Checkpoint string `json:"checkpoint"`
	// Featurized and Skipped count the train rows that are done: computed,
	// and skipped as bad examples (zero features); Total is the train set's
	// size.
	Featurized int  `json:"rows_featurized"`
	Skipped    int  `json:"rows_skipped"`
	Total      int  `json:"rows_total"`
	Finalized  bool `json:"finalized"`
	// Lambda and Form are those of the finalized features (zero and empty
	// while not finalized).
	Lambda float64 `json:"lambda"`
	Form   string  `json:"form,omitempty"`
	// Problem says why the model's files could not be read, if they could
	// not; the other fields then show what could be.
	Problem string `json:"problem,omitempty"`
}

// ExperimentStatus is one experiment: its targets and, once scored, when
// and from which model ids.
type ExperimentStatus struct {
	Name       string `json:"exp"`
	Targets    string `json:"targets"`
	NumTargets int    `json:"num_targets"`
	Scored     bool   `json:"scored"`
	// ScoredAt is the score file's modification time (RFC 3339), ModelIDs
	// the checkpoints it averages and Lambdas their λ in the same order.
	ScoredAt string    `json:"scored_at,omitempty"`
	ModelIDs []int     `json:"model_ids"`
	Lambdas  []float64 `json:"lambdas,omitempty"`
	// Stale says why the scores no longer match the store (a model
	// finalized again since, a changed file), empty when they do.
	Stale string `json:"stale,omitempty"`
}

// Status reports what the store holds. A model whose files cannot be read
// is reported with its problem rather than failing the whole report.
func (s *Store) Status() (Status, error) {
	m := s.Meta
	st := Status{Dir: s.Dir, Task: m.Task, TrainData: m.TrainData, TrainSize: m.TrainSize, Projector: m.Projector, K: m.K, S: m.S, Seed: m.Seed,
		Models: []ModelStatus{}, Experiments: []ExperimentStatus{}}
	ids, err := s.ModelIDs()
	if err != nil {
		return st, err
	}
	for _, id := range ids {
		st.Models = append(st.Models, s.modelStatus(id))
	}
	exps, err := s.Experiments()
	if err != nil {
		return st, err
	}
	names := make([]string, 0, len(exps))
	for name := range exps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		e := exps[name]
		es := ExperimentStatus{Name: name, Targets: e.Targets, NumTargets: e.NumTargets, Scored: e.Scored, ModelIDs: e.ModelIDs}
		if es.ModelIDs == nil {
			es.ModelIDs = []int{}
		}
		for _, in := range e.Inputs {
			es.Lambdas = append(es.Lambdas, in.FinalizeLambda)
		}
		if e.Scored && e.Scores != nil {
			es.ScoredAt = time.Unix(0, e.Scores.ModTime).UTC().Format(time.RFC3339)
		}
		if e.Scored {
			if _, err := s.CheckScores(name, e); err != nil {
				es.Stale = err.Error()
			}
		}
		st.Experiments = append(st.Experiments, es)
	}
	return st, nil
}

// modelStatus reads model id's meta.json and row flags without opening (or
// creating) its arrays.
func (s *Store) modelStatus(id int) ModelStatus {
	ms := ModelStatus{ModelID: id, Total: s.Meta.TrainSize}
	meta, err := s.ModelMeta(id)
	if err != nil {
		ms.Problem = err.Error()
		return ms
	}
	ms.Checkpoint, ms.Finalized = meta.Checkpoint, meta.Finalized
	if meta.Finalized {
		ms.Lambda, ms.Form = meta.FinalizeLambda, meta.FinalizeForm
	}
	path := filepath.Join(s.ModelDir(id), trainFlags)
	f, err := npy.Open(path, npy.ReadOnly)
	if errors.Is(err, fs.ErrNotExist) {
		return ms
	}
	if err != nil {
		ms.Problem = err.Error()
		return ms
	}
	defer f.Close()
	flags := f.Uint8s()
	if len(flags) != s.Meta.TrainSize {
		ms.Problem = fmt.Sprintf("%s has %d rows, the train set %d", path, len(flags), s.Meta.TrainSize)
		return ms
	}
	for _, v := range flags {
		switch v {
		case rowPending:
		case rowSkipped:
			ms.Skipped++
		default:
			ms.Featurized++
		}
	}
	return ms
}
