package gemm

// compilerFuses is true where the Go compiler turns a float32 x*y + z into
// one fused multiply-add instruction (FMADDS on arm64), which rounds once,
// exactly like fma32. The Generic kernel then writes its FMA as that
// expression and runs at hardware speed instead of emulating the rounding
// in float64; fusedFMA checks the claim once at start-up.
const compilerFuses = true
