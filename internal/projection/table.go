package projection

// openTable maps block indices to their staged blocks: open addressing with
// linear probing and backward-shift deletion, so that deletions leave no
// tombstones and a table that has reached the largest number of blocks open
// at once never allocates again.
type openTable struct {
	slots []openSlot // length a power of two; sb == nil marks an empty slot
	shift uint       // 64 − log₂ len(slots)
	n     int
}

type openSlot struct {
	t  int64
	sb *staged
}

// init empties the table and gives it room for size (a power of two ≥ 2)
// slots.
func (h *openTable) init(size int) {
	h.slots = make([]openSlot, size)
	h.shift = 64
	for s := size; s > 1; s >>= 1 {
		h.shift--
	}
	h.n = 0
}

// home is t's preferred slot (Fibonacci hashing: block indices are often
// consecutive).
func (h *openTable) home(t int64) int {
	return int(uint64(t) * 0x9e3779b97f4a7c15 >> h.shift)
}

func (h *openTable) get(t int64) *staged {
	mask := len(h.slots) - 1
	for i := h.home(t); ; i = (i + 1) & mask {
		if e := h.slots[i]; e.sb == nil || e.t == t {
			return e.sb
		}
	}
}

// put adds t ↦ sb; t must not be in the table.
func (h *openTable) put(t int64, sb *staged) {
	if 2*(h.n+1) > len(h.slots) {
		old := h.slots
		h.init(2 * len(old))
		for _, e := range old {
			if e.sb != nil {
				h.put(e.t, e.sb)
			}
		}
	}
	mask := len(h.slots) - 1
	i := h.home(t)
	for h.slots[i].sb != nil {
		i = (i + 1) & mask
	}
	h.slots[i] = openSlot{t, sb}
	h.n++
}

// del removes t, which must be in the table.
func (h *openTable) del(t int64) {
	mask := len(h.slots) - 1
	i := h.home(t)
	for h.slots[i].t != t || h.slots[i].sb == nil {
		i = (i + 1) & mask
	}
	// Close the gap at i: an entry further along the probe run moves into it
	// unless its home lies cyclically in (i, j].
	for j := (i + 1) & mask; h.slots[j].sb != nil; j = (j + 1) & mask {
		if (j-h.home(h.slots[j].t))&mask >= (j-i)&mask {
			h.slots[i] = h.slots[j]
			i = j
		}
	}
	h.slots[i] = openSlot{}
	h.n--
}
