package dataset

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

	r := csv.NewReader(br)
	r.Comma = sep
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file; a header naming the columns %q and %q is needed", spec.Path, imageCol, captionCol)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", spec.Path, err)
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
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.Path, err)
		}
		if blank(rec) {
			continue
		}
		line, _ := r.FieldPos(0)
		rw := row{line: line, shard: -1}
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
	r := csv.NewReader(bytes.NewReader(line))
	r.Comma = sep
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	h, err := r.Read()
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
