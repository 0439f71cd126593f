package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	testOnce sync.Once
	testTok  *Tokenizer
	testErr  error
)

// newTest returns one Tokenizer shared by the tests of this package.
func newTest(t testing.TB) *Tokenizer {
	t.Helper()
	testOnce.Do(func() { testTok, testErr = New() })
	if testErr != nil {
		t.Fatal(testErr)
	}
	return testTok
}

func TestVocabulary(t *testing.T) {
	tok := newTest(t)
	if tok.VocabSize() != 49408 || tok.Start() != 49406 || tok.End() != 49407 {
		t.Fatalf("VocabSize %d, Start %d, End %d; want 49408, 49406, 49407", tok.VocabSize(), tok.Start(), tok.End())
	}
	if !tok.ordered {
		t.Error("CLIP's merges should allow the heap-based merge loop")
	}
	// Spot checks of the id layout.
	for id, want := range map[int32]string{
		0:     "!",
		93:    "~",
		94:    "¡",
		187:   "ÿ",
		188:   "Ā", // byte 0x00
		220:   "Ġ", // byte 0x20, the space
		255:   "Ń", // byte 0xAD, the soft hyphen
		256:   "!</w>",
		511:   "Ń</w>",
		512:   "in",
		513:   "th",
		49405: "jekyll</w>", // the last merge used, file line 48,895
		49406: "<start_of_text>",
		49407: "<end_of_text>",
	} {
		if got := tok.tokens[id]; got != want {
			t.Errorf("token %d = %q, want %q", id, got, want)
		}
	}
	if tok.byteID['a'] != 64 || tok.byteEndID['a'] != 320 || tok.byteID[0] != 188 || tok.byteID[0xAD] != 255 {
		t.Errorf("byte ids: a %d, a</w> %d, 0x00 %d, 0xAD %d", tok.byteID['a'], tok.byteEndID['a'], tok.byteID[0], tok.byteID[0xAD])
	}
}

func TestEncodeKnown(t *testing.T) {
	tok := newTest(t)
	for _, c := range []struct {
		text string
		want []int32
	}{
		{"a photo of a cat", []int32{320, 1125, 539, 320, 2368}},
		{"hello world!", []int32{3306, 1002, 256}},
		{"A PHOTO of a CAT", []int32{320, 1125, 539, 320, 2368}},
		{"  a\tphoto\n\nof   a cat  ", []int32{320, 1125, 539, 320, 2368}},
		{"", []int32{}},
		{"   ", []int32{}},
		// Hand-derived: the byte symbols of "café" are c a f Ã ©</w>, which
		// merge into the one token "cafÃ©</w>".
		{"café", []int32{15304}},
		{"cafÃ©", []int32{15304}},
		// "猫" is the bytes e7 8c ab, whose symbols ç (163: the 58th of
		// '®'..'ÿ', after 106 earlier printable bytes), Į (234: byte 0x8c,
		// the 47th non-printable byte, after 188 printable ones) and «</w>
		// (104 + 256) have no merges.
		{"猫", []int32{163, 234, 360}},
		// Contractions split off; an unknown "'x" is punctuation + letter.
		{"don't", []int32{847, 713}},
		{"'x", []int32{262, 343}},
		// Each digit is its own piece.
		{"2024", []int32{273, 271, 273, 275}},
		// Special-token names in text encode to the special ids.
		{"a <end_of_text> b", []int32{320, 49407, 321}},
	} {
		if got := tok.Encode(c.text); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v (%q)", c.text, got, c.want, tok.Decode(got))
		}
	}
}

func TestTokenize(t *testing.T) {
	tok := newTest(t)
	s, e := tok.Start(), tok.End()
	for _, c := range []struct {
		text string
		n    int
		want []int32
	}{
		{"a photo of a cat", 10, []int32{s, 320, 1125, 539, 320, 2368, e, 0, 0, 0}},
		// Exactly fitting: no cut.
		{"a photo of a cat", 7, []int32{s, 320, 1125, 539, 320, 2368, e}},
		// One too long: the last kept id becomes end.
		{"a photo of a cat", 6, []int32{s, 320, 1125, 539, 320, e}},
		// Context length 5 with a long caption: [start, a, b, c, end].
		{"a photo of a cat sitting on a red mat", 5, []int32{s, 320, 1125, 539, e}},
		{"", 5, []int32{s, e, 0, 0, 0}},
		{"", 2, []int32{s, e}},
		{"", 1, []int32{e}},
		{"a photo", 1, []int32{e}},
		{"a photo", 2, []int32{s, e}},
		{"a photo", 0, []int32{}},
		{"a photo", -3, []int32{}},
	} {
		got := tok.Tokenize(c.text, c.n)
		if !slices.Equal(got, c.want) {
			t.Errorf("Tokenize(%q, %d) = %v, want %v", c.text, c.n, got, c.want)
		}
	}
	// A 77-id caption cut from a long text equals the cut of the full
	// encoding (Tokenize stops encoding early).
	long := strings.Repeat("the quick brown fox jumps over the lazy dog ", 50)
	ids := tok.Encode(long)
	want := append([]int32{s}, ids[:75]...)
	want = append(want, e)
	if got := tok.Tokenize(long, 77); !slices.Equal(got, want) {
		t.Errorf("Tokenize(long, 77) = %v, want %v", got, want)
	}
}

func TestDecode(t *testing.T) {
	tok := newTest(t)
	for _, c := range []struct{ text, want string }{
		{"a photo of a cat", "<start_of_text>a photo of a cat <end_of_text>"},
		{"Hello, World! café 猫 😀", "<start_of_text>hello , world ! café 猫 😀 <end_of_text>"},
	} {
		ids := tok.Tokenize(c.text, 77)
		end := slices.Index(ids, tok.End()) + 1
		if got := tok.Decode(ids[:end]); got != c.want {
			t.Errorf("Decode(Tokenize(%q)) = %q, want %q", c.text, got, c.want)
		}
	}
	if got := tok.Decode([]int32{-1, 49408, 0}); got != "\uFFFD\uFFFD!" {
		t.Errorf("Decode of invalid ids = %q", got)
	}
	// A token holding part of a UTF-8 sequence decodes to U+FFFD.
	if got := tok.Decode([]int32{tok.byteEndID[0xE7]}); got != "\uFFFD" {
		t.Errorf("Decode of a lone lead byte = %q", got)
	}
}

// mergeReference is the textbook merge loop over token strings, kept here
// to check mergeScan and mergeHeap.
func mergeReference(tok *Tokenizer, ranks map[[2]string]int, index map[string]int32, piece string) []int32 {
	syms := byteSymbols()
	var word []string
	for i := 0; i < len(piece); i++ {
		word = append(word, syms[piece[i]])
	}
	word[len(word)-1] += endOfWord
	for len(word) > 1 {
		best, at := -1, -1
		for i := 0; i+1 < len(word); i++ {
			if r, ok := ranks[[2]string{word[i], word[i+1]}]; ok && (best < 0 || r < best) {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		a, b := word[at], word[at+1]
		var next []string
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == a && word[i+1] == b {
				next = append(next, a+b)
				i += 2
			} else {
				next = append(next, word[i])
				i++
			}
		}
		word = next
	}
	ids := make([]int32, len(word))
	for i, w := range word {
		ids[i] = index[w]
	}
	return ids
}

func TestMergeLoops(t *testing.T) {
	tok := newTest(t)
	rng := rand.New(rand.NewPCG(1, 2))
	letters := []string{"a", "b", "e", "n", "s", "t", "th", "in", "er", "é", "猫", "!", "aa"}
	var pieces []string
	for n := 1; n <= 200; n += 7 {
		for range 4 {
			var b strings.Builder
			for b.Len() < n {
				b.WriteString(letters[rng.IntN(len(letters))])
			}
			pieces = append(pieces, b.String())
		}
	}
	pieces = append(pieces, strings.Repeat("a", 301), strings.Repeat("ab", 150), "supercalifragilisticexpialidocious")
	ranks := map[[2]string]int{}
	for k, v := range tok.merges {
		ranks[[2]string{tok.tokens[uint32(k>>32)], tok.tokens[uint32(k)]}] = int(v >> 32)
	}
	index := map[string]int32{}
	for i, s := range tok.tokens {
		index[s] = int32(i)
	}
	for _, p := range pieces {
		want := mergeReference(tok, ranks, index, p)
		init := func() []int32 {
			w := make([]int32, len(p))
			for i := 0; i < len(p); i++ {
				w[i] = tok.byteID[p[i]]
			}
			w[len(p)-1] = tok.byteEndID[p[len(p)-1]]
			return w
		}
		if got := tok.mergeScan(init()); !slices.Equal(got, want) {
			t.Errorf("mergeScan(%q) = %v, want %v", p, got, want)
		}
		if got := tok.mergeHeap(init()); !slices.Equal(got, want) {
			t.Errorf("mergeHeap(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestSplit(t *testing.T) {
	tok := newTest(t)
	pieces := func(s string) []string {
		var out []string
		for i := 0; i < len(s); {
			start, end, _ := tok.nextPiece(s, i)
			if start < 0 {
				break
			}
			out = append(out, s[start:end])
			i = end
		}
		return out
	}
	for _, c := range []struct {
		text string
		want []string
	}{
		{"hello world!", []string{"hello", "world", "!"}},
		{"don't", []string{"don", "'t"}},
		{"they're we'll i'd", []string{"they", "'re", "we", "'ll", "i", "'d"}},
		{"'dog", []string{"'d", "og"}},
		{"''s", []string{"''", "s"}},
		{"!'s", []string{"!'", "s"}},
		{"'r", []string{"'", "r"}},
		{"'S 'ſ", []string{"'S", "'ſ"}},
		{"abc123", []string{"abc", "1", "2", "3"}},
		{"a.b", []string{"a", ".", "b"}},
		{"...!?", []string{"...!?"}},
		{"i̇stanbul", []string{"i", "\u0307", "stanbul"}},
		{"a\u0345b", []string{"a", "b"}},
		{"x<start_of_text>y", []string{"x", "<start_of_text>", "y"}},
		{"!<end_of_text>", []string{"!<", "end", "_", "of", "_", "text", ">"}},
		{"<start_of_text", []string{"<", "start", "_", "of", "_", "text"}},
		{"<ſtart_of_text>", []string{"<ſtart_of_text>"}},
		{"a\u00a0b\u3000c", []string{"a", "b", "c"}},
		{"a\x1cb", []string{"a", "\x1c", "b"}},
		{"猫猫 ½", []string{"猫猫", "½"}},
	} {
		if got := pieces(c.text); !slices.Equal(got, c.want) {
			t.Errorf("pieces(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	tok := newTest(t)
	texts := []string{"a photo of a cat", "hello world!", "猫 café", strings.Repeat("word ", 40)}
	want := make([][]int32, len(texts))
	for i, s := range texts {
		want[i] = tok.Tokenize(s, 77)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (g + i) % len(texts)
				if got := tok.Tokenize(fmt.Sprint(texts[k]), 77); !slices.Equal(got, want[k]) {
					errs <- fmt.Errorf("goroutine %d: %q gave %v", g, texts[k], got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCacheBound(t *testing.T) {
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tok.cacheLimit = 100
	word := func(i int) string {
		b := []byte{'w'}
		for ; i > 0; i /= 26 {
			b = append(b, byte('a'+i%26))
		}
		return string(b)
	}
	ref := newTest(t)
	for i := range 1000 {
		text := word(i) + " " + word(i/2)
		got := tok.Encode(text)
		if n := len(tok.cache); n > tok.cacheLimit {
			t.Fatalf("cache holds %d pieces, more than %d", n, tok.cacheLimit)
		}
		if want := ref.Encode(text); !slices.Equal(got, want) {
			t.Fatalf("%q: %v, want %v", text, got, want)
		}
	}
	if got := tok.Encode("a photo of a cat"); !slices.Equal(got, []int32{320, 1125, 539, 320, 2368}) {
		t.Errorf("after the cache was emptied: %v", got)
	}
}
