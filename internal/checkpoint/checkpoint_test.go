package checkpoint

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// TestFixtures reads every file the fixture script wrote and compares names,
// dtypes, shapes, metadata and the float32 bits of every element with
// torch's own conversion (Tensor.float()), so float16, bfloat16 and float64
// conversions must match exactly, specials and subnormals included.
func TestFixtures(t *testing.T) {
	for file, want := range loadExpected(t) {
		t.Run(file, func(t *testing.T) {
			f, err := Open(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			format := FormatPyTorch
			if strings.HasSuffix(file, ".safetensors") {
				format = FormatSafetensors
			}
			if f.Format != format {
				t.Errorf("Format = %q, want %q", f.Format, format)
			}
			if len(f.Metadata) != len(want.Metadata) {
				t.Errorf("Metadata = %v, want %v", f.Metadata, want.Metadata)
			}
			for k, v := range want.Metadata {
				if f.Metadata[k] != v {
					t.Errorf("Metadata[%q] = %q, want %q", k, f.Metadata[k], v)
				}
			}
			var names []string
			for name := range want.Tensors {
				names = append(names, name)
			}
			slices.Sort(names)
			if got := f.Names(); !slices.Equal(got, names) {
				t.Fatalf("Names() = %q, want %q", got, names)
			}
			for _, name := range names {
				w := want.Tensors[name]
				tn, ok := f.Tensor(name)
				if !ok {
					t.Fatalf("Tensor(%q) not found", name)
				}
				if tn.Name != name || tn.DType.String() != w.DType || !slices.Equal(tn.Shape, w.Shape) {
					t.Errorf("%s: got %s %v, want %s %v", name, tn.DType, tn.Shape, w.DType, w.Shape)
				}
				if tn.Len() != len(w.Bits) {
					t.Fatalf("%s: Len() = %d, want %d", name, tn.Len(), len(w.Bits))
				}
				got := make([]float32, tn.Len())
				if err := tn.Float32s(got); err != nil {
					t.Fatal(err)
				}
				for i, v := range got {
					if math.Float32bits(v) != w.Bits[i] {
						t.Errorf("%s[%d] = %g (%#08x), torch reads %g (%#08x)", name, i,
							v, math.Float32bits(v), math.Float32frombits(w.Bits[i]), w.Bits[i])
					}
				}
			}
		})
	}
}

// TestFixtureViews checks what the views fixture is about: which tensors
// are read through strides and which share a storage.
func TestFixtureViews(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "views.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, contiguous := range map[string]bool{
		"big": true, "slice": true, "row": true, "param": true,
		"strided": false, "transposed": false, "bf16.transposed": false, "expanded": false,
	} {
		tn, _ := f.Tensor(name)
		if tn.Contiguous() != contiguous {
			t.Errorf("%s: Contiguous() = %v, want %v", name, tn.Contiguous(), contiguous)
		}
	}
	big, _ := f.Tensor("big")
	slice, _ := f.Tensor("slice")
	if big.store != slice.store || &slice.data[0] != &big.data[3*4] {
		t.Error("slice does not view big's storage at offset 3")
	}
}

// TestDetectByContent renames fixtures: the format follows the content.
func TestDetectByContent(t *testing.T) {
	for _, tc := range []struct{ src, name, format string }{
		{"plain.pt", "pytorch_model.bin", FormatPyTorch},
		{"plain.pt", "weights.safetensors", FormatPyTorch},
		{"reference.safetensors", "model.pt", FormatSafetensors},
		{"reference.safetensors", "noextension", FormatSafetensors},
	} {
		path := writeTemp(t, tc.name, readTestdata(t, tc.src))
		f, err := Open(path)
		if err != nil {
			t.Fatalf("%s as %s: %v", tc.src, tc.name, err)
		}
		if f.Format != tc.format {
			t.Errorf("%s as %s: Format = %q, want %q", tc.src, tc.name, f.Format, tc.format)
		}
		f.Close()
	}
}

// TestStateDictUnwrapping covers the shapes of PyTorch checkpoints.
func TestStateDictUnwrapping(t *testing.T) {
	one := f32bytes(1.5, -2)
	tensor := func(p *pk) *pk { return p.tensor("FloatStorage", "0", 2, 0, []int32{2}, []int32{1}) }
	for _, tc := range []struct {
		name   string
		pickle []byte
		names  []string
		meta   map[string]string
		err    []string
	}{{
		name:   "plain dict",
		pickle: tensor(newPickle().op('}', '(').str("w")).op('u').bytes(),
		names:  []string{"w"},
	}, {
		name:   "None entry",
		pickle: newPickle().op('}', '(').str("a").op('N', 'u').bytes(),
		err:    []string{`entry "a" is None, not a tensor`},
	}, {
		name: "training checkpoint, module prefix",
		pickle: tensor(tensor(newPickle().op('}', '(').
			str("epoch").int(7).str("name").str("run").str("flag").op(0x88).
			str("optimizer").op('}').
			str("state_dict").op('}', '(').str("module.a")).str("module.b")).
			op('u', 'u').bytes(),
		names: []string{"a", "b"},
		meta:  map[string]string{"epoch": "7", "name": "run", "flag": "True"},
	}, {
		name:   "prefix on some keys only is kept",
		pickle: tensor(tensor(newPickle().op('}', '(').str("module.a")).str("b")).op('u').bytes(),
		names:  []string{"b", "module.a"},
	}, {
		name:   "later duplicate wins",
		pickle: tensor(tensor(newPickle().op('}', '(').str("a")).str("a")).op('u').bytes(),
		names:  []string{"a"},
	}, {
		name:   "empty state dict",
		pickle: newPickle().op('}').bytes(),
		names:  nil,
	}, {
		name:   "non-tensor entry",
		pickle: newPickle().op('}', '(').str("model").op('}').op('u').bytes(),
		err:    []string{`entry "model" is a dict, not a tensor`},
	}, {
		name:   "state_dict not a dict",
		pickle: newPickle().op('}', '(').str("state_dict").int(1).op('u').bytes(),
		err:    []string{`"state_dict" entry is an int`},
	}, {
		name:   "top level list",
		pickle: newPickle().op(']').bytes(),
		err:    []string{"holds a list, not a state dict"},
	}, {
		name:   "non-string key",
		pickle: tensor(newPickle().op('}', '(').int(4)).op('u').bytes(),
		err:    []string{"key 4 is an int"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "x.pt", ptFile(t, tc.pickle, map[string][]byte{"0": one}))
			f, err := Open(path)
			if tc.err != nil {
				testutil.WantErr(t, err, append(tc.err, path)...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := f.Names(); !slices.Equal(got, tc.names) && len(got)+len(tc.names) > 0 {
				t.Errorf("Names() = %q, want %q", got, tc.names)
			}
			if len(f.Metadata) != len(tc.meta) {
				t.Errorf("Metadata = %v, want %v", f.Metadata, tc.meta)
			}
			for k, v := range tc.meta {
				if f.Metadata[k] != v {
					t.Errorf("Metadata[%q] = %q, want %q", k, f.Metadata[k], v)
				}
			}
			for _, name := range f.Names() {
				tn, _ := f.Tensor(name)
				got := make([]float32, 2)
				if err := tn.Float32s(got); err != nil || got[0] != 1.5 || got[1] != -2 {
					t.Errorf("%s = %v, %v", name, got, err)
				}
			}
		})
	}
}

// TestPrefixStrippingSafetensors: the "module." rule applies to both formats.
func TestPrefixStrippingSafetensors(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"module.a", "module.b.c"}, []string{"a", "b.c"}},
		{[]string{"module.a", "b"}, []string{"b", "module.a"}},
		{[]string{"modulea"}, []string{"modulea"}},
	} {
		var ts []NamedTensor
		for _, n := range tc.in {
			ts = append(ts, NamedTensor{Name: n, Shape: []int{1}, Data: []float32{1}})
		}
		path := filepath.Join(t.TempDir(), "m.safetensors")
		if err := WriteSafetensors(path, ts, nil); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Names(); !slices.Equal(got, tc.want) {
			t.Errorf("%q: Names() = %q, want %q", tc.in, got, tc.want)
		}
		f.Close()
	}
}

func TestFloat32sErrorsAndClose(t *testing.T) {
	path := filepath.Join("testdata", "plain.pt")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := f.Tensor("f32.vec")
	testutil.WantErr(t, tn.Float32s(make([]float32, 3)), "f32.vec", path, "3 values", "has 7")
	if err := tn.Float32s(make([]float32, 7)); err != nil {
		t.Fatal(err)
	}
	// Changing the exported Shape cannot make a read run off the data.
	tr, _ := f.Tensor("f32.conv")
	tr.Shape[0] = 100
	testutil.WantErr(t, tr.Float32s(make([]float32, tr.Len())), "f32.conv", "has 48")
	vf, err := Open(filepath.Join("testdata", "views.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	tt, _ := vf.Tensor("transposed")
	tt.Shape[0], tt.Shape[1] = 12, 1
	got := make([]float32, 12)
	if err := tt.Float32s(got); err != nil || got[1] != 1 {
		t.Errorf("transposed after reshaping Shape = %v, %v (still read as (4, 3))", got, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err = tn.Float32s(make([]float32, 7))
	if !errors.Is(err, os.ErrClosed) {
		t.Errorf("Float32s after Close = %v, want os.ErrClosed", err)
	}
	testutil.WantErr(t, err, "f32.vec", path)
	if _, ok := f.Tensor("nope"); ok {
		t.Error("Tensor(nope) found")
	}
}

func TestOpenFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pt")
	_, err := Open(missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want fs.ErrNotExist", err)
	}
	testutil.WantErr(t, err, missing)

	empty := writeTemp(t, "empty.safetensors", nil)
	_, err = Open(empty)
	testutil.WantErr(t, err, empty, "empty file")

	dir := t.TempDir()
	_, err = Open(dir)
	testutil.WantErr(t, err, dir, "not a regular file")

	junk := writeTemp(t, "junk.bin", []byte("hello, this is not a checkpoint at all"))
	_, err = Open(junk)
	testutil.WantErr(t, err, junk, "not a safetensors or PyTorch zip checkpoint")
}

func TestConvertStrided(t *testing.T) {
	// A (2, 3, 4) float32 tensor stored with its dimensions permuted:
	// element (i, j, k) lies at i*1 + j*8 + k*2 of a 24-element storage.
	shape, strides := []int{2, 3, 4}, []int{1, 8, 2}
	store := make([]float32, 24)
	for i := range store {
		store[i] = float32(i)
	}
	raw := f32bytes(store...)
	got := make([]float32, 24)
	convertStrided(got, raw, F32, shape, strides)
	n := 0
	for i := range 2 {
		for j := range 3 {
			for k := range 4 {
				if want := store[i+8*j+2*k]; got[n] != want {
					t.Fatalf("element (%d,%d,%d) = %g, want %g", i, j, k, got[n], want)
				}
				n++
			}
		}
	}
}

func TestDTypeString(t *testing.T) {
	for d, want := range map[DType]string{F32: "float32", F16: "float16", BF16: "bfloat16", F64: "float64", Bool: "bool", 200: "DType(200)"} {
		if d.String() != want {
			t.Errorf("%d.String() = %q, want %q", d, d.String(), want)
		}
	}
	if F16.Size() != 2 || DType(200).Size() != 0 || !BF16.IsFloat() || I64.IsFloat() {
		t.Error("Size or IsFloat wrong")
	}
}

// TestConcurrentReads reads tensors from several goroutines while the file
// is closed under them; run with -race.
func TestConcurrentReads(t *testing.T) {
	f, err := Open(filepath.Join("testdata", "views.pt"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for _, name := range []string{"big", "slice", "transposed", "expanded"} {
		tn, _ := f.Tensor(name)
		go func() {
			dst := make([]float32, tn.Len())
			for range 50 {
				if err := tn.Float32s(dst); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	tn, _ := f.Tensor("big")
	go func() { done <- f.Close() }()
	_ = tn.Float32s(make([]float32, tn.Len())) // before or after Close: no crash
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func BenchmarkFloat32s(b *testing.B) {
	const n = 1 << 22
	for _, dt := range []DType{F32, F16, BF16} {
		b.Run(dt.String(), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "b.safetensors")
			name := map[DType]string{F32: "F32", F16: "F16", BF16: "BF16"}[dt]
			hdr := `{"w":{"dtype":"` + name + `","shape":[4194304],"data_offsets":[0,` + strconv.Itoa(n*dt.Size()) + `]}}`
			if err := os.WriteFile(path, stFile(hdr, make([]byte, n*dt.Size())), 0o644); err != nil {
				b.Fatal(err)
			}
			f, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			tn, _ := f.Tensor("w")
			dst := make([]float32, n)
			b.SetBytes(int64(n * dt.Size()))
			for b.Loop() {
				if err := tn.Float32s(dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
