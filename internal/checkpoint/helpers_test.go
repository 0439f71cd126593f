package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// expectedFile is one file's entry in testdata/expected.json, written by
// scripts/fixtures/checkpoint_fixtures.py from torch's own view of it.
type expectedFile struct {
	Metadata map[string]string `json:"metadata"`
	Tensors  map[string]struct {
		DType string   `json:"dtype"`
		Shape []int    `json:"shape"`
		Bits  []uint32 `json:"bits"`
	} `json:"tensors"`
}

func loadExpected(t *testing.T) map[string]expectedFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Files map[string]expectedFile `json:"files"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Files
}

// writeTemp writes data to a file called name in a new temporary folder.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// record is one member of a test zip archive.
type record struct {
	name   string
	data   []byte
	method uint16
}

// buildZip writes records, in order, as a zip archive.
func buildZip(t testing.TB, records ...record) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, r := range records {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: r.name, Method: r.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(r.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipRecords reads every member of a zip archive.
func zipRecords(t testing.TB, data []byte) []record {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var out []record
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		r.Close()
		out = append(out, record{name: f.Name, data: b.Bytes()})
	}
	return out
}

// pk assembles a protocol-2 pickle, opcode by opcode.
type pk struct{ b []byte }

func newPickle() *pk { return &pk{b: []byte{0x80, 2}} }

func (p *pk) op(ops ...byte) *pk { p.b = append(p.b, ops...); return p }

func (p *pk) global(module, name string) *pk {
	p.b = append(p.b, 'c')
	p.b = append(p.b, module+"\n"+name+"\n"...)
	return p
}

func (p *pk) str(s string) *pk {
	p.b = append(p.b, 'X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
	return p
}

func (p *pk) int(n int32) *pk {
	p.b = append(p.b, 'J')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(n))
	return p
}

func (p *pk) ints(ns ...int32) *pk {
	p.op('(')
	for _, n := range ns {
		p.int(n)
	}
	return p.op('t')
}

// tensor pushes _rebuild_tensor_v2 of storage key (class, numel elements)
// viewed at offset with size and stride.
func (p *pk) tensor(class, key string, numel int32, offset int32, size, stride []int32) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", class).str(key).str("cpu").int(numel).op('t', 'Q')
	p.int(offset).ints(size...).ints(stride...).op(0x89, '}', 't', 'R')
	return p
}

func (p *pk) bytes() []byte { return append(p.b, '.') }

// ptFile wraps a pickle and storage records as torch.save lays them out.
func ptFile(t testing.TB, pickle []byte, storages map[string][]byte) []byte {
	t.Helper()
	recs := []record{{name: "archive/data.pkl", data: pickle}}
	for _, k := range slices.Sorted(maps.Keys(storages)) {
		recs = append(recs, record{name: "archive/data/" + k, data: storages[k]})
	}
	recs = append(recs, record{name: "archive/version", data: []byte("3\n")})
	return buildZip(t, recs...)
}

func f32bytes(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}
