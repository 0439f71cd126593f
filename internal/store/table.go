package store

import (
	"errors"
	"fmt"

	"github.com/trak-dev/trak/internal/npy"
)

// Table is a checkpoint's embedding table of the train set:
// embeddings_image.npy and embeddings_text.npy (N × d float32, the
// normalised φ_j and ψ_j) with per-row flags in is_embedded.npy (0 pending,
// 1 done, 2 skipped bad example). Like Rows, a row's flag is set only after
// its data is flushed, so an interrupted pass resumes.
type Table struct {
	image, text, done *npy.File
	n, d              int
}

// Table opens (creating if needed) the embedding table of model id, with
// embedding dimension d, checked as a group (see openGroup).
func (s *Store) Table(id, d int) (*Table, error) {
	n := s.Meta.TrainSize
	emb := npy.Header{DType: npy.Float32, Shape: []int{n, d}}
	data, done, err := s.openGroup(group{
		id:    id,
		data:  []member{{"embeddings_image.npy", emb}, {"embeddings_text.npy", emb}},
		flags: member{"is_embedded.npy", npy.Header{DType: npy.Uint8, Shape: []int{n}}},
		fix:   s.refeaturize(id),
	})
	if err != nil {
		return nil, err
	}
	return &Table{n: n, d: d, image: data[0], text: data[1], done: done}, nil
}

// Pending returns the rows without embeddings, ascending.
func (t *Table) Pending() []int {
	var out []int
	for i, f := range t.done.Uint8s() {
		if f == rowPending {
			out = append(out, i)
		}
	}
	return out
}

// Done reports whether row i is finished (embedded or skipped).
func (t *Table) Done(i int) bool { return t.done.Uint8s()[i] != rowPending }

// Good returns the embedded rows, ascending: the candidates for negatives.
func (t *Table) Good() []int {
	var out []int
	for i, f := range t.done.Uint8s() {
		if f == rowDone {
			out = append(out, i)
		}
	}
	return out
}

// Put stores the embeddings of rows (len(rows) × d each), flushes them,
// then marks the rows done. rows must be ascending.
func (t *Table) Put(rows []int, image, text []float32) error {
	if len(rows) == 0 {
		return nil
	}
	d := t.d
	for j, i := range rows {
		for _, a := range []struct {
			f    *npy.File
			data []float32
		}{{t.image, image}, {t.text, text}} {
			if c, ok := firstNonFinite(a.data[j*d : (j+1)*d]); ok {
				return &NonFiniteError{Path: a.f.Path(), Row: i, What: "embeddings", Col: c, Value: a.data[j*d+c]}
			}
		}
	}
	im, tx := t.image.Float32s(), t.text.Float32s()
	for j, i := range rows {
		copy(im[i*d:(i+1)*d], image[j*d:(j+1)*d])
		copy(tx[i*d:(i+1)*d], text[j*d:(j+1)*d])
	}
	lo, hi := rows[0], rows[len(rows)-1]+1
	for _, f := range []*npy.File{t.image, t.text} {
		if err := f.Flush(int64(lo*d*4), int64((hi-lo)*d*4)); err != nil {
			return fmt.Errorf("flush %s: %w", f.Path(), err)
		}
	}
	return markRows(t.done, rows, rowDone)
}

// Skip marks rows as bad examples: their embeddings stay zero and they are
// never drawn as negatives.
func (t *Table) Skip(rows []int) error { return markRows(t.done, rows, rowSkipped) }

// Data returns the image and text embeddings (N × d, mapped).
func (t *Table) Data() (image, text []float32) { return t.image.Float32s(), t.text.Float32s() }

// Close unmaps the arrays.
func (t *Table) Close() error {
	var errs []error
	for _, f := range []*npy.File{t.image, t.text, t.done} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}
