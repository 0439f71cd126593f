package checkpoint

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/trak-dev/trak/internal/atomicfile"
)

// maxHeaderSize bounds a safetensors JSON header, as the format's reference
// reader does.
const maxHeaderSize = 100_000_000

// safetensorsDTypes maps the header's dtype names to element types.
var safetensorsDTypes = map[string]DType{
	"F32":  F32,
	"F16":  F16,
	"BF16": BF16,
	"F64":  F64,
	"I64":  I64,
	"I32":  I32,
	"I16":  I16,
	"I8":   I8,
	"U8":   U8,
	"BOOL": Bool,
}

// headerEntry is one tensor's description in a safetensors header.
type headerEntry struct {
	DType       *string  `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// readSafetensors parses the header of the safetensors file in data and
// returns views of its tensors into data.
//
// Beyond the format's rules (header length within the file and at most
// maxHeaderSize bytes, well-formed JSON, known dtypes, data_offsets spanning
// exactly product(shape)·element size bytes inside the data section), it
// refuses duplicate names and overlapping tensors. Unlike the reference
// reader it accepts gaps between tensors and bytes after the last one.
func readSafetensors(data []byte) ([]*Tensor, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("file of %d bytes is too short for a safetensors header", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeaderSize {
		return nil, nil, fmt.Errorf("safetensors header length %d exceeds the limit of %d bytes", n, maxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("safetensors header length %d runs past the end of the file (%d bytes)", n, len(data))
	}
	header := data[8 : 8+n]
	body := data[8+n:]
	if !utf8.Valid(header) {
		return nil, nil, errors.New("safetensors header is not valid UTF-8")
	}
	if len(bytes.TrimLeft(header, " \t\r\n")) == 0 || bytes.TrimLeft(header, " \t\r\n")[0] != '{' {
		return nil, nil, errors.New("safetensors header is not a JSON object")
	}

	dec := json.NewDecoder(bytes.NewReader(header))
	badJSON := func(err error) error {
		return fmt.Errorf("safetensors header is not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, nil, badJSON(err)
	}
	var (
		metadata map[string]string
		tensors  []*Tensor
		spans    = map[*Tensor][2]uint64{}
		seen     = map[string]bool{}
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, badJSON(err)
		}
		name, _ := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, nil, fmt.Errorf("safetensors header: %q appears twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&metadata); err != nil {
				return nil, nil, fmt.Errorf("safetensors header: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var e headerEntry
		if err := dec.Decode(&e); err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, nil, fmt.Errorf("safetensors header is not valid JSON (in tensor %q): %w", name, err)
			}
			return nil, nil, fmt.Errorf("safetensors header: tensor %q: %w", name, err)
		}
		t, span, err := headerTensor(name, e, uint64(len(body)))
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors header: tensor %q: %w", name, err)
		}
		t.data = body[span[0]:span[1]]
		spans[t] = span
		tensors = append(tensors, t)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, badJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("safetensors header has data after its JSON object")
	}

	// Tensors must not share bytes. Empty tensors occupy none.
	order := slices.Clone(tensors)
	slices.SortFunc(order, func(a, b *Tensor) int {
		return cmp.Or(cmp.Compare(spans[a][0], spans[b][0]), cmp.Compare(spans[a][1], spans[b][1]))
	})
	var prev *Tensor
	for _, t := range order {
		s := spans[t]
		if s[0] == s[1] {
			continue
		}
		if prev != nil && s[0] < spans[prev][1] {
			p := spans[prev]
			return nil, nil, fmt.Errorf("safetensors header: tensor %q (data_offsets [%d, %d]) overlaps tensor %q ([%d, %d])",
				t.Name, s[0], s[1], prev.Name, p[0], p[1])
		}
		prev = t
	}
	return tensors, metadata, nil
}

// headerTensor validates one header entry against a data section of size
// bytes and returns the tensor (without data) and its byte span.
func headerTensor(name string, e headerEntry, size uint64) (*Tensor, [2]uint64, error) {
	var span [2]uint64
	if e.DType == nil {
		return nil, span, errors.New(`missing "dtype"`)
	}
	dt, ok := safetensorsDTypes[*e.DType]
	if !ok {
		return nil, span, fmt.Errorf("unsupported dtype %q", *e.DType)
	}
	if e.Shape == nil {
		return nil, span, errors.New(`missing "shape"`)
	}
	if len(e.DataOffsets) != 2 {
		return nil, span, errors.New(`"data_offsets" must be two numbers`)
	}
	shape := make([]int, len(e.Shape))
	count := uint64(1)
	overflow := false
	for i, d := range e.Shape {
		if d > math.MaxInt {
			overflow = true
		}
		shape[i] = int(d)
		hi, lo := bits.Mul64(count, d)
		if hi != 0 {
			overflow = true
		}
		count = lo
	}
	hi, want := bits.Mul64(count, uint64(dt.Size()))
	if overflow || hi != 0 || want > math.MaxInt {
		return nil, span, fmt.Errorf("shape %v is too large", e.Shape)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin > end {
		return nil, span, fmt.Errorf("data_offsets [%d, %d] end before they begin", begin, end)
	}
	if end-begin != want {
		return nil, span, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, but shape %v of %s needs %d",
			begin, end, end-begin, e.Shape, dt, want)
	}
	if end > size {
		return nil, span, fmt.Errorf("data_offsets [%d, %d] run past the end of the data (%d bytes): file truncated?",
			begin, end, size)
	}
	span = [2]uint64{begin, end}
	return &Tensor{Name: name, DType: dt, Shape: shape}, span, nil
}

// WriteSafetensors atomically writes tensors as float32 to a safetensors
// file at path, with metadata (omitted when empty) as the header's
// "__metadata__".
//
// The layout is the one the format's reference writer produces: tensors in
// name order (all share one dtype), compact JSON with "__metadata__" first
// and each entry's fields in the order dtype, shape, data_offsets, strings
// escaped only where JSON requires it, and the header padded with spaces to
// a multiple of 8 bytes so that the data is aligned. Metadata keys are
// written sorted.
func WriteSafetensors(path string, tensors []NamedTensor, metadata map[string]string) error {
	header, order, err := safetensorsHeader(tensors, metadata)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
		bw.Write(n[:])
		bw.Write(header)
		var buf [4 * 1024]byte
		for _, t := range order {
			for data := t.Data; len(data) > 0; {
				k := min(len(data), len(buf)/4)
				for i, v := range data[:k] {
					binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
				}
				if _, err := bw.Write(buf[:4*k]); err != nil {
					return err
				}
				data = data[k:]
			}
		}
		return bw.Flush()
	})
}

// safetensorsHeader validates tensors and returns the padded JSON header and
// the tensors in data order.
func safetensorsHeader(tensors []NamedTensor, metadata map[string]string) ([]byte, []*NamedTensor, error) {
	order := make([]*NamedTensor, len(tensors))
	for i := range tensors {
		order[i] = &tensors[i]
	}
	slices.SortFunc(order, func(a, b *NamedTensor) int { return cmp.Compare(a.Name, b.Name) })

	var h []byte
	h = append(h, '{')
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, nil, fmt.Errorf("metadata %q is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		h = append(h, `"__metadata__":{`...)
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendJSONString(h, k)
			h = append(h, ':')
			h = appendJSONString(h, metadata[k])
		}
		h = append(h, '}')
	}
	var offset uint64
	for i, t := range order {
		switch {
		case i > 0 && t.Name == order[i-1].Name:
			return nil, nil, fmt.Errorf("tensor %q appears twice", t.Name)
		case t.Name == "__metadata__":
			return nil, nil, errors.New(`"__metadata__" cannot name a tensor`)
		case !utf8.ValidString(t.Name):
			return nil, nil, fmt.Errorf("tensor name %q is not valid UTF-8", t.Name)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			hi, lo := bits.Mul64(uint64(n), uint64(d))
			if hi != 0 || lo > math.MaxInt {
				return nil, nil, fmt.Errorf("tensor %q: shape %v is too large", t.Name, t.Shape)
			}
			n = int(lo)
		}
		if n != len(t.Data) {
			return nil, nil, fmt.Errorf("tensor %q: shape %v needs %d values, data has %d", t.Name, t.Shape, n, len(t.Data))
		}
		if len(h) > 1 {
			h = append(h, ',')
		}
		h = appendJSONString(h, t.Name)
		h = append(h, `:{"dtype":"F32","shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendUint(h, offset, 10)
		offset += 4 * uint64(n)
		h = append(h, ',')
		h = strconv.AppendUint(h, offset, 10)
		h = append(h, "]}"...)
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	return h, order, nil
}

// appendJSONString appends s as a JSON string, escaping only the quote, the
// backslash and control characters, as the reference safetensors writer
// does (no HTML escaping, non-ASCII left as UTF-8).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
