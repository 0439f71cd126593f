package logreg

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// writeFile writes content to a fresh file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCSVRoundTrip(t *testing.T) {
	// Values where a lossy format would show: non-terminating binary
	// fractions, the extremes of the float64 range, subnormals, −0.
	special := []float64{
		0.1, 1.0 / 3, -2.0 / 3, math.Pi, 1e-300, -1e300,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 0x1p-1060,
		math.Copysign(0, -1), 0, math.Nextafter(1, 2), 123456789012345678,
	}
	generated := Generate(200, 7, 4, 0.1, 13)
	tests := []struct {
		name string
		d    *Data
	}{
		{"special values", &Data{N: 7, D: 2, X: special, Y: []int{0, 1, 2, 3, 10, 0, 1000000}}},
		{"one feature", &Data{N: 3, D: 1, X: []float64{-1.5, 2, 0.1}, Y: []int{1, 0, 1}}},
		{"generated", &Data{N: generated.N, D: generated.D, X: generated.X, Y: generated.Y}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data.csv")
			if err := WriteCSV(path, tc.d); err != nil {
				t.Fatal(err)
			}
			got, err := ReadCSV(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.N != tc.d.N || got.D != tc.d.D || !slices.Equal(got.Y, tc.d.Y) || !sameBits(got.X, tc.d.X) {
				t.Errorf("read back N=%d D=%d Y=%v X=%v\nwrote N=%d D=%d Y=%v X=%v", got.N, got.D, got.Y, got.X, tc.d.N, tc.d.D, tc.d.Y, tc.d.X)
			}
			if got.Clean != nil {
				t.Errorf("Clean = %v for data read from a file, want nil", got.Clean)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(raw)
			if got.Fingerprint != hex.EncodeToString(sum[:]) {
				t.Errorf("Fingerprint = %s, want the file's SHA-256 %x", got.Fingerprint, sum)
			}
		})
	}
}

// The exact bytes WriteCSV produces: a header, shortest round-trip floats.
func TestWriteCSVFormat(t *testing.T) {
	d := &Data{N: 2, D: 3, X: []float64{0.5, -1, 1e-7, 2, 0, 1e21}, Y: []int{2, 0}}
	path := filepath.Join(t.TempDir(), "data.csv")
	if err := WriteCSV(path, d); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const want = "label,x1,x2,x3\n2,0.5,-1,1e-07\n0,2,0,1e+21\n"
	if string(raw) != want {
		t.Errorf("WriteCSV wrote\n%q\nwant\n%q", raw, want)
	}
	if err := WriteCSV(filepath.Join(t.TempDir(), "missing", "data.csv"), d); err == nil {
		t.Error("WriteCSV into a missing directory succeeded")
	}
}

func TestReadCSVAccepts(t *testing.T) {
	want := &Data{N: 3, D: 2, X: []float64{1, -2.5, 0, 3e-3, 7, 0.25}, Y: []int{0, 2, 1}}
	tests := []struct{ name, content string }{
		{"no header", "0,1,-2.5\n2,0,3e-3\n1,7,0.25\n"},
		{"header", "label,x1,x2\n0,1,-2.5\n2,0,3e-3\n1,7,0.25\n"},
		{"any header text", "y,a,b\n0,1,-2.5\n2,0,3e-3\n1,7,0.25\n"},
		{"no final newline", "0,1,-2.5\n2,0,3e-3\n1,7,0.25"},
		{"CRLF", "label,x1,x2\r\n0,1,-2.5\r\n2,0,3e-3\r\n1,7,0.25\r\n"},
		{"spaces around fields", "label, x1, x2\n 0 , 1 ,-2.5\n2,  0,  3e-3 \n1,7,0.25\n"},
		{"blank lines", "\nlabel,x1,x2\n\n0,1,-2.5\n\n2,0,3e-3\n1,7,0.25\n\n"},
		{"quoted fields", "\"label\",\"x1\",\"x2\"\n\"0\",\"1\",\"-2.5\"\n2,0,3e-3\n1,7,0.25\n"},
		{"space before quoted field", "0, \"1\", \"-2.5\"\n2,0,3e-3\n1,7,0.25\n"},
		{"other spellings", "+0,1.0,-25e-1\n2,0.0,0.003\n1,0x1.cp2,.25\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadCSV(writeFile(t, "data.csv", tc.content))
			if err != nil {
				t.Fatal(err)
			}
			if got.N != want.N || got.D != want.D || !slices.Equal(got.Y, want.Y) || !sameBits(got.X, want.X) {
				t.Errorf("got N=%d D=%d Y=%v X=%v, want N=%d D=%d Y=%v X=%v", got.N, got.D, got.Y, got.X, want.N, want.D, want.Y, want.X)
			}
		})
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name, content string
		want          []string // substrings besides the path
	}{
		{"empty file", "", []string{"no examples"}},
		{"only blank lines", "\n\n", []string{"no examples"}},
		{"header only", "label,x1,x2\n", []string{"no examples"}},
		{"label only", "0\n1\n", []string{"line 1"}},
		{"ragged row", "0,1,2\n1,3\n", []string{"line 2"}},
		{"ragged row after header", "label,x1,x2\n0,1,2\n1,3,4\n1,3,4,5\n", []string{"line 4"}},
		{"header wider than rows", "label,x1,x2\n0,1\n", []string{"line 2"}},
		{"non-numeric value", "0,1\n1,abc\n", []string{"line 2", "column 2", "abc"}},
		{"empty value", "0,1,2\n1,3,\n", []string{"line 2", "column 3"}},
		{"non-numeric value on line 1", "0,1,x\n", []string{"line 1", "column 3"}},
		{"negative label", "0,1\n-1,2\n", []string{"line 2", "-1"}},
		{"negative label on line 1", "-1,2\n0,1\n", []string{"line 1", "-1"}},
		{"non-integer label", "0,1\n1.5,2\n", []string{"line 2", "1.5"}},
		{"label too large for int", "0,1\n99999999999999999999,2\n", []string{"line 2"}},
		{"NaN", "0,1\n1,NaN\n", []string{"line 2", "NaN"}},
		{"nan lower case", "0,nan\n", []string{"line 1", "nan"}},
		{"Inf", "0,1\n1,Inf\n", []string{"line 2", "Inf"}},
		{"-Infinity", "label,x\n0,1\n1,-Infinity\n", []string{"line 3"}},
		{"overflow to Inf", "0,1\n1,1e400\n", []string{"line 2", "1e400"}},
		{"bare quote", "0,1\n1,2\"3\n", []string{"line 2"}},
		{"unterminated quote", "0,1\n1,\"2\n", []string{"line 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "data.csv", tc.content)
			d, err := ReadCSV(path)
			if err == nil {
				t.Fatalf("ReadCSV succeeded with N=%d D=%d X=%v Y=%v, want an error", d.N, d.D, d.X, d.Y)
			}
			testutil.WantErr(t, err, append([]string{path}, tc.want...)...)
		})
	}
}

func TestReadCSVMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.csv")
	_, err := ReadCSV(path)
	testutil.WantErr(t, err, path)
}

// Errors must name the line of the file, as an editor shows it, even when
// blank lines or quoted line breaks come before the bad row; parseCSV counts
// records instead. The fix: number lines with csv.Reader.FieldPos(0) after
// each Read, and detect the header with a first-record flag.
func TestReadCSVErrorsNamePhysicalLine(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"after blank lines", "0,1\n\n\n1,abc\n", "line 4"},
		{"after header and blank line", "label,x\n\n0,1\n-1,2\n", "line 4"},
		{"after a quoted line break", "label,\"x\ny\"\n0,1\n1,x\n", "line 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(writeFile(t, "data.csv", tc.content))
			testutil.WantErr(t, err, tc.want)
		})
	}
}

func TestFingerprint(t *testing.T) {
	contents := []string{
		"0,1,2\n1,3,4\n",
		"0,1,2\n1,3,5\n",            // one value changed
		"0,1,2\n0,3,4\n",            // one label changed
		"0,1.0,2\n1,3,4\n",          // same numbers, different text
		"label,a,b\n0,1,2\n1,3,4\n", // header added
		"0,1,2\n1,3,4",              // final newline dropped
	}
	seen := map[string]int{}
	for i, content := range contents {
		d, err := ReadCSV(writeFile(t, "data.csv", content))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(content))
		if d.Fingerprint != hex.EncodeToString(sum[:]) {
			t.Errorf("content %d: Fingerprint %s, want SHA-256 of the bytes %x", i, d.Fingerprint, sum)
		}
		if j, ok := seen[d.Fingerprint]; ok {
			t.Errorf("contents %d and %d share a fingerprint", j, i)
		}
		seen[d.Fingerprint] = i
	}
	// The same bytes under another name give the same fingerprint.
	a, err := ReadCSV(writeFile(t, "a.csv", contents[0]))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadCSV(writeFile(t, "b.csv", contents[0]))
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint != b.Fingerprint {
		t.Error("identical files have different fingerprints")
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, seed := range []string{
		"",
		"0,1\n",
		"label,x1,x2\n0,1,-2.5\n2,0,3e-3\n",
		"0,1,2\n1,3\n",
		"0,NaN\n",
		"-1,2\n",
		"1.5,2\n0,1\n",
		"\"0\",\"1\n2\"\n",
		"0,1e400\n",
		"x\n\n0,0x1p-3\r\n",
		"0, 1 ,\t2\n",
		strings.Repeat("3,4,5\n", 20),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := parseCSV(raw)
		if err != nil {
			if d != nil {
				t.Errorf("parseCSV returned data and the error %v", err)
			}
			return
		}
		if d.N < 1 || d.D < 1 {
			t.Fatalf("N = %d, D = %d, want both ≥ 1", d.N, d.D)
		}
		if len(d.X) != d.N*d.D || len(d.Y) != d.N {
			t.Fatalf("N = %d, D = %d, len(X) = %d, len(Y) = %d", d.N, d.D, len(d.X), len(d.Y))
		}
		for i, v := range d.X {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("X[%d] = %v", i, v)
			}
		}
		for i, y := range d.Y {
			if y < 0 {
				t.Fatalf("Y[%d] = %d", i, y)
			}
		}
	})
}
