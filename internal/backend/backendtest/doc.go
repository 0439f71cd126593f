// Package backendtest is the conformance suite of backend.Backend: one
// harness that every backend (the CPU one, and the GPU one behind the cuda
// build tag) runs from its own tests with
//
//	func TestConformance(t *testing.T) { backendtest.Run(t, mybackend) }
//
// Every method is checked on many shapes (sizes 1, block and chunk edges
// such as 63, 64, 65, odd head counts and widths, T = 1, batches, weights
// shared across a batch) against slow float64 references written here as
// plain loops, independently of any backend. Each case states its
// tolerance as a bound in units of u = 2⁻²⁴, the float32 unit roundoff,
// times an elementwise magnitude that the reference computes alongside the
// result (for a dot product of length k, k·u·Σ|a||b|; for an elementwise
// function, a few u of the result and of its sensitivity to its input), so
// that any correct float32 implementation passes whatever its summation
// order, and an index or formula error, which is of the order of the data,
// does not. Data movement (copies, permutations, gathers, additions of two
// values) must be exact.
//
// Backward kernels are checked three ways: against analytic float64
// references; against central finite differences, in float64, of a random
// scalar loss Σ w⊙f(x) through the float64 reference of the forward kernel
// (which also checks the analytic references); and, for the linear layout
// kernels, by the adjoint identity ⟨Ax, y⟩ = ⟨x, Aᵀy⟩.
//
// Shape violations must panic with a message that starts "backend: " and
// names the method.
//
// NewProjection is checked against Σ g·P in float64 with P from the
// projection's definition, within the error of float32 block products, and
// for the bit-identity that the projection promises whatever the delivery
// order, chunking, sparsity and batch position (package projection).
//
// Counting wraps any backend to count live tensors and bytes, so that a
// model's tests can check that a computation frees what it makes.
//
// Outputs and SameOutputs check determinism (for example, that a CPU
// backend's results do not depend on its thread count), and the Bench
// functions measure throughput at CLIP-like sizes.
package backendtest
