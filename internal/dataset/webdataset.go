package dataset

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
)

// openWebDataset expands the shard patterns and indexes every shard.
func openWebDataset(spec Spec) (*Dataset, error) {
	var patterns []string
	if spec.Path != "" {
		patterns = strings.Split(spec.Path, "::")
	}
	patterns = append(patterns, spec.Paths...)
	paths, err := expandShards(patterns)
	if err != nil {
		return nil, fmt.Errorf("open webdataset: %w", err)
	}
	d := &Dataset{format: FormatWebDataset, file: strings.Join(patterns, "::"), shards: make([]shard, len(paths))}

	// Index the shards a few at a time; rows are joined in shard order.
	perShard := make([][]row, len(paths))
	errs := make([]error, len(paths))
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(4, len(paths)) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(paths) {
					return
				}
				d.shards[i], perShard[i], errs[i] = indexShard(paths[i], i)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	n := 0
	for _, rs := range perShard {
		n += len(rs)
	}
	d.rows = make([]row, 0, n)
	for _, rs := range perShard {
		d.rows = append(d.rows, rs...)
	}
	return d, nil
}

// offsetReader reads a file and keeps track of the offset, so that the
// position of each member's data is known when tar.Reader.Next returns.
// It implements io.Seeker so that tar.Reader skips member data by seeking.
type offsetReader struct {
	f   *os.File
	off int64
}

func (r *offsetReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.off += int64(n)
	return n, err
}

func (r *offsetReader) Seek(offset int64, whence int) (int64, error) {
	n, err := r.f.Seek(offset, whence)
	if err == nil {
		r.off = n
	}
	return n, err
}

// compressed names the compression format of a file starting with head.
func compressed(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd"
	case bytes.HasPrefix(head, []byte("BZh")):
		return "bzip2"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz"
	}
	return ""
}

// member is a tar member of the sample being gathered.
type member struct {
	name   string
	ext    string
	offset int64
	size   int64
	mtime  int64
	data   []byte // caption members only
	tooBig bool
}

// indexShard scans a shard's tar headers once, reading only the caption
// members, and returns its samples as rows.
func indexShard(p string, index int) (shard, []row, error) {
	f, err := os.Open(p)
	if err != nil {
		return shard{}, nil, fmt.Errorf("open webdataset shard: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return shard{}, nil, fmt.Errorf("open webdataset shard: %w", err)
	}
	sh := shard{path: p, size: fi.Size(), mtime: fi.ModTime()}
	var head [6]byte
	if n, _ := f.ReadAt(head[:], 0); n > 0 {
		if c := compressed(head[:n]); c != "" {
			return sh, nil, fmt.Errorf("webdataset shard %s is %s-compressed: reading examples by offset needs an uncompressed tar (decompress it first)", p, c)
		}
	}

	var rows []row
	var group []member
	key := ""
	flush := func() {
		if len(group) > 0 {
			if r, ok := sampleRow(group, index); ok {
				rows = append(rows, r)
			}
		}
		group = group[:0]
	}
	or := &offsetReader{f: f}
	tr := tar.NewReader(or)
	next := int64(0) // where the next header starts
	last := ""       // the last member's name
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			if err := checkEnd(f, sh, last, next, or.off); err != nil {
				return sh, nil, err
			}
			break
		}
		if errors.Is(err, tar.ErrInsecurePath) && hdr != nil {
			err = nil // names like "../x" are harmless: nothing is extracted
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return sh, nil, fmt.Errorf("webdataset shard %s: truncated tar: the file ends at byte %d, inside the header that starts at byte offset %d", p, sh.size, next)
			}
			return sh, nil, fmt.Errorf("webdataset shard %s: bad tar header at byte offset %d: %w", p, next, err)
		}
		dataOff := or.off
		isSparse := hdr.Typeflag == tar.TypeGNUSparse || sparse(hdr) // hdr.Size is the logical size
		if !isSparse && dataOff+hdr.Size > sh.size {
			return sh, nil, fmt.Errorf("webdataset shard %s: truncated tar: member %q has %d bytes of data from byte offset %d, but the file ends at byte %d",
				p, hdr.Name, hdr.Size, dataOff, sh.size)
		}
		next = dataOff + (hdr.Size+511)/512*512
		if isSparse {
			next = -1 // hdr.Size is not what the member takes in the file
		}
		last = hdr.Name
		if hdr.Typeflag != tar.TypeReg || isSparse {
			continue
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		base := path.Base(name)
		dot := strings.IndexByte(base, '.')
		if dot <= 0 || (len(base[:dot]) >= 4 && strings.HasPrefix(base, "__") && strings.HasSuffix(base[:dot], "__")) {
			continue // no key, a hidden file, or metadata such as __meta__.json
		}
		k := name[:len(name)-len(base)+dot]
		ext := strings.ToLower(base[dot+1:])
		if k != key {
			flush()
			key = k
		}
		m := member{name: name, ext: ext, offset: dataOff, size: hdr.Size, mtime: hdr.ModTime.UnixNano()}
		if limit := captionLimit(ext); limit > 0 {
			if hdr.Size > limit {
				m.tooBig = true
			} else if m.data, err = io.ReadAll(tr); err != nil {
				return sh, nil, fmt.Errorf("webdataset shard %s: reading member %q at byte offset %d: %w", p, name, dataOff, err)
			}
		}
		group = append(group, m)
	}
	flush()
	return sh, rows, nil
}

// checkEnd makes sure a shard the tar reader has read to its end is whole.
// archive/tar (like Python's tarfile, which webdataset uses) reports the
// end of the archive both at the end-of-archive marker, two 512-byte zero
// blocks, and at a file that simply stops after a member: a shard cut
// short at a member boundary, by an interrupted copy or download, would
// lose its remaining samples without a word. It also stops at the marker
// whatever follows, so the members of a second archive appended with cat
// would be dropped as silently. next is where the block after the last
// member's padded data starts (-1 when unknown: a sparse member) and end
// is where the tar reader stopped.
func checkEnd(f *os.File, sh shard, last string, next, end int64) error {
	p, size := sh.path, sh.size
	redo := "copy or write the shard again"
	switch {
	case size == 0:
		return fmt.Errorf("webdataset shard %s is empty (0 bytes), not a tar archive: it looks truncated; %s", p, redo)
	case next < 0:
		return nil
	case size < next:
		return fmt.Errorf("webdataset shard %s: truncated tar: the file ends at byte %d, inside the padding of member %q, which runs to byte %d; %s", p, size, last, next, redo)
	case end == next:
		// Not one zero block after the last member. After a whole one
		// no member can be missing, so a lone zero block is let pass, as
		// GNU tar and tarfile do.
		return fmt.Errorf("webdataset shard %s: the file ends at byte %d, right after member %q, without the end-of-archive marker (two 512-byte zero blocks) that ends every complete tar: it looks truncated, and samples after the cut would be missing; %s, or, if it is known to be complete, add the marker with: head -c 1024 /dev/zero >> %s",
			p, size, last, redo, p)
	}
	// Past the marker only zeros may follow (tar pads archives to whole
	// records of 10240 bytes).
	buf := make([]byte, 64<<10)
	for off := end; off < size; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if i := slices.IndexFunc(buf[:n], func(b byte) bool { return b != 0 }); i >= 0 {
			return fmt.Errorf("webdataset shard %s: data after the end-of-archive marker, at byte offset %d (archives joined with cat?): tar readers stop at the marker, so the members after it would be missing; join tar files with tar --concatenate, or keep them as separate shards", p, off+int64(i))
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("webdataset shard %s: %w", p, err)
		}
		if n == 0 {
			break
		}
		off += int64(n)
	}
	return nil
}

// sparse reports a sparse file member, whose data is not stored
// contiguously.
func sparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// captionLimit is the most bytes read from a caption member with extension
// ext, or 0 when ext is not one.
func captionLimit(ext string) int64 {
	switch ext {
	case "txt", "caption":
		return maxCaptionBytes
	case "json":
		return maxJSONBytes
	}
	return 0
}

// sampleRow turns the members of one key into a row; ok is false for a
// group with neither an image nor a caption member.
func sampleRow(group []member, shardIndex int) (row, bool) {
	r := row{shard: shardIndex}
	var image, unsupported *member
	var captions [3]*member // txt, caption, json
	seen := map[string]bool{}
	duplicate := ""
	for i := range group {
		m := &group[i]
		if seen[m.ext] && duplicate == "" {
			duplicate = m.name
		}
		seen[m.ext] = true
		switch {
		case imageRank(m.ext) >= 0:
			if image == nil || imageRank(m.ext) < imageRank(image.ext) {
				image = m
			}
		case isUnsupported(m.ext):
			if unsupported == nil {
				unsupported = m
			}
		case m.ext == "txt":
			captions[0] = m
		case m.ext == "caption":
			captions[1] = m
		case m.ext == "json":
			captions[2] = m
		}
	}
	if image == nil && unsupported == nil && captions == [3]*member{} {
		return r, false
	}

	switch {
	case image != nil:
		r.name, r.offset, r.size, r.mtime = image.name, image.offset, image.size, image.mtime
	case unsupported != nil:
		r.name, r.bad = unsupported.name, unsupportedReason(unsupported.ext)
	default:
		r.name, r.bad = group[0].name, "no image member"
	}
	if duplicate != "" && r.bad == "" {
		r.bad = fmt.Sprintf("duplicate member %q", duplicate)
	}

	raw, reason := "", "no caption member (.txt, .caption or .json with a caption)"
	found := false
	for i, m := range captions {
		if m == nil {
			continue
		}
		if m.tooBig {
			raw, reason, found = "", fmt.Sprintf("caption member %q is %d bytes, more than %d", m.name, m.size, captionLimit(m.ext)), true
			break
		}
		if i < 2 {
			raw, reason, found = string(bytes.TrimPrefix(m.data, utf8BOM)), "", true
			break
		}
		s, ok, why := jsonCaption(m.data)
		if ok || why != "" {
			raw, reason, found = s, why, true
			break
		}
	}
	if found && reason == "" {
		caption, err := CleanCaption(raw)
		if err != nil {
			reason, r.caption = err.Error(), displayCaption(raw)
		} else {
			r.caption = caption
		}
	}
	if reason != "" && r.bad == "" {
		r.bad = reason
	}
	return r, true
}

// jsonCaption returns the "caption" string of a .json member. ok is false
// when it has none; why says what is wrong when it is malformed.
func jsonCaption(data []byte) (caption string, ok bool, why string) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return "", false, "json member is not a JSON object"
	}
	raw, has := obj["caption"]
	if !has {
		return "", false, ""
	}
	if err := json.Unmarshal(raw, &caption); err != nil {
		return "", false, "json caption is not a string"
	}
	return caption, true, ""
}
