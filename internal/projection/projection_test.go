package projection

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/philox"
)

func TestParseKind(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Kind
	}{
		{"rademacher", Rademacher},
		{"normal", Normal},
		{"none", None},
		{"sjlt", SJLT},
		{" SJLT ", SJLT},
		{" Rademacher\n", Rademacher},
		{"NORMAL", Normal},
	} {
		got, err := ParseKind(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "gaussian", "identity", "rademacher2"} {
		_, err := ParseKind(in)
		if err == nil {
			t.Errorf("ParseKind(%q) succeeded", in)
			continue
		}
		for _, k := range []string{"rademacher", "normal", "sjlt", "none"} {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("ParseKind(%q) error %q does not list %q", in, err, k)
			}
		}
	}
}

func TestNewValidates(t *testing.T) {
	ok := Spec{Kind: Rademacher, Dim: 16, NumParams: 10}
	for _, tc := range []struct {
		name    string
		spec    Spec
		workers int
		want    string // substring of the error; "" for success
	}{
		{"ok", ok, 1, ""},
		{"default kind", Spec{Dim: 16, NumParams: 10}, 1, ""},
		{"none ignores dim", Spec{Kind: None, NumParams: 10}, 1, ""},
		{"k zero", Spec{Kind: Rademacher, Dim: 0, NumParams: 10}, 1, "dimension k is 0"},
		{"k negative", Spec{Kind: Normal, Dim: -3, NumParams: 10}, 1, "dimension k is -3"},
		{"p zero", Spec{Kind: Rademacher, Dim: 16, NumParams: 0}, 1, "number of parameters is 0"},
		{"p zero none", Spec{Kind: None, NumParams: 0}, 1, "number of parameters is 0"},
		{"workers zero", ok, 0, "workers is 0"},
		{"bad kind", Spec{Kind: "gauss", Dim: 16, NumParams: 10}, 1, "valid kinds: rademacher, normal, sjlt, none"},
		{"uppercase kind", Spec{Kind: "Normal", Dim: 16, NumParams: 10}, 1, "unknown kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.spec, tc.workers)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "projection: ") {
				t.Fatalf("New(%+v, %d) = %v, %v; want error containing %q", tc.spec, tc.workers, p, err, tc.want)
			}
		})
	}
	p := mustNew(t, Spec{Dim: 16, NumParams: 10}, 1)
	if p.Kind() != Rademacher || p.Spec().Kind != Rademacher {
		t.Errorf("zero Kind became %q, want %q", p.Kind(), Rademacher)
	}
	if d := mustNew(t, Spec{Kind: None, Dim: 16, NumParams: 10}, 1).Dim(); d != 10 {
		t.Errorf("None Dim() = %d, want NumParams = 10", d)
	}
}

// definition is the test's own transcription of the package documentation,
// written without the package's helpers except philox itself.
func definition(kind Kind, seed int64, modelID, k int, r int64, c int) float32 {
	key := philox.KeyFromSeed(uint64(seed) ^ philox.SplitMix64(uint64(int64(modelID))))
	ru := uint64(r)
	switch kind {
	case Rademacher:
		x := philox.Block(key, philox.Counter{uint32(c / 128), uint32(ru), uint32(ru >> 32), 1})
		bit := (x[(c%128)/32] >> (c % 32)) & 1
		s := float32(1 / math.Sqrt(float64(k)))
		if bit == 1 {
			return s
		}
		return -s
	case Normal:
		x := philox.Block(key, philox.Counter{uint32(c / 4), uint32(ru), uint32(ru >> 32), 2})
		u := func(w uint32) float64 { return (float64(w) + 0.5) / 4294967296 }
		var z float64
		switch c % 4 {
		case 0:
			z = math.Sqrt(-2*math.Log(u(x[0]))) * math.Cos(2*math.Pi*u(x[1]))
		case 1:
			z = math.Sqrt(-2*math.Log(u(x[0]))) * math.Sin(2*math.Pi*u(x[1]))
		case 2:
			z = math.Sqrt(-2*math.Log(u(x[2]))) * math.Cos(2*math.Pi*u(x[3]))
		case 3:
			z = math.Sqrt(-2*math.Log(u(x[2]))) * math.Sin(2*math.Pi*u(x[3]))
		}
		return float32(z * (1 / math.Sqrt(float64(k))))
	}
	panic("unreachable")
}

// Entry must equal the documented definition exactly (bitwise, tolerance 0):
// it is the contract other devices reproduce. Rows cover both 32-bit counter
// words (below, at and above 2³²); columns cover the 128-column and
// 4-column group edges.
func TestEntryMatchesDefinition(t *testing.T) {
	const p = int64(1) << 41
	rows := []int64{0, 1, 2, BlockRows - 1, BlockRows, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 32, 1<<32 + 1, 1<<40 + 12345, p - 1}
	cols := []int{0, 1, 2, 3, 4, 31, 32, 33, 63, 64, 95, 96, 126, 127, 128, 129, 255, 256, 257, 299}
	type rc struct {
		r int64
		c int
	}
	var points []rc
	for _, r := range rows {
		for _, c := range cols {
			points = append(points, rc{r, c})
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 1000 {
		points = append(points, rc{rng.Int64N(p), rng.IntN(300)})
	}
	for _, kind := range []Kind{Rademacher, Normal} {
		for _, sm := range []struct {
			seed  int64
			model int
		}{{0, 0}, {42, 3}, {-7, 1 << 20}, {math.MinInt64, -1}} {
			pr := mustNew(t, Spec{Kind: kind, Dim: 300, Seed: sm.seed, ModelID: sm.model, NumParams: p}, 1)
			for _, pt := range points {
				got, want := pr.Entry(pt.r, pt.c), definition(kind, sm.seed, sm.model, 300, pt.r, pt.c)
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%s seed %d model %d: Entry(%d, %d) = %v, definition gives %v", kind, sm.seed, sm.model, pt.r, pt.c, got, want)
				}
			}
		}
	}
}

// The fast block generator used by the Accumulator must produce exactly
// Entry's values (bitwise), for full and partial column groups, odd and even
// row counts (the two-row Philox path and its tail) and rows across 2³².
func TestFillGroupMatchesEntry(t *testing.T) {
	for _, kind := range []Kind{Rademacher, Normal} {
		for _, k := range []int{1, 5, 127, 128, 129, 300} {
			pr := mustNew(t, Spec{Kind: kind, Dim: k, Seed: 99, ModelID: 2, NumParams: 1 << 40}, 1)
			for _, row0 := range []int64{0, 1<<32 - 3, 1<<40 - 7} {
				rows := 7
				got := entries(pr, row0, rows)
				for i := 0; i < rows; i++ {
					for c := 0; c < k; c++ {
						want := pr.Entry(row0+int64(i), c)
						if g := got[i*k+c]; math.Float32bits(g) != math.Float32bits(want) {
							t.Fatalf("%s k=%d: block entry (%d, %d) = %v, Entry = %v", kind, k, row0+int64(i), c, g, want)
						}
					}
				}
			}
		}
	}
}

func TestEntryNone(t *testing.T) {
	pr := mustNew(t, Spec{Kind: None, NumParams: 50}, 1)
	for r := int64(0); r < 50; r++ {
		for c := 0; c < 50; c++ {
			want := float32(0)
			if int64(c) == r {
				want = 1
			}
			if got := pr.Entry(r, c); got != want {
				t.Fatalf("Entry(%d, %d) = %v, want %v", r, c, got, want)
			}
		}
	}
}

// Rademacher entries: every |x| is exactly s = float32(1/√k), so E[x²] = s²
// exactly; s² differs from 1/k only by the float32 rounding of s, relative
// |s²k − 1| ≤ 2·2⁻²⁴ + 2⁻⁴⁸. The sign balance over N = 1,048,576 entries has
// standard deviation 0.5/√N ≈ 4.9e-4, and each lag-1 correlation (along rows,
// along columns, across the 127|128 group edge) 1/√N ≈ 9.8e-4 (1/√4096 for
// the edge column pair); the tests allow five standard deviations, so a fixed
// seed that passes is not luck and a bias in the bit rule fails clearly.
func TestRademacherMoments(t *testing.T) {
	for _, k := range []int{256, 300, 1000} {
		pr := mustNew(t, Spec{Kind: Rademacher, Dim: k, Seed: 5, ModelID: 1, NumParams: 1 << 40}, 1)
		rows := (1 << 20) / k
		x := entries(pr, 1<<32-100, rows)
		s := float32(1 / math.Sqrt(float64(k)))
		if e := math.Abs(float64(s)*float64(s)*float64(k) - 1); e > 2*u32+0x1p-48 {
			t.Errorf("k=%d: s²·k − 1 = %g, beyond the float32 rounding of s", k, e)
		}
		var pos int
		var sum, sumSq float64
		for i, v := range x {
			if v != s && v != -s {
				t.Fatalf("k=%d: entry %d = %v, want ±%v", k, i, v, s)
			}
			if v > 0 {
				pos++
			}
			sum += float64(v)
			sumSq += float64(v) * float64(v)
		}
		n := float64(len(x))
		if f := float64(pos) / n; math.Abs(f-0.5) > 5*0.5/math.Sqrt(n) {
			t.Errorf("k=%d: fraction of +s = %.5f, want 0.5 ± %.5f", k, f, 5*0.5/math.Sqrt(n))
		}
		if mean := sum / n; math.Abs(mean) > 5*float64(s)/math.Sqrt(n) {
			t.Errorf("k=%d: mean entry = %.3g, want 0 ± %.3g", k, mean, 5*float64(s)/math.Sqrt(n))
		}
		// Every x² is exactly s² (checked above); a float64 sum of n of them
		// is within n·2⁻⁵³ relative of n·s².
		if m2 := sumSq / n; math.Abs(m2/(float64(s)*float64(s))-1) > n*0x1p-53 {
			t.Errorf("k=%d: mean square entry = %.10g, want s² = %.10g", k, m2, float64(s)*float64(s))
		}
		checkLagCorrelations(t, string(Rademacher), x, rows, k)
	}
}

// checkLagCorrelations checks that neighbouring entries (c, c+1) and (r, r+1)
// are uncorrelated, and the 127|128 column pair in particular, within five
// standard errors (1/√n for n pairs).
func checkLagCorrelations(t *testing.T, name string, x []float32, rows, k int) {
	t.Helper()
	corr := func(pairs [][2]float64) float64 {
		var sxy, sxx, syy float64
		for _, p := range pairs {
			sxy += p[0] * p[1]
			sxx += p[0] * p[0]
			syy += p[1] * p[1]
		}
		return sxy / math.Sqrt(sxx*syy)
	}
	var col, row, edge [][2]float64
	for r := 0; r < rows; r++ {
		for c := 0; c < k; c++ {
			v := float64(x[r*k+c])
			if c+1 < k {
				col = append(col, [2]float64{v, float64(x[r*k+c+1])})
			}
			if r+1 < rows {
				row = append(row, [2]float64{v, float64(x[(r+1)*k+c])})
			}
			if c == 127 && k > 128 {
				edge = append(edge, [2]float64{v, float64(x[r*k+128])})
			}
		}
	}
	for _, tc := range []struct {
		what  string
		pairs [][2]float64
	}{{"columns c, c+1", col}, {"rows r, r+1", row}, {"columns 127, 128", edge}} {
		if len(tc.pairs) == 0 {
			continue
		}
		tol := 5 / math.Sqrt(float64(len(tc.pairs)))
		if c := corr(tc.pairs); math.Abs(c) > tol {
			t.Errorf("%s k=%d: correlation of %s = %.5f, want 0 ± %.5f", name, k, tc.what, c, tol)
		}
	}
}

// Normal entries scaled by √k should be N(0, 1). Over N = 1,048,576 samples
// the standard errors are 1/√N ≈ 9.8e-4 for the mean, √(2/N) ≈ 1.4e-3 for the
// variance, √(6/N) ≈ 2.4e-3 for the skewness and √(24/N) ≈ 4.8e-3 for the
// kurtosis; the tests allow five of them. The Kolmogorov–Smirnov distance to
// Φ must stay below 1.95/√N, its 0.1% critical value.
func TestNormalMoments(t *testing.T) {
	k := 512
	pr := mustNew(t, Spec{Kind: Normal, Dim: k, Seed: 11, ModelID: 4, NumParams: 1 << 40}, 1)
	rows := (1 << 20) / k
	x := entries(pr, 1<<32-1000, rows)
	n := float64(len(x))
	z := make([]float64, len(x))
	var m1 float64
	for i, v := range x {
		z[i] = float64(v) * math.Sqrt(float64(k))
		m1 += z[i]
	}
	m1 /= n
	var m2, m3, m4 float64
	for _, v := range z {
		d := v - m1
		m2 += d * d
		m3 += d * d * d
		m4 += d * d * d * d
	}
	m2 /= n
	m3 /= n
	m4 /= n
	skew := m3 / math.Pow(m2, 1.5)
	kurt := m4 / (m2 * m2)
	for _, tc := range []struct {
		what      string
		got, want float64
		se        float64
	}{
		{"mean", m1, 0, 1 / math.Sqrt(n)},
		{"variance·k", m2, 1, math.Sqrt(2 / n)},
		{"skewness", skew, 0, math.Sqrt(6 / n)},
		{"kurtosis", kurt, 3, math.Sqrt(24 / n)},
	} {
		if math.Abs(tc.got-tc.want) > 5*tc.se {
			t.Errorf("normal %s = %.5f, want %.5f ± %.5f", tc.what, tc.got, tc.want, 5*tc.se)
		}
	}
	slices.Sort(z)
	var d float64
	for i, v := range z {
		phi := 0.5 * math.Erfc(-v/math.Sqrt2)
		d = max(d, math.Abs(phi-float64(i)/n), math.Abs(phi-float64(i+1)/n))
	}
	if lim := 1.95 / math.Sqrt(n); d > lim {
		t.Errorf("Kolmogorov–Smirnov distance to N(0,1) = %.5f, want < %.5f", d, lim)
	}
	checkLagCorrelations(t, string(Normal), x, rows, k)
}

// E‖Pᵀg‖² = ‖g‖². For each of M matrices (different seeds and model ids) the
// ratio ‖Pᵀg‖²/‖g‖² has mean 1 and variance at most 2/k (exactly 2/k for
// normal entries and a Gaussian g; for rademacher 2(1 − Σg⁴/‖g‖⁴)/k), so the
// mean over M matrices has standard error ≤ √(2/(kM)) and is allowed five of
// them. A one-hot g has ratio s²k, which for rademacher is 1 up to the float32
// rounding of s (2⁻²³), for every matrix.
func TestNormPreserved(t *testing.T) {
	const (
		p = BlockRows + 88 // a full block and a partial one
		k = 512
	)
	for _, tc := range []struct {
		kind Kind
		m    int
	}{{Rademacher, 200}, {Normal, 100}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			if testing.Short() && tc.kind == Normal {
				t.Skip("slow in -short mode")
			}
			g := exampleGrad(1, p)
			onehot := make([]float32, p)
			onehot[555] = 3
			batch := append(append([]float32{}, g...), onehot...)
			var gg float64
			for _, v := range g {
				gg += float64(v) * float64(v)
			}
			var sum float64
			for i := range tc.m {
				pr := mustNew(t, Spec{Kind: tc.kind, Dim: k, Seed: int64(i / 50), ModelID: i % 50, NumParams: p}, 2)
				out := project(t, pr, batch, p, 2, []int{p})
				var ff, hh float64
				for c := range k {
					ff += float64(out[c]) * float64(out[c])
					hh += float64(out[k+c]) * float64(out[k+c])
				}
				sum += ff / gg
				if tc.kind == Rademacher && math.Abs(hh/9-1) > 2*u32+1e-6 {
					t.Errorf("matrix %d: one-hot ratio = %.9f, want 1", i, hh/9)
				}
			}
			mean := sum / float64(tc.m)
			if tol := 5 * math.Sqrt(2/float64(k*tc.m)); math.Abs(mean-1) > tol {
				t.Errorf("mean ‖Pᵀg‖²/‖g‖² over %d matrices = %.5f, want 1 ± %.5f", tc.m, mean, tol)
			}
		})
	}
}

// Different (seed, model id) pairs must give unrelated matrices: two
// independent rademacher matrices agree on each entry with probability 1/2,
// so over 16,384 entries the agreement is 0.5 ± 0.0039 (one standard
// deviation); [0.45, 0.55] is twelve of them. Normal entries of different
// matrices are equal only by a float32 coincidence, so fewer than 1% may be.
// The same pair must give the same matrix bit for bit, from separately
// constructed Projectors.
func TestMatricesPerSeedAndModel(t *testing.T) {
	pairs := []struct {
		seed  int64
		model int
	}{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 2}, {-1, 0}, {1 << 40, 7}}
	for _, kind := range []Kind{Rademacher, Normal} {
		mats := make([][]float32, len(pairs))
		for i, sm := range pairs {
			spec := Spec{Kind: kind, Dim: 256, Seed: sm.seed, ModelID: sm.model, NumParams: 1000}
			mats[i] = entries(mustNew(t, spec, 1), 0, 64)
			again := entries(mustNew(t, spec, 3), 0, 64)
			if j := sameBits(mats[i], again); j >= 0 {
				t.Errorf("%s seed %d model %d: second Projector differs at entry %d", kind, sm.seed, sm.model, j)
			}
		}
		for i := range mats {
			for j := i + 1; j < len(mats); j++ {
				var eq int
				for e := range mats[i] {
					if mats[i][e] == mats[j][e] {
						eq++
					}
				}
				f := float64(eq) / float64(len(mats[i]))
				if (kind == Rademacher && (f < 0.45 || f > 0.55)) || (kind == Normal && f > 0.01) {
					t.Errorf("%s: matrices for %+v and %+v agree on %.3f of entries", kind, pairs[i], pairs[j], f)
				}
			}
		}
	}
}
