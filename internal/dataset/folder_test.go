package dataset

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

func TestFolder(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"b/zebra.png":          "IMG",
		"b/zebra.txt":          "A zebra.\nde.utf8=Ein Zebra.\n",
		"a.jpg":                "IMG",
		"a.txt":                "\ufeffA first line\r\nsecond line\r\n",
		"a-b.png":              "IMG",
		"a-b.txt":              "  hyphen  ",
		"b/deep/er/x.y.JPEG":   "IMG",
		"b/deep/er/x.y.txt":    "dots in the name",
		"both.svg":             "<svg/>",
		"both.png":             "IMG", // the PNG is used, the SVG ignored
		"both.txt":             "png and svg",
		"vector.svg":           "<svg/>",
		"vector.txt":           "only svg",
		"lonely.png":           "IMG",
		"caption-only.txt":     "no image",
		"sound.ogg":            "OGG",
		"sound.txt":            "a caption whose image is a sound",
		"settings.dat":         "ignored",
		"empty.jpg":            "IMG",
		"empty.txt":            "\n",
		"latin1.png":           "IMG",
		"latin1.txt":           "caf\xe9",
		".hidden.png":          "IMG",
		".hidden.txt":          "hidden",
		".git/x.png":           "IMG",
		".git/x.txt":           "hidden dir",
		"noext":                "ignored",
		"b/zebra_mirror.png":   "IMG",
		"b/deep/er/x.y.z.webp": "IMG",
	}
	for name, body := range files {
		if body == "IMG" {
			writeFile(t, dir, name, fakeImage(name))
		} else {
			writeFile(t, dir, name, []byte(body))
		}
	}
	if err := os.Symlink(filepath.Join(dir, "a.jpg"), filepath.Join(dir, "link.jpg")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "link.txt", []byte("through a link"))
	if err := os.Symlink(filepath.Join(dir, "b"), filepath.Join(dir, "loop")); err != nil {
		t.Fatal(err)
	}

	d := mustOpen(t, Spec{Path: dir})
	if d.Format() != FormatFolder {
		t.Errorf("format %q", d.Format())
	}
	j := func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }
	want := [][2]string{
		{j("a.jpg"), "A first line"},
		{j("a-b.png"), "hyphen"},
		{j("b/deep/er/x.y.JPEG"), "dots in the name"},
		{j("b/deep/er/x.y.z.webp"), ""},
		{j("b/zebra.png"), "A zebra."},
		{j("b/zebra_mirror.png"), ""},
		{j("both.png"), "png and svg"},
		{j("caption-only.txt"), "no image"},
		{j("empty.jpg"), ""},
		{j("latin1.png"), "caf\uFFFD"},
		{j("link.jpg"), "through a link"},
		{j("lonely.png"), ""},
		{j("sound.txt"), "a caption whose image is a sound"},
		{j("vector.svg"), "only svg"},
	}
	if got := described(d); !slices.Equal(got, want) {
		t.Fatalf("rows:\n%q\nwant\n%q", got, want)
	}
	wantProblems := map[int]string{
		3:  "no caption file b/deep/er/x.y.z.txt",
		5:  "no caption file b/zebra_mirror.txt",
		7:  "no image for this caption file",
		8:  "empty caption",
		9:  "caption is not valid UTF-8",
		11: "no caption file lonely.txt",
		12: "no image for this caption file",
		13: "unsupported format svg",
	}
	if got := reasons(d); !maps.Equal(got, wantProblems) {
		t.Errorf("problems:\n%v\nwant\n%v", got, wantProblems)
	}
	for _, i := range d.Good() {
		img, caption, err := d.Read(i)
		if err != nil {
			t.Fatalf("Read(%d): %v", i, err)
		}
		rel, _ := filepath.Rel(dir, want[i][0])
		if rel == "link.jpg" {
			rel = "a.jpg"
		}
		if !bytes.Equal(img, fakeImage(filepath.ToSlash(rel))) || caption != want[i][1] {
			t.Errorf("Read(%d) = %q, %q", i, img, caption)
		}
	}
	_, _, err := d.Read(13)
	testutil.WantErr(t, err, "row 13", j("vector.svg"), "unsupported format svg")
	if !errors.Is(err, ErrBadExample) {
		t.Errorf("%v is not ErrBadExample", err)
	}

	// An image replaced after Open (another size) is reported by Read.
	writeFile(t, dir, "a.jpg", []byte("other"))
	_, _, err = d.Read(0)
	testutil.WantErr(t, err, "row 0", j("a.jpg"), "changed since the data set was opened")
}

func TestFolderBadInput(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(Spec{Path: filepath.Join(dir, "missing")})
	testutil.WantErr(t, err, filepath.Join(dir, "missing"))
	f := writeFile(t, dir, "file.bin", []byte("x"))
	_, err = Open(Spec{Path: f, Format: FormatFolder})
	testutil.WantErr(t, err, f, "not a directory")
	_, err = Open(Spec{Path: f})
	testutil.WantErr(t, err, f, "cannot tell the format")
	_, err = Open(Spec{Path: dir, Format: "parquet"})
	testutil.WantErr(t, err, `unknown format "parquet"`)
	_, err = Open(Spec{})
	testutil.WantErr(t, err, "no path")
	empty := mustOpen(t, Spec{Path: dir})
	if empty.Len() != 0 {
		t.Errorf("Len %d", empty.Len())
	}
}
