// Package logreg is the logreg task: it adapts multinomial logistic
// regression (the model, its CSV data and closed-form gradients, which stay
// in internal/logreg) to the tasks registry's Task.
package logreg

import (
	"fmt"
	"strconv"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/featurize"
	model "github.com/trak-dev/trak/internal/logreg"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
)

// Task is the logreg task as the tasks registry lists it.
type Task struct{}

// Name returns the task key's value, "logreg".
func (Task) Name() string { return "logreg" }

// Check accepts every config: logreg reads no key of its own.
func (Task) Check(config.Config) error { return nil }

// TrainJob completes job with the examples of checkpoint c.Checkpoint over
// c.TrainData.
// Its gradients are closed-form loops on the host: it takes no backend.
func (Task) TrainJob(c config.Config, _ backend.Backend, job featurize.TrainJob) (featurize.TrainJob, error) {
	m, err := model.LoadCheckpoint(c.Checkpoint)
	if err != nil {
		return job, err
	}
	d, err := model.ReadCSV(c.TrainData)
	if err != nil {
		return job, err
	}
	ex, err := pair(m, d, c.Checkpoint, c.TrainData)
	if err != nil {
		return job, err
	}
	job.Examples, job.ConfigHash, job.DataFingerprint = ex, m.ConfigHash(), d.Fingerprint
	return job, nil
}

// Targets completes an experiment job with the targets c.Targets. They are
// paired with the first model's checkpoint here, so that a checkpoint that
// does not fit them is reported before the experiment is recorded.
func (Task) Targets(c config.Config, _ backend.Backend, st *store.Store, job score.ExperimentJob) (score.ExperimentJob, error) {
	first, err := st.ModelMeta(job.ModelIDs[0])
	if err != nil {
		return job, err
	}
	m, err := model.LoadCheckpoint(first.Checkpoint)
	if err != nil {
		return job, err
	}
	d, err := model.ReadCSV(c.Targets)
	if err != nil {
		return job, err
	}
	if _, err := pair(m, d, first.Checkpoint, c.Targets); err != nil {
		return job, err
	}
	job.Fingerprint, job.NumTargets = d.Fingerprint, d.N
	job.Load = func(_ int, checkpoint string) (featurize.Examples, error) {
		m, err := model.LoadCheckpoint(checkpoint)
		if err != nil {
			return nil, err
		}
		return pair(m, d, checkpoint, c.Targets)
	}
	return job, nil
}

// Describe names each example of the CSV at path by its label.
func (Task) Describe(path string, _ map[string]string) ([]string, func(i int) []string, error) {
	d, err := model.ReadCSV(path)
	if err != nil {
		return nil, nil, err
	}
	return []string{"label"}, func(i int) []string { return []string{strconv.Itoa(d.Y[i])} }, nil
}

// Fingerprint returns the content hash featurize and score record for the
// CSV at path.
func (Task) Fingerprint(path string, _ map[string]string) (string, error) {
	d, err := model.ReadCSV(path)
	if err != nil {
		return "", err
	}
	return d.Fingerprint, nil
}

// pair makes the examples of model m, read from checkpoint, over data d,
// read from dataPath (the paths name what does not fit).
func pair(m *model.Model, d *model.Data, checkpoint, dataPath string) (featurize.Examples, error) {
	ex, err := m.Examples(d)
	if err != nil {
		return nil, fmt.Errorf("pair %s with %s: %w", checkpoint, dataPath, err)
	}
	return ex, nil
}
