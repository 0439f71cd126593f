//go:build !amd64

package gemm

func hasAVX2() bool   { return false }
func hasAVX512() bool { return false }

// The assembly kernels exist only on amd64; these are never selected because
// hasAVX2 and hasAVX512 are false.
var (
	avx2Impl   impl
	avx512Impl impl
)
