package export

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/npy"
)

// How a file of the export was made.
const (
	howLinked    = "linked"    // a hard link to the store's file: same bytes, no space used
	howCopied    = "copied"    // a byte copy of the store's file
	howConverted = "converted" // the store's array in another dtype
	howWritten   = "written"   // made by the export (flags, JSON, zero features)
)

// FileRecord says how one file of the export was made.
type FileRecord struct {
	Path string `json:"path"`           // relative to the exported directory
	From string `json:"from,omitempty"` // the store's file it holds, relative to the store
	How  string `json:"how"`
}

// writer makes the files of one export. Every file appears under its final
// name complete or not at all: data is written to a temporary name and
// renamed (atomicfile), and a hard link is atomic by itself.
type writer struct {
	ctx      context.Context
	dir      string    // the exported directory, absolute
	storeDir string    // the store's directory, as the store's paths begin
	dtype    npy.DType // of every float array written
	copyOnly bool      // never hard-link
	files    []FileRecord
	// linkErr is why the first hard link failed (another file system, or
	// one without hard links); the files that would have been linked are
	// copied instead.
	linkErr error
	// underflow counts values that are non-zero in the store and zero in a
	// float16 export.
	underflow int64
}

// copyChunk is how much a copy moves between checks for cancellation.
const copyChunk = 64 << 20

// convertChunk is the number of elements converted at a time.
const convertChunk = 1 << 16

// array exports the store's array at src as rel, in w.dtype. want is the
// header the store's settings give the array and fix what to do when the
// file does not have it. A file already in w.dtype is hard-linked when
// mayLink allows it, and copied otherwise; one in another dtype is
// converted.
func (w *writer) array(rel, src string, want npy.Header, mayLink bool, fix string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	f, err := openArray(src, want, fix)
	if err != nil {
		return err
	}
	defer f.Close()
	dst := filepath.Join(w.dir, rel)
	if err := removeOld(dst); err != nil {
		return err
	}
	if want.DType != w.dtype {
		if err := w.convert(dst, f); err != nil {
			return err
		}
		w.record(rel, src, howConverted)
		return nil
	}
	if mayLink && !w.copyOnly && w.linkErr == nil {
		err := os.Link(src, dst)
		if err == nil {
			w.record(rel, src, howLinked)
			return nil
		}
		w.linkErr = err
	}
	if err := w.copy(dst, src); err != nil {
		return err
	}
	w.record(rel, src, howCopied)
	return nil
}

func (w *writer) record(rel, src, how string) {
	if r, err := filepath.Rel(w.storeDir, src); err == nil && src != "" {
		src = r
	}
	w.files = append(w.files, FileRecord{Path: rel, From: src, How: how})
}

// openArray maps the .npy file at path read-only and checks that it holds
// want's dtype and shape.
func openArray(path string, want npy.Header, fix string) (*npy.File, error) {
	f, err := npy.Open(path, npy.ReadOnly)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, fix)
	}
	if h := f.Header(); h.DType != want.DType || !slices.Equal(h.Shape, want.Shape) {
		f.Close()
		return nil, fmt.Errorf("%s holds %s %v, the store's settings give %s %v: %s", path, h.DType, h.Shape, want.DType, want.Shape, fix)
	}
	return f, nil
}

// removeOld removes a file left at dst by an interrupted export, so that a
// hard link can take the name.
func removeOld(dst string) error {
	if err := os.Remove(dst); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	return nil
}

// copy streams src to dst. io.CopyN from one file to another lets the
// kernel copy (copy_file_range) without passing the bytes through here.
func (w *writer) copy(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, 0o644, func(out io.Writer) error {
		for {
			if err := w.ctx.Err(); err != nil {
				return err
			}
			_, err := io.CopyN(out, in, copyChunk)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("copy %s: %w", src, err)
			}
		}
	})
}

// convert writes src's array to dst in w.dtype. float16 → float32 is
// exact; float32 → float16 rounds to nearest even, as numpy's astype does,
// refuses values beyond float16's range (they would become infinities the
// library computes with) and counts values that become zero.
func (w *writer) convert(dst string, src *npy.File) error {
	h := src.Header()
	cols := 1
	if len(h.Shape) == 2 {
		cols = max(h.Shape[1], 1)
	}
	h.DType = w.dtype
	hdr, err := npy.EncodeHeader(h)
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return atomicfile.Write(dst, 0o644, func(out io.Writer) error {
		bw := bufio.NewWriterSize(out, 1<<20)
		if _, err := bw.Write(hdr); err != nil {
			return err
		}
		var err error
		switch w.dtype {
		case npy.Float16:
			err = w.toFloat16(bw, src, cols)
		case npy.Float32:
			err = w.toFloat32(bw, src)
		default:
			err = fmt.Errorf("cannot convert to %s", w.dtype)
		}
		if err != nil {
			return err
		}
		return bw.Flush()
	})
}

func (w *writer) toFloat16(out io.Writer, src *npy.File, cols int) error {
	in := src.Float32s()
	bits := make([]uint16, convertChunk)
	buf := make([]byte, 2*convertChunk)
	for off := 0; off < len(in); off += convertChunk {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		part := in[off:min(off+convertChunk, len(in))]
		b := bits[:len(part)]
		npy.Float16Bits(b, part)
		for i, v := range b {
			if v&0x7c00 == 0x7c00 { // every exponent bit set: ±Inf or NaN
				idx := off + i
				return &RangeError{Path: src.Path(), Row: idx / cols, Col: idx % cols, Value: part[i]}
			}
			if v&0x7fff == 0 && part[i] != 0 {
				w.underflow++
			}
			binary.LittleEndian.PutUint16(buf[2*i:], v)
		}
		if _, err := out.Write(buf[:2*len(part)]); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) toFloat32(out io.Writer, src *npy.File) error {
	in := src.Uint16s()
	vals := make([]float32, convertChunk)
	buf := make([]byte, 4*convertChunk)
	for off := 0; off < len(in); off += convertChunk {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		part := in[off:min(off+convertChunk, len(in))]
		v := vals[:len(part)]
		npy.Float16ToFloat32(v, part)
		for i, x := range v {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
		}
		if _, err := out.Write(buf[:4*len(part)]); err != nil {
			return err
		}
	}
	return nil
}

// RangeError reports a value that float16 cannot hold.
type RangeError struct {
	Path     string
	Row, Col int
	Value    float32
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("%s row %d, column %d holds %g, beyond float16's range (±65504): export with --dtype float32 and open the directory with use_half_precision=False",
		e.Path, e.Row, e.Col, e.Value)
}

// flags writes the library's per-row flags (int32, N) from the store's
// (uint8) at src; see FeaturizedFlags. It returns the number of skipped
// rows.
func (w *writer) flags(rel, src string, n int, fix string) (int, error) {
	f, err := openArray(src, npy.Header{DType: npy.Uint8, Shape: []int{n}}, fix)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	out := make([]int32, n)
	skipped, err := FeaturizedFlags(out, f.Uint8s())
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", src, err, fix)
	}
	buf := make([]byte, 4*n)
	for i, v := range out {
		binary.LittleEndian.PutUint32(buf[4*i:], uint32(v))
	}
	dst := filepath.Join(w.dir, rel)
	if err := npy.WriteFile(dst, npy.Header{DType: npy.Int32, Shape: []int{n}}, buf); err != nil {
		return 0, err
	}
	w.record(rel, src, howWritten)
	return skipped, nil
}

// zeros writes a zero-filled array: the features of a model that is not
// finalized, which the library's finalize_features fills in place. The
// file is sparse where the file system allows it, as the library's own
// zero arrays are, so it costs no disk space until written.
func (w *writer) zeros(rel string, h npy.Header) error {
	hdr, err := npy.EncodeHeader(h)
	if err != nil {
		return err
	}
	dst := filepath.Join(w.dir, rel)
	err = atomicfile.Write(dst, 0o644, func(out io.Writer) error {
		if _, err := out.Write(hdr); err != nil {
			return err
		}
		if f, ok := out.(*os.File); ok {
			return f.Truncate(int64(len(hdr)) + h.DataSize())
		}
		_, err := io.CopyN(out, zeroReader{}, h.DataSize())
		return err
	})
	if err != nil {
		return err
	}
	w.record(rel, "", howWritten)
	return nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// json writes a JSON file of the export.
func (w *writer) json(rel string, data []byte) error {
	if err := atomicfile.WriteFile(filepath.Join(w.dir, rel), append(data, '\n'), 0o644); err != nil {
		return err
	}
	w.record(rel, "", howWritten)
	return nil
}
