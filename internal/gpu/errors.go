package gpu

import "errors"

// ErrNotBuilt is returned by New in a build without CUDA.
var ErrNotBuilt = errors.New("this trak was built without CUDA: build trak-cuda (go build -tags cuda -o trak-cuda ./cmd/trak) on a machine with the CUDA toolkit and put it next to trak, or use --device cpu")

//go:generate nvcc -ptx -arch=compute_80 -o kernels/project.ptx kernels/project.cu
