package cpu

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/backend/backendtest"
)

// TestConformanceSplitEverything runs the suite with every kernel split,
// however small, into uneven chunks over three goroutines, so that the
// chunk boundaries of every case (1, 63, 64, 65 rows…) are exercised.
func TestConformanceSplitEverything(t *testing.T) {
	backendtest.Run(t, splitEverything(3))
}

// TestSplitEverythingBitwise compares the fully split backend with the
// single-threaded one bitwise.
func TestSplitEverythingBitwise(t *testing.T) {
	backendtest.SameOutputs(t, backendtest.Outputs(New(1)), backendtest.Outputs(splitEverything(5)))
}

func TestSplitCoversOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		for _, n := range []int{0, 1, 2, 7, 8, 9, 63, 64, 65} {
			be := splitEverything(threads)
			hits := make([]atomic.Int32, n)
			var calls atomic.Int32
			be.split(n, n, func(lo, hi int) {
				calls.Add(1)
				if lo >= hi {
					t.Errorf("threads %d, n %d: empty chunk [%d, %d)", threads, n, lo, hi)
				}
				for i := lo; i < hi; i++ {
					hits[i].Add(1)
				}
			})
			for i := range hits {
				if h := hits[i].Load(); h != 1 {
					t.Errorf("threads %d, n %d: item %d done %d times", threads, n, i, h)
				}
			}
			if c := int(calls.Load()); c > max(threads, 1) {
				t.Errorf("threads %d, n %d: %d chunks", threads, n, c)
			}
		}
	}
}

func TestSmallCallsStayInline(t *testing.T) {
	be := New(4)
	var calls int
	be.split(1000, defaultGrain-1, func(lo, hi int) {
		calls++
		if lo != 0 || hi != 1000 {
			t.Errorf("chunk [%d, %d)", lo, hi)
		}
	})
	if calls != 1 {
		t.Errorf("%d calls", calls)
	}
}

func TestFreedTensorPanics(t *testing.T) {
	be := New(1)
	x := be.New(2, 3)
	be.Free(x)
	defer func() {
		v := recover()
		if s, _ := v.(string); !strings.HasPrefix(s, "backend: Scale: dst Tensor[2 3] has storage of type <nil>") {
			t.Errorf("panic %v", v)
		}
	}()
	be.Scale(x, 2)
}

func TestForeignStoragePanics(t *testing.T) {
	be := New(1)
	defer func() {
		if s, _ := recover().(string); !strings.Contains(s, "backend: Copy: src") {
			t.Errorf("panic %q", s)
		}
	}()
	be.Copy(be.New(2), &backend.Tensor{Shape: []int{2}, Storage: []float64{1, 2}})
}

// splitEverything returns a backend on threads goroutines that splits every
// kernel, however small.
func splitEverything(threads int) *Backend {
	be := New(threads)
	be.grain = 1
	return be
}
