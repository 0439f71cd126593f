package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"unicode/utf8"
)

// csvReader splits delimited text into records exactly as encoding/csv
// does with LazyQuotes set and any number of fields per record, so that
// files read before keep their rows (and their fingerprint). It also keeps
// what encoding/csv throws away and openCSV needs to refuse a file whose
// quoting went wrong: where each quoted field opens and ends, the first
// quote inside it that was taken literally because it was neither doubled
// nor closing, and whether the file ended inside it.
//
// The rules, those of encoding/csv: lines end in "\n" ("\r\n" counts as
// "\n", and a "\r" right before the end of the file is dropped); empty lines
// between records are skipped; a field that starts with '"' is quoted and
// runs, across line ends, up to a '"' followed by the separator or the end
// of a line, with "" standing for one '"' and any other '"' kept as it is;
// other fields run up to the separator or the end of the line, quotes
// included.
type csvReader struct {
	r      *bufio.Reader
	comma  rune
	numLin int    // lines read so far
	raw    []byte // a line longer than the bufio buffer
	buf    []byte // the fields of the record being read, one after another
	ends   []int  // where each field ends in buf
	meta   []csvField
	rec    []string
}

// csvField says where a field of the last record lay and how it was quoted.
type csvField struct {
	line   int  // the line the field starts on
	quoted bool // it starts with '"'
	// For a quoted field: the line it ends on (that of its closing quote,
	// or the file's last line when it was never closed), whether the file
	// ended inside it, and the line and byte column (from 1) of the first
	// quote inside it that was neither doubled nor closing (0 when none).
	endLine, looseLine, looseCol int
	unterminated                 bool
}

// errCSVSeparator is returned for a separator that cannot delimit fields.
var errCSVSeparator = errors.New("invalid separator")

// validSeparator is encoding/csv's rule for a field delimiter.
func validSeparator(r rune) bool {
	return r != 0 && r != '"' && r != '\r' && r != '\n' && utf8.ValidRune(r) && r != utf8.RuneError
}

func newCSVReader(r io.Reader, comma rune) *csvReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &csvReader{r: br, comma: comma}
}

// readLine returns the next line, "\r\n" turned into "\n", and io.EOF only
// when nothing was left to read.
func (c *csvReader) readLine() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		c.raw = append(c.raw[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = c.r.ReadSlice('\n')
			c.raw = append(c.raw, line...)
		}
		line = c.raw
	}
	if len(line) > 0 && err == io.EOF {
		err = nil
		if line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
	}
	c.numLin++
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line[n-2] = '\n'
		line = line[:n-1]
	}
	return line, err
}

func lengthNL(b []byte) int {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		return 1
	}
	return 0
}

func nextRune(b []byte) rune {
	r, _ := utf8.DecodeRune(b)
	return r
}

// read returns the next record's fields and their places, or io.EOF after
// the last record. The slices are reused by the next call.
func (c *csvReader) read() ([]string, []csvField, error) {
	if !validSeparator(c.comma) {
		return nil, nil, errCSVSeparator
	}
	var line []byte
	var errRead error
	for errRead == nil {
		line, errRead = c.readLine()
		if errRead == nil && len(line) == lengthNL(line) {
			line = nil
			continue // an empty line
		}
		break
	}
	if errRead == io.EOF {
		return nil, nil, errRead
	}

	const quoteLen = len(`"`)
	commaLen := utf8.RuneLen(c.comma)
	c.buf, c.ends, c.meta = c.buf[:0], c.ends[:0], c.meta[:0]
	col := 1 // byte column of line[0] on line c.numLin
	endField := func(f csvField) {
		c.ends = append(c.ends, len(c.buf))
		c.meta = append(c.meta, f)
	}
parseField:
	for {
		if len(line) == 0 || line[0] != '"' {
			f := csvField{line: c.numLin}
			i := bytes.IndexRune(line, c.comma)
			field := line
			if i >= 0 {
				field = field[:i]
			} else {
				field = field[:len(field)-lengthNL(field)]
			}
			c.buf = append(c.buf, field...)
			endField(f)
			if i >= 0 {
				line = line[i+commaLen:]
				col += i + commaLen
				continue parseField
			}
			break parseField
		}
		f := csvField{line: c.numLin, quoted: true}
		line = line[quoteLen:]
		col += quoteLen
		for {
			i := bytes.IndexByte(line, '"')
			if i >= 0 {
				c.buf = append(c.buf, line[:i]...)
				line = line[i+quoteLen:]
				col += i + quoteLen
				switch rn := nextRune(line); {
				case rn == '"': // "" stands for one quote
					c.buf = append(c.buf, '"')
					line = line[quoteLen:]
					col += quoteLen
				case rn == c.comma: // the field ends
					line = line[commaLen:]
					col += commaLen
					f.endLine = c.numLin
					endField(f)
					continue parseField
				case lengthNL(line) == len(line): // the record ends
					f.endLine = c.numLin
					endField(f)
					break parseField
				default: // a quote kept as it is
					if f.looseLine == 0 {
						f.looseLine, f.looseCol = c.numLin, col-quoteLen
					}
					c.buf = append(c.buf, '"')
				}
			} else if len(line) > 0 {
				// The line ends inside the field: go on with the next one.
				c.buf = append(c.buf, line...)
				if errRead != nil {
					f.endLine, f.unterminated = c.numLin, true
					endField(f)
					break parseField
				}
				last := c.numLin
				line, errRead = c.readLine()
				col = 1
				if errRead == io.EOF {
					errRead = nil
				}
				if len(line) == 0 {
					c.numLin = last // nothing more was read
				}
			} else {
				// The file ends inside the field.
				f.endLine, f.unterminated = c.numLin, true
				endField(f)
				break parseField
			}
		}
	}

	str := string(c.buf)
	c.rec = c.rec[:0]
	prev := 0
	for _, end := range c.ends {
		c.rec = append(c.rec, str[prev:end])
		prev = end
	}
	return c.rec, c.meta, errRead
}
