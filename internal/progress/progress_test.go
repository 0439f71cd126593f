package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLines(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	r := New(&buf, Lines, 100, "featurize model 0", "rows")
	r.now = func() time.Time { return clock }
	r.start, r.lastLine = clock, clock
	for i := 0; i < 100; i++ {
		clock = clock.Add(100 * time.Millisecond)
		r.Add(1)
	}
	r.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// One line per tenth (10%..90%), then the summary.
	if len(lines) != 10 {
		t.Fatalf("got %d lines, want 10:\n%s", len(lines), buf.String())
	}
	if want := "featurize model 0: 100/100 (100%) in 10s, 10.0/s"; lines[9] != want {
		t.Errorf("summary %q, want %q", lines[9], want)
	}
}

func TestLinesByTime(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	r := New(&buf, Lines, 1000, "x", "rows")
	r.now = func() time.Time { return clock }
	r.start, r.lastLine = clock, clock
	clock = clock.Add(Interval)
	r.Add(1) // under a tenth, but Interval has passed
	if !strings.Contains(buf.String(), "x: 1/1000") {
		t.Errorf("no periodic line: %q", buf.String())
	}
}

func TestOff(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, Off, 10, "x", "rows")
	r.Add(10)
	r.Finish()
	if buf.Len() != 0 {
		t.Errorf("Off wrote %q", buf.String())
	}
}

func TestBarWrites(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, Bar, 10, "x", "rows")
	r.Add(10)
	r.Finish()
	if !strings.Contains(buf.String(), "x: 10/10") {
		t.Errorf("no summary after bar: %q", buf.String())
	}
}
