// Package clipckpt opens CLIP checkpoints in the layouts people have and
// presents each as an open_clip model: its tensors under open_clip's names
// and shapes, the architecture the file or its folder states, the image
// preprocessing and tokenizer that come with it.
//
// Layouts read:
//
//   - an open_clip state dict: .safetensors, or a PyTorch zip .pt/.bin
//     (plain, an open_clip training checkpoint, "module." prefixes), with
//     OpenAI's extra entries (attn_mask buffers, input_resolution,
//     context_length, vocab_size) accepted and checked;
//   - an open_clip hub folder: open_clip_config.json ({"model_cfg",
//     "preprocess_cfg"}) beside open_clip_model.safetensors or
//     open_clip_pytorch_model.bin; trak train writes this layout;
//   - a Hugging Face transformers CLIPModel: model.safetensors or
//     pytorch_model.bin beside config.json, with vision_model.* and
//     text_model.* names, separate q/k/v projections and (out, in)
//     projections, presented under open_clip's names without copying;
//   - OpenAI's released TorchScript archives (ViT-B-32.pt), read directly;
//     their activation is QuickGELU.
//
// A folder may be given instead of a file, including a Hugging Face cache
// entry (models--ORG--NAME, whose snapshots/REV/ files link into blobs/).
// A checkpoint of an architecture trak does not compute (ResNet, timm or
// Hugging Face towers, CoCa, SigLIP, ...) is refused with one sentence that
// names it.
package clipckpt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clip"
)

// Layout names, as `trak inspect` prints them.
const (
	LayoutOpenCLIP    = "open_clip state dict"
	LayoutHubFolder   = "open_clip hub folder"
	LayoutHF          = "Hugging Face CLIPModel"
	LayoutTorchScript = "OpenAI TorchScript archive"
)

// Preprocess is the image preprocessing a checkpoint's folder states
// (open_clip's preprocess_cfg, Hugging Face's preprocessor_config.json).
// Zero fields are unstated: the model's image size, CLIP's mean and std,
// bicubic, "shortest".
type Preprocess struct {
	ImageSize     int
	Mean, Std     []float64
	Interpolation string
	ResizeMode    string
	FillColor     *int
	// Source is the file the settings were read from.
	Source string
}

// Checkpoint is an open CLIP checkpoint.
type Checkpoint struct {
	// Path is the file or folder the user gave.
	Path string
	// Weights is the file the tensors are read from.
	Weights string
	// Layout is one of the Layout names.
	Layout string
	// File holds the model's tensors under open_clip's names, and nothing
	// else: entries that are not parameters are in Extras.
	File *checkpoint.File
	// Config is the architecture the file or folder states, nil when only
	// tensor shapes tell it; ConfigSource says where it was read.
	Config       *clip.Config
	ConfigSource string
	// Preprocess is the image preprocessing the folder states, nil if none.
	Preprocess *Preprocess
	// VocabDir is the folder holding the model's own vocab.json and
	// merges.txt, "" when there are none.
	VocabDir string
	// Extras are the stored entries that are not parameters (buffers,
	// bookkeeping), checked by Resolve and otherwise ignored.
	Extras []Extra

	// quickGELU records that the layout implies QuickGELU (OpenAI's
	// archives) without stating a whole architecture.
	quickGELU bool
}

// Extra is a stored entry that is not a model parameter.
type Extra struct {
	Name string
	// Tensor is the entry when it is a tensor, nil for metadata.
	Tensor *checkpoint.Tensor
	// Value is the entry's text when it is a scalar in the file's metadata.
	Value string
}

// Open opens the checkpoint at path: a file, a model folder or a Hugging
// Face cache entry.
func Open(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("checkpoint %s does not exist: check the path given as checkpoint", path)
		}
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if st.IsDir() {
		return openDir(path)
	}
	return openFile(path, path)
}

// Close releases the checkpoint's file.
func (c *Checkpoint) Close() error { return c.File.Close() }

// Names of the files of the folder layouts.
const (
	hubConfigFile    = "open_clip_config.json"
	hfConfigFile     = "config.json"
	hfPreprocessFile = "preprocessor_config.json"
)

var (
	hubWeights = []string{"open_clip_model.safetensors", "open_clip_pytorch_model.bin"}
	hfWeights  = []string{"model.safetensors", "pytorch_model.bin"}
)

// openDir opens a model folder.
func openDir(dir string) (*Checkpoint, error) {
	w, err := folderWeights(dir)
	if err != nil {
		return nil, err
	}
	return openFile(dir, w)
}

// WeightsFile returns the file holding the tensors of the checkpoint at
// path: path itself for a file, the weights file of a model folder or of the
// snapshot a Hugging Face cache entry names.
func WeightsFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("checkpoint %s does not exist: check the path given as checkpoint", path)
		}
		return "", fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if !st.IsDir() {
		return path, nil
	}
	return folderWeights(path)
}

// Digest returns the hex SHA-256 of the checkpoint's weights file (see
// WeightsFile), the identity a store records for it. The architecture and
// preprocessing a folder states are recorded in the store separately.
func Digest(path string) (string, error) {
	w, err := WeightsFile(path)
	if err != nil {
		return "", err
	}
	f, err := os.Open(w)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", w, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// folderWeights returns the weights file of a model folder or cache entry.
func folderWeights(dir string) (string, error) {
	snap, err := snapshotDir(dir)
	if err != nil {
		return "", err
	}
	if snap != "" {
		return folderWeights(snap)
	}
	switch {
	case exists(filepath.Join(dir, hubConfigFile)):
		return firstExisting(dir, hubWeights)
	case exists(filepath.Join(dir, hfConfigFile)):
		if exists(filepath.Join(dir, "model.safetensors.index.json")) || exists(filepath.Join(dir, "pytorch_model.bin.index.json")) {
			return "", fmt.Errorf("%s holds a sharded Hugging Face checkpoint, which trak does not read: save it unsharded (save_pretrained(..., max_shard_size=\"100GB\"))", dir)
		}
		return firstExisting(dir, hfWeights)
	}
	return "", fmt.Errorf("%s is not a model folder: it holds neither %s (open_clip) nor %s (Hugging Face) beside the weights; give the checkpoint file itself", dir, hubConfigFile, hfConfigFile)
}

// snapshotDir returns the snapshot folder to read when dir is a Hugging
// Face cache entry (models--ORG--NAME): the revision refs/main names, or
// the only snapshot. It returns "" for any other folder.
func snapshotDir(dir string) (string, error) {
	snaps := filepath.Join(dir, "snapshots")
	if !strings.HasPrefix(filepath.Base(filepath.Clean(dir)), "models--") || !exists(snaps) {
		return "", nil
	}
	if ref, err := os.ReadFile(filepath.Join(dir, "refs", "main")); err == nil {
		rev := strings.TrimSpace(string(ref))
		p := filepath.Join(snaps, rev)
		if rev != "" && !strings.ContainsAny(rev, `/\`) && exists(p) {
			return p, nil
		}
	}
	entries, err := os.ReadDir(snaps)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", snaps, err)
	}
	var revs []string
	for _, e := range entries {
		if e.IsDir() {
			revs = append(revs, e.Name())
		}
	}
	switch len(revs) {
	case 1:
		return filepath.Join(snaps, revs[0]), nil
	case 0:
		return "", fmt.Errorf("%s has no snapshots: the download did not finish; download the model again", dir)
	}
	return "", fmt.Errorf("%s holds %d revisions (%s) and refs/main names none of them: give the one to use, e.g. %s",
		dir, len(revs), strings.Join(revs, ", "), filepath.Join(snaps, revs[0]))
}

// openFile opens the weights file w; given is what the user named.
func openFile(given, w string) (*Checkpoint, error) {
	f, err := checkpoint.Open(w)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Path: given, Weights: w, File: f}
	if err := c.recognise(); err != nil {
		f.Close()
		if c.File != f {
			c.File.Close()
		}
		return nil, err
	}
	return c, nil
}

// recognise tells the layout from the tensor names and reads what the
// folder around the weights states.
func (c *Checkpoint) recognise() error {
	dir := filepath.Dir(c.Weights)
	if exists(filepath.Join(dir, "vocab.json")) && exists(filepath.Join(dir, "merges.txt")) {
		c.VocabDir = dir
	}
	names := c.File.Names()
	if arch := clip.UnsupportedTensors(names); arch != "" {
		return fmt.Errorf("%s holds %s: %s", c.Weights, arch, clip.Supported)
	}
	switch {
	case c.File.Format == checkpoint.FormatTorchScript:
		c.Layout = LayoutTorchScript
		return c.openAI()
	case isHFNames(names):
		c.Layout = LayoutHF
		return c.huggingFace(dir)
	}
	c.Layout = LayoutOpenCLIP
	if p := filepath.Join(dir, hubConfigFile); exists(p) {
		if err := c.hubConfig(p); err != nil {
			return err
		}
		if slices.Contains(hubWeights, filepath.Base(c.Weights)) {
			c.Layout = LayoutHubFolder
		}
	}
	return c.splitExtras()
}

// exists reports whether path names an existing file or folder (following
// links, as a Hugging Face snapshot's files are links into blobs/).
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// firstExisting returns the first of names that exists in dir.
func firstExisting(dir string, names []string) (string, error) {
	for _, n := range names {
		if p := filepath.Join(dir, n); exists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s has no weights file: expected %s", dir, strings.Join(names, " or "))
}
