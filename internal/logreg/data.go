package logreg

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/trak-dev/trak/internal/atomicfile"
)

// Data is a labelled data set of N examples with D features each.
type Data struct {
	N, D int
	X    []float64 // N × D, row-major
	Y    []int     // N labels in [0, C)
	// Clean holds the labels before flipping, for generated data (nil for
	// data read from a file).
	Clean []int
	// Fingerprint is the SHA-256 of the file the data was read from.
	Fingerprint string
}

// Row returns the features of example i.
func (d *Data) Row(i int) []float64 { return d.X[i*d.D : (i+1)*d.D] }

// ReadCSV reads a data set written as CSV lines "label,x1,...,xD". A first
// line whose label field is not an integer is taken as a header.
func ReadCSV(path string) (*Data, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read data: %w", err)
	}
	d, err := parseCSV(raw)
	if err != nil {
		return nil, fmt.Errorf("read data %s: %w", path, err)
	}
	sum := sha256.Sum256(raw)
	d.Fingerprint = hex.EncodeToString(sum[:])
	return d, nil
}

func parseCSV(raw []byte) (*Data, error) {
	r := csv.NewReader(bytes.NewReader(raw))
	r.ReuseRecord = true
	r.TrimLeadingSpace = true
	d := &Data{D: -1}
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0) // the file's line: blank lines and quoted line breaks count
		if first {
			if _, err := strconv.Atoi(strings.TrimSpace(rec[0])); err != nil {
				continue // header
			}
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("line %d: want label,x1,...,xD with D ≥ 1", line)
		}
		if d.D < 0 {
			d.D = len(rec) - 1
		} else if len(rec)-1 != d.D {
			return nil, fmt.Errorf("line %d: %d features, earlier lines have %d", line, len(rec)-1, d.D)
		}
		y, err := strconv.Atoi(strings.TrimSpace(rec[0]))
		if err != nil || y < 0 {
			return nil, fmt.Errorf("line %d: label %q is not a class index ≥ 0", line, rec[0])
		}
		for j, s := range rec[1:] {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("line %d, column %d: %q is not a finite number", line, j+2, s)
			}
			d.X = append(d.X, v)
		}
		d.Y = append(d.Y, y)
		d.N++
	}
	if d.N == 0 {
		return nil, errors.New("no examples")
	}
	return d, nil
}

// WriteCSV atomically writes d in the format ReadCSV reads, with a header.
func WriteCSV(path string, d *Data) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		bw.WriteString("label")
		for j := range d.D {
			fmt.Fprintf(bw, ",x%d", j+1)
		}
		bw.WriteByte('\n')
		for i := range d.N {
			bw.WriteString(strconv.Itoa(d.Y[i]))
			for _, v := range d.Row(i) {
				bw.WriteByte(',')
				bw.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
			bw.WriteByte('\n')
		}
		return bw.Flush()
	})
}

// Generate makes n examples of c Gaussian classes in d dimensions, with a
// share flip of labels replaced by a random other class so that some train
// examples visibly work against the model. The same arguments give the same
// data.
func Generate(n, d, c int, flip float64, seed uint64) *Data {
	rng := rand.New(rand.NewPCG(seed, 0x6c6f67726567)) // "logreg"
	centers := make([]float64, c*d)
	for i := range centers {
		centers[i] = 2 * rng.NormFloat64()
	}
	out := &Data{N: n, D: d, X: make([]float64, n*d), Y: make([]int, n), Clean: make([]int, n)}
	for i := range n {
		y := rng.IntN(c)
		for j := range d {
			out.X[i*d+j] = centers[y*d+j] + rng.NormFloat64()
		}
		out.Clean[i] = y
		if rng.Float64() < flip && c > 1 {
			y = (y + 1 + rng.IntN(c-1)) % c
		}
		out.Y[i] = y
	}
	return out
}

// TrainOptions configure Train.
type TrainOptions struct {
	Classes int
	Epochs  int     // full-batch gradient steps
	LR      float64 // step size
	L2      float64 // weight decay on W
	Seed    uint64  // initial weights and the bootstrap sample
	// Bootstrap trains on a resample (with replacement) of the data, so that
	// checkpoints with different seeds differ as independently trained
	// models do.
	Bootstrap bool
}

// Train fits a model to d by full-batch gradient descent on the mean
// cross-entropy plus L2/2·‖W‖². It is deterministic for given options.
func Train(d *Data, opt TrainOptions) *Model {
	rng := rand.New(rand.NewPCG(opt.Seed, 0x747261696e)) // "train"
	m := &Model{C: opt.Classes, D: d.D, W: make([]float64, opt.Classes*d.D), B: make([]float64, opt.Classes)}
	for i := range m.W {
		m.W[i] = 0.01 * rng.NormFloat64()
	}
	sample := make([]int, d.N)
	for i := range sample {
		sample[i] = i
		if opt.Bootstrap {
			sample[i] = rng.IntN(d.N)
		}
	}
	gw := make([]float64, len(m.W))
	gb := make([]float64, len(m.B))
	z := make([]float64, m.C)
	for range opt.Epochs {
		clear(gw)
		clear(gb)
		for _, i := range sample {
			x := d.Row(i)
			m.Logits(x, z)
			softmax(z)
			z[d.Y[i]] -= 1 // ∂(cross-entropy)/∂z = p − e_y
			for c := range m.C {
				for j, v := range x {
					gw[c*m.D+j] += z[c] * v
				}
				gb[c] += z[c]
			}
		}
		scale := 1 / float64(len(sample))
		for i := range m.W {
			m.W[i] -= opt.LR * (gw[i]*scale + opt.L2*m.W[i])
		}
		for i := range m.B {
			m.B[i] -= opt.LR * gb[i] * scale
		}
	}
	return m
}

func softmax(z []float64) {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = max(mx, v)
	}
	var s float64
	for i, v := range z {
		z[i] = math.Exp(v - mx)
		s += z[i]
	}
	for i := range z {
		z[i] /= s
	}
}
