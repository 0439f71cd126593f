package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Format names a data set layout.
type Format string

// The formats Open reads. FormatDetect tells Open to choose from the path.
const (
	FormatDetect     Format = ""
	FormatCSV        Format = "csv"
	FormatTSV        Format = "tsv"
	FormatWebDataset Format = "webdataset"
	FormatFolder     Format = "folder"
)

// Default column names, open_clip's.
const (
	DefaultImageColumn   = "filepath"
	DefaultCaptionColumn = "title"
)

// Spec says where a data set is and how to read it.
type Spec struct {
	// Path is the CSV/TSV file, the folder, or the webdataset shards: a path,
	// a glob or brace pattern, or several of them separated by "::".
	Path string
	// Paths are more shard paths or patterns (webdataset only), read after
	// those in Path.
	Paths []string
	// Format is the layout; FormatDetect chooses from Path: a directory is a
	// folder, a .csv or .tsv file is csv or tsv, a .tar file, a pattern, or
	// several paths are webdataset.
	Format Format
	// ImageColumn and CaptionColumn name the CSV/TSV columns holding the
	// image path and the caption; empty means "filepath" and "title".
	ImageColumn, CaptionColumn string
	// Separator is the CSV/TSV field separator; 0 means ',' for csv (or tab,
	// when only that fits the header) and tab for tsv.
	Separator rune
	// BaseDir is the directory relative image paths in a CSV/TSV file are
	// resolved against; empty means the directory holding the file.
	BaseDir string
}

// Problem is a bad example found at open time.
type Problem struct {
	Row    int    // the row, as numbered by Dataset
	Line   int    // csv, tsv: the line of the file the row starts on; 0 otherwise
	Ref    string // the image (or caption file) it concerns, as Describe gives it
	Reason string // what is wrong, e.g. "empty caption"
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d, row %d (%s): %s", p.Line, p.Row, p.Ref, p.Reason)
	}
	return fmt.Sprintf("row %d (%s): %s", p.Row, p.Ref, p.Reason)
}

// ErrBadExample is wrapped by the error Read returns for a row that Open
// found to be a bad example.
var ErrBadExample = errors.New("bad example")

// Caption errors; their texts are the reasons Problems gives.
var (
	ErrCaptionNotUTF8 = errors.New("caption is not valid UTF-8")
	ErrCaptionEmpty   = errors.New("empty caption")
)

// RowError is a failure concerning one row: reading it, or preparing it in
// Stream. Where names the file or shard, the row and the image.
type RowError struct {
	Row   int
	Where string
	Err   error
}

func (e *RowError) Error() string { return e.Where + ": " + e.Err.Error() }
func (e *RowError) Unwrap() error { return e.Err }

// CleanCaption checks a caption and returns it without leading and trailing
// white space. It fails with ErrCaptionNotUTF8 when raw is not valid UTF-8
// and with ErrCaptionEmpty when nothing but white space is left.
func CleanCaption(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", ErrCaptionNotUTF8
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", ErrCaptionEmpty
	}
	return s, nil
}

// displayCaption is what Describe shows for a caption that failed
// CleanCaption: printable, trimmed.
func displayCaption(raw string) string {
	return strings.TrimSpace(strings.ToValidUTF8(raw, "\uFFFD"))
}

// maxCaptionBytes bounds a caption file or member; maxJSONBytes a .json
// member read for its caption.
const (
	maxCaptionBytes = 64 << 10
	maxJSONBytes    = 1 << 20
)

// imageExts are the image extensions accepted, in order of preference when
// a sample has several; unsupportedExts are image formats recognised but
// not read.
var (
	imageExts       = []string{"jpg", "jpeg", "png", "webp", "bmp", "gif", "tiff", "tif"}
	unsupportedExts = []string{"svg", "svgz"}
)

// imageRank is the preference of ext among imageExts, or -1.
func imageRank(ext string) int {
	for i, e := range imageExts {
		if e == ext {
			return i
		}
	}
	return -1
}

func isUnsupported(ext string) bool {
	for _, e := range unsupportedExts {
		if e == ext {
			return true
		}
	}
	return false
}

func unsupportedReason(ext string) string { return "unsupported format " + ext }

// row is one example. Which fields mean what depends on the format.
type row struct {
	// name is the image relative to the data set: the CSV path cell as
	// written, the folder-relative path ('/'-separated), or the tar member
	// name. For a row without an image it names what there is (the caption
	// file or member).
	name    string
	caption string // cleaned caption; for a bad row, a printable form of what was found
	bad     string // the bad-example reason; "" for a good row
	line    int    // CSV: the line the record starts on
	shard   int    // webdataset: index into Dataset.shards
	offset  int64  // webdataset: offset of the member's data in the shard
	size    int64  // image size in bytes
	mtime   int64  // image modification time, Unix nanoseconds
}

type shard struct {
	path  string
	size  int64
	mtime time.Time
}

// Dataset is an opened data set: the list of its rows with their captions
// and where their images are. It is safe for concurrent use.
type Dataset struct {
	format Format
	file   string // csv/tsv: the file; folder: the root
	base   string // csv/tsv: directory relative paths are resolved against
	shards []shard
	rows   []row

	fpOnce sync.Once
	fp     string
}

// Open reads the data set's index: for CSV/TSV the file and a stat of each
// image, for a folder the directory tree and caption files, for webdataset
// the tar headers and caption members of each shard. No image is read.
func Open(spec Spec) (*Dataset, error) {
	format, err := detect(spec)
	if err != nil {
		return nil, err
	}
	switch format {
	case FormatCSV, FormatTSV:
		return openCSV(spec, format)
	case FormatWebDataset:
		return openWebDataset(spec)
	default:
		return openFolder(spec)
	}
}

// detect returns the format spec asks for, or the one its path implies.
func detect(spec Spec) (Format, error) {
	switch spec.Format {
	case FormatCSV, FormatTSV, FormatWebDataset, FormatFolder:
		if spec.Path == "" && (spec.Format != FormatWebDataset || len(spec.Paths) == 0) {
			return "", errors.New("open data set: no path given")
		}
		return spec.Format, nil
	case FormatDetect:
	default:
		return "", fmt.Errorf("open data set: unknown format %q (want csv, tsv, webdataset or folder)", spec.Format)
	}
	if len(spec.Paths) > 0 || strings.Contains(spec.Path, "::") {
		return FormatWebDataset, nil
	}
	if spec.Path == "" {
		return "", errors.New("open data set: no path given")
	}
	fi, err := os.Stat(spec.Path)
	if err != nil {
		if strings.ContainsAny(spec.Path, "*?[{") {
			return FormatWebDataset, nil
		}
		return "", fmt.Errorf("open data set: %w", err)
	}
	if fi.IsDir() {
		return FormatFolder, nil
	}
	lower := strings.ToLower(spec.Path)
	switch {
	case strings.HasSuffix(lower, ".csv"):
		return FormatCSV, nil
	case strings.HasSuffix(lower, ".tsv"):
		return FormatTSV, nil
	case strings.HasSuffix(lower, ".tar"), strings.HasSuffix(lower, ".tgz"),
		strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tar.zst"),
		strings.HasSuffix(lower, ".tar.bz2"), strings.HasSuffix(lower, ".tar.xz"):
		return FormatWebDataset, nil
	}
	return "", fmt.Errorf("open data set %s: cannot tell the format from the name; give it (csv, tsv, webdataset or folder)", spec.Path)
}

// Format is the data set's format.
func (d *Dataset) Format() Format { return d.format }

// Len is the number of rows, bad examples included.
func (d *Dataset) Len() int { return len(d.rows) }

// Shards lists the webdataset shards in row order (nil for other formats).
func (d *Dataset) Shards() []string {
	if d.shards == nil {
		return nil
	}
	out := make([]string, len(d.shards))
	for i, s := range d.shards {
		out[i] = s.path
	}
	return out
}

// Describe returns, for people, where row i's image is (a file path, or
// "shard.tar:member") and its caption. For a bad example the caption is what
// was found, made printable. It panics when i is out of range.
func (d *Dataset) Describe(i int) (imageRef, caption string) {
	r := &d.rows[i]
	return d.ref(r), r.caption
}

// ref is the human-readable place of r's image.
func (d *Dataset) ref(r *row) string {
	switch d.format {
	case FormatWebDataset:
		return d.shards[r.shard].path + ":" + r.name
	case FormatFolder:
		return filepath.Join(d.file, filepath.FromSlash(r.name))
	default:
		return d.imagePath(r.name)
	}
}

// imagePath resolves a CSV path cell.
func (d *Dataset) imagePath(cell string) string {
	if filepath.IsAbs(cell) {
		return cell
	}
	return filepath.Join(d.base, cell)
}

// where names row i for error messages: the file or shard, the row and the
// image.
func (d *Dataset) where(i int) string {
	r := &d.rows[i]
	switch d.format {
	case FormatCSV, FormatTSV:
		return fmt.Sprintf("%s line %d (row %d), image %s", d.file, r.line, i, d.ref(r))
	default:
		return fmt.Sprintf("row %d, %s", i, d.ref(r))
	}
}

// Problems lists the bad examples found at open time, in row order.
func (d *Dataset) Problems() []Problem {
	var out []Problem
	for i := range d.rows {
		if r := &d.rows[i]; r.bad != "" {
			p := Problem{Row: i, Ref: d.ref(r), Reason: r.bad}
			if d.format == FormatCSV || d.format == FormatTSV {
				p.Line = r.line
			}
			out = append(out, p)
		}
	}
	return out
}

// Good lists the rows not known to be bad examples, in order: the rows a
// "skip bad examples" policy keeps.
func (d *Dataset) Good() []int {
	out := make([]int, 0, len(d.rows))
	for i := range d.rows {
		if d.rows[i].bad == "" {
			out = append(out, i)
		}
	}
	return out
}

// Read returns row i's image bytes and caption. The error names the file or
// shard and the row: a *RowError wrapping ErrBadExample for a row Open found
// bad, or the read failure, including an image whose size or modification
// time changed since Open.
func (d *Dataset) Read(i int) (image []byte, caption string, err error) {
	if i < 0 || i >= len(d.rows) {
		return nil, "", &RowError{Row: i, Where: fmt.Sprintf("row %d", i), Err: fmt.Errorf("out of range (the data set has %d rows)", len(d.rows))}
	}
	r := &d.rows[i]
	if r.bad != "" {
		return nil, "", &RowError{Row: i, Where: d.where(i), Err: fmt.Errorf("%w: %s", ErrBadExample, r.bad)}
	}
	if d.format == FormatWebDataset {
		image, err = d.readMember(r)
	} else {
		image, err = readFile(d.ref(r), r.size, r.mtime)
	}
	if err != nil {
		return nil, "", &RowError{Row: i, Where: d.where(i), Err: err}
	}
	return image, r.caption, nil
}

// errChanged reports data that changed after Open.
func errChanged(what string, size, mtime int64, fi os.FileInfo) error {
	return fmt.Errorf("%s changed since the data set was opened (size %d, modified %s; now size %d, modified %s)",
		what, size, time.Unix(0, mtime).UTC().Format(time.RFC3339Nano), fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano))
}

// readFile reads an image file, checking it is the one Open saw.
func readFile(path string, size, mtime int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() != size || fi.ModTime().UnixNano() != mtime {
		return nil, errChanged("image file", size, mtime, fi)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf, nil
}

// readMember reads a webdataset image member by its offset.
func (d *Dataset) readMember(r *row) ([]byte, error) {
	s := &d.shards[r.shard]
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() != s.size || !fi.ModTime().Equal(s.mtime) {
		return nil, errChanged("shard", s.size, s.mtime.UnixNano(), fi)
	}
	buf := make([]byte, r.size)
	if _, err := f.ReadAt(buf, r.offset); err != nil {
		return nil, fmt.Errorf("read %s at byte offset %d: %w", s.path, r.offset, err)
	}
	return buf, nil
}

// Fingerprint identifies the data set's content as Open saw it: a hex
// SHA-256 over the format, the row count and each row's image name, caption,
// bad-example reason, image size and modification time (and member offset
// for webdataset). See the package documentation for what it does and does
// not cover. It reads no file.
func (d *Dataset) Fingerprint() string {
	d.fpOnce.Do(func() {
		h := sha256.New()
		put := func(s string) {
			writeUvarint(h, uint64(len(s)))
			io.WriteString(h, s)
		}
		put("trak dataset fingerprint v1")
		put(string(d.format))
		writeUvarint(h, uint64(len(d.rows)))
		for i := range d.rows {
			r := &d.rows[i]
			name := r.name
			if d.format == FormatWebDataset {
				name = filepath.Base(d.shards[r.shard].path) + ":" + name
			}
			put(name)
			put(r.caption)
			put(r.bad)
			writeUvarint(h, uint64(r.size))
			writeUvarint(h, uint64(r.mtime))
			writeUvarint(h, uint64(r.offset))
		}
		d.fp = hex.EncodeToString(h.Sum(nil))
	})
	return d.fp
}

func writeUvarint(h hash.Hash, v uint64) {
	var b [binary.MaxVarintLen64]byte
	h.Write(b[:binary.PutUvarint(b[:], v)])
}
