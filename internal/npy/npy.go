// Package npy reads and writes NumPy .npy files (format versions 1.0, 2.0,
// 3.0 read; 1.0 written when the header fits, else 2.0, exactly as numpy
// chooses), little-endian, C order, memory-mapped.
//
// An .npy file is a magic string, a format version, a header length, a
// header that is the text of a Python dict literal such as
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//
// padded with spaces and a newline so that the raw element data starts at a
// multiple of 64 bytes, and then the data itself. The store keeps every array
// in this form so that numpy can load it directly (np.load, also with
// mmap_mode) and so that this package can memory-map it.
//
// Only the plain numeric dtypes the store uses are supported (see DType), in
// little-endian byte order and C (row-major) order. Files numpy writes on a
// big-endian machine, or from Fortran-ordered arrays, are refused with an
// error that says how to convert them.
package npy

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// DType is the element type of an array.
type DType uint8

// The supported element types. The zero DType is invalid.
const (
	Float32 DType = iota + 1 // IEEE 754 binary32, descr '<f4'
	Float16                  // IEEE 754 binary16, descr '<f2'; held as raw uint16 bits
	Float64                  // IEEE 754 binary64, descr '<f8'
	Uint8                    // unsigned byte, descr '|u1'
	Int32                    // signed 32-bit integer, descr '<i4'
	Int64                    // signed 64-bit integer, descr '<i8'
)

var dtypeInfo = [...]struct {
	descr string
	size  int
}{
	Float32: {"<f4", 4},
	Float16: {"<f2", 2},
	Float64: {"<f8", 8},
	Uint8:   {"|u1", 1},
	Int32:   {"<i4", 4},
	Int64:   {"<i8", 8},
}

func (d DType) valid() bool { return d >= Float32 && int(d) < len(dtypeInfo) }

// Size returns the number of bytes per element, or 0 for an invalid DType.
func (d DType) Size() int {
	if !d.valid() {
		return 0
	}
	return dtypeInfo[d].size
}

// String returns the descr numpy writes for d ("<f4", "<f2", "<f8", "|u1",
// "<i4", "<i8"), or "DType(n)" for an invalid value.
func (d DType) String() string {
	if !d.valid() {
		return fmt.Sprintf("DType(%d)", uint8(d))
	}
	return dtypeInfo[d].descr
}

// typeCodes maps numpy's type strings, without the byte-order character, to
// a DType. Besides the kind+size form numpy writes ("f4"), np.dtype accepts
// single-character codes whose size is the same on every platform numpy
// supports; the platform-dependent ones ('l', 'L', 'g', ...) are left out on
// purpose.
var typeCodes = map[string]DType{
	"f4": Float32, "f": Float32,
	"f2": Float16, "e": Float16,
	"f8": Float64, "d": Float64,
	"u1": Uint8, "B": Uint8,
	"i4": Int32, "i": Int32,
	"i8": Int64, "q": Int64,
}

// ParseDType parses a numpy descr string such as "<f4" or "|u1". The byte
// order may be '<' (little-endian), '|' (not applicable, for one-byte types),
// '=' or absent (native, which is little-endian on every host this package
// runs on); for one-byte types every byte-order character is accepted.
// Big-endian descrs ('>f4') are refused with an error that says how to
// convert the file.
func ParseDType(descr string) (DType, error) {
	code, order := descr, byte(0)
	if code != "" && strings.IndexByte("<>|=", code[0]) >= 0 {
		order, code = code[0], code[1:]
	}
	d, ok := typeCodes[code]
	if !ok {
		return 0, fmt.Errorf("unsupported dtype %q (supported: <f4, <f2, <f8, |u1, <i4, <i8)", descr)
	}
	if d.Size() == 1 {
		return d, nil
	}
	switch order {
	case '>':
		return 0, fmt.Errorf("big-endian dtype %q is not supported: convert the file to little-endian first (e.g. np.save(path, arr.astype('%s')))", descr, d)
	case '|':
		return 0, fmt.Errorf("invalid dtype %q: byte order '|' is only for one-byte types", descr)
	}
	return d, nil
}

// Header describes an array stored in an .npy file: its element type, its
// shape (outermost dimension first; empty for a 0-d array, which holds one
// element) and whether its data is in Fortran (column-major) order rather
// than C (row-major) order. EncodeHeader and DecodeHeader handle Fortran
// order; the functions that read or write files refuse it.
type Header struct {
	DType        DType
	Shape        []int
	FortranOrder bool
}

// Len returns the number of elements: the product of the shape, 1 for a 0-d
// array (shape ()). It is meaningful only for a header that DecodeHeader
// returned or EncodeHeader accepts.
func (h Header) Len() int64 {
	n := int64(1)
	for _, d := range h.Shape {
		n *= int64(d)
	}
	return n
}

// DataSize returns the number of data bytes, Len times the element size. It
// is meaningful only for a header that DecodeHeader returned or EncodeHeader
// accepts; those never overflow int64.
func (h Header) DataSize() int64 {
	return h.Len() * int64(h.DType.Size())
}

// shapeString formats the shape the way Python prints a tuple: "()", "(5,)",
// "(3, 4)". It is the exact text of the header's shape value.
func shapeString(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// shapeForError is shapeString, shortened for shapes with many dimensions
// so that an error about a hostile header stays readable.
func shapeForError(shape []int) string {
	const keep = 8
	if len(shape) <= keep {
		return shapeString(shape)
	}
	return fmt.Sprintf("%s ... (%d dimensions)", strings.TrimSuffix(shapeString(shape[:keep]), ")"), len(shape))
}

// validate checks what every function that trusts a Header relies on: a
// known dtype, no negative dimension, and a byte size that fits in int64.
// Like numpy, the overflow check skips zero dimensions, so (0, 2**62, 2**62)
// is refused even though it holds no elements: such a header is never
// written by a sane program, and refusing it keeps Len and DataSize exact
// for every shape prefix.
func (h Header) validate() error {
	if !h.DType.valid() {
		return fmt.Errorf("invalid dtype %v", h.DType)
	}
	size := uint64(h.DType.Size())
	for _, d := range h.Shape {
		if d < 0 {
			return fmt.Errorf("invalid shape %s: negative dimension", shapeForError(h.Shape))
		}
		if d == 0 {
			continue
		}
		hi, lo := bits.Mul64(size, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return fmt.Errorf("invalid shape %s: %v array of this shape would exceed %d bytes", shapeForError(h.Shape), h.DType, int64(math.MaxInt64))
		}
		size = lo
	}
	return nil
}

// errFortran is returned for Fortran-order arrays, which the typed views
// would silently present transposed.
var errFortran = errors.New("fortran-order arrays are not supported; save the array in C order (e.g. np.save(path, np.ascontiguousarray(arr)))")
