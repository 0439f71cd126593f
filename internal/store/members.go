package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/trak-dev/trak/internal/atomicfile"
	"github.com/trak-dev/trak/internal/npy"
)

// A model directory's arrays come in groups that featurize fills together:
// data arrays and the per-row flags that say which of their rows are
// finished (grads.npy and out_to_loss.npy with is_featurized.npy; the
// embedding table with is_embedded.npy; an experiment's target features with
// <exp>_is_featurized.npy). The flags are only as good as the data they
// describe, so a group is opened as a whole:
//
//   - every array must carry a record (<array>.json) with the directory's
//     model identity (meta.json's model_uid), its own name and its shape: an
//     array without one, or with another directory's, was copied or restored
//     from elsewhere;
//   - the data arrays are created before the flags, and a data array is
//     created (zero-filled) only while no flag is set: a data array missing
//     while the flags say rows are done is an error, never re-created under
//     flags that would vouch for its zeros;
//   - missing flags are created all pending, so that every row is computed
//     again: flags are never trusted for arrays they did not see filled.
//
// Directories made before model identities were recorded (model_uid empty)
// have no records; only the second and third rules apply to them.

// member is one array of a group: its file name and the header it must
// have.
type member struct {
	name string
	h    npy.Header
}

// group is a set of arrays of model id checked as a whole.
type group struct {
	id    int
	data  []member
	flags member
	fix   string // what to do when the group does not hold together
}

// arrayRecord is the content of <array>.json.
type arrayRecord struct {
	ModelID  int    `json:"model_id"`
	ModelUID string `json:"model_uid"`
	Array    string `json:"array"`
	DType    string `json:"dtype"`
	Shape    []int  `json:"shape"`
}

// recordPath returns the path of the record of the array at path.
func recordPath(path string) string { return path + ".json" }

// openGroup opens (creating what is missing and may be created) the arrays
// of g, read-write: the data arrays in g.data order, and the flags.
func (s *Store) openGroup(g group) (data []*npy.File, flags *npy.File, err error) {
	meta, err := s.ModelMeta(g.id)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			for _, f := range append(data, flags) {
				if f != nil {
					f.Close()
				}
			}
			data, flags = nil, nil
		}
	}()
	if flags, err = s.openMember(meta, g, g.flags); err != nil {
		return nil, nil, err
	}
	done := 0
	if flags != nil {
		for _, f := range flags.Uint8s() {
			if f != rowPending {
				done++
			}
		}
	}
	for _, m := range g.data {
		f, err := s.openMember(meta, g, m)
		if err == nil && f == nil {
			if done > 0 {
				return data, flags, fmt.Errorf("%s is missing while %s marks %d of %d rows done: those rows cannot be trusted; %s",
					s.memberPath(g, m), s.memberPath(g, g.flags), done, g.flags.h.Len(), g.fix)
			}
			f, err = s.createMember(meta, g, m)
		}
		if err != nil {
			return data, flags, err
		}
		data = append(data, f)
	}
	if flags == nil {
		if flags, err = s.createMember(meta, g, g.flags); err != nil {
			return data, nil, err
		}
	}
	return data, flags, nil
}

func (s *Store) memberPath(g group, m member) string {
	return filepath.Join(s.ModelDir(g.id), m.name)
}

// openMember opens an existing array of g and checks its header and record;
// it returns nil, nil when the array does not exist.
func (s *Store) openMember(meta ModelMeta, g group, m member) (*npy.File, error) {
	path := s.memberPath(g, m)
	f, err := npy.Open(path, npy.ReadWrite)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): %s", path, err, g.fix)
	}
	got := f.Header()
	if got.DType != m.h.DType || !slices.Equal(got.Shape, m.h.Shape) {
		f.Close()
		return nil, fmt.Errorf("%s holds %s %v, this run needs %s %v: the store was written by a different run or is damaged; use a new save_dir, or %s",
			path, got.DType, got.Shape, m.h.DType, m.h.Shape, g.fix)
	}
	if meta.ModelUID != "" {
		if err := checkRecord(meta, path, m.h, g.fix); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// checkRecord checks that the array at path carries the record of this
// model directory.
func checkRecord(meta ModelMeta, path string, h npy.Header, fix string) error {
	rp := recordPath(path)
	raw, err := os.ReadFile(rp)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s has no record %s: it was not created in this model directory (copied or restored from elsewhere?); %s",
			path, filepath.Base(rp), fix)
	}
	if err != nil {
		return err
	}
	var rec arrayRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return fmt.Errorf("%s is corrupt (%v): %s", rp, err, fix)
	}
	switch {
	case rec.ModelUID != meta.ModelUID || rec.ModelID != meta.ModelID:
		return fmt.Errorf("%s belongs to another model directory (its record %s names model %d, identity %s; this directory's meta.json has model %d, identity %s): it was copied or moved here; %s",
			path, filepath.Base(rp), rec.ModelID, short(rec.ModelUID), meta.ModelID, short(meta.ModelUID), fix)
	case rec.Array != filepath.Base(path) || rec.DType != h.DType.String() || !slices.Equal(rec.Shape, h.Shape):
		return fmt.Errorf("%s does not match its record %s (%s %s %v): %s",
			path, filepath.Base(rp), rec.Array, rec.DType, rec.Shape, fix)
	}
	return nil
}

// createMember creates a zero-filled array of g, its record first, so that
// an array never exists without one; processes racing to create it end up
// sharing one file.
func (s *Store) createMember(meta ModelMeta, g group, m member) (*npy.File, error) {
	path := s.memberPath(g, m)
	if meta.ModelUID != "" {
		if err := writeRecord(meta, path, m.h); err != nil {
			return nil, err
		}
	}
	f, err := npy.Create(path, m.h)
	if errors.Is(err, fs.ErrExist) {
		if f, err = s.openMember(meta, g, m); err == nil && f == nil {
			err = fmt.Errorf("%s disappeared while it was being opened: %s", path, g.fix)
		}
	}
	return f, err
}

// writeRecord writes the record of the array at path, which does not exist
// yet. A record already there is kept when it is this one (another process
// is creating the same array) and replaced otherwise: without its array it
// describes nothing.
func writeRecord(meta ModelMeta, path string, h npy.Header) error {
	rec := arrayRecord{ModelID: meta.ModelID, ModelUID: meta.ModelUID, Array: filepath.Base(path), DType: h.DType.String(), Shape: h.Shape}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the dtype reads "<f4", as numpy writes it
	enc.SetIndent("", "  ")
	if err := enc.Encode(rec); err != nil {
		return err
	}
	data := buf.Bytes()
	rp := recordPath(path)
	err := atomicfile.CreateNew(rp, 0o644, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	var have arrayRecord
	if raw, err := os.ReadFile(rp); err == nil && json.Unmarshal(raw, &have) == nil &&
		have.ModelUID == rec.ModelUID && have.ModelID == rec.ModelID && have.Array == rec.Array && have.DType == rec.DType && slices.Equal(have.Shape, rec.Shape) {
		return nil
	}
	return atomicfile.WriteFile(rp, data, 0o644)
}
