package checkpoint

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzFile writes data to a new file in dir and exercises it. A fresh file
// per input is several times faster than rewriting one: truncating a file
// makes the file system flush it.
func fuzzFile(t *testing.T, dir string, data []byte) {
	f, err := os.CreateTemp(dir, "fuzz-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	exercise(t, f.Name())
}

// exercise reads everything an opened file offers; a fuzz input must never
// make it panic.
func exercise(t *testing.T, path string) {
	f, err := Open(path)
	if err != nil {
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error does not name the file: %v", err)
		}
		return
	}
	defer f.Close()
	for _, name := range f.Names() {
		tn, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("listed tensor %q not found", name)
		}
		if n := tn.Len(); n <= 1<<24 {
			_ = tn.Float32s(make([]float32, n))
		}
	}
	_ = Check(f, []Expect{{Name: "w", Shape: []int{2}}})
}

// FuzzOpenSafetensors opens arbitrary bytes as a file, seeded with small
// hand-made files covering every dtype, metadata, scalars and empty tensors.
// The seeds are kept short because the fuzzing engine minimizes each new
// input with a number of runs quadratic in its length; see FuzzOpenPytorch.
func FuzzOpenSafetensors(f *testing.F) {
	f.Add(stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2,1],"data_offsets":[8,12]}}`, make([]byte, 12)))
	f.Add(stFile(`{"__metadata__":{"k":"v"},"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}))
	f.Add(stFile(`{"h":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}}`, []byte{0, 0x3c, 0, 0x7c}))
	f.Add(stFile(`{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"m":{"dtype":"BOOL","shape":[2],"data_offsets":[8,10]}}`, make([]byte, 10)))
	f.Add(binary.LittleEndian.AppendUint64(nil, 2))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzFile(t, dir, data)
	})
}

// FuzzOpenPytorch opens arbitrary bytes as a file, seeded with the PyTorch
// fixtures. Most mutations of a zip archive break its structure or its
// checksums; FuzzPytorchPickle reaches the pickle reader directly.
//
// The engine minimizes every input that finds new coverage, by default for
// up to a minute and with a number of runs quadratic in the input's size;
// with kilobyte-sized seeds that leaves little time for fuzzing, so cap it:
//
//	go test -fuzz FuzzOpenPytorch -fuzztime 30s -fuzzminimizetime 500x ./internal/checkpoint/
func FuzzOpenPytorch(f *testing.F) {
	for _, name := range []string{"plain.pt", "openclip.pt", "views.pt", "protocol4.pt", "legacy.pt", "forbidden.pt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzFile(t, dir, data)
	})
}

// FuzzPytorchPickle wraps an arbitrary data.pkl in a valid archive next to
// the storage records of views.pt, seeded with the fixtures' own pickles.
// It reads the archive from memory (the part of Open after mapping the
// file), which runs many times faster than going through a file.
func FuzzPytorchPickle(f *testing.F) {
	storages := map[string][]byte{}
	for _, name := range []string{"plain.pt", "openclip.pt", "views.pt", "protocol4.pt", "forbidden.pt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for _, r := range zipRecords(f, b) {
			switch {
			case strings.HasSuffix(r.name, "/data.pkl"):
				f.Add(r.data)
			case name == "views.pt" && strings.Contains(r.name, "/data/"):
				storages[r.name[strings.LastIndexByte(r.name, '/')+1:]] = r.data
			}
		}
	}
	f.Fuzz(func(t *testing.T, pickle []byte) {
		file, err := openData("fuzz.pt", ptFile(t, pickle, storages), nil)
		if err != nil {
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
