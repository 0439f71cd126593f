package checkpoint

import (
	"fmt"
	"math"
	"testing"
)

// TestReleasePages: a tensor whose pages were released reads back the same
// values (tolerance 0: the pages come back from the file), released twice,
// after another tensor's release and after Close without harm.
func TestReleasePages(t *testing.T) {
	const n = 5000 // 20 KB: several whole pages inside the tensor
	want := make([]float32, n)
	for i := range want {
		want[i] = float32(math.Sin(float64(i)))
	}
	// Tensor a starts at byte 12 of the data, so its first and last pages
	// are shared with b or the header and stay resident; the ones between
	// are released.
	data := append(f32bytes(1, 2, 3), f32bytes(want...)...)
	header := fmt.Sprintf(`{"b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"a":{"dtype":"F32","shape":[%d],"data_offsets":[12,%d]}}`, n, 12+4*n)
	path := writeTemp(t, "w.safetensors", stFile(header, data))
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.Tensor("a")
	b, _ := f.Tensor("b")
	for range 2 {
		f.ReleasePages(a)
		f.ReleasePages(b)
		got := make([]float32, n)
		if err := a.Float32s(got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("after ReleasePages element %d = %v, want %v", i, got[i], want[i])
			}
		}
	}
	f.Close()
	f.ReleasePages(a) // after Close: nothing to do, no fault
}
