package tokenizer

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

//go:embed bpe_simple_vocab_16e6.txt.gz
var embeddedMerges []byte

const (
	// numMerges is how many merges of the embedded file CLIP's vocabulary
	// uses: 49,408 ids − 2·256 byte symbols − 2 special tokens.
	numMerges = 49408 - 2*256 - 2

	endOfWord = "</w>"

	// Names of the special tokens in the embedded vocabulary (open_clip's)
	// and in Hugging Face vocab.json files (OpenAI's).
	startName   = "<start_of_text>"
	endName     = "<end_of_text>"
	hfStartName = "<|startoftext|>"
	hfEndName   = "<|endoftext|>"

	// Encoded pieces longer than this many bytes are not cached, and the
	// cache is emptied when it holds more than maxCacheEntries pieces.
	maxCachedPiece  = 128
	maxCacheEntries = 1 << 16
)

// Tokenizer encodes text with a CLIP BPE vocabulary. It is safe for
// concurrent use. Build one with New, FromHF or FromDir; construction parses
// the vocabulary (some 35–50 ms for CLIP's on a 2-core machine), so build it
// once and reuse it.
type Tokenizer struct {
	tokens []string // id → token text in byte symbols ("</w>" kept)

	byteID    [256]int32 // id of each byte's symbol
	byteEndID [256]int32 // id of each byte's symbol + "</w>"

	// merges maps a pair of ids (left<<32 | right) to its merge rank
	// (high 32 bits) and the id of the merged token (low 32 bits).
	merges map[uint64]uint64
	// ordered reports that every merge's halves are created by merges of
	// lower rank (or are byte symbols), which lets long words use the
	// heap-based merge loop; see bpe.
	ordered bool

	start, end         int32
	startTok, endTok   string // names of the special tokens
	startFold, endFold []rune // the names as runes, for case-insensitive matching

	mu         sync.RWMutex
	cache      map[string][]int32
	cacheLimit int // the cache is emptied when it reaches this many pieces
}

// New returns a Tokenizer over CLIP's vocabulary, built from the embedded
// merges file (see the package documentation).
func New() (*Tokenizer, error) {
	zr, err := gzip.NewReader(bytes.NewReader(embeddedMerges))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: embedded merges: %w", err)
	}
	// Decompress just the header and the merges used: numMerges+1 lines.
	var buf []byte
	chunk := make([]byte, 64<<10)
	lines := 0
	for lines <= numMerges {
		n, err := zr.Read(chunk)
		lines += bytes.Count(chunk[:n], []byte{'\n'})
		buf = append(buf, chunk[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("tokenizer: embedded merges: %w", err)
		}
	}
	text := string(buf)
	_, text, _ = strings.Cut(text, "\n") // version header

	merges := make([][2]string, 0, numMerges)
	joined := make([]byte, 0, len(text))
	for line := 2; len(merges) < numMerges; line++ {
		l, rest, found := strings.Cut(text, "\n")
		if !found {
			return nil, fmt.Errorf("tokenizer: embedded merges: %d merges, want %d", len(merges), numMerges)
		}
		text = rest
		a, b, ok := splitMerge(l)
		if !ok {
			return nil, fmt.Errorf("tokenizer: embedded merges: line %d: %q is not two space-separated symbols", line, l)
		}
		merges = append(merges, [2]string{a, b})
		joined = append(joined, a...)
		joined = append(joined, b...)
	}

	syms := byteSymbols()
	tokens := make([]string, 0, 2*256+numMerges+2)
	for _, b := range symbolOrder() {
		tokens = append(tokens, syms[b])
	}
	for _, b := range symbolOrder() {
		tokens = append(tokens, syms[b]+endOfWord)
	}
	// The merged tokens are slices of one string.
	all := string(joined)
	for _, m := range merges {
		n := len(m[0]) + len(m[1])
		tokens = append(tokens, all[:n])
		all = all[n:]
	}
	tokens = append(tokens, startName, endName)
	t, err := build(tokens, merges, 2*256, startName, endName)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: embedded vocabulary: %w", err)
	}
	return t, nil
}

// FromHF returns a Tokenizer read from a Hugging Face CLIP tokenizer's
// vocab.json (token → id) and merges.txt (one "left right" pair per line,
// best first, after an optional "#version" line). The start and end tokens
// are vocab.json's "<|startoftext|>" and "<|endoftext|>"; those names, not
// open_clip's, are the ones recognised in text.
func FromHF(vocabJSON, mergesTXT string) (*Tokenizer, error) {
	vb, err := os.ReadFile(vocabJSON)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var vocab map[string]int64
	if err := json.Unmarshal(vb, &vocab); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", vocabJSON, err)
	}
	if len(vocab) == 0 {
		return nil, fmt.Errorf("tokenizer: %s: empty vocabulary", vocabJSON)
	}
	tokens := make([]string, len(vocab))
	seen := make([]bool, len(vocab))
	for tok, id := range vocab {
		if id < 0 || id >= int64(len(vocab)) {
			return nil, fmt.Errorf("tokenizer: %s: token %q has id %d, outside 0..%d (ids must be dense)", vocabJSON, tok, id, len(vocab)-1)
		}
		if seen[id] {
			return nil, fmt.Errorf("tokenizer: %s: id %d is used twice", vocabJSON, id)
		}
		seen[id] = true
		tokens[id] = tok
	}

	mf, err := os.Open(mergesTXT)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer mf.Close()
	merges, err := readMerges(mf)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", mergesTXT, err)
	}
	t, err := build(tokens, merges, -1, hfStartName, hfEndName)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s and %s: %w", vocabJSON, mergesTXT, err)
	}
	return t, nil
}

// FromDir returns FromHF(dir/vocab.json, dir/merges.txt), with an error
// naming the files that are missing.
func FromDir(dir string) (*Tokenizer, error) {
	vocab := filepath.Join(dir, "vocab.json")
	merges := filepath.Join(dir, "merges.txt")
	var missing []string
	for _, p := range []string{vocab, merges} {
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				missing = append(missing, filepath.Base(p))
				continue
			}
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("tokenizer: %s has no %s (a CLIP tokenizer folder holds vocab.json and merges.txt)", dir, strings.Join(missing, " or "))
	}
	return FromHF(vocab, merges)
}

// readMerges parses a merges.txt: an optional first line starting with
// "#version", then one pair per line; empty lines are skipped.
func readMerges(r io.Reader) ([][2]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var merges [][2]string
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 && strings.HasPrefix(text, "#version") {
			continue
		}
		if text == "" {
			continue
		}
		a, b, ok := splitMerge(text)
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not two space-separated symbols", line, text)
		}
		merges = append(merges, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return merges, nil
}

func splitMerge(line string) (a, b string, ok bool) {
	a, b, ok = strings.Cut(line, " ")
	if !ok || a == "" || b == "" || strings.Contains(b, " ") {
		return "", "", false
	}
	return a, b, true
}

// build assembles a Tokenizer from its id → token table, its merges in rank
// order and the names of its special tokens. When joinedAt ≥ 0, the token
// of merge i is known to be tokens[joinedAt+i] and is not looked up.
func build(tokens []string, merges [][2]string, joinedAt int, start, end string) (*Tokenizer, error) {
	ids := make(map[string]int32, len(tokens))
	for i, tok := range tokens {
		if _, dup := ids[tok]; dup {
			return nil, fmt.Errorf("token %q appears twice", tok)
		}
		ids[tok] = int32(i)
	}
	t := &Tokenizer{
		tokens:     tokens,
		merges:     make(map[uint64]uint64, len(merges)),
		startTok:   start,
		endTok:     end,
		cache:      make(map[string][]int32),
		cacheLimit: maxCacheEntries,
	}
	var ok bool
	if t.start, ok = ids[start]; !ok {
		return nil, fmt.Errorf("no start token %q", start)
	}
	if t.end, ok = ids[end]; !ok {
		return nil, fmt.Errorf("no end token %q", end)
	}
	t.startFold, t.endFold = []rune(start), []rune(end)

	syms := byteSymbols()
	for b := 0; b < 256; b++ {
		if t.byteID[b], ok = ids[syms[b]]; !ok {
			return nil, fmt.Errorf("no token for the byte symbol %q (byte %#02x)", syms[b], b)
		}
		if t.byteEndID[b], ok = ids[syms[b]+endOfWord]; !ok {
			return nil, fmt.Errorf("no token for the byte symbol %q (byte %#02x)", syms[b]+endOfWord, b)
		}
	}

	for rank, m := range merges {
		l, okl := ids[m[0]]
		r, okr := ids[m[1]]
		var joined int32
		okj := true
		if joinedAt >= 0 {
			joined = int32(joinedAt + rank)
		} else {
			joined, okj = ids[m[0]+m[1]]
		}
		if !okl || !okr || !okj {
			missing := m[0] + m[1]
			if !okl {
				missing = m[0]
			} else if !okr {
				missing = m[1]
			}
			return nil, fmt.Errorf("merge %d (%q %q): token %q is not in the vocabulary", rank+1, m[0], m[1], missing)
		}
		// A repeated pair takes its last rank, as a dictionary built from
		// the list in order would.
		t.merges[uint64(uint32(l))<<32|uint64(uint32(r))] = uint64(rank)<<32 | uint64(uint32(joined))
	}

	// The heap-based merge loop gives the same result as the reference loop
	// when every pair involving a merged token ranks after every merge that
	// can produce that token. lastMade[id] is the highest rank producing id
	// (-1 for tokens no merge produces).
	lastMade := make([]int64, len(tokens))
	for i := range lastMade {
		lastMade[i] = -1
	}
	for _, v := range t.merges {
		rank, joined := int64(v>>32), int32(uint32(v))
		lastMade[joined] = max(lastMade[joined], rank)
	}
	t.ordered = true
	for k, v := range t.merges {
		rank := int64(v >> 32)
		if lastMade[int32(uint32(k>>32))] >= rank || lastMade[int32(uint32(k))] >= rank {
			t.ordered = false
			break
		}
	}
	return t, nil
}

// Start returns the id of the start-of-text token.
func (t *Tokenizer) Start() int32 { return t.start }

// End returns the id of the end-of-text token.
func (t *Tokenizer) End() int32 { return t.end }

// VocabSize returns the number of ids; every id Encode returns is below it.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Open returns the tokenizer of the Hugging Face files in dir, or the
// built-in CLIP vocabulary when dir is "".
func Open(dir string) (*Tokenizer, error) {
	if dir != "" {
		return FromDir(dir)
	}
	return New()
}

// Identity returns a digest of everything that decides how t encodes text:
// its tokens in id order, its merges in rank order and the names of its
// special tokens. Two tokenizers with the same identity encode every text
// alike, whatever files they were read from.
func (t *Tokenizer) Identity() string {
	h := sha256.New()
	word := func(s string) {
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	word(t.startTok)
	word(t.endTok)
	for _, tok := range t.tokens {
		word(tok)
	}
	type merge struct{ rank, pair uint64 }
	merges := make([]merge, 0, len(t.merges))
	for pair, v := range t.merges {
		merges = append(merges, merge{v >> 32, pair})
	}
	slices.SortFunc(merges, func(a, b merge) int { return cmp.Compare(a.rank, b.rank) })
	var b [8]byte
	for _, m := range merges {
		binary.LittleEndian.PutUint64(b[:], m.pair)
		h.Write(b[:])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
