// Package gpu will hold the CUDA compute backend (gorgonia.org/cu, behind
// the cuda build tag). The default build never imports CUDA, so trak runs on
// machines without a GPU.
package gpu
