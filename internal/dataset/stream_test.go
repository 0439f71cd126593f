package dataset

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trak-dev/trak/internal/testutil"
)

// streamFixture is a webdataset of n samples; rows in bad are samples
// without a caption.
func streamFixture(t *testing.T, n int, bad ...int) *Dataset {
	t.Helper()
	var ms []tm
	for i := range n {
		key := fmt.Sprintf("%04d", i)
		ms = append(ms, tm{name: key + ".jpg", data: fakeImage(key)})
		if !slices.Contains(bad, i) {
			ms = append(ms, tm{name: key + ".txt", data: []byte("caption " + key)})
		}
	}
	return mustOpen(t, Spec{Path: writeFile(t, t.TempDir(), "s.tar", makeTar(t, ms...))})
}

// noLeak fails when goroutines started during the test outlive it.
func noLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("%d goroutines left running", n-before)
		}
	})
}

func TestStreamOrderAndBound(t *testing.T) {
	const n = 48
	d := streamFixture(t, n)
	for workers := 1; workers <= 8; workers++ {
		for _, depth := range []int{1, 2, workers, 2 * workers} {
			t.Run(fmt.Sprintf("workers=%d,depth=%d", workers, depth), func(t *testing.T) {
				noLeak(t)
				var inflight, peak, calls atomic.Int64
				prepare := func(row int, image []byte, caption string) (string, error) {
					calls.Add(1)
					v := inflight.Add(1)
					for {
						p := peak.Load()
						if v <= p || peak.CompareAndSwap(p, v) {
							break
						}
					}
					// Slow and uneven, so that later rows often finish first.
					time.Sleep(time.Duration((row*7)%5) * 100 * time.Microsecond)
					return fmt.Sprintf("%d:%s:%d", row, caption, len(image)), nil
				}
				var got []int
				for item, err := range Stream(context.Background(), d, nil, workers, depth, prepare) {
					if err != nil {
						t.Fatal(err)
					}
					if item.Err != nil {
						t.Fatalf("row %d: %v", item.Row, item.Err)
					}
					want := fmt.Sprintf("%d:caption %04d:%d", item.Row, item.Row, len(fakeImage(fmt.Sprintf("%04d", item.Row))))
					if item.Value != want {
						t.Errorf("row %d: value %q, want %q", item.Row, item.Value, want)
					}
					got = append(got, item.Row)
					inflight.Add(-1) // the consumer is done with it
				}
				if len(got) != n || !slices.IsSorted(got) || got[0] != 0 {
					t.Errorf("rows %v", got)
				}
				if calls.Load() != n {
					t.Errorf("prepare called %d times", calls.Load())
				}
				if p := peak.Load(); p > int64(depth) || p > int64(depth+workers) {
					t.Errorf("peak in flight %d > depth %d", p, depth)
				}
				if workers > 1 && depth >= workers && peak.Load() < 2 {
					t.Errorf("peak in flight %d: no parallelism", peak.Load())
				}
			})
		}
	}
}

func TestStreamRowsAndErrors(t *testing.T) {
	noLeak(t)
	d := streamFixture(t, 10, 3, 7)
	rows := []int{9, 3, 0, 42, 5, 7, 5}
	prepare := func(row int, image []byte, caption string) (int, error) {
		if row == 5 {
			return 0, errors.New("cannot prepare five")
		}
		return row * 10, nil
	}
	var items []Item[int]
	for item, err := range Stream(context.Background(), d, rows, 4, 3, prepare) {
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, item)
	}
	if len(items) != len(rows) {
		t.Fatalf("%d items", len(items))
	}
	for i, item := range items {
		if item.Row != rows[i] {
			t.Errorf("item %d is row %d, want %d", i, item.Row, rows[i])
		}
		var re *RowError
		switch item.Row {
		case 3, 7:
			if !errors.Is(item.Err, ErrBadExample) || !errors.As(item.Err, &re) || re.Row != item.Row {
				t.Errorf("row %d: %v, want a bad example", item.Row, item.Err)
			}
		case 42:
			testutil.WantErr(t, item.Err, "row 42", "out of range")
		case 5:
			testutil.WantErr(t, item.Err, "row 5", "s.tar:0005.jpg", "cannot prepare five")
		default:
			if item.Err != nil || item.Value != item.Row*10 {
				t.Errorf("row %d: %v, %v", item.Row, item.Value, item.Err)
			}
		}
	}
}

func TestStreamCancel(t *testing.T) {
	d := streamFixture(t, 64)
	t.Run("between items", func(t *testing.T) {
		noLeak(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var rows []int
		var errs []error
		for item, err := range Stream(ctx, d, nil, 4, 4, func(row int, _ []byte, _ string) (int, error) { return row, nil }) {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rows = append(rows, item.Row)
			if item.Row == 9 {
				cancel()
			}
		}
		if !slices.Equal(rows, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("rows after cancel: %v", rows)
		}
		if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Errorf("errors %v, want one context.Canceled", errs)
		}
	})
	t.Run("while prepare blocks", func(t *testing.T) {
		noLeak(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		started := make(chan struct{}, 64)
		release := make(chan struct{})
		prepare := func(row int, _ []byte, _ string) (int, error) {
			started <- struct{}{}
			if row >= 2 {
				<-release
			}
			return row, nil
		}
		go func() {
			<-started
			<-started
			<-started
			cancel(errors.New("stop now"))
			time.Sleep(10 * time.Millisecond)
			close(release)
		}()
		var rows []int
		var last error
		for item, err := range Stream(ctx, d, nil, 3, 8, prepare) {
			if err != nil {
				last = err
				continue
			}
			rows = append(rows, item.Row)
		}
		if last == nil || !strings.Contains(last.Error(), "stop now") {
			t.Errorf("final error %v, want the cancel cause", last)
		}
		for _, r := range rows {
			if r >= 2 {
				t.Errorf("row %d delivered after cancellation", r)
			}
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		noLeak(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n := 0
		for _, err := range Stream(ctx, d, nil, 2, 2, func(row int, _ []byte, _ string) (int, error) { return row, nil }) {
			n++
			if !errors.Is(err, context.Canceled) {
				t.Errorf("got %v", err)
			}
		}
		if n != 1 {
			t.Errorf("%d pairs, want the error alone", n)
		}
	})
	t.Run("after the last row", func(t *testing.T) {
		noLeak(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		for item, err := range Stream(ctx, d, []int{5, 6}, 2, 2, func(row int, _ []byte, _ string) (int, error) { return row, nil }) {
			if err != nil {
				t.Fatalf("error %v after every row was delivered", err)
			}
			if n++; item.Row == 6 {
				cancel()
			}
		}
		if n != 2 {
			t.Errorf("%d items", n)
		}
	})
	t.Run("break", func(t *testing.T) {
		noLeak(t)
		n := 0
		for item, err := range Stream(context.Background(), d, nil, 8, 16, func(row int, _ []byte, _ string) (int, error) { return row, nil }) {
			if err != nil || item.Row != n {
				t.Fatalf("%v %v", item, err)
			}
			if n++; n == 5 {
				break
			}
		}
	})
}

func TestStreamPanic(t *testing.T) {
	noLeak(t)
	d := streamFixture(t, 8)
	defer func() {
		p := recover()
		if p == nil || !strings.Contains(fmt.Sprint(p), "row 3") || !strings.Contains(fmt.Sprint(p), "boom") {
			t.Errorf("recovered %v", p)
		}
	}()
	var rows []int
	for item := range Stream(context.Background(), d, nil, 4, 4, func(row int, _ []byte, _ string) (int, error) {
		if row == 3 {
			panic("boom")
		}
		return row, nil
	}) {
		rows = append(rows, item.Row)
	}
	t.Errorf("no panic; rows %v", rows)
}
