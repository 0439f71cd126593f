package cpu

import (
	"math"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/trak-dev/trak/internal/backend"
)

func storage(t *backend.Tensor) []float32 { return t.Storage.([]float32) }

// TestPoolReuseIsZeroed: a tensor made after another of the same size was
// freed gets its storage back, zeroed, for New; Upload's holds the data.
func TestPoolReuseIsZeroed(t *testing.T) {
	for _, be := range []*Backend{New(1), NewPoisoning(1), {threads: 1, grain: 1}} {
		// Raise the peak, so that the pool's bound (live + pooled ≤ peak)
		// lets it keep what the poisoning backend's quarantine pushes out.
		be.Free(be.New(1 << 20))
		be.Trim()
		for _, n := range []int{1, 7, 64, 65, 1000, 70001} {
			x := be.New(n)
			for i := range storage(x) {
				storage(x)[i] = float32(i) + 0.5
			}
			p := unsafe.SliceData(storage(x))
			be.Free(x)
			// A poisoning backend holds freed storage back for a while.
			if be.pool.poison {
				for range quarantineLen {
					be.Free(be.New(3))
				}
			}
			before := be.MemStats().Reused
			y := be.New(n)
			if unsafe.SliceData(storage(y)) != p {
				t.Errorf("poison %v, n %d: New after Free did not reuse the storage", be.pool.poison, n)
			}
			if be.MemStats().Reused != before+1 {
				t.Errorf("poison %v, n %d: Reused %d, want %d", be.pool.poison, n, be.MemStats().Reused, before+1)
			}
			for i, v := range storage(y) {
				if v != 0 {
					t.Fatalf("poison %v, n %d: reused element %d = %v, want 0", be.pool.poison, n, i, v)
				}
			}
			be.Free(y)
			data := make([]float32, n)
			for i := range data {
				data[i] = float32(-i)
			}
			u := be.Upload(data, n)
			out := make([]float32, n)
			be.Download(out, u)
			for i := range out {
				if out[i] != data[i] {
					t.Fatalf("n %d: Upload into reused storage: element %d = %v, want %v", n, i, out[i], data[i])
				}
			}
			be.Free(u)
		}
	}
}

// TestPoolLargerClass: a request whose class the pool does not hold is
// served, zeroed, by the smallest buffer of a class at most twice as large,
// and by the allocator when the pool holds only larger ones.
func TestPoolLargerClass(t *testing.T) {
	be := New(1)
	big, bigger := be.New(2000), be.New(3000)
	for _, x := range []*backend.Tensor{big, bigger} {
		for i := range storage(x) {
			storage(x)[i] = 1
		}
	}
	pBig := unsafe.SliceData(storage(big))
	be.Free(big)
	be.Free(bigger)
	st := be.MemStats()
	x := be.New(1100) // class 1120: 2048 and 3072 are both larger, only 2048 within twice
	if unsafe.SliceData(storage(x)) != pBig {
		t.Errorf("New(1100) did not reuse the 2000-element buffer")
	}
	for i, v := range storage(x) {
		if v != 0 {
			t.Fatalf("element %d = %v, want 0", i, v)
		}
	}
	y := be.New(900) // class 912: the 3000-element buffer is more than twice as large
	after := be.MemStats()
	if after.Reused != st.Reused+1 || after.Allocated != st.Allocated+1 {
		t.Errorf("reused %d, allocated %d: want 1 and 1", after.Reused-st.Reused, after.Allocated-st.Allocated)
	}
	if len(storage(x)) != 1100 || len(storage(y)) != 900 {
		t.Errorf("lengths %d and %d, want 1100 and 900", len(storage(x)), len(storage(y)))
	}
	// Freed, the larger buffer goes back to its own class: a request of its
	// size finds it.
	be.Free(x)
	z := be.New(2000)
	if unsafe.SliceData(storage(z)) != pBig {
		t.Errorf("New(2000) after Free of the reused buffer did not get it back")
	}
}

// TestPoisonedReadAfterFree: a Reshape view of a freed tensor reads NaN on
// a poisoning backend.
func TestPoisonedReadAfterFree(t *testing.T) {
	be := NewPoisoning(1)
	x := be.Upload([]float32{1, 2, 3, 4}, 2, 2)
	v := be.Reshape(x, 4)
	be.Free(x)
	out := make([]float32, 4)
	be.Download(out, v) // the use after free
	for i, o := range out {
		if !math.IsNaN(float64(o)) {
			t.Errorf("element %d of a freed tensor read %v, want NaN", i, o)
		}
	}
	// And it propagates: a sum over it is NaN.
	y := be.New(4)
	be.Add(y, v)
	be.Download(out, y)
	if !math.IsNaN(float64(out[0])) {
		t.Errorf("Add of a freed tensor gave %v, want NaN", out[0])
	}
	if err := be.CheckFreed(); err != nil {
		t.Errorf("CheckFreed after reads only: %v", err)
	}
}

// TestPoisonedWriteAfterFree: writing a freed tensor through a view is
// reported by CheckFreed, and makes the pool panic when it hands the
// storage out again.
func TestPoisonedWriteAfterFree(t *testing.T) {
	be := NewPoisoning(1)
	x := be.New(100)
	v := be.Reshape(x, 10, 10)
	be.Free(x)
	be.Scale(v, 1) // NaN·1 keeps the pattern: not a detectable write
	if err := be.CheckFreed(); err != nil {
		t.Errorf("CheckFreed after a write of the same bits: %v", err)
	}
	be.Copy(v, be.New(10, 10)) // the use after free
	if err := be.CheckFreed(); err == nil || !strings.Contains(err.Error(), "use after free") {
		t.Errorf("CheckFreed after a write to freed storage: %v, want a use after free", err)
	}
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, "use after free") {
			t.Errorf("reusing written freed storage: recovered %v, want a use-after-free panic", r)
		}
	}()
	for range quarantineLen + 1 {
		be.Free(be.New(1))
	}
	be.New(100)
	t.Error("no panic")
}

// TestDoubleFree: freeing a tensor's storage twice, through a view, panics
// instead of handing the storage to two tensors.
func TestDoubleFree(t *testing.T) {
	for _, be := range []*Backend{New(1), NewPoisoning(1)} {
		x := be.New(5)
		v := be.Reshape(x, 5, 1)
		be.Free(x)
		func() {
			defer func() {
				if s, _ := recover().(string); !strings.Contains(s, "freed twice") {
					t.Errorf("poison %v: double free recovered %q", be.pool.poison, s)
				}
			}()
			be.Free(v)
		}()
	}
}

// TestPoolBound: whatever the sequence of sizes, the pool and the live
// tensors together never hold more than twice the peak of live storage.
func TestPoolBound(t *testing.T) {
	be := New(1)
	check := func(when string) {
		t.Helper()
		s := be.MemStats()
		if s.Live+s.Pooled > 2*s.Peak {
			t.Fatalf("%s: live %d + pooled %d > twice the peak %d", when, s.Live, s.Pooled, s.Peak)
		}
	}
	var live []*backend.Tensor
	for round := range 20 {
		// Each round frees everything and asks for sizes the pool does not
		// hold, so that what it holds must be dropped.
		for i := range 10 {
			live = append(live, be.New(1000*(round+1)+i))
			check("New")
		}
		for _, x := range live {
			be.Free(x)
			check("Free")
		}
		live = live[:0]
	}
	if s := be.MemStats(); s.Live != 0 || s.Pooled > 2*s.Peak {
		t.Errorf("after freeing everything: %+v", s)
	}
	be.Trim()
	if s := be.MemStats(); s.Pooled != 0 {
		t.Errorf("after Trim: %+v", s)
	}
}

// TestPoolConcurrent uses one Backend from several goroutines on distinct
// tensors (run with -race).
func TestPoolConcurrent(t *testing.T) {
	be := NewPoisoning(2)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				x := be.New(10 + (g+i)%7)
				for _, v := range storage(x) {
					if v != 0 {
						t.Errorf("non-zero element %v", v)
						return
					}
				}
				be.Scale(x, 2)
				be.Free(x)
			}
		})
	}
	wg.Wait()
	if err := be.CheckFreed(); err != nil {
		t.Error(err)
	}
	if s := be.MemStats(); s.Live != 0 {
		t.Errorf("live %d after freeing everything", s.Live)
	}
}

func TestSizeClasses(t *testing.T) {
	for n := 1; n < 1<<22; n = n*3/2 + 1 {
		c := classOf(n)
		if c < n || float64(c) > float64(n)*(1+1.0/32) {
			t.Errorf("classOf(%d) = %d", n, c)
		}
		if floorClass(c) != c || classOf(c) != c {
			t.Errorf("class %d of %d is not a fixed point: floor %d, class %d", c, n, floorClass(c), classOf(c))
		}
		if f := floorClass(n); f > n || classOf(f) != f {
			t.Errorf("floorClass(%d) = %d", n, f)
		}
	}
}
