package checkpoint

import (
	"archive/zip"
	"fmt"
	"math/big"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
)

// A TorchScript archive (torch.jit.save, as OpenAI's released CLIP models
// are) is a zip like torch.save's, but its data.pkl pickles the module
// tree itself: each module is an object of a class named "__torch__.<Python
// module>.<class>", built from a dict of its attributes, whose values are
// tensors (parameters and buffers, stored through persistent ids exactly as
// torch.save stores them), submodules, and plain values (ints, floats,
// bools, strings, None, typed lists). The classes' code lies in code/ as
// TorchScript source; none of it is read. Each class becomes an inert holder
// of the attribute dict, and the tree is walked to name every tensor by its
// attribute path, which is what state_dict() names it.

// Bounds on the module tree, far above what any model needs (a ViT-L/14
// CLIP has about 400 tensors nested 6 modules deep), so that a crafted
// pickle which shares one object under many attributes cannot make the walk
// take exponential time, nor a deep nesting exhaust the stack.
// The attribute paths of all tensors and plain values together are bounded
// too: a long attribute name reused under every module of a deep tree
// would otherwise make paths of gigabytes.
const (
	maxScriptAttributes = 1 << 18
	maxScriptDepth      = 256
	maxScriptPathBytes  = 16 << 20
)

// scriptClass is a TorchScript class, "__torch__.*", named in data.pkl.
// Instantiating it runs no code: it yields an empty scriptObject.
type scriptClass struct{ name string }

// PyNew stands for cls.__new__(cls), which is how TorchScript's pickler
// creates objects (EMPTY_TUPLE NEWOBJ): with no arguments.
func (c *scriptClass) PyNew(args ...any) (any, error) {
	if len(args) != 0 {
		return nil, fmt.Errorf("TorchScript class %s created with %d arguments, expected none", c.name, len(args))
	}
	return &scriptObject{class: c.name}, nil
}

// scriptObject is an object of a TorchScript class: a module, or an
// instance of a scripted class. Its state is what BUILD gave it, for a
// module the dict of its attributes; the walk checks its type.
type scriptObject struct {
	class string
	state any
	built bool
}

// PySetState stands for BUILD, recording the state without interpreting
// it.
func (o *scriptObject) PySetState(state any) error {
	if o.built {
		return fmt.Errorf("TorchScript object of class %s is built twice", o.class)
	}
	o.state, o.built = state, true
	return nil
}

// listBuilder stands for the functions of torch.jit._pickle that older
// TorchScript archives wrap typed lists in (build_intlist(list), ...): each
// returns its list unchanged.
type listBuilder struct{ name string }

func (b listBuilder) Call(args ...any) (any, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("torch.jit._pickle.%s takes 1 argument, got %d", b.name, len(args))
	}
	if _, ok := args[0].(*types.List); !ok {
		return nil, fmt.Errorf("torch.jit._pickle.%s: argument is %s, not a list", b.name, pyType(args[0]))
	}
	return args[0], nil
}

// restoreTypeTag stands for torch.jit._pickle.restore_type_tag(value,
// type_str), which attaches a static type to a list or dict: the value is
// returned unchanged.
type restoreTypeTag struct{}

func (restoreTypeTag) Call(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("torch.jit._pickle.restore_type_tag takes 2 arguments, got %d", len(args))
	}
	return args[0], nil
}

// findScriptClass extends findClass with what a TorchScript data.pkl
// names besides tensors: its own classes and the typed-container helpers.
func findScriptClass(module, name string) (any, error) {
	if module == "__torch__" || strings.HasPrefix(module, "__torch__.") {
		return &scriptClass{name: short(module + "." + name)}, nil
	}
	if module == "torch.jit._pickle" {
		switch name {
		case "build_intlist", "build_doublelist", "build_boollist", "build_tensorlist":
			return listBuilder{name: name}, nil
		case "restore_type_tag":
			return restoreTypeTag{}, nil
		}
	}
	return findClass(module, name)
}

// isTorchScriptArchive reports whether the records (names relative to the
// archive's folder) are laid out as torch.jit.save writes them: with the
// pickled constants or the TorchScript code beside data.pkl.
func isTorchScriptArchive(records map[string]*zip.File) bool {
	if _, ok := records["constants.pkl"]; ok {
		return true
	}
	for name := range records {
		if strings.HasPrefix(name, "code/") {
			return true
		}
	}
	return false
}

// moduleWalk collects the tensors and plain attributes of a module tree.
type moduleWalk struct {
	entries []entry
	meta    map[string]string
	// enclosing holds the objects from the root down to the one being
	// walked, to refuse an attribute that refers back to one of them.
	enclosing map[*scriptObject]bool
	visited   int
	// pathBytes is the total length of the paths made so far.
	pathBytes int
}

// moduleTree walks the TorchScript module root: every tensor-valued
// attribute becomes an entry named by its dotted attribute path from the
// root, as state_dict() names it, and every plain int, float, bool or
// string attribute a metadata entry under its path. None values, the
// modules' "training" flags and other attributes whose names start with an
// underscore (PyTorch's bookkeeping: hooks, cached flags) are skipped.
func moduleTree(root *scriptObject) ([]entry, map[string]string, error) {
	w := &moduleWalk{enclosing: map[*scriptObject]bool{}}
	if err := w.module(root, "", 0); err != nil {
		return nil, nil, err
	}
	return w.entries, w.meta, nil
}

// module walks the attributes of obj, found at path ("" for the root).
func (w *moduleWalk) module(obj *scriptObject, path string, depth int) error {
	where := describePath(path)
	if depth > maxScriptDepth {
		return fmt.Errorf("%s: modules nested more than %d deep", where, maxScriptDepth)
	}
	if !obj.built {
		return fmt.Errorf("%s: object of class %s has no attributes (never built)", where, obj.class)
	}
	items, ok := dictItems(obj.state)
	if !ok {
		return fmt.Errorf("%s: object of class %s holds %s, not a dict of attributes "+
			"(only modules and plain scripted classes are read)", where, obj.class, pyType(obj.state))
	}
	w.enclosing[obj] = true
	defer delete(w.enclosing, obj)
	for _, it := range items {
		if w.visited++; w.visited > maxScriptAttributes {
			return fmt.Errorf("module tree has more than %d attributes", maxScriptAttributes)
		}
		key, ok := it[0].(string)
		if !ok {
			return fmt.Errorf("%s: attribute name %s is %s, not a string", where, short(fmt.Sprint(it[0])), pyType(it[0]))
		}
		if w.pathBytes += len(path) + 1 + len(key); w.pathBytes > maxScriptPathBytes {
			return fmt.Errorf("%s: attribute paths take more than %d bytes", where, maxScriptPathBytes)
		}
		if err := w.attribute(joinPath(path, key), key, it[1], depth); err != nil {
			return err
		}
	}
	return nil
}

// attribute files the value of attribute key, found at path.
func (w *moduleWalk) attribute(path, key string, v any, depth int) error {
	switch x := v.(type) {
	case *pickledTensor:
		w.entries = append(w.entries, entry{path, x})
		return nil
	case *scriptObject:
		if w.enclosing[x] {
			return fmt.Errorf("attribute %s refers back to a module that contains it", short(path))
		}
		return w.module(x, path, depth+1)
	case nil:
		return nil
	}
	if text, ok := scalarText(v); ok {
		if !isBookkeeping(key) {
			if w.meta == nil {
				w.meta = map[string]string{}
			}
			w.meta[path] = text
		}
		return nil
	}
	if isContainer(v) {
		// A typed list or dict of plain values (a Conv2d's padding, say)
		// says nothing a state dict would hold; one holding tensors or
		// modules does, but state_dict() has no name for them.
		if what := w.firstNonPlain(v, 0); what != "" {
			return fmt.Errorf("attribute %s is %s holding %s, which has no state-dict name", short(path), pyType(v), what)
		}
		return nil
	}
	return fmt.Errorf("attribute %s is %s, not a tensor, module or plain value", short(path), pyType(v))
}

// isBookkeeping reports whether a plain attribute is PyTorch's own state
// rather than a property of the model: the training flag and private
// (underscore) attributes.
func isBookkeeping(key string) bool {
	return key == "training" || strings.HasPrefix(key, "_")
}

func isContainer(v any) bool {
	switch v.(type) {
	case *types.List, *types.Tuple, *types.Dict, *types.OrderedDict:
		return true
	}
	return false
}

// firstNonPlain describes the first value inside the container v that is
// not a plain value or a container of them ("a tensor", "a module"), or
// returns "" when there is none.
func (w *moduleWalk) firstNonPlain(v any, depth int) string {
	if depth > maxScriptDepth {
		return "containers nested too deep"
	}
	var elems []any
	switch x := v.(type) {
	case *types.List:
		elems = *x
	case *types.Tuple:
		elems = *x
	case *types.Dict, *types.OrderedDict:
		items, _ := dictItems(x)
		for _, it := range items {
			elems = append(elems, it[0], it[1])
		}
	}
	for _, e := range elems {
		if w.visited++; w.visited > maxScriptAttributes {
			return "more than the allowed number of values"
		}
		switch e.(type) {
		case nil, int, *big.Int, float64, string, bool, []byte:
			continue
		case *pickledTensor:
			return "a tensor"
		case *scriptObject:
			return "a module"
		}
		if !isContainer(e) {
			return pyType(e)
		}
		if what := w.firstNonPlain(e, depth+1); what != "" {
			return what
		}
	}
	return ""
}

// joinPath appends key to a dotted attribute path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describePath names a module by its attribute path for an error message.
func describePath(path string) string {
	if path == "" {
		return "root module"
	}
	return "module " + short(path)
}
