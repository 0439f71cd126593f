package config

// EnvVar is a TRAK_* environment variable that is not a config key: another
// part of trak reads it. The loader accepts these instead of reporting them
// as unknown keys, so that, for example, the trak-cuda process that `trak
// --device cuda` starts with TRAK_HANDOFF set can load its configuration.
type EnvVar struct {
	Name string
	Doc  string // one line for the reference
}

// Names of the TRAK_* variables that are not config keys.
const (
	// EnvHandoff marks a process started by the --device hand-off.
	EnvHandoff = "TRAK_HANDOFF"
	// EnvCUBLAS names the cuBLAS library trak-cuda loads.
	EnvCUBLAS = "TRAK_CUBLAS"
	// EnvTestNVIDIA fakes the NVIDIA driver and devices in test builds.
	EnvTestNVIDIA = "TRAK_TEST_NVIDIA"
	// EnvGemmKernel forces the CPU backend's GEMM kernel.
	EnvGemmKernel = "TRAK_GEMM_KERNEL"
)

// OtherEnv lists every TRAK_* environment variable that is not a config
// key, in reference order. A new variable that trak reads must be added
// here, or every command that loads a configuration rejects it.
func OtherEnv() []EnvVar {
	return []EnvVar{
		{Name: EnvHandoff, Doc: "set by trak on the trak-cuda process it hands a --device command to, so that the command runs there and is never handed off again; not meant to be set by hand"},
		{Name: EnvCUBLAS, Doc: "trak-cuda: path of the libcublas.so.N to load, tried before the loader path and the usual CUDA locations"},
		{Name: EnvGemmKernel, Doc: "CPU matrix-product kernel: auto (the default: the fastest this CPU runs), avx512, avx2 or generic; every kernel computes the same bits, so this changes speed only (trak doctor lists the kernels)"},
		{Name: EnvTestNVIDIA, Doc: "tests only: none, driver or gpu fakes the NVIDIA driver and devices; read only by binaries built with -tags trak_testhooks, ignored by every other build"},
	}
}

// isOtherEnv reports whether name is one of OtherEnv.
func isOtherEnv(name string) bool {
	for _, e := range OtherEnv() {
		if e.Name == name {
			return true
		}
	}
	return false
}
