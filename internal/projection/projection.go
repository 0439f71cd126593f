// Package projection computes trak's random projections of per-example
// gradients, g ↦ Pᵀg with g ∈ Rᵖ (p = number of model parameters) and a
// p × k matrix P, without ever storing or materialising P.
//
// Every entry P[r, c] is a pure function of (seed, model id, r, c) computed
// with the Philox4x32-10 counter-based generator (package philox), so any
// machine, CPU or GPU, at any chunk size, batch size or worker count,
// generates the same P. The definition below is exact; a GPU kernel that
// follows it reproduces every rademacher entry bit for bit.
//
// # Definition of P
//
// Notation: r is the row (a parameter index, 0 ≤ r < p, an int64 taken as
// uint64), c the column (0 ≤ c < k), k = Spec.Dim, uint32(x) keeps the low 32
// bits of x, and "/" and "%" are integer division and remainder.
//
// Key. Each (seed, model id) pair has its own key:
//
//	seed' = uint64(Seed) ⊕ philox.SplitMix64(uint64(int64(ModelID)))
//	key   = philox.KeyFromSeed(seed')
//
// Scale. h = 1 / math.Sqrt(float64(k)), evaluated in float64 (a correctly
// rounded square root, then a correctly rounded division).
//
// Rademacher (the default). Entries are ±s with s = float32(h), the float32
// nearest to h. One Philox call gives the 128 entries of a row in columns
// 128·q … 128·q+127:
//
//	x = philox.Block(key, Counter{uint32(c/128), uint32(r), uint32(r>>32), DomainRademacher})
//	j = c % 128
//	P[r, c] = +s if bit j%32 of x[j/32] is 1 (bit 0 = least significant), else −s
//
// Normal. Entries are N(0, 1/k), four per Philox call, from two Box–Muller
// pairs evaluated in float64:
//
//	x  = philox.Block(key, Counter{uint32(c/4), uint32(r), uint32(r>>32), DomainNormal})
//	u_i = (float64(x[i]) + 0.5) · 2⁻³²             (exact; u_i ∈ (0, 1))
//	ρ₀ = √(−2·ln u₀),  θ₀ = 2π·u₁                 (2π as the float64 nearest to it)
//	ρ₁ = √(−2·ln u₂),  θ₁ = 2π·u₃
//	z  = (ρ₀·cos θ₀, ρ₀·sin θ₀, ρ₁·cos θ₁, ρ₁·sin θ₁)
//	P[r, c] = float32(z[c%4] · h)                  (product in float64, then rounded to float32)
//
// The normal entries depend on float64 log, sin and cos, which are not
// correctly rounded: another device or math library can differ in the last
// float64 bit, and so, rarely, in the last float32 bit of an entry. Rademacher
// entries use only integer arithmetic and the correctly rounded h, and are
// exact everywhere.
//
// SJLT (sparse Johnson–Lindenstrauss transform, block construction of Kane
// and Nelson; s = 1 is CountSketch). Each row has exactly s non-zeros
// (s = Spec.NonZeros, 1 ≤ s ≤ k), one in each of s contiguous column blocks:
//
//	b_j = ⌊j·k/s⌋ for j = 0 … s      (integer arithmetic; b_0 = 0, b_s = k)
//	block j = columns [b_j, b_{j+1}),  width w_j = b_{j+1} − b_j ≥ 1
//	x = philox.Block(key, Counter{uint32(j/2), uint32(r), uint32(r>>32), DomainSJLT})
//	col_j = b_j + ⌊x[2·(j%2)]·w_j / 2³²⌋    (the 64-bit product shifted right by 32)
//	P[r, col_j] = +v if bit 0 of x[2·(j%2)+1] is 1, else −v
//	P[r, c] = 0 for every other column c
//
// with v = float32(1 / math.Sqrt(float64(s))): a correctly rounded float64
// square root and division, then rounded to the nearest float32. One Philox
// call serves column blocks j and j+1 of a row (j even); for odd s the last
// call's words 2 and 3 are unused, and for s = 1 words 2 and 3 always are.
// The non-zeros of a row lie in distinct columns, the column within its
// block is uniform up to the 2⁻³² granularity of x, and the sign is
// independent of the column.
//
// None. P is the p × p identity (k = p); no random numbers are drawn.
//
// With the 1/√k scale, E[P[r,c]] = 0 and E[P[r,c]²] = 1/k (up to the float32
// rounding of s for rademacher), so E‖Pᵀg‖² = ‖g‖² for every g: the
// regularisation λ of the later solve means the same thing whatever k is.
// For SJLT, E[P[r,c]] = 0 and Σ_c P[r,c]² = s·v² = 1 within 2⁻²³ for every
// row, and distinct rows' entries are independent with mean zero, so again
// E‖Pᵀg‖² = ‖g‖².
//
// # Computing Pᵀg
//
// An Accumulator receives the gradients of a batch of B examples a range of
// parameters at a time, in any order (a backward pass delivers the last
// layers first) and sparsely (of an embedding table, only the rows that some
// example of the batch uses), and produces the B × k features. Within a
// batch each parameter is added at most once; a parameter never added is
// zero.
//
// P's rows are cut into global blocks of R = BlockRows rows aligned to
// multiples of R: block t covers rows [t·R, min((t+1)·R, p)), whatever the
// caller's ranges. For every block that received at least one row in the
// batch, the block partial
//
//	S_t[b, c] = Σ_{r in block t} g_b[r]·P[r, c]
//
// is computed in float32, the block's rows that were not added being zeros.
// P_t is generated in tiles of 64 rows × 128 columns (never more than that
// per worker). For each tile u that received a row, in ascending order, its
// dot products are float32 fused multiply-add chains over the tile's rows in
// ascending order, started from +0, and are added to the partial with one
// more fused multiply-add (internal/gemm's numeric contract for a product
// with K = 64 < gemm.KC, α = 1, β = 0 for the first such tile and 1 after):
//
//	T_u[b, c] = fma32(g_b[r₆₃], P[r₆₃, c], … fma32(g_b[r₀], P[r₀, c], +0) …)
//	S_t[b, c] = T_u₀ for the first tile, then S_t = fma32(1, T_u, S_t) = T_u + S_t
//
// A tile in which no row was added contributes exact zeros and is skipped. The feature is the
// float32 obtained by rounding the exact real sum of those partials to
// nearest, ties to even:
//
//	feature[b, c] = round32( Σ_t S_t[b, c] )      (the sum taken exactly)
//
// An exact zero sum gives +0, a sum beyond the float32 range ±Inf (by the
// same rounding rule), and subnormal results are rounded like the others. If
// any partial of a feature is NaN, or its partials include both +Inf and
// −Inf, the feature is NaN (always the quiet NaN 0x7fc00000); otherwise an
// infinite partial gives that infinity.
//
// Because the sum is exact, the order in which blocks are completed, and so
// the delivery order, does not matter; because the blocks are fixed, the
// caller's chunking does not; and because rows that were not added are exact
// zeros, a row of zeros gives the same result whether it was added or left
// out, and an example's features do not depend on which rows the other
// examples of its batch used. Workers take whole 128-column groups, and
// examples are multiplied 64 rows at a time. So feature[b, ·] is
// bit-identical whatever the caller's chunking, delivery order and sparsity
// and whatever the worker count, and, because the partials are defined
// element by element above, whatever the batch size, the example's position
// in it, the GEMM kernel (every kernel of internal/gemm computes those
// bits) and the machine. R and the 64-row tiles are part of the numeric
// definition: changing them changes the last bits.
//
// The exact sum costs B·k additions of a float32 into a fixed-point
// accumulator per block, against 2·B·R·k flops for the block's GEMM.
//
// # Computing Pᵀg for SJLT
//
// SJLT uses the same exact sum over blocks, with blocks of
// R = SJLTBlockRows = 65,536 rows aligned to multiples of R (an SJLT block's
// partial costs B·s·R additions, so with 512 rows the B·k of the exact sum
// would dominate). The partial of block t is computed without a GEMM:
//
//	U_t[b, c] = 0 (float32 +0); then for each row r of block t in ascending
//	order that received a gradient, and for j = 0 … s−1 in order:
//	    U_t[b, col_j(r)] = float32(U_t[b, col_j(r)] + σ_j(r)·g_b[r])
//	S_t[b, c] = float32(U_t[b, c] · v)      (skipped when s = 1, v = 1)
//
// where σ_j(r) = ±1 is the sign of the non-zero of block j, so σ·g is exact
// (a sign flip), every addition is a float32 addition rounded to nearest
// even (no fused multiply-add: there is no multiplication), and the scale
// is applied once per block and column. Rows that did not receive a
// gradient are skipped; that equals adding zeros, since U starts at +0, so
// is never −0, and x + ±0 = x for every other x. Then, as for the dense
// kinds, feature[b, c] = round32(Σ_t S_t[b, c]) with the sum exact. A
// partially delivered block is staged as the ranges that arrived (at most
// B × R floats), sorted by row before its partial is computed. The
// Accumulator generates the (column, sign) pairs of a tile of a block's
// rows once, its workers sharing out the rows, and transposes the batch's
// gradient rows so that one row's values for all examples are contiguous;
// each non-zero is then one vector addition into the partial's column for
// every example at once, the workers sharing out the columns. A column
// belongs to one block j, so it receives its terms in ascending row order
// whoever adds them: the result is bit-identical whatever the chunking,
// delivery order, sparsity, worker count, batch size and position, exactly
// as for the dense kinds. The cost is O(p·s) per example (p·⌈s/2⌉ Philox
// calls per batch), against O(p·k).
package projection

import (
	"fmt"
	"math"
	"strings"

	"github.com/trak-dev/trak/internal/philox"
)

// Kind names a family of projection matrices.
type Kind string

// The projection kinds. See the package documentation for their exact
// definitions.
const (
	Rademacher Kind = "rademacher" // entries ±1/√k; the default
	Normal     Kind = "normal"     // entries N(0, 1/k)
	SJLT       Kind = "sjlt"       // sparse: s entries ±1/√s per row
	None       Kind = "none"       // the identity: features are the gradients, k = p
)

// validKinds lists the valid kinds, default first, for error messages.
const validKinds = "rademacher, normal, sjlt, none"

// ParseKind returns the Kind named by s (case-insensitive, surrounding space
// ignored). An unknown name is an error that lists the valid ones.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case Rademacher, Normal, SJLT, None:
		return k, nil
	}
	return "", fmt.Errorf("unknown projection kind %q (valid kinds: %s)", s, validKinds)
}

// Domain separators: word 3 of the Philox counter, so that the rademacher and
// normal matrices of one key draw from disjoint counter ranges.
const (
	DomainRademacher uint32 = 1
	DomainNormal     uint32 = 2
	DomainSJLT       uint32 = 3
)

// DefaultNonZeros is the number s of non-zeros per row of an SJLT matrix
// when Spec.NonZeros is 0. See the quality measurements of
// TestCLIPReferenceProjected in cmd/trak for the choice.
const DefaultNonZeros = 4

// SJLTBlockRows is the number of rows of P in one block of the Accumulator
// for kind SJLT (BlockRows is that of the dense kinds). A block's float32
// partial costs B·s·SJLTBlockRows additions, its exact sum B·k, so the
// blocks must be much longer than the dense kinds' for the exact sum not to
// dominate. It is part of the numeric definition of the output.
const SJLTBlockRows = 1 << 16

// maxSJLTDim bounds k for SJLT: the Accumulator packs a column and a sign
// into one uint32.
const maxSJLTDim = 1<<31 - 1

// BlockRows is R, the number of rows of P (parameters) in one block of the
// Accumulator. Blocks start at multiples of BlockRows. Each float32 partial
// sum runs over at most BlockRows terms before it enters the exact sum,
// which bounds its rounding error by about BlockRows·2⁻²⁴ relative to
// Σ|g·P| (typically √BlockRows·2⁻²⁴); the exact sum costs B·k additions per
// block, 1/BlockRows of the block's multiply-adds.
const BlockRows = 512

// groupCols is the width of the column groups that workers share out: one
// rademacher Philox call yields 128 entries, so a group is generated by
// exactly one worker, and the groups are also the GEMM's column tiles.
const groupCols = 128

// Spec identifies one projection matrix.
type Spec struct {
	// Kind selects the entry distribution. The zero value "" means
	// Rademacher, the default.
	Kind Kind
	// Dim is k, the number of columns (the feature dimension). It must be at
	// least 1 for Rademacher and Normal and is ignored for None, whose
	// dimension is NumParams.
	Dim int
	// Seed and ModelID select the matrix; each checkpoint (model id) of a run
	// has its own P.
	Seed    int64
	ModelID int
	// NumParams is p, the number of rows: the model's parameter count, at
	// least 1.
	NumParams int64
	// NonZeros is s, the number of non-zeros per row of an SJLT matrix,
	// 1 ≤ s ≤ k; 0 means DefaultNonZeros (or k, when k is smaller). The
	// other kinds ignore it, and New sets it to 0 for them.
	NonZeros int
}

// Projector is one projection matrix P together with the settings used to
// apply it. It holds no per-call state and is safe for concurrent use;
// each concurrent batch needs its own Accumulator.
type Projector struct {
	spec    Spec
	workers int
	dim     int
	key     philox.Key
	scale   float64  // h = 1/√k in float64, the normal scale
	sign    float32  // s = float32(h), the rademacher magnitude
	signTab *signTab // rademacher bit pattern → ±s floats; nil for other kinds

	// SJLT: the scale float32(1/√s), the first column b_j of each column
	// block j (s+1 entries, the last one k), and the block rows of the
	// Accumulator (SJLTBlockRows; tests make it smaller).
	sjltScale float32
	colStart  []int
	blockRows int
	sjltTile  int      // rows per tile of the SJLT table; changes only speed
	sjltBase  []uint32 // b_j, for the table generator
	sjltWidth []uint64 // w_j = b_{j+1} − b_j
}

// New validates s and returns its Projector. workers (≥ 1) is the number of
// goroutines an Accumulator uses to generate P and multiply by it; it has no
// effect on the result.
func New(s Spec, workers int) (*Projector, error) {
	if s.Kind == "" {
		s.Kind = Rademacher
	}
	switch s.Kind {
	case Rademacher, Normal, SJLT, None:
	default:
		return nil, fmt.Errorf("projection: unknown kind %q (valid kinds: %s)", s.Kind, validKinds)
	}
	if s.NumParams < 1 {
		return nil, fmt.Errorf("projection: number of parameters is %d, must be at least 1", s.NumParams)
	}
	if workers < 1 {
		return nil, fmt.Errorf("projection: workers is %d, must be at least 1", workers)
	}
	if s.Kind != SJLT {
		s.NonZeros = 0
	}
	p := &Projector{spec: s, workers: workers, blockRows: BlockRows}
	if s.Kind == None {
		if int64(int(s.NumParams)) != s.NumParams {
			return nil, fmt.Errorf("projection: %d parameters are too many for projector %q", s.NumParams, None)
		}
		p.dim = int(s.NumParams)
		p.spec.Dim = p.dim
		return p, nil
	}
	if s.Dim < 1 {
		return nil, fmt.Errorf("projection: dimension k is %d, must be at least 1", s.Dim)
	}
	if int64(s.Dim) > math.MaxUint32 {
		return nil, fmt.Errorf("projection: dimension k is %d, at most %d is supported", s.Dim, int64(math.MaxUint32))
	}
	p.dim = s.Dim
	p.key = philox.KeyFromSeed(uint64(s.Seed) ^ philox.SplitMix64(uint64(int64(s.ModelID))))
	p.scale = 1 / math.Sqrt(float64(s.Dim))
	p.sign = float32(p.scale)
	if s.Kind == Rademacher {
		p.signTab = newSignTab(p.sign)
	}
	if s.Kind == SJLT {
		if s.NonZeros == 0 {
			s.NonZeros = min(DefaultNonZeros, s.Dim)
			p.spec.NonZeros = s.NonZeros
		}
		if s.NonZeros < 1 || s.NonZeros > s.Dim {
			return nil, fmt.Errorf("projection: sjlt non-zeros per row s is %d, must be between 1 and the dimension k = %d", s.NonZeros, s.Dim)
		}
		if s.Dim > maxSJLTDim {
			return nil, fmt.Errorf("projection: dimension k is %d, at most %d is supported for projector %q", s.Dim, maxSJLTDim, SJLT)
		}
		p.sjltScale = float32(1 / math.Sqrt(float64(s.NonZeros)))
		p.colStart = make([]int, s.NonZeros+1)
		for j := range p.colStart {
			p.colStart[j] = int(int64(j) * int64(s.Dim) / int64(s.NonZeros))
		}
		p.sjltBase = make([]uint32, s.NonZeros)
		p.sjltWidth = make([]uint64, s.NonZeros)
		for j := range s.NonZeros {
			p.sjltBase[j] = uint32(p.colStart[j])
			p.sjltWidth[j] = uint64(p.colStart[j+1] - p.colStart[j])
		}
		p.blockRows = SJLTBlockRows
		p.sjltTile = max(64, sjltTableEntries/s.NonZeros)
	}
	return p, nil
}

// Spec returns the specification the Projector was built from, with the
// default kind filled in, for None, Dim set to NumParams, and NonZeros set to
// the s in use for SJLT and 0 for the other kinds.
func (p *Projector) Spec() Spec { return p.spec }

// Kind returns the projection kind.
func (p *Projector) Kind() Kind { return p.spec.Kind }

// Dim returns the output dimension: k, or NumParams for None.
func (p *Projector) Dim() int { return p.dim }

// NonZeros returns s, the number of non-zeros per row, for SJLT, and 0 for
// the other kinds.
func (p *Projector) NonZeros() int { return p.spec.NonZeros }

// NumParams returns p, the number of rows of P.
func (p *Projector) NumParams() int64 { return p.spec.NumParams }

// Workers returns the number of goroutines an Accumulator uses.
func (p *Projector) Workers() int { return p.workers }

// Key returns the Philox key of this (seed, model id) pair, the key of the
// package documentation, for kernels that generate P elsewhere.
func (p *Projector) Key() philox.Key { return p.key }

// Entry returns P[row, col] computed straight from the definition in the
// package documentation, one Philox call per entry. It is the reference the
// fast block generator and other devices are checked against. It panics if
// row is outside [0, NumParams) or col outside [0, Dim()).
func (p *Projector) Entry(row int64, col int) float32 {
	if row < 0 || row >= p.spec.NumParams {
		panic(fmt.Sprintf("projection: Entry row %d out of range [0, %d)", row, p.spec.NumParams))
	}
	if col < 0 || col >= p.dim {
		panic(fmt.Sprintf("projection: Entry column %d out of range [0, %d)", col, p.dim))
	}
	r := uint64(row)
	switch p.spec.Kind {
	case Rademacher:
		x := philox.Block(p.key, philox.Counter{uint32(col / 128), uint32(r), uint32(r >> 32), DomainRademacher})
		j := col % 128
		if x[j/32]>>(j%32)&1 == 1 {
			return p.sign
		}
		return -p.sign
	case Normal:
		x := philox.Block(p.key, philox.Counter{uint32(col / 4), uint32(r), uint32(r >> 32), DomainNormal})
		z := boxMuller(x)
		return float32(z[col%4] * p.scale)
	case SJLT:
		// The column block j holding col: b_j ≤ col < b_{j+1}.
		s, k := int64(p.spec.NonZeros), int64(p.dim)
		j := int(int64(col) * s / k)
		for j+1 < len(p.colStart)-1 && p.colStart[j+1] <= col {
			j++
		}
		for p.colStart[j] > col {
			j--
		}
		x := philox.Block(p.key, philox.Counter{uint32(j / 2), uint32(r), uint32(r >> 32), DomainSJLT})
		w := uint64(p.colStart[j+1] - p.colStart[j])
		if p.colStart[j]+int(uint64(x[2*(j%2)])*w>>32) != col {
			return 0
		}
		if x[2*(j%2)+1]&1 == 1 {
			return p.sjltScale
		}
		return -p.sjltScale
	default: // None
		if row == int64(col) {
			return 1
		}
		return 0
	}
}

// twoPi is 2π rounded to float64, the constant of the normal definition.
const twoPi = 2 * math.Pi

// boxMuller turns one Philox output into four standard normal float64
// values, exactly as the normal definition in the package documentation says.
// Entry and the block generator share it so they cannot drift apart.
// math.Sincos runs the same argument reduction and polynomials as math.Sin
// and math.Cos, so it returns their values (the tests transcribe the
// definition with Sin and Cos and compare bitwise) at close to half the cost.
func boxMuller(x [4]uint32) [4]float64 {
	u0 := (float64(x[0]) + 0.5) * 0x1p-32
	u1 := (float64(x[1]) + 0.5) * 0x1p-32
	u2 := (float64(x[2]) + 0.5) * 0x1p-32
	u3 := (float64(x[3]) + 0.5) * 0x1p-32
	r0 := math.Sqrt(-2 * math.Log(u0))
	r1 := math.Sqrt(-2 * math.Log(u2))
	s0, c0 := math.Sincos(twoPi * u1)
	s1, c1 := math.Sincos(twoPi * u3)
	return [4]float64{r0 * c0, r0 * s0, r1 * c1, r1 * s1}
}
