package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trak-dev/trak/internal/npy"
)

// Rows is a group of row-aligned arrays that featurize fills: the features
// (n × k), optionally the out-to-loss terms Q (n × 1), and a uint8
// completion flag per row. Each row is written by exactly one process, and
// its flag is set only after its data has been flushed, so the flags tell a
// restarted run which rows are finished.
type Rows struct {
	feats *npy.File
	q     *npy.File
	done  *npy.File
	n, k  int
}

// Row completion flags. A skipped row is a bad example (an unreadable
// image, an empty caption) that a run was told to skip: it keeps its index,
// its features and Q stay zero, and it counts as finished.
const (
	rowPending = 0
	rowDone    = 1
	rowSkipped = 2
)

// TrainRows opens (creating if needed) the train arrays of model id:
// grads.npy, out_to_loss.npy and is_featurized.npy.
func (s *Store) TrainRows(id int) (*Rows, error) {
	dt := npy.Float32
	if s.Meta.FeaturesDType == "float16" {
		dt = npy.Float16
	}
	dir := s.ModelDir(id)
	return openRows(s.Meta.TrainSize, s.Meta.K, dt,
		filepath.Join(dir, "grads.npy"),
		filepath.Join(dir, "out_to_loss.npy"),
		filepath.Join(dir, "is_featurized.npy"))
}

// HasTrainRows reports whether the train arrays of model id exist.
func (s *Store) HasTrainRows(id int) bool {
	_, err := os.Stat(filepath.Join(s.ModelDir(id), "is_featurized.npy"))
	return err == nil
}

// TargetRows opens (creating if needed) the target features of experiment
// exp for model id: <exp>_grads.npy (t × k float32) and
// <exp>_is_featurized.npy.
func (s *Store) TargetRows(id int, exp string, t int) (*Rows, error) {
	dir := s.ModelDir(id)
	return openRows(t, s.Meta.K, npy.Float32,
		filepath.Join(dir, exp+"_grads.npy"), "",
		filepath.Join(dir, exp+"_is_featurized.npy"))
}

func openRows(n, k int, dt npy.DType, featsPath, qPath, donePath string) (_ *Rows, err error) {
	if err := os.MkdirAll(filepath.Dir(featsPath), 0o755); err != nil {
		return nil, err
	}
	r := &Rows{n: n, k: k}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.feats, err = openOrCreate(featsPath, npy.Header{DType: dt, Shape: []int{n, k}}); err != nil {
		return nil, err
	}
	if qPath != "" {
		if r.q, err = openOrCreate(qPath, npy.Header{DType: npy.Float32, Shape: []int{n, 1}}); err != nil {
			return nil, err
		}
	}
	if r.done, err = openOrCreate(donePath, npy.Header{DType: npy.Uint8, Shape: []int{n}}); err != nil {
		return nil, err
	}
	return r, nil
}

// openOrCreate maps the .npy file at path read-write, creating it (zeroed)
// if it does not exist. When processes race, one creates and the rest open.
func openOrCreate(path string, h npy.Header) (*npy.File, error) {
	f, err := npy.Create(path, h)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	f, err = npy.Open(path, npy.ReadWrite)
	if err != nil {
		return nil, err
	}
	got := f.Header()
	if got.DType != h.DType || !slices.Equal(got.Shape, h.Shape) {
		f.Close()
		return nil, fmt.Errorf("%s holds %s %v, this run needs %s %v: the store was written by a different run or is damaged; use a new save_dir",
			path, got.DType, got.Shape, h.DType, h.Shape)
	}
	return f, nil
}

// Len returns the number of rows.
func (r *Rows) Len() int { return r.n }

// Dim returns the feature dimension k.
func (r *Rows) Dim() int { return r.k }

// Done reports whether row i is finished.
func (r *Rows) Done(i int) bool { return r.done.Uint8s()[i] != rowPending }

// Skipped reports whether row i was skipped as a bad example.
func (r *Rows) Skipped(i int) bool { return r.done.Uint8s()[i] == rowSkipped }

// Skip marks rows as skipped bad examples, recording why in the report
// file beside the arrays (<name>_skipped.tsv: row, tab, reason), which is
// rewritten atomically. Their features and Q stay zero.
func (r *Rows) Skip(rows []int, reasons []string) error {
	if len(rows) == 0 {
		return nil
	}
	if err := appendReport(r.reportPath(), rows, reasons); err != nil {
		return err
	}
	return markRows(r.done, rows, rowSkipped)
}

// markRows sets the flags of rows to flag and flushes them. Callers flush
// the rows' data first, so a set flag always means the data is on disk.
func markRows(done *npy.File, rows []int, flag uint8) error {
	if len(rows) == 0 {
		return nil
	}
	flags := done.Uint8s()
	lo, hi := rows[0], rows[0]+1
	for _, i := range rows {
		flags[i] = flag
		lo, hi = min(lo, i), max(hi, i+1)
	}
	if err := done.Flush(int64(lo), int64(hi-lo)); err != nil {
		return fmt.Errorf("flush %s: %w", done.Path(), err)
	}
	return nil
}

// reportPath is the skipped-rows report of these arrays: skipped.tsv for
// the train set, <exp>_skipped.tsv for an experiment's targets.
func (r *Rows) reportPath() string {
	p := r.done.Path()
	return strings.TrimSuffix(p, "is_featurized.npy") + "skipped.tsv"
}

// Pending returns the unfinished rows in [lo, hi), ascending.
func (r *Rows) Pending(lo, hi int) []int {
	flags := r.done.Uint8s()
	var out []int
	for i := lo; i < hi; i++ {
		if flags[i] == rowPending {
			out = append(out, i)
		}
	}
	return out
}

// Put stores the features of rows (feats holds len(rows) × k values, row
// after row) and, when the arrays have a Q column, their out-to-loss terms;
// it flushes them to disk, then marks the rows finished and flushes the
// flags. rows must be ascending.
func (r *Rows) Put(rows []int, feats []float32, q []float32) error {
	if len(rows) == 0 {
		return nil
	}
	if len(feats) != len(rows)*r.k || (r.q != nil && len(q) != len(rows)) {
		panic("store: Put: slice lengths do not match rows")
	}
	lo, hi := rows[0], rows[len(rows)-1]+1
	switch r.feats.Header().DType {
	case npy.Float32:
		dst := r.feats.Float32s()
		for j, i := range rows {
			copy(dst[i*r.k:(i+1)*r.k], feats[j*r.k:(j+1)*r.k])
		}
	case npy.Float16:
		dst := r.feats.Uint16s()
		for j, i := range rows {
			npy.Float16Bits(dst[i*r.k:(i+1)*r.k], feats[j*r.k:(j+1)*r.k])
		}
	}
	rowBytes := int64(r.k) * int64(r.feats.Header().DType.Size())
	if err := r.feats.Flush(int64(lo)*rowBytes, int64(hi-lo)*rowBytes); err != nil {
		return fmt.Errorf("flush %s: %w", r.feats.Path(), err)
	}
	if r.q != nil {
		dst := r.q.Float32s()
		for j, i := range rows {
			dst[i] = q[j]
		}
		if err := r.q.Flush(int64(lo)*4, int64(hi-lo)*4); err != nil {
			return fmt.Errorf("flush %s: %w", r.q.Path(), err)
		}
	}
	return markRows(r.done, rows, rowDone)
}

// Row copies row i of the features into dst as float64.
func (r *Rows) Row(i int, dst []float64) {
	dst = dst[:r.k]
	switch r.feats.Header().DType {
	case npy.Float32:
		for j, v := range r.feats.Float32s()[i*r.k : (i+1)*r.k] {
			dst[j] = float64(v)
		}
	case npy.Float16:
		buf := make([]float32, r.k)
		npy.Float16ToFloat32(buf, r.feats.Uint16s()[i*r.k:(i+1)*r.k])
		for j, v := range buf {
			dst[j] = float64(v)
		}
	}
}

// Dims returns (n, k), so Rows can be read as a matrix.
func (r *Rows) Dims() (int, int) { return r.n, r.k }

// Q returns the out-to-loss terms as float64.
func (r *Rows) Q() []float64 {
	out := make([]float64, r.n)
	for i, v := range r.q.Float32s() {
		out[i] = float64(v)
	}
	return out
}

// Close unmaps the arrays.
func (r *Rows) Close() error {
	var errs []error
	for _, f := range []*npy.File{r.feats, r.q, r.done} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}
