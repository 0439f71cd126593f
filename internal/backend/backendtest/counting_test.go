package backendtest_test

import (
	"testing"

	"github.com/trak-dev/trak/internal/backend/backendtest"
	"github.com/trak-dev/trak/internal/backend/cpu"
)

func TestCounting(t *testing.T) {
	c := backendtest.NewCounting(cpu.New(1))
	a := c.New(2, 3)
	b := c.Upload([]float32{1, 2, 3, 4}, 4)
	if n, bytes := c.Live(); n != 2 || bytes != 4*10 {
		t.Fatalf("Live() = %d, %d; want 2, 40", n, bytes)
	}
	v := c.Reshape(a, 3, 2)
	c.Gemm(false, false, 1, v, c.Reshape(a, 2, 3), 0, c.New(3, 3))
	if n, _ := c.Live(); n != 3 {
		t.Fatalf("Live() = %d after a third New, want 3", n)
	}
	c.Free(a)
	c.Free(b)
	if n, bytes := c.Live(); n != 1 || bytes != 4*9 {
		t.Errorf("Live() = %d, %d; want 1, 36", n, bytes)
	}
	if got := c.LiveShapes(); len(got) != 1 || got[0] != "[3 3]" {
		t.Errorf("LiveShapes() = %v, want [[3 3]]", got)
	}
	func() {
		defer func() { _ = recover() }() // the CPU backend panics on a freed view
		c.Free(v)
	}()
	if c.BadFrees() != 1 || c.Made() != 3 {
		t.Errorf("BadFrees() = %d, Made() = %d; want 1, 3", c.BadFrees(), c.Made())
	}
}
