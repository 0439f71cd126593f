package clip

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/trak-dev/trak/internal/backend"
	clipmodel "github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/clipckpt"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/featurize"
	"github.com/trak-dev/trak/internal/imageprep"
	"github.com/trak-dev/trak/internal/store"
	"github.com/trak-dev/trak/internal/tokenizer"
)

// Setup is what a CLIP run reads besides the store: the model and data.
type Setup struct {
	ModelConfig *clipmodel.Config // nil: inferred from the checkpoint
	Data        dataset.Spec
	VocabDir    string
	MaxPixels   int64
	Workers     int // threads that read and decode the data
	// Backend runs the model; the command opens it once (one place picks
	// the device) and every checkpoint of the run shares it.
	Backend  backend.Backend
	SimBatch int
	Seed     int64 // projector.seed, also the negatives' seed
	// Transform is the template of the image transform (ImageTransform
	// completes it per data set). Zero fields take open_clip's defaults:
	// Size 0 the model's image size, zero Mean and Std CLIP's, empty
	// Interpolation and ResizeMode bicubic and shortest. Mode is the
	// image_mode key: native, rgb, or "auto"/"" to choose per data set by
	// its format. A model folder's preprocess_cfg sets Mean, Std,
	// Interpolation, ResizeMode and FillColor here.
	Transform imageprep.Transform
}

// OpenModel loads a checkpoint (a file or a model folder in any layout
// clipckpt reads) onto s.Backend. It returns s completed by what the
// checkpoint states: its folder's image preprocessing, and its vocabulary
// unless vocab_dir is set.
func (s Setup) OpenModel(path string) (*clipmodel.Model, Setup, error) {
	c, err := clipckpt.Open(path)
	if err != nil {
		return nil, s, err
	}
	defer c.Close()
	cfg, s, err := s.resolve(c)
	if err != nil {
		return nil, s, err
	}
	if s.Backend == nil {
		return nil, s, errors.New("clip task: no compute backend was given to run the model on")
	}
	m, err := clipmodel.Load(s.Backend, c.File, &cfg)
	if err != nil {
		return nil, s, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return m, s, nil
}

// ModelConfigOf returns the architecture of the checkpoint at path and s
// completed as OpenModel completes it, without loading the weights.
func (s Setup) ModelConfigOf(path string) (clipmodel.Config, Setup, error) {
	c, err := clipckpt.Open(path)
	if err != nil {
		return clipmodel.Config{}, s, err
	}
	defer c.Close()
	return s.resolve(c)
}

// resolve returns the architecture of checkpoint c and s completed with
// the settings c states.
func (s Setup) resolve(c *clipckpt.Checkpoint) (clipmodel.Config, Setup, error) {
	cfg, err := c.Resolve(s.ModelConfig)
	if err != nil {
		return cfg, s, err
	}
	s, err = s.withCheckpoint(c, cfg)
	return cfg, s, err
}

// withCheckpoint returns s with the settings checkpoint c states for a
// model of configuration cfg.
func (s Setup) withCheckpoint(c *clipckpt.Checkpoint, cfg clipmodel.Config) (Setup, error) {
	if s.VocabDir == "" {
		s.VocabDir = c.VocabDir
	}
	p := c.Preprocess
	if p == nil {
		return s, nil
	}
	if p.ImageSize != 0 && p.ImageSize != cfg.Vision.ImageSize {
		return s, fmt.Errorf("%s gives image size %d, the model's image tower takes %d: fix the file", p.Source, p.ImageSize, cfg.Vision.ImageSize)
	}
	if p.Mean != nil {
		s.Transform.Mean = [3]float64(p.Mean)
	}
	if p.Std != nil {
		s.Transform.Std = [3]float64(p.Std)
	}
	if (p.Mean == nil) != (p.Std == nil) {
		def := imageprep.DefaultTransform(cfg.Vision.ImageSize)
		if p.Mean == nil {
			s.Transform.Mean = def.Mean
		} else {
			s.Transform.Std = def.Std
		}
	}
	if p.Interpolation != "" {
		s.Transform.Interpolation = p.Interpolation
	}
	if p.ResizeMode != "" {
		s.Transform.ResizeMode = p.ResizeMode
	}
	if p.FillColor != nil {
		s.Transform.FillColor = *p.FillColor
	}
	t := s.Transform
	t.Size = cfg.Vision.ImageSize
	if t.Mode == "" || t.Mode == ImageModeAuto {
		t.Mode = imageprep.ModeNative
	}
	if t.Interpolation == "" {
		t.Interpolation = imageprep.InterpolationBicubic
	}
	if t.ResizeMode == "" {
		t.ResizeMode = imageprep.ResizeShortest
	}
	if err := t.Validate(); err != nil {
		return s, fmt.Errorf("%s: %w", p.Source, err)
	}
	return s, nil
}

// OpenData opens a data set for a model of configuration cfg.
func (s Setup) OpenData(spec dataset.Spec, cfg clipmodel.Config) (*Data, error) {
	ds, err := dataset.Open(spec)
	if err != nil {
		return nil, err
	}
	return s.NewData(ds, cfg)
}

// NewData pairs an open data set with the tokenizer and image settings of
// a model of configuration cfg.
func (s Setup) NewData(ds *dataset.Dataset, cfg clipmodel.Config) (*Data, error) {
	tok, err := tokenizer.Open(s.VocabDir)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > cfg.Text.VocabSize {
		return nil, fmt.Errorf("the tokenizer has %d ids, the model's vocabulary %d: set vocab_dir to the model's own vocabulary", tok.VocabSize(), cfg.Text.VocabSize)
	}
	tr, err := s.ImageTransform(ds.Format(), cfg)
	if err != nil {
		return nil, err
	}
	return &Data{DS: ds, Tok: tok, Cfg: cfg, Transform: tr, MaxPixels: s.MaxPixels, Workers: s.Workers}, nil
}

// sized stands in for the Examples until the embedding table exists.
type sized struct {
	n int
	p int64
}

func (s sized) Len() int         { return s.n }
func (s sized) NumParams() int64 { return s.p }
func (s sized) Gradients(context.Context, []int, featurize.GradSink, []float32) error {
	return errors.New("clip task: examples used before the embedding table was built")
}

// TrainJob returns the featurize job of one CLIP checkpoint's train set:
// the embedding table first (resumable, shared by shards), then the
// projected gradients of f and Q for the shard's rows.
// Progress goes to base.Progress.
func (s Setup) TrainJob(base featurize.TrainJob, skip bool) (featurize.TrainJob, error) {
	m, s, err := s.OpenModel(base.Checkpoint)
	if err != nil {
		return base, err
	}
	data, err := s.OpenData(s.Data, m.Config)
	if err != nil {
		return base, err
	}
	base.Examples = sized{n: data.DS.Len(), p: m.NumParams()}
	base.Digest = clipckpt.Digest
	base.ConfigHash = m.Config.Hash()
	base.DataFingerprint = data.DS.Fingerprint()
	base.ImageTransform = data.Transform.String()
	if base.CLIP, err = s.settings(m.Config, data); err != nil {
		return base, err
	}
	base.Before = func(ctx context.Context, st *store.Store) (featurize.Examples, error) {
		t, err := st.Table(base.ModelID, m.Config.EmbedDim)
		if err != nil {
			return nil, err
		}
		from, _ := base.Shard.Range(data.DS.Len())
		desc := fmt.Sprintf("embed train set, model %d", base.ModelID)
		if err := EmbedTable(ctx, m, data, t, from, base.BatchSize, skip, base.Progress, desc); err != nil {
			return nil, err
		}
		return s.examples(m, data, t, base.ModelID, true), nil
	}
	return base, nil
}

// examples builds the featurize Examples over a finished table.
func (s Setup) examples(m *clipmodel.Model, data *Data, t *store.Table, modelID int, train bool) *Examples {
	image, text := t.Data()
	tab := Table{Image: image, Text: text, N: len(image) / m.Config.EmbedDim, Dim: m.Config.EmbedDim}
	return &Examples{
		Model:       m,
		Data:        data,
		Table:       tab,
		Sampler:     NewSampler(s.Seed, modelID, tab.N, s.SimBatch).Restrict(t.Good()),
		Train:       train,
		Temperature: m.LogitScale(),
	}
}

// TargetExamples returns the targets of an experiment as Examples for
// checkpoint modelID, with negatives from that checkpoint's train table.
// The targets data set is opened once by the caller and shared by every
// checkpoint.
func (s Setup) TargetExamples(st *store.Store, modelID int, checkpointPath string, targets *dataset.Dataset) (featurize.Examples, error) {
	m, s, err := s.OpenModel(checkpointPath)
	if err != nil {
		return nil, err
	}
	data, err := s.NewData(targets, m.Config)
	if err != nil {
		return nil, err
	}
	if err := sameTransform(st.Meta.ImageTransform, data.Transform); err != nil {
		return nil, err
	}
	if h := m.Config.Hash(); h != st.Meta.ModelConfigHash {
		return nil, fmt.Errorf("model %d: checkpoint %s resolves to architecture %s, the store was featurized with %s: leave model_config unset to use the recorded one, or give the one featurize used", modelID, checkpointPath, short(h), short(st.Meta.ModelConfigHash))
	}
	if want := st.Meta.Tokenizer; want != "" && data.Tok.Identity() != want {
		return nil, fmt.Errorf("model %d: the vocabulary differs from the one the train set was featurized with (%s, read from %s): leave vocab_dir unset to use the recorded one", modelID, short(want), vocabSource(st.Meta.VocabDir))
	}
	t, err := st.Table(modelID, m.Config.EmbedDim)
	if err != nil {
		return nil, err
	}
	if n := len(t.Pending()); n > 0 {
		t.Close()
		return nil, fmt.Errorf("model %d: %d train rows have no embeddings: run `trak featurize --model-id %d` again", modelID, n, modelID)
	}
	return s.examples(m, data, t, modelID, false), nil
}

// sameTransform checks that targets are preprocessed as the train set was
// (train, the store's image_transform; "" in stores older than the field):
// everything but the image mode, which is chosen per data set and recorded
// per experiment.
func sameTransform(train string, targets imageprep.Transform) error {
	if train == "" {
		return nil
	}
	want, err := imageprep.ParseTransform(train)
	if err != nil {
		return fmt.Errorf("image_transform recorded in the store's metadata.json: %w", err)
	}
	want.Mode = targets.Mode
	if want != targets {
		_, w, _ := strings.Cut(want.String(), " ")
		_, g, _ := strings.Cut(targets.String(), " ")
		return fmt.Errorf("the targets would be preprocessed as %q, the train set was featurized with %q (apart from the image mode): set exif_transpose, and give the checkpoints' image settings, as when featurizing", g, w)
	}
	return nil
}

// settings returns the CLIP settings a store records for features of a
// model of configuration cfg over data.
func (s Setup) settings(cfg clipmodel.Config, data *Data) (store.CLIPSettings, error) {
	out := store.CLIPSettings{ModelConfig: cfg.JSON(), SimBatchSize: s.SimBatch, Tokenizer: data.Tok.Identity()}
	if s.VocabDir != "" {
		abs, err := filepath.Abs(s.VocabDir)
		if err != nil {
			return out, err
		}
		out.VocabDir = abs
	}
	return out, nil
}

// Recorded returns s with the settings a store recorded where the run did
// not set them (set reports which config keys the run set), and an error
// naming the key when the run set a value that contradicts the record.
// Stores made before a setting was recorded leave it as the run has it.
func (s Setup) Recorded(m store.Metadata, set func(key string) bool) (Setup, error) {
	conflict := func(key string, store, run any) error {
		return fmt.Errorf("%s: the store was featurized with %v, this run sets %v: remove %s from the run's settings (the store's value is used), or featurize into a new save_dir", key, store, run, key)
	}
	if len(m.ModelConfig) > 0 {
		cfg, err := clipmodel.ParseConfig(m.ModelConfig)
		if err != nil {
			return s, fmt.Errorf("model_config recorded in the store's metadata.json: %w", err)
		}
		switch {
		case !set("model_config"):
			s.ModelConfig = &cfg
		case s.ModelConfig != nil && s.ModelConfig.Hash() != m.ModelConfigHash:
			return s, conflict("model_config", "architecture "+short(m.ModelConfigHash), "architecture "+short(s.ModelConfig.Hash()))
		}
	}
	if m.SimBatchSize != 0 {
		if set("sim_batch_size") && s.SimBatch != m.SimBatchSize {
			return s, conflict("sim_batch_size", m.SimBatchSize, s.SimBatch)
		}
		s.SimBatch = m.SimBatchSize
	}
	if !set("vocab_dir") && m.VocabDir != "" {
		s.VocabDir = m.VocabDir
	}
	if m.ImageTransform != "" {
		t, err := imageprep.ParseTransform(m.ImageTransform)
		if err != nil {
			return s, fmt.Errorf("image_transform recorded in the store's metadata.json: %w", err)
		}
		if set("exif_transpose") && s.Transform.ExifTranspose != t.ExifTranspose {
			return s, conflict("exif_transpose", t.ExifTranspose, s.Transform.ExifTranspose)
		}
		// The image mode stays the run's: it is chosen per data set.
		t.Mode = s.Transform.Mode
		s.Transform = t
	}
	return s, nil
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// vocabSource names where a recorded vocabulary was read from.
func vocabSource(dir string) string {
	if dir == "" {
		return "the built-in vocabulary"
	}
	return dir
}
