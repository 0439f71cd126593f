package score

import "fmt"

// Matrix is a read-only rows × cols matrix read one row at a time.
//
// Row copies row i, 0 ≤ i < rows, into dst, whose length is cols. The store
// implements it over memory-mapped float32 or float16 files, so reading a row
// costs a conversion rather than a disk seek; Finalize and Scores rely on that
// and may read a row more than once.
type Matrix interface {
	Dims() (rows, cols int)
	Row(i int, dst []float64)
}

// RowColser is a Matrix that copies part of a row: columns [c0, c1) of row
// i into dst (length c1 − c0). The dual form reads X one block of columns
// at a time, and through Row alone each block would cost a whole row per
// row: O(N·k²/block) reads, minutes for exact gradients of millions of
// parameters.
type RowColser interface {
	RowCols(i, c0, c1 int, dst []float64)
}

// RowWriter receives the rows of a result matrix.
//
// SetRow stores src, whose length is the result's column count, as row i. It
// must not keep src, which the caller reuses. Each row is set exactly once,
// in increasing order of i within one call of Finalize or Scores.
type RowWriter interface {
	SetRow(i int, src []float64) error
}

// BlockWriter is a RowWriter that can also store part of a row.
//
// SetBlock stores src as columns j, …, j+len(src)−1 of row i, and must not keep
// src. Finalize's dual form solves for K one block of columns at a time: given
// a BlockWriter it writes each block as soon as it is solved, rows in
// increasing order, in O(N·block) memory; given a plain RowWriter it must
// hold all of K (N·k float64 values) until every row is complete.
type BlockWriter interface {
	RowWriter
	SetBlock(i, j int, src []float64) error
}

// Dense is an in-memory row-major matrix: element (i, j) is Data[i*Cols+j].
// It is a Matrix and a BlockWriter, for tests and for inputs small enough to
// hold in memory.
type Dense struct {
	Rows, Cols int
	Data       []float64
}

// NewDense returns a zero rows × cols Dense.
func NewDense(rows, cols int) *Dense {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("score: negative dimension %d×%d", rows, cols))
	}
	return &Dense{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
}

// Dims returns the dimensions of d.
func (d *Dense) Dims() (rows, cols int) { return d.Rows, d.Cols }

// At returns element (i, j) of d.
func (d *Dense) At(i, j int) float64 {
	if i < 0 || i >= d.Rows || j < 0 || j >= d.Cols {
		panic(fmt.Sprintf("score: element (%d, %d) outside %d×%d matrix", i, j, d.Rows, d.Cols))
	}
	return d.Data[i*d.Cols+j]
}

// Row copies row i of d into dst, which must have length d.Cols.
func (d *Dense) Row(i int, dst []float64) {
	if i < 0 || i >= d.Rows {
		panic(fmt.Sprintf("score: row %d outside %d×%d matrix", i, d.Rows, d.Cols))
	}
	if len(dst) != d.Cols {
		panic(fmt.Sprintf("score: row buffer has length %d, matrix has %d columns", len(dst), d.Cols))
	}
	copy(dst, d.Data[i*d.Cols:(i+1)*d.Cols])
}

// RowCols copies columns [c0, c1) of row i of d into dst.
func (d *Dense) RowCols(i, c0, c1 int, dst []float64) {
	if i < 0 || i >= d.Rows || c0 < 0 || c1 > d.Cols || c0 > c1 || len(dst) != c1-c0 {
		panic(fmt.Sprintf("score: row %d columns [%d, %d) into %d values, matrix %d×%d", i, c0, c1, len(dst), d.Rows, d.Cols))
	}
	copy(dst, d.Data[i*d.Cols+c0:i*d.Cols+c1])
}

// SetRow copies src into row i of d.
func (d *Dense) SetRow(i int, src []float64) error {
	if len(src) != d.Cols {
		return fmt.Errorf("row of length %d for a matrix with %d columns", len(src), d.Cols)
	}
	return d.SetBlock(i, 0, src)
}

// SetBlock copies src into row i of d from column j on.
func (d *Dense) SetBlock(i, j int, src []float64) error {
	if i < 0 || i >= d.Rows || j < 0 || j+len(src) > d.Cols {
		return fmt.Errorf("block at row %d, columns %d to %d, outside %d×%d matrix", i, j, j+len(src)-1, d.Rows, d.Cols)
	}
	copy(d.Data[i*d.Cols+j:], src)
	return nil
}
