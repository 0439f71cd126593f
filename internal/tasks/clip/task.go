package clip

import (
	"fmt"
	"strings"

	"github.com/trak-dev/trak/internal/backend"
	clipmodel "github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/clipckpt"
	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/imageprep"
	"github.com/trak-dev/trak/internal/score"
	"github.com/trak-dev/trak/internal/store"
)

// Task is the clip task as the tasks registry lists it. It holds no state:
// every setting comes from the run's config and the store.
type Task struct{}

// Name returns the task key's value, "clip".
func (Task) Name() string { return "clip" }

// Check reports a model_config that is neither a preset nor a readable
// file, before any work starts.
func (Task) Check(c config.Config) error {
	_, err := ModelConfig(c.ModelConfig)
	return err
}

// TrainJob completes job with the examples of checkpoint c.Checkpoint over
// c.TrainData. Another checkpoint into an existing store takes the settings
// the store recorded where this run sets none (a conflicting one is
// refused); a missing or unreadable store is featurize.Train's to report.
func (Task) TrainJob(c config.Config, b backend.Backend, job featurize.TrainJob) (featurize.TrainJob, error) {
	s, err := setup(c, b)
	if err != nil {
		return job, err
	}
	if st, err := store.Open(c.SaveDir); err == nil {
		if s, err = s.Recorded(st.Meta, func(key string) bool { return c.Set[key] }); err != nil {
			return job, fmt.Errorf("store %s: %w", st.Dir, err)
		}
	}
	s.Data = dataSpec(c, c.TrainData)
	job.DataColumns = c.DataColumns()
	return s.TrainJob(job, c.OnBadExample == string(featurize.SkipBad))
}

// Targets completes an experiment job with the targets c.Targets, read
// with each checkpoint against that checkpoint's train embedding table.
// What featurize recorded is used where this run sets nothing, and a
// contradicting setting is refused.
func (Task) Targets(c config.Config, b backend.Backend, st *store.Store, job score.ExperimentJob) (score.ExperimentJob, error) {
	s, err := setup(c, b)
	if err != nil {
		return job, err
	}
	if s, err = s.Recorded(st.Meta, func(key string) bool { return c.Set[key] }); err != nil {
		return job, fmt.Errorf("store %s: %w", st.Dir, err)
	}
	s.Seed = st.Meta.Seed // negatives use the seed the train features used
	for key, col := range map[string]*string{"data.image_column": &c.ImageColumn, "data.caption_column": &c.CaptionColumn} {
		if recorded := st.Meta.DataColumns[strings.TrimPrefix(key, "data.")]; !c.Set[key] && recorded != "" {
			*col = recorded
		}
	}
	ds, err := dataset.Open(dataSpec(c, c.Targets))
	if err != nil {
		return job, err
	}
	job.Fingerprint, job.NumTargets = ds.Fingerprint(), ds.Len()
	if job.ImageMode, err = ResolveImageMode(c.ImageMode, ds.Format()); err != nil {
		return job, err
	}
	job.Load = func(id int, checkpoint string) (featurize.Examples, error) {
		return s.TargetExamples(st, id, checkpoint, ds)
	}
	job.Digest = clipckpt.Digest
	job.DataColumns = c.DataColumns()
	return job, nil
}

// Describe names each example of the data set at path, read as cols says
// (the store's data_columns: format, image_column, caption_column; nil
// means the defaults), by its image and caption.
func (Task) Describe(path string, cols map[string]string) ([]string, func(i int) []string, error) {
	ds, err := dataset.Open(columnSpec(path, cols))
	if err != nil {
		return nil, nil, err
	}
	return []string{"image", "caption"}, func(i int) []string {
		ref, caption := ds.Describe(i)
		return []string{ref, caption}
	}, nil
}

// Fingerprint returns the content hash featurize and score record for the
// data set at path, read as cols says.
func (Task) Fingerprint(path string, cols map[string]string) (string, error) {
	ds, err := dataset.Open(columnSpec(path, cols))
	if err != nil {
		return "", err
	}
	return ds.Fingerprint(), nil
}

// ModelConfig resolves the model_config key: "" (nil: inferred from the
// checkpoint), a preset name, or an open_clip JSON file.
func ModelConfig(s string) (*clipmodel.Config, error) { return clipmodel.LoadConfigOrPreset(s) }

// setup collects the CLIP settings of a config, with the model on backend
// b; c.Workers is the number of threads (the pipeline resolves 0 to every
// core).
func setup(c config.Config, b backend.Backend) (Setup, error) {
	cfg, err := ModelConfig(c.ModelConfig)
	if err != nil {
		return Setup{}, err
	}
	return Setup{
		ModelConfig: cfg,
		VocabDir:    c.VocabDir,
		MaxPixels:   int64(c.MaxPixels),
		Workers:     c.Workers,
		Backend:     b,
		SimBatch:    c.SimBatchSize,
		Seed:        c.Projector.Seed,
		// The rest of the transform takes open_clip's defaults; image_mode
		// "auto" resolves per data set (ResolveImageMode).
		Transform: imageprep.Transform{Mode: c.ImageMode, ExifTranspose: c.ExifTranspose},
	}, nil
}

// dataSpec describes the data set at path with the config's data keys.
func dataSpec(c config.Config, path string) dataset.Spec {
	return columnSpec(path, c.DataColumns())
}

// columnSpec describes the data set at path read as recorded columns say.
func columnSpec(path string, cols map[string]string) dataset.Spec {
	return dataset.Spec{Path: path, Format: dataset.Format(cols["format"]), ImageColumn: cols["image_column"], CaptionColumn: cols["caption_column"]}
}
