package dataset

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
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
		testutil.WantErr(t, err, p)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v is not ErrNotExist", err)
		}
		_, err = Open(Spec{Path: p})
		testutil.WantErr(t, err, p)
	})
	t.Run("missing column", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "data.csv", []byte("image,caption,extra\na.jpg,cat,1\n"))
		_, err := Open(Spec{Path: p, CaptionColumn: "caption"})
		testutil.WantErr(t, err, p, `no column "filepath"`, `"image", "caption", "extra"`)
		_, err = Open(Spec{Path: p, ImageColumn: "img", CaptionColumn: "text"})
		testutil.WantErr(t, err, p, `no columns "img" and "text"`, `"image", "caption", "extra"`)
	})
	t.Run("empty file", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "data.csv", nil)
		_, err := Open(Spec{Path: p})
		testutil.WantErr(t, err, p, "empty file", "filepath")
	})
	t.Run("bad separator", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "data.csv", []byte("filepath,title\n"))
		_, err := Open(Spec{Path: p, Separator: '"'})
		testutil.WantErr(t, err, p)
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
		testutil.WantErr(t, err, p, "line 3", "row 1", filepath.Join(dir, "missing.jpg"), "image file not found")
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
		testutil.WantErr(t, err, "row 9", "out of range")

		// An image removed after Open: Read names the file and row.
		if err := os.Remove(filepath.Join(dir, "ok.jpg")); err != nil {
			t.Fatal(err)
		}
		_, _, err = d.Read(0)
		testutil.WantErr(t, err, p, "line 2", "row 0", filepath.Join(dir, "ok.jpg"))
		if errors.Is(err, ErrBadExample) || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Read of a vanished image: %v", err)
		}
	})
}

// TestCSVQuotingAccepted: captions quoted the way CSV writers (and pandas,
// which open_clip's loader uses) quote them keep reading as before, line
// breaks included, and a few malformed but unambiguous forms stay accepted
// so that files read before keep their rows and fingerprint.
func TestCSVQuotingAccepted(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string // captions
	}{
		{"quoted line break (pandas reads it)", "filepath,title\na.jpg,\"two\nlines\"\nb.jpg,next\n", []string{"two\nlines", "next"}},
		{"quoted paragraphs, CRLF", "filepath,title\r\na.jpg,\"one\r\n\r\ntwo, three\r\nfour\"\r\nb.jpg,next\r\n", []string{"one\n\ntwo, three\nfour", "next"}},
		{"many quoted lines up to the limit", "filepath,title\na.jpg,\"" + strings.Repeat("line\n", maxQuotedLines-1) + "end\"\n",
			[]string{strings.Repeat("line\n", maxQuotedLines-1) + "end"}},
		{"bare quote in an unquoted field", "filepath,title\na.jpg,a 5\" screen\n", []string{`a 5" screen`}},
		{"undoubled quotes on one line", "filepath,title\na.jpg,\"a \"cat\" here\"\nb.jpg,next\n", []string{`a "cat" here`, "next"}},
		{"undoubled quote on the last line of a quoted field", "filepath,title\na.jpg,\"two\nlines, a 5\" screen\"\nb.jpg,next\n", []string{"two\nlines, a 5\" screen", "next"}},
		{"trailing empty fields (some exporters write them)", "filepath,title\na.jpg,a cat,\nb.jpg,a dog, ,\n", []string{"a cat", "a dog"}},
		{"unclosed quote on the last line", "filepath,title\na.jpg,\"open\n", []string{"open"}},
		{"unclosed quote on the last line, no line end", "filepath,title\na.jpg,x\nb.jpg,\"The Raven\" by Poe", []string{"x", `The Raven" by Poe`}},
		{"caption line that names a file without a separator", "filepath,title\na.jpg,\"see\nb.jpg\"\n", []string{"see\nb.jpg"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "a.jpg", fakeImage("a"))
			writeFile(t, dir, "b.jpg", fakeImage("b"))
			d := mustOpen(t, Spec{Path: writeFile(t, dir, "data.csv", []byte(tc.body))})
			if p := d.Problems(); len(p) != 0 {
				t.Fatalf("problems: %v", p)
			}
			var got []string
			for _, r := range described(d) {
				got = append(got, r[1])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("captions %q, want %q", got, tc.want)
			}
		})
	}
}

// rowsWithRavenQuote is a 48-row file whose row 10 caption opens with a
// quoted title but is not quoted as a whole: encoding/csv with LazyQuotes
// (the former reader) runs the quoted field on through the next rows up to
// the first quote followed by a comma or a line end, on line 16 (row 14),
// and reads 44 rows.
func rowsWithRavenQuote() string {
	var b strings.Builder
	b.WriteString("filepath,title\n")
	for i := range 48 {
		switch i {
		case 10:
			b.WriteString("a.jpg,\"The Raven\" by Poe\n")
		case 14:
			b.WriteString("a.jpg,\"quoted\"\n")
		default:
			fmt.Fprintf(&b, "a.jpg,caption %d\n", i)
		}
	}
	return b.String()
}

// TestCSVUnbalancedQuote: a quote that swallows rows used to merge them
// silently into one caption; the file is now refused, naming the line the
// field starts on and how to quote a caption.
func TestCSVUnbalancedQuote(t *testing.T) {
	raven := rowsWithRavenQuote()
	// The problem as it was: the lazy encoding/csv reader finds 44 records.
	old := csv.NewReader(strings.NewReader(raven))
	old.LazyQuotes, old.FieldsPerRecord = true, -1
	if recs, err := old.ReadAll(); err != nil || len(recs)-1 != 44 {
		t.Fatalf("encoding/csv read %d rows (%v), the test expects 44", len(recs)-1, err)
	}
	long := "filepath,title\na.jpg,\"" + strings.Repeat("line\n", maxQuotedLines) + "end\"\n"
	tests := []struct {
		name  string
		body  string
		parts []string
	}{
		{"undoubled quote runs on over rows", raven, []string{"line 12:", "runs on to line 16", "the quote at line 12, column 17", `""quoted""`}},
		{"never closed", "filepath,title\na.jpg,fine\nb.jpg,\"open\nc.jpg,more\n", []string{"line 3:", "never closed", "the file ends inside it"}},
		{"never closed, no newline at the end", "filepath,title\nb.jpg,\"open\nmore", []string{"line 2:", "never closed", "on line 3"}},
		{"closed rows later, swallowing a row", "filepath,title\na.jpg,\"open\nb.jpg,dog\nc.jpg,ends here\"\nd.jpg,x\n", []string{"line 2:", "runs on to line 4", "takes in line 3", `"b.jpg,dog"`}},
		{"swallowed row names an existing file without extension", "filepath,title\nimg1,\"open\nimg2,dog\"\n", []string{"line 2:", "takes in line 3", `"img2,dog"`}},
		{"longer than any caption", long, []string{"line 2:", fmt.Sprintf("runs over %d lines", maxQuotedLines+1)}},
		{"header", "\"filepath,title\na.jpg,cat\n", []string{"line 1:", "never closed"}},
		{"tsv", "filepath\ttitle\na.jpg\t\"The Raven\" by Poe\nb.jpg\t\"x\"\n", []string{"line 2:", "runs on to line 3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, n := range []string{"a.jpg", "b.jpg", "img1", "img2"} {
				writeFile(t, dir, n, fakeImage(n))
			}
			name := "data.csv"
			if tc.name == "tsv" {
				name = "data.tsv"
			}
			p := writeFile(t, dir, name, []byte(tc.body))
			_, err := Open(Spec{Path: p})
			testutil.WantErr(t, err, append([]string{p + " line ", "quote the whole caption"}, tc.parts...)...)
		})
	}
}

// TestCSVExtraFields: a caption with an unquoted separator used to be cut
// at the separator without a word; such a row is now a bad example (the
// same path as a row with too few fields), so that on_bad_example: fail
// stops at its line and skip lists it.
func TestCSVExtraFields(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.jpg", fakeImage("a"))
	p := writeFile(t, dir, "data.csv", []byte("filepath,title\na.jpg,fine\na.jpg,a cat, sitting on a mat\n\na.jpg,ok,\n"))
	d := mustOpen(t, Spec{Path: p})
	want := `record has 3 fields, the header 2: a caption that contains the separator ',' must be quoted ("...")`
	if got := reasons(d); !maps.Equal(got, map[int]string{1: want}) {
		t.Errorf("problems %v", got)
	}
	if pr := d.Problems(); len(pr) != 1 || pr[0].Line != 3 || !strings.HasPrefix(pr[0].String(), "line 3, row 1 (") {
		t.Errorf("problems %v", pr)
	}
	_, _, err := d.Read(1)
	testutil.WantErr(t, err, p+" line 3 (row 1)", "must be quoted")
	if !errors.Is(err, ErrBadExample) {
		t.Errorf("%v is not ErrBadExample", err)
	}
	if _, c, err := d.Read(2); err != nil || c != "ok" {
		t.Errorf("Read(2) = %q, %v", c, err)
	}
}
