package tokenizer

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Encode returns the ids of text, cleaned with Clean, without the start and
// end tokens.
func (t *Tokenizer) Encode(text string) []int32 {
	return t.encodeClean(Clean(text), -1)
}

// Tokenize returns the model input for text: [start] + Encode(text) + [end],
// cut to contextLength ids with the last kept id replaced by end when it is
// longer, padded with zeros when it is shorter. The result has exactly
// contextLength ids (none when contextLength ≤ 0). Only as much of the text
// as fits is encoded.
func (t *Tokenizer) Tokenize(text string, contextLength int) []int32 {
	if contextLength <= 0 {
		return []int32{}
	}
	out := make([]int32, 1, contextLength+1)
	out[0] = t.start
	// contextLength−1 content ids are enough to know whether the caption
	// must be cut.
	out = t.appendClean(out, Clean(text), contextLength)
	out = append(out, t.end)
	if len(out) > contextLength {
		out = out[:contextLength]
		out[contextLength-1] = t.end
	}
	for len(out) < contextLength {
		out = append(out, 0)
	}
	return out
}

// encodeClean encodes cleaned text, stopping once at least limit ids are
// produced (limit < 0: no limit).
func (t *Tokenizer) encodeClean(s string, limit int) []int32 {
	return t.appendClean(make([]int32, 0, len(s)/3+1), s, limit)
}

// appendClean appends the ids of cleaned text s to dst, stopping once dst
// holds at least limit ids (limit < 0: no limit).
func (t *Tokenizer) appendClean(dst []int32, s string, limit int) []int32 {
	// The cache's read lock is held across the loop and released only to
	// encode and store a piece it lacks.
	t.mu.RLock()
	defer t.mu.RUnlock()
	for i := 0; i < len(s); {
		if limit >= 0 && len(dst) >= limit {
			break
		}
		start, end, special := t.nextPiece(s, i)
		if start < 0 {
			break
		}
		i = end
		switch special {
		case 1:
			dst = append(dst, t.start)
		case 2:
			dst = append(dst, t.end)
		default:
			piece := s[start:end]
			if ids, ok := t.cache[piece]; ok {
				dst = append(dst, ids...)
				continue
			}
			t.mu.RUnlock()
			dst = t.encodePiece(dst, piece)
			t.mu.RLock()
		}
	}
	return dst
}

// Character classes of the splitting pattern. classSpace holds the white
// space and U+0345 (combining ypogegrammeni): under case-insensitive
// matching the reference's regular expression engine matches it with
// neither [\p{L}] nor [^\s\p{L}\p{N}] (it folds to ι, a letter, but is
// not one), so no piece contains it.
const (
	classSpace = iota
	classLetter
	classNumber
	classOther
)

func class(r rune) int {
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z':
			return classLetter
		case '0' <= r && r <= '9':
			return classNumber
		case r == ' ' || '\t' <= r && r <= '\r':
			return classSpace
		}
		return classOther
	}
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r), r == 0x345:
		return classSpace
	}
	return classOther
}

// foldEq reports whether r equals the lower-case ASCII letter or
// punctuation c under simple case folding (so 'S' and 'ſ' match 's').
func foldEq(r, c rune) bool {
	if r == c {
		return true
	}
	for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
		if f == r {
			return true
		}
	}
	return false
}

// hasFoldPrefix reports whether s starts with name under simple case
// folding, and returns the length in bytes of the matched prefix.
func hasFoldPrefix(s string, name []rune) (int, bool) {
	n := 0
	for _, c := range name {
		if n >= len(s) {
			return 0, false
		}
		r, size := utf8.DecodeRuneInString(s[n:])
		if !foldEq(r, c) {
			return 0, false
		}
		n += size
	}
	return n, true
}

// contraction returns the length of the contraction ('s, 't, 're, 've, 'm,
// 'll, 'd) s starts with, or 0. s starts with an apostrophe.
func contraction(s string) int {
	if len(s) <= 1 {
		return 0
	}
	r1, n1 := utf8.DecodeRuneInString(s[1:])
	switch {
	case foldEq(r1, 's'), foldEq(r1, 't'), foldEq(r1, 'm'), foldEq(r1, 'd'):
		return 1 + n1
	}
	var second rune
	switch {
	case foldEq(r1, 'r'), foldEq(r1, 'v'):
		second = 'e'
	case foldEq(r1, 'l'):
		second = 'l'
	default:
		return 0
	}
	if 1+n1 >= len(s) {
		return 0
	}
	if r2, n2 := utf8.DecodeRuneInString(s[1+n1:]); foldEq(r2, second) {
		return 1 + n1 + n2
	}
	return 0
}

// nextPiece finds the first piece of the splitting pattern at or after
// byte i of s. It returns its byte range and 1 for the start token's name,
// 2 for the end token's name, 0 otherwise; start is −1 when none is left.
func (t *Tokenizer) nextPiece(s string, i int) (start, end, special int) {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '<' {
			// A piece matching a name only under case folding is encoded
			// as ordinary text.
			if n, ok := hasFoldPrefix(s[i:], t.startFold); ok {
				if s[i:i+n] == t.startTok {
					return i, i + n, 1
				}
				return i, i + n, 0
			}
			if n, ok := hasFoldPrefix(s[i:], t.endFold); ok {
				if s[i:i+n] == t.endTok {
					return i, i + n, 2
				}
				return i, i + n, 0
			}
		}
		if r == '\'' {
			if n := contraction(s[i:]); n > 0 {
				return i, i + n, 0
			}
		}
		c := class(r)
		switch c {
		case classSpace:
			i += size
			continue
		case classNumber:
			return i, i + size, 0
		}
		// A run of letters, or of characters that are neither letters,
		// numbers nor space.
		j := i + size
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if class(r) != c {
				break
			}
			j += size
		}
		return i, j, 0
	}
	return -1, -1, 0
}

// encodePiece appends the ids of one piece (not a special token) and
// caches them when the piece is short. The caller holds no lock.
func (t *Tokenizer) encodePiece(dst []int32, piece string) []int32 {
	n := len(dst)
	dst = t.bpe(dst, piece)
	if len(piece) <= maxCachedPiece {
		ids := slices.Clone(dst[n:])
		t.mu.Lock()
		if len(t.cache) >= t.cacheLimit {
			clear(t.cache)
		}
		t.cache[strings.Clone(piece)] = ids
		t.mu.Unlock()
	}
	return dst
}

// noRank marks a pair without a merge.
const noRank = ^uint64(0)

func (t *Tokenizer) merge(l, r int32) uint64 {
	if v, ok := t.merges[uint64(uint32(l))<<32|uint64(uint32(r))]; ok {
		return v
	}
	return noRank
}

// heapThreshold is the word length (in bytes) from which bpe uses the
// heap-based loop, when the vocabulary allows it.
const heapThreshold = 32

// bpe appends the BPE tokens of piece's bytes to dst.
func (t *Tokenizer) bpe(dst []int32, piece string) []int32 {
	n := len(piece)
	if n == 0 {
		return dst
	}
	base := len(dst)
	for i := 0; i < n-1; i++ {
		dst = append(dst, t.byteID[piece[i]])
	}
	dst = append(dst, t.byteEndID[piece[n-1]])
	if n == 1 {
		return dst
	}
	var word []int32
	if n >= heapThreshold && t.ordered {
		word = t.mergeHeap(dst[base:])
	} else {
		word = t.mergeScan(dst[base:])
	}
	return dst[:base+len(word)]
}

// mergeScan is the reference merge loop, in place: find the pair with the
// lowest rank, replace its non-overlapping occurrences left to right,
// repeat. It returns the shortened word.
func (t *Tokenizer) mergeScan(word []int32) []int32 {
	for len(word) > 1 {
		best := noRank
		var bl, br int32
		for i := 0; i+1 < len(word); i++ {
			if v := t.merge(word[i], word[i+1]); v < best {
				best, bl, br = v, word[i], word[i+1]
			}
		}
		if best == noRank {
			break
		}
		joined := int32(uint32(best))
		j := 0
		for i := 0; i < len(word); j++ {
			if i+1 < len(word) && word[i] == bl && word[i+1] == br {
				word[j] = joined
				i += 2
			} else {
				word[j] = word[i]
				i++
			}
		}
		word = word[:j]
	}
	return word
}

// pairEntry is a candidate merge of node pos and its successor next.
type pairEntry struct {
	rank        uint32
	pos, next   int32 // the two nodes
	left, right int32 // their tokens when the entry was made
	joined      int32
}

func (a *pairEntry) less(b *pairEntry) bool {
	return a.rank < b.rank || a.rank == b.rank && a.pos < b.pos
}

// pairHeap is a binary min-heap of candidate merges ordered by rank, then
// position.
type pairHeap []pairEntry

func (h *pairHeap) push(e pairEntry) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q[i].less(&q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *pairHeap) pop() pairEntry {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	*h = q
	q.down(0)
	return top
}

func (h pairHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].less(&h[l]) {
			m = r
		}
		if !h[m].less(&h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (h pairHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// mergeHeap gives mergeScan's result in O(n log n) for long words, by
// applying single merges in (rank, position) order over a linked list. It
// requires t.ordered: then the pairs a merge creates always rank after it,
// so all occurrences of one rank are merged, left to right, before any
// later rank, exactly as mergeScan does.
func (t *Tokenizer) mergeHeap(word []int32) []int32 {
	n := len(word)
	prev := make([]int32, n)
	next := make([]int32, n)
	for i := range word {
		prev[i], next[i] = int32(i-1), int32(i+1)
	}
	next[n-1] = -1
	// entry returns the candidate merge of node p and its successor.
	entry := func(p int32) (pairEntry, bool) {
		q := next[p]
		if q < 0 {
			return pairEntry{}, false
		}
		v := t.merge(word[p], word[q])
		if v == noRank {
			return pairEntry{}, false
		}
		return pairEntry{rank: uint32(v >> 32), pos: p, next: q, left: word[p], right: word[q], joined: int32(uint32(v))}, true
	}
	h := make(pairHeap, 0, n)
	for i := 0; i+1 < n; i++ {
		if e, ok := entry(int32(i)); ok {
			h = append(h, e)
		}
	}
	h.init()
	dead := make([]bool, n)
	for len(h) > 0 {
		e := h.pop()
		if dead[e.pos] || next[e.pos] != e.next || word[e.pos] != e.left || word[e.next] != e.right {
			continue // stale
		}
		word[e.pos] = e.joined
		dead[e.next] = true
		nn := next[e.next]
		next[e.pos] = nn
		if nn >= 0 {
			prev[nn] = e.pos
		}
		if p := prev[e.pos]; p >= 0 {
			if e, ok := entry(p); ok {
				h.push(e)
			}
		}
		if e, ok := entry(e.pos); ok {
			h.push(e)
		}
	}
	j := 0
	for i := int32(0); i >= 0; i = next[i] {
		word[j] = word[i]
		j++
	}
	return word[:j]
}

// Decode returns the text of ids, for inspection: each token's bytes, with
// a space after every end of word, right-trimmed; the start and end tokens
// appear by name, bytes that do not form UTF-8 as U+FFFD, and ids outside
// the vocabulary as U+FFFD. Padding zeros decode as "!".
func (t *Tokenizer) Decode(ids []int32) string {
	var b []byte
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.tokens) {
			b = utf8.AppendRune(b, utf8.RuneError)
			continue
		}
		tok := t.tokens[id]
		if id == t.start || id == t.end {
			b = append(b, tok...)
			continue
		}
		word := strings.HasSuffix(tok, endOfWord)
		tok = strings.TrimSuffix(tok, endOfWord)
		for _, r := range tok {
			if r < rune(len(symbolBytes)) && symbolBytes[r] >= 0 {
				b = append(b, byte(symbolBytes[r]))
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
		if word {
			b = append(b, ' ')
		}
	}
	return strings.TrimRight(strings.ToValidUTF8(string(b), "\uFFFD"), " ")
}
