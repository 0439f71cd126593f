package checkpoint

import (
	"os"
	"unsafe"
)

// ReleasePages tells the operating system that t's bytes will not be read
// again soon: the whole memory pages they cover in the file's mapping leave
// the process's resident memory (they stay in the page cache). Reading t
// afterwards still works and gives the same values. A model loader calls it
// after copying each tensor, so that loading a checkpoint never holds both
// the file and the weights in memory: for ViT-B-32 that is 605 MB less at
// the peak. It does nothing for tensors that do not lie in a mapping (files
// read into memory where mmap is unavailable, converted tensors) and after
// Close.
func (f *File) ReleasePages(t *Tensor) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed || f.unmap == nil || len(t.data) == 0 || len(f.mapping) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.mapping)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(t.data)))
	hi := lo + uintptr(len(t.data))
	if lo < base || hi > base+uintptr(len(f.mapping)) {
		return // not in the mapping: a converted or copied tensor
	}
	// Only pages that lie wholly inside the tensor, so that a neighbour
	// being read concurrently never has its page dropped under it (which
	// would be harmless, only slower).
	page := uintptr(os.Getpagesize())
	start := (lo - base + page - 1) / page * page
	end := (hi - base) / page * page
	if start >= end {
		return
	}
	_ = releasePages(f.mapping[start:end]) // advice only: a failure changes nothing
}
