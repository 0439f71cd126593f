//go:build !arm64

package gemm

// compilerFuses: on amd64 the compiler fuses only when GOAMD64=v3 or later,
// and there the assembly kernels run anyway; elsewhere fusion is not
// assumed. See fused_arm64.go.
const compilerFuses = false
