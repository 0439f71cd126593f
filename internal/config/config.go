// Package config merges trak's configuration from defaults, a YAML file,
// TRAK_* environment variables and command-line flags, and checks it.
//
// Precedence, highest first: a flag given on the command line, the
// environment variable (projector.dim is TRAK_PROJECTOR_DIM), the YAML file
// given with --config, the default. This is viper's usual order. A key that
// does not exist, in the file or as a TRAK_* variable, is an error that names
// the nearest valid key, so a typo never silently falls back to a default;
// the TRAK_* variables that are not keys are listed in OtherEnv.
// Relative paths written in the config file are resolved against the file's
// directory; relative paths from flags or the environment against the
// working directory.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cast"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Config is the merged configuration of one command run. See Keys for the
// meaning of each field.
type Config struct {
	SaveDir    string
	Task       string
	TrainData  string
	Checkpoint string
	ModelID    int
	Projector  Projector
	Lambda     float64
	// LambdaRel is the ridge term relative to the features' scale (key
	// lambda_rel); zero when lambda was set and lambda_rel was not.
	LambdaRel      float64
	FeaturesDType  string
	OnBadExample   string
	BatchSize      int
	Workers        int
	Exp            string
	Targets        string
	SkipUnfinished bool

	LDS LDS

	ModelConfig   string
	SimBatchSize  int
	DataFormat    string
	ImageColumn   string
	CaptionColumn string
	MaxPixels     int
	ImageMode     string
	ExifTranspose bool
	VocabDir      string

	// File is the config file that was read, or "" when none was given.
	File string
	// Set holds the keys that a flag, the environment or the file set;
	// the others have their defaults.
	Set map[string]bool
}

// Projector is the projector section.
type Projector struct {
	Type string
	Dim  int
	Seed int64
	// S is the number of non-zeros per row of an sjlt projection
	// (projector.s); the other projectors ignore it.
	S int
}

// LDS is the lds section: the subsets and subset-model training of
// `trak eval lds`.
type LDS struct {
	Dir     string
	Subsets int
	// ModelsPerSubset is the number of models trained on each subset,
	// whose outputs are averaged.
	ModelsPerSubset int
	Alpha           float64
	Seed            int
	Epochs          int
	BatchSize       int
	LR              float64
	WeightDecay     float64
	Warmup          int
	ClipNorm        float64
}

// Sources says where configuration comes from besides the defaults.
type Sources struct {
	// File is the YAML config file, or "" for none.
	File string
	// Flags maps config keys to the command-line flags that set them; only
	// flags that were given on the command line take effect.
	Flags map[string]*pflag.Flag
	// ExtraEnv lists TRAK_* variables that are not config keys but are
	// understood elsewhere, so that they are not reported as unknown.
	ExtraEnv []string
	// Tasks lists the values the task key takes (tasks.Names(): the
	// registry of tasks sits above this package, which cannot import it).
	// Empty accepts any name, for callers that only read settings; the
	// commands pass the registry's names.
	Tasks []string
}

// Load merges the configuration from src with viper and checks every value.
func Load(src Sources) (Config, error) {
	v := viper.New()
	for _, k := range Keys {
		v.SetDefault(k.Name, k.Default)
		if err := v.BindEnv(k.Name, EnvName(k.Name)); err != nil {
			return Config{}, fmt.Errorf("bind %s: %w", EnvName(k.Name), err)
		}
	}
	env := envMap(os.Environ())
	if err := checkEnv(env, src.ExtraEnv); err != nil {
		return Config{}, err
	}
	var fileKeys map[string]bool
	if src.File != "" {
		raw, err := os.ReadFile(src.File)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		if fileKeys, err = checkFile(src.File, raw); err != nil {
			return Config{}, err
		}
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(raw)); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", src.File, err)
		}
	}
	for name, f := range src.Flags {
		if _, ok := lookupKey(name); !ok {
			panic("config: flag bound to unknown key " + name)
		}
		if f.Changed {
			if err := v.BindPFlag(name, f); err != nil {
				return Config{}, fmt.Errorf("bind flag --%s: %w", f.Name, err)
			}
		}
	}

	c := Config{File: src.File, Set: map[string]bool{}}
	var errs []error
	source := func(name string) string {
		if f, ok := src.Flags[name]; ok && f.Changed {
			return "flag --" + f.Name
		}
		if env[EnvName(name)] != "" {
			return "environment variable " + EnvName(name)
		}
		if fileKeys[name] {
			return "config file " + src.File
		}
		return "default"
	}
	str := func(name string, dst *string) {
		s, err := cast.ToStringE(v.Get(name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (from %s): want a string: %w", name, source(name), err))
			return
		}
		k, _ := lookupKey(name)
		// A model_config without a '/' or ".json" is a preset name, not a path.
		preset := name == "model_config" && !strings.ContainsRune(s, '/') && !strings.HasSuffix(s, ".json")
		if k.Path && !preset && s != "" && !filepath.IsAbs(s) && source(name) == "config file "+src.File {
			s = filepath.Join(filepath.Dir(src.File), s)
		}
		*dst = s
	}
	integer := func(name string, dst *int) {
		n, err := exactInt(v.Get(name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (from %s): want an integer, got %q", name, source(name), fmt.Sprint(v.Get(name))))
			return
		}
		*dst = n
	}
	str("save_dir", &c.SaveDir)
	str("task", &c.Task)
	str("train_data", &c.TrainData)
	str("checkpoint", &c.Checkpoint)
	integer("model_id", &c.ModelID)
	str("projector.type", &c.Projector.Type)
	integer("projector.dim", &c.Projector.Dim)
	integer("projector.s", &c.Projector.S)
	var seed int
	integer("projector.seed", &seed)
	c.Projector.Seed = int64(seed)
	number := func(name string, dst *float64) {
		if f, err := cast.ToFloat64E(v.Get(name)); err != nil {
			errs = append(errs, fmt.Errorf("%s (from %s): want a number, got %q", name, source(name), fmt.Sprint(v.Get(name))))
		} else {
			*dst = f
		}
	}
	number("lambda", &c.Lambda)
	number("lambda_rel", &c.LambdaRel)
	str("lds.dir", &c.LDS.Dir)
	integer("lds.subsets", &c.LDS.Subsets)
	integer("lds.models_per_subset", &c.LDS.ModelsPerSubset)
	number("lds.alpha", &c.LDS.Alpha)
	integer("lds.seed", &c.LDS.Seed)
	integer("lds.epochs", &c.LDS.Epochs)
	integer("lds.batch_size", &c.LDS.BatchSize)
	number("lds.lr", &c.LDS.LR)
	number("lds.weight_decay", &c.LDS.WeightDecay)
	integer("lds.warmup", &c.LDS.Warmup)
	number("lds.grad_clip_norm", &c.LDS.ClipNorm)
	str("features_dtype", &c.FeaturesDType)
	str("model_config", &c.ModelConfig)
	integer("sim_batch_size", &c.SimBatchSize)
	str("data.format", &c.DataFormat)
	str("data.image_column", &c.ImageColumn)
	str("data.caption_column", &c.CaptionColumn)
	integer("max_pixels", &c.MaxPixels)
	str("image_mode", &c.ImageMode)
	str("vocab_dir", &c.VocabDir)
	str("on_bad_example", &c.OnBadExample)
	integer("batch_size", &c.BatchSize)
	integer("workers", &c.Workers)
	str("exp", &c.Exp)
	str("targets", &c.Targets)
	boolean := func(key string, dst *bool) {
		if b, err := cast.ToBoolE(v.Get(key)); err != nil {
			errs = append(errs, fmt.Errorf("%s (from %s): want true or false, got %q", key, source(key), fmt.Sprint(v.Get(key))))
		} else {
			*dst = b
		}
	}
	boolean("skip_unfinished", &c.SkipUnfinished)
	boolean("exif_transpose", &c.ExifTranspose)
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	for _, k := range Keys {
		if source(k.Name) != "default" {
			c.Set[k.Name] = true
		}
	}
	// The default s is at most k (a small sjlt projection has all its
	// columns non-zero); a chosen s is checked against k instead.
	// A λ the user chose is the whole ridge term, unless they also chose
	// lambda_rel (which validate refuses).
	if c.Set["lambda"] && !c.Set["lambda_rel"] {
		c.LambdaRel = 0
	}
	if !c.Set["projector.s"] && c.Projector.Dim >= 1 {
		c.Projector.S = min(c.Projector.S, c.Projector.Dim)
	}
	if err := c.validate(source, src.Tasks); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c Config) validate(source func(string) string, tasks []string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s (from %s): %s", key, source(key), fmt.Sprintf(format, args...)))
	}
	if c.ModelID < 0 {
		bad("model_id", "must be ≥ 0, got %d", c.ModelID)
	}
	switch c.Projector.Type {
	case "rademacher", "normal", "sjlt", "none":
	default:
		bad("projector.type", "unknown projector %q: use rademacher, normal, sjlt or none", c.Projector.Type)
	}
	if c.Projector.Dim < 1 {
		bad("projector.dim", "must be ≥ 1, got %d", c.Projector.Dim)
	}
	if c.Projector.S < 1 {
		bad("projector.s", "must be ≥ 1, got %d", c.Projector.S)
	} else if c.Projector.Type == "sjlt" && c.Projector.Dim >= 1 && c.Projector.S > c.Projector.Dim {
		bad("projector.s", "non-zeros per parameter must be at most projector.dim = %d, got %d", c.Projector.Dim, c.Projector.S)
	}
	if c.Lambda < 0 || c.Lambda != c.Lambda {
		bad("lambda", "must be a number ≥ 0, got %v", c.Lambda)
	}
	if !(c.LambdaRel >= 0) || math.IsInf(c.LambdaRel, 0) {
		bad("lambda_rel", "must be a number ≥ 0, got %v", c.LambdaRel)
	}
	if c.Set["lambda"] && c.Set["lambda_rel"] && c.Lambda != 0 && c.LambdaRel != 0 {
		bad("lambda_rel", "is set together with lambda: set one (lambda is an absolute ridge term, lambda_rel one relative to the features' scale)")
	}
	switch c.FeaturesDType {
	case "float32", "float16":
	default:
		bad("features_dtype", "unknown dtype %q: use float32 or float16", c.FeaturesDType)
	}
	switch c.ImageMode {
	case "auto", "native", "rgb":
	default:
		bad("image_mode", "%q: use auto, native or rgb", c.ImageMode)
	}
	if c.OnBadExample != "fail" && c.OnBadExample != "skip" {
		bad("on_bad_example", "%q: use fail or skip", c.OnBadExample)
	}
	if len(tasks) > 0 && !slices.Contains(tasks, c.Task) {
		bad("task", "unknown task %q: use %s", c.Task, orList(tasks))
	}
	if c.SimBatchSize < 1 {
		bad("sim_batch_size", "must be ≥ 1, got %d", c.SimBatchSize)
	}
	switch c.DataFormat {
	case "", "csv", "tsv", "webdataset", "folder":
	default:
		bad("data.format", "unknown format %q: use csv, tsv, webdataset or folder (or leave it empty)", c.DataFormat)
	}
	if c.BatchSize < 1 {
		bad("batch_size", "must be ≥ 1, got %d", c.BatchSize)
	}
	if c.Workers < 0 {
		bad("workers", "must be ≥ 0 (0 = all cores), got %d", c.Workers)
	}
	if c.LDS.Subsets < 1 {
		bad("lds.subsets", "must be ≥ 1, got %d", c.LDS.Subsets)
	}
	if c.LDS.ModelsPerSubset < 1 {
		bad("lds.models_per_subset", "must be ≥ 1, got %d", c.LDS.ModelsPerSubset)
	}
	if !(c.LDS.Alpha > 0 && c.LDS.Alpha < 1) {
		bad("lds.alpha", "must be between 0 and 1 (exclusive), got %v", c.LDS.Alpha)
	}
	if c.LDS.Seed < 0 {
		bad("lds.seed", "must be ≥ 0, got %d", c.LDS.Seed)
	}
	if c.LDS.Epochs < 1 {
		bad("lds.epochs", "must be ≥ 1, got %d", c.LDS.Epochs)
	}
	if c.LDS.BatchSize < 2 {
		bad("lds.batch_size", "must be ≥ 2 (the contrastive loss compares the pairs of a batch), got %d", c.LDS.BatchSize)
	}
	if !(c.LDS.LR > 0) || math.IsInf(c.LDS.LR, 0) {
		bad("lds.lr", "must be a number > 0, got %v", c.LDS.LR)
	}
	if !(c.LDS.WeightDecay >= 0) || math.IsInf(c.LDS.WeightDecay, 0) {
		bad("lds.weight_decay", "must be a number ≥ 0, got %v", c.LDS.WeightDecay)
	}
	if c.LDS.Warmup < 0 {
		bad("lds.warmup", "must be ≥ 0, got %d", c.LDS.Warmup)
	}
	if !(c.LDS.ClipNorm >= 0) || math.IsInf(c.LDS.ClipNorm, 0) {
		bad("lds.grad_clip_norm", "must be a number ≥ 0 (0: no clipping), got %v", c.LDS.ClipNorm)
	}
	if c.Exp != "" && !validExpName(c.Exp) {
		bad("exp", "%q: use letters, digits, '-', '_' and '.', not starting with '.'", c.Exp)
	}
	return errors.Join(errs...)
}

// validExpName keeps experiment names usable as file names in the store.
func validExpName(s string) bool {
	if s == "" || s[0] == '.' || len(s) > 200 {
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// checkFile parses the YAML text and reports every key that is not a config
// key, with the nearest valid one. It returns the set of keys the file sets.
func checkFile(path string, raw []byte) (map[string]bool, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	set := map[string]bool{}
	var errs []error
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		names := make([]string, 0, len(m))
		for name := range m {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			full := prefix + name
			val := m[name]
			if sub, ok := val.(map[string]any); ok && isSection(full) {
				walk(full+".", sub)
				continue
			}
			if _, ok := lookupKey(full); ok {
				set[full] = true
				continue
			}
			if isSection(full) {
				errs = append(errs, fmt.Errorf("config %s: %s is a section; write its keys under it (%s)", path, full, strings.Join(sectionKeys(full), ", ")))
				continue
			}
			errs = append(errs, unknownKeyError("config "+path+": unknown key "+full, full, func(k Key) string { return k.Name }))
		}
	}
	walk("", doc)
	return set, errors.Join(errs...)
}

func checkEnv(env map[string]string, extra []string) error {
	known := map[string]bool{}
	for _, k := range Keys {
		known[EnvName(k.Name)] = true
	}
	for _, e := range extra {
		known[e] = true
	}
	var names []string
	for name := range env {
		if strings.HasPrefix(name, EnvPrefix+"_") && !known[name] && !isOtherEnv(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		errs = append(errs, unknownKeyError("unknown environment variable "+name, name, func(k Key) string { return EnvName(k.Name) }))
	}
	return errors.Join(errs...)
}

func unknownKeyError(msg, got string, spell func(Key) string) error {
	best, bestDist := "", -1
	for _, k := range Keys {
		if d := editDistance(got, spell(k)); bestDist < 0 || d < bestDist {
			best, bestDist = spell(k), d
		}
	}
	if bestDist <= len(got)/2+1 {
		return fmt.Errorf("%s (did you mean %s?); `trak config keys` lists them all", msg, best)
	}
	return fmt.Errorf("%s; `trak config keys` lists the valid keys", msg)
}

func isSection(name string) bool { return len(sectionKeys(name)) > 0 }

func sectionKeys(section string) []string {
	var out []string
	for _, k := range Keys {
		if strings.HasPrefix(k.Name, section+".") {
			out = append(out, k.Name)
		}
	}
	return out
}

func envMap(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		if i := strings.IndexByte(kv, '='); i > 0 {
			m[kv[:i]] = kv[i+1:]
		}
	}
	return m
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// YAML renders the configuration as a YAML config file.
func (c Config) YAML() string {
	var b strings.Builder
	q := func(s string) string { return strconvQuote(s) }
	fmt.Fprintf(&b, "save_dir: %s\n", q(c.SaveDir))
	fmt.Fprintf(&b, "task: %s\n", q(c.Task))
	fmt.Fprintf(&b, "train_data: %s\n", q(c.TrainData))
	fmt.Fprintf(&b, "checkpoint: %s\n", q(c.Checkpoint))
	fmt.Fprintf(&b, "model_id: %d\n", c.ModelID)
	fmt.Fprintf(&b, "projector:\n  type: %s\n  dim: %d\n  s: %d\n  seed: %d\n", q(c.Projector.Type), c.Projector.Dim, c.Projector.S, c.Projector.Seed)
	fmt.Fprintf(&b, "lambda: %g\n", c.Lambda)
	fmt.Fprintf(&b, "lambda_rel: %g\n", c.LambdaRel)
	fmt.Fprintf(&b, "features_dtype: %s\n", q(c.FeaturesDType))
	fmt.Fprintf(&b, "on_bad_example: %s\n", q(c.OnBadExample))
	fmt.Fprintf(&b, "batch_size: %d\n", c.BatchSize)
	fmt.Fprintf(&b, "workers: %d\n", c.Workers)
	fmt.Fprintf(&b, "exp: %s\n", q(c.Exp))
	fmt.Fprintf(&b, "targets: %s\n", q(c.Targets))
	fmt.Fprintf(&b, "skip_unfinished: %t\n", c.SkipUnfinished)
	fmt.Fprintf(&b, "lds:\n  dir: %s\n  subsets: %d\n  alpha: %g\n  seed: %d\n  epochs: %d\n  batch_size: %d\n  lr: %g\n  weight_decay: %g\n  warmup: %d\n  grad_clip_norm: %g\n",
		q(c.LDS.Dir), c.LDS.Subsets, c.LDS.Alpha, c.LDS.Seed, c.LDS.Epochs, c.LDS.BatchSize, c.LDS.LR, c.LDS.WeightDecay, c.LDS.Warmup, c.LDS.ClipNorm)
	fmt.Fprintf(&b, "model_config: %s\n", q(c.ModelConfig))
	fmt.Fprintf(&b, "sim_batch_size: %d\n", c.SimBatchSize)
	fmt.Fprintf(&b, "data:\n  format: %s\n  image_column: %s\n  caption_column: %s\n", q(c.DataFormat), q(c.ImageColumn), q(c.CaptionColumn))
	fmt.Fprintf(&b, "image_mode: %s\n", q(c.ImageMode))
	fmt.Fprintf(&b, "exif_transpose: %t\n", c.ExifTranspose)
	fmt.Fprintf(&b, "max_pixels: %d\n", c.MaxPixels)
	fmt.Fprintf(&b, "vocab_dir: %s\n", q(c.VocabDir))
	return b.String()
}

// strconvQuote writes s as a YAML double-quoted scalar.
func strconvQuote(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// DataColumns is how c reads a data set (the data.* keys), in the form a
// store records it.
func (c Config) DataColumns() map[string]string {
	return map[string]string{"format": c.DataFormat, "image_column": c.ImageColumn, "caption_column": c.CaptionColumn}
}

// exactInt converts a config value to an int, refusing values that are not
// whole numbers (64.5, "1e3x") rather than truncating them as cast does.
func exactInt(v any) (int, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, fmt.Errorf("%v is not a whole number", x)
		}
		return int(x), nil
	case float32:
		return exactInt(float64(x))
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, err
		}
		return int(n), nil
	}
	return cast.ToIntE(v)
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
