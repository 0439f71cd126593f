package dataset

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trak-dev/trak/internal/testutil"
)

func TestWebDatasetShard(t *testing.T) {
	longKey := "deep/" + strings.Repeat("x", 120) + "/0009" // needs a PAX or GNU long name
	big := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	members := []tm{
		{name: "__meta__.json", data: []byte(`{"caption":"not a sample"}`)},
		{name: "./dir/", typ: tar.TypeDir},
	}
	members = append(members, sample("0000", "a photo of a cat")...)
	members = append(members,
		tm{name: "0001.png", data: fakeImage("0001")},
		tm{name: "0001.caption", data: []byte("\ufeff a caption file \n")},
		tm{name: "0001.cls", data: []byte("3")},
		tm{name: "0002.json", data: []byte(`{"url":"x","caption":"from json"}`)},
		tm{name: "0002.webp", data: fakeImage("0002")},
		tm{name: "./dir/0003.JPEG", data: big},
		tm{name: "./dir/0003.txt", data: []byte("multi\nline caption\n")},
		tm{name: "0004.png", data: fakeImage("0004.png")},
		tm{name: "0004.jpg", data: fakeImage("0004.jpg")}, // preferred over png
		tm{name: "0004.txt", data: []byte("txt wins")},
		tm{name: "0004.json", data: []byte(`{"caption":"json loses"}`)},
		tm{name: "0005.a.b.jpg", data: fakeImage("0005")}, // extension "a.b.jpg": not an image
		tm{name: "0005.txt", data: []byte("orphan caption")},
		tm{name: "link.jpg", typ: tar.TypeSymlink},
		tm{name: longKey + ".gif", data: fakeImage("long")},
		tm{name: longKey + ".txt", data: []byte("long name")},
		tm{name: "noext", data: []byte("ignored")},
		tm{name: ".hidden.jpg", data: []byte("ignored")},
	)
	dir := t.TempDir()
	p := writeFile(t, dir, "shard.tar", makeTar(t, members...))
	d := mustOpen(t, Spec{Path: p})
	if d.Format() != FormatWebDataset {
		t.Errorf("format %q", d.Format())
	}
	want := [][2]string{
		{p + ":0000.jpg", "a photo of a cat"},
		{p + ":0001.png", "a caption file"},
		{p + ":0002.webp", "from json"},
		{p + ":dir/0003.JPEG", "multi\nline caption"},
		{p + ":0004.jpg", "txt wins"},
		{p + ":0005.a.b.jpg", "orphan caption"},
		{p + ":" + longKey + ".gif", "long name"},
	}
	if got := described(d); !slices.Equal(got, want) {
		t.Fatalf("rows:\n%q\nwant\n%q", got, want)
	}
	if got, want := reasons(d), map[int]string{5: "no image member"}; !maps.Equal(got, want) {
		t.Errorf("problems %v, want %v", got, want)
	}
	images := map[int][]byte{0: fakeImage("0000"), 1: fakeImage("0001"), 2: fakeImage("0002"), 3: big, 4: fakeImage("0004.jpg"), 6: fakeImage("long")}
	for i, w := range images {
		img, caption, err := d.Read(i)
		if err != nil {
			t.Fatalf("Read(%d): %v", i, err)
		}
		if !bytes.Equal(img, w) || caption != want[i][1] {
			t.Errorf("Read(%d) = %d bytes %q, %q", i, len(img), img[:min(len(img), 20)], caption)
		}
	}
	_, _, err := d.Read(5)
	testutil.WantErr(t, err, "row 5", p+":0005.a.b.jpg", "no image member")

	// The shard is rewritten after Open: reads refuse it.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	_, _, err = d.Read(0)
	testutil.WantErr(t, err, "row 0", p, "changed since the data set was opened")
}

func TestWebDatasetBadSamples(t *testing.T) {
	members := slices.Concat(
		sample("0000", "fine"),
		[]tm{{name: "0001.jpg", data: fakeImage("1")}},     // no caption
		[]tm{{name: "0002.txt", data: []byte("no image")}}, // no image
		[]tm{{name: "0003.svg", data: []byte("<svg/>")}, {name: "0003.txt", data: []byte("vector")}},
		[]tm{{name: "0004.jpg", data: fakeImage("4")}, {name: "0004.txt", data: []byte("bad \xff\xfe utf8")}},
		[]tm{{name: "0005.jpg", data: fakeImage("5")}, {name: "0005.txt", data: []byte(" \n\t ")}},
		[]tm{{name: "0006.jpg", data: fakeImage("6")}, {name: "0006.txt", data: []byte("a")}, {name: "0006.jpg", data: fakeImage("6b")}},
		[]tm{{name: "0007.jpg", data: fakeImage("7")}, {name: "0007.json", data: []byte(`{"url":"x"}`)}},
		[]tm{{name: "0008.jpg", data: fakeImage("8")}, {name: "0008.json", data: []byte(`{"caption":3}`)}},
		[]tm{{name: "0009.jpg", data: fakeImage("9")}, {name: "0009.txt", data: bytes.Repeat([]byte("x"), maxCaptionBytes+1)}},
		[]tm{{name: "0010.jpg", data: fakeImage("10")}, {name: "0010.json", data: []byte(`not json`)}},
		sample("0011", "fine again"),
	)
	p := writeFile(t, t.TempDir(), "bad.tar", makeTar(t, members...))
	d := mustOpen(t, Spec{Path: p})
	want := map[int]string{
		1:  "no caption member (.txt, .caption or .json with a caption)",
		2:  "no image member",
		3:  "unsupported format svg",
		4:  "caption is not valid UTF-8",
		5:  "empty caption",
		6:  `duplicate member "0006.jpg"`,
		7:  "no caption member (.txt, .caption or .json with a caption)",
		8:  "json caption is not a string",
		9:  fmt.Sprintf(`caption member "0009.txt" is %d bytes, more than %d`, maxCaptionBytes+1, maxCaptionBytes),
		10: "json member is not a JSON object",
	}
	if got := reasons(d); !maps.Equal(got, want) {
		t.Errorf("problems:\n%v\nwant\n%v", got, want)
	}
	if d.Len() != 12 || !slices.Equal(d.Good(), []int{0, 11}) {
		t.Errorf("Len %d, Good %v", d.Len(), d.Good())
	}
	for row := range want {
		_, _, err := d.Read(row)
		if !errors.Is(err, ErrBadExample) {
			t.Errorf("Read(%d) = %v, want a bad example", row, err)
		}
	}
}

func TestWebDatasetShards(t *testing.T) {
	dir := t.TempDir()
	for i := range 12 {
		writeFile(t, dir, fmt.Sprintf("s/%05d.tar", i), makeTar(t, sample(fmt.Sprintf("k%02d", i), fmt.Sprintf("shard %d", i))...))
		writeFile(t, dir, fmt.Sprintf("u/%d.tar", i), makeTar(t, slices.Concat(sample("a", fmt.Sprint(i, "a")), sample("b", fmt.Sprint(i, "b")))...))
	}
	writeFile(t, dir, "s/notes.txt", []byte("not a shard"))
	s := filepath.Join(dir, "s")
	u := filepath.Join(dir, "u")
	seq := func(lo, hi int) []string {
		var out []string
		for i := lo; i <= hi; i++ {
			out = append(out, fmt.Sprintf("shard %d", i))
		}
		return out
	}
	tests := []struct {
		name string
		spec Spec
		want []string // captions
	}{
		{"brace range padded", Spec{Path: s + "/{00000..00003}.tar"}, seq(0, 3)},
		{"brace range reversed", Spec{Path: s + "/{00003..00001}.tar"}, seq(1, 3)},
		{"brace list", Spec{Path: s + "/0000{1,3}.tar"}, []string{"shard 1", "shard 3"}},
		{"nested braces", Spec{Path: s + "/000{0{0,1},1{0,1}}.tar"}, []string{"shard 0", "shard 1", "shard 10", "shard 11"}},
		{"glob", Spec{Path: s + "/*.tar"}, seq(0, 11)},
		{"glob ?", Spec{Path: s + "/0000?.tar"}, seq(0, 9)},
		{"several with ::, deduplicated, sorted", Spec{Path: s + "/00005.tar::" + s + "/0000{4..5}.tar"}, seq(4, 5)},
		{"Paths", Spec{Paths: []string{s + "/00011.tar", s + "/00002.tar"}}, []string{"shard 2", "shard 11"}},
		{"explicit format", Spec{Path: s + "/00007.tar", Format: FormatWebDataset}, seq(7, 7)},
		{"unpadded names sort naturally", Spec{Path: u + "/{8..10}.tar"}, []string{"8a", "8b", "9a", "9b", "10a", "10b"}},
		{"unpadded glob", Spec{Path: u + "/1*.tar"}, []string{"1a", "1b", "10a", "10b", "11a", "11b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustOpen(t, tc.spec)
			var got []string
			for _, r := range described(d) {
				got = append(got, r[1])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("captions %q, want %q", got, tc.want)
			}
			for i := range d.Len() {
				if _, _, err := d.Read(i); err != nil {
					t.Errorf("Read(%d): %v", i, err)
				}
			}
		})
	}

	bad := []struct {
		name  string
		spec  Spec
		parts []string
	}{
		{"missing literal", Spec{Path: s + "/{00000..00012}.tar"}, []string{"00012.tar", "no such file"}},
		{"glob matching nothing", Spec{Path: s + "/*.tgz"}, []string{"no shard file matches", "*.tgz"}},
		{"too many", Spec{Path: s + "/{0..99999999}.tar"}, []string{"more than"}},
		{"directory", Spec{Path: s, Format: FormatWebDataset}, []string{"is a directory"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.spec)
			testutil.WantErr(t, err, tc.parts...)
		})
	}
}

func TestWebDatasetTruncated(t *testing.T) {
	whole := makeTar(t, slices.Concat(sample("0000", "one"), sample("0001", "two"), sample("0002", "three"))...)
	dir := t.TempDir()
	// Cut inside the data of the member 0001.jpg, and inside a header.
	hdr1 := 4 * 512 // 0000.jpg and 0000.txt, a header and a data block each
	cuts := []struct {
		at    int
		parts []string
	}{
		{hdr1 + 512 + 10, []string{`member "0001.jpg"`, fmt.Sprintf("from byte offset %d", hdr1+512), fmt.Sprintf("ends at byte %d", hdr1+512+10)}},
		{hdr1 + 100, []string{fmt.Sprintf("ends at byte %d", hdr1+100), fmt.Sprintf("header that starts at byte offset %d", hdr1)}},
	}
	for _, c := range cuts {
		p := writeFile(t, dir, fmt.Sprintf("cut%d.tar", c.at), whole[:c.at])
		_, err := Open(Spec{Path: p})
		testutil.WantErr(t, err, append([]string{p, "truncated tar"}, c.parts...)...)
	}
	// Cut at a member boundary or inside the last member's padding: the
	// tar reader reports a clean end, and the samples after the cut used
	// to be dropped without a word. The shard is now refused.
	lastEnd := len(whole) - 1024 - 512 + len("three")
	ends := []struct {
		at    int
		parts []string
	}{
		{len(whole) - 1024, []string{`right after member "0002.txt"`, "without the end-of-archive marker", "looks truncated", "head -c 1024 /dev/zero >>"}},
		{2 * hdr1, []string{fmt.Sprintf("ends at byte %d", 2*hdr1), `right after member "0001.txt"`, "looks truncated"}},
		{lastEnd + 3, []string{`inside the padding of member "0002.txt"`, fmt.Sprintf("runs to byte %d", len(whole)-1024)}},
		{lastEnd, []string{`inside the padding of member "0002.txt"`}},
		{0, []string{"is empty (0 bytes)", "looks truncated"}},
	}
	for _, c := range ends {
		p := writeFile(t, dir, fmt.Sprintf("end%d.tar", c.at), whole[:c.at])
		_, err := Open(Spec{Path: p})
		testutil.WantErr(t, err, append([]string{"webdataset shard " + p}, c.parts...)...)
	}
	// Whole shards: one zero block after the last member (nothing can be
	// missing after it), and zeros padding the archive to tar's 10240-byte
	// records.
	for name, data := range map[string][]byte{
		"lone zero block": whole[:len(whole)-512],
		"record padding":  append(slices.Clone(whole), make([]byte, 10240-len(whole)%10240)...),
	} {
		p := writeFile(t, dir, name+".tar", data)
		d := mustOpen(t, Spec{Path: p})
		if _, c, err := d.Read(2); d.Len() != 3 || err != nil || c != "three" {
			t.Errorf("%s: Len %d, Read(2) = %q, %v", name, d.Len(), c, err)
		}
	}
	// Two archives joined with cat: the tar reader stops at the first
	// marker and would drop the second archive's samples.
	second := makeTar(t, sample("0003", "four")...)
	p := writeFile(t, dir, "cat.tar", slices.Concat(whole, make([]byte, 512), second))
	_, err := Open(Spec{Path: p})
	testutil.WantErr(t, err, p, fmt.Sprintf("data after the end-of-archive marker, at byte offset %d", len(whole)+512), "tar --concatenate")

	// Garbage where a header should be.
	garbage := append(slices.Clone(whole[:1024]), bytes.Repeat([]byte("garbage!"), 64)...)
	p = writeFile(t, dir, "garbage.tar", garbage)
	_, err = Open(Spec{Path: p})
	testutil.WantErr(t, err, p, "byte offset 1024")
}

func TestWebDatasetCompressed(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(makeTar(t, sample("0", "x")...))
	zw.Close()
	p := writeFile(t, t.TempDir(), "shard.tar.gz", buf.Bytes())
	_, err := Open(Spec{Path: p})
	testutil.WantErr(t, err, p, "gzip-compressed", "decompress")
}

func TestShardNameWithPatternCharacters(t *testing.T) {
	p := writeFile(t, t.TempDir(), "a b/shard[1]{0..2}*.tar", makeTar(t, sample("x", "y")...))
	d := mustOpen(t, Spec{Path: p})
	if ref, c := d.Describe(0); d.Len() != 1 || ref != p+":x.jpg" || c != "y" {
		t.Errorf("rows %q", described(d))
	}
}
