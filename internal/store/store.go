// Package store lays out a trak store on disk and keeps it consistent.
//
// A store is a directory of JSON metadata and NumPy .npy arrays (see the
// README for the layout). Its rules: JSON files are replaced atomically; a
// row's completion flag is set only after the row's data is flushed to disk;
// a store made with one k, projector, seed, train set or model configuration
// refuses work with another; and separate processes may fill disjoint rows of
// the same arrays at the same time without locks on the data.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trak-dev/trak/internal/atomicfile"
)

// FormatVersion is the version of the store layout this code reads and writes.
const FormatVersion = 1

// Metadata is the content of metadata.json: what every array of the store
// depends on. Two runs may share a store only if their Metadata agree on
// every field but ToolVersion.
type Metadata struct {
	FormatVersion    int    `json:"format_version"`
	ToolVersion      string `json:"tool_version"`
	Task             string `json:"task"`
	ModelConfigHash  string `json:"model_config_hash"`
	NumParams        int64  `json:"num_params"`
	TrainSize        int    `json:"train_size"`
	TrainFingerprint string `json:"train_fingerprint"`
	// TrainData is where the train set was read from, for people and for
	// `trak top`; the fingerprint, not the path, decides compatibility.
	TrainData string `json:"train_data"`
	// DataColumns records how data sets are read (format, image_column,
	// caption_column), so that `trak top` can describe examples.
	DataColumns map[string]string `json:"data_columns,omitempty"`
	// ImageTransform is how the train images became model inputs (CLIP:
	// imageprep.Transform.String, e.g. "native shortest bicubic 224
	// mean=… std=…"); empty for tasks without images.
	ImageTransform string `json:"image_transform,omitempty"`
	Projector      string `json:"projector"`
	K              int    `json:"k"`
	// S is the number of non-zeros per row of an sjlt projection
	// (projector.s), and 0 (absent from the file) for the other projectors,
	// which do not have it, so stores made before it was recorded, all of
	// them rademacher, normal or none, read as they should.
	S             int    `json:"s,omitempty"`
	Seed          int64  `json:"seed"`
	FeaturesDType string `json:"features_dtype"`
	CLIPSettings
}

// CheckTrainFingerprint reports an error when fp, the fingerprint of the
// train data as it is now, is not the one it was featurized with.
func (m Metadata) CheckTrainFingerprint(fp string) error {
	if fp != m.TrainFingerprint {
		return fmt.Errorf("%s changed since it was featurized (its fingerprint differs): restore it", m.TrainData)
	}
	return nil
}

// CLIPSettings are the CLIP settings, beyond the ones every task has, that
// change a computed number. featurize records them; score and top use the
// recorded values (a run that sets another value is refused), so that a
// store scores the same from its save_dir alone. All are empty in stores
// made before they were recorded.
type CLIPSettings struct {
	// ModelConfig is the architecture featurize used, in open_clip's JSON
	// (its hash is ModelConfigHash).
	ModelConfig json.RawMessage `json:"model_config,omitempty"`
	// SimBatchSize is the number of negatives of the model-output function.
	SimBatchSize int `json:"sim_batch_size,omitempty"`
	// Tokenizer identifies the vocabulary (tokenizer.Tokenizer.Identity, a
	// digest of its tokens, merges and special tokens); VocabDir is the
	// folder it was read from, "" for the built-in one or the checkpoint
	// folder's.
	Tokenizer string `json:"tokenizer,omitempty"`
	VocabDir  string `json:"vocab_dir,omitempty"`
}

// Store is an open store directory.
type Store struct {
	Dir  string
	Meta Metadata
}

const metadataFile = "metadata.json"

// Create opens the store in dir for work described by want, creating the
// directory and its metadata.json if they do not exist. An existing store
// whose metadata differs from want is an error that names each field that
// differs.
func Create(dir string, want Metadata) (*Store, error) {
	want.FormatVersion = FormatVersion
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create store: %w", err)
	}
	path := filepath.Join(dir, metadataFile)
	data, err := encodeMetadata(want)
	if err != nil {
		return nil, err
	}
	err = atomicfile.CreateNew(path, 0o644, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if err == nil {
		return &Store{Dir: dir, Meta: want}, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create store: %w", err)
	}
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	if err := s.Check(want); err != nil {
		return nil, err
	}
	return s, nil
}

// Open opens an existing store.
func Open(dir string) (*Store, error) {
	path := filepath.Join(dir, metadataFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(dir); statErr != nil {
			return nil, fmt.Errorf("no store at %s: run `trak featurize` first, or check save_dir", dir)
		}
		return nil, fmt.Errorf("%s is not a trak store (no %s): run `trak featurize` first, or check save_dir", dir, metadataFile)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	var m Metadata
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("open store: %s is corrupt (%v); move the store aside and featurize again", path, err)
	}
	if m.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("open store %s: format version %d, this trak reads version %d", dir, m.FormatVersion, FormatVersion)
	}
	if err := checkSettings(path, raw); err != nil {
		return nil, err
	}
	removeStaleTemps(dir)
	return &Store{Dir: dir, Meta: m}, nil
}

// MismatchError reports the metadata fields on which a store and a run
// disagree.
type MismatchError struct {
	Dir    string
	Fields []FieldMismatch
}

// FieldMismatch is one disagreeing field.
type FieldMismatch struct {
	Field       string // name in metadata.json
	Store, Want string
	Fix         string // the config key that sets it
}

func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "store %s was made for a different run:", e.Dir)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: store has %s, this run has %s", f.Field, f.Store, f.Want)
		if f.Fix != "" {
			fmt.Fprintf(&b, " (set by %s)", f.Fix)
		}
	}
	b.WriteString("\nuse a new save_dir for the new run, or restore the settings the store was made with")
	return b.String()
}

// Check compares the store's metadata with want, field by field.
func (s *Store) Check(want Metadata) error {
	have := s.Meta
	var diffs []FieldMismatch
	add := func(field string, a, b any, fix string) {
		if a != b {
			diffs = append(diffs, FieldMismatch{Field: field, Store: fmt.Sprint(a), Want: fmt.Sprint(b), Fix: fix})
		}
	}
	add("task", have.Task, want.Task, "task")
	add("model_config_hash", have.ModelConfigHash, want.ModelConfigHash, "the checkpoint's architecture")
	add("num_params", have.NumParams, want.NumParams, "the checkpoint's architecture")
	// The fingerprint covers the rows' content (captions, image bytes): name
	// the files, since a changed image leaves the data set file as it was.
	trainFix := "train_data"
	if want.TrainData != "" {
		trainFix = fmt.Sprintf("train_data: the content of %s or of the images it names differs from the train set the store was made from (%s)", want.TrainData, have.TrainData)
	}
	add("train_size", have.TrainSize, want.TrainSize, trainFix)
	add("train_fingerprint", have.TrainFingerprint, want.TrainFingerprint, trainFix)
	if !(have.ImageTransform == "" && isLegacyImageTransform(want.ImageTransform)) {
		add("image_transform", quoted(have.ImageTransform), quoted(want.ImageTransform), "image_mode, exif_transpose, and the model's image settings")
	}
	// Settings a store made before they were recorded lacks are not
	// compared (nothing tells what they were).
	if have.SimBatchSize != 0 {
		add("sim_batch_size", have.SimBatchSize, want.SimBatchSize, "sim_batch_size")
	}
	if have.Tokenizer != "" {
		add("tokenizer", have.Tokenizer, want.Tokenizer, "vocab_dir, or the vocab.json and merges.txt beside the checkpoint")
	}
	add("projector", have.Projector, want.Projector, "projector.type")
	add("k", have.K, want.K, "projector.dim")
	add("s", have.S, want.S, "projector.s")
	add("seed", have.Seed, want.Seed, "projector.seed")
	add("features_dtype", have.FeaturesDType, want.FeaturesDType, "features_dtype")
	if len(diffs) > 0 {
		return &MismatchError{Dir: s.Dir, Fields: diffs}
	}
	return nil
}

// isLegacyImageTransform reports whether t is the transform every CLIP
// store got before image_transform was recorded (EXIF orientation applied,
// convert to RGB, then open_clip's default transform), so that such a
// store, which lacks the field, stays usable with image_mode: rgb and
// exif_transpose: true.
func isLegacyImageTransform(t string) bool {
	return strings.HasPrefix(t, "rgb shortest bicubic ") &&
		strings.HasSuffix(t, " mean=0.48145466,0.4578275,0.40821073 std=0.26862954,0.26130258,0.27577711 exif_transpose=true")
}

// quoted shows a string field in a mismatch, "(none)" when empty.
func quoted(s string) string {
	if s == "" {
		return "(none)"
	}
	return strconv.Quote(s)
}
