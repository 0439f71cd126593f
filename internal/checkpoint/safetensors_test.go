package checkpoint

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// stFile assembles a safetensors file from a header and a data section,
// without padding the header.
func stFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestSafetensorsErrors(t *testing.T) {
	ref := readTestdata(t, "reference.safetensors")
	eight := make([]byte, 8)
	for _, tc := range []struct {
		name string
		file []byte
		want []string
	}{
		{"truncated data", ref[:len(ref)-4], []string{"émbed.ü", "run past the end of the data", "truncated"}},
		{"truncated header", ref[:40], []string{"header length", "runs past the end of the file"}},
		{"too short", []byte{8, 0, 0}, []string{"too short"}},
		{"header length beyond file", append(binary.LittleEndian.AppendUint64(nil, 1000), `{"a":{}}`...),
			[]string{"header length 1000 runs past the end of the file"}},
		{"header length over the cap", append(binary.LittleEndian.AppendUint64(nil, 1<<40), `{}`...),
			[]string{"exceeds the limit"}},
		{"bad JSON", stFile(`{"a":{"dtype":"F32",`, nil), []string{"not valid JSON"}},
		{"bad JSON in entry", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]]}`, eight), []string{"not valid JSON"}},
		{"not an object", stFile(` [1]`, nil), []string{"not a JSON object"}},
		{"trailing data", stFile(`{} {}`, nil), []string{"data after its JSON object"}},
		{"not UTF-8", stFile("{\"\xff\":1}", nil), []string{"not valid UTF-8"}},
		{"overlapping", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)),
			[]string{`tensor "b"`, `overlaps tensor "a"`, "[4, 12]"}},
		{"out of range", stFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4)),
			[]string{`tensor "w"`, "run past the end of the data (4 bytes)"}},
		{"offsets reversed", stFile(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, eight),
			[]string{`tensor "w"`, "end before they begin"}},
		{"size mismatch", stFile(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight),
			[]string{`tensor "w"`, "hold 8 bytes, but shape [3] of float32 needs 12"}},
		{"unknown dtype", stFile(`{"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}`, eight),
			[]string{`tensor "w"`, `unsupported dtype "F8_E4M3"`}},
		{"missing dtype", stFile(`{"w":{"shape":[2],"data_offsets":[0,8]}}`, eight), []string{`tensor "w"`, `missing "dtype"`}},
		{"missing shape", stFile(`{"w":{"dtype":"F32","data_offsets":[0,8]}}`, eight), []string{`tensor "w"`, `missing "shape"`}},
		{"bad offsets", stFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, eight), []string{`tensor "w"`, "two numbers"}},
		{"negative dimension", stFile(`{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), []string{`tensor "w"`}},
		{"shape overflow", stFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil),
			[]string{`tensor "w"`, "too large"}},
		{"entry not an object", stFile(`{"w":[1,2]}`, nil), []string{`tensor "w"`}},
		{"metadata not strings", stFile(`{"__metadata__":{"epoch":3}}`, nil), []string{"__metadata__"}},
		{"duplicate name", stFile(`{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, eight),
			[]string{`"w" appears twice`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "bad.safetensors", tc.file)
			f, err := Open(path)
			if err == nil {
				f.Close()
			}
			testutil.WantErr(t, err, append(tc.want, path)...)
		})
	}
}

// TestSafetensorsAccepted covers files that are valid though unusual.
func TestSafetensorsAccepted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  []byte
		names []string
	}{
		{"empty", stFile(`{}`, nil), nil},
		{"gap and trailing bytes", stFile(`{"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 16)), []string{"a", "b"}},
		{"empty tensors share an offset", stFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"c":{"dtype":"F16","shape":[3,0],"data_offsets":[4,4]}}`, make([]byte, 8)), []string{"a", "b", "c"}},
		{"header starting with white space", stFile(` {"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{"a"}},
		{"unknown fields ignored", stFile(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"extra":1}}`, make([]byte, 4)), []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Open(writeTemp(t, "ok.safetensors", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := f.Names(); !slices.Equal(got, tc.names) && len(got)+len(tc.names) > 0 {
				t.Errorf("Names() = %q, want %q", got, tc.names)
			}
		})
	}
}

// TestWriteMatchesReference writes the tensors of reference.safetensors,
// which the fixture script laid out as the reference writer does (float32,
// sorted names, compact JSON with __metadata__ first, non-ASCII unescaped,
// space padding), and compares the bytes.
func TestWriteMatchesReference(t *testing.T) {
	want := readTestdata(t, "reference.safetensors")
	f, err := Open(filepath.Join("testdata", "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []NamedTensor
	// Any input order gives the same file.
	names := f.Names()
	slices.Reverse(names)
	for _, name := range names {
		tn, _ := f.Tensor(name)
		data := make([]float32, tn.Len())
		if err := tn.Float32s(data); err != nil {
			t.Fatal(err)
		}
		ts = append(ts, NamedTensor{Name: name, Shape: tn.Shape, Data: data})
	}
	path := filepath.Join(t.TempDir(), "out.safetensors")
	if err := WriteSafetensors(path, ts, f.Metadata); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("written file differs from the reference layout:\n got %q\nwant %q", got, want)
	}
}

// TestWriteLayout checks header bytes against the format's documented
// layout for three small cases.
func TestWriteLayout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tensors []NamedTensor
		meta    map[string]string
		header  string
	}{
		{"one tensor", []NamedTensor{{Name: "attn.0", Shape: []int{1, 2, 3}, Data: []float32{0, 1, 2, 3, 4, 5}}}, nil,
			`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`},
		{"nothing", nil, nil, `{}      `},
		{"metadata only", nil, map[string]string{"framework": "pt"}, `{"__metadata__":{"framework":"pt"}}     `},
		{"empty metadata omitted", nil, map[string]string{}, `{}      `},
		{"escapes", []NamedTensor{{Name: "a<b>&\x01\"\\\n", Shape: []int{}, Data: []float32{1}}}, map[string]string{"z": "1", "a": "é"},
			`{"__metadata__":{"a":"é","z":"1"},"a<b>&\u0001\"\\\n":{"dtype":"F32","shape":[],"data_offsets":[0,4]}} `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "l.safetensors")
			if err := WriteSafetensors(path, tc.tensors, tc.meta); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			n := binary.LittleEndian.Uint64(got)
			if n%8 != 0 || int(n) != len(tc.header) || string(got[8:8+n]) != tc.header {
				t.Errorf("header (%d bytes) = %q, want %q", n, got[8:8+n], tc.header)
			}
			var data []byte
			for _, nt := range tc.tensors {
				data = append(data, f32bytes(nt.Data...)...)
			}
			if !bytes.Equal(got[8+n:], data) {
				t.Errorf("data = %v, want %v", got[8+n:], data)
			}
		})
	}
}

func TestWriteRoundTrip(t *testing.T) {
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x7fc00001), math.SmallestNonzeroFloat32, math.MaxFloat32, -1.0 / 3}
	conv := make([]float32, 4*3*2*2)
	for i := range conv {
		conv[i] = float32(i)*0.37 - 5
	}
	in := []NamedTensor{
		{Name: "logit_scale", Shape: []int{}, Data: []float32{2.6592600}},
		{Name: "visual.conv1.weight", Shape: []int{4, 3, 2, 2}, Data: conv},
		{Name: "specials", Shape: []int{8}, Data: specials},
		{Name: "empty", Shape: []int{0, 5}, Data: nil},
	}
	meta := map[string]string{"format": "pt", "model": "ViT-B-32"}
	path := filepath.Join(t.TempDir(), "rt.safetensors")
	if err := WriteSafetensors(path, in, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format != FormatSafetensors || len(f.Metadata) != 2 || f.Metadata["model"] != "ViT-B-32" {
		t.Errorf("Format %q, Metadata %v", f.Format, f.Metadata)
	}
	if got := f.Names(); !slices.Equal(got, []string{"empty", "logit_scale", "specials", "visual.conv1.weight"}) {
		t.Errorf("Names() = %q", got)
	}
	for _, nt := range in {
		tn, ok := f.Tensor(nt.Name)
		if !ok || tn.DType != F32 || !slices.Equal(tn.Shape, nt.Shape) {
			t.Fatalf("%s: %v %v", nt.Name, ok, tn)
		}
		got := make([]float32, tn.Len())
		if err := tn.Float32s(got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(nt.Data[i]) {
				t.Errorf("%s[%d] = %g, want %g", nt.Name, i, got[i], nt.Data[i])
			}
		}
	}
	// Overwriting replaces the file atomically, leaving no temporary files.
	if err := WriteSafetensors(path, in[:1], nil); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after rewrite, want 1", len(entries))
	}
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tensors []NamedTensor
		meta    map[string]string
		want    string
	}{
		{"length mismatch", []NamedTensor{{Name: "w", Shape: []int{2, 2}, Data: make([]float32, 3)}}, nil, `"w": shape [2 2] needs 4 values, data has 3`},
		{"scalar without data", []NamedTensor{{Name: "s", Shape: nil, Data: nil}}, nil, `"s": shape [] needs 1 values`},
		{"negative", []NamedTensor{{Name: "w", Shape: []int{-1}}}, nil, "negative dimension"},
		{"overflow", []NamedTensor{{Name: "w", Shape: []int{1 << 40, 1 << 40}}}, nil, "too large"},
		{"duplicate", []NamedTensor{{Name: "w", Shape: []int{}, Data: []float32{1}}, {Name: "w", Shape: []int{}, Data: []float32{2}}}, nil, `"w" appears twice`},
		{"reserved name", []NamedTensor{{Name: "__metadata__", Shape: []int{}, Data: []float32{1}}}, nil, "__metadata__"},
		{"bad UTF-8 name", []NamedTensor{{Name: "\xff", Shape: []int{}, Data: []float32{1}}}, nil, "not valid UTF-8"},
		{"bad UTF-8 metadata", nil, map[string]string{"k": "\xff"}, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "w.safetensors")
			err := WriteSafetensors(path, tc.tensors, tc.meta)
			testutil.WantErr(t, err, path, tc.want)
			if _, err := os.Stat(path); err == nil {
				t.Error("file written despite the error")
			}
		})
	}
	// An unwritable destination is reported too.
	err := WriteSafetensors(filepath.Join(t.TempDir(), "no", "such", "dir", "w.safetensors"), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "w.safetensors") {
		t.Errorf("write into a missing folder: %v", err)
	}
}
