package shapes

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// DefaultCSVName is the CSV file name WriteDataset uses when given "".
const DefaultCSVName = "shapes.csv"

// ImageDir is the subdirectory of a written data set that holds its PNGs.
const ImageDir = "images"

// CSVHeader lists the columns of the CSV WriteDataset writes: filepath and
// title as open_clip names them, then the drawn (true) attributes and
// whether the caption is noisy ("1") or not ("0").
var CSVHeader = []string{"filepath", "title", "shape", "color", "size", "position", "noisy"}

// ImageName returns the path, relative to the data set's directory, of
// example i's PNG in a data set of n examples: images/ and the index padded
// with zeros to at least five digits, e.g. images/00042.png.
func ImageName(i, n int) string {
	width := max(5, len(strconv.Itoa(max(n-1, 0))))
	return fmt.Sprintf("%s/%0*d.png", ImageDir, width, i)
}

// WriteDataset generates the data set opt describes into dir (created if
// needed): one PNG per example under dir/images, then the CSV dir/csvName
// (DefaultCSVName when csvName is ""), whose columns are CSVHeader and whose
// rows are in example order. Every file is written under a temporary name
// and renamed into place, and the CSV comes last, so a CSV that exists
// always lists complete images. Files left from an earlier, larger data
// set in the same directory are not removed. It returns the CSV's path.
func WriteDataset(dir string, opt Options, csvName string) (csvPath string, err error) {
	if err := opt.Validate(); err != nil {
		return "", err
	}
	if csvName == "" {
		csvName = DefaultCSVName
	}
	if csvName != filepath.Base(csvName) || csvName == "." || csvName == ".." {
		return "", fmt.Errorf("shapes: CSV name %q must be a plain file name", csvName)
	}
	if err := os.MkdirAll(filepath.Join(dir, ImageDir), 0o755); err != nil {
		return "", fmt.Errorf("shapes: %w", err)
	}

	rows := make([][]string, opt.N)
	var (
		mu       sync.Mutex
		firstErr error
	)
	parallel(opt.N, func(i int) bool {
		ex := GenerateAt(opt, i)
		name := ImageName(i, opt.N)
		err := writeFileAtomic(filepath.Join(dir, filepath.FromSlash(name)), func(w *bufio.Writer) error {
			return png.Encode(w, ex.Image)
		})
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return false
		}
		t := ex.TrueAttrs
		rows[i] = []string{name, ex.Caption, t.Shape, t.Color, t.Size, t.Position, strconv.Itoa(b2i(ex.Noisy))}
		return true
	})
	if firstErr != nil {
		return "", fmt.Errorf("shapes: %w", firstErr)
	}

	csvPath = filepath.Join(dir, csvName)
	err = writeFileAtomic(csvPath, func(w *bufio.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(CSVHeader); err != nil {
			return err
		}
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return "", fmt.Errorf("shapes: %w", err)
	}
	return csvPath, nil
}

// writeFileAtomic writes path through fill into a temporary file in the
// same directory, then renames it into place.
func writeFileAtomic(path string, fill func(*bufio.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))+"-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriter(f)
	if err := fill(w); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(f.Name(), path)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
