package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Clean returns text as the tokenizer sees it before splitting:
//
//  1. repaired (see below);
//  2. HTML character references decoded twice, with Python's html.unescape
//     rules (see unescape); when that changes the text, the result is
//     repaired again, so that a reference such as "&rsquo;" is treated like
//     the character it stands for;
//  3. every run of white space (the Unicode White_Space characters, as
//     Python's \s and Go's unicode.IsSpace define them) replaced by one
//     space, and leading and trailing space removed;
//  4. lowercased with full case mapping, as Python's str.lower does (see
//     lower).
//
// The repair step applies, in order:
//
//   - invalid UTF-8: each byte that is not part of a valid UTF-8 sequence
//     becomes U+FFFD;
//   - terminal escapes: ESC "[" digits and ";" then a letter (colour codes
//     and the like) are removed;
//   - mojibake: a maximal run of characters that Windows-1252 can encode
//     (C1 controls standing for the five bytes it leaves undefined, so that
//     Latin-1 decoding is covered too) and that contains a non-ASCII
//     character is re-decoded as UTF-8 when (a) its bytes are valid UTF-8
//     and (b) every character they decode to is a plausible one: printable
//     or a format character, not a C1 control, U+FFFD, a private-use or
//     unassigned code point, and not in U+0780–U+08FF (Thaana to Arabic
//     Extended-A, whose encodings are what ordinary Latin-1 text such as
//     "Fuß…" or "voilà »" looks like). The fix runs up to three times, for
//     text garbled repeatedly. So "cafÃ©" becomes "café" and "Ã¢â‚¬â„¢"
//     becomes "’", while "café" (its bytes are not UTF-8) stays;
//   - C1 controls U+0080–U+009F become the Windows-1252 characters of the
//     same byte (U+0093 → “), except the five Windows-1252 leaves undefined
//     and U+0085 (next line), which is white space;
//   - ligatures and digraphs: ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ Ĳ ĳ ŉ Ǆ ǅ ǆ Ǉ ǈ ǉ Ǌ ǋ ǌ Ǳ ǲ ǳ are
//     spelt as their letters;
//   - width: U+FF01–U+FFEF (fullwidth ASCII and punctuation, halfwidth
//     katakana and hangul, fullwidth signs) take their NFKC form, and the
//     ideographic space U+3000 becomes a space;
//   - quotes: ‘ ’ ‚ ‛ (U+2018–U+201B) become ' and “ ” „ ‟ (U+201C–U+201F)
//     become ";
//   - control characters U+0000–U+0008, U+000B, U+000E–U+001F, U+007F, the
//     deprecated format characters U+206A–U+206F, the byte order mark
//     U+FEFF and the interlinear annotation characters U+FFF9–U+FFFC are
//     removed (tab, line feed, form feed and carriage return are white
//     space and stay);
//   - the text is put in NFC (golang.org/x/text/unicode/norm, which, unlike
//     Python's unicodedata, inserts U+034F after 30 consecutive combining
//     marks, as the Unicode stream-safe format asks).
//
// These are the default fixes of the ftfy library, which CLIP's reference
// tokenizer runs first, reduced to deterministic, conservative rules; ftfy's
// statistical mojibake detection, its own HTML unescaping and its other
// heuristics are not reproduced. Text that is plain printable ASCII is
// never changed by the repair step.
func Clean(text string) string {
	s := repair(text)
	if strings.IndexByte(s, '&') >= 0 {
		if u := unescape(unescape(s)); u != s {
			s = repair(u)
		}
	}
	return lower(collapseSpace(s))
}

// collapseSpace replaces every run of white space by one space and trims
// the ends.
func collapseSpace(s string) string {
	// Fast path: no white space other than single inner spaces.
	clean := len(s) == 0 || s[0] != ' ' && s[len(s)-1] != ' '
	for i := 0; clean && i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			clean = i+1 < len(s) && s[i+1] != ' '
		case c < utf8.RuneSelf:
			clean = c < '\t' || c > '\r'
		default:
			clean = !startsSpace(s[i:])
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		size := 1
		isSpace := c == ' ' || '\t' <= c && c <= '\r'
		if c >= utf8.RuneSelf {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			isSpace = unicode.IsSpace(r)
		}
		if isSpace {
			space = true
		} else {
			if space && len(b) > 0 {
				b = append(b, ' ')
			}
			space = false
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}

// startsSpace reports whether s starts with a non-ASCII white-space
// character.
func startsSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// plainASCII reports whether s holds only printable ASCII and the white
// space characters tab, line feed, form feed and carriage return.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x7F || c < ' ' && c != '\t' && c != '\n' && c != '\f' && c != '\r' {
			return false
		}
	}
	return true
}

// repair applies the repair step described at Clean.
func repair(s string) string {
	if plainASCII(s) {
		return s
	}
	s = validUTF8(s)
	s = removeTerminalEscapes(s)
	for range 3 {
		fixed, changed := fixMojibake(s)
		if !changed {
			break
		}
		s = fixed
	}
	s = mapRunes(s)
	return norm.NFC.String(s)
}
