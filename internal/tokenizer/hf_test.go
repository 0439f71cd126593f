package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// writeHF writes tok's vocabulary as a Hugging Face vocab.json and
// merges.txt in dir, with OpenAI's special-token names.
func writeHF(t *testing.T, tok *Tokenizer, dir string) {
	t.Helper()
	vocab := make(map[string]int, len(tok.tokens))
	for id, s := range tok.tokens {
		switch int32(id) {
		case tok.start:
			s = hfStartName
		case tok.end:
			s = hfEndName
		}
		vocab[s] = id
	}
	b, err := json.Marshal(vocab)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vocab.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	type merge struct {
		rank uint64
		l, r string
	}
	var merges []merge
	for k, v := range tok.merges {
		merges = append(merges, merge{v >> 32, tok.tokens[uint32(k>>32)], tok.tokens[uint32(k)]})
	}
	sort.Slice(merges, func(i, j int) bool { return merges[i].rank < merges[j].rank })
	var m strings.Builder
	m.WriteString("#version: 0.2\n")
	for _, x := range merges {
		m.WriteString(x.l + " " + x.r + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHFRoundTrip(t *testing.T) {
	tok := newTest(t)
	dir := t.TempDir()
	writeHF(t, tok, dir)
	hf, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if hf.VocabSize() != tok.VocabSize() || hf.Start() != tok.Start() || hf.End() != tok.End() || !hf.ordered {
		t.Fatalf("HF tokenizer: size %d start %d end %d ordered %v", hf.VocabSize(), hf.Start(), hf.End(), hf.ordered)
	}
	if hf2, err := FromHF(filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt")); err != nil || hf2.VocabSize() != 49408 {
		t.Fatalf("FromHF: %v", err)
	}
	var corpus []string
	readJSON(t, "testdata/corpus.json", &corpus)
	// The special-token names differ: open_clip's for New, OpenAI's for
	// vocab.json; text holding either is checked separately below.
	special := func(s string) bool {
		c := strings.ReplaceAll(Clean(s), "ſ", "s")
		for _, n := range []string{startName, endName, hfStartName, hfEndName} {
			if strings.Contains(c, n) {
				return true
			}
		}
		return false
	}
	n := 0
	for _, s := range corpus {
		if special(s) {
			continue
		}
		n++
		if a, b := tok.Tokenize(s, 77), hf.Tokenize(s, 77); !slices.Equal(a, b) {
			t.Errorf("%q: embedded %v, HF files %v", s, a, b)
		}
	}
	if n < 300 {
		t.Errorf("only %d corpus strings compared", n)
	}
	for _, c := range []struct {
		text      string
		emb, hfID []int32
	}{
		// Pieces "<|" (< |</w>), "startoftext", "|>" (| ></w>).
		{"<|startoftext|>", []int32{27, 347, 993, 6659, 4160, 91, 285}, []int32{49406}},
		{"a <|endoftext|>", []int32{320, 27, 347, 40786, 4160, 91, 285}, []int32{320, 49407}},
		// Pieces "<", "start", "_", "of", "_", "text", ">".
		{"<start_of_text>", []int32{49406}, []int32{283, 1572, 318, 539, 318, 4160, 285}},
	} {
		if got := tok.Encode(c.text); !slices.Equal(got, c.emb) {
			t.Errorf("embedded Encode(%q) = %v, want %v", c.text, got, c.emb)
		}
		if got := hf.Encode(c.text); !slices.Equal(got, c.hfID) {
			t.Errorf("HF Encode(%q) = %v, want %v", c.text, got, c.hfID)
		}
	}
}

func TestFromDirErrors(t *testing.T) {
	tok := newTest(t)
	good := t.TempDir()
	writeHF(t, tok, good)
	vocab, err := os.ReadFile(filepath.Join(good, "vocab.json"))
	if err != nil {
		t.Fatal(err)
	}
	merges, err := os.ReadFile(filepath.Join(good, "merges.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		vocab, merges *string // nil: file absent
		want          []string
	}{
		{"empty folder", nil, nil, []string{"has no vocab.json or merges.txt"}},
		{"no merges", ptr(string(vocab)), nil, []string{"has no merges.txt"}},
		{"no vocab", nil, ptr(string(merges)), []string{"has no vocab.json"}},
		{"bad json", ptr("{"), ptr(string(merges)), []string{"vocab.json", "unexpected end"}},
		{"empty vocab", ptr("{}"), ptr(string(merges)), []string{"empty vocabulary"}},
		{"sparse ids", ptr(`{"a": 0, "b": 5}`), ptr(""), []string{"outside 0..1"}},
		{"no start", ptr(strings.Replace(string(vocab), `"\u003c|startoftext|\u003e"`, `"not-a-token"`, 1)), ptr(string(merges)),
			[]string{`no start token "<|startoftext|>"`}},
		{"bad merge line", ptr(string(vocab)), ptr("#version: 0.2\ni n\nabc\n"), []string{"merges.txt", "line 3", "not two space-separated symbols"}},
		{"unknown merge", ptr(string(vocab)), ptr("#version: 0.2\ni n\nzzq y\n"), []string{"merge 2", `token "zzq"`}},
	} {
		dir := t.TempDir()
		if c.vocab != nil {
			if err := os.WriteFile(filepath.Join(dir, "vocab.json"), []byte(*c.vocab), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if c.merges != nil {
			if err := os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(*c.merges), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := FromDir(dir)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
	if _, err := FromHF(filepath.Join(good, "nope.json"), filepath.Join(good, "merges.txt")); err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("FromHF with a missing file: %v", err)
	}
}

func ptr(s string) *string { return &s }

// TestIdentity: the identity depends on what decides encoding (tokens,
// merges and their order, special-token names), not on how the vocabulary
// was read.
func TestIdentity(t *testing.T) {
	tok := newTest(t)
	again, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if tok.Identity() != again.Identity() || !strings.HasPrefix(tok.Identity(), "sha256:") {
		t.Fatalf("built-in identity %s, %s", tok.Identity(), again.Identity())
	}
	dir := t.TempDir()
	writeHF(t, tok, dir)
	a, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Identity() != b.Identity() {
		t.Error("the same files give different identities")
	}
	if a.Identity() == tok.Identity() {
		t.Error("different special-token names give the same identity")
	}
	// Swapping the ranks of two merges changes how some words encode.
	m, _ := os.ReadFile(filepath.Join(dir, "merges.txt"))
	lines := strings.SplitN(string(m), "\n", 4)
	lines[1], lines[2] = lines[2], lines[1]
	if err := os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity() == a.Identity() {
		t.Error("reordered merges give the same identity")
	}
}
