package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// refGELU and refGELUBack are the reference evaluations in float64.
func refGELU(v float64) float32 { return float32(v * normCDF(v)) }

func refGELUBack(dy, v float64) float32 {
	return float32(dy * (normCDF(v) + v*math.Exp(-v*v/2)/math.Sqrt(2*math.Pi)))
}

// TestGELUTableBitwise: the interpolated GELU and GELU derivative give bit
// for bit the reference's float32 values, over float32 inputs spread over
// [-12, 12] (every 241st bit pattern of the positive and negative floats
// below 12, about 9 million each way) and special values, with gradients
// of several magnitudes, including values next to the table's ends.
func TestGELUTableBitwise(t *testing.T) {
	stride := uint32(241)
	if testing.Short() || testutil.RaceEnabled {
		stride = 997
	}
	rng := rand.New(rand.NewPCG(1, 2))
	dys := []float64{1, -0.37, 3.3e-5, 7.1e3, 1e-30}
	var n, bad int
	check := func(x float32) {
		v := float64(x)
		if g, w := geluExact(v), refGELU(v); math.Float32bits(g) != math.Float32bits(w) {
			if bad++; bad < 10 {
				t.Errorf("GELU(%v) = %v, reference %v", x, g, w)
			}
		}
		dy := float64(float32(dys[n%len(dys)] * (0.5 + rng.Float64())))
		if g, w := geluBackExact(dy, v), refGELUBack(dy, v); math.Float32bits(g) != math.Float32bits(w) {
			if bad++; bad < 10 {
				t.Errorf("GELUBack(%v, %v) = %v, reference %v", dy, x, g, w)
			}
		}
		n++
	}
	for bits := uint32(0); bits < math.Float32bits(12); bits += stride {
		check(math.Float32frombits(bits))
		check(-math.Float32frombits(bits))
	}
	for _, x := range []float32{geluLo, geluHi, math.Nextafter32(geluLo, -10), math.Nextafter32(geluHi, 0), math.Nextafter32(geluLo, 0),
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32} {
		for range len(dys) {
			check(x)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d values differ", bad, 2*n)
	}
}

// TestGELUTableFallbackRare: the interpolation is accurate enough that the
// reference evaluation is needed for few inputs of the table's range.
func TestGELUTableFallbackRare(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 200000
	var slow, slowBack int
	for range n {
		v := float64(float32(geluLo + (geluHi-geluLo)*rng.Float64()))
		cdf, pdf, errCDF, errPDF := geluInterp(v)
		r := v * cdf
		if _, ok := certain(r, math.Abs(v)*errCDF+math.Abs(r)*refRelErr); !ok {
			slow++
		}
		d := cdf + v*pdf
		if _, ok := certain(d, errCDF+math.Abs(v)*errPDF+math.Abs(d)*refRelErr); !ok {
			slowBack++
		}
	}
	t.Logf("reference evaluation for %d GELU and %d GELUBack inputs of %d", slow, slowBack, n)
	if slow > n/1000 || slowBack > n/1000 {
		t.Errorf("reference evaluation for %d GELU and %d GELUBack inputs of %d, want under 0.1%%", slow, slowBack, n)
	}
}
