package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// grads.npy, out_to_loss.npy and is_featurized.npy, checked as a group (see
// openGroup). The model must be registered (AddModel) first.
func (s *Store) TrainRows(id int) (*Rows, error) {
	dt := npy.Float32
	if s.Meta.FeaturesDType == "float16" {
		dt = npy.Float16
	}
	n, k := s.Meta.TrainSize, s.Meta.K
	return s.openRows(group{
		id: id,
		data: []member{
			{gradsFile, npy.Header{DType: dt, Shape: []int{n, k}}},
			{outToLossFile, npy.Header{DType: npy.Float32, Shape: []int{n, 1}}},
		},
		flags: member{trainFlags, npy.Header{DType: npy.Uint8, Shape: []int{n}}},
		fix:   s.refeaturize(id),
	}, n, k)
}

// HasTrainRows reports whether the train arrays of model id exist.
func (s *Store) HasTrainRows(id int) bool {
	_, err := os.Stat(filepath.Join(s.ModelDir(id), trainFlags))
	return err == nil
}

// TargetRows opens (creating if needed) the target features of experiment
// exp for model id: <exp>_grads.npy (t × k float32) and
// <exp>_is_featurized.npy, checked as a group (see openGroup).
func (s *Store) TargetRows(id int, exp string, t int) (*Rows, error) {
	grads, flags := s.TargetGradsPath(id, exp), s.TargetFlagsPath(id, exp)
	return s.openRows(group{
		id:    id,
		data:  []member{{filepath.Base(grads), npy.Header{DType: npy.Float32, Shape: []int{t, s.Meta.K}}}},
		flags: member{filepath.Base(flags), npy.Header{DType: npy.Uint8, Shape: []int{t}}},
		fix:   fmt.Sprintf("remove %s and %s and run `trak score --exp %s` again (it featurizes the targets again)", grads, flags, exp),
	}, t, s.Meta.K)
}

func (s *Store) openRows(g group, n, k int) (*Rows, error) {
	data, done, err := s.openGroup(g)
	if err != nil {
		return nil, err
	}
	r := &Rows{n: n, k: k, feats: data[0], done: done}
	if len(data) > 1 {
		r.q = data[1]
	}
	return r, nil
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
	// A non-finite value would be trusted by every later step once its flag
	// is set; refuse it here, where the example is known.
	for j, i := range rows {
		if c, ok := firstNonFinite(feats[j*r.k : (j+1)*r.k]); ok {
			return &NonFiniteError{Path: r.feats.Path(), Row: i, What: "features", Col: c, Value: feats[j*r.k+c]}
		}
		if r.q != nil && q[j]-q[j] != 0 {
			return &NonFiniteError{Path: r.q.Path(), Row: i, What: "Q", Value: q[j]}
		}
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
			row := dst[i*r.k : (i+1)*r.k]
			npy.Float16Bits(row, feats[j*r.k:(j+1)*r.k])
			for c, b := range row {
				if b&0x7c00 == 0x7c00 { // all exponent bits: ±Inf (the inputs are finite)
					return fmt.Errorf("%s row %d: feature %d is %g, beyond float16's range (±65504): use features_dtype: float32 (in a new save_dir)", r.feats.Path(), i, c, feats[j*r.k+c])
				}
			}
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

// RowCols copies columns [c0, c1) of row i of the features into dst as
// float64.
func (r *Rows) RowCols(i, c0, c1 int, dst []float64) {
	dst = dst[:c1-c0]
	switch r.feats.Header().DType {
	case npy.Float32:
		for j, v := range r.feats.Float32s()[i*r.k+c0 : i*r.k+c1] {
			dst[j] = float64(v)
		}
	case npy.Float16:
		buf := make([]float32, c1-c0)
		npy.Float16ToFloat32(buf, r.feats.Uint16s()[i*r.k+c0:i*r.k+c1])
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

// NonFiniteError is a computed row that Put refused because it holds a NaN
// or an infinity: once its flag were set, every later step would trust it
// (a single NaN feature makes every score NaN). Nothing of the row is
// stored.
type NonFiniteError struct {
	Path  string // the array the row was for
	Row   int
	What  string // "features", "Q" or "embeddings"
	Col   int    // the value's column (0 for Q)
	Value float32
}

func (e *NonFiniteError) Error() string {
	switch e.What {
	case "Q":
		return fmt.Sprintf("%s row %d: the out-to-loss term is %g: the checkpoint gives a non-finite output for this example (a diverged or damaged checkpoint?)", e.Path, e.Row, e.Value)
	case "embeddings":
		return fmt.Sprintf("%s row %d: embedding value %d is %g: the checkpoint gives a non-finite embedding for this example (a diverged or damaged checkpoint?)", e.Path, e.Row, e.Col, e.Value)
	}
	return fmt.Sprintf("%s row %d: feature %d is %g: the checkpoint gives a non-finite gradient for this example (a diverged or damaged checkpoint?)", e.Path, e.Row, e.Col, e.Value)
}

// firstNonFinite returns the index of the first NaN or infinity of v.
func firstNonFinite(v []float32) (int, bool) {
	for i, x := range v {
		if x-x != 0 { // NaN or ±Inf
			return i, true
		}
	}
	return 0, false
}
