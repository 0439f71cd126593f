package featurize

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noExamples is a data set of no rows.
type noExamples struct{}

func (noExamples) Len() int         { return 0 }
func (noExamples) NumParams() int64 { return 4 }
func (noExamples) Gradients(context.Context, []int, GradSink, []float32) error {
	return errors.New("no rows to compute")
}

// TestTrainNoRows: a train set of 0 rows (a header-only CSV) used to be
// featurized into a store of 0 rows and reported as complete; it is refused,
// naming the file, before any store is made.
func TestTrainNoRows(t *testing.T) {
	dir := t.TempDir()
	save := filepath.Join(dir, "store")
	data := filepath.Join(dir, "train.csv")
	_, err := Train(context.Background(), TrainJob{
		SaveDir: save, Checkpoint: filepath.Join(dir, "ckpt.npy"), Examples: noExamples{},
		DataPath: data, Projector: ProjectorSpec{Kind: "rademacher", Dim: 8}, FeaturesDType: "float32",
		BatchSize: 2, Workers: 1,
	})
	if err == nil || !strings.Contains(err.Error(), "train data "+data+" has no rows") {
		t.Fatalf("error %v, want one naming %s and its lack of rows", err, data)
	}
	if _, err := os.Stat(save); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a store was made for no rows: %v", err)
	}
}

func TestRequireRows(t *testing.T) {
	tests := []struct {
		n    int
		want string // "" for no error
	}{
		{1, ""},
		{1000, ""},
		{0, "targets t.csv has no rows"},
	}
	for _, tc := range tests {
		err := RequireRows("targets", "t.csv", tc.n)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("RequireRows(%d) = %v, want %q", tc.n, err, tc.want)
		}
	}
}
