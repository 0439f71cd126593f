package config

// Key describes one configuration key: its dotted name (as written in the
// YAML file), its default, and what it means. The same list drives
// validation, defaults, environment variables and the reference in `trak
// config keys`, so the three cannot drift apart.
type Key struct {
	Name    string // dotted YAML path, e.g. "projector.dim"
	Default any    // typed default; its Go type is the key's type
	Path    bool   // a file or directory path: relative values in a config file are resolved against the file's directory
	Doc     string // one line for the reference
}

// Keys lists every configuration key trak understands, in reference order.
var Keys = []Key{
	{Name: "save_dir", Default: "", Path: true, Doc: "store directory that holds features, finalized kernels and scores (required)"},
	{Name: "task", Default: "clip", Doc: "model whose outputs are attributed: clip (open_clip image–caption models) or logreg (multinomial logistic regression on CSV features)"},
	{Name: "train_data", Default: "", Path: true, Doc: "training set the scores attribute to (clip: CSV/TSV, webdataset tar shards or a folder of image + .txt pairs; logreg: CSV of label,x1,...,xD)"},
	{Name: "checkpoint", Default: "", Path: true, Doc: "checkpoint to featurize (clip: .safetensors or .pt; logreg: C x (D+1) .npy of weights with the bias last)"},
	{Name: "model_config", Default: "", Path: true, Doc: "clip: open_clip JSON config file or preset name (ViT-B-32, ViT-B-32-quickgelu, ...); empty infers the architecture from the checkpoint"},
	{Name: "sim_batch_size", Default: 300, Doc: "clip: negatives per example in the model-output function, drawn from the train embedding table"},
	{Name: "data.format", Default: "", Doc: "clip: csv, tsv, webdataset or folder; empty detects it from the path"},
	{Name: "data.image_column", Default: "filepath", Doc: "clip: CSV/TSV column holding image paths (relative to the file)"},
	{Name: "data.caption_column", Default: "title", Doc: "clip: CSV/TSV column holding captions"},
	{Name: "image_mode", Default: "auto", Doc: "clip: native resizes an image in its own mode then converts to RGB (open_clip's preprocess(Image.open(path)), its CSV loader), rgb converts to RGB first (open_clip's webdataset loader); auto: rgb for webdataset shards, native otherwise (per data set)"},
	{Name: "exif_transpose", Default: false, Doc: "clip: turn images upright by their EXIF orientation before preprocessing (PIL's ImageOps.exif_transpose); false uses them as stored, as open_clip does in training"},
	{Name: "max_pixels", Default: 89478485, Doc: "clip: refuse images with more pixels than this (decompression-bomb guard)"},
	{Name: "vocab_dir", Default: "", Path: true, Doc: "clip: folder with a Hugging Face vocab.json and merges.txt; empty uses the built-in CLIP vocabulary"},
	{Name: "model_id", Default: 0, Doc: "id of the checkpoint being featurized; each id gets its own projection"},
	{Name: "projector.type", Default: "rademacher", Doc: "random projection: rademacher (+-1/sqrt(k)), normal (N(0,1/k)), sjlt (sparse: projector.s entries +-1/sqrt(s) per parameter, cost O(s) instead of O(k) per parameter) or none (exact gradients, k = number of parameters)"},
	{Name: "projector.dim", Default: 2048, Doc: "projection dimension k (ignored by projector none)"},
	{Name: "projector.s", Default: 4, Doc: "sjlt: non-zeros per parameter (row of the projection), 1 <= s <= k; 1 is CountSketch (ignored by the other projectors)"},
	{Name: "projector.seed", Default: 0, Doc: "seed of the projection; mixed with the model id"},
	{Name: "lambda", Default: 0.0, Doc: "absolute ridge term added to X^T X (or X X^T) in finalize; setting it turns lambda_rel off"},
	{Name: "lambda_rel", Default: 0.01, Doc: "ridge term of finalize relative to the features' scale: lambda_rel times the mean non-zero eigenvalue of X^T X, per checkpoint"},
	{Name: "features_dtype", Default: "float32", Doc: "dtype of stored train features: float32 or float16 (half the disk)"},
	{Name: "batch_size", Default: 32, Doc: "examples per featurize batch (does not change the results)"},
	{Name: "workers", Default: 0, Doc: "CPU threads for featurize (0 = all cores; does not change the results)"},
	{Name: "on_bad_example", Default: "fail", Doc: "what an unusable example (unreadable image, empty caption) does: fail, or skip (zero features, listed in skipped.tsv; row indices never shift)"},
	{Name: "exp", Default: "", Doc: "experiment name: scores go to scores/<exp>.npy"},
	{Name: "targets", Default: "", Path: true, Doc: "target examples to score, in the same format as train_data"},
	{Name: "skip_unfinished", Default: false, Doc: "score with the finalized model ids only, skipping unfinished ones, instead of failing"},
	{Name: "lds.dir", Default: "", Path: true, Doc: "directory of the subset models of trak eval lds, shared by every store evaluated against them; empty is <save_dir>/lds"},
	{Name: "lds.subsets", Default: 32, Doc: "number M of random train subsets of trak eval lds, one model trained on each"},
	{Name: "lds.models_per_subset", Default: 1, Doc: "models trained on each subset of trak eval lds, from different seeds; a subset's output is their mean, which averages out training noise"},
	{Name: "lds.alpha", Default: 0.5, Doc: "fraction of the train rows in each subset of trak eval lds, 0 < alpha < 1"},
	{Name: "lds.seed", Default: 0, Doc: "seed of trak eval lds's subsets and of each subset model's training"},
	{Name: "lds.epochs", Default: 10, Doc: "training length of each subset model of trak eval lds; clip: epochs of AdamW as trak train runs them; logreg: full-batch gradient steps"},
	{Name: "lds.batch_size", Default: 32, Doc: "clip: pairs per training step of trak eval lds's subset models"},
	{Name: "lds.lr", Default: 2e-3, Doc: "peak learning rate (clip) or step size (logreg) of trak eval lds's subset training"},
	{Name: "lds.weight_decay", Default: 0.1, Doc: "AdamW weight decay (clip) or L2 penalty (logreg) of trak eval lds's subset training"},
	{Name: "lds.warmup", Default: 15, Doc: "clip: warm-up steps of trak eval lds's subset training"},
	{Name: "lds.grad_clip_norm", Default: 0.1, Doc: "clip: each step's gradient is clipped to this L2 norm in trak eval lds's subset training (0: no clipping)"},
}

// EnvPrefix is the prefix of the environment variables that set keys:
// projector.dim is TRAK_PROJECTOR_DIM.
const EnvPrefix = "TRAK"

// EnvName returns the environment variable that sets key.
func EnvName(key string) string {
	b := []byte(EnvPrefix + "_" + key)
	for i, c := range b {
		switch {
		case c == '.':
			b[i] = '_'
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Lookup returns the key named name.
func Lookup(name string) (Key, bool) { return lookupKey(name) }

func lookupKey(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}
