// Command trak computes TRAK data-attribution scores: which training
// examples are responsible for a model's behaviour on a target example.
//
// Run `trak --help` for the commands.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	setGCPercent(os.Getenv("GOGC"))
	os.Exit(Main(os.Args[1:], systemIO()))
}

// gcPercent is the garbage collector's target when the user has not set
// GOGC: a collection once the heap has grown by a tenth of what was live
// after the last one.
//
// Go's default (100) lets the heap double between collections. Most of
// trak's heap is live for the whole run (the weights, 605 MB for
// ViT-B-32, and the backend's pool of tensor storage, as much again), so
// doubling it would let a featurize run grow by more than a gigabyte of
// garbage (image decoding, host buffers) before collecting any: peak RSS
// crept up batch after batch towards twice the live heap. Both of those
// are pointer-free float32 arrays, which a collection does not scan, so
// collecting ten times as often costs little: featurize of ViT-B-32 at
// batch 16 ran as fast with 10 as with 100, and its peak RSS stays within
// a tenth of the live heap however many batches it runs.
const gcPercent = 10

// setGCPercent applies gcPercent unless gogc, the GOGC environment
// variable, says otherwise.
func setGCPercent(gogc string) {
	if gogc == "" {
		debug.SetGCPercent(gcPercent)
	}
}
