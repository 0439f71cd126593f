package store

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/trak-dev/trak/internal/atomicfile"
)

// Row-name files: which example each row of the store's arrays is, so that
// a score matrix can be labelled without re-deriving the order of a tar
// shard or a folder.
const trainNamesFile = "rows.tsv"

// TrainNamesPath returns the path of the train set's row names.
func (s *Store) TrainNamesPath() string { return filepath.Join(s.Dir, trainNamesFile) }

// TargetNamesPath returns the path of an experiment's target row names,
// beside its score matrix.
func (s *Store) TargetNamesPath(exp string) string {
	return filepath.Join(s.Dir, "scores", exp+"_rows.tsv")
}

// WriteRowNames writes the names of n rows to path, atomically: a header
// "index" followed by columns, then one line per row with its index and
// describe(i). Fields are tab-separated and quoted as CSV quotes them when
// they hold a tab, a quote or a line break (pandas.read_csv(path, sep="\t")
// reads them back).
func WriteRowNames(path string, columns []string, n int, describe func(i int) []string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		cw := csv.NewWriter(bw)
		cw.Comma = '\t'
		if err := cw.Write(append([]string{"index"}, columns...)); err != nil {
			return err
		}
		for i := range n {
			if err := cw.Write(append([]string{strconv.Itoa(i)}, describe(i)...)); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
