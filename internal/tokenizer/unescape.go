package tokenizer

import (
	"html"
	"strings"
	"unicode/utf8"
)

// unescape decodes HTML character references with the rules of Python's
// html.unescape, which CLIP's reference tokenizer applies:
//
//   - a reference is "&" followed by "#" and decimal digits, "#x" or "#X"
//     and hexadecimal digits, or 1 to 32 characters other than tab, line
//     feed, form feed, space, "<", "&", "#" and ";" — then an optional ";";
//   - a numeric reference to 0x80–0x9F gives the Windows-1252 character
//     (0x81, 0x8D, 0x8F, 0x90 and 0x9D give themselves), 0 gives U+FFFD and
//     13 gives a carriage return; a surrogate or a number above 0x10FFFF
//     gives U+FFFD; the control characters 0x01–0x08, 0x0B, 0x0E–0x1F,
//     0x7F, the noncharacters U+FDD0–U+FDEF and U+nFFFE/U+nFFFF give
//     nothing; any other number gives its code point;
//   - a named reference is replaced when it is an HTML5 entity name (with
//     its ";", or without one for the legacy names such as "amp" and
//     "eacute"); otherwise its longest prefix of at least two characters
//     that is a legacy name is replaced and the rest kept ("&notit;" gives
//     "¬it;"); otherwise it stays as it is.
//
// Go's html.UnescapeString follows the same HTML5 table and prefix rule,
// so named references are delegated to it, one at a time, except "&nGt;"
// and "&nLt;", which its table leaves out. It differs from Python on
// numeric references (it keeps the control characters and noncharacters
// listed above) and, for other input, on where a reference ends, which the
// scanner here decides.
func unescape(s string) string {
	amp := strings.IndexByte(s, '&')
	if amp < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for amp >= 0 {
		b.WriteString(s[:amp])
		s = s[amp:]
		n, repl := charRef(s)
		if n == 0 {
			b.WriteByte('&')
			s = s[1:]
		} else {
			b.WriteString(repl)
			s = s[n:]
		}
		amp = strings.IndexByte(s, '&')
	}
	b.WriteString(s)
	return b.String()
}

// charRef decodes the character reference at the start of s (which starts
// with "&"); it returns its length in bytes and replacement, or 0 when
// no reference starts there.
func charRef(s string) (int, string) {
	if len(s) < 2 {
		return 0, ""
	}
	if s[1] == '#' {
		return numericRef(s)
	}
	// Up to 32 code points of the name, then an optional ';'.
	n, count := 1, 0
	for n < len(s) && count < 32 {
		r, size := utf8.DecodeRuneInString(s[n:])
		if r == '\t' || r == '\n' || r == '\f' || r == ' ' || r == '<' || r == '&' || r == '#' || r == ';' {
			break
		}
		n += size
		count++
	}
	if count == 0 {
		return 0, ""
	}
	if n < len(s) && s[n] == ';' {
		n++
	}
	// Go's table lacks the two entities whose replacement is longer than
	// their name.
	switch s[1:n] {
	case "nGt;":
		return n, "\u226B\u20D2"
	case "nLt;":
		return n, "\u226A\u20D2"
	}
	// The name holds no '&', so Go decodes at most the one reference at its
	// start; its table and longest-prefix rule are otherwise Python's.
	return n, html.UnescapeString(s[:n])
}

// numericRef decodes "&#digits;?" or "&#[xX]hexdigits;?" at the start of s.
func numericRef(s string) (int, string) {
	n, base := 2, uint64(10)
	if n < len(s) && (s[n] == 'x' || s[n] == 'X') {
		n, base = 3, 16
	}
	digits := n
	var v uint64
	for ; n < len(s); n++ {
		d := digitValue(s[n])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v <= 0x10FFFF {
			v = v*base + uint64(d)
		}
	}
	if n == digits {
		return 0, ""
	}
	if n < len(s) && s[n] == ';' {
		n++
	}
	return n, codePointRef(v)
}

func digitValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// cp1252High maps the bytes 0x80–0x9F to their Windows-1252 characters;
// the five bytes Windows-1252 leaves undefined map to the C1 control of the
// same number.
var cp1252High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// codePointRef is the replacement of a numeric reference to v (v is
// capped just above 0x10FFFF by the caller).
func codePointRef(v uint64) string {
	switch {
	case v == 0:
		return "\uFFFD"
	case v == 0x0D:
		return "\r"
	case 0x80 <= v && v <= 0x9F:
		return string(cp1252High[v-0x80])
	case 0xD800 <= v && v <= 0xDFFF || v > 0x10FFFF:
		return "\uFFFD"
	case 0x01 <= v && v <= 0x08, v == 0x0B, 0x0E <= v && v <= 0x1F, v == 0x7F,
		0xFDD0 <= v && v <= 0xFDEF, v&0xFFFE == 0xFFFE:
		return ""
	}
	return string(rune(v))
}
