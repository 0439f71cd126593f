package dataset

import (
	"context"
	"fmt"
	"iter"
	"runtime/debug"
	"sync"
)

// Item is one row's result from Stream. Err is that row's failure (reading
// it, a bad example, or prepare's error), as a *RowError: it is data, not
// the end of the stream, and the caller's policy decides whether to stop or
// skip.
type Item[T any] struct {
	Row   int
	Value T
	Err   error
}

// result is what a worker hands back: the item, or a panic to re-raise.
type result[T any] struct {
	item  Item[T]
	panic any
	stack []byte
}

// Stream reads the given rows (all rows when rows is nil) and runs prepare
// on each, with workers goroutines working in parallel, and yields the
// results in the order of rows.
//
// Memory is bounded by depth: a row takes one of depth slots before its
// image is read and gives it back only when the loop body that receives it
// returns, so at most depth rows are being read, prepared, or waiting to be
// delivered at any time, their image bytes included. Workers beyond depth
// stay idle. workers < 1 means 1; depth < 1 means 2*workers.
//
// prepare is called only for rows that read without error, with the row's
// image bytes and caption; it must not keep image after returning unless it
// copies it. A row that fails to read, or whose prepare returns an error,
// is yielded in its place with Item.Err set.
//
// The second value of each pair is nil except once, last: when ctx is
// cancelled before every row was yielded, Stream yields the zero Item and
// context.Cause(ctx), and stops; the rows not yet yielded are not
// delivered. Stopping the loop early (break)
// is fine. Either way, Stream returns once the prepare calls in progress
// have returned; no goroutine is left running. A panic in prepare is raised
// again in the caller's goroutine when its row's turn comes.
func Stream[T any](ctx context.Context, d *Dataset, rows []int, workers, depth int,
	prepare func(row int, image []byte, caption string) (T, error)) iter.Seq2[Item[T], error] {
	workers = max(workers, 1)
	if depth < 1 {
		depth = 2 * workers
	}
	return func(yield func(Item[T], error) bool) {
		order := rows
		if order == nil {
			order = make([]int, d.Len())
			for i := range order {
				order[i] = i
			}
		}
		inner, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()

		type job struct {
			row int
			out chan result[T]
		}
		slots := make(chan struct{}, depth)
		pending := make(chan chan result[T], depth)
		jobs := make(chan job)

		wg.Go(func() {
			defer close(pending)
			defer close(jobs)
			for _, r := range order {
				select {
				case slots <- struct{}{}:
				case <-inner.Done():
					return
				}
				out := make(chan result[T], 1)
				pending <- out // never blocks: at most depth slots are taken
				select {
				case jobs <- job{r, out}:
				case <-inner.Done():
					out <- result[T]{item: Item[T]{Row: r, Err: context.Cause(inner)}}
					return
				}
			}
		})
		for range workers {
			wg.Go(func() {
				for j := range jobs {
					if inner.Err() != nil {
						j.out <- result[T]{item: Item[T]{Row: j.row, Err: context.Cause(inner)}}
						continue
					}
					j.out <- runPrepare(d, j.row, prepare)
				}
			})
		}

		var zero Item[T]
		for delivered := 0; delivered < len(order); {
			if ctx.Err() != nil {
				yield(zero, context.Cause(ctx))
				return
			}
			var out chan result[T]
			var ok bool
			select {
			case out, ok = <-pending:
			case <-ctx.Done():
				continue
			}
			if !ok { // the dispatcher stopped: ctx was cancelled
				if ctx.Err() != nil {
					yield(zero, context.Cause(ctx))
				}
				return
			}
			var res result[T]
			select {
			case res = <-out:
			case <-ctx.Done():
				continue
			}
			if ctx.Err() != nil {
				continue
			}
			if res.panic != nil {
				panic(fmt.Sprintf("dataset.Stream: prepare panicked on row %d: %v\n%s", res.item.Row, res.panic, res.stack))
			}
			more := yield(res.item, nil)
			delivered++
			<-slots
			if !more {
				return
			}
		}
	}
}

// runPrepare reads one row and prepares it, turning a panic into a result
// for the caller's goroutine to raise.
func runPrepare[T any](d *Dataset, row int, prepare func(int, []byte, string) (T, error)) (res result[T]) {
	res.item.Row = row
	defer func() {
		if p := recover(); p != nil {
			res.panic, res.stack = p, debug.Stack()
		}
	}()
	image, caption, err := d.Read(row)
	if err != nil {
		res.item.Err = err
		return res
	}
	v, err := prepare(row, image, caption)
	if err != nil {
		res.item.Err = &RowError{Row: row, Where: d.where(row), Err: err}
		return res
	}
	res.item.Value = v
	return res
}
