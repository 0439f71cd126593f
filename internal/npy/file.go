package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"unsafe"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/x448/float16"
)

// filePerm is the mode of the files this package creates; the store is
// meant to be readable by the analysis tools of other users.
const filePerm = 0o644

// WriteFile atomically replaces path with an .npy file holding h and data,
// the raw little-endian elements in C order (len(data) must equal
// h.DataSize()). The file is written to a temporary name, synced and renamed,
// so a reader sees the old file or the complete new one. The header is the
// one EncodeHeader returns, so the file is byte-identical to np.save's.
// Fortran-order headers are refused.
func WriteFile(path string, h Header, data []byte) error {
	if h.FortranOrder {
		return fmt.Errorf("write %s: %w", path, errFortran)
	}
	hdr, err := EncodeHeader(h)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if int64(len(data)) != h.DataSize() {
		return fmt.Errorf("write %s: got %d data bytes, a %v array of shape %s needs %d",
			path, len(data), h.DType, shapeForError(h.Shape), h.DataSize())
	}
	return atomicfile.Write(path, filePerm, func(w io.Writer) error {
		if _, err := w.Write(hdr); err != nil {
			return err
		}
		_, err := w.Write(data)
		return err
	})
}

// ReadFile reads the whole .npy file at path and returns its header and its
// data, the raw little-endian elements in C order. It refuses Fortran-order
// and big-endian files, and a file whose size does not match its header.
func ReadFile(path string) (Header, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	defer f.Close()
	h, off, err := DecodeHeader(f)
	if err != nil {
		return Header{}, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if h.FortranOrder {
		return Header{}, nil, fmt.Errorf("read %s: %w", path, errFortran)
	}
	st, err := f.Stat()
	if err != nil {
		return Header{}, nil, err
	}
	if err := checkSize(h, off, st.Size()); err != nil {
		return Header{}, nil, fmt.Errorf("read %s: %w", path, err)
	}
	// The size check above bounds the allocation by the real file size, so a
	// corrupt header cannot ask for more memory than the file occupies.
	if h.DataSize() > math.MaxInt {
		return Header{}, nil, fmt.Errorf("read %s: %d data bytes do not fit in this platform's address space", path, h.DataSize())
	}
	data := make([]byte, h.DataSize())
	if _, err := io.ReadFull(f, data); err != nil {
		return Header{}, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h, data, nil
}

// fileSize returns the size of a file whose data, described by h, starts
// at off.
func fileSize(h Header, off int64) (int64, error) {
	ds := h.DataSize()
	if ds > math.MaxInt64-off {
		return 0, fmt.Errorf("a %v array of shape %s is too large for a file", h.DType, shapeForError(h.Shape))
	}
	return off + ds, nil
}

// checkSize compares a file's size with the size its header implies.
func checkSize(h Header, off, size int64) error {
	want, err := fileSize(h, off)
	if err != nil {
		return err
	}
	if size != want {
		what := "truncated"
		if size > want {
			what = "corrupt (trailing bytes)"
		}
		return fmt.Errorf("file is %s: expected %d bytes (%d of header and %d of %v data for shape %s), the file has %d",
			what, want, off, h.DataSize(), h.DType, shapeForError(h.Shape), size)
	}
	return nil
}

// Mode says whether a File's mapping may be written.
type Mode int

// The modes Open accepts.
const (
	ReadOnly  Mode = iota // the mapping is read-only; a store into it crashes the program
	ReadWrite             // writes to Data reach the file (see File.Flush)
)

// A File is an .npy file memory-mapped in full, giving direct access to its
// data as a byte slice or as a typed slice. The mapping is shared: in
// ReadWrite mode, stores into the slices are visible to other processes
// mapping the same file and reach the file even if this process crashes;
// Flush makes them durable against a crash of the system.
//
// The slices Data and the typed views return point into the mapping and must
// not be used after Close. Several goroutines may use the slices at once
// (writing disjoint elements); Close must not run concurrently with anything
// else.
type File struct {
	path    string
	hdr     Header
	mode    Mode
	mapping []byte // the whole file from offset 0; nil when there is no data
	data    []byte // mapping[offset:]
	offset  int64
	closed  bool
}

// littleEndianHost is checked once: the typed views reinterpret the file's
// little-endian bytes in place, which is wrong on a big-endian machine.
var littleEndianHost = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

var errNoMmap = errors.New("memory-mapped stores need a Unix system")

func checkHost() error {
	if !mmapSupported {
		return errNoMmap
	}
	if !littleEndianHost {
		return errors.New("memory-mapped stores need a little-endian host")
	}
	return nil
}

// Create creates path as an .npy file for h, at full size (the header and
// zeroed data), and maps it read-write. On Linux the disk blocks are
// reserved up front, so a full disk is an error here, naming the size,
// rather than a crash when a page of the mapping is first written. The
// file appears atomically and complete. If path already exists, Create
// returns an error wrapping fs.ErrExist and leaves the file untouched; when
// several processes race to create the same file exactly one succeeds, and
// the others can Open the winner's file. Fortran-order headers are refused.
// Like Open, it fails up front on a system without mmap or a big-endian host.
func Create(path string, h Header) (*File, error) {
	if err := checkHost(); err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if h.FortranOrder {
		return nil, fmt.Errorf("create %s: %w", path, errFortran)
	}
	hdr, err := EncodeHeader(h)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	size, err := fileSize(h, int64(len(hdr)))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	err = atomicfile.CreateNew(path, filePerm, func(f *os.File) error {
		if _, err := f.Write(hdr); err != nil {
			return err
		}
		return reserve(f, size)
	})
	if err != nil {
		return nil, err
	}
	return Open(path, ReadWrite)
}

// Open maps the .npy file at path in the given mode. It refuses Fortran-order
// and big-endian files, and a file whose size is not exactly its header plus
// DataSize (a truncated or corrupt file). The file descriptor is closed once
// the file is mapped, so an open File holds no descriptor. It fails on a
// system without mmap ("memory-mapped stores need a Unix system") and on a
// big-endian host, where the typed views would be wrong; ReadFile works on
// both.
func Open(path string, mode Mode) (*File, error) {
	if err := checkHost(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	flag := os.O_RDONLY
	switch mode {
	case ReadOnly:
	case ReadWrite:
		flag = os.O_RDWR
	default:
		return nil, fmt.Errorf("open %s: invalid mode %d", path, mode)
	}
	fd, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	h, off, err := DecodeHeader(fd)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if h.FortranOrder {
		return nil, fmt.Errorf("open %s: %w", path, errFortran)
	}
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if err := checkSize(h, off, size); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	f := &File{path: path, hdr: h, mode: mode, offset: off, data: []byte{}}
	if h.DataSize() == 0 {
		// mmap refuses a zero length, and there is nothing to map.
		return f, nil
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("open %s: %d bytes do not fit in this platform's address space", path, size)
	}
	// Mapping from offset 0 keeps the data at its 64-byte-aligned offset
	// within a page-aligned mapping, so every typed view is aligned.
	m, err := mapFile(fd, int(size), mode == ReadWrite)
	if err != nil {
		return nil, fmt.Errorf("open %s: map: %w", path, err)
	}
	f.mapping = m
	f.data = m[off:]
	return f, nil
}

// Path returns the path the file was opened or created with.
func (f *File) Path() string { return f.path }

// Header returns the file's header (a copy; changing it changes nothing).
func (f *File) Header() Header {
	h := f.hdr
	h.Shape = slices.Clone(h.Shape)
	return h
}

// Data returns the mapped data: DataSize bytes of raw little-endian elements
// in C order. It is empty for an array with no elements and nil after Close.
func (f *File) Data() []byte { return f.data }

// view checks the dtype for a typed view; a mismatch is a programming error.
func (f *File) view(want DType, method string) {
	if f.hdr.DType != want {
		panic(fmt.Sprintf("npy: %s called on %s, which holds %v, not %v", method, f.path, f.hdr.DType, want))
	}
}

func viewAs[T any](data []byte) []T {
	var zero T
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(data))), uintptr(len(data))/unsafe.Sizeof(zero))
}

// Float32s returns the data of a Float32 file as a []float32 backed by the
// mapping. It panics if the file holds another dtype.
func (f *File) Float32s() []float32 { f.view(Float32, "Float32s"); return viewAs[float32](f.data) }

// Float64s returns the data of a Float64 file as a []float64 backed by the
// mapping. It panics if the file holds another dtype.
func (f *File) Float64s() []float64 { f.view(Float64, "Float64s"); return viewAs[float64](f.data) }

// Uint16s returns the data of a Float16 file as the raw IEEE 754 binary16
// bits, a []uint16 backed by the mapping (convert with Float16ToFloat32 and
// Float16Bits). It panics if the file holds another dtype.
func (f *File) Uint16s() []uint16 { f.view(Float16, "Uint16s"); return viewAs[uint16](f.data) }

// Uint8s returns the data of a Uint8 file as a []uint8 backed by the
// mapping. It panics if the file holds another dtype.
func (f *File) Uint8s() []uint8 { f.view(Uint8, "Uint8s"); return f.data }

// Int32s returns the data of an Int32 file as a []int32 backed by the
// mapping. It panics if the file holds another dtype.
func (f *File) Int32s() []int32 { f.view(Int32, "Int32s"); return viewAs[int32](f.data) }

// Int64s returns the data of an Int64 file as a []int64 backed by the
// mapping. It panics if the file holds another dtype.
func (f *File) Int64s() []int64 { f.view(Int64, "Int64s"); return viewAs[int64](f.data) }

// Flush writes the pages holding data bytes [off, off+n) to the file and
// waits for the write to complete (msync with MS_SYNC), so that they survive
// a crash of the system. off and n count bytes from the start of the data,
// not of the file. It does nothing for a read-only file or for n == 0.
func (f *File) Flush(off, n int64) error {
	if f.closed {
		return fmt.Errorf("flush %s: file is closed", f.path)
	}
	size := int64(len(f.data))
	if off < 0 || n < 0 || off > size || n > size-off {
		return fmt.Errorf("flush %s: range [%d, %d) is outside the %d data bytes", f.path, off, off+n, size)
	}
	if n == 0 || f.mode == ReadOnly {
		return nil
	}
	// msync needs a page-aligned start; the mapping starts at file offset 0,
	// so aligning the file offset aligns the address.
	page := int64(os.Getpagesize())
	start := f.offset + off
	start -= start % page
	if err := syncMapping(f.mapping[start : f.offset+off+n]); err != nil {
		return fmt.Errorf("flush %s: %w", f.path, err)
	}
	return nil
}

// Close unmaps the file. It does not flush: changes already made reach the
// file through the shared mapping, and Flush is what makes them durable.
// Calling Close again does nothing and returns nil.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	m := f.mapping
	f.mapping, f.data = nil, nil
	if m == nil {
		return nil
	}
	if err := unmap(m); err != nil {
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	return nil
}

// Float16Bits converts src to IEEE 754 binary16, rounding to nearest with
// ties to even (the rounding numpy's astype(np.float16) uses), and stores the
// raw bits in dst[:len(src)]. It panics if dst is shorter than src.
func Float16Bits(dst []uint16, src []float32) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("npy: Float16Bits: dst has %d elements, src has %d", len(dst), len(src)))
	}
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float16.Fromfloat32(v).Bits()
	}
}

// Float16ToFloat32 converts the binary16 bits in src to float32 (exactly;
// every binary16 value is a float32) and stores them in dst[:len(src)]. It
// panics if dst is shorter than src.
func Float16ToFloat32(dst []float32, src []uint16) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("npy: Float16ToFloat32: dst has %d elements, src has %d", len(dst), len(src)))
	}
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float16.Frombits(v).Float32()
	}
}
