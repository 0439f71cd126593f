package gemm

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Kernel names a micro-kernel implementation.
type Kernel string

// The kernels this package knows. Which ones a CPU can run is Available().
const (
	AVX512  Kernel = "avx512"
	AVX2    Kernel = "avx2"
	Generic Kernel = "generic"
)

// KC is the length of the K blocks the numeric contract is defined over (see
// the package doc). It is part of what a result means, not a tuning knob:
// changing it changes results in the last bits.
const KC = 256

// Cache blocking of the packed path. Unlike KC these do not affect results.
// MC·KC floats of packed A (144 KiB) stay in the 512 KiB L2 of a Zen 3 core;
// KC·NC floats of packed B live in L3.
const (
	mcBlock = 144 // multiple of every kernel's mr
	ncBlock = 2048
	// msBlock rows of A are packed per K block before any is used, so that
	// goroutines can share them; it bounds that buffer (2.3 MiB).
	msBlock = 16 * mcBlock
)

// minParallelWork is the m·n·k below which a product runs on the calling
// goroutine: starting and joining goroutines costs a few microseconds, which
// is what a product of this size takes on one core.
const minParallelWork = 1 << 18

// impl is a runnable micro-kernel. It multiplies an mr×kc A panel (element
// (r, l) at a[r·ars + l·als], packed or in place) by a kc×nr B panel (row l
// at b[l·bls:], packed or in place),
// accumulating each dot product from +0 in ascending l with a float32 FMA,
// then sets c = fma(alpha, acc, c0) on the mv×nv top-left corner of the tile
// at c (rows ldc apart), where c0 is 0 (mode 0), c (mode 1) or
// float32(beta·c) (mode 2). It neither reads nor writes C outside that
// corner, nor A outside its first mv rows.
type impl struct {
	mr, nr int
	micro  func(kc int, a []float32, ars, als int, b []float32, bls int, c []float32, ldc, mv, nv int, alpha, beta float32, mode int)
}

// Available returns the kernels this CPU can run, best first. Generic is
// always last. AVX512 is listed only when the CPU has it and its one-time
// self-check against Generic passed.
func Available() []Kernel {
	var ks []Kernel
	if hasAVX512() && avx512SelfCheck() == nil {
		ks = append(ks, AVX512)
	}
	if hasAVX2() {
		ks = append(ks, AVX2)
	}
	return append(ks, Generic)
}

// Best returns the fastest kernel this CPU can run.
func Best() Kernel { return Available()[0] }

// ParseKernel maps a user-supplied name to a kernel this CPU can run. "" and
// "auto" select Best().
func ParseKernel(s string) (Kernel, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || s == "auto" {
		return Best(), nil
	}
	avail := Available()
	for _, k := range avail {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(avail))
	for i, k := range avail {
		names[i] = string(k)
	}
	switch Kernel(s) {
	case AVX512, AVX2, Generic:
		return "", fmt.Errorf("gemm: kernel %q is not available on this CPU (available: %s)", s, strings.Join(names, ", "))
	}
	return "", fmt.Errorf("gemm: unknown kernel %q (available: auto, %s)", s, strings.Join(names, ", "))
}

// Gemm multiplies float32 matrices with one kernel and a fixed number of
// threads. It is immutable after New and safe for concurrent use.
type Gemm struct {
	kernel  Kernel
	threads int
	im      impl
	pool    *sync.Pool // of *workspace
	// packA and packB force (+1) or forbid (−1) packing A or B; 0 lets
	// directA and directB decide. Only tests set them, to show that every
	// way gives the same bits.
	packA, packB int
}

// New returns a Gemm running kernel k on up to threads goroutines
// (threads ≤ 0 means runtime.NumCPU()). It fails when k is unknown or this
// CPU cannot run it.
func New(k Kernel, threads int) (*Gemm, error) {
	im, err := lookup(k)
	if err != nil {
		return nil, err
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return &Gemm{kernel: k, threads: threads, im: im, pool: &sync.Pool{}}, nil
}

func lookup(k Kernel) (impl, error) {
	switch k {
	case Generic:
		return genericImpl, nil
	case AVX2:
		if !hasAVX2() {
			return impl{}, fmt.Errorf("gemm: kernel avx2 needs AVX2 and FMA, which this CPU lacks")
		}
		return avx2Impl, nil
	case AVX512:
		if !hasAVX512() {
			return impl{}, fmt.Errorf("gemm: kernel avx512 needs AVX-512 F, which this CPU lacks")
		}
		if err := avx512SelfCheck(); err != nil {
			return impl{}, err
		}
		return avx512Impl, nil
	}
	return impl{}, fmt.Errorf("gemm: unknown kernel %q (kernels: %s, %s, %s)", string(k), AVX512, AVX2, Generic)
}

// Kernel returns the kernel g runs.
func (g *Gemm) Kernel() Kernel { return g.kernel }

// Threads returns the most goroutines one Sgemm call of g uses.
func (g *Gemm) Threads() int { return g.threads }

// workspace holds one call's packing buffers: packed B for one K block and
// column block, packed A for one K block and row super-block.
type workspace struct {
	a, b []float32
}

func (g *Gemm) getWorkspace(kc, ms, nc int) *workspace {
	ws, _ := g.pool.Get().(*workspace)
	if ws == nil {
		ws = &workspace{}
	}
	mr, nr := g.im.mr, g.im.nr
	if need := kc * roundUp(ms, mr); cap(ws.a) < need {
		ws.a = make([]float32, need)
	}
	if need := kc * roundUp(nc, nr); cap(ws.b) < need {
		ws.b = make([]float32, need)
	}
	return ws
}

// problem is one Sgemm call's operands.
type problem struct {
	tA, tB        bool
	m, n, k       int
	alpha, beta   float32
	a, b, c       []float32
	lda, ldb, ldc int
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C in row-major storage, where
// op(X) is Xᵀ when the matching flag is set. A is m×k (k×m when tA) with rows
// lda apart, B is k×n (n×k when tB) with rows ldb apart and C is m×n with rows
// ldc apart. beta == 0 means C is only written, never read. With k == 0 the
// result is C = beta·C. Results follow the numeric contract in the package
// doc. C must not overlap A or B. Sgemm panics when a size is negative, a
// leading dimension is smaller than its row length or a slice is too short.
func (g *Gemm) Sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	p := problem{tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta, a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc}
	p.check("Sgemm", -1)
	if m == 0 || n == 0 {
		return
	}
	g.run(&p, g.threads)
}

// Product is the arguments of one Sgemm call, for SgemmBatch.
type Product struct {
	TA, TB  bool
	M, N, K int
	Alpha   float32
	A       []float32
	LDA     int
	B       []float32
	LDB     int
	Beta    float32
	C       []float32
	LDC     int
}

// SgemmBatch computes every product of ps, with exactly the results of
// calling Sgemm on each (the numeric contract does not depend on threads).
// Small products run whole, one per goroutine, on up to Threads()
// goroutines, which is how many small products (attention heads, say) keep
// all threads busy; a product big enough to be split runs alone on all
// threads. The products' C must not overlap each other or any A or B.
// SgemmBatch panics like Sgemm, before computing anything, if any product's
// arguments are inconsistent.
func (g *Gemm) SgemmBatch(ps []Product) {
	probs := make([]problem, len(ps))
	for i, q := range ps {
		probs[i] = problem{tA: q.TA, tB: q.TB, m: q.M, n: q.N, k: q.K, alpha: q.Alpha, beta: q.Beta, a: q.A, b: q.B, c: q.C, lda: q.LDA, ldb: q.LDB, ldc: q.LDC}
		probs[i].check("SgemmBatch", i)
	}
	var small []int
	for i := range probs {
		p := &probs[i]
		switch {
		case p.m == 0 || p.n == 0:
		case g.threads > 1 && p.work() >= 16*minParallelWork:
			g.run(p, g.threads)
		default:
			small = append(small, i)
		}
	}
	if g.threads <= 1 || len(small) <= 1 {
		for _, i := range small {
			g.run(&probs[i], 1)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			u := int(next.Add(1) - 1)
			if u >= len(small) {
				return
			}
			g.run(&probs[small[u]], 1)
		}
	}
	var wg sync.WaitGroup
	for range min(g.threads, len(small)) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// check panics, naming op (and the product's index in a batch, if idx ≥ 0),
// when p's sizes, leading dimensions or slices are inconsistent.
func (p *problem) check(op string, idx int) {
	m, n, k := p.m, p.n, p.k
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: %s: negative size m=%d n=%d k=%d", opName(op, idx), m, n, k))
	}
	ar, ac := m, k
	if p.tA {
		ar, ac = k, m
	}
	br, bc := k, n
	if p.tB {
		br, bc = n, k
	}
	checkMatrix(op, idx, "A", ar, ac, p.a, p.lda, m, n, k)
	checkMatrix(op, idx, "B", br, bc, p.b, p.ldb, m, n, k)
	checkMatrix(op, idx, "C", m, n, p.c, p.ldc, m, n, k)
}

func opName(op string, idx int) string {
	if idx < 0 {
		return op
	}
	return fmt.Sprintf("%s product %d", op, idx)
}

// work is m·n·k in int64: on 32-bit platforms it overflows int.
func (p *problem) work() int64 { return int64(p.m) * int64(p.n) * int64(max(p.k, 1)) }

func checkMatrix(op string, idx int, name string, rows, cols int, x []float32, ld, m, n, k int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: %s(m=%d n=%d k=%d): ld%s=%d is less than %s's row length %d", opName(op, idx), m, n, k, strings.ToLower(name), ld, name, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("gemm: %s(m=%d n=%d k=%d): %s is %d×%d with ld%s=%d and needs %d elements, has %d", opName(op, idx), m, n, k, name, rows, cols, strings.ToLower(name), ld, need, len(x)))
	}
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }

// run is the GotoBLAS loop nest. For each column block jc and K block pc
// (ascending, so every element receives its K blocks in order), op(B) is
// packed once and shared; then, per super-block of rows, op(A) is packed per
// row block and the products of row blocks with column chunks are handed out
// dynamically to the goroutines. A goroutine that is descheduled therefore
// delays only the unit it holds. Every element of C is updated by exactly one
// unit per K block, with the same kernel arithmetic whatever the split, so
// neither the thread count nor the scheduling can change a bit.
func (g *Gemm) run(p *problem, threads int) {
	if p.work() < minParallelWork {
		threads = 1
	}
	if p.k == 0 {
		scaleC(p, 0, p.m, 0, p.n)
		return
	}
	j := job{g: g, p: *p, threads: threads, directB: g.directB(p)}
	// beta is applied by the first K block, inside the kernel, so C is
	// traversed once per K block and, with beta == 0, never read.
	first := 2
	switch p.beta {
	case 0:
		first = 0
	case 1:
		first = 1
	}
	nr := g.im.nr
	ms := min(msBlock, p.m)
	j.ws = g.getWorkspace(min(KC, p.k), ms, min(ncBlock, p.n))
	defer g.pool.Put(j.ws)
	for j.jc = 0; j.jc < p.n; j.jc += ncBlock {
		j.nc = min(ncBlock, p.n-j.jc)
		j.panels = (j.nc + nr - 1) / nr
		for j.pc = 0; j.pc < p.k; j.pc += KC {
			j.kc = min(KC, p.k-j.pc)
			j.mode = 1
			if j.pc == 0 {
				j.mode = first
			}
			// Pack B in chunks of at least 8 panels, in parallel when there
			// are several: a serial copy of a large B would idle the other
			// goroutines for a few percent of the product.
			j.bChunks = min(threads, max(1, j.panels/8))
			for j.is = 0; j.is < p.m; j.is += ms {
				j.mRange = min(ms, p.m-j.is)
				j.blocks = (j.mRange + mcBlock - 1) / mcBlock
				j.direct = g.directA(p, min(mcBlock, j.mRange), j.nc)
				// One parallel step packs B (with the first row super-block)
				// and A: every start and join of goroutines costs wake-up
				// latency that small products feel.
				nb, na := 0, 0
				switch {
				case j.is > 0:
				case !j.directB:
					nb = j.bChunks
				case j.nc%nr != 0:
					nb = 1 // only the partial last panel is packed
				}
				if !j.direct {
					na = j.blocks
				}
				j.packBUnits = nb
				j.forEach(unitPack, nb+na)
				// Enough units per row block that the goroutines can balance.
				j.chunks = 1
				if threads > 1 {
					j.chunks = min(j.panels, max(1, (4*threads+j.blocks-1)/j.blocks))
				}
				j.forEach(unitCompute, j.blocks*j.chunks)
			}
		}
	}
}

// job is the state of one run: the loop indices of the current step and
// what its units need. Units only read it.
type job struct {
	g       *Gemm
	p       problem // a copy, so that only spawn's copy of the job escapes
	ws      *workspace
	threads int

	jc, nc, panels, bChunks int  // column block
	pc, kc, mode            int  // K block
	is, mRange, blocks      int  // row super-block
	packBUnits              int  // the first pack units pack B, the rest A
	chunks                  int  // panel chunks per row block
	direct                  bool // A read in place for this row super-block
	directB                 bool // B read in place, but for a partial last panel
}

const (
	unitPack = iota
	unitCompute
)

func (j *job) unit(kind, u int) {
	p, nr, kc := &j.p, j.g.im.nr, j.kc
	switch {
	case kind == unitPack && u < j.packBUnits && j.directB:
		if full := j.nc / nr * nr; full < j.nc {
			packB(j.ws.b[full*kc:], p, j.pc, kc, j.jc+full, j.nc-full, nr)
		}
	case kind == unitPack && u < j.packBUnits:
		p0, p1 := j.panels*u/j.bChunks, j.panels*(u+1)/j.bChunks
		if p0 < p1 {
			packB(j.ws.b[p0*nr*kc:], p, j.pc, kc, j.jc+p0*nr, min(p1*nr, j.nc)-p0*nr, nr)
		}
	case kind == unitPack:
		u -= j.packBUnits
		ic := j.is + u*mcBlock
		packA(j.ws.a[u*mcBlock*kc:], p, ic, min(mcBlock, j.is+j.mRange-ic), j.pc, kc, j.g.im.mr)
	default:
		bi, ci := u/j.chunks, u%j.chunks
		ic := j.is + bi*mcBlock
		mc := min(mcBlock, j.is+j.mRange-ic)
		p0, p1 := j.panels*ci/j.chunks, j.panels*(ci+1)/j.chunks
		if p0 == p1 {
			return
		}
		var ap []float32
		if !j.direct {
			ap = j.ws.a[bi*mcBlock*kc:]
		}
		j.g.macro(p, ap, j.ws.b[p0*nr*kc:], j.directB, ic, mc, j.jc+p0*nr, min(p1*nr, j.nc)-p0*nr, j.pc, kc, j.mode)
	}
}

// forEach runs units 0..n-1 of one kind, in parallel when the job has
// several threads. The serial case lets j stay on the caller's stack.
func (j *job) forEach(kind, n int) {
	if j.threads <= 1 || n <= 1 {
		for u := range n {
			j.unit(kind, u)
		}
		return
	}
	spawn(*j, kind, n)
}

// spawn hands units 0..n-1 out in order to up to j.threads goroutines, the
// caller's included. It works on a copy of the job, which is what escapes to
// the heap.
func spawn(j job, kind, n int) {
	var next atomic.Int64
	work := func() {
		for {
			u := int(next.Add(1) - 1)
			if u >= n {
				return
			}
			j.unit(kind, u)
		}
	}
	var wg sync.WaitGroup
	for range min(j.threads, n) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// scaleC applies beta once, before any K block is added: c = beta·c, or 0 when
// beta == 0 so that whatever C held (NaN included) is never read.
func scaleC(p *problem, i0, i1, j0, j1 int) {
	if p.beta == 1 {
		return
	}
	for i := i0; i < i1; i++ {
		row := p.c[i*p.ldc+j0 : i*p.ldc+j1]
		if p.beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] = float32(p.beta * row[j])
		}
	}
}

// directA reports whether the kernel should read op(A) in place rather than
// from a packed copy. Packing costs a read and a write of every element and
// pays off when the block is read by many B panels; reading in place is fast
// when the panel's rows are few pages apart (op(A) = A: six rows per panel)
// or when A is small enough to stay in L1. The choice never changes results:
// the kernel performs the same operations on the same values either way.
func (g *Gemm) directA(p *problem, mc, nc int) bool {
	if g.packA != 0 {
		return g.packA < 0
	}
	panels := (nc + g.im.nr - 1) / g.im.nr
	if !p.tA {
		return panels <= 8 || mc <= 2*g.im.mr
	}
	return panels <= 2 || p.m*p.k <= 4096
}

// directB reports whether the kernel should read op(B) in place rather than
// from a packed copy. Products with few rows do: every packed element of B
// would be used by at most three row panels, so the copy costs about as much
// memory traffic as the product (a row times a matrix is bandwidth-bound);
// measured on Zen 3 it doubles the speed of 1 to 12-row products. So do
// products whose B is small enough (64 KiB) to stay in cache either way.
// Only op(B) = B qualifies, whose panel rows are contiguous. The choice never
// changes results.
func (g *Gemm) directB(p *problem) bool {
	if g.packB != 0 {
		return g.packB < 0 && !p.tB
	}
	return !p.tB && (p.m <= 3*g.im.mr || int64(p.k)*int64(p.n) <= 1<<14)
}

// macro runs the micro-kernel over one mc×kc block of A (packed in ap, or in
// place when ap is nil) and nc columns of packed B starting at bp (or, with
// directB, of B in place, but for a partial last panel, which is packed).
// Edge tiles run the full tile arithmetic on zero padding and update only
// their valid corner, so their elements see exactly the operations of a
// full tile.
func (g *Gemm) macro(p *problem, ap, bp []float32, directB bool, ic, mc, jc, nc, pc, kc, mode int) {
	mr, nr := g.im.mr, g.im.nr
	micro := g.im.micro
	alpha, beta := p.alpha, p.beta
	c, ldc := p.c, p.ldc
	ars, als := 1, mr
	if ap == nil {
		ars, als = p.lda, 1
		if p.tA {
			ars, als = 1, p.lda
		}
	}
	for jr := 0; jr < nc; jr += nr {
		nv := min(nr, nc-jr)
		bpanel, bls := bp[jr*kc:jr*kc+nr*kc], nr
		if directB && nv == nr {
			bpanel, bls = p.b[pc*p.ldb+jc+jr:], p.ldb
		}
		for ir := 0; ir < mc; ir += mr {
			mv := min(mr, mc-ir)
			var a []float32
			switch {
			case ap != nil:
				a = ap[ir*kc : ir*kc+mr*kc]
			case p.tA:
				a = p.a[pc*p.lda+ic+ir:]
			default:
				a = p.a[(ic+ir)*p.lda+pc:]
			}
			micro(kc, a, ars, als, bpanel, bls, c[(ic+ir)*ldc+jc+jr:], ldc, mv, nv, alpha, beta, mode)
		}
	}
}
