package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock makes a Reporter's time step only when the test says so.
func fakeClock(r *Reporter, clock *time.Time) {
	r.now = func() time.Time { return *clock }
	r.start, r.lastLine, r.described = *clock, *clock, *clock
}

func TestLines(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	r := New(&buf, Lines, 100, "featurize model 0", "rows")
	fakeClock(r, &clock)
	for range 100 {
		clock = clock.Add(100 * time.Millisecond)
		r.Add(1)
	}
	r.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// One line per tenth (10%..90%), then the summary.
	if len(lines) != 10 {
		t.Fatalf("got %d lines, want 10:\n%s", len(lines), buf.String())
	}
	if want := "featurize model 0: 30/100 rows (30%) in 3.0s, 10.0 rows/s, 7.0s left"; lines[2] != want {
		t.Errorf("line %q, want %q", lines[2], want)
	}
	if want := "featurize model 0: 100/100 rows (100%) in 10s, 10.0 rows/s"; lines[9] != want {
		t.Errorf("summary %q, want %q", lines[9], want)
	}
}

// TestLinesSlow: a step slower than one unit a second used to print
// "0.0/s" with no unit and no time left.
func TestLinesSlow(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	r := New(&buf, Lines, 1000, "embed train set, model 0", "rows")
	fakeClock(r, &clock)
	clock = clock.Add(Interval + 2300*time.Millisecond)
	r.Add(1) // under a tenth, but Interval has passed
	if want := "embed train set, model 0: 1/1000 rows (0%) in 12s, 12.3 s/row, 3h25m left\n"; buf.String() != want {
		t.Errorf("periodic line %q, want %q", buf.String(), want)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name        string
		done, total int64
		elapsed     time.Duration
		final       bool
		units, want string
	}{
		{"fast", 250, 1000, 5 * time.Second, false, "rows", "x: 250/1000 rows (25%) in 5.0s, 50.0 rows/s, 15s left"},
		{"very fast, no decimals", 900, 1000, 3 * time.Second, false, "images", "x: 900/1000 images (90%) in 3.0s, 300 images/s, 0.3s left"},
		{"exactly one a second", 60, 120, time.Minute, false, "rows", "x: 60/120 rows (50%) in 1m00s, 1.0 rows/s, 1m00s left"},
		{"slow: seconds per unit", 3, 100, 36900 * time.Millisecond, false, "rows", "x: 3/100 rows (3%) in 37s, 12.3 s/row, 19m53s left"},
		{"very slow", 1, 10, 250 * time.Second, false, "steps", "x: 1/10 steps (10%) in 4m10s, 250 s/step, 37m30s left"},
		{"summary has no time left", 100, 100, 10 * time.Second, true, "rows", "x: 100/100 rows (100%) in 10s, 10.0 rows/s"},
		{"slow summary", 4, 4, 50 * time.Second, true, "images", "x: 4/4 images (100%) in 50s, 12.5 s/image"},
		{"nothing done yet: no rate", 0, 10, 5 * time.Second, false, "rows", "x: 0/10 rows (0%) in 5.0s"},
		{"no time passed: no rate", 10, 10, 0, true, "rows", "x: 10/10 rows (100%) in 0.0s"},
		{"empty step", 0, 0, 0, true, "rows", "x: 0/0 rows (100%) in 0.0s"},
		{"hours left", 1, 100000, 2 * time.Second, false, "rows", "x: 1/100000 rows (0%) in 2.0s, 2.0 s/row, 55h33m left"},
		{"time left capped", 1, 1 << 62, time.Hour, false, "rows", "x: 1/4611686018427387904 rows (0%) in 1h00m, 3600 s/row, 100000h00m left"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Status("x", tc.units, tc.done, tc.total, tc.elapsed, tc.final); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		perSecond   float64
		units, want string
	}{
		{1234.5, "rows", "1234 rows/s"}, // %.0f rounds half to even
		{99.94, "rows", "99.9 rows/s"},
		{1, "rows", "1.0 rows/s"},
		{0.5, "rows", "2.0 s/row"},
		{1 / 12.3, "rows", "12.3 s/row"},
		{0.001, "images", "1000 s/image"},
		{0.5, "examples", "2.0 s/example"},
		{0.5, "steps", "2.0 s/step"},
		{0.5, "s", "2.0 s/s"},
		{0.5, "pass", "2.0 s/pass"},
	}
	for _, tc := range tests {
		if got := Rate(tc.perSecond, tc.units); got != tc.want {
			t.Errorf("Rate(%g, %q) = %q, want %q", tc.perSecond, tc.units, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0.0s"},
		{0, "0.0s"},
		{1234 * time.Millisecond, "1.2s"},
		{9949 * time.Millisecond, "9.9s"},
		{9950 * time.Millisecond, "10s"},
		{59499 * time.Millisecond, "59s"},
		{59500 * time.Millisecond, "1m00s"},
		{187 * time.Second, "3m07s"},
		{time.Hour - 501*time.Millisecond, "59m59s"},
		{time.Hour - 500*time.Millisecond, "1h00m"},
		{2*time.Hour + 5*time.Minute + 29*time.Second, "2h05m"},
		{1000 * time.Hour, "1000h00m"},
	}
	for _, tc := range tests {
		if got := Duration(tc.d); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
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

// TestBar: the bar's text used to be progressbar's own "(1/10, 0 it/hr)"
// without the unit; it now carries the same status as the plain lines.
func TestBar(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	r := New(&buf, Bar, 10, "x", "rows")
	fakeClock(r, &clock)
	clock = clock.Add(12300 * time.Millisecond)
	r.Add(1) // the first draw is never throttled
	if drawn := buf.String(); !strings.Contains(drawn, "10% |") || !strings.Contains(drawn, "|  x: 1/10 rows, 12.3 s/row, 1m51s left") {
		t.Errorf("bar %q", drawn)
	}
	clock = clock.Add(time.Second)
	r.Add(9)
	r.Finish()
	if !strings.HasSuffix(buf.String(), "x: 10/10 rows (100%) in 13s, 1.3 s/row\n") {
		t.Errorf("no summary after bar: %q", buf.String())
	}
}
