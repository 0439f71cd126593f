// Package tasks is the registry of the kinds of model trak attributes: it
// maps the task key ("clip", "logreg") to the Task that reads that kind of
// checkpoint and data set. Each task lives in its own package below this
// one; the commands, the pipeline and the demo ask Lookup and never switch
// on a task's name.
//
// A new task is a package under internal/tasks implementing Task, added to
// the list in all.
package tasks

import (
	"fmt"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/subsetmodels"
	"github.com/trak-dev/trak/internal/tasks/clip"
	"github.com/trak-dev/trak/internal/tasks/logreg"
)

// Task is what differs between kinds of model: how a checkpoint and a data
// set become featurize's examples, what the store records about them, and
// how their rows are named. Everything else (projection, store, finalize,
// scores) is the same for every task.
//
// The methods read the run's settings from a config; c.Workers is the
// number of threads, already resolved (internal/pipeline turns 0 into every
// core). A task whose model runs on a compute backend runs it on b, which
// the command opened once for the whole run; other tasks ignore b.
type Task interface {
	// Name is the task key's value, recorded in the store.
	Name() string
	// Check reports settings of c that cannot work for this task, before
	// any work starts.
	Check(c config.Config) error
	// TrainJob completes job, whose store, projection, batching and
	// progress are set, with the examples of c.Checkpoint over c.TrainData
	// and what the store records about them (architecture hash, data
	// fingerprint and columns, and a task's own settings).
	TrainJob(c config.Config, b backend.Backend, job featurize.TrainJob) (featurize.TrainJob, error)
	// Targets completes an experiment job, whose store, models, projection
	// and DataColumns (how c reads a data set) are set, with the targets
	// c.Targets: their fingerprint and count, and how each checkpoint turns
	// them into examples.
	Targets(c config.Config, b backend.Backend, st *store.Store, job score.ExperimentJob) (score.ExperimentJob, error)
	// Describe returns, for the data set at path read as cols says (the
	// store's data_columns; nil means the defaults), the names of the
	// columns that tell people which example a row is (for trak top and
	// rows.tsv), and the function giving them for row i.
	Describe(path string, cols map[string]string) (columns []string, describe func(i int) []string, err error)
	// Fingerprint returns the content hash recorded for the data set at
	// path read as cols says.
	Fingerprint(path string, cols map[string]string) (string, error)
	// SubsetTrainer returns what `trak eval lds` trains and evaluates its
	// subset models with: models of st's architecture trained from scratch
	// with the c.LDS recipe on subsets of st's train set, and their model
	// output on the targets of experiment exp; and the settings the subset
	// models depend on.
	SubsetTrainer(c config.Config, b backend.Backend, st *store.Store, exp store.Experiment) (subsetmodels.Trainer, subsetmodels.Settings, error)
}

// all lists every task, in the order Names gives them.
func all() []Task {
	return []Task{clip.Task{}, logreg.Task{}}
}

// Names lists the task key's values.
func Names() []string {
	var names []string
	for _, t := range all() {
		names = append(names, t.Name())
	}
	return names
}

// Lookup returns the task named by the task key.
func Lookup(name string) (Task, error) {
	for _, t := range all() {
		if t.Name() == name {
			return t, nil
		}
	}
	return nil, fmt.Errorf("unknown task %q: set task to one of %v", name, Names())
}
