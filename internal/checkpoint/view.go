package checkpoint

import (
	"fmt"
	"slices"
)

// Some checkpoint layouts store a model's parameters under other names or
// in other layouts than the model defines them: Hugging Face's CLIPModel
// keeps the query, key and value projections apart where open_clip has one
// stacked in_proj_weight, and stores projections as (out, in) where open_clip
// multiplies by (in, out). The functions below describe such parameters as
// tensors derived from the stored ones, without copying any data, so that a
// model loader sees one File under its own names and every reader (Check,
// Float32s, inspection) works unchanged.

// Renamed returns t under another name. The result belongs to no File until
// View takes it.
func (t *Tensor) Renamed(name string) *Tensor {
	c := *t
	c.Name = name
	c.Shape = slices.Clone(t.shape)
	return &c
}

// Transposed returns the transpose of the 2-D tensor t under name, read
// through strides.
func (t *Tensor) Transposed(name string) (*Tensor, error) {
	if len(t.shape) != 2 {
		return nil, fmt.Errorf("transpose %s: shape %s is not 2-D", t.Name, FormatShape(t.shape))
	}
	if t.parts != nil {
		return nil, fmt.Errorf("transpose %s: a concatenated tensor cannot be transposed", t.Name)
	}
	c := *t
	c.Name = name
	c.shape = []int{t.shape[1], t.shape[0]}
	c.Shape = slices.Clone(c.shape)
	if t.strides == nil {
		c.strides = []int{1, t.shape[1]}
	} else {
		c.strides = []int{t.strides[1], t.strides[0]}
	}
	return &c, nil
}

// Concat returns the tensor called name whose elements are those of parts
// one after the other: their concatenation along the first dimension. The
// parts must agree on every other dimension and on the element type.
func Concat(name string, parts ...*Tensor) (*Tensor, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("concatenate %s: no parts", name)
	}
	first := parts[0]
	if len(first.shape) == 0 {
		return nil, fmt.Errorf("concatenate %s: %s is a scalar", name, first.Name)
	}
	shape := slices.Clone(first.shape)
	shape[0] = 0
	for _, p := range parts {
		if len(p.shape) != len(shape) || !slices.Equal(p.shape[1:], shape[1:]) {
			return nil, fmt.Errorf("concatenate %s: %s has shape %s, %s has %s",
				name, first.Name, FormatShape(first.shape), p.Name, FormatShape(p.shape))
		}
		if p.DType != first.DType {
			return nil, fmt.Errorf("concatenate %s: %s is %s, %s is %s", name, first.Name, first.DType, p.Name, p.DType)
		}
		shape[0] += p.shape[0]
	}
	t := &Tensor{Name: name, DType: first.DType, Shape: shape, shape: slices.Clone(shape), parts: slices.Clone(parts)}
	t.count = t.Len()
	return t, nil
}

// View returns a File that holds exactly tensors, each either a tensor of f
// or derived from f's tensors by Renamed, Transposed or Concat, under their
// names; format names the layout they were read from. f's metadata is
// shared. Closing the view closes f; f must not be used on its own
// afterwards.
func (f *File) View(format string, tensors []*Tensor) (*File, error) {
	v := &File{Path: f.Path, Format: format, Metadata: f.Metadata, unmap: func([]byte) error { return f.Close() }}
	own := make([]*Tensor, len(tensors))
	for i, t := range tensors {
		c := *t
		c.Shape = slices.Clone(t.shape)
		own[i] = &c
	}
	if err := v.indexAs(own); err != nil {
		return nil, fmt.Errorf("view of %s: %w", f.Path, err)
	}
	return v, nil
}

// indexAs builds the lookup table of a view: names are kept as given.
func (f *File) indexAs(tensors []*Tensor) error {
	f.tensors = make(map[string]*Tensor, len(tensors))
	f.names = make([]string, 0, len(tensors))
	for _, t := range tensors {
		if _, dup := f.tensors[t.Name]; dup {
			return fmt.Errorf("tensor %q appears twice", t.Name)
		}
		t.file = f
		t.count = t.Len()
		f.tensors[t.Name] = t
		f.names = append(f.names, t.Name)
	}
	slices.Sort(f.names)
	return nil
}
