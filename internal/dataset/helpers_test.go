package dataset

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFile writes data to dir/rel, creating directories.
func writeFile(t testing.TB, dir, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeImage is recognizable image content for name; this package never
// decodes images.
func fakeImage(name string) []byte {
	return []byte("\x89PNG\r\n\x1a\nfake image " + name + strings.Repeat(".", len(name)*37%200))
}

// tm is a tar member for makeTar.
type tm struct {
	name string
	data []byte
	typ  byte // 0 means a regular file
}

// makeTar returns a tar archive of the members.
func makeTar(t testing.TB, members ...tm) []byte {
	t.Helper()
	return makeTarAt(t, time.Unix(1700000000, 0), members...)
}

// makeTarAt is makeTar with the members' modification time.
func makeTarAt(t testing.TB, mtime time.Time, members ...tm) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), ModTime: mtime, Typeflag: tar.TypeReg}
		if m.typ != 0 {
			h.Typeflag, h.Size = m.typ, 0
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := w.Write(m.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sample returns the members of a jpg+txt sample.
func sample(key, caption string) []tm {
	return []tm{{name: key + ".jpg", data: fakeImage(key)}, {name: key + ".txt", data: []byte(caption)}}
}

func mustOpen(t testing.TB, spec Spec) *Dataset {
	t.Helper()
	d, err := Open(spec)
	if err != nil {
		t.Fatalf("Open(%+v): %v", spec, err)
	}
	return d
}

// described lists Describe for every row.
func described(d *Dataset) [][2]string {
	out := make([][2]string, d.Len())
	for i := range out {
		out[i][0], out[i][1] = d.Describe(i)
	}
	return out
}

// reasons maps row to problem reason.
func reasons(d *Dataset) map[int]string {
	out := map[int]string{}
	for _, p := range d.Problems() {
		out[p.Row] = p.Reason
	}
	return out
}
