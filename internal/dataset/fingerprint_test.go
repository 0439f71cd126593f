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

// fingerprintCases are CSV/TSV files that read the same before and after
// the CSV reader was rewritten; goldenFingerprints holds the fingerprints
// the former reader (encoding/csv with LazyQuotes) gave them.
var fingerprintCases = []struct{ name, file, body string }{
	{"plain", "data.csv", "filepath,title\na.jpg,a cat\nb.png,a dog\n"},
	{"bom crlf quotes", "data.csv", "\ufefffilepath,title\r\n\r\n\"a.jpg\",\"a cat, sitting\"\r\nb.png,\"she said \"\"hi\"\"\"\r\n\"a.jpg\",\"two\r\nlines\"\r\n,\r\n"},
	{"tsv", "data.tsv", "filepath\ttitle\na.jpg\ta cat, with a comma\nb.png\t  spaces around  \n"},
	{"bad rows", "data.csv", "filepath,title\na.jpg,fine\nmissing.jpg,gone\na.jpg,\"   \"\na.jpg,caf\xe9\n,no path\na.jpg\nhttp://x/y.jpg,remote\np.svg,vector\n"},
	{"lenient quoting", "data.csv", "filepath,title\na.jpg,a 5\" screen\nb.png,\"a \"cat\" here\"\na.jpg,\"two\nlines, a 5\" screen\"\nb.png,trailing,\nb.png,\"last line\" unclosed"},
	{"extra columns", "data.csv", "id,title,filepath,score\n1,a cat,a.jpg,0.5\n2,\"a dog, big\",b.png,\n"},
}

// caseFingerprint writes a case with fixed image modification times and
// returns its fingerprint.
func caseFingerprint(t *testing.T, file, body string) string {
	dir := t.TempDir()
	mtime := time.Unix(1700000000, 0)
	for _, im := range []string{"a.jpg", "b.png"} {
		p := writeFile(t, dir, im, fakeImage(im))
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	d := mustOpen(t, Spec{Path: writeFile(t, dir, filepath.FromSlash(file), []byte(body))})
	return d.Fingerprint()
}

var goldenFingerprints = map[string]string{
	"plain":           "2458aad6f632a29c7b9ec1338017bed09c70de521a205781bc4031e4981753e3",
	"bom crlf quotes": "868eb2abfdfbaeec7203d866688025fba2391878fa381331767ab1c99ae52de2",
	"tsv":             "f8c54028abe59acff384cd708d4e76129cdd36fc48d8f3dc2a7534bb501b9806",
	"bad rows":        "6c01f5cc61effd2d67bf53031fe7330e71f41b10931a3ad826b17dbcb9bdf6e2",
	"lenient quoting": "b92b772e8dd337bcd11a129cfe6be64f37ef789cc7d92d4e42bd2bb768ed9c90",
	"extra columns":   "f729cd36a564bc63c52ec00714022e62d9aed27362493fcd0377dfe380d290de",
}

// TestCSVFingerprintUnchanged: stores record the train set's fingerprint
// and refuse a different one, so files that read the same as under the
// former reader must keep their fingerprint exactly (the values were
// computed with it).
func TestCSVFingerprintUnchanged(t *testing.T) {
	for _, c := range fingerprintCases {
		t.Run(c.name, func(t *testing.T) {
			if got := caseFingerprint(t, c.file, c.body); got != goldenFingerprints[c.name] {
				t.Errorf("fingerprint %s, want %s", got, goldenFingerprints[c.name])
			}
		})
	}
}
