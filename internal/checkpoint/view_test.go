package checkpoint

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// TestView checks derived tensors against the values they must hold,
// element by element (exact: no arithmetic is involved).
func TestView(t *testing.T) {
	// a is 2×3 [[1 2 3] [4 5 6]], b is 1×3 [[7 8 9]], h is a float16 1×3.
	header := `{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F32","shape":[1,3],"data_offsets":[24,36]},"h":{"dtype":"F16","shape":[1,3],"data_offsets":[36,42]}}`
	data := append(f32bytes(1, 2, 3, 4, 5, 6, 7, 8, 9), 0, 0x3c, 0, 0x3c, 0, 0x3c)
	f, err := Open(writeTemp(t, "m.safetensors", stFile(header, data)))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.Tensor("a")
	b, _ := f.Tensor("b")
	h, _ := f.Tensor("h")
	at, err := a.Transposed("a.T")
	if err != nil {
		t.Fatal(err)
	}
	ab, err := Concat("ab", a, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Concat("ah", a, h); err == nil {
		t.Error("Concat of float32 and float16 parts: no error")
	}
	if _, err := Concat("x", a, at); err == nil {
		t.Error("Concat of 2×3 and 3×2: no error")
	}
	if _, err := ab.Transposed("y"); err == nil {
		t.Error("Transposed of a concatenation: no error")
	}
	abt, err := Concat("abt", at.Renamed("p"), at.Renamed("q"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.View("test layout", []*Tensor{a.Renamed("first"), at, ab, abt})
	if err != nil {
		t.Fatal(err)
	}
	if v.Format != "test layout" || !slices.Equal(v.Names(), []string{"a.T", "ab", "abt", "first"}) {
		t.Fatalf("view: format %q, names %v", v.Format, v.Names())
	}
	for _, tc := range []struct {
		name  string
		shape []int
		want  []float32
	}{
		{"first", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}},
		{"a.T", []int{3, 2}, []float32{1, 4, 2, 5, 3, 6}},
		{"ab", []int{3, 3}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"abt", []int{6, 2}, []float32{1, 4, 2, 5, 3, 6, 1, 4, 2, 5, 3, 6}},
	} {
		tt, ok := v.Tensor(tc.name)
		if !ok {
			t.Fatalf("%s missing", tc.name)
		}
		if !slices.Equal(tt.Shape, tc.shape) {
			t.Errorf("%s: shape %v, want %v", tc.name, tt.Shape, tc.shape)
		}
		got := make([]float32, tt.Len())
		if err := tt.Float32s(got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	if err := Check(v, []Expect{{Name: "first", Shape: []int{2, 3}}, {Name: "a.T", Shape: []int{3, 2}}, {Name: "ab", Shape: []int{3, 3}}, {Name: "abt", Shape: []int{6, 2}}}); err != nil {
		t.Errorf("Check of the view: %v", err)
	}
	if _, err := f.View("dup", []*Tensor{a, a}); err == nil {
		t.Error("a view with one name twice: no error")
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 6)
	first, _ := v.Tensor("first")
	if err := first.Float32s(got); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after closing the view: %v, want ErrClosed", err)
	}
	if err := a.Float32s(got); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read from the underlying file after closing the view: %v, want ErrClosed", err)
	}
}
