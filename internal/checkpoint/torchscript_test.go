package checkpoint

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// torchScriptExpected is one file's entry in testdata/torchscript_expected.json,
// written by scripts/fixtures/torchscript_fixtures.py from torch's own view
// of it (torch.jit.load(f).state_dict()).
type torchScriptExpected struct {
	Format string `json:"format"`
	// Metadata values are JSON numbers, booleans or strings.
	Metadata map[string]any `json:"metadata"`
	Tensors  map[string]struct {
		DType  string   `json:"dtype"`
		Shape  []int    `json:"shape"`
		SHA256 string   `json:"sha256"`
		Head   []uint32 `json:"head"`
	} `json:"tensors"`
}

func loadTorchScriptExpected(t *testing.T) map[string]torchScriptExpected {
	t.Helper()
	var doc struct {
		Files map[string]torchScriptExpected `json:"files"`
	}
	if err := json.Unmarshal(readTestdata(t, "torchscript_expected.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Files) == 0 {
		t.Fatal("torchscript_expected.json lists no files")
	}
	return doc.Files
}

// float32Digest is the SHA-256 of the values as little-endian float32s, as
// the fixture script hashes torch's float32 conversion.
func float32Digest(vs []float32) string {
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sameMetadataValue compares the reader's text for a plain attribute with
// the value the fixture script found.
func sameMetadataValue(got string, want any) bool {
	switch w := want.(type) {
	case bool:
		return got == map[bool]string{true: "True", false: "False"}[w]
	case float64:
		v, err := strconv.ParseFloat(got, 64)
		return err == nil && v == w
	case string:
		return got == w
	}
	return false
}

// TestTorchScriptFixtures opens every file of the TorchScript fixtures and
// compares format, names, dtypes, shapes, metadata and every element (by
// digest of the float32 values) with what PyTorch's state_dict() holds.
func TestTorchScriptFixtures(t *testing.T) {
	for file, want := range loadTorchScriptExpected(t) {
		t.Run(file, func(t *testing.T) {
			f, err := Open(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Format != want.Format {
				t.Errorf("Format = %q, want %q", f.Format, want.Format)
			}
			if len(f.Metadata) != len(want.Metadata) {
				t.Errorf("Metadata has %d entries, want %d: %v", len(f.Metadata), len(want.Metadata), f.Metadata)
			}
			for k, v := range want.Metadata {
				if got, ok := f.Metadata[k]; !ok || !sameMetadataValue(got, v) {
					t.Errorf("Metadata[%q] = %q (present %v), want %v", k, got, ok, v)
				}
			}
			var names []string
			for name := range want.Tensors {
				names = append(names, name)
			}
			slices.Sort(names)
			if got := f.Names(); !slices.Equal(got, names) {
				t.Fatalf("Names() = %q,\nwant %q", got, names)
			}
			for _, name := range names {
				w := want.Tensors[name]
				tn, _ := f.Tensor(name)
				if tn.DType.String() != w.DType || !slices.Equal(tn.Shape, w.Shape) {
					t.Errorf("%s: got %s %v, want %s %v", name, tn.DType, tn.Shape, w.DType, w.Shape)
					continue
				}
				got := make([]float32, tn.Len())
				if err := tn.Float32s(got); err != nil {
					t.Fatal(err)
				}
				for i, b := range w.Head {
					if math.Float32bits(got[i]) != b {
						t.Errorf("%s[%d] = %g, torch reads %g", name, i, got[i], math.Float32frombits(b))
					}
				}
				if d := float32Digest(got); d != w.SHA256 {
					t.Errorf("%s: elements differ from torch's (digest %s, want %s)", name, d, w.SHA256)
				}
			}
		})
	}
}

// TestTorchScriptOpenAILayout checks what matters for OpenAI's CLIP
// archives in the float16 fixture: the names CLIP loaders ask for, the
// integer scalars, the shared causal mask and the vision blocks' absent
// mask.
func TestTorchScriptOpenAILayout(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "openai_tiny_fp16.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range []string{"visual.conv1.weight", "visual.transformer.resblocks.0.attn.in_proj_weight",
		"visual.transformer.resblocks.1.mlp.c_proj.bias", "transformer.resblocks.1.ln_2.weight",
		"token_embedding.weight", "ln_final.bias", "text_projection", "logit_scale"} {
		if tn, ok := f.Tensor(name); !ok {
			t.Errorf("no tensor %s", name)
		} else if tn.DType != F16 {
			t.Errorf("%s is %s, want float16", name, tn.DType)
		}
	}
	for name, want := range map[string]float32{"input_resolution": 32, "context_length": 16, "vocab_size": 512} {
		tn, ok := f.Tensor(name)
		if !ok {
			t.Errorf("no tensor %s", name)
			continue
		}
		got := make([]float32, 1)
		if err := tn.Float32s(got); err != nil || tn.DType != I64 || len(tn.Shape) != 0 || got[0] != want {
			t.Errorf("%s = %s %v %v (%v), want int64 scalar %g", name, tn.DType, tn.Shape, got, err, want)
		}
	}
	if _, ok := f.Tensor("visual.transformer.resblocks.0.attn_mask"); ok {
		t.Error("the vision blocks' None attn_mask became a tensor")
	}
	m0, _ := f.Tensor("transformer.resblocks.0.attn_mask")
	m1, ok := f.Tensor("transformer.resblocks.1.attn_mask")
	if m0 == nil || !ok {
		t.Fatal("text blocks have no attn_mask")
	}
	// .half() converted each block's mask on its own; the float32 archive
	// keeps the one tensor all blocks share.
	if m0.store == m1.store {
		t.Error("the text blocks' float16 masks share a storage")
	}
	f32, err := Open(filepath.Join("testdata", "openai_tiny_fp32.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f32.Close()
	s0, _ := f32.Tensor("transformer.resblocks.0.attn_mask")
	s1, _ := f32.Tensor("transformer.resblocks.1.attn_mask")
	if s0 == nil || s1 == nil || s0.store != s1.store {
		t.Error("the float32 text blocks' masks do not share their storage")
	}
	mask := make([]float32, m0.Len())
	if err := m0.Float32s(mask); err != nil {
		t.Fatal(err)
	}
	for i := range 16 {
		for j := range 16 {
			want := float32(0)
			if j > i {
				want = float32(math.Inf(-1))
			}
			if mask[i*16+j] != want {
				t.Fatalf("attn_mask[%d][%d] = %g, want %g", i, j, mask[i*16+j], want)
			}
		}
	}
}

// TestTorchScriptStateDict opens what torch.save(jit_model.state_dict())
// writes: a plain state dict whose extra entries (the masks and the integer
// scalars) are visible for the CLIP loader to accept, ignore or check.
func TestTorchScriptStateDict(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "openai_tiny_fp16_state_dict.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format != FormatPyTorch {
		t.Errorf("Format = %q, want %q", f.Format, FormatPyTorch)
	}
	for name, want := range map[string][]float32{
		"input_resolution": {32}, "context_length": {16}, "vocab_size": {512},
	} {
		tn, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		got := make([]float32, tn.Len())
		if err := tn.Float32s(got); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s = %v (%v), want %v", name, got, err, want)
		}
	}
	tn, ok := f.Tensor("transformer.resblocks.0.attn_mask")
	if !ok {
		t.Fatal("no transformer.resblocks.0.attn_mask")
	}
	mask := make([]float32, tn.Len())
	if err := tn.Float32s(mask); err != nil {
		t.Fatal(err)
	}
	if tn.DType != F16 || !math.IsInf(float64(mask[1]), -1) || mask[16] != 0 {
		t.Errorf("attn_mask is %s starting %v, want float16 with -inf above the diagonal", tn.DType, mask[:17])
	}
}

// TestTorchScriptDetect: the format follows the content, whatever the file
// or the archive's folder is called, and an archive with TorchScript
// records whose data.pkl holds a plain state dict is read as one.
func TestTorchScriptDetect(t *testing.T) {
	data := readTestdata(t, "scripted_tiny.pt")
	var renamed []record
	for _, r := range zipRecords(t, data) {
		r.name = "archive/" + strings.TrimPrefix(r.name, "scripted_tiny/")
		renamed = append(renamed, r)
	}
	for _, tc := range []struct{ name string }{{"model.bin"}, {"ViT-B-32.pt"}, {"noextension"}} {
		path := writeTemp(t, tc.name, buildZip(t, renamed...))
		f, err := Open(path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, ok := f.Tensor("visual.conv1.weight"); f.Format != FormatTorchScript || !ok {
			t.Errorf("%s: Format = %q, visual.conv1.weight found %v", tc.name, f.Format, ok)
		}
		f.Close()
	}

	dict := newPickle().op('}', '(').str("w").tensor("FloatStorage", "0", 2, 0, []int32{2}, []int32{1}).op('u').bytes()
	file := scriptArchive(t, dict, map[string][]byte{"0": f32bytes(1, 2)})
	f, err := Open(writeTemp(t, "sd.pt", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.Tensor("w"); f.Format != FormatPyTorch || !ok {
		t.Errorf("state dict in a TorchScript-like archive: Format = %q, w found %v", f.Format, ok)
	}
}

// scriptArchive lays a data.pkl and storage records out as torch.jit.save
// does, with constants and code beside them.
func scriptArchive(t testing.TB, pickle []byte, storages map[string][]byte) []byte {
	t.Helper()
	recs := []record{{name: "tiny/data.pkl", data: pickle}}
	for _, k := range slices.Sorted(maps.Keys(storages)) {
		recs = append(recs, record{name: "tiny/data/" + k, data: storages[k]})
	}
	recs = append(recs,
		record{name: "tiny/code/__torch__/tiny.py", data: []byte("class Tiny(Module):\n  pass\n")},
		record{name: "tiny/constants.pkl", data: []byte{0x80, 2, ')', '.'}},
		record{name: "tiny/version", data: []byte("3\n")})
	return buildZip(t, recs...)
}

// module pushes an object of the TorchScript class __torch__.tiny.<class>,
// built from the attribute dict whose key/value pairs attrs pushes.
func (p *pk) module(class string, attrs func(*pk)) *pk {
	p.global("__torch__.tiny", class).op(')', 0x81, '}', '(')
	attrs(p)
	return p.op('u', 'b')
}

// TestTorchScriptAttributes: plain attributes become metadata by path,
// bookkeeping and None are skipped, lists of plain values are accepted.
func TestTorchScriptAttributes(t *testing.T) {
	p := newPickle().module("Root", func(p *pk) {
		p.str("w").tensor("FloatStorage", "0", 2, 0, []int32{2}, []int32{1})
		p.str("training").op(0x89).str("_is_full_backward_hook").op('N')
		p.str("width").int(64).str("eps").op('G').op(0x3e, 0xe4, 0xf8, 0xb5, 0x88, 0xe3, 0x68, 0xf1)
		p.str("causal").op(0x88).str("name").str("tiny").str("bias").op('N')
		p.str("padding").global("torch.jit._pickle", "build_intlist").op('(', ']', '(').int(0).int(0).op('e', 't', 'R')
		p.str("shape").global("torch.jit._pickle", "restore_type_tag").op('(', ']', 'K', 3, 'a').str("List[int]").op('t', 'R')
		p.str("sub").module("Sub", func(p *pk) {
			p.str("layers").int(2).str("_private").int(1).str("training").op(0x88)
			p.str("v").tensor("FloatStorage", "0", 2, 1, []int32{1}, []int32{1})
		})
	}).bytes()
	f, err := Open(writeTemp(t, "attrs.pt", scriptArchive(t, p, map[string][]byte{"0": f32bytes(3, 4)})))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Format != FormatTorchScript {
		t.Errorf("Format = %q", f.Format)
	}
	if got, want := f.Names(), []string{"sub.v", "w"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	want := map[string]string{"width": "64", "eps": "1e-05", "causal": "True", "name": "tiny", "sub.layers": "2"}
	if len(f.Metadata) != len(want) {
		t.Errorf("Metadata = %v, want %v", f.Metadata, want)
	}
	for k, v := range want {
		if f.Metadata[k] != v {
			t.Errorf("Metadata[%q] = %q, want %q", k, f.Metadata[k], v)
		}
	}
	v, _ := f.Tensor("sub.v")
	got := make([]float32, 1)
	if err := v.Float32s(got); err != nil || got[0] != 4 {
		t.Errorf("sub.v = %v, %v", got, err)
	}
}

// cutRecord returns the archive with the record called name shortened to
// n bytes.
func cutRecord(t *testing.T, data []byte, name string, n int) []byte {
	t.Helper()
	for _, r := range zipRecords(t, data) {
		if r.name == name {
			return replaceRecord(t, data, name, r.data[:n], zip.Store)
		}
	}
	t.Fatalf("no record %s", name)
	return nil
}

func TestTorchScriptErrors(t *testing.T) {
	fixture := readTestdata(t, "openai_tiny_fp16.pt")
	tensor := func(p *pk) *pk {
		return p.tensor("FloatStorage", "0", 2, 0, []int32{2}, []int32{1})
	}
	two := map[string][]byte{"0": f32bytes(1, 2)}
	script := func(attrs func(*pk)) []byte {
		return scriptArchive(t, newPickle().module("Root", attrs).bytes(), two)
	}
	nested := func(attrs func(*pk)) []byte {
		return script(func(p *pk) {
			p.str("visual").module("Vision", func(p *pk) { p.str("blocks").module("Block", attrs) })
		})
	}
	for _, tc := range []struct {
		name string
		file []byte
		want []string
	}{
		{"truncated to half", fixture[:len(fixture)/2], []string{"reading zip archive"}},
		{"truncated end", fixture[:len(fixture)-30], []string{"reading zip archive"}},
		{"missing storage record", replaceRecord(t, fixture, "openai_tiny_fp16/data/5", nil, 0),
			[]string{`tensor "`, "openai_tiny_fp16/data/5 is missing"}},
		{"short storage record", cutRecord(t, fixture, "openai_tiny_fp16/data/0", 10),
			[]string{`tensor "positional_embedding"`, "openai_tiny_fp16/data/0 holds 10 bytes"}},
		{"truncated data.pkl", cutRecord(t, fixture, "openai_tiny_fp16/data.pkl", 700),
			// Truncated inside an opcode or between two: either way refused.
			[]string{"openai_tiny_fp16/data.pkl: pickle"}},
		{"class outside the allow-list", script(func(p *pk) {
			p.str("args").global("argparse", "Namespace").op(')', 'R')
		}), []string{"tiny/data.pkl", "forbidden class argparse.Namespace"}},
		{"quantized tensor", nested(func(p *pk) {
			p.str("w").global("torch._utils", "_rebuild_qtensor").op(')', 'R')
		}), []string{"forbidden class torch._utils._rebuild_qtensor"}},
		{"TorchScript class in a torch.save file", ptFile(t, newPickle().module("Root", func(*pk) {}).bytes(), nil),
			[]string{"archive/data.pkl", "forbidden class __torch__.tiny.Root"}},
		{"storage attribute", nested(func(p *pk) {
			p.str("s").op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(2).op('t', 'Q')
		}), []string{"attribute visual.blocks.s is a storage, not a tensor, module or plain value"}},
		{"list of tensors", nested(func(p *pk) {
			p.str("ws").global("torch.jit._pickle", "build_tensorlist").op('(', ']')
			tensor(p).op('a', 't', 'R')
		}), []string{"attribute visual.blocks.ws is a list holding a tensor"}},
		{"dict of modules", nested(func(p *pk) {
			p.str("d").op('}').str("k").module("Leaf", func(*pk) {}).op('s')
		}), []string{"attribute visual.blocks.d is a dict holding a module"}},
		{"cycle", scriptArchive(t, newPickle().global("__torch__.tiny", "Root").op(')', 0x81, 'q', 0, '}', '(').
			str("self").op('h', 0, 'u', 'b').bytes(), nil),
			[]string{"attribute self refers back to a module that contains it"}},
		{"state not a dict", nested(func(p *pk) {
			p.str("packed").global("__torch__.torch.classes.quantized", "LinearPackedParamsBase").op(')', 0x81)
			p.op('(', 'K', 1, 't', 'b')
		}), []string{"module visual.blocks.packed", "LinearPackedParamsBase holds a tuple, not a dict of attributes"}},
		{"never built", nested(func(p *pk) {
			p.str("m").global("__torch__.tiny", "Leaf").op(')', 0x81)
		}), []string{"module visual.blocks.m", "never built"}},
		{"built twice", scriptArchive(t, newPickle().module("Root", func(*pk) {}).op('}', 'b').bytes(), nil),
			[]string{"built twice"}},
		{"constructor arguments", scriptArchive(t, newPickle().global("__torch__.tiny", "Root").op('K', 1, 0x85, 0x81).bytes(), nil),
			[]string{"__torch__.tiny.Root created with 1 arguments"}},
		{"attribute name not a string", nested(func(p *pk) { p.op('K', 1, 'K', 2) }),
			[]string{"module visual.blocks", "attribute name 1 is an int"}},
		{"root not a module or dict", scriptArchive(t, newPickle().op(']').bytes(), nil),
			[]string{"holds a list, not a state dict"}},
		{"bad list builder", script(func(p *pk) {
			p.str("l").global("torch.jit._pickle", "build_intlist").op('(', 'K', 1, 't', 'R')
		}), []string{"build_intlist: argument is an int, not a list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "ViT-tiny.pt", tc.file)
			f, err := Open(path)
			if err == nil {
				f.Close()
			}
			testutil.WantErr(t, err, append(tc.want, path)...)
		})
	}
}

// TestTorchScriptBounds: a pickle that shares one module under two
// attributes at each of 40 levels (2^40 paths), nests modules 300 deep or
// reuses a long attribute name at every level fails quickly with an error,
// not a hang, a stack overflow or gigabytes of names.
func TestTorchScriptBounds(t *testing.T) {
	p := newPickle().module("Leaf", func(p *pk) {
		p.str("w").tensor("FloatStorage", "0", 2, 0, []int32{2}, []int32{1})
	})
	p.op('q', 0, '0')
	for i := 1; i <= 40; i++ {
		p.module("Node", func(p *pk) { p.str("a").op('h', byte(i-1)).str("b").op('h', byte(i-1)) })
		p.op('q', byte(i), '0')
	}
	p.op('h', 40)
	_, err := Open(writeTemp(t, "dag.pt", scriptArchive(t, p.bytes(), nil)))
	// Whichever bound the walk reaches first.
	if err == nil || !strings.Contains(err.Error(), "module tree has more than") &&
		!strings.Contains(err.Error(), "attribute paths take more than") {
		t.Errorf("2^40 paths: error %v, want a bound", err)
	}

	deep := newPickle()
	var nest func(p *pk, n int)
	nest = func(p *pk, n int) {
		p.module("Node", func(p *pk) {
			if n > 0 {
				p.str("c")
				nest(p, n-1)
			}
		})
	}
	nest(deep, 300)
	_, err = Open(writeTemp(t, "deep.pt", scriptArchive(t, deep.bytes(), nil)))
	testutil.WantErr(t, err, "nested more than 256 deep")

	// A 1 MB attribute name, memoized and reused at each of 100 levels.
	long := newPickle()
	var nestLong func(p *pk, n int)
	nestLong = func(p *pk, n int) {
		p.module("Node", func(p *pk) {
			if n == 100 {
				p.str(strings.Repeat("k", 1<<20)).op('q', 0)
			} else {
				p.op('h', 0)
			}
			if n > 0 {
				nestLong(p, n-1)
			} else {
				p.op('N')
			}
		})
	}
	nestLong(long, 100)
	_, err = Open(writeTemp(t, "long.pt", scriptArchive(t, long.bytes(), nil)))
	testutil.WantErr(t, err, "attribute paths take more than")
}

// TestTorchScriptChecksum: a corrupted weight record opens (no data is
// read) and fails when read, naming the tensor and the record.
func TestTorchScriptChecksum(t *testing.T) {
	data := bytes.Clone(readTestdata(t, "openai_tiny_fp16.pt"))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == "openai_tiny_fp16/data/0" {
			off, _ := f.DataOffset()
			data[off+3] ^= 0x10
		}
	}
	path := writeTemp(t, "corrupt.pt", data)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tn, _ := f.Tensor("positional_embedding")
	testutil.WantErr(t, tn.Float32s(make([]float32, tn.Len())), path, "positional_embedding", "openai_tiny_fp16/data/0", "checksum mismatch")
}

// FuzzOpenTorchScript wraps an arbitrary data.pkl in a TorchScript archive
// (constants.pkl and code/ beside it) next to the weight records of
// openai_tiny_fp16.pt, seeded with the data.pkl of every TorchScript
// fixture and the hand-made pickles above. It reads from memory, like
// FuzzPytorchPickle:
//
//	go test -fuzz FuzzOpenTorchScript -fuzztime 1m -fuzzminimizetime 500x ./internal/checkpoint/
func FuzzOpenTorchScript(f *testing.F) {
	storages := map[string][]byte{}
	for _, name := range []string{"openai_tiny_fp16.pt", "openai_tiny_fp32.pt", "scripted_tiny.pt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, r := range zipRecords(f, b) {
			switch {
			case strings.HasSuffix(r.name, "/data.pkl"):
				f.Add(r.data)
			case name == "openai_tiny_fp16.pt" && strings.Contains(r.name, "/data/"):
				storages[r.name[strings.LastIndexByte(r.name, '/')+1:]] = r.data
			}
		}
	}
	f.Add(newPickle().module("Root", func(p *pk) {
		p.str("w").tensor("HalfStorage", "2", 1, 0, nil, nil).str("n").int(3).str("x").op('N')
		p.str("l").global("torch.jit._pickle", "build_intlist").op('(', ']', 'K', 1, 'a', 't', 'R')
		p.str("sub").module("Sub", func(p *pk) { p.str("training").op(0x88) })
	}).bytes())
	archive := func(t testing.TB, pickle []byte) []byte { return scriptArchive(t, pickle, storages) }
	f.Fuzz(func(t *testing.T, pickle []byte) {
		file, err := openData("fuzz.pt", archive(t, pickle), nil)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.pt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		defer file.Close()
		for _, name := range file.Names() {
			tn, _ := file.Tensor(name)
			if n := tn.Len(); n <= 1<<24 {
				_ = tn.Float32s(make([]float32, n))
			}
		}
	})
}
