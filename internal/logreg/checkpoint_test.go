package logreg

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/trak-dev/trak/internal/npy"
	"github.com/trak-dev/trak/internal/testutil"
)

// float32Bytes and float64Bytes encode values as little-endian .npy data.
func float32Bytes(v []float64) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(x)))
	}
	return out
}

func float64Bytes(v []float64) []byte {
	out := make([]byte, 0, 8*len(v))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(x))
	}
	return out
}

// checkpointRows lays a model out as the documented C × (D+1) matrix: each
// row is one class's weights followed by its bias.
func checkpointRows(m *Model) []float64 {
	out := make([]float64, 0, m.C*(m.D+1))
	for c := range m.C {
		out = append(out, m.W[c*m.D:(c+1)*m.D]...)
		out = append(out, m.B[c])
	}
	return out
}

func roundToFloat32(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(float32(x))
	}
	return out
}

func TestCheckpointRoundTrip(t *testing.T) {
	for _, s := range []struct{ c, d int }{{2, 1}, {3, 4}, {10, 7}} {
		m := randomModel(newRand(uint64(10*s.c+s.d)), s.c, s.d, 3)
		// Values float32 cannot hold exactly, or only just.
		m.W[0] = 0.1
		m.B[s.c-1] = -math.MaxFloat32
		path := filepath.Join(t.TempDir(), "model.npy")
		if err := SaveCheckpoint(path, m); err != nil {
			t.Fatal(err)
		}

		// The file is a float32 C × (D+1) array with the bias last in each
		// row, checked independently of LoadCheckpoint so that a layout
		// mistake made the same way in both directions cannot pass.
		h, raw, err := npy.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if h.DType != npy.Float32 || len(h.Shape) != 2 || h.Shape[0] != s.c || h.Shape[1] != s.d+1 {
			t.Fatalf("saved %v %v, want <f4 [%d %d]", h.DType, h.Shape, s.c, s.d+1)
		}
		if want := float32Bytes(checkpointRows(m)); string(raw) != string(want) {
			t.Fatalf("C=%d D=%d: saved data is not the rows (w_c, b_c) in float32", s.c, s.d)
		}

		got, err := LoadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.C != s.c || got.D != s.d {
			t.Fatalf("loaded C=%d D=%d, want %d, %d", got.C, got.D, s.c, s.d)
		}
		if !sameBits(got.W, roundToFloat32(m.W)) || !sameBits(got.B, roundToFloat32(m.B)) {
			t.Fatalf("C=%d D=%d: loaded weights are not the saved ones rounded to float32", s.c, s.d)
		}
		if got.ConfigHash() != m.ConfigHash() {
			t.Errorf("ConfigHash changed across a save and load")
		}

		// A second round trip is exact: the weights are float32 values now.
		path2 := filepath.Join(t.TempDir(), "again.npy")
		if err := SaveCheckpoint(path2, got); err != nil {
			t.Fatal(err)
		}
		again, err := LoadCheckpoint(path2)
		if err != nil {
			t.Fatal(err)
		}
		if !sameBits(again.W, got.W) || !sameBits(again.B, got.B) {
			t.Errorf("C=%d D=%d: second round trip changed the weights", s.c, s.d)
		}
	}
}

// A float64 checkpoint, as numpy writes by default, loads without any loss.
func TestCheckpointFloat64(t *testing.T) {
	m := randomModel(newRand(11), 4, 3, 2)
	m.W[5] = 0.1 // not a float32 value
	path := filepath.Join(t.TempDir(), "f64.npy")
	if err := npy.WriteFile(path, npy.Header{DType: npy.Float64, Shape: []int{4, 4}}, float64Bytes(checkpointRows(m))); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.C != 4 || got.D != 3 || !sameBits(got.W, m.W) || !sameBits(got.B, m.B) {
		t.Errorf("loaded C=%d D=%d W=%v B=%v, want C=4 D=3 W=%v B=%v", got.C, got.D, got.W, got.B, m.W, m.B)
	}
}

func TestCheckpointErrors(t *testing.T) {
	writeNpy := func(dt npy.DType, shape []int, data []byte) func(string) error {
		return func(path string) error { return npy.WriteFile(path, npy.Header{DType: dt, Shape: shape}, data) }
	}
	f32 := func(shape []int, v ...float64) func(string) error {
		if v == nil {
			n := 1
			for _, d := range shape {
				n *= d
			}
			v = make([]float64, n)
		}
		return writeNpy(npy.Float32, shape, float32Bytes(v))
	}
	valid := func(path string) ([]byte, error) {
		if err := f32([]int{3, 3})(path); err != nil {
			return nil, err
		}
		return os.ReadFile(path)
	}
	tests := []struct {
		name  string
		write func(path string) error // nil: leave the file missing
		want  []string                // substrings besides the path
	}{
		{"missing file", nil, []string{"no such file"}},
		{"1-D", f32([]int{6}), []string{"shape"}},
		{"3-D", f32([]int{2, 2, 2}), []string{"shape"}},
		{"one class", f32([]int{1, 5}), []string{"shape", "at least 2 classes"}},
		{"zero classes", f32([]int{0, 5}), []string{"shape"}},
		{"no features", f32([]int{3, 1}), []string{"shape"}},
		{"NaN weight", f32([]int{2, 2}, 0, 1, math.NaN(), 3), []string{"NaN"}},
		{"NaN bias", f32([]int{2, 2}, 0, 1, 2, math.NaN()), []string{"NaN"}},
		{"Inf weight", f32([]int{2, 2}, math.Inf(-1), 1, 2, 3), []string{"Inf"}},
		{"float64 Inf", writeNpy(npy.Float64, []int{2, 2}, float64Bytes([]float64{0, 1, 2, math.Inf(1)})), []string{"Inf"}},
		{"int32", writeNpy(npy.Int32, []int{2, 3}, make([]byte, 24)), []string{"dtype", "<i4"}},
		{"float16", writeNpy(npy.Float16, []int{2, 3}, make([]byte, 12)), []string{"dtype", "<f2"}},
		{"not an npy file", func(path string) error {
			return os.WriteFile(path, []byte("label,x1\n0,1\n"), 0o644)
		}, nil},
		{"empty file", func(path string) error { return os.WriteFile(path, nil, 0o644) }, nil},
		{"truncated data", func(path string) error {
			b, err := valid(path)
			if err != nil {
				return err
			}
			return os.WriteFile(path, b[:len(b)-3], 0o644)
		}, []string{"truncated"}},
		{"truncated header", func(path string) error {
			b, err := valid(path)
			if err != nil {
				return err
			}
			return os.WriteFile(path, b[:20], 0o644)
		}, nil},
		{"trailing bytes", func(path string) error {
			b, err := valid(path)
			if err != nil {
				return err
			}
			return os.WriteFile(path, append(b, 0, 0, 0, 0), 0o644)
		}, []string{"trailing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "model.npy")
			if tc.write != nil {
				if err := tc.write(path); err != nil {
					t.Fatal(err)
				}
			}
			m, err := LoadCheckpoint(path)
			if err == nil {
				t.Fatalf("LoadCheckpoint succeeded with C=%d D=%d, want an error", m.C, m.D)
			}
			testutil.WantErr(t, err, append([]string{path}, tc.want...)...)
		})
	}
}

func TestSaveCheckpointError(t *testing.T) {
	m := randomModel(newRand(12), 2, 2, 1)
	path := filepath.Join(t.TempDir(), "no such dir", "model.npy")
	if err := SaveCheckpoint(path, m); err == nil {
		t.Fatal("SaveCheckpoint into a missing directory succeeded")
	}
}

// SaveCheckpoint must refuse weights that are not finite in float32 (NaN,
// Inf, or finite float64 values beyond ±MaxFloat32 that round to Inf)
// instead of writing a file LoadCheckpoint then rejects.
func TestSaveCheckpointNonFinite(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), 1e39, -math.MaxFloat64} {
		m := randomModel(newRand(13), 2, 2, 1)
		m.W[3] = v
		path := filepath.Join(t.TempDir(), "model.npy")
		err := SaveCheckpoint(path, m)
		testutil.WantErr(t, err, path)
		if _, statErr := os.Stat(path); err != nil && statErr == nil {
			t.Errorf("weight %v: SaveCheckpoint failed but left %s behind", v, path)
		}
	}
}
