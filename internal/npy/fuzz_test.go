package npy

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeHeader: DecodeHeader never panics, and whatever it accepts is a
// consistent header: a known dtype, no negative dimension, an exact data
// size that fits in int64, an offset within the input, and a header that
// encodes and decodes back to itself.
func FuzzDecodeHeader(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.npy"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, tc := range decodeCases {
		f.Add(tc.in)
	}
	f.Add(rawHeader(1, "{'descr':'<f4','fortran_order':False,'shape':("+strings.Repeat("1,", 5000)+")}", ""))
	f.Add(rawHeader(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (9223372036854775807,), }", ""))
	f.Add(rawHeader(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (0, 9223372036854775807), }", ""))
	f.Add(rawHeader(2, "{'descr': '<f8', 'fortran_order': True, 'shape': (3L, 4l,), }", ""))

	f.Fuzz(func(t *testing.T, in []byte) {
		h, off, err := DecodeHeader(bytes.NewReader(in))
		if err != nil {
			if h.DType != 0 || h.Shape != nil || off != 0 {
				t.Errorf("error %v came with a header %+v, offset %d", err, h, off)
			}
			return
		}
		if off < 10 || off > int64(len(in)) {
			t.Fatalf("offset %d for %d bytes of input", off, len(in))
		}
		if !h.DType.valid() {
			t.Fatalf("accepted dtype %v", h.DType)
		}
		size := big.NewInt(int64(h.DType.Size()))
		for _, d := range h.Shape {
			if d < 0 {
				t.Fatalf("accepted negative dimension in %v", h.Shape)
			}
			size.Mul(size, big.NewInt(int64(d)))
		}
		if !size.IsInt64() || size.Int64() != h.DataSize() || h.DataSize() < 0 {
			t.Fatalf("DataSize %d, exact size %v", h.DataSize(), size)
		}
		if h.Len()*int64(h.DType.Size()) != h.DataSize() || h.Len() < 0 || h.Len() > math.MaxInt64/int64(h.DType.Size()) {
			t.Fatalf("Len %d inconsistent with DataSize %d", h.Len(), h.DataSize())
		}
		enc, err := EncodeHeader(h)
		if err != nil {
			// A compact header ("1,1,1") re-encodes longer ("1, 1, 1"), so
			// only the size limit may stop it.
			if !strings.Contains(err.Error(), "exceeds the limit") {
				t.Fatalf("EncodeHeader of an accepted header: %v", err)
			}
			return
		}
		h2, off2, err := DecodeHeader(bytes.NewReader(enc))
		if err != nil || off2 != int64(len(enc)) || !sameHeader(h, h2) {
			t.Fatalf("re-encoded header decodes to %+v, %d, %v; want %+v", h2, off2, err, h)
		}
	})
}

// TestDecodeHeaderNeverReadsPastHeader: DecodeHeader stops exactly at the
// data even when the reader has more, for every fixture.
func TestDecodeHeaderNeverReadsPastHeader(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.npy"))
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		r := bytes.NewReader(b)
		_, off, err := DecodeHeader(r)
		if err != nil {
			if !strings.Contains(err.Error(), "big-endian") {
				t.Errorf("%s: %v", p, err)
			}
			continue
		}
		if int64(r.Len()) != int64(len(b))-off {
			t.Errorf("%s: read %d bytes, the header has %d", p, int64(len(b)-r.Len()), off)
		}
	}
	if _, _, err := DecodeHeader(bytes.NewReader(nil)); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty input: %v", err)
	}
}
