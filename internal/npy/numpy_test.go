package npy

// Compatibility with numpy, both ways, against the files that
// scripts/fixtures/npy_fixtures.py writes into testdata/.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

var allDTypes = []DType{Float32, Float16, Float64, Uint8, Int32, Int64}

// fixtureShapes are the shapes the fixture script saves for every dtype,
// keyed by the label in the file name.
var fixtureShapes = []struct {
	label string
	shape []int
}{
	{"scalar", []int{}},
	{"0", []int{0}},
	{"5", []int{5}},
	{"3x4", []int{3, 4}},
	{"2x3x4", []int{2, 3, 4}},
	{"1x1", []int{1, 1}},
	{"0x4", []int{0, 4}},
}

// typeCode is the dtype part of a fixture's name: "f4", "u1", ...
func typeCode(d DType) string { return d.String()[1:] }

// fixtureData returns the first n elements of the fixture sequence for d,
// as little-endian bytes, computed exactly as the fixture script's values().
// Every operation is a single correctly rounded IEEE operation in both
// languages, so the bytes agree.
func fixtureData(d DType, n int) []byte {
	b := make([]byte, 0, n*d.Size())
	for i := range n {
		k := int64(i*7919%1000 - 500)
		q := float64(k) / 37
		switch d {
		case Float64:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(q))
		case Float32:
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(q)))
		case Float16:
			var h [1]uint16
			Float16Bits(h[:], []float32{float32(q)})
			b = binary.LittleEndian.AppendUint16(b, h[0])
		case Uint8:
			b = append(b, uint8(i*7919%256))
		case Int32:
			b = binary.LittleEndian.AppendUint32(b, uint32(int32(k*1000003)))
		case Int64:
			b = binary.LittleEndian.AppendUint64(b, uint64(k*1_000_000_000_000_000+int64(i)))
		}
	}
	return b
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/fixtures/npy_fixtures.py)", err)
	}
	return b
}

type fixture struct {
	name string
	h    Header
}

func standardFixtures() []fixture {
	var fs []fixture
	for _, d := range allDTypes {
		for _, s := range fixtureShapes {
			fs = append(fs, fixture{
				name: typeCode(d) + "_" + s.label + ".npy",
				h:    Header{DType: d, Shape: s.shape},
			})
		}
	}
	return fs
}

// The fixtures other than the standard ones, each checked by its own test.
var specialFixtures = []string{
	"f4_fortran_3x4.npy",
	"f4_bigendian_3x4.npy",
	"f4_v2_3x4.npy",
	"f4_v3_3x4.npy",
	"f2_special.npy",
	"f4_ndim21817.npy.gz",
	"f4_ndim21818.npy.gz",
}

func sameHeader(a, b Header) bool {
	return a.DType == b.DType && a.FortranOrder == b.FortranOrder && slices.Equal(a.Shape, b.Shape)
}

// firstDiff describes where two byte slices first differ.
func firstDiff(got, want []byte) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return "first difference at byte " + strconv.Itoa(i)
		}
	}
	return "lengths " + strconv.Itoa(len(got)) + " and " + strconv.Itoa(len(want))
}

// TestFixturesCovered keeps the fixture script and the tests in step: every
// .npy file in testdata is one the tests know.
func TestFixturesCovered(t *testing.T) {
	var want []string
	for _, f := range standardFixtures() {
		want = append(want, f.name)
	}
	want = append(want, specialFixtures...)
	sort.Strings(want)
	got, err := filepath.Glob(filepath.Join("testdata", "*.npy"))
	if err != nil {
		t.Fatal(err)
	}
	gz, err := filepath.Glob(filepath.Join("testdata", "*.npy.gz"))
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, gz...)
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("testdata holds %v\nthe tests expect %v\nrerun /usr/bin/python3 scripts/fixtures/npy_fixtures.py", got, want)
	}
}

// TestWriteMatchesNumpy: WriteFile of the same header and values produces
// exactly the bytes np.save wrote.
func TestWriteMatchesNumpy(t *testing.T) {
	dir := t.TempDir()
	for _, f := range standardFixtures() {
		t.Run(f.name, func(t *testing.T) {
			want := readFixture(t, f.name)
			path := filepath.Join(dir, f.name)
			if err := WriteFile(path, f.h, fixtureData(f.h.DType, int(f.h.Len()))); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("WriteFile bytes differ from numpy's (%s)\ngot  %q\nwant %q", firstDiff(got, want), got, want)
			}
		})
	}
}

// TestReadNumpy: ReadFile and Open of numpy's files give the right header,
// data offset, bytes and typed values.
func TestReadNumpy(t *testing.T) {
	for _, f := range standardFixtures() {
		t.Run(f.name, func(t *testing.T) {
			path := filepath.Join("testdata", f.name)
			wantData := fixtureData(f.h.DType, int(f.h.Len()))

			h, data, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !sameHeader(h, f.h) {
				t.Errorf("ReadFile header = %+v, want %+v", h, f.h)
			}
			if !bytes.Equal(data, wantData) {
				t.Errorf("ReadFile data = %x, want %x", data, wantData)
			}

			hd, off, err := DecodeHeader(bytes.NewReader(readFixture(t, f.name)))
			if err != nil || off != 128 || !sameHeader(hd, f.h) {
				t.Errorf("DecodeHeader = %+v, %d, %v; want %+v, 128", hd, off, err, f.h)
			}

			m, err := Open(path, ReadOnly)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if !sameHeader(m.Header(), f.h) || m.Path() != path {
				t.Errorf("Open header = %+v path %q, want %+v %q", m.Header(), m.Path(), f.h, path)
			}
			if !bytes.Equal(m.Data(), wantData) {
				t.Errorf("Open data = %x, want %x", m.Data(), wantData)
			}
			checkView(t, m, wantData)
		})
	}
}

// checkView compares the typed view of m element by element with the
// little-endian decoding of want.
func checkView(t *testing.T, m *File, want []byte) {
	t.Helper()
	n := int(m.Header().Len())
	var got []uint64
	switch m.Header().DType {
	case Float32:
		for _, v := range m.Float32s() {
			got = append(got, uint64(math.Float32bits(v)))
		}
	case Float16:
		for _, v := range m.Uint16s() {
			got = append(got, uint64(v))
		}
	case Float64:
		for _, v := range m.Float64s() {
			got = append(got, math.Float64bits(v))
		}
	case Uint8:
		for _, v := range m.Uint8s() {
			got = append(got, uint64(v))
		}
	case Int32:
		for _, v := range m.Int32s() {
			got = append(got, uint64(uint32(v)))
		}
	case Int64:
		for _, v := range m.Int64s() {
			got = append(got, uint64(v))
		}
	}
	if len(got) != n {
		t.Fatalf("typed view has %d elements, want %d", len(got), n)
	}
	size := m.Header().DType.Size()
	for i := range n {
		var w [8]byte
		copy(w[:], want[i*size:(i+1)*size])
		if got[i] != binary.LittleEndian.Uint64(w[:]) {
			t.Fatalf("element %d = %#x, want %#x", i, got[i], binary.LittleEndian.Uint64(w[:]))
		}
	}
}

// TestNumpyFormatVersions: files numpy wrote as format 2.0 and 3.0 read
// correctly, and EncodeHeaderVersion reproduces their headers exactly.
func TestNumpyFormatVersions(t *testing.T) {
	want := Header{DType: Float32, Shape: []int{3, 4}}
	wantData := fixtureData(Float32, 12)
	for _, tc := range []struct {
		name  string
		major int
	}{{"f4_v2_3x4.npy", 2}, {"f4_v3_3x4.npy", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			raw := readFixture(t, tc.name)
			if raw[6] != byte(tc.major) {
				t.Fatalf("fixture has version %d, want %d", raw[6], tc.major)
			}
			h, off, err := DecodeHeader(bytes.NewReader(raw))
			if err != nil || off != 128 || !sameHeader(h, want) {
				t.Fatalf("DecodeHeader = %+v, %d, %v", h, off, err)
			}
			enc, err := EncodeHeaderVersion(want, tc.major)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, raw[:off]) {
				t.Errorf("EncodeHeaderVersion(%d) = %q, numpy wrote %q", tc.major, enc, raw[:off])
			}
			path := filepath.Join("testdata", tc.name)
			h, data, err := ReadFile(path)
			if err != nil || !sameHeader(h, want) || !bytes.Equal(data, wantData) {
				t.Errorf("ReadFile = %+v, %x, %v", h, data, err)
			}
			m, err := Open(path, ReadOnly)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			checkView(t, m, wantData)
		})
	}
}

// TestNumpyVersionBoundary: with numpy choosing the version itself, a
// header of 65535 bytes or fewer is 1.0 and a longer one 2.0; EncodeHeader
// makes the same choice and the same bytes, and both files read back.
func TestNumpyVersionBoundary(t *testing.T) {
	for _, tc := range []struct {
		ndim  int
		major byte
	}{{21817, 1}, {21818, 2}} {
		name := "f4_ndim" + strconv.Itoa(tc.ndim) + ".npy.gz"
		t.Run(name, func(t *testing.T) {
			zr, err := gzip.NewReader(bytes.NewReader(readFixture(t, name)))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if raw[6] != tc.major {
				t.Fatalf("numpy wrote version %d, the test expects %d", raw[6], tc.major)
			}
			h := Header{DType: Float32, Shape: slices.Repeat([]int{1}, tc.ndim)}
			data := fixtureData(Float32, 1)
			enc, err := EncodeHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			if got := append(enc, data...); !bytes.Equal(got, raw) {
				t.Errorf("EncodeHeader differs from numpy's (%s)", firstDiff(got, raw))
			}
			path := filepath.Join(t.TempDir(), "long.npy")
			if err := os.WriteFile(path, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			gotH, gotData, err := ReadFile(path)
			if err != nil || !sameHeader(gotH, h) || !bytes.Equal(gotData, data) {
				t.Errorf("ReadFile = %d dims, %x, %v", len(gotH.Shape), gotData, err)
			}
			m, err := Open(path, ReadOnly)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			checkView(t, m, data)
		})
	}
}

// TestNumpyFortranOrder: the header of a Fortran-order file decodes and
// re-encodes byte for byte (numpy pads after the last dimension there), and
// the file functions refuse the file, naming it and saying how to fix it.
func TestNumpyFortranOrder(t *testing.T) {
	const name = "f4_fortran_3x4.npy"
	raw := readFixture(t, name)
	h, off, err := DecodeHeader(bytes.NewReader(raw))
	want := Header{DType: Float32, Shape: []int{3, 4}, FortranOrder: true}
	if err != nil || !sameHeader(h, want) {
		t.Fatalf("DecodeHeader = %+v, %v; want %+v", h, err, want)
	}
	enc, err := EncodeHeader(h)
	if err != nil || !bytes.Equal(enc, raw[:off]) {
		t.Errorf("EncodeHeader = %q, %v; numpy wrote %q", enc, err, raw[:off])
	}
	// The data is column-major: element (i, j) is at j*3+i.
	c := fixtureData(Float32, 12)
	for i := range 3 {
		for j := range 4 {
			got := raw[off+int64(4*(j*3+i)):][:4]
			if !bytes.Equal(got, c[4*(i*4+j):][:4]) {
				t.Fatalf("element (%d, %d) = %x, want %x", i, j, got, c[4*(i*4+j):][:4])
			}
		}
	}
	path := filepath.Join("testdata", name)
	_, _, err = ReadFile(path)
	testutil.WantErr(t, err, path, "fortran-order", "np.ascontiguousarray")
	_, err = Open(path, ReadOnly)
	testutil.WantErr(t, err, path, "fortran-order")
	err = WriteFile(filepath.Join(t.TempDir(), "x.npy"), want, c)
	testutil.WantErr(t, err, "fortran-order")
	_, err = Create(filepath.Join(t.TempDir(), "x.npy"), want)
	testutil.WantErr(t, err, "fortran-order")
}

// TestNumpyBigEndian: a '>f4' file is refused with an error that names the
// file and says how to convert it.
func TestNumpyBigEndian(t *testing.T) {
	const name = "f4_bigendian_3x4.npy"
	path := filepath.Join("testdata", name)
	_, _, err := DecodeHeader(bytes.NewReader(readFixture(t, name)))
	testutil.WantErr(t, err, "big-endian", `">f4"`, "astype('<f4')")
	_, _, err = ReadFile(path)
	testutil.WantErr(t, err, path, "big-endian")
	_, err = Open(path, ReadOnly)
	testutil.WantErr(t, err, path, "big-endian", "astype('<f4')")
}

// float16Specials mirrors SPECIALS in the fixture script. They are float64
// values converted to float32 at run time, as numpy does, so that no
// constant is rounded differently.
var float16Specials = []float64{0.0, math.Copysign(0, -1), 1.0, -1.0, 0.1, 1.0 / 3, 65504.0, 65519.99, 65520.0,
	-65520.0, 1e5, 6.1035156e-05, 6.097555e-05, 5.9604645e-08,
	2.9802322e-08, 2.9802326e-08, 1e-8, 2049.0, 2051.0, 2050.0,
	math.Inf(1), math.Inf(-1), math.NaN()}

// TestFloat16Specials: Float16Bits rounds the edge cases (overflow to inf,
// subnormals, halfway cases, signed zero, nan) exactly as numpy does.
func TestFloat16Specials(t *testing.T) {
	raw := readFixture(t, "f2_special.npy")
	h, off, err := DecodeHeader(bytes.NewReader(raw))
	if err != nil || h.DType != Float16 || !slices.Equal(h.Shape, []int{len(float16Specials)}) {
		t.Fatalf("DecodeHeader = %+v, %v", h, err)
	}
	src := make([]float32, len(float16Specials))
	for i, v := range float16Specials {
		src[i] = float32(v)
	}
	got := make([]uint16, len(src))
	Float16Bits(got, src)
	for i, g := range got {
		want := binary.LittleEndian.Uint16(raw[off+int64(2*i):])
		if g != want {
			t.Errorf("Float16Bits(%g) = %#04x, numpy gives %#04x", src[i], g, want)
		}
	}
}

// float32SampleBits mirrors float32_sample_bits in the fixture script: a
// spread of float32 bit patterns, dense in float16's range, with the
// halfway cases on either side, NaNs left out (their payloads are not part
// of the contract).
func float32SampleBits() []uint32 {
	var s []uint32
	for i := range uint64(65536) {
		s = append(s, uint32(i*2654435761%(1<<32)))
	}
	for x := uint32(0x33000000); x < 0x47800000; x += 4097 {
		s = append(s, x)
	}
	for e := uint32(100); e < 144; e++ {
		for m := uint32(0); m < 1024; m += 7 {
			for _, tail := range []uint32{0x0FFF, 0x1000, 0x1001} {
				s = append(s, e<<23|m<<13|tail)
			}
		}
	}
	return slices.DeleteFunc(s, func(x uint32) bool { return x&0x7f800000 == 0x7f800000 && x&0x7fffff != 0 })
}

// TestFloat16Conversions checks both conversions against numpy over every
// non-NaN float16 and a large float32 sample, by comparing digests recorded
// in testdata/manifest.json, and that NaN stays NaN.
func TestFloat16Conversions(t *testing.T) {
	type digest struct {
		Count  int    `json:"count"`
		SHA256 string `json:"sha256"`
	}
	var manifest struct {
		Numpy string `json:"numpy"`
		To32  digest `json:"float16_to_float32"`
		To16  digest `json:"float32_to_float16"`
	}
	if err := json.Unmarshal(readFixture(t, "manifest.json"), &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.To32.Count == 0 || manifest.To16.Count == 0 {
		t.Fatalf("manifest.json lacks the conversion digests")
	}

	var halves []uint16
	for x := range 1 << 16 {
		if x&0x7c00 == 0x7c00 && x&0x3ff != 0 {
			continue
		}
		halves = append(halves, uint16(x))
	}
	wide := make([]float32, len(halves))
	Float16ToFloat32(wide, halves)
	var buf []byte
	for _, v := range wide {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	sum := sha256.Sum256(buf)
	if len(halves) != manifest.To32.Count || hex.EncodeToString(sum[:]) != manifest.To32.SHA256 {
		t.Errorf("Float16ToFloat32 over %d values differs from numpy %s's astype(np.float32) over %d", len(halves), manifest.Numpy, manifest.To32.Count)
	}
	back := make([]uint16, len(wide))
	Float16Bits(back, wide)
	if !slices.Equal(back, halves) {
		t.Errorf("float16 -> float32 -> float16 is not the identity")
	}

	sample := float32SampleBits()
	src := make([]float32, len(sample))
	for i, x := range sample {
		src[i] = math.Float32frombits(x)
	}
	narrow := make([]uint16, len(src))
	Float16Bits(narrow, src)
	buf = buf[:0]
	for _, v := range narrow {
		buf = binary.LittleEndian.AppendUint16(buf, v)
	}
	sum = sha256.Sum256(buf)
	if len(sample) != manifest.To16.Count || hex.EncodeToString(sum[:]) != manifest.To16.SHA256 {
		t.Errorf("Float16Bits over %d values differs from numpy %s's astype(np.float16) over %d", len(sample), manifest.Numpy, manifest.To16.Count)
	}

	for x := 0x7c01; x < 1<<16; x++ {
		if x&0x7c00 != 0x7c00 || x&0x3ff == 0 {
			continue
		}
		var f [1]float32
		Float16ToFloat32(f[:], []uint16{uint16(x)})
		if !math.IsNaN(float64(f[0])) {
			t.Fatalf("Float16ToFloat32(%#04x) = %g, want NaN", x, f[0])
		}
		var h [1]uint16
		Float16Bits(h[:], f[:])
		if h[0]&0x7c00 != 0x7c00 || h[0]&0x3ff == 0 {
			t.Fatalf("Float16Bits(NaN from %#04x) = %#04x, want a NaN", x, h[0])
		}
	}
}
