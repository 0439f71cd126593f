package checkpoint

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// maxPickleSize bounds data.pkl. A state dict's pickle describes tensors
// without their data and takes a few hundred bytes per tensor; even a
// training checkpoint of a large model with its optimizer state is well
// under a megabyte.
const maxPickleSize = 64 << 20

// storage is a PyTorch storage: one record of the archive holding the raw
// elements that one or more tensors view.
type storage struct {
	key   string
	dtype DType
	numel int

	// Set once a tensor of the state dict uses it.
	resolved bool
	record   string
	data     []byte
	crc      uint32
	once     sync.Once
	err      error
}

// verify checks the record's CRC-32 once, the first time a tensor viewing
// it is read.
func (s *storage) verify() error {
	s.once.Do(func() {
		if crc32.ChecksumIEEE(s.data) != s.crc {
			s.err = fmt.Errorf("record %s: checksum mismatch (file corrupted)", s.record)
		}
	})
	return s.err
}

// storageClass is a torch.*Storage class named in a persistent id.
type storageClass struct{ dtype DType }

// storageClasses are the storage types data.pkl may name.
var storageClasses = map[string]DType{
	"FloatStorage":    F32,
	"HalfStorage":     F16,
	"BFloat16Storage": BF16,
	"DoubleStorage":   F64,
	"LongStorage":     I64,
	"IntStorage":      I32,
	"ShortStorage":    I16,
	"CharStorage":     I8,
	"ByteStorage":     U8,
	"BoolStorage":     Bool,
}

// pickledTensor is what torch._utils._rebuild_tensor_v2 yields: a strided
// view of a storage.
type pickledTensor struct {
	store  *storage
	offset int
	size   []int
	stride []int
}

// rebuildTensor stands for torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 takes 6 or 7 arguments, got %d", len(args))
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: argument 1 is %s, not a storage", pyType(args[0]))
	}
	offset, ok := args[1].(int)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: bad storage offset %s", short(fmt.Sprint(args[1])))
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: stride: %w", err)
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size %v and stride %v differ in length", size, stride)
	}
	return &pickledTensor{store: st, offset: offset, size: size, stride: stride}, nil
}

// rebuildParameter stands for torch._utils._rebuild_parameter(data,
// requires_grad, backward_hooks) and _rebuild_parameter_with_state (one
// more argument): an nn.Parameter is read as its tensor.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("_rebuild_parameter without arguments")
	}
	t, ok := args[0].(*pickledTensor)
	if !ok {
		return nil, fmt.Errorf("_rebuild_parameter: argument 1 is %s, not a tensor", pyType(args[0]))
	}
	return t, nil
}

// findClass is the allow-list of globals data.pkl may name. The unpickler
// itself resolves collections.OrderedDict (and two Python 2 names that build
// plain objects); anything else is refused by name.
func findClass(module, name string) (any, error) {
	switch module {
	case "torch._utils":
		switch name {
		case "_rebuild_tensor_v2":
			return rebuildTensor{}, nil
		case "_rebuild_parameter", "_rebuild_parameter_with_state":
			return rebuildParameter{}, nil
		}
	case "torch":
		if dt, ok := storageClasses[name]; ok {
			return &storageClass{dtype: dt}, nil
		}
	}
	return nil, &forbiddenClassError{short(module) + "." + short(name)}
}

// forbiddenClassError reports a global that findClass refuses.
type forbiddenClassError struct{ class string }

func (e *forbiddenClassError) Error() string {
	return "forbidden class " + e.class + ": only tensors, their storages and plain " +
		"containers are read (nothing in the file is executed)"
}

// readPyTorch reads the zip checkpoint in data: the state dict of a
// torch.save file, or the module tree of a TorchScript archive. It returns
// the tensors, the metadata and the format found.
func readPyTorch(data []byte) ([]*Tensor, map[string]string, string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, nil, "", fmt.Errorf("reading zip archive: %w", err)
	}
	if len(zr.File) == 0 {
		return nil, nil, "", errors.New("empty zip archive: not a torch.save checkpoint")
	}
	// torch.save puts every record under one folder named after the file.
	prefix := ""
	if i := strings.IndexByte(zr.File[0].Name, '/'); i >= 0 {
		prefix = zr.File[0].Name[:i+1]
	}
	records := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		if rest, ok := strings.CutPrefix(f.Name, prefix); ok {
			if _, dup := records[rest]; dup {
				return nil, nil, "", fmt.Errorf("zip record %s appears twice", f.Name)
			}
			records[rest] = f
		}
	}
	script := isTorchScriptArchive(records)
	pkl, ok := records["data.pkl"]
	if !ok {
		return nil, nil, "", fmt.Errorf("zip archive has no %sdata.pkl record: not a torch.save checkpoint", prefix)
	}
	if bo, ok := records["byteorder"]; ok {
		b, err := readRecord(bo, 16)
		if err != nil {
			return nil, nil, "", err
		}
		if string(b) != "little" {
			return nil, nil, "", fmt.Errorf("checkpoint byte order is %q; only little-endian checkpoints are supported", short(string(b)))
		}
	}
	p, err := readRecord(pkl, maxPickleSize)
	if err != nil {
		return nil, nil, "", err
	}
	root, err := unpickle(p, script)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", pkl.Name, err)
	}
	format := FormatPyTorch
	var entries []entry
	var meta map[string]string
	if obj, ok := root.(*scriptObject); ok && script {
		format = FormatTorchScript
		if entries, meta, err = moduleTree(obj); err != nil {
			return nil, nil, "", fmt.Errorf("%s: %w", pkl.Name, err)
		}
	} else if entries, meta, err = stateDict(root); err != nil {
		return nil, nil, "", err
	}
	tensors := make([]*Tensor, 0, len(entries))
	for _, e := range entries {
		t, err := e.value.tensor(e.key, data, prefix, records)
		if err != nil {
			return nil, nil, "", fmt.Errorf("tensor %q: %w", e.key, err)
		}
		tensors = append(tensors, t)
	}
	return tensors, meta, format, nil
}

// readRecord reads a small record whole, refusing one over limit bytes.
func readRecord(f *zip.File, limit int) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("record %s is %d bytes, more than the %d allowed", f.Name, f.UncompressedSize64, limit)
	}
	r, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err == nil && len(b) > limit {
		err = errors.New("longer than its declared size")
	}
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	return b, nil
}

// unpickle runs the pickle p with the allow-listed classes, turning
// persistent ids into storages whose data is not read. script allows what
// a TorchScript archive's data.pkl names besides (see findScriptClass).
func unpickle(p []byte, script bool) (result any, err error) {
	if err := scanPickle(p); err != nil {
		return nil, err
	}
	storages := map[string]*storage{}
	u := pickle.NewUnpickler(bytes.NewReader(p))
	u.FindClass = findClass
	if script {
		u.FindClass = findScriptClass
	}
	u.PersistentLoad = func(id any) (any, error) { return persistentLoad(storages, id) }
	// scanPickle rules out inputs that would make the unpickler allocate
	// without bound. Malformed stacks (an odd number of SETITEMS operands, an
	// unhashable dict key) make it panic; that becomes an error here.
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("malformed pickle: %s", short(fmt.Sprint(r)))
		}
	}()
	result, err = u.Load()
	var forbidden *forbiddenClassError
	if errors.As(err, &forbidden) {
		return nil, err
	}
	if err != nil {
		// The unpickler's messages may quote whole objects.
		return nil, fmt.Errorf("malformed pickle: %s", short(err.Error()))
	}
	return result, nil
}

// persistentLoad resolves a persistent id ('storage', storage class, key,
// location, numel) to a storage, one per key.
func persistentLoad(storages map[string]*storage, id any) (any, error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() != 5 {
		return nil, fmt.Errorf("unexpected persistent id %s", short(fmt.Sprint(id)))
	}
	if kind, _ := t.Get(0).(string); kind != "storage" {
		return nil, fmt.Errorf("unexpected persistent id kind %s", short(fmt.Sprint(t.Get(0))))
	}
	class, ok := t.Get(1).(*storageClass)
	if !ok {
		return nil, fmt.Errorf("persistent id names %s, not a storage class", pyType(t.Get(1)))
	}
	key, ok := t.Get(2).(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a string", pyType(t.Get(2)))
	}
	numel, ok := t.Get(4).(int)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage %s: bad element count %s", short(key), short(fmt.Sprint(t.Get(4))))
	}
	if s, ok := storages[key]; ok {
		if s.dtype != class.dtype || s.numel != numel {
			return nil, fmt.Errorf("storage %s is described twice, differently", short(key))
		}
		return s, nil
	}
	s := &storage{key: key, dtype: class.dtype, numel: numel}
	storages[key] = s
	return s, nil
}

// resolve locates the storage's record in the mapped archive.
func (s *storage) resolve(data []byte, prefix string, records map[string]*zip.File) error {
	if s.resolved {
		return nil
	}
	name := "data/" + s.key
	f, ok := records[name]
	if !ok {
		return fmt.Errorf("storage record %s%s is missing", prefix, short(name))
	}
	hi, want := bits.Mul64(uint64(s.numel), uint64(s.dtype.Size()))
	if hi != 0 || f.UncompressedSize64 != want {
		return fmt.Errorf("storage record %s holds %d bytes, but %d %s elements need %d: file truncated or corrupted?",
			f.Name, f.UncompressedSize64, s.numel, s.dtype, want)
	}
	if f.Method != zip.Store {
		return fmt.Errorf("storage record %s is compressed (method %d); torch.save writes records uncompressed: re-save the checkpoint with torch.save", f.Name, f.Method)
	}
	off, err := f.DataOffset()
	if err != nil {
		return fmt.Errorf("storage record %s: %w", f.Name, err)
	}
	if off < 0 || f.CompressedSize64 != want || uint64(off) > uint64(len(data)) || want > uint64(len(data))-uint64(off) {
		return fmt.Errorf("storage record %s runs past the end of the file: file truncated?", f.Name)
	}
	s.record = f.Name
	s.data = data[off : uint64(off)+want]
	s.crc = f.CRC32
	s.resolved = true
	return nil
}

// tensor checks the view against its storage and returns the Tensor.
func (p *pickledTensor) tensor(name string, data []byte, prefix string, records map[string]*zip.File) (*Tensor, error) {
	s := p.store
	if err := s.resolve(data, prefix, records); err != nil {
		return nil, err
	}
	// The largest element index the view touches, and whether the view is
	// C-contiguous (strides of size-1 dimensions do not matter).
	count, last, expect := 1, p.offset, 1
	contiguous := true
	for i := len(p.size) - 1; i >= 0; i-- {
		d, st := p.size[i], p.stride[i]
		if d < 0 || st < 0 {
			return nil, fmt.Errorf("negative size or stride (size %v, stride %v)", p.size, p.stride)
		}
		var ok bool
		if count, ok = mulInt(count, d); !ok {
			return nil, fmt.Errorf("size %v is too large", p.size)
		}
		if d > 1 {
			if st != expect {
				contiguous = false
			}
			step, ok := mulInt(d-1, st)
			if ok {
				last, ok = addInt(last, step)
			}
			if !ok {
				return nil, fmt.Errorf("size %v with stride %v is too large", p.size, p.stride)
			}
		}
		expect, _ = mulInt(expect, d)
	}
	t := &Tensor{Name: name, DType: s.dtype, Shape: slices.Clone(p.size), store: s}
	if count == 0 {
		t.data = nil
		return t, nil
	}
	if last >= s.numel {
		return nil, fmt.Errorf("view (offset %d, size %v, stride %v) reaches element %d of a storage of %d",
			p.offset, p.size, p.stride, last, s.numel)
	}
	es := s.dtype.Size()
	if contiguous {
		t.data = s.data[p.offset*es : (p.offset+count)*es]
	} else {
		t.data = s.data[p.offset*es : (last+1)*es]
		// Size-1 dimensions are never stepped over; zero strides keep the
		// index arithmetic small.
		t.strides = make([]int, len(p.stride))
		for i, st := range p.stride {
			if p.size[i] > 1 {
				t.strides[i] = st
			}
		}
	}
	return t, nil
}

type entry struct {
	key   string
	value *pickledTensor
}

// stateDict finds the state dict in the unpickled root object: the root
// itself, or its "state_dict" entry as open_clip's training checkpoints
// have, whose other scalar entries become metadata.
func stateDict(root any) ([]entry, map[string]string, error) {
	items, ok := dictItems(root)
	if !ok {
		return nil, nil, fmt.Errorf("checkpoint holds %s, not a state dict", pyType(root))
	}
	var meta map[string]string
	for _, it := range items {
		if k, _ := it[0].(string); k != "state_dict" {
			continue
		}
		sd, ok := dictItems(it[1])
		if !ok {
			return nil, nil, fmt.Errorf(`checkpoint's "state_dict" entry is %s, not a dict`, pyType(it[1]))
		}
		for _, o := range items {
			k, ok := o[0].(string)
			if !ok || k == "state_dict" {
				continue
			}
			if v, ok := scalarText(o[1]); ok {
				if meta == nil {
					meta = map[string]string{}
				}
				meta[k] = v
			}
		}
		items = sd
		break
	}
	// Later duplicates replace earlier ones, as in Python.
	pos := map[string]int{}
	var out []entry
	for _, it := range items {
		k, ok := it[0].(string)
		if !ok {
			return nil, nil, fmt.Errorf("state dict key %s is %s, not a string", short(fmt.Sprint(it[0])), pyType(it[0]))
		}
		t, ok := it[1].(*pickledTensor)
		if !ok {
			return nil, nil, fmt.Errorf("state dict entry %q is %s, not a tensor "+
				`(expected a state dict, or a training checkpoint with a "state_dict" entry)`, k, pyType(it[1]))
		}
		if i, dup := pos[k]; dup {
			out[i].value = t
			continue
		}
		pos[k] = len(out)
		out = append(out, entry{k, t})
	}
	return out, meta, nil
}

// dictItems returns the key/value pairs of a dict or OrderedDict in order.
func dictItems(v any) ([][2]any, bool) {
	switch d := v.(type) {
	case *types.Dict:
		out := make([][2]any, 0, d.Len())
		for _, e := range *d {
			out = append(out, [2]any{e.Key, e.Value})
		}
		return out, true
	case *types.OrderedDict:
		out := make([][2]any, 0, d.Len())
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			out = append(out, [2]any{e.Key, e.Value})
		}
		return out, true
	}
	return nil, false
}

// scalarText formats a Python int, float, str or bool.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x), true
	case *big.Int:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case string:
		return x, true
	case bool:
		if x {
			return "True", true
		}
		return "False", true
	}
	return "", false
}

// pyType names the Python type an unpickled value stands for.
func pyType(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case int, *big.Int:
		return "an int"
	case float64:
		return "a float"
	case string:
		return "a str"
	case bool:
		return "a bool"
	case []byte:
		return "bytes"
	case *types.Dict:
		return "a dict"
	case *types.OrderedDict:
		return "an OrderedDict"
	case *types.List:
		return "a list"
	case *types.Tuple:
		return "a tuple"
	case *pickledTensor:
		return "a tensor"
	case *storage:
		return "a storage"
	case *storageClass:
		return "a storage class"
	case *scriptObject:
		return "a " + x.class + " object"
	case *scriptClass:
		return "the class " + x.name
	}
	return fmt.Sprintf("a %T", v)
}

// intTuple converts a tuple of non-negative Python ints.
func intTuple(v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%s, not a tuple", pyType(v))
	}
	out := make([]int, t.Len())
	for i := range out {
		n, ok := t.Get(i).(int)
		if !ok {
			return nil, fmt.Errorf("element %d is %s, not a small int", i, pyType(t.Get(i)))
		}
		out[i] = n
	}
	return out, nil
}

// short cuts s for an error message.
func short(s string) string {
	const limit = 200
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

func mulInt(a, b int) (int, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt {
		return 0, false
	}
	return int(lo), true
}

func addInt(a, b int) (int, bool) {
	s := a + b
	if s < a {
		return 0, false
	}
	return s, true
}
