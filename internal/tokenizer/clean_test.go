package tokenizer

import (
	"html"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"A Photo", "a photo"},
		{"  many   spaces\tand\nlines\r\n", "many spaces and lines"},
		{"nbsp\u00a0em\u2003ideo\u3000nel\u0085end", "nbsp em ideo nel end"},
		{"zero\u200bwidth", "zero\u200bwidth"}, // not white space
		// HTML references, decoded twice.
		{"Tom &amp; Jerry", "tom & jerry"},
		{"&amp;amp;", "&"},
		{"&amp;amp;amp;", "&amp;"},
		{"&lt;b&gt;", "<b>"},
		{"&amp", "&"},
		{"&ampfoo", "&foo"},
		{"&hellip", "&hellip"},
		{"&notit;", "¬it;"},
		{"&#1;x", "x"},
		{"&#128;", "€"},
		{"&#X41;", "a"},
		{"AT&T", "at&t"},
		{"x&nbsp;y", "x y"},
		{"don&rsquo;t", "don't"},
		// Full case mapping.
		{"ΟΔΥΣΣΕΥΣ", "οδυσσευς"},
		{"ΣΑΣ Σ", "σας σ"},
		{"ΑΣ'Β", "ασ'β"},
		{"ΑΣ.", "ας."},
		{"İstanbul", "i\u0307stanbul"},
		{"DİYARBAKIR", "di\u0307yarbakir"},
		{"Straße", "straße"},
		// Repairs.
		{"cafÃ©", "café"},
		{"Donâ€™t", "don't"},
		{"Ã¢â‚¬â„¢", "'"},
		{"ðŸ˜€ party", "😀 party"},
		{"æ—¥æœ¬èªž", "日本語"},
		{"cafe\u0301", "café"},
		{"ﬁ ﬂ ﬃ", "fi fl ffi"},
		{"ＡＢＣ１２３！", "abc123!"},
		{"“a” ‘b’ „c‟", `"a" 'b' "c"`},
		{"\x1b[1;31mred\x1b[0m", "red"},
		{"a\x00b\x7fc\ufeffd", "abcd"},
		{"bad \xff\xfe bytes", "bad \uFFFD\uFFFD bytes"},
		{"x\u0093y\u0094", `x"y"`},
		// Not mojibake: left alone.
		{"café naïve", "café naïve"},
		{"Fuß…", "fuß…"},
		{"voilà\u00a0»", "voilà »"},
		{"São Paulo", "são paulo"},
		{"½ °C ±5 ×2", "½ °c ±5 ×2"},
		{"Ålesund Ærø", "ålesund ærø"},
		{"ß“quoted”", `ß"quoted"`},
		{"日本 Ã©", "日本 é"}, // repaired run beside characters outside Windows-1252
	} {
		if got := Clean(c.in); got != c.want {
			t.Errorf("Clean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRepairLeavesASCII(t *testing.T) {
	var b strings.Builder
	for c := byte(' '); c < 0x7F; c++ {
		b.WriteByte(c)
	}
	b.WriteString("\t\n\f\r")
	s := b.String()
	if got := repair(s); got != s {
		t.Errorf("repair changed plain ASCII: %q", got)
	}
}

func TestFixMojibake(t *testing.T) {
	for _, c := range []struct {
		in, want string
		changed  bool
	}{
		{"cafÃ©", "café", true},
		{"Ã¢â‚¬â„¢", "â€™", true}, // one pass
		{"The Â£5", "The £5", true},
		{"naÃ¯ve & Ã©tÃ©", "naïve & été", true},
		{"Ã\u0083Â©", "Ã©", true}, // Latin-1 decoding: C1 controls stand for bytes
		{"café", "café", false},
		{"Fuß…", "Fuß…", false},                 // ß… would be U+07C5 (NKo)
		{"voilà\u00a0»", "voilà\u00a0»", false}, // U+083B (Samaritan)
		{"Â\u0080", "Â\u0080", false},           // would be a C1 control
		{"plain ascii", "plain ascii", false},
		{"日本", "日本", false},
	} {
		got, changed := fixMojibake(c.in)
		if got != c.want || changed != c.changed {
			t.Errorf("fixMojibake(%q) = %q, %v; want %q, %v", c.in, got, changed, c.want, c.changed)
		}
	}
}

func TestCP1252Table(t *testing.T) {
	dec := charmap.Windows1252.NewDecoder()
	for i, r := range cp1252High {
		b := byte(0x80 + i)
		got, err := dec.Bytes([]byte{b})
		if err != nil {
			t.Fatal(err)
		}
		want := string(r)
		if r == rune(b) {
			want = "\uFFFD" // undefined in Windows-1252
		}
		if string(got) != want {
			t.Errorf("byte %#x: table %q, Windows-1252 %q", b, string(r), got)
		}
	}
}

// TestUnescapePython compares unescape with Python's html.unescape on every
// HTML5 entity name and on corner cases (testdata/python_reference.json).
func TestUnescapePython(t *testing.T) {
	var ref struct{ Unescape [][2]string }
	readJSON(t, "testdata/python_reference.json", &ref)
	if len(ref.Unescape) < 2000 {
		t.Fatalf("only %d unescape cases", len(ref.Unescape))
	}
	goDiffers := 0
	for _, c := range ref.Unescape {
		in, want := c[0], c[1]
		if !utf8.ValidString(want) {
			continue // a lone surrogate cannot be a Go string
		}
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, html.unescape gives %q", in, got, want)
		}
		if html.UnescapeString(in) != want {
			goDiffers++
		}
	}
	t.Logf("%d cases; Go's html.UnescapeString differs from Python on %d of them", len(ref.Unescape), goDiffers)
}

// TestLowerPython compares lower with Python's str.lower on every code
// point whose lowercase differs from it.
func TestLowerPython(t *testing.T) {
	var ref struct{ Lower map[string]string }
	readJSON(t, "testdata/python_reference.json", &ref)
	if len(ref.Lower) < 1000 {
		t.Fatalf("only %d lowercase mappings", len(ref.Lower))
	}
	for k, want := range ref.Lower {
		cp, err := strconv.Atoi(k)
		if err != nil {
			t.Fatal(err)
		}
		if got := lower(string(rune(cp))); got != want {
			t.Errorf("lower(%U) = %q, str.lower gives %q", cp, got, want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"Σ", "σ"},
		{"ΑΣ", "ας"},
		{"ΑΣΑ", "ασα"},
		{"ΑΣ\u0301", "ας\u0301"}, // combining mark: case-ignorable
		{"ΑΣ\u0301Α", "ασ\u0301α"},
		{"Α.Σ", "α.ς"},   // '.' is case-ignorable (MidNumLet)
		{"1Σ", "1σ"},     // no cased letter before
		{"ΑΣ1", "ας1"},   // digit is not cased
		{"ΑΣ:Β", "ασ:β"}, // ':' is case-ignorable (MidLetter)
		{"ABC", "abc"},
	} {
		if got := lower(c.in); got != c.want {
			t.Errorf("lower(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
