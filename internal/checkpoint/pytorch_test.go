package checkpoint

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// replaceRecord returns the zip archive data with the member called name
// replaced by content (or dropped when content is nil).
func replaceRecord(t *testing.T, data []byte, name string, content []byte, method uint16) []byte {
	t.Helper()
	var recs []record
	found := false
	for _, r := range zipRecords(t, data) {
		if r.name == name {
			found = true
			if content == nil {
				continue
			}
			r.data, r.method = content, method
		}
		recs = append(recs, r)
	}
	if !found {
		t.Fatalf("no record %s", name)
	}
	return buildZip(t, recs...)
}

func TestPyTorchErrors(t *testing.T) {
	views := readTestdata(t, "views.pt")
	two := f32bytes(1, 2)
	tensorPickle := func(class, key string, numel int32, offset int32, size, stride []int32) []byte {
		return newPickle().op('}', '(').str("w").tensor(class, key, numel, offset, size, stride).op('u').bytes()
	}
	okPickle := tensorPickle("FloatStorage", "0", 2, 0, []int32{2}, []int32{1})
	for _, tc := range []struct {
		name string
		file []byte
		want []string
	}{
		{"zip without data.pkl", buildZip(t, record{name: "archive/version", data: []byte("3\n")}),
			[]string{"no archive/data.pkl record", "not a torch.save checkpoint"}},
		{"empty zip", buildZip(t), []string{"empty zip archive"}},
		{"truncated file", views[:len(views)/2], []string{"reading zip archive"}},
		{"truncated storage record", replaceRecord(t, views, "views/data/0", make([]byte, 36), zip.Store),
			[]string{`tensor "big"`, "views/data/0 holds 36 bytes", "10 float32 elements need 40"}},
		{"missing storage record", replaceRecord(t, views, "views/data/0", nil, 0),
			[]string{`tensor "big"`, "views/data/0 is missing"}},
		{"legacy format", readTestdata(t, "legacy.pt"), []string{"legacy (non-zip) PyTorch file", "torch.save", "safetensors"}},
		{"forbidden class", readTestdata(t, "forbidden.pt"), []string{"forbidden/data.pkl", "forbidden class argparse.Namespace"}},
		{"forbidden function", ptFile(t, newPickle().global("posix", "system").str("touch /tmp/pwned").op(0x85, 'R').bytes(), nil),
			[]string{"archive/data.pkl", "forbidden class posix.system"}},
		{"forbidden builtin", ptFile(t, newPickle().global("builtins", "eval").bytes(), nil),
			[]string{"forbidden class builtins.eval"}},
		{"untyped storage", ptFile(t, tensorPickle("UntypedStorage", "0", 8, 0, []int32{2}, []int32{1}), map[string][]byte{"0": two}),
			[]string{"forbidden class torch.UntypedStorage"}},
		{"view past storage", ptFile(t, tensorPickle("FloatStorage", "0", 2, 1, []int32{2}, []int32{1}), map[string][]byte{"0": two}),
			[]string{`tensor "w"`, "reaches element 2 of a storage of 2"}},
		{"strided view past storage", ptFile(t, tensorPickle("FloatStorage", "0", 2, 0, []int32{2, 2}, []int32{1, 1}), map[string][]byte{"0": two}),
			[]string{`tensor "w"`, "reaches element 2"}},
		{"negative stride", ptFile(t, tensorPickle("FloatStorage", "0", 2, 0, []int32{2}, []int32{-1}), map[string][]byte{"0": two}),
			[]string{`tensor "w"`, "negative size or stride"}},
		{"size and stride differ", ptFile(t, tensorPickle("FloatStorage", "0", 2, 0, []int32{2}, []int32{1, 1}), map[string][]byte{"0": two}),
			[]string{"differ in length"}},
		{"storage size mismatch", ptFile(t, tensorPickle("HalfStorage", "0", 2, 0, []int32{2}, []int32{1}), map[string][]byte{"0": two}),
			[]string{`tensor "w"`, "holds 8 bytes, but 2 float16 elements need 4"}},
		{"big-endian", buildZip(t, record{name: "m/data.pkl", data: okPickle}, record{name: "m/byteorder", data: []byte("big")}),
			[]string{`byte order is "big"`}},
		{"unknown opcode", ptFile(t, []byte{0x80, 2, 0xff, '.'}, nil), []string{"unknown pickle opcode 0xff"}},
		{"no STOP", ptFile(t, []byte{0x80, 2, '}'}, nil), []string{"without a STOP"}},
		{"huge length", ptFile(t, []byte{0x80, 4, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x40, '.'}, nil), []string{"truncated in opcode 0x8e"}},
		{"huge frame", ptFile(t, []byte{0x80, 4, 0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '.'}, nil), []string{"truncated in opcode 0x95"}},
		{"odd SETITEMS", ptFile(t, newPickle().op('}', '(').str("w").op('u').bytes(), nil), []string{"malformed pickle"}},
		{"unhashable key", ptFile(t, newPickle().global("collections", "OrderedDict").op(')', 'R', 'C', 1, 'k', 'N', 's').bytes(), nil), []string{"malformed pickle"}},
		{"bad persistent id", ptFile(t, newPickle().str("storage").op('Q').bytes(), nil), []string{"unexpected persistent id"}},
		{"rebuild with wrong arguments", ptFile(t, newPickle().global("torch._utils", "_rebuild_tensor_v2").op('(', 'N', 't', 'R').bytes(), nil),
			[]string{"_rebuild_tensor_v2 takes 6 or 7 arguments, got 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "bad.pt", tc.file)
			f, err := Open(path)
			if err == nil {
				f.Close()
			}
			testutil.WantErr(t, err, append(tc.want, path)...)
		})
	}

	t.Run("compressed storage record", func(t *testing.T) {
		file := buildZip(t, record{name: "archive/data.pkl", data: okPickle}, record{name: "archive/data/0", data: two, method: zip.Deflate})
		path := writeTemp(t, "c.pt", file)
		_, err := Open(path)
		testutil.WantErr(t, err, path, `tensor "w"`, "archive/data/0 is compressed")
	})
}

// TestPyTorchChecksum corrupts a storage record in place: Open still
// succeeds (it reads no tensor data), reading the tensor reports it.
func TestPyTorchChecksum(t *testing.T) {
	data := bytes.Clone(readTestdata(t, "views.pt"))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var off int64 = -1
	for _, f := range zr.File {
		if f.Name == "views/data/0" {
			off, _ = f.DataOffset()
		}
	}
	if off < 0 {
		t.Fatal("no views/data/0")
	}
	data[off+5] ^= 0x40
	path := writeTemp(t, "corrupt.pt", data)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range []string{"big", "slice"} {
		tn, _ := f.Tensor(name)
		err := tn.Float32s(make([]float32, tn.Len()))
		testutil.WantErr(t, err, path, name, "views/data/0", "checksum mismatch")
	}
	// Tensors of other storages still read.
	tn, _ := f.Tensor("transposed")
	if err := tn.Float32s(make([]float32, tn.Len())); err != nil {
		t.Error(err)
	}
}

// TestOptimizerStateIgnored: the training checkpoint's optimizer tensors
// are never resolved, so a missing optimizer storage does not matter.
func TestOptimizerStateIgnored(t *testing.T) {
	data := readTestdata(t, "openclip.pt")
	// Find a storage key used only by the optimizer: the last one written.
	recs := zipRecords(t, data)
	last := ""
	for _, r := range recs {
		if strings.HasPrefix(r.name, "openclip/data/") {
			last = r.name
		}
	}
	path := writeTemp(t, "noopt.pt", replaceRecord(t, data, last, nil, 0))
	f, err := Open(path)
	if err != nil {
		t.Fatalf("dropping optimizer record %s: %v", last, err)
	}
	f.Close()
}

func TestScanPickle(t *testing.T) {
	for _, name := range []string{"plain.pt", "openclip.pt", "views.pt", "protocol4.pt", "forbidden.pt"} {
		for _, r := range zipRecords(t, readTestdata(t, name)) {
			if strings.HasSuffix(r.name, "/data.pkl") {
				if err := scanPickle(r.data); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
	}
	for _, tc := range []struct {
		p    []byte
		want string
	}{
		{[]byte{}, "without a STOP"},
		{[]byte{'K'}, "truncated"},
		{[]byte{'c', 'a', '\n', 'b'}, "truncated"},
		{[]byte{'X', 5, 0, 0, 0, 'a'}, "truncated"},
		{[]byte{'T', 0xff, 0xff, 0xff, 0xff, '.'}, "truncated"},
		{[]byte{0x8a, 9, 1, '.'}, "truncated"},
		{[]byte{0x80, 6, '.'}, "protocol 6"},
		{[]byte{0xfe}, "unknown pickle opcode 0xfe"},
	} {
		testutil.WantErr(t, scanPickle(tc.p), tc.want)
	}
	many := bytes.Repeat([]byte{'('}, maxPickleObjects+1)
	testutil.WantErr(t, scanPickle(append(many, '.')), "more than")
}

// TestRebuildParameter: nn.Parameter entries read as their tensors.
func TestRebuildParameter(t *testing.T) {
	p := newPickle().op('}', '(').str("p").global("torch._utils", "_rebuild_parameter").op('(')
	p.tensor("FloatStorage", "0", 2, 0, []int32{2}, []int32{1}).op(0x88, '}', 't', 'R', 'u')
	path := writeTemp(t, "p.pt", ptFile(t, p.bytes(), map[string][]byte{"0": f32bytes(3, 4)}))
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tn, _ := f.Tensor("p")
	got := make([]float32, 2)
	if err := tn.Float32s(got); err != nil || got[0] != 3 || got[1] != 4 {
		t.Errorf("p = %v, %v", got, err)
	}
}
