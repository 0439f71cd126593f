package dataset

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"unicode"
)

// tuxPaintStamps is where Debian's tuxpaint-stamps-default installs Tux
// Paint's stamps: photo cut-outs in nested category folders, NAME.png or
// NAME.svg with a NAME.txt whose first line is an English caption (the
// other lines are translations), next to sounds and settings files.
const tuxPaintStamps = "/usr/share/tuxpaint/stamps"

func TestTuxPaintStamps(t *testing.T) {
	if _, err := os.Stat(tuxPaintStamps); err != nil {
		t.Skipf("%s not found (apt-get install tuxpaint-stamps-default): %v", tuxPaintStamps, err)
	}
	d := mustOpen(t, Spec{Path: tuxPaintStamps})
	if d.Format() != FormatFolder {
		t.Errorf("format %q", d.Format())
	}
	if n := d.Len(); n < 900 || n > 1100 {
		t.Errorf("%d rows, want about 950", n)
	}
	reasons := map[string]int{}
	svg := 0
	for _, p := range d.Problems() {
		kind := p.Reason
		if strings.HasPrefix(kind, "no caption file ") {
			kind = "no caption file"
		}
		reasons[kind]++
		if p.Reason == "unsupported format svg" {
			svg++
			if !strings.HasSuffix(p.Ref, ".svg") {
				t.Errorf("row %d: %s reported as svg", p.Row, p.Ref)
			}
		}
	}
	good := d.Good()
	t.Logf("%d rows, %d good; problems: %v", d.Len(), len(good), reasons)
	if svg == 0 {
		t.Errorf("no SVG stamp reported unsupported")
	}
	if len(good) < 700 {
		t.Errorf("only %d good rows", len(good))
	}
	for k := range reasons {
		switch k {
		case "unsupported format svg", "no caption file", "no image for this caption file":
		default:
			t.Errorf("unexpected problem %q", k)
		}
	}
	pngMagic := []byte("\x89PNG\r\n\x1a\n")
	for _, i := range good {
		ref, caption := d.Describe(i)
		if !strings.HasSuffix(ref, ".png") {
			t.Errorf("row %d: image %s is not a PNG", i, ref)
		}
		if !englishLine(caption) {
			t.Errorf("row %d (%s): caption %q is not one English line", i, ref, caption)
		}
	}
	// Read a sample of images: real PNGs, with their captions.
	for k := 0; k < len(good); k += len(good)/20 + 1 {
		img, caption, err := d.Read(good[k])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(img, pngMagic) || caption == "" {
			t.Errorf("row %d: %d bytes, caption %q", good[k], len(img), caption)
		}
	}
	if ref, caption := d.Describe(good[0]); testing.Verbose() {
		t.Logf("first row: %s %q", ref, caption)
	}
}

// englishLine reports a caption that looks like one line of English: all
// printable, letters all Latin, at least one ASCII word, and no translation
// marker ("xx.utf8=") from the caption file's other lines.
func englishLine(s string) bool {
	if s == "" || strings.Contains(s, ".utf8=") {
		return false
	}
	word := 0
	longest := 0
	for _, r := range s {
		switch {
		case !unicode.IsPrint(r):
			return false
		case r < 128 && unicode.IsLetter(r):
			word++
			longest = max(longest, word)
		case unicode.IsLetter(r) && !unicode.Is(unicode.Latin, r):
			return false
		default:
			word = 0
		}
	}
	return longest >= 2
}
