package tokenizer

import (
	"testing"
	"unicode/utf8"
)

func FuzzTokenize(f *testing.F) {
	tok := newTest(f)
	var corpus []string
	readJSON(f, "testdata/corpus.json", &corpus)
	for i, s := range corpus {
		f.Add(s, uint8(i))
	}
	f.Add("\xff\xfe\xc3", uint8(77))
	f.Add("&#x110000;&amp;amp;&#0;", uint8(3))
	f.Add("Ã\u0083Â©ð\u009f\u0098\u0080", uint8(16))
	f.Fuzz(func(t *testing.T, text string, n uint8) {
		contextLength := int(n)
		ids := tok.Tokenize(text, contextLength)
		if len(ids) != contextLength {
			t.Fatalf("Tokenize(%q, %d) has %d ids", text, contextLength, len(ids))
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("Tokenize(%q, %d): id %d outside the vocabulary", text, contextLength, id)
			}
		}
		if contextLength >= 2 && ids[0] != tok.Start() {
			t.Fatalf("Tokenize(%q, %d) starts with %d", text, contextLength, ids[0])
		}
		if c := Clean(text); !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q is not UTF-8", text, c)
		}
		_ = tok.Decode(ids)
	})
}
