package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// validUTF8 replaces each byte of s that is not part of a valid UTF-8
// sequence with U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// removeTerminalEscapes removes ESC "[" followed by digits and semicolons
// and one ASCII letter.
func removeTerminalEscapes(s string) string {
	i := strings.Index(s, "\x1b[")
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		j := i + 2
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
			j++
		}
		if j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
			b.WriteString(s[:i])
			s = s[j+1:]
		} else {
			b.WriteString(s[:i+2])
			s = s[i+2:]
		}
		i = strings.Index(s, "\x1b[")
	}
	b.WriteString(s)
	return b.String()
}

// sloppyByte returns the byte Windows-1252 encodes r as, extended with the
// code points U+0080–U+009F for the bytes of the same number (as Latin-1
// decoding produces them).
func sloppyByte(r rune) (byte, bool) {
	if r < 0x100 {
		return byte(r), true
	}
	for i, c := range cp1252High {
		if c == r {
			return byte(0x80 + i), true
		}
	}
	return 0, false
}

// plausible reports whether a character decoded from mojibake is one that
// real text contains (see Clean).
func plausible(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		return true
	case r <= 0x9F, r == utf8.RuneError, 0x0780 <= r && r <= 0x08FF:
		return false
	}
	return unicode.IsGraphic(r) || unicode.Is(unicode.Cf, r)
}

// fixMojibake re-decodes, as UTF-8, each maximal run of characters that
// sloppyByte encodes, contains a non-ASCII character, encodes to valid UTF-8
// and decodes to plausible characters only.
func fixMojibake(s string) (string, bool) {
	var out strings.Builder
	changed := false
	done := 0 // s[:done] is copied to out, or will be when changed
	var buf []byte
	for i := 0; i < len(s); {
		// Find the run starting at i.
		j, nonASCII := i, false
		buf = buf[:0]
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			c, ok := sloppyByte(r)
			if !ok {
				break
			}
			buf = append(buf, c)
			nonASCII = nonASCII || r >= utf8.RuneSelf
			j += size
		}
		if j == i {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			continue
		}
		if nonASCII && utf8.Valid(buf) && allPlausible(buf) {
			if !changed {
				out.Grow(len(s))
				changed = true
			}
			out.WriteString(s[done:i])
			out.Write(buf)
			done = j
		}
		i = j
	}
	if !changed {
		return s, false
	}
	out.WriteString(s[done:])
	return out.String(), true
}

func allPlausible(b []byte) bool {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if !plausible(r) {
			return false
		}
		b = b[size:]
	}
	return true
}

// ligatures spells out the Latin ligatures and digraph letters.
var ligatures = map[rune]string{
	'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "ʼn",
	'Ǆ': "DŽ", 'ǅ': "Dž", 'ǆ': "dž", 'Ǉ': "LJ", 'ǈ': "Lj", 'ǉ': "lj",
	'Ǌ': "NJ", 'ǋ': "Nj", 'ǌ': "nj", 'Ǳ': "DZ", 'ǲ': "Dz", 'ǳ': "dz",
	'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "ſt", 'ﬆ': "st",
}

// removedControl reports whether r is a control or format character that
// the repair step deletes.
func removedControl(r rune) bool {
	switch {
	case r <= 0x08, r == 0x0B, 0x0E <= r && r <= 0x1F, r == 0x7F:
		return true
	case 0x206A <= r && r <= 0x206F, r == 0xFEFF, 0xFFF9 <= r && r <= 0xFFFC:
		return true
	}
	return false
}

// mapRunes applies the character-by-character rules of the repair step:
// C1 controls, ligatures, width, quotes and control characters.
func mapRunes(s string) string {
	var b strings.Builder
	changed := false
	for i, r := range s {
		repl, keep := mapRune(r)
		if keep && !changed {
			continue
		}
		if !changed {
			b.Grow(len(s))
			b.WriteString(s[:i])
			changed = true
		}
		if keep {
			b.WriteRune(r)
		} else {
			b.WriteString(repl)
		}
	}
	if !changed {
		return s
	}
	return b.String()
}

// mapRune returns r's replacement, or keep = true when r stays.
func mapRune(r rune) (repl string, keep bool) {
	if r < utf8.RuneSelf {
		if removedControl(r) {
			return "", false
		}
		return "", true
	}
	if 0x80 <= r && r <= 0x9F && r != 0x85 {
		if c := cp1252High[r-0x80]; c != r {
			r = c
			repl = string(c)
		}
	}
	switch {
	case 0x2018 <= r && r <= 0x201B:
		return "'", false
	case 0x201C <= r && r <= 0x201F:
		return `"`, false
	case r == 0x3000:
		return " ", false
	case 0xFF01 <= r && r <= 0xFFEF:
		return norm.NFKC.String(string(r)), false
	case removedControl(r):
		return "", false
	}
	if l, ok := ligatures[r]; ok {
		return l, false
	}
	return repl, repl == ""
}
