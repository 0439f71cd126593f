// Package checkpoint reads named tensors from model checkpoint files and
// writes them as safetensors.
//
// Three formats are read, told apart by their content rather than by the
// file name:
//
//   - safetensors: an 8-byte little-endian header length, a JSON header and
//     the raw little-endian tensor data;
//   - PyTorch's zip checkpoints (.pt, .bin), as torch.save writes them by
//     default: a pickle (data.pkl) describing the tensors, whose data lies in
//     separate records of the archive;
//   - TorchScript archives, as torch.jit.save writes them (OpenAI's released
//     CLIP models, ViT-B-32.pt and the others): the same zip layout with
//     constants.pkl and code/ beside data.pkl, which pickles the module tree
//     itself. Each tensor-valued attribute is a tensor named by its dotted
//     attribute path from the root ("visual.conv1.weight",
//     "transformer.resblocks.0.attn_mask"), as state_dict() names it; plain
//     int, float, bool and string attributes become metadata under their
//     paths. Tensors only constants.pkl refers to are the traced code's
//     constants, not the model's, and are not read.
//
// All are memory-mapped: opening a file reads only its header (or its
// pickle) and tensor data is read, and converted to float32, when
// Tensor.Float32s is called. Nothing in a PyTorch pickle is executed: only
// tensors, their storages and plain containers are recognised, and in a
// TorchScript archive its "__torch__" classes, each of which becomes an
// inert holder of the attributes the pickle gives it; its code is not read.
//
// A PyTorch file may hold either a state dict or an open_clip training
// checkpoint, whose "state_dict" entry is the state dict; keys saved from a
// model wrapped for distributed training all start with "module.", which is
// removed.
package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
)

// Format names reported in File.Format.
const (
	FormatSafetensors = "safetensors"
	FormatPyTorch     = "pytorch"
	FormatTorchScript = "torchscript"
)

// DType is the element type of a stored tensor. Float32s converts every
// DType to float32.
type DType uint8

// Element types. F32, F16, BF16 and F64 are the floating-point types model
// weights come in; the integer and boolean types are read so that files
// holding such buffers (position ids, masks) still open.
const (
	F32 DType = iota
	F16
	BF16
	F64
	I64
	I32
	I16
	I8
	U8
	Bool
)

var dtypeInfo = [...]struct {
	name string
	size int
}{
	F32:  {"float32", 4},
	F16:  {"float16", 2},
	BF16: {"bfloat16", 2},
	F64:  {"float64", 8},
	I64:  {"int64", 8},
	I32:  {"int32", 4},
	I16:  {"int16", 2},
	I8:   {"int8", 1},
	U8:   {"uint8", 1},
	Bool: {"bool", 1},
}

// String returns PyTorch's name for the type: "float32", "bfloat16"...
func (d DType) String() string {
	if int(d) < len(dtypeInfo) {
		return dtypeInfo[d].name
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size returns the size of one element in bytes, or 0 for an invalid DType.
func (d DType) Size() int {
	if int(d) < len(dtypeInfo) {
		return dtypeInfo[d].size
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d <= F64 }

// Tensor is one named tensor of an open File. Its data stays in the file's
// mapping until Float32s converts it; a Tensor is valid until its File is
// closed.
type Tensor struct {
	// Name is the tensor's key, with any "module." prefix removed.
	Name string
	// DType is the element type as stored.
	DType DType
	// Shape is the tensor's size; empty for a 0-d (scalar) tensor.
	Shape []int

	file *File
	// shape and count are private copies of Shape and Len, which callers
	// could change.
	shape []int
	count int
	// data holds the raw little-endian elements: from the first element on,
	// exactly count elements when strides is nil, otherwise enough to cover
	// the largest strided index.
	data []byte
	// strides are element strides per dimension, nil when the elements are
	// stored contiguously in C order.
	strides []int
	// store, when not nil, is the PyTorch storage record data lies in; its
	// checksum is verified on first use.
	store *storage
	// parts, when not nil, are the tensors whose elements, one after the
	// other, are this tensor's (see Concat); data is then unused.
	parts []*Tensor
}

// Len returns the number of elements: the product of Shape, 1 for a scalar.
// A broadcast PyTorch view (stride 0) may have more elements than its
// storage holds; compare shapes with Check before allocating for them.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Contiguous reports whether the elements are stored in C order without
// gaps. PyTorch views (transposed or strided tensors) are not; Float32s
// reads both kinds.
func (t *Tensor) Contiguous() bool { return t.strides == nil }

// Float32s converts the tensor's elements, in C order, into dst, which must
// have exactly Len elements. float16, bfloat16 and integers up to 2^24 are
// converted exactly; float64 and larger integers are rounded to nearest.
func (t *Tensor) Float32s(dst []float32) error {
	if len(dst) != t.count {
		return fmt.Errorf("read tensor %s from %s: destination holds %d values, tensor has %d",
			t.Name, t.file.Path, len(dst), t.count)
	}
	t.file.mu.RLock()
	defer t.file.mu.RUnlock()
	if t.file.closed {
		return fmt.Errorf("read tensor %s from %s: %w", t.Name, t.file.Path, os.ErrClosed)
	}
	if err := t.read(dst); err != nil {
		return fmt.Errorf("read tensor %s from %s: %w", t.Name, t.file.Path, err)
	}
	return nil
}

// read converts the elements into dst (of length t.count) with the file
// already locked for reading.
func (t *Tensor) read(dst []float32) error {
	if t.parts != nil {
		off := 0
		for _, p := range t.parts {
			if err := p.read(dst[off : off+p.count]); err != nil {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			off += p.count
		}
		return nil
	}
	if t.store != nil {
		if err := t.store.verify(); err != nil {
			return err
		}
	}
	if t.strides == nil {
		convert(dst, t.data, t.DType)
	} else {
		convertStrided(dst, t.data, t.DType, t.shape, t.strides)
	}
	return nil
}

// File is an open checkpoint. Close releases its mapping; tensors of a
// closed file can no longer be read.
type File struct {
	// Path is the name the file was opened with.
	Path string
	// Format is FormatSafetensors, FormatPyTorch or FormatTorchScript.
	Format string
	// Metadata holds a safetensors file's "__metadata__" entries; for an
	// open_clip training checkpoint, its scalar top-level entries ("epoch",
	// "name"); for a TorchScript archive, the modules' plain int, float,
	// bool and string attributes by dotted path ("visual.input_resolution"),
	// without PyTorch's bookkeeping ("training", names starting with "_").
	// Values are formatted as text (ints in decimal, floats as Go's
	// shortest 'g' form, bools as "True" or "False"). It is nil when there
	// are none.
	Metadata map[string]string

	mu      sync.RWMutex
	closed  bool
	mapping []byte
	unmap   func([]byte) error
	tensors map[string]*Tensor
	names   []string
}

// Open opens the checkpoint at path, a safetensors file, a PyTorch zip
// checkpoint or a TorchScript archive, recognised by content. It validates
// the header or pickle and the position of every tensor's data, but reads
// no tensor data.
func Open(path string) (*File, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return openData(path, data, unmap)
}

// openData reads the checkpoint in data, the content of path, which unmap
// releases (when not nil) on Close or on error.
func openData(path string, data []byte, unmap func([]byte) error) (*File, error) {
	var err error
	f := &File{Path: path, mapping: data, unmap: unmap}
	var tensors []*Tensor
	switch detect(data) {
	case kindZip:
		tensors, f.Metadata, f.Format, err = readPyTorch(data)
	case kindSafetensors:
		f.Format = FormatSafetensors
		tensors, f.Metadata, err = readSafetensors(data)
	case kindLegacyPickle:
		err = errors.New("legacy (non-zip) PyTorch file: re-save it with torch.save " +
			"from PyTorch 1.6 or later (zip format, the default) or convert it to safetensors")
	case kindTar:
		err = errors.New("legacy tar-format PyTorch file: re-save it with torch.save " +
			"from PyTorch 1.6 or later (zip format, the default) or convert it to safetensors")
	default:
		// Not recognisable from its first bytes; a safetensors header may
		// still start with white space.
		var serr error
		if tensors, f.Metadata, serr = readSafetensors(data); serr == nil {
			f.Format = FormatSafetensors
		} else {
			err = fmt.Errorf("not a safetensors or PyTorch zip checkpoint (as safetensors: %v)", serr)
		}
	}
	if err == nil {
		err = f.index(tensors)
	}
	if err != nil {
		if unmap != nil {
			unmap(data)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return f, nil
}

// index strips a "module." prefix shared by every name and builds the
// lookup table.
func (f *File) index(tensors []*Tensor) error {
	const prefix = "module."
	strip := len(tensors) > 0
	for _, t := range tensors {
		if !strings.HasPrefix(t.Name, prefix) {
			strip = false
			break
		}
	}
	f.tensors = make(map[string]*Tensor, len(tensors))
	f.names = make([]string, 0, len(tensors))
	for _, t := range tensors {
		if strip {
			t.Name = t.Name[len(prefix):]
		}
		if _, dup := f.tensors[t.Name]; dup {
			return fmt.Errorf("tensor %q appears twice", t.Name)
		}
		t.file = f
		t.shape = slices.Clone(t.Shape)
		t.count = t.Len()
		f.tensors[t.Name] = t
		f.names = append(f.names, t.Name)
	}
	slices.Sort(f.names)
	return nil
}

// Names returns the names of all tensors, sorted. Model loaders should not
// rely on this order: it is not the order of a model's parameters.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// Close releases the file's mapping. It waits for conversions in progress;
// later reads of its tensors fail. Closing twice is not an error.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	data := f.mapping
	f.mapping = nil
	if f.unmap != nil {
		if err := f.unmap(data); err != nil {
			return fmt.Errorf("close %s: %w", f.Path, err)
		}
	}
	return nil
}

// pathless drops the path from an *fs.PathError, which the caller's message
// already names, keeping the cause for errors.Is.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

type kind int

const (
	kindUnknown kind = iota
	kindZip
	kindSafetensors
	kindLegacyPickle
	kindTar
)

// detect recognises a format from the first bytes of a file.
func detect(data []byte) kind {
	switch {
	case len(data) >= 4 && (string(data[:4]) == "PK\x03\x04" || string(data[:4]) == "PK\x05\x06"):
		return kindZip
	case len(data) >= 9 && data[8] == '{':
		return kindSafetensors
	case len(data) >= 2 && data[0] == 0x80 && data[1] >= 2 && data[1] <= 5:
		// A pickle protocol opcode: torch.save's format before 1.6 starts
		// with a pickled magic number.
		return kindLegacyPickle
	case len(data) >= 262 && string(data[257:262]) == "ustar":
		return kindTar
	}
	return kindUnknown
}

// NamedTensor is a float32 tensor to write.
type NamedTensor struct {
	Name  string
	Shape []int
	// Data holds the elements in C order; its length must be the product of
	// Shape (1 for a scalar).
	Data []float32
}
