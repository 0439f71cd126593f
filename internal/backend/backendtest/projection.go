package backendtest

import (
	"math"

	"github.com/trak-dev/trak/internal/backend"
	"github.com/trak-dev/trak/internal/projection"
)

// projDelivery is one way of handing a batch's gradients to a Projection:
// dense ranges (each uploaded with the given shape after the batch
// dimension) and sparse rows of the embedding-like matrix.
type projDelivery struct {
	dense []projRange
	rows  [][]int32 // one AddRows per entry
}

type projRange struct {
	lo, hi int64
	shape  []int // of a row; nil: (hi − lo)
}

// projLayout is the parameter layout of the Projection cases: a matrix of
// matRows rows of matWidth parameters at matOffset, of which only the rows
// matUsed have gradients, and dense parameters around it. With 1324
// parameters the last block of BlockRows = 512 rows is short.
const (
	projParams = 1324
	matOffset  = 700
	matWidth   = 9
	matRows    = 40
)

var matUsed = []int32{1, 5, 6, 17, 39}

// projDeliveries: backward order in whole tensors, and another order,
// chunking and row grouping.
func projDeliveries() (a, b projDelivery) {
	mEnd := int64(matOffset + matWidth*matRows)
	a = projDelivery{
		dense: []projRange{{lo: mEnd, hi: projParams}, {lo: 300, hi: matOffset, shape: []int{20, 20}}, {lo: 0, hi: 300}},
		rows:  [][]int32{matUsed},
	}
	b = projDelivery{
		dense: []projRange{{lo: 0, hi: 1}, {lo: 1200, hi: projParams}, {lo: 1, hi: 513}, {lo: mEnd, hi: 1200}, {lo: 513, hi: matOffset}},
		rows:  [][]int32{{39, 5}, {17}, {1, 6}},
	}
	return a, b
}

// projGrads returns n examples' gradients over projParams parameters:
// normal values, zero in the matrix's unused rows.
func projGrads(seed string, n int, np int64) [][]float32 {
	g := rng(seed)
	out := make([][]float32, n)
	for b := range out {
		out[b] = normal(g, int(np), 0, 1)
		if np != projParams {
			continue
		}
		for r := range int32(matRows) {
			used := false
			for _, u := range matUsed {
				used = used || u == r
			}
			if !used {
				clear(out[b][matOffset+int(r)*matWidth : matOffset+int(r+1)*matWidth])
			}
		}
	}
	return out
}

// deliver hands examples (rows of grads, in this order) to pr by d.
func deliver(b backend.Backend, pr backend.Projection, grads [][]float32, examples []int, d projDelivery) {
	B := len(examples)
	for _, rg := range d.dense {
		n := int(rg.hi - rg.lo)
		host := make([]float32, 0, B*n)
		for _, e := range examples {
			host = append(host, grads[e][rg.lo:rg.hi]...)
		}
		shape := append([]int{B}, rg.shape...)
		if rg.shape == nil {
			shape = append(shape, n)
		}
		t := b.Upload(host, shape...)
		pr.Add(rg.lo, t)
		b.Free(t)
	}
	for _, rows := range d.rows {
		host := make([]float32, 0, B*len(rows)*matWidth)
		for _, e := range examples {
			for _, r := range rows {
				o := matOffset + int(r)*matWidth
				host = append(host, grads[e][o:o+matWidth]...)
			}
		}
		t := b.Upload(host, B, len(rows)*matWidth)
		pr.AddRows(matOffset, matWidth, rows, t)
		b.Free(t)
	}
}

// testProjection checks NewProjection: features against Σ_r g[r]·P[r, c]
// in float64, with P from the projection's definition, within the error
// of float32 block products of BlockRows terms, (BlockRows+2)·u·Σ|g||P|
// (for normal P, a last-bit difference in an entry is within it too); and
// bit for bit the same whatever the delivery order, chunking and grouping
// of rows, the batch size and the example's position in the batch, after
// SetBatch and after a Reset of an abandoned batch. For the identity
// (none), the features are the gradients, exactly. The sparse kind (sjlt,
// s = 3) has one block of SJLTBlockRows rows here, staged from the
// deliveries' pieces: its float32 partial is a running sum of at most
// projParams terms ±g, then scaled, so its tolerance is
// (projParams+3)·u·Σ|g||P|. Add with a tensor that
// is not one row per example panics.
func testProjection(r reporter, b backend.Backend) {
	for _, kind := range []projection.Kind{projection.Rademacher, projection.Normal, projection.SJLT} {
		r.Run(string(kind), func(r reporter) {
			const k = 200 // two 128-column groups, the second partial
			p, err := projection.New(projection.Spec{Kind: kind, Dim: k, NonZeros: 3, Seed: 11, ModelID: 2, NumParams: projParams}, 2)
			if err != nil {
				r.Errorf("projection.New: %v", err)
				return
			}
			grads := projGrads("Projection/"+string(kind), 3, projParams)
			da, db := projDeliveries()
			pr := b.NewProjection(p, 3)
			defer pr.Close()

			got := make([]float32, 3*k)
			deliver(b, pr, grads, []int{0, 1, 2}, da)
			pr.Finish(got, k)
			for e := range 3 {
				want, scale := make([]float64, k), make([]float64, k)
				for row, g := range grads[e] {
					for c := range k {
						x := float64(g) * float64(p.Entry(int64(row), c))
						want[c] += x
						scale[c] += math.Abs(x)
					}
				}
				tol := float64(projection.BlockRows+2) * u
				if kind == projection.SJLT {
					tol = float64(projParams+3) * u
				}
				compare(r, name("features of example %d", e), got[e*k:(e+1)*k], want, scale, tol)
			}

			// Another order and chunking, examples 2 and 1 in a batch of
			// two, after an abandoned batch.
			pr.SetBatch(2)
			deliver(b, pr, grads, []int{0, 2}, projDelivery{dense: da.dense[:1]})
			pr.Reset()
			again := make([]float32, 2*k+5)
			deliver(b, pr, grads, []int{2, 1}, db)
			pr.Finish(again, k+5)
			same(r, "example 2 delivered otherwise, first of two", again[:k], got[2*k:3*k])
			same(r, "example 1 delivered otherwise, second of two", again[k+5:2*k+5], got[k:2*k])

			bad := b.New(3, 10)
			defer b.Free(bad)
			expectPanic(r, "Projection.Add", "Add of 3 rows in a batch of 2", func() { pr.Add(0, bad) })
			pr.Reset()
		})
	}
	r.Run("none", func(r reporter) {
		const np = 300
		p, err := projection.New(projection.Spec{Kind: projection.None, NumParams: np}, 1)
		if err != nil {
			r.Errorf("projection.New: %v", err)
			return
		}
		grads := projGrads("Projection/none", 2, np)
		pr := b.NewProjection(p, 2)
		defer pr.Close()
		deliver(b, pr, grads, []int{1, 0}, projDelivery{dense: []projRange{{lo: 100, hi: np}, {lo: 0, hi: 100, shape: []int{10, 10}}}})
		got := make([]float32, 2*np)
		pr.Finish(got, np)
		exact(r, "example 1", got[:np], f64(grads[1]))
		exact(r, "example 0", got[np:], f64(grads[0]))
	})
}

// same reports the elements of got that are not bitwise want's.
func same(r reporter, what string, got, want []float32) {
	r.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			r.Errorf("%s: [%d] = %g, want %g bit for bit", what, i, got[i], want[i])
			return
		}
	}
}
