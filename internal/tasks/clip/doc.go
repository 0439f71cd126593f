// Package clip is the clip task: TRAK for open_clip image–caption
// checkpoints. It opens a checkpoint and an image–caption data set
// (setup.go), computes each train checkpoint's embedding table and the
// per-example gradients of the model-output function f with their
// out-to-loss terms Q against negatives drawn from that table (examples.go,
// output.go), chooses the image transform (transform.go), and adapts all of
// it to the tasks registry's Task (task.go).
//
// The CLIP model itself (configs, weights, forward and backward passes) is
// internal/clip, imported here as clipmodel.
package clip
