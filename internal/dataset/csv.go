package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// openCSV reads a CSV or TSV data set and stats its images.
func openCSV(spec Spec, format Format) (*Dataset, error) {
	imageCol, captionCol := spec.ImageColumn, spec.CaptionColumn
	if imageCol == "" {
		imageCol = DefaultImageColumn
	}
	if captionCol == "" {
		captionCol = DefaultCaptionColumn
	}
	f, err := os.Open(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("open %s data set: %w", format, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("open %s data set %s: is a directory", format, spec.Path)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	if b, _ := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		br.Discard(len(utf8BOM))
	}

	sep := spec.Separator
	if sep == 0 {
		sep = ','
		if format == FormatTSV {
			sep = '\t'
		} else {
			// open_clip's default separator is a tab whatever the file's
			// name: read a .csv file as tab separated when only that
			// finds the columns.
			head, _ := br.Peek(64 << 10)
			head = bytes.TrimLeft(head, "\r\n")
			if i := bytes.IndexByte(head, '\n'); i >= 0 {
				head = head[:i]
			}
			if !hasColumns(head, ',', imageCol, captionCol) && hasColumns(head, '\t', imageCol, captionCol) {
				sep = '\t'
			}
		}
	}

	r := newCSVReader(br, sep)
	header, meta, err := r.read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file; a header naming the columns %q and %q is needed", spec.Path, imageCol, captionCol)
	}
	if errors.Is(err, errCSVSeparator) {
		return nil, fmt.Errorf("%s: the separator %q cannot separate fields; give another one", spec.Path, sep)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", spec.Path, err)
	}
	if err := checkQuotes(spec.Path, header, meta, nil); err != nil {
		return nil, err
	}
	header = trimHeader(header)
	ic, cc := indexOf(header, imageCol), indexOf(header, captionCol)
	if ic < 0 || cc < 0 {
		var missing []string
		if ic < 0 {
			missing = append(missing, fmt.Sprintf("%q", imageCol))
		}
		if cc < 0 {
			missing = append(missing, fmt.Sprintf("%q", captionCol))
		}
		quoted := make([]string, len(header))
		for i, h := range header {
			quoted[i] = fmt.Sprintf("%q", h)
		}
		what := "column"
		if len(missing) > 1 {
			what = "columns"
		}
		return nil, fmt.Errorf("%s: no %s %s; the header has %d columns: %s (separator %q)",
			spec.Path, what, strings.Join(missing, " and "), len(header), strings.Join(quoted, ", "), sep)
	}

	base := spec.BaseDir
	if base == "" {
		base = filepath.Dir(spec.Path)
	}
	d := &Dataset{format: format, file: spec.Path, base: base}
	looksLikeRow := func(s string) bool { return rowLike(s, sep, ic, len(header), base) }
	for {
		rec, meta, err := r.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.Path, err)
		}
		if err := checkQuotes(spec.Path, rec, meta, looksLikeRow); err != nil {
			return nil, err
		}
		if blank(rec) {
			continue
		}
		rw := row{line: meta[0].line, shard: -1}
		if len(rec) <= max(ic, cc) {
			rw.bad = fmt.Sprintf("record has %d fields, the header %d", len(rec), len(header))
			if ic < len(rec) {
				rw.name = strings.TrimSpace(rec[ic])
			}
			d.rows = append(d.rows, rw)
			continue
		}
		rw.name = strings.TrimSpace(rec[ic])
		caption, cerr := CleanCaption(rec[cc])
		switch {
		case len(rec) > len(header) && !blank(rec[len(header):]):
			// Extra fields that hold something: most likely a caption
			// with the separator in it, unquoted, cut short.
			rw.bad = fmt.Sprintf("record has %d fields, the header %d: a caption that contains the separator %q must be quoted (\"...\")", len(rec), len(header), sep)
		case rw.name == "":
			rw.bad = "empty image path"
		case strings.Contains(rw.name, "://"):
			rw.bad = "image path is a URL; only local files are read"
		case isUnsupported(strings.TrimPrefix(strings.ToLower(filepath.Ext(rw.name)), ".")):
			rw.bad = unsupportedReason(strings.TrimPrefix(strings.ToLower(filepath.Ext(rw.name)), "."))
		case cerr != nil:
			rw.bad = cerr.Error()
		}
		if cerr != nil {
			rw.caption = displayCaption(rec[cc])
		} else {
			rw.caption = caption
		}
		d.rows = append(d.rows, rw)
	}
	d.statImages()
	return d, nil
}

// hasColumns reports whether the header line, split on sep, names both
// columns.
func hasColumns(line []byte, sep rune, a, b string) bool {
	h, _, err := newCSVReader(bytes.NewReader(line), sep).read()
	if err != nil {
		return false
	}
	h = trimHeader(h)
	return indexOf(h, a) >= 0 && indexOf(h, b) >= 0
}

func trimHeader(h []string) []string {
	out := make([]string, len(h))
	for i, s := range h {
		out[i] = strings.TrimSpace(s)
	}
	return out
}

func indexOf(h []string, name string) int {
	for i, s := range h {
		if s == name {
			return i
		}
	}
	return -1
}

// blank reports a record of white space only, which counts as an empty
// line.
func blank(rec []string) bool {
	for _, s := range rec {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// statWorkers is how many stat calls run at once: stats of images on a
// network file system are latency-bound.
const statWorkers = 16

// statImages records each usable CSV row's image size and modification
// time, marking rows whose image is missing as bad examples.
func (d *Dataset) statImages() {
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(statWorkers, len(d.rows)) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(d.rows) {
					return
				}
				r := &d.rows[i]
				if r.bad != "" && r.name == "" {
					continue
				}
				fi, err := os.Stat(d.imagePath(r.name))
				switch {
				case errors.Is(err, fs.ErrNotExist):
					if r.bad == "" {
						r.bad = "image file not found"
					}
				case err != nil:
					if r.bad == "" {
						r.bad = "cannot stat image: " + err.Error()
					}
				case fi.IsDir():
					if r.bad == "" {
						r.bad = "image path is a directory"
					}
				default:
					r.size, r.mtime = fi.Size(), fi.ModTime().UnixNano()
				}
			}
		})
	}
	wg.Wait()
}

// maxQuotedLines is the most lines a quoted field may run over. A caption
// with line breaks in it is legitimate (pandas, which open_clip's CSV
// loader uses, reads them), but one of more lines than this would not fit
// CLIP's 77-token context anyway: far more likely, a quote was left open
// and the field swallowed the rows after it.
const maxQuotedLines = 64

// quoteFix tells how to write a caption with separators, quotes or line
// breaks in it.
const quoteFix = `fix: quote the whole caption and double each quote inside it, as in "a ""quoted"" word, and a comma"`

// checkQuotes refuses a record with a quoted field that runs past the end
// of its line and looks like an unbalanced quote rather than a caption with
// line breaks:
//
//   - the file ends inside it;
//   - it runs on past the end of a line after a quote inside it that was
//     neither doubled nor closing (such a quote on the field's last line
//     is harmless: the line breaks before it were quoted);
//   - it runs over a line that rowLike (nil: no such test) takes for a row
//     of the file;
//   - it runs over more than maxQuotedLines lines.
//
// Such a field has eaten the rows after its first line, and the rows after
// it may be cut wrongly too: the whole file is refused, naming the line
// where the field starts.
func checkQuotes(file string, rec []string, meta []csvField, rowLike func(string) bool) error {
	for i, f := range meta {
		if !f.quoted {
			continue
		}
		lines := f.endLine - f.line + 1
		if lines == 1 {
			// Whatever its quotes, a field on one line has not eaten
			// another; that includes an unclosed one on the last line.
			continue
		}
		switch {
		case f.unterminated:
			return fmt.Errorf("%s line %d: a quoted field starts here and is never closed (the file ends inside it, on line %d); %s", file, f.line, f.endLine, quoteFix)
		case f.looseLine > 0 && f.looseLine < f.endLine:
			return fmt.Errorf("%s line %d: the quoted field that starts here runs on to line %d, because the quote at line %d, column %d neither closes it (a closing quote is followed by the separator or the line end) nor is doubled; %s",
				file, f.line, f.endLine, f.looseLine, f.looseCol, quoteFix)
		case lines > maxQuotedLines:
			return fmt.Errorf("%s line %d: the quoted field that starts here runs over %d lines, to line %d, more than any caption would (%d at most): a quote is probably not closed; %s",
				file, f.line, lines, f.endLine, maxQuotedLines, quoteFix)
		}
		if rowLike != nil {
			for j, l := range strings.Split(rec[i], "\n")[1:] {
				if rowLike(l) {
					return fmt.Errorf("%s line %d: the quoted field that starts here runs on to line %d and takes in line %d, which looks like a row of its own (%q): a quote is probably not closed; %s",
						file, f.line, f.endLine, f.line+1+j, truncate(l, 80), quoteFix)
				}
			}
		}
	}
	return nil
}

// rowLike reports whether a line inside a quoted field looks like a record
// of the file: split on sep it has at least the header's number of fields,
// and its image cell names an image (by extension, or an existing file).
// A caption that runs over several lines almost never does.
func rowLike(line string, sep rune, imageCol, headerLen int, base string) bool {
	fields := strings.Split(line, string(sep))
	if len(fields) < headerLen || imageCol >= len(fields) {
		return false
	}
	name := strings.Trim(strings.TrimSpace(fields[imageCol]), `"`)
	if name == "" || strings.ContainsAny(name, "\n\r") {
		return false
	}
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(name)), ".")
	if imageRank(ext) >= 0 || isUnsupported(ext) {
		return true
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// truncate shortens s to at most n bytes for a message, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
