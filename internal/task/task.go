// Package task opens the model and data that a config names, for the
// commands: it maps the `task` key to the code that loads that kind of
// checkpoint and data set and pairs them for featurize.
package task

import (
	"fmt"
	"strconv"

	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/logreg"
)

// Names lists the tasks trak knows.
var Names = []string{"clip", "logreg"}

// Loaded is a checkpoint paired with a data set.
type Loaded struct {
	Examples featurize.Examples
	// ConfigHash identifies the model architecture (not its weights).
	ConfigHash string
	// DataFingerprint identifies the data set's content.
	DataFingerprint string
}

// Load opens checkpoint and data for the named task.
func Load(name, checkpoint, data string) (*Loaded, error) {
	switch name {
	case "logreg":
		m, err := logreg.LoadCheckpoint(checkpoint)
		if err != nil {
			return nil, err
		}
		d, err := logreg.ReadCSV(data)
		if err != nil {
			return nil, err
		}
		ex, err := m.Examples(d)
		if err != nil {
			return nil, fmt.Errorf("pair %s with %s: %w", checkpoint, data, err)
		}
		return &Loaded{Examples: ex, ConfigHash: m.ConfigHash(), DataFingerprint: d.Fingerprint}, nil
	default:
		return nil, unknown(name)
	}
}

// Describer returns, for each example of a data set, short texts that tell
// people which example it is (for `trak top`), and their column names.
//
// cols holds how the data set is read (the store's data_columns: format,
// image_column, caption_column); nil means the defaults.
func Describer(name, data string, cols map[string]string) (columns []string, describe func(i int) []string, err error) {
	switch name {
	case "clip":
		ds, err := dataset.Open(dataset.Spec{Path: data, Format: dataset.Format(cols["format"]), ImageColumn: cols["image_column"], CaptionColumn: cols["caption_column"]})
		if err != nil {
			return nil, nil, err
		}
		return []string{"image", "caption"}, func(i int) []string {
			ref, caption := ds.Describe(i)
			return []string{ref, caption}
		}, nil
	case "logreg":
		d, err := logreg.ReadCSV(data)
		if err != nil {
			return nil, nil, err
		}
		return []string{"label"}, func(i int) []string { return []string{strconv.Itoa(d.Y[i])} }, nil
	default:
		return nil, nil, unknown(name)
	}
}

func unknown(name string) error {
	return fmt.Errorf("unknown task %q: set task to one of %v", name, Names)
}
