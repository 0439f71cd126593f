//go:build amd64

package projection

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/trak-dev/trak/internal/philox"
)

// sentinel marks the parts of a destination fillGroup must not write.
var sentinel = math.Float32frombits(0x7fc0dead)

// checkTile fills a rows × width tile of group g from row0 with fillGroup,
// into a buffer of stride ld with sentinels around it, and compares every
// entry with want(row, col) bit for bit.
func checkTile(t *testing.T, pr *Projector, row0 int64, rows, group, width, ld int, want func(r int64, c int) float32) {
	t.Helper()
	const pad = 7
	buf := make([]float32, pad+rows*ld+pad)
	for i := range buf {
		buf[i] = sentinel
	}
	pr.fillGroup(buf[pad:pad+(rows-1)*ld+width], ld, row0, rows, group, width)
	for i := range buf {
		o := i - pad
		inside := o >= 0 && o < rows*ld && o%ld < width
		got := math.Float32bits(buf[i])
		if !inside {
			if got != math.Float32bits(sentinel) {
				t.Fatalf("row0 %d rows %d group %d width %d ld %d: wrote %#x outside the tile at offset %d",
					row0, rows, group, width, ld, got, o)
			}
			continue
		}
		r, c := row0+int64(o/ld), group*groupCols+o%ld
		if w := math.Float32bits(want(r, c)); got != w {
			t.Fatalf("row0 %d rows %d group %d width %d ld %d: P[%d, %d] = %#x, want %#x",
				row0, rows, group, width, ld, r, c, got, w)
		}
	}
}

// TestFillRademacherMatchesEntry checks the tiles fillGroup generates against
// Entry, bit for bit: random seeds and dimensions, row offsets near 0, near
// 2³² (the high counter word changes inside the tile) and random, row counts
// that are and are not multiples of 8, full and partial groups, strides
// larger than the width.
func TestFillRademacherMatchesEntry(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 128))
	for iter := range 60 {
		dim := []int{128, 256, 300, 1000, 2048}[iter%5]
		pr, err := New(Spec{Kind: Rademacher, Dim: dim, Seed: rng.Int64(), ModelID: rng.IntN(5), NumParams: 1 << 40}, 1)
		if err != nil {
			t.Fatal(err)
		}
		groups := (dim + groupCols - 1) / groupCols
		group := rng.IntN(groups)
		width := min(groupCols, dim-group*groupCols)
		rows := []int{1, 2, 7, 8, 9, 15, 16, 17, 63, 64}[rng.IntN(10)]
		var row0 int64
		switch iter % 3 {
		case 0:
			row0 = int64(rng.IntN(100))
		case 1:
			row0 = 1<<32 - int64(rng.IntN(rows+3)) // crosses 2³² for most draws
		default:
			row0 = rng.Int64N(1<<40 - 64)
		}
		ld := width + []int{0, 0, 1, 5, 128}[rng.IntN(5)]
		checkTile(t, pr, row0, rows, group, width, ld, pr.Entry)
		if width == groupCols && group+1 < groups {
			// The same rows as a partial group: the portable path.
			w := 1 + rng.IntN(groupCols-1)
			checkTile(t, pr, row0, rows, group, w, w+rng.IntN(3), pr.Entry)
		}
	}
}

// TestFillRademacherMany compares many more full-group tiles with the
// definition, computing the reference with one philox.Block per row.
func TestFillRademacherMany(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	n := 3000
	if testing.Short() {
		n = 200
	}
	for iter := range n {
		pr, err := New(Spec{Kind: Rademacher, Dim: 128 * (1 + rng.IntN(40)), Seed: rng.Int64(), NumParams: math.MaxInt64}, 1)
		if err != nil {
			t.Fatal(err)
		}
		rows := 1 + rng.IntN(70)
		var row0 int64
		if iter%4 == 0 {
			row0 = int64(rng.Uint32N(8)+1)<<32 - int64(rng.IntN(80))
		} else {
			row0 = rng.Int64N(math.MaxInt64 - 128)
		}
		group := rng.IntN(pr.Dim() / groupCols)
		ld := groupCols + rng.IntN(3)*64
		var cache [4]uint32
		cachedRow := int64(-1)
		checkTile(t, pr, row0, rows, group, groupCols, ld, func(r int64, c int) float32 {
			if r != cachedRow {
				u := uint64(r)
				cache = philox.Block(pr.key, philox.Counter{uint32(c / 128), uint32(u), uint32(u >> 32), DomainRademacher})
				cachedRow = r
			}
			j := c % 128
			if cache[j/32]>>(j%32)&1 == 1 {
				return pr.sign
			}
			return -pr.sign
		})
	}
}

// TestFillRademacherFastPath checks that the vector path runs on this machine
// when it has AVX2, and declines the cases it does not handle.
func TestFillRademacherFastPath(t *testing.T) {
	pr, err := New(Spec{Kind: Rademacher, Dim: 256, Seed: 1, NumParams: 1 << 20}, 1)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 64*groupCols)
	taken := pr.fillRademacherFast(dst, groupCols, 0, 64, 1, groupCols)
	t.Logf("vector rademacher path available: %v, taken for a full 64 × 128 tile: %v", generateAVX2, taken)
	if taken != generateAVX2 {
		t.Errorf("fillRademacherFast took the vector path: %v, want %v", taken, generateAVX2)
	}
	if pr.fillRademacherFast(dst, groupCols, 0, 64, 1, 100) {
		t.Error("fillRademacherFast took a partial group")
	}
	if pr.fillRademacherFast(dst, 64, 0, 8, 1, groupCols) {
		t.Error("fillRademacherFast took overlapping rows (ld < 128)")
	}
}

// BenchmarkExpandSigns8 measures the sign expansion alone: eight rows of 128
// entries into an L1-resident tile.
func BenchmarkExpandSigns8(b *testing.B) {
	if !generateAVX2 {
		b.Skip("no vector path on this machine")
	}
	var x philox.Lanes8
	for w := range 4 {
		for i := range 8 {
			x[w][i] = uint32(w*8+i) * 0x9E3779B9
		}
	}
	dst := make([]float32, 64*groupCols)
	for i := 0; i < b.N; i++ {
		expandSigns8(&dst[(i%8)*8*groupCols], groupCols*4, &x, 8, 0x3d800000)
	}
	b.ReportMetric(8*groupCols*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// TestPipeStateLayout checks the field offsets generate_amd64.s uses.
func TestPipeStateLayout(t *testing.T) {
	var st pipeState
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"keys", unsafe.Offsetof(st.keys), 0},
		{"grp", unsafe.Offsetof(st.grp), 640},
		{"dom", unsafe.Offsetof(st.dom), 672},
		{"rowA", unsafe.Offsetof(st.rowA), 704},
		{"rowB", unsafe.Offsetof(st.rowB), 736},
		{"buf", unsafe.Offsetof(st.buf), 768},
	} {
		if f.got != f.want {
			t.Errorf("pipeState.%s at offset %d, the assembly expects %d", f.name, f.got, f.want)
		}
	}
}

// BenchmarkGenerateTile generates rademacher tiles of the shape the
// Accumulator uses, tileRows × 128 (32 KiB, L1-resident), in entries per
// second on one goroutine.
func BenchmarkGenerateTile(b *testing.B) {
	pr, err := New(Spec{Kind: Rademacher, Dim: 2048, Seed: 1, NumParams: 1 << 40}, 1)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, tileRows*groupCols)
	var row int64
	for i := 0; i < b.N; i++ {
		pr.fillGroup(dst, groupCols, row, tileRows, i%16, groupCols)
		row += tileRows
	}
	b.ReportMetric(float64(tileRows*groupCols)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
