package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Stamp identifies the content of a file that is complete and no longer
// written: features.npy after finalize, grads.npy and out_to_loss.npy once
// featurized, a score matrix. The SHA-256 decides; size and modification
// time let a reader that only wants to know whether the file changed skip
// the hash when neither moved (see Verify).
type Stamp struct {
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
}

// StampFile stamps the file at path.
func StampFile(path string) (Stamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stamp{}, err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return Stamp{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Stamp{}, fmt.Errorf("read %s: %w", path, err)
	}
	return Stamp{SHA256: hex.EncodeToString(h.Sum(nil)), Size: before.Size(), ModTime: before.ModTime().UnixNano()}, nil
}

// ChangedError says that a file no longer has the content it was stamped
// with.
type ChangedError struct {
	Path      string
	Want, Got Stamp // Got.SHA256 is empty when the file is missing
}

func (e *ChangedError) Error() string {
	if e.Got.SHA256 == "" {
		return fmt.Sprintf("%s is missing", e.Path)
	}
	return fmt.Sprintf("%s changed (sha256 %s, now %s)", e.Path, short(e.Want.SHA256), short(e.Got.SHA256))
}

// short abbreviates a hex digest for messages.
func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}

// Verify checks that the file at path still has the stamped content, and
// returns its current stamp. With quick, a file whose size and
// modification time are the stamped ones is taken as unchanged without
// reading it; otherwise (or when either moved, as a copy without -p does)
// its SHA-256 decides. A changed or missing file is a *ChangedError.
func (s Stamp) Verify(path string, quick bool) (Stamp, error) {
	if quick {
		fi, err := os.Stat(path)
		if err == nil && fi.Size() == s.Size && fi.ModTime().UnixNano() == s.ModTime {
			return s, nil
		}
	}
	got, err := StampFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Stamp{}, &ChangedError{Path: path, Want: s}
	}
	if err != nil {
		return Stamp{}, err
	}
	if got.SHA256 != s.SHA256 || got.Size != s.Size {
		return got, &ChangedError{Path: path, Want: s, Got: got}
	}
	return got, nil
}
