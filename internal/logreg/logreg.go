// Package logreg is multinomial logistic regression, the model of the logreg
// task (internal/tasks/logreg adapts it to the tasks registry): a model small
// enough that its per-example gradients have a closed form, which makes
// it the end-to-end proof of the model-independent pipeline and a quick demo.
//
// The model has logits z = W x + b with W of shape C × D. Its parameters,
// flattened in this order, are W (row-major) then b: p = C·D + C. For an
// example (x, y) the model-output function is the log-odds of the true class
//
//	f(z) = log p_y − log(1 − p_y) = z_y − log Σ_{c≠y} exp z_c,
//
// with ∂f/∂z_y = 1 and ∂f/∂z_c = −softmax_{c≠y}(z)_c, so ∇_W f = (∂f/∂z) xᵀ
// and ∇_b f = ∂f/∂z. The out-to-loss term is Q = 1 − p_y.
package logreg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"

	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/npy"
)

// Model is a multinomial logistic regression.
type Model struct {
	C, D int
	W    []float64 // C × D, row-major
	B    []float64 // C
}

// NumParams returns C·D + C.
func (m *Model) NumParams() int64 { return int64(m.C*m.D + m.C) }

// ConfigHash identifies the architecture (not the weights), for the store's
// metadata.
func (m *Model) ConfigHash() string {
	h := sha256.Sum256(fmt.Appendf(nil, "logreg v1 classes=%d features=%d", m.C, m.D))
	return hex.EncodeToString(h[:])
}

// Logits writes z = W x + b for one example into z (length C).
func (m *Model) Logits(x []float64, z []float64) {
	for c := range m.C {
		s := m.B[c]
		w := m.W[c*m.D : (c+1)*m.D]
		for j, v := range x {
			s += w[j] * v
		}
		z[c] = s
	}
}

// OutputGrad returns f(z) and Q for true class y, and writes ∂f/∂z into dz.
func OutputGrad(z []float64, y int, dz []float64) (f, q float64) {
	maxOther := math.Inf(-1)
	for c, v := range z {
		if c != y && v > maxOther {
			maxOther = v
		}
	}
	var sumOther float64
	for c, v := range z {
		if c != y {
			dz[c] = math.Exp(v - maxOther)
			sumOther += dz[c]
		}
	}
	lseOther := maxOther + math.Log(sumOther)
	for c := range z {
		if c != y {
			dz[c] = -dz[c] / sumOther
		}
	}
	dz[y] = 1
	f = z[y] - lseOther
	// 1 − p_y = Σ_{c≠y} e^{z_c} / Σ_c e^{z_c} = 1 / (1 + e^{f}).
	q = 1 / (1 + math.Exp(f))
	return f, q
}

// Examples pairs the model with a data set for featurize.
func (m *Model) Examples(d *Data) (featurize.Examples, error) {
	if d.D != m.D {
		return nil, fmt.Errorf("data has %d features per example, the checkpoint expects %d", d.D, m.D)
	}
	for i, y := range d.Y {
		if y < 0 || y >= m.C {
			return nil, fmt.Errorf("row %d: label %d outside the checkpoint's %d classes", i, y, m.C)
		}
	}
	return &examples{m: m, d: d}, nil
}

type examples struct {
	m *Model
	d *Data
}

func (e *examples) Len() int         { return e.d.N }
func (e *examples) NumParams() int64 { return e.m.NumParams() }

// Gradients delivers ∇_W f as one B × (C·D) block, then ∇_b f as a B × C block.
func (e *examples) Gradients(ctx context.Context, idx []int, sink featurize.GradSink, q []float32) error {
	m := e.m
	nb := len(idx)
	gw := make([]float32, nb*m.C*m.D)
	gb := make([]float32, nb*m.C)
	z := make([]float64, m.C)
	dz := make([]float64, m.C)
	for b, i := range idx {
		x := e.d.Row(i)
		m.Logits(x, z)
		_, qi := OutputGrad(z, e.d.Y[i], dz)
		q[b] = float32(qi)
		for c := range m.C {
			row := gw[b*m.C*m.D+c*m.D : b*m.C*m.D+(c+1)*m.D]
			for j, v := range x {
				row[j] = float32(dz[c] * v)
			}
			gb[b*m.C+c] = float32(dz[c])
		}
	}
	sink.Add(0, m.C*m.D, gw, m.C*m.D)
	sink.Add(int64(m.C*m.D), m.C, gb, m.C)
	return ctx.Err()
}

// LoadCheckpoint reads a C × (D+1) float32 or float64 .npy file: each row is
// one class's weights followed by its bias.
func LoadCheckpoint(path string) (*Model, error) {
	h, data, err := npy.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load checkpoint: %w", err)
	}
	if len(h.Shape) != 2 || h.Shape[0] < 2 || h.Shape[1] < 2 {
		return nil, fmt.Errorf("load checkpoint %s: shape %v, a logreg checkpoint is classes × (features+1) with at least 2 classes", path, h.Shape)
	}
	c, d := h.Shape[0], h.Shape[1]-1
	vals := make([]float64, c*(d+1))
	switch h.DType {
	case npy.Float32:
		for i := range vals {
			vals[i] = float64(math.Float32frombits(le32(data[4*i:])))
		}
	case npy.Float64:
		for i := range vals {
			vals[i] = math.Float64frombits(le64(data[8*i:]))
		}
	default:
		return nil, fmt.Errorf("load checkpoint %s: dtype %s, want float32 or float64", path, h.DType)
	}
	m := &Model{C: c, D: d, W: make([]float64, c*d), B: make([]float64, c)}
	for k := range c {
		copy(m.W[k*d:(k+1)*d], vals[k*(d+1):k*(d+1)+d])
		m.B[k] = vals[k*(d+1)+d]
	}
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("load checkpoint %s: contains NaN or Inf weights", path)
		}
	}
	return m, nil
}

// SaveCheckpoint writes the model as a C × (D+1) float32 .npy file.
func SaveCheckpoint(path string, m *Model) error {
	for i, v := range slices.Concat(m.W, m.B) {
		if f := float64(float32(v)); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("save checkpoint %s: parameter %d is %v, which is not a finite float32", path, i, v)
		}
	}
	data := make([]byte, 0, 4*m.C*(m.D+1))
	for c := range m.C {
		for _, v := range m.W[c*m.D : (c+1)*m.D] {
			data = appendLE32(data, math.Float32bits(float32(v)))
		}
		data = appendLE32(data, math.Float32bits(float32(m.B[c])))
	}
	return npy.WriteFile(path, npy.Header{DType: npy.Float32, Shape: []int{m.C, m.D + 1}}, data)
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }
func appendLE32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}
