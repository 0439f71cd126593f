package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

const (
	magic = "\x93NUMPY"

	// dataAlign is the multiple of bytes at which numpy starts the data, so
	// that a mapping of the whole file is aligned for every element type.
	dataAlign = 64

	// growthDigits is the room numpy leaves in the header after the shape so
	// that a writer appending along the first axis (the last one for Fortran
	// order) can rewrite the header in place: a dimension may grow up to
	// this many digits without the data moving. The padding must be
	// reproduced to write byte-identical files.
	growthDigits = 21
)

// MaxHeaderSize is the largest header, in bytes after the length field, that
// this package reads or writes. A real header is at most a few kilobytes; the
// limit keeps a corrupt length field from causing a huge allocation.
const MaxHeaderSize = 1 << 20

// EncodeHeader returns the bytes that precede the data in an .npy file for
// h: the magic string, the format version, the header length and the dict
// text, padded with spaces and a final newline so that the data starts at a
// multiple of 64 bytes. The format is 1.0 when the header length fits in its
// 16-bit field, else 2.0, the same choice numpy makes; the bytes are
// identical to what numpy 1.24 and later write for the same array.
func EncodeHeader(h Header) ([]byte, error) {
	b, err := EncodeHeaderVersion(h, 1)
	if errors.Is(err, errHeaderTooLong) {
		return EncodeHeaderVersion(h, 2)
	}
	return b, err
}

// errHeaderTooLong reports a header that does not fit the length field of
// the requested format version.
var errHeaderTooLong = errors.New("header too long for format version")

// EncodeHeaderVersion is EncodeHeader with the format version forced: major
// is 1 (16-bit header length), 2 (32-bit) or 3 (32-bit, UTF-8 text, which
// numpy uses only for non-Latin-1 field names and which is otherwise
// identical to 2). Version 1 fails for a header over 65535 bytes.
func EncodeHeaderVersion(h Header, major int) ([]byte, error) {
	if major < 1 || major > 3 {
		return nil, fmt.Errorf("unsupported .npy format version %d.0 (supported: 1.0, 2.0, 3.0)", major)
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("{'descr': '")
	b.WriteString(h.DType.String())
	b.WriteString("', 'fortran_order': ")
	if h.FortranOrder {
		b.WriteString("True")
	} else {
		b.WriteString("False")
	}
	b.WriteString(", 'shape': ")
	b.WriteString(shapeString(h.Shape))
	b.WriteString(", }")
	if n := len(h.Shape); n > 0 {
		axis := h.Shape[0]
		if h.FortranOrder {
			axis = h.Shape[n-1]
		}
		b.WriteString(strings.Repeat(" ", max(0, growthDigits-len(strconv.Itoa(axis)))))
	}
	dict := b.String()

	lenSize := 2
	if major > 1 {
		lenSize = 4
	}
	prefix := len(magic) + 2 + lenSize
	text := len(dict) + 1 // the final newline
	pad := dataAlign - (prefix+text)%dataAlign
	total := text + pad
	if major == 1 && total > math.MaxUint16 {
		return nil, fmt.Errorf("%w 1.0: %d bytes, the limit is %d", errHeaderTooLong, total, math.MaxUint16)
	}
	if total > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds the limit of %d bytes", total, MaxHeaderSize)
	}

	out := make([]byte, 0, prefix+total)
	out = append(out, magic...)
	out = append(out, byte(major), 0)
	if major == 1 {
		out = binary.LittleEndian.AppendUint16(out, uint16(total))
	} else {
		out = binary.LittleEndian.AppendUint32(out, uint32(total))
	}
	out = append(out, dict...)
	for range pad {
		out = append(out, ' ')
	}
	return append(out, '\n'), nil
}

// DecodeHeader reads an .npy header from r and returns it with the offset of
// the data from the start of the file. It reads format versions 1.0, 2.0 and
// 3.0, and exactly the header bytes: r is left at the start of the data.
//
// The dict is parsed as the Python literal it is, with keys in any order,
// single or double quotes, any whitespace, with or without the trailing comma
// in the dict and in the shape tuple, and Python 2 long suffixes (3L); as in
// Python, (5) is an integer, not a tuple, and is refused. It must have
// exactly the keys 'descr', 'fortran_order' and 'shape'. The
// header is refused, with an error saying why, if the dtype is unsupported
// or big-endian, a dimension is negative, or the data size would overflow
// int64. A Fortran-order header is returned with FortranOrder set; the file
// functions refuse it. Errors do not name a file; callers add the path.
func DecodeHeader(r io.Reader) (Header, int64, error) {
	var pre [12]byte
	if _, err := io.ReadFull(r, pre[:len(magic)+2]); err != nil {
		return Header{}, 0, readError(err)
	}
	if string(pre[:len(magic)]) != magic {
		return Header{}, 0, errors.New("not an .npy file (the magic string \\x93NUMPY is missing)")
	}
	major, minor := pre[6], pre[7]
	if major < 1 || major > 3 || minor != 0 {
		return Header{}, 0, fmt.Errorf("unsupported .npy format version %d.%d (supported: 1.0, 2.0, 3.0)", major, minor)
	}
	prefix := len(magic) + 2 + 2
	if major > 1 {
		prefix += 2
	}
	if _, err := io.ReadFull(r, pre[len(magic)+2:prefix]); err != nil {
		return Header{}, 0, readError(err)
	}
	var size uint32
	if major == 1 {
		size = uint32(binary.LittleEndian.Uint16(pre[8:]))
	} else {
		size = binary.LittleEndian.Uint32(pre[8:])
	}
	if size > MaxHeaderSize {
		return Header{}, 0, fmt.Errorf("header length %d exceeds the limit of %d bytes", size, MaxHeaderSize)
	}
	text := make([]byte, size)
	if _, err := io.ReadFull(r, text); err != nil {
		return Header{}, 0, readError(err)
	}
	h, err := parseDict(text)
	if err != nil {
		return Header{}, 0, err
	}
	return h, int64(prefix) + int64(size), nil
}

func readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated .npy header")
	}
	return fmt.Errorf("read .npy header: %w", err)
}

// parser reads the header dict. Every method reports malformed input as an
// error and never indexes past the end of s.
type parser struct {
	s []byte
	i int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid .npy header at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

// space skips what Python treats as whitespace inside brackets.
func (p *parser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r', '\f':
			p.i++
		default:
			return
		}
	}
}

// next returns the next byte, 0 at the end.
func (p *parser) next() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *parser) expect(c byte) error {
	if p.next() != c {
		return p.errorf("expected %q, found %s", c, p.found())
	}
	p.i++
	return nil
}

// found describes the input at the cursor for an error message.
func (p *parser) found() string {
	if p.i >= len(p.s) {
		return "end of header"
	}
	end := min(p.i+12, len(p.s))
	return fmt.Sprintf("%q", p.s[p.i:end])
}

// str reads a quoted string without escapes, which no valid key or descr
// needs.
func (p *parser) str() (string, error) {
	q := p.next()
	if q != '\'' && q != '"' {
		return "", p.errorf("expected a quoted string, found %s", p.found())
	}
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		switch p.s[j] {
		case q:
			p.i = j + 1
			return string(p.s[start:j]), nil
		case '\\', '\n':
			p.i = j
			return "", p.errorf("unsupported character %q in string", p.s[j])
		}
	}
	return "", p.errorf("unterminated string")
}

func isIdent(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// word reads an identifier-like token (True, False, a number with suffix).
func (p *parser) word() string {
	start := p.i
	for p.i < len(p.s) && isIdent(p.s[p.i]) {
		p.i++
	}
	return string(p.s[start:p.i])
}

func (p *parser) boolean() (bool, error) {
	start := p.i
	switch w := p.word(); w {
	case "True":
		return true, nil
	case "False":
		return false, nil
	default:
		p.i = start
		return false, p.errorf("'fortran_order' must be True or False, found %s", p.found())
	}
}

// dim reads one dimension: decimal digits, optionally followed by the L
// suffix Python 2 wrote for long integers.
func (p *parser) dim() (int, error) {
	start := p.i
	neg := p.next() == '-'
	if neg {
		p.i++
		p.space()
	}
	w := strings.TrimSuffix(strings.TrimSuffix(p.word(), "L"), "l")
	if w == "" {
		p.i = start
		return 0, p.errorf("expected a dimension, found %s", p.found())
	}
	n := 0
	for k := 0; k < len(w); k++ {
		c := w[k]
		if c < '0' || c > '9' {
			p.i = start
			return 0, p.errorf("dimension %q is not an integer", w)
		}
		if n > (math.MaxInt-int(c-'0'))/10 {
			p.i = start
			return 0, p.errorf("dimension %s is too large", w)
		}
		n = n*10 + int(c-'0')
	}
	if neg && n != 0 {
		p.i = start
		return 0, p.errorf("negative dimension -%s", w)
	}
	return n, nil
}

func (p *parser) shape() ([]int, error) {
	if p.next() != '(' {
		return nil, p.errorf("'shape' must be a tuple, found %s", p.found())
	}
	open := p.i
	p.i++
	shape := []int{}
	for {
		p.space()
		if p.next() == ')' {
			p.i++
			return shape, nil
		}
		d, err := p.dim()
		if err != nil {
			return nil, err
		}
		shape = append(shape, d)
		p.space()
		switch p.next() {
		case ',':
			p.i++
		case ')':
			if len(shape) == 1 {
				// In Python (5) is the integer 5; only (5,) is a tuple.
				p.i = open
				return nil, p.errorf("'shape' must be a tuple, found %s (a one-element tuple is written (n,))", p.found())
			}
			p.i++
			return shape, nil
		default:
			return nil, p.errorf("expected ',' or ')' in 'shape', found %s", p.found())
		}
	}
}

// parseDict parses the header text and validates the header it describes.
func parseDict(text []byte) (Header, error) {
	p := &parser{s: text}
	var h Header
	seen := map[string]bool{}
	p.space()
	if err := p.expect('{'); err != nil {
		return Header{}, err
	}
	for {
		p.space()
		if p.next() == '}' {
			p.i++
			break
		}
		keyAt := p.i
		key, err := p.str()
		if err != nil {
			return Header{}, err
		}
		if seen[key] {
			p.i = keyAt
			return Header{}, p.errorf("duplicate key %q", key)
		}
		seen[key] = true
		p.space()
		if err := p.expect(':'); err != nil {
			return Header{}, err
		}
		p.space()
		switch key {
		case "descr":
			if c := p.next(); c == '[' || c == '{' {
				return Header{}, p.errorf("structured dtypes are not supported")
			}
			descr, err := p.str()
			if err != nil {
				return Header{}, err
			}
			if h.DType, err = ParseDType(descr); err != nil {
				return Header{}, err
			}
		case "fortran_order":
			if h.FortranOrder, err = p.boolean(); err != nil {
				return Header{}, err
			}
		case "shape":
			if h.Shape, err = p.shape(); err != nil {
				return Header{}, err
			}
		default:
			p.i = keyAt
			return Header{}, p.errorf("unexpected key %q (a header has exactly 'descr', 'fortran_order' and 'shape')", key)
		}
		p.space()
		switch p.next() {
		case ',':
			p.i++
		case '}':
		default:
			return Header{}, p.errorf("expected ',' or '}' after the value of %q, found %s", key, p.found())
		}
	}
	p.space()
	if p.i != len(p.s) {
		return Header{}, p.errorf("unexpected %s after the header dict", p.found())
	}
	for _, k := range [...]string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return Header{}, fmt.Errorf("invalid .npy header: key %q is missing", k)
		}
	}
	if err := h.validate(); err != nil {
		return Header{}, fmt.Errorf("invalid .npy header: %w", err)
	}
	return h, nil
}
