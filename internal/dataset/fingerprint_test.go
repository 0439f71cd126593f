package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fixture builds a small data set of one format in a directory and can
// rewrite parts of it.
type fixture struct {
	format  Format
	dir     string
	spec    Spec
	caps    []string
	images  [][]byte
	mtimeOf time.Time
}

func newFixture(t *testing.T, format Format) *fixture {
	f := &fixture{format: format, dir: t.TempDir(), mtimeOf: time.Unix(1700000000, 0)}
	for i := range 4 {
		f.caps = append(f.caps, fmt.Sprintf("caption %d", i))
		f.images = append(f.images, fakeImage(fmt.Sprint("img", i)))
	}
	f.write(t)
	return f
}

// write lays the data set out on disk from caps and images; image files
// get the fixed modification time f.mtimeOf unless touched later.
func (f *fixture) write(t *testing.T) {
	t.Helper()
	switch f.format {
	case FormatCSV:
		body := "filepath,title\n"
		for i, c := range f.caps {
			name := fmt.Sprintf("img%d.jpg", i)
			p := writeFile(t, f.dir, name, f.images[i])
			os.Chtimes(p, f.mtimeOf, f.mtimeOf)
			body += name + "," + c + "\n"
		}
		f.spec = Spec{Path: writeFile(t, f.dir, "data.csv", []byte(body))}
	case FormatFolder:
		root := filepath.Join(f.dir, "root")
		os.RemoveAll(root)
		for i, c := range f.caps {
			p := writeFile(t, root, fmt.Sprintf("s/img%d.jpg", i), f.images[i])
			os.Chtimes(p, f.mtimeOf, f.mtimeOf)
			writeFile(t, root, fmt.Sprintf("s/img%d.txt", i), []byte(c))
		}
		f.spec = Spec{Path: root}
	case FormatWebDataset:
		var ms []tm
		for i, c := range f.caps {
			key := fmt.Sprintf("%04d", i)
			ms = append(ms, tm{name: key + ".jpg", data: f.images[i]}, tm{name: key + ".txt", data: []byte(c)})
		}
		f.spec = Spec{Path: writeFile(t, f.dir, "shard.tar", makeTar(t, ms...))}
	}
}

func TestFingerprint(t *testing.T) {
	for _, format := range []Format{FormatCSV, FormatFolder, FormatWebDataset} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t, format)
			base := mustOpen(t, f.spec).Fingerprint()
			if len(base) != 64 {
				t.Fatalf("fingerprint %q", base)
			}
			if again := mustOpen(t, f.spec).Fingerprint(); again != base {
				t.Fatalf("reopening the same data set changed the fingerprint")
			}
			f.write(t) // rewritten identically, same modification times
			if again := mustOpen(t, f.spec).Fingerprint(); again != base {
				t.Fatalf("rewriting the same content changed the fingerprint")
			}

			changes := []struct {
				name   string
				change func(f *fixture)
			}{
				{"caption", func(f *fixture) { f.caps[2] = "another caption" }},
				{"image size", func(f *fixture) { f.images[1] = append(f.images[1], 'x') }},
				{"row added", func(f *fixture) {
					f.caps = append(f.caps, "new")
					f.images = append(f.images, fakeImage("new"))
				}},
				{"row removed", func(f *fixture) { f.caps, f.images = f.caps[:3], f.images[:3] }},
				{"rows swapped", func(f *fixture) {
					f.caps[0], f.caps[1] = f.caps[1], f.caps[0]
					f.images[0], f.images[1] = f.images[1], f.images[0]
				}},
				{"bad caption", func(f *fixture) { f.caps[3] = " " }},
			}
			if format != FormatWebDataset {
				changes = append(changes, struct {
					name   string
					change func(f *fixture)
				}{"image modified, same size", func(f *fixture) { f.mtimeOf = f.mtimeOf.Add(time.Second) }})
			}
			seen := map[string]string{base: "original"}
			for _, c := range changes {
				g := newFixture(t, format)
				c.change(g)
				g.write(t)
				fp := mustOpen(t, g.spec).Fingerprint()
				if prev, ok := seen[fp]; ok {
					t.Errorf("%s: fingerprint equals the one of %s", c.name, prev)
				}
				seen[fp] = c.name
			}
		})
	}
}

func TestFingerprintFormatAndTar(t *testing.T) {
	// The same file read as csv and as tsv (one column layout both ways).
	dir := t.TempDir()
	writeFile(t, dir, "a.jpg", fakeImage("a"))
	p := writeFile(t, dir, "data.csv", []byte("filepath\ttitle\na.jpg\tcat\n"))
	csv := mustOpen(t, Spec{Path: p})
	tsv := mustOpen(t, Spec{Path: p, Format: FormatTSV})
	if !slices.Equal(described(csv), described(tsv)) || csv.Fingerprint() == tsv.Fingerprint() {
		t.Errorf("csv and tsv: rows %q %q, fingerprints %s %s", described(csv), described(tsv), csv.Fingerprint(), tsv.Fingerprint())
	}

	// A tar member's modification time counts.
	ms := sample("0000", "x")
	a := writeFile(t, dir, "a.tar", makeTar(t, ms...))
	fa := mustOpen(t, Spec{Path: a}).Fingerprint()
	b := writeFile(t, dir, "b/a.tar", makeTarAt(t, time.Unix(1800000000, 0), ms...))
	if fb := mustOpen(t, Spec{Path: b}).Fingerprint(); fb == fa {
		t.Errorf("member modification time not covered")
	}
	// Moving a shard keeps the fingerprint (its base name is what counts).
	c := writeFile(t, dir, "c/a.tar", makeTar(t, ms...))
	if fc := mustOpen(t, Spec{Path: c}).Fingerprint(); fc != fa {
		t.Errorf("moving a shard changed the fingerprint")
	}
}
