package dataset

import (
	"archive/tar"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// checkOpened exercises every method on a data set that opened, checking
// the invariants that hold whatever the input.
func checkOpened(t *testing.T, d *Dataset) {
	bad := map[int]bool{}
	for _, p := range d.Problems() {
		if p.Row < 0 || p.Row >= d.Len() || p.Reason == "" || bad[p.Row] {
			t.Fatalf("bad problem %+v (Len %d)", p, d.Len())
		}
		bad[p.Row] = true
	}
	if len(d.Good())+len(bad) != d.Len() {
		t.Fatalf("Good %d + problems %d != Len %d", len(d.Good()), len(bad), d.Len())
	}
	for i := range d.Len() {
		d.Describe(i)
		_, caption, err := d.Read(i)
		if bad[i] != errors.Is(err, ErrBadExample) {
			t.Fatalf("row %d: bad %v, Read error %v", i, bad[i], err)
		}
		if err == nil {
			if c, cerr := CleanCaption(caption); cerr != nil || c != caption {
				t.Fatalf("row %d: caption %q read as good", i, caption)
			}
		}
	}
	if fp := d.Fingerprint(); len(fp) != 64 || d.Fingerprint() != fp {
		t.Fatalf("fingerprint %q", fp)
	}
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("filepath,title\na.jpg,a cat\n"), false)
	f.Add([]byte("\ufefffilepath,title\r\n\"a.jpg\",\"x, \"\"y\"\"\"\r\n\r\nb.png,\n"), false)
	f.Add([]byte("filepath\ttitle\na.jpg\tcat\nmissing.jpg\tdog\n"), true)
	f.Add([]byte("title,filepath\n\"unterminated,a.jpg\n"), false)
	f.Add([]byte("filepath,title\n/abs/a.jpg,\xff\xfe\n,\n\n\"\n"), false)
	f.Add([]byte("filepath,title\na.jpg,\"The Raven\" by Poe\nb.png,x\nb.png,\"q\"\n"), false)
	f.Add([]byte("filepath,title\na.jpg,\"open\nb.png,dog\nb.png,end\"\n"), false)
	f.Add([]byte("filepath,title\na.jpg,a cat, sitting\na.jpg,ok,\n\"\nb.png\",\"two\nlines\"\n"), false)
	// One directory for all inputs: a fuzz worker runs its inputs one at a
	// time, and creating a directory per input slows minimizing a lot.
	dir := f.TempDir()
	writeFile(f, dir, "a.jpg", fakeImage("a"))
	writeFile(f, dir, "b.png", fakeImage("b"))
	f.Fuzz(func(t *testing.T, data []byte, tsv bool) {
		name := "data.csv"
		if tsv {
			name = "data.tsv"
		}
		p := writeFile(t, dir, name, data)
		d, err := Open(Spec{Path: p})
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		checkOpened(t, d)
	})
}

func FuzzTar(f *testing.F) {
	f.Add(makeTar(f, sample("0000", "a cat")...))
	f.Add(makeTar(f, append(sample("0000", "a cat"),
		tm{name: "0001.png", data: fakeImage("1")}, tm{name: "0001.json", data: []byte(`{"caption":"x"}`)},
		tm{name: "0002.svg", data: []byte("<svg/>")}, tm{name: "d/", typ: tar.TypeDir},
		tm{name: "d/" + strings.Repeat("long", 40) + ".caption", data: []byte("\xff")})...))
	whole := makeTar(f, append(sample("0000", "one"), sample("0001", "two")...)...)
	f.Add(whole[:len(whole)-1500])
	f.Add(whole[:700])
	f.Add(whole[:len(whole)-1024])
	f.Add(whole[:len(whole)-512])
	f.Add(append(slices.Clone(whole), whole...))
	f.Add([]byte{})
	f.Add([]byte("\x1f\x8b\x08\x00"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := writeFile(t, dir, "shard.tar", data)
		d, err := Open(Spec{Path: p})
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not name the shard", err)
			}
			return
		}
		checkOpened(t, d)
		for i := range d.Len() {
			if ref, _ := d.Describe(i); !strings.HasPrefix(ref, p+":") {
				t.Fatalf("row %d ref %q", i, ref)
			}
		}
	})
}

func FuzzCaption(f *testing.F) {
	for _, s := range []string{"a cat", "  padded\t\n", "", " ", "\xff", "caf\xc3\xa9", "\u00a0nbsp\u00a0", "\u2028", "a\x00b", "\ufeffbom"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := CleanCaption(raw)
		switch {
		case !utf8.ValidString(raw):
			if !errors.Is(err, ErrCaptionNotUTF8) || c != "" {
				t.Fatalf("%q: %q, %v; want ErrCaptionNotUTF8", raw, c, err)
			}
		case strings.TrimSpace(raw) == "":
			if !errors.Is(err, ErrCaptionEmpty) || c != "" {
				t.Fatalf("%q: %q, %v; want ErrCaptionEmpty", raw, c, err)
			}
		default:
			if err != nil || c != strings.TrimSpace(raw) || c == "" {
				t.Fatalf("%q: %q, %v", raw, c, err)
			}
			first, _ := utf8.DecodeRuneInString(c)
			last, _ := utf8.DecodeLastRuneInString(c)
			if unicode.IsSpace(first) || unicode.IsSpace(last) {
				t.Fatalf("%q: %q not trimmed", raw, c)
			}
			if again, err := CleanCaption(c); err != nil || again != c {
				t.Fatalf("%q: not idempotent: %q, %v", c, again, err)
			}
		}
		if d := displayCaption(raw); !utf8.ValidString(d) {
			t.Fatalf("display form %q is not UTF-8", d)
		}
	})
}

// FuzzCSVReader checks that csvReader splits any input into the same
// records, with the same field lines, as encoding/csv with LazyQuotes (the
// reader data sets were opened with before), so that a file that passes the
// new quote checks keeps its rows and fingerprint; and that what it adds
// about quoted fields is consistent.
func FuzzCSVReader(f *testing.F) {
	for _, s := range []string{
		"filepath,title\na.jpg,a cat\n",
		"a,\"b\nc\"\r\n\r\nd,\"e\"\"f\",g\r",
		"a,\"The Raven\" by Poe\nb,x\nc,\"q\"\n",
		"\"open\nmore",
		"\"x\"y\"\n\"\"",
		"a\tb\n\"c\td\"\te\n",
		"\"a\r\nb\r\",c\n\r\n",
		"é;\"ü\";\n",
	} {
		f.Add([]byte(s), byte(0))
	}
	f.Add([]byte("a\xe2\x82\xacb\n\"\xe2\x82\xac\"\xe2\x82\xac\n"), byte(3))
	seps := []rune{',', '\t', ';', '€', '"'}
	f.Fuzz(func(t *testing.T, data []byte, sepChoice byte) {
		sep := seps[int(sepChoice)%len(seps)]
		ref := csv.NewReader(bytes.NewReader(data))
		ref.Comma, ref.LazyQuotes, ref.FieldsPerRecord = sep, true, -1
		ours := newCSVReader(bytes.NewReader(data), sep)
		for n := 0; ; n++ {
			want, werr := ref.Read()
			got, meta, gerr := ours.read()
			if werr != nil || gerr != nil {
				if werr == io.EOF && gerr == io.EOF {
					return
				}
				if (werr == io.EOF) != (gerr == io.EOF) || !validSeparator(sep) != (gerr != nil && gerr != io.EOF) {
					t.Fatalf("record %d: encoding/csv error %v, ours %v", n, werr, gerr)
				}
				return
			}
			if !slices.Equal(got, want) || len(meta) != len(got) {
				t.Fatalf("record %d: %q (%d fields described), encoding/csv %q", n, got, len(meta), want)
			}
			for i, m := range meta {
				line, _ := ref.FieldPos(i)
				if m.line != line {
					t.Fatalf("record %d field %d: line %d, encoding/csv %d", n, i, m.line, line)
				}
				if (m.quoted && m.endLine < m.line) || (!m.quoted && (m.endLine != 0 || m.looseLine != 0 || m.unterminated)) ||
					(m.looseLine != 0 && (m.looseLine < m.line || m.looseLine > m.endLine || m.looseCol < 1)) {
					t.Fatalf("record %d field %d: inconsistent %+v", n, i, m)
				}
				if nl := strings.Count(got[i], "\n"); m.quoted && !m.unterminated && nl != m.endLine-m.line {
					t.Fatalf("record %d field %d: %d line breaks in %q, lines %d..%d", n, i, nl, got[i], m.line, m.endLine)
				}
			}
		}
	})
}
