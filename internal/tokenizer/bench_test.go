package tokenizer

import (
	"strings"
	"testing"
)

// BenchmarkNew measures building the tables of the embedded vocabulary.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenize reports tokens/s (the ids Tokenize returns up to and
// including the end token, context length 77) on the corpus and on long
// captions, with the word cache warm (its steady state on a data set) and
// cold (a fresh Tokenizer's first pass).
func BenchmarkTokenize(b *testing.B) {
	var corpus []string
	readJSON(b, "testdata/corpus.json", &corpus)
	words := strings.Fields("a photo of the small red house with trees and two dogs playing " +
		"near a river under blue sky at sunset, high resolution stock image by an unknown photographer")
	long := make([]string, 64)
	for i := range long {
		var s strings.Builder
		for j := range 70 {
			s.WriteString(words[(i*7+j*3)%len(words)])
			s.WriteByte(' ')
		}
		long[i] = s.String()
	}
	for _, c := range []struct {
		name  string
		texts []string
	}{
		{"corpus", corpus},
		{"long_captions", long},
	} {
		tok := newTest(b)
		b.Run(c.name, func(b *testing.B) {
			tokens := countTokens(tok, c.texts)
			b.ResetTimer()
			for b.Loop() {
				for _, s := range c.texts {
					tok.Tokenize(s, 77)
				}
			}
			b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(len(c.texts))*float64(b.N)/b.Elapsed().Seconds(), "captions/s")
		})
		b.Run(c.name+"/cold_cache", func(b *testing.B) {
			tokens := countTokens(tok, c.texts)
			b.ResetTimer()
			for b.Loop() {
				tok.mu.Lock()
				clear(tok.cache)
				tok.mu.Unlock()
				for _, s := range c.texts {
					tok.Tokenize(s, 77)
				}
			}
			b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// countTokens returns the number of ids Tokenize gives texts, padding
// excluded.
func countTokens(tok *Tokenizer, texts []string) int {
	n := 0
	for _, s := range texts {
		ids := tok.Tokenize(s, 77)
		for i, id := range ids {
			if id == tok.End() {
				n += i + 1
				break
			}
		}
	}
	return n
}
