package dataset

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// folderEntry gathers the files of one stem (relative path without
// extension) in a folder data set.
type folderEntry struct {
	stem        string
	image       string // relative path of the preferred supported image
	rank        int    // its imageRank
	size, mtime int64
	unsupported string // relative path of an unsupported image
	unsupExt    string
	caption     string // relative path of the .txt
}

// openFolder walks a folder of NAME.EXT + NAME.txt pairs.
func openFolder(spec Spec) (*Dataset, error) {
	root := spec.Path
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("open folder data set: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open folder data set %s: not a directory", root)
	}
	entries := map[string]*folderEntry{}
	get := func(stem string) *folderEntry {
		e := entries[stem]
		if e == nil {
			e = &folderEntry{stem: stem, rank: -1}
			entries[stem] = e
		}
		return e
	}
	err = filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if de.IsDir() {
			return nil
		}
		dot := strings.LastIndexByte(name, '.')
		if dot <= 0 {
			return nil
		}
		ext := strings.ToLower(name[dot+1:])
		rank := imageRank(ext)
		if ext != "txt" && rank < 0 && !isUnsupported(ext) {
			return nil
		}
		var info fs.FileInfo
		if de.Type()&fs.ModeSymlink != 0 {
			info, err = os.Stat(path)
			if err != nil || !info.Mode().IsRegular() {
				return nil // broken link, or a link to a directory: not followed
			}
		} else if de.Type().IsRegular() {
			if info, err = de.Info(); err != nil {
				return err
			}
		} else {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		e := get(rel[:len(rel)-len(ext)-1])
		switch {
		case ext == "txt":
			e.caption = rel
		case rank >= 0:
			if e.rank < 0 || rank < e.rank {
				e.image, e.rank = rel, rank
				e.size, e.mtime = info.Size(), info.ModTime().UnixNano()
			}
		default:
			e.unsupported, e.unsupExt = rel, ext
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open folder data set %s: %w", root, err)
	}

	sorted := make([]*folderEntry, 0, len(entries))
	for _, e := range entries {
		sorted = append(sorted, e)
	}
	slices.SortFunc(sorted, func(a, b *folderEntry) int { return cmp.Compare(a.stem, b.stem) })

	d := &Dataset{format: FormatFolder, file: root, rows: make([]row, 0, len(sorted))}
	for _, e := range sorted {
		r := row{shard: -1}
		switch {
		case e.image != "":
			r.name, r.size, r.mtime = e.image, e.size, e.mtime
		case e.unsupported != "":
			r.name, r.bad = e.unsupported, unsupportedReason(e.unsupExt)
		default:
			r.name, r.bad = e.caption, "no image for this caption file"
		}
		if e.caption == "" {
			if r.bad == "" {
				r.bad = "no caption file " + e.stem + ".txt"
			}
		} else {
			raw, err := firstLine(filepath.Join(root, filepath.FromSlash(e.caption)))
			caption, cerr := CleanCaption(raw)
			switch {
			case err != nil:
				if r.bad == "" {
					r.bad = "cannot read caption file: " + err.Error()
				}
			case cerr != nil:
				r.caption = displayCaption(raw)
				if r.bad == "" {
					r.bad = cerr.Error()
				}
			default:
				r.caption = caption
			}
		}
		d.rows = append(d.rows, r)
	}
	return d, nil
}

// firstLine returns the first line of a caption file, without a leading
// byte order mark or the line end.
func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, maxCaptionBytes+1))
	if err != nil {
		return "", err
	}
	buf = bytes.TrimPrefix(buf, utf8BOM)
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i]
	} else if len(buf) > maxCaptionBytes {
		return "", fmt.Errorf("first line longer than %d bytes", maxCaptionBytes)
	}
	return strings.TrimSuffix(string(buf), "\r"), nil
}
