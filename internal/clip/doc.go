// Package clip will hold the CLIP image–caption model: open_clip checkpoint
// loading, the forward pass of both towers and exact per-example gradients
// of the CLIP model-output function, written against a compute backend.
// It is empty until the CLIP task lands; the model-independent pipeline
// (featurize, finalize, score) is already in place for it.
package clip
