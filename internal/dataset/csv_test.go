package dataset

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCSV(t *testing.T) {
	images := []string{"a.jpg", "img/b.png", "img/sub/c d.jpg"}
	type want struct {
		image   string // relative to the images' directory
		caption string
	}
	tests := []struct {
		name string
		file string // file name, relative to dir
		body string // "$ABS/" is replaced by the absolute images directory
		spec Spec   // Path and BaseDir are filled in
		base bool   // BaseDir = images directory (the file lives elsewhere)
		want []want
	}{
		{
			name: "plain",
			file: "data.csv",
			body: "filepath,title\na.jpg,a cat\nimg/b.png,a dog\n",
			want: []want{{"a.jpg", "a cat"}, {"img/b.png", "a dog"}},
		},
		{
			name: "bom crlf quotes empty lines",
			file: "data.csv",
			body: "\ufefffilepath,title\r\n\r\n\"a.jpg\",\"a cat, sitting\"\r\n\r\nimg/b.png,\"she said \"\"hi\"\"\"\r\n" +
				"\"img/sub/c d.jpg\",\"two\r\nlines\"\r\n,\r\n",
			want: []want{{"a.jpg", "a cat, sitting"}, {"img/b.png", `she said "hi"`}, {"img/sub/c d.jpg", "two\nlines"}},
		},
		{
			name: "tsv",
			file: "data.tsv",
			body: "filepath\ttitle\na.jpg\ta cat, with a comma\nimg/b.png\t  spaces around  \n",
			want: []want{{"a.jpg", "a cat, with a comma"}, {"img/b.png", "spaces around"}},
		},
		{
			name: "tab separated .csv, open_clip's default",
			file: "data.csv",
			body: "filepath\ttitle\na.jpg\ta cat, with a comma\n",
			want: []want{{"a.jpg", "a cat, with a comma"}},
		},
		{
			name: "custom columns and separator, extra columns reordered",
			file: "data.txt",
			body: "id;caption;image;score\n1;a cat;a.jpg;0.5\n2;a dog;img/b.png;0.7\n",
			spec: Spec{Format: FormatCSV, ImageColumn: "image", CaptionColumn: "caption", Separator: ';'},
			want: []want{{"a.jpg", "a cat"}, {"img/b.png", "a dog"}},
		},
		{
			name: "absolute paths",
			file: "elsewhere/data.csv",
			body: "filepath,title\n$ABS/a.jpg,a cat\n$ABS/img/sub/c d.jpg,a bird\n",
			want: []want{{"a.jpg", "a cat"}, {"img/sub/c d.jpg", "a bird"}},
		},
		{
			name: "base dir",
			file: "elsewhere/data.csv",
			body: "filepath,title\na.jpg,a cat\n",
			base: true,
			want: []want{{"a.jpg", "a cat"}},
		},
		{
			name: "header with spaces and quotes",
			file: "data.csv",
			body: "\" filepath \", title\na.jpg,a cat\n",
			want: []want{{"a.jpg", "a cat"}},
		},
		{
			name: "header only",
			file: "data.csv",
			body: "filepath,title\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			imgDir := dir
			if tc.base || strings.HasPrefix(tc.file, "elsewhere/") {
				imgDir = filepath.Join(dir, "images")
			}
			for _, im := range images {
				writeFile(t, imgDir, im, fakeImage(im))
			}
			body := strings.ReplaceAll(tc.body, "$ABS", imgDir)
			spec := tc.spec
			spec.Path = writeFile(t, dir, tc.file, []byte(body))
			if tc.base {
				spec.BaseDir = imgDir
			}
			d := mustOpen(t, spec)
			if p := d.Problems(); len(p) != 0 {
				t.Fatalf("problems: %v", p)
			}
			if d.Len() != len(tc.want) {
				t.Fatalf("Len = %d, want %d: %q", d.Len(), len(tc.want), described(d))
			}
			for i, w := range tc.want {
				ref, caption := d.Describe(i)
				if wantRef := filepath.Join(imgDir, w.image); ref != wantRef || caption != w.caption {
					t.Errorf("Describe(%d) = %q, %q; want %q, %q", i, ref, caption, wantRef, w.caption)
				}
				img, caption, err := d.Read(i)
				if err != nil {
					t.Fatalf("Read(%d): %v", i, err)
				}
				if !bytes.Equal(img, fakeImage(w.image)) || caption != w.caption {
					t.Errorf("Read(%d) = %q, %q", i, img, caption)
				}
			}
		})
	}
}

func TestCSVBadInput(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope.csv")
		_, err := Open(Spec{Path: p, Format: FormatCSV})
		wantErr(t, err, p)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v is not ErrNotExist", err)
		}
		_, err = Open(Spec{Path: p})
		wantErr(t, err, p)
	})
	t.Run("missing column", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "data.csv", []byte("image,caption,extra\na.jpg,cat,1\n"))
		_, err := Open(Spec{Path: p, CaptionColumn: "caption"})
		wantErr(t, err, p, `no column "filepath"`, `"image", "caption", "extra"`)
		_, err = Open(Spec{Path: p, ImageColumn: "img", CaptionColumn: "text"})
		wantErr(t, err, p, `no columns "img" and "text"`, `"image", "caption", "extra"`)
	})
	t.Run("empty file", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "data.csv", nil)
		_, err := Open(Spec{Path: p})
		wantErr(t, err, p, "empty file", "filepath")
	})
	t.Run("bad separator", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "data.csv", []byte("filepath,title\n"))
		_, err := Open(Spec{Path: p, Separator: '"'})
		wantErr(t, err, p)
	})
	t.Run("bad rows", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "ok.jpg", fakeImage("ok"))
		writeFile(t, dir, "pic.svg", []byte("<svg/>"))
		body := "filepath,title\n" +
			"ok.jpg,fine\n" + // 0, line 2
			"missing.jpg,gone\n" + // 1, line 3
			"ok.jpg,\"   \"\n" + // 2, line 4
			"ok.jpg,caf\xe9\n" + // 3, line 5
			",no path\n" + // 4, line 6
			"ok.jpg\n" + // 5, line 7
			"http://example.com/x.jpg,remote\n" + // 6, line 8
			"pic.svg,vector\n" + // 7, line 9
			"subdir,a directory\n" // 8, line 10
		if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o755); err != nil {
			t.Fatal(err)
		}
		p := writeFile(t, dir, "data.csv", []byte(body))
		d := mustOpen(t, Spec{Path: p})
		want := map[int]string{
			1: "image file not found",
			2: "empty caption",
			3: "caption is not valid UTF-8",
			4: "empty image path",
			5: "record has 1 fields, the header 2",
			6: "image path is a URL; only local files are read",
			7: "unsupported format svg",
			8: "image path is a directory",
		}
		if got := reasons(d); !maps.Equal(got, want) {
			t.Errorf("problems = %v\nwant %v", got, want)
		}
		if d.Len() != 9 || !slices.Equal(d.Good(), []int{0}) {
			t.Errorf("Len = %d, Good = %v", d.Len(), d.Good())
		}
		_, _, err := d.Read(1)
		wantErr(t, err, p, "line 3", "row 1", filepath.Join(dir, "missing.jpg"), "image file not found")
		if !errors.Is(err, ErrBadExample) {
			t.Errorf("%v is not ErrBadExample", err)
		}
		var re *RowError
		if !errors.As(err, &re) || re.Row != 1 {
			t.Errorf("%v is not a RowError for row 1", err)
		}
		if _, c := d.Describe(3); c != "caf\uFFFD" {
			t.Errorf("Describe(3) caption = %q", c)
		}
		_, _, err = d.Read(9)
		wantErr(t, err, "row 9", "out of range")

		// An image removed after Open: Read names the file and row.
		if err := os.Remove(filepath.Join(dir, "ok.jpg")); err != nil {
			t.Fatal(err)
		}
		_, _, err = d.Read(0)
		wantErr(t, err, p, "line 2", "row 0", filepath.Join(dir, "ok.jpg"))
		if errors.Is(err, ErrBadExample) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Read of a vanished image: %v", err)
		}
	})
}
