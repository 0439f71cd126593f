package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/trak-dev/trak/internal/testutil"
)

func TestDType(t *testing.T) {
	for _, tc := range []struct {
		d     DType
		size  int
		descr string
	}{
		{Float32, 4, "<f4"},
		{Float16, 2, "<f2"},
		{Float64, 8, "<f8"},
		{Uint8, 1, "|u1"},
		{Int32, 4, "<i4"},
		{Int64, 8, "<i8"},
		{0, 0, "DType(0)"},
		{Int64 + 1, 0, "DType(7)"},
	} {
		if got := tc.d.Size(); got != tc.size {
			t.Errorf("%v.Size() = %d, want %d", tc.d, got, tc.size)
		}
		if got := tc.d.String(); got != tc.descr {
			t.Errorf("DType(%d).String() = %q, want %q", uint8(tc.d), got, tc.descr)
		}
		if tc.size > 0 {
			if got, err := ParseDType(tc.descr); err != nil || got != tc.d {
				t.Errorf("ParseDType(String()) = %v, %v; want %v", got, err, tc.d)
			}
		}
	}
}

func TestParseDType(t *testing.T) {
	for _, tc := range []struct {
		descr string
		want  DType
		err   []string // parts of the error; nil for success
	}{
		{"<f4", Float32, nil},
		{"f4", Float32, nil},
		{"=f4", Float32, nil},
		{"f", Float32, nil},
		{"<f2", Float16, nil},
		{"e", Float16, nil},
		{"<f8", Float64, nil},
		{"d", Float64, nil},
		{"|u1", Uint8, nil},
		{"<u1", Uint8, nil},
		{">u1", Uint8, nil},
		{"u1", Uint8, nil},
		{"B", Uint8, nil},
		{"<i4", Int32, nil},
		{"i", Int32, nil},
		{"<i8", Int64, nil},
		{"q", Int64, nil},
		{">f4", 0, []string{"big-endian", `">f4"`, "astype('<f4')"}},
		{">f2", 0, []string{"big-endian", "astype('<f2')"}},
		{">i8", 0, []string{"big-endian", "astype('<i8')"}},
		{"|f4", 0, []string{"invalid dtype", "one-byte"}},
		{"<c8", 0, []string{"unsupported dtype", `"<c8"`}},
		{"<U4", 0, []string{"unsupported dtype"}},
		{"|O", 0, []string{"unsupported dtype"}},
		{"|b1", 0, []string{"unsupported dtype"}},
		{"<l", 0, []string{"unsupported dtype"}},
		{"", 0, []string{"unsupported dtype"}},
		{"<", 0, []string{"unsupported dtype"}},
	} {
		got, err := ParseDType(tc.descr)
		if tc.err == nil {
			if err != nil || got != tc.want {
				t.Errorf("ParseDType(%q) = %v, %v; want %v", tc.descr, got, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseDType(%q) = %v, want an error", tc.descr, got)
			continue
		}
		testutil.WantErr(t, err, tc.err...)
	}
}

func TestLenDataSize(t *testing.T) {
	for _, tc := range []struct {
		h         Header
		len, size int64
	}{
		{Header{DType: Float32, Shape: []int{}}, 1, 4},
		{Header{DType: Float64}, 1, 8},
		{Header{DType: Float16, Shape: []int{0}}, 0, 0},
		{Header{DType: Int64, Shape: []int{3, 4}}, 12, 96},
		{Header{DType: Uint8, Shape: []int{2, 3, 4}}, 24, 24},
		{Header{DType: Int32, Shape: []int{0, 4}}, 0, 0},
	} {
		if tc.h.Len() != tc.len || tc.h.DataSize() != tc.size {
			t.Errorf("%+v: Len, DataSize = %d, %d; want %d, %d", tc.h, tc.h.Len(), tc.h.DataSize(), tc.len, tc.size)
		}
	}
}

// TestEncodeHeaderText checks the dict text and padding numpy writes,
// including the 21-digit growth room after the first dimension.
func TestEncodeHeaderText(t *testing.T) {
	for _, tc := range []struct {
		h    Header
		dict string
	}{
		{Header{DType: Float32, Shape: []int{}}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"},
		{Header{DType: Uint8, Shape: []int{5}}, "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }" + strings.Repeat(" ", 20)},
		{Header{DType: Float64, Shape: []int{3, 4}}, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }" + strings.Repeat(" ", 20)},
		{Header{DType: Int64, Shape: []int{1234567890, 2}}, "{'descr': '<i8', 'fortran_order': False, 'shape': (1234567890, 2), }" + strings.Repeat(" ", 11)},
		{Header{DType: Int32, Shape: []int{2, 1000}, FortranOrder: true}, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 1000), }" + strings.Repeat(" ", 17)},
	} {
		b, err := EncodeHeader(tc.h)
		if err != nil {
			t.Fatalf("EncodeHeader(%+v): %v", tc.h, err)
		}
		if len(b)%64 != 0 || string(b[:8]) != "\x93NUMPY\x01\x00" || b[len(b)-1] != '\n' {
			t.Fatalf("EncodeHeader(%+v) = %q: bad framing", tc.h, b)
		}
		if n := int(binary.LittleEndian.Uint16(b[8:])); n != len(b)-10 {
			t.Errorf("header length field %d, want %d", n, len(b)-10)
		}
		text := string(b[10 : len(b)-1])
		if !strings.HasPrefix(text, tc.dict) || strings.TrimRight(text[len(tc.dict):], " ") != "" {
			t.Errorf("EncodeHeader(%+v) text = %q, want %q plus spaces", tc.h, text, tc.dict)
		}
		// Trailing spaces: numpy always adds at least one byte of padding
		// before the newline, and fewer than 64.
		if pad := len(text) - len(tc.dict); pad < 1 || pad > 64 {
			t.Errorf("padding of %d bytes", pad)
		}
		h, off, err := DecodeHeader(bytes.NewReader(b))
		if err != nil || off != int64(len(b)) || !sameHeader(h, tc.h) {
			t.Errorf("DecodeHeader(EncodeHeader(%+v)) = %+v, %d, %v", tc.h, h, off, err)
		}
	}
}

// TestEncodeHeaderVersionChoice: around the 1.0/2.0 boundary (which
// TestNumpyVersionBoundary pins to numpy's choice) the version switches
// exactly when the header length no longer fits in 16 bits, and every
// header decodes back. Only shapes with about 21800 dimensions get there.
func TestEncodeHeaderVersionChoice(t *testing.T) {
	saw := map[byte]bool{}
	for ndim := 21800; ndim < 21840; ndim++ {
		h := Header{DType: Float32, Shape: slices.Repeat([]int{1}, ndim)}
		b, err := EncodeHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		saw[b[6]] = true
		v1, err1 := EncodeHeaderVersion(h, 1)
		v2, err2 := EncodeHeaderVersion(h, 2)
		if err2 != nil || len(v2)%64 != 0 || binary.LittleEndian.Uint32(v2[8:]) != uint32(len(v2)-12) {
			t.Fatalf("ndim %d: bad version 2 header (%v)", ndim, err2)
		}
		switch b[6] {
		case 1:
			if err1 != nil || !bytes.Equal(b, v1) || len(b)-10 > math.MaxUint16 {
				t.Fatalf("ndim %d: chose 1.0 for a header of %d bytes (%v)", ndim, len(b)-10, err1)
			}
		case 2:
			if err1 == nil || !bytes.Equal(b, v2) {
				t.Fatalf("ndim %d: chose 2.0 though 1.0 fits (%d bytes)", ndim, len(v1)-10)
			}
			if !strings.Contains(err1.Error(), "too long") {
				t.Errorf("version 1 error %q", err1)
			}
		}
		got, off, err := DecodeHeader(bytes.NewReader(b))
		if err != nil || off != int64(len(b)) || !sameHeader(got, h) {
			t.Fatalf("ndim %d: round trip failed: %v", ndim, err)
		}
	}
	if !saw[1] || !saw[2] {
		t.Errorf("the range of dimensions did not cross the 1.0/2.0 boundary: %v", saw)
	}
}

func TestEncodeHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		h     Header
		major int
		err   string
	}{
		{Header{Shape: []int{3}}, 1, "invalid dtype"},
		{Header{DType: 42, Shape: []int{3}}, 1, "invalid dtype DType(42)"},
		{Header{DType: Float32, Shape: []int{3, -1}}, 1, "negative dimension"},
		{Header{DType: Float64, Shape: []int{dim64(1 << 60)}}, 1, "would exceed"},
		{Header{DType: Uint8, Shape: []int{dim64(1 << 40), dim64(1 << 40)}}, 1, "would exceed"},
		{Header{DType: Uint8, Shape: []int{0, dim64(1 << 40), dim64(1 << 40)}}, 1, "would exceed"},
		{Header{DType: Float32, Shape: []int{3}}, 0, "version 0.0"},
		{Header{DType: Float32, Shape: []int{3}}, 4, "version 4.0"},
		{Header{DType: Float32, Shape: slices.Repeat([]int{1}, 30000)}, 1, "too long"},
		{Header{DType: Float32, Shape: slices.Repeat([]int{1}, 400000)}, 2, "exceeds the limit"},
	} {
		if !wideInt && tc.err == "would exceed" {
			continue
		}
		_, err := EncodeHeaderVersion(tc.h, tc.major)
		testutil.WantErr(t, err, tc.err)
	}
	// The largest array that fits is accepted.
	if _, err := EncodeHeader(Header{DType: Uint8, Shape: []int{math.MaxInt}}); err != nil {
		t.Errorf("EncodeHeader of MaxInt bytes: %v", err)
	}
}

// wideInt is whether int has 64 bits. The cases with dimensions beyond
// 32 bits only run there; on 32-bit systems such dimensions are refused
// as too large before any size check.
const wideInt = strconv.IntSize == 64

// dim64 converts a dimension for a case that runs only when wideInt.
func dim64(v int64) int { return int(v) }

// rawHeader frames dict text as a header of the given version, without
// padding, followed by data.
func rawHeader(major byte, dict, data string) []byte {
	b := []byte(magic)
	b = append(b, major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(dict)))
	}
	b = append(b, dict...)
	return append(b, data...)
}

// decodeCases are DecodeHeader inputs. They also seed FuzzDecodeHeader.
var decodeCases = []struct {
	name string
	in   []byte
	want Header
	err  []string // parts of the error; nil for success
}{
	{"numpy", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }       \n", ""),
		Header{DType: Float32, Shape: []int{3, 4}}, nil},
	{"key order", rawHeader(1, "{'shape': (3, 4), 'fortran_order': False, 'descr': '<f4'}", ""),
		Header{DType: Float32, Shape: []int{3, 4}}, nil},
	{"double quotes", rawHeader(1, `{"descr": "<i8", "fortran_order": True, "shape": (2,)}`, ""),
		Header{DType: Int64, Shape: []int{2}, FortranOrder: true}, nil},
	{"whitespace", rawHeader(1, "\n {\t'descr' :'|u1' ,\n'fortran_order':False,'shape':\r\n( 7 , 8 , 9 ) , \f}  \n\n", ""),
		Header{DType: Uint8, Shape: []int{7, 8, 9}}, nil},
	{"tuple trailing comma", rawHeader(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 4,), }", ""),
		Header{DType: Float16, Shape: []int{3, 4}}, nil},
	{"empty shape", rawHeader(1, "{'descr': '<f8', 'fortran_order': False, 'shape': ( ), }", ""),
		Header{DType: Float64, Shape: []int{}}, nil},
	{"python 2 longs", rawHeader(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3L, 4L), }", ""),
		Header{DType: Int32, Shape: []int{3, 4}}, nil},
	{"zero dims", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 0, 5), }", ""),
		Header{DType: Float32, Shape: []int{0, 0, 5}}, nil},
	{"minus zero", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-0,), }", ""),
		Header{DType: Float32, Shape: []int{0}}, nil},
	{"version 2", rawHeader(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", "DATA"),
		Header{DType: Float32, Shape: []int{5}}, nil},
	{"version 3", rawHeader(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", "DATA"),
		Header{DType: Float32, Shape: []int{5}}, nil},
	{"long shape", rawHeader(1, "{'descr': '|u1', 'fortran_order': False, 'shape': ("+strings.Repeat("1, ", 64)+"), }", ""),
		Header{DType: Uint8, Shape: slices.Repeat([]int{1}, 64)}, nil},
	{"largest", rawHeader(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846975,), }", ""),
		Header{DType: Float64, Shape: []int{dim64(1<<60 - 1)}}, nil},

	{"empty", nil, Header{}, []string{"truncated"}},
	{"short magic", []byte("\x93NUM"), Header{}, []string{"truncated"}},
	{"bad magic", rawHeader(1, "{}", "")[1:], Header{}, []string{"not an .npy file"}},
	{"zip file", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), Header{}, []string{"not an .npy file"}},
	{"version 4", rawHeader(4, "{}", ""), Header{}, []string{"version 4.0"}},
	{"version 0", rawHeader(0, "{}", ""), Header{}, []string{"version 0.0"}},
	{"version 1.1", append([]byte(magic), 1, 1, 0, 0), Header{}, []string{"version 1.1"}},
	{"no length", []byte(magic + "\x02\x00\x10"), Header{}, []string{"truncated"}},
	{"short dict", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "")[:40], Header{}, []string{"truncated"}},
	{"huge length", append([]byte(magic), 2, 0, 0xff, 0xff, 0xff, 0xff), Header{}, []string{"exceeds the limit"}},
	{"empty dict", rawHeader(1, "{}", ""), Header{}, []string{`"descr" is missing`}},
	{"blank", rawHeader(1, "   \n", ""), Header{}, []string{"expected '{'", "end of header"}},
	{"not a dict", rawHeader(1, "('<f4', False, (3,))", ""), Header{}, []string{"expected '{'"}},
	{"missing shape", rawHeader(1, "{'descr': '<f4', 'fortran_order': False}", ""), Header{}, []string{`"shape" is missing`}},
	{"missing fortran_order", rawHeader(1, "{'descr': '<f4', 'shape': ()}", ""), Header{}, []string{`"fortran_order" is missing`}},
	{"extra key", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1}", ""), Header{}, []string{`unexpected key "x"`}},
	{"duplicate key", rawHeader(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", ""), Header{}, []string{`duplicate key "descr"`}},
	{"unquoted key", rawHeader(1, "{descr: '<f4'}", ""), Header{}, []string{"quoted string"}},
	{"missing colon", rawHeader(1, "{'descr' '<f4'}", ""), Header{}, []string{"expected ':'"}},
	{"missing comma", rawHeader(1, "{'descr': '<f4' 'fortran_order': False}", ""), Header{}, []string{"expected ',' or '}'"}},
	{"unterminated dict", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), ", ""), Header{}, []string{"quoted string", "end of header"}},
	{"unterminated string", rawHeader(1, "{'descr': '<f4", ""), Header{}, []string{"unterminated string"}},
	{"escape", rawHeader(1, `{'descr': '\x3cf4'}`, ""), Header{}, []string{"unsupported character"}},
	{"big-endian", rawHeader(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", ""), Header{}, []string{"big-endian", "astype('<f8')"}},
	{"unsupported dtype", rawHeader(1, "{'descr': '<c16', 'fortran_order': False, 'shape': (3,), }", ""), Header{}, []string{"unsupported dtype"}},
	{"structured", rawHeader(1, "{'descr': [('a', '<f4'), ('b', '<i8')], 'fortran_order': False, 'shape': (3,), }", ""), Header{}, []string{"structured"}},
	{"descr not a string", rawHeader(1, "{'descr': 4, 'fortran_order': False, 'shape': (3,), }", ""), Header{}, []string{"quoted string"}},
	{"fortran_order int", rawHeader(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", ""), Header{}, []string{"True or False"}},
	{"fortran_order lower", rawHeader(1, "{'descr': '<f4', 'fortran_order': false, 'shape': (3,), }", ""), Header{}, []string{"True or False"}},
	{"fortran_order prefix", rawHeader(1, "{'descr': '<f4', 'fortran_order': Trueish, 'shape': (3,), }", ""), Header{}, []string{"True or False"}},
	{"shape int", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': 5, }", ""), Header{}, []string{"must be a tuple"}},
	{"shape parenthesized int", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5), }", ""), Header{}, []string{"one-element tuple"}},
	{"shape list", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4], }", ""), Header{}, []string{"must be a tuple"}},
	{"shape no comma", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3 4), }", ""), Header{}, []string{"expected ',' or ')'"}},
	{"shape double comma", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,,), }", ""), Header{}, []string{"expected a dimension"}},
	{"shape lone comma", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (,), }", ""), Header{}, []string{"expected a dimension"}},
	{"shape unterminated", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4", ""), Header{}, []string{"expected ',' or ')'", "end of header"}},
	{"shape float", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,), }", ""), Header{}, []string{"expected ',' or ')'"}},
	{"shape hex", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0x10,), }", ""), Header{}, []string{"not an integer"}},
	{"shape negative", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, -1), }", ""), Header{}, []string{"negative dimension -1"}},
	{"shape too many digits", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", ""), Header{}, []string{"too large"}},
	{"shape overflow", rawHeader(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846976,), }", ""), Header{}, []string{"would exceed"}},
	{"shape overflow product", rawHeader(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", ""), Header{}, []string{"would exceed"}},
	{"shape overflow beside zero", rawHeader(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }", ""), Header{}, []string{"would exceed"}},
	{"trailing text", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x", ""), Header{}, []string{"after the header dict"}},
	{"two dicts", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }{}", ""), Header{}, []string{"after the header dict"}},
	{"nul padding", rawHeader(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\x00", ""), Header{}, []string{"after the header dict"}},
}

// wideCases are the decodeCases with dimensions beyond 32 bits.
var wideCases = map[string]bool{
	"largest": true, "shape overflow": true, "shape overflow product": true, "shape overflow beside zero": true,
}

func TestDecodeHeader(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			if wideCases[tc.name] && !wideInt {
				t.Skip("needs 64-bit int")
			}
			r := bytes.NewReader(tc.in)
			h, off, err := DecodeHeader(r)
			if tc.err != nil {
				if err == nil {
					t.Fatalf("DecodeHeader = %+v, %d; want an error", h, off)
				}
				testutil.WantErr(t, err, tc.err...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameHeader(h, tc.want) {
				t.Errorf("DecodeHeader = %+v, want %+v", h, tc.want)
			}
			// The reader is left at the data, which starts at off.
			rest, _ := io.ReadAll(r)
			if off != int64(len(tc.in)-len(rest)) || string(rest) != string(tc.in[off:]) {
				t.Errorf("offset %d, but %d bytes were left unread", off, len(rest))
			}
		})
	}
}

// TestDecodeHeaderReader: DecodeHeader works with readers that return one
// byte at a time and passes read errors through.
func TestDecodeHeaderReader(t *testing.T) {
	b, err := EncodeHeader(Header{DType: Int32, Shape: []int{6, 7}})
	if err != nil {
		t.Fatal(err)
	}
	h, off, err := DecodeHeader(iotest.OneByteReader(bytes.NewReader(b)))
	if err != nil || off != int64(len(b)) || !slices.Equal(h.Shape, []int{6, 7}) {
		t.Errorf("DecodeHeader(OneByteReader) = %+v, %d, %v", h, off, err)
	}
	boom := errors.New("boom")
	_, _, err = DecodeHeader(io.MultiReader(bytes.NewReader(b[:20]), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Errorf("read error not passed through: %v", err)
	}
}
