package npy

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trak-dev/trak/internal/testutil"
)

// fill writes a recognizable pattern through the typed view of m.
func fill(m *File) {
	switch m.Header().DType {
	case Float32:
		for i := range m.Float32s() {
			m.Float32s()[i] = float32(i) * 1.5
		}
	case Float16:
		v := m.Uint16s()
		src := make([]float32, len(v))
		for i := range src {
			src[i] = float32(i) - 7.25
		}
		Float16Bits(v, src)
	case Float64:
		for i := range m.Float64s() {
			m.Float64s()[i] = float64(i) / 3
		}
	case Uint8:
		for i := range m.Uint8s() {
			m.Uint8s()[i] = uint8(255 - i)
		}
	case Int32:
		for i := range m.Int32s() {
			m.Int32s()[i] = int32(-i * 100003)
		}
	case Int64:
		for i := range m.Int64s() {
			m.Int64s()[i] = int64(i) << 40
		}
	}
}

// TestCreateOpenRoundTrip: for every dtype, Create maps a zeroed file of
// the right size, values written through the typed view survive Flush,
// Close and reopening, and the file is the one WriteFile would write.
func TestCreateOpenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, d := range allDTypes {
		t.Run(d.String(), func(t *testing.T) {
			h := Header{DType: d, Shape: []int{3, 5}}
			path := filepath.Join(dir, typeCode(d)+".npy")
			m, err := Create(path, h)
			if err != nil {
				t.Fatal(err)
			}
			if !sameHeader(m.Header(), h) || m.Path() != path {
				t.Errorf("Header, Path = %+v, %q", m.Header(), m.Path())
			}
			if !bytes.Equal(m.Data(), make([]byte, h.DataSize())) {
				t.Errorf("new file's data is not zeroed")
			}
			fill(m)
			want := slices.Clone(m.Data())
			if err := m.Flush(0, h.DataSize()); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if m.Data() != nil {
				t.Errorf("Data after Close is not nil")
			}

			r, err := Open(path, ReadOnly)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if !sameHeader(r.Header(), h) || !bytes.Equal(r.Data(), want) {
				t.Errorf("reopened file differs")
			}
			checkView(t, r, want)

			hh, data, err := ReadFile(path)
			if err != nil || !sameHeader(hh, h) || !bytes.Equal(data, want) {
				t.Errorf("ReadFile = %+v, %v", hh, err)
			}
			other := filepath.Join(dir, typeCode(d)+"-written.npy")
			if err := WriteFile(other, h, want); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(path)
			b, _ := os.ReadFile(other)
			if !bytes.Equal(a, b) {
				t.Errorf("Create+fill and WriteFile give different files (%s)", firstDiff(a, b))
			}
		})
	}
}

// TestSharedMapping: a write through one ReadWrite mapping is visible
// through another mapping of the same file at once.
func TestSharedMapping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.npy")
	w, err := Create(path, Header{DType: Int64, Shape: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := Open(path, ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.Int64s()[2] = -42
	if got := r.Int64s()[2]; got != -42 {
		t.Errorf("other mapping sees %d, want -42", got)
	}
}

// TestFlushRanges: Flush accepts any in-bounds range, including ones that
// start mid-page and cross pages (msync fails with EINVAL on an unaligned
// start, so these pass only if the alignment is right), and refuses
// out-of-bounds ranges and closed files.
func TestFlushRanges(t *testing.T) {
	page := int64(os.Getpagesize())
	path := filepath.Join(t.TempDir(), "big.npy")
	h := Header{DType: Float32, Shape: []int{int(3 * page)}} // 12 pages of data
	m, err := Create(path, h)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	size := h.DataSize()
	for _, r := range [][2]int64{
		{0, size}, {0, 1}, {1, 1}, {size - 1, 1}, {size, 0}, {0, 0},
		{page - 128, 1}, {page - 128 - 1, 2}, {page, page}, {3*page + 17, 2*page + 5},
		{size - page - 3, page + 3},
	} {
		if r[1] > 0 {
			m.Data()[r[0]+r[1]/2] ^= 1
		}
		if err := m.Flush(r[0], r[1]); err != nil {
			t.Errorf("Flush(%d, %d): %v", r[0], r[1], err)
		}
	}
	for _, r := range [][2]int64{{-1, 1}, {0, -1}, {size, 1}, {size + 1, 0}, {1, size}, {1 << 62, 1 << 62}} {
		err := m.Flush(r[0], r[1])
		testutil.WantErr(t, err, path, "outside")
	}
	ro, err := Open(path, ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Flush(0, size); err != nil {
		t.Errorf("Flush of a read-only file: %v", err)
	}
	ro.Close()
	m.Close()
	testutil.WantErr(t, m.Flush(0, 1), path, "closed")
}

// TestCreateExisting: Create never touches an existing file and reports
// fs.ErrExist.
func TestCreateExisting(t *testing.T) {
	dir := t.TempDir()
	for _, content := range [][]byte{
		[]byte("precious, not an npy file"),
		fixtureFile(t, Header{DType: Float32, Shape: []int{2}}),
	} {
		path := filepath.Join(dir, "x.npy")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := Create(path, Header{DType: Float64, Shape: []int{100}})
		if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("Create on an existing file: %v, want fs.ErrExist", err)
		}
		if m != nil {
			t.Errorf("Create returned a File with an error")
		}
		got, _ := os.ReadFile(path)
		st, _ := os.Stat(path)
		if !bytes.Equal(got, content) || st.Mode().Perm() != 0o600 {
			t.Errorf("existing file changed")
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("Create left %d files behind", len(entries)-1)
		}
	}
}

// fixtureFile returns the bytes of an .npy file for h with zeroed data.
func fixtureFile(t *testing.T, h Header) []byte {
	b, err := EncodeHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, make([]byte, h.DataSize())...)
}

// TestCreateConcurrent: of many goroutines creating the same file, exactly
// one succeeds, the others get fs.ErrExist and can open the complete file.
func TestCreateConcurrent(t *testing.T) {
	const n = 16
	path := filepath.Join(t.TempDir(), "race.npy")
	h := Header{DType: Float16, Shape: []int{64, 64}}
	var wg sync.WaitGroup
	results := make([]error, n)
	files := make([]*File, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			files[i], results[i] = Create(path, h)
			if errors.Is(results[i], fs.ErrExist) {
				var err error
				files[i], err = Open(path, ReadOnly)
				if err != nil {
					t.Errorf("Open after losing the race: %v", err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("goroutine %d: %v", i, err)
		}
		if files[i] != nil {
			if !sameHeader(files[i].Header(), h) {
				t.Errorf("goroutine %d sees header %+v", i, files[i].Header())
			}
			files[i].Close()
		}
	}
	if wins != 1 {
		t.Errorf("%d goroutines created the file, want exactly 1", wins)
	}
}

// TestOpenBadSize: a file shorter or longer than its header says is
// refused, with the path, the kind of damage and both sizes in the error.
func TestOpenBadSize(t *testing.T) {
	dir := t.TempDir()
	h := Header{DType: Float32, Shape: []int{10, 10}}
	good := fixtureFile(t, h) // 128 + 400 bytes
	for _, tc := range []struct {
		name    string
		content []byte
		parts   []string
	}{
		{"truncated data", good[:len(good)-1], []string{"truncated", "expected 528 bytes", "has 527"}},
		{"no data", good[:128], []string{"truncated", "expected 528 bytes", "has 128"}},
		{"trailing bytes", append(slices.Clone(good), 0), []string{"corrupt", "expected 528 bytes", "has 529"}},
		{"truncated header", good[:60], []string{"truncated .npy header"}},
		{"empty", nil, []string{"truncated .npy header"}},
		{"not npy", []byte("hello, world"), []string{"not an .npy file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".npy")
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, mode := range []Mode{ReadOnly, ReadWrite} {
				m, err := Open(path, mode)
				if m != nil {
					t.Errorf("Open returned a File with an error")
				}
				testutil.WantErr(t, err, append([]string{"open " + path}, tc.parts...)...)
			}
			_, _, err := ReadFile(path)
			testutil.WantErr(t, err, append([]string{"read " + path}, tc.parts...)...)
		})
	}
}

// TestZeroLength: arrays with no elements need no mapping, and every
// operation on them works.
func TestZeroLength(t *testing.T) {
	dir := t.TempDir()
	for _, d := range allDTypes {
		for _, shape := range [][]int{{0}, {0, 4}, {4, 0}, {2, 0, 3}} {
			h := Header{DType: d, Shape: shape}
			name := typeCode(d) + "_" + strings.Trim(strings.ReplaceAll(shapeString(shape), ", ", "x"), "(,)")
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(dir, name+".npy")
				m, err := Create(path, h)
				if err != nil {
					t.Fatal(err)
				}
				if m.Data() == nil || len(m.Data()) != 0 {
					t.Errorf("Data() = %v, want empty and non-nil", m.Data())
				}
				checkView(t, m, nil)
				if err := m.Flush(0, 0); err != nil {
					t.Error(err)
				}
				testutil.WantErr(t, m.Flush(0, 1), "outside")
				if err := m.Close(); err != nil {
					t.Error(err)
				}
				if err := m.Close(); err != nil {
					t.Error(err)
				}
				m, err = Open(path, ReadWrite)
				if err != nil {
					t.Fatal(err)
				}
				checkView(t, m, nil)
				m.Close()
				hh, data, err := ReadFile(path)
				if err != nil || !sameHeader(hh, h) || len(data) != 0 {
					t.Errorf("ReadFile = %+v, %v, %v", hh, data, err)
				}
				if err := WriteFile(path, h, nil); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestScalar: a 0-d array holds one element.
func TestScalar(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.npy")
	m, err := Create(path, Header{DType: Float64})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Float64s()) != 1 || m.Header().Len() != 1 || len(m.Header().Shape) != 0 {
		t.Errorf("scalar: %d elements, header %+v", len(m.Float64s()), m.Header())
	}
}

// TestViewMismatchPanics: asking for the wrong typed view is a programming
// error and panics with an "npy: " message naming the file and dtypes.
func TestViewMismatchPanics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.npy")
	m, err := Create(path, Header{DType: Float32, Shape: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for name, view := range map[string]func(){
		"Float64s": func() { m.Float64s() },
		"Uint16s":  func() { m.Uint16s() },
		"Uint8s":   func() { m.Uint8s() },
		"Int32s":   func() { m.Int32s() },
		"Int64s":   func() { m.Int64s() },
	} {
		msg := panicMessage(view)
		if !strings.HasPrefix(msg, "npy: "+name) || !strings.Contains(msg, path) || !strings.Contains(msg, "<f4") {
			t.Errorf("%s on a float32 file: panic %q", name, msg)
		}
	}
	for _, f := range []func(){
		func() { Float16Bits(make([]uint16, 1), make([]float32, 2)) },
		func() { Float16ToFloat32(make([]float32, 1), make([]uint16, 2)) },
	} {
		if msg := panicMessage(f); !strings.HasPrefix(msg, "npy: ") {
			t.Errorf("short dst: panic %q", msg)
		}
	}
}

func panicMessage(f func()) (msg string) {
	defer func() {
		r := recover()
		msg, _ = r.(string)
	}()
	f()
	return "no panic"
}

// TestHeaderIsCopy: changing the Header a File returns changes nothing.
func TestHeaderIsCopy(t *testing.T) {
	m, err := Create(filepath.Join(t.TempDir(), "c.npy"), Header{DType: Uint8, Shape: []int{2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Header().Shape[0] = 99
	if m.Header().Shape[0] != 2 {
		t.Errorf("File's header changed through a copy")
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "e.npy")
	h := Header{DType: Int32, Shape: []int{3}}

	testutil.WantErr(t, WriteFile(path, h, make([]byte, 11)), "write "+path, "got 11 data bytes", "needs 12")
	testutil.WantErr(t, WriteFile(path, Header{Shape: []int{3}}, nil), "write "+path, "invalid dtype")
	testutil.WantErr(t, WriteFile(path, Header{DType: Int32, Shape: []int{-3}}, nil), "write "+path, "negative")
	testutil.WantErr(t, WriteFile(filepath.Join(dir, "no", "such", "dir.npy"), h, make([]byte, 12)), "no such file")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed WriteFile left a file behind")
	}

	_, err := Create(path, Header{DType: Int32, Shape: []int{-3}})
	testutil.WantErr(t, err, "create "+path, "negative")
	if wideInt {
		_, err = Create(path, Header{DType: Uint8, Shape: []int{dim64(1 << 62), 2}})
		testutil.WantErr(t, err, "create "+path, "would exceed")
		_, err = Create(path, Header{DType: Uint8, Shape: []int{dim64(math.MaxInt64)}})
		testutil.WantErr(t, err, "create "+path, "too large")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed Create left a file behind")
	}

	_, err = Open(filepath.Join(dir, "missing.npy"), ReadOnly)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("Open of a missing file: %v", err)
	}
	_, _, err = ReadFile(filepath.Join(dir, "missing.npy"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
	if err := WriteFile(path, h, make([]byte, 12)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Mode(7))
	testutil.WantErr(t, err, "open "+path, "invalid mode 7")
}

// TestWriteFileReplaces: WriteFile replaces an existing file whole.
func TestWriteFileReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.npy")
	for i := range 3 {
		h := Header{DType: Uint8, Shape: []int{i + 1}}
		data := bytes.Repeat([]byte{byte(i)}, i+1)
		if err := WriteFile(path, h, data); err != nil {
			t.Fatal(err)
		}
		got, gotData, err := ReadFile(path)
		if err != nil || !sameHeader(got, h) || !bytes.Equal(gotData, data) {
			t.Errorf("round %d: %+v %v %v", i, got, gotData, err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "b.npy")
	m, err := Create(path, Header{DType: Float32, Shape: []int{1024, 1024}})
	if err != nil {
		b.Fatal(err)
	}
	m.Close()
	for b.Loop() {
		m, err := Open(path, ReadOnly)
		if err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}

func BenchmarkFloat16Bits(b *testing.B) {
	src := make([]float32, 1<<16)
	for i := range src {
		src[i] = float32(i) / 7
	}
	dst := make([]uint16, len(src))
	b.SetBytes(int64(len(src) * 4))
	for b.Loop() {
		Float16Bits(dst, src)
	}
}
