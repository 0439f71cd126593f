package clipckpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clip"
)

// A Hugging Face transformers CLIPModel is open_clip's CLIP under other
// names: the same pre-LN towers, but with the query, key and value
// projections stored apart, projections stored as (out, in) linear layers,
// and the architecture in config.json rather than in the shapes. The
// functions below read config.json into a clip.Config and present the
// tensors under open_clip's names, shapes and stacking (checkpoint views:
// nothing is copied), so that everything downstream (Resolve, clip.Load,
// the parameter order of the projection) treats both layouts alike.

// isHFNames reports whether a checkpoint's tensors carry Hugging Face
// transformers' CLIPModel names.
func isHFNames(names []string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, "vision_model.") || strings.HasPrefix(n, "text_model.") {
			return true
		}
	}
	return false
}

// huggingFace presents a Hugging Face CLIPModel under open_clip's names,
// with the architecture from dir's config.json and the image
// preprocessing from dir's preprocessor_config.json when there is one.
func (c *Checkpoint) huggingFace(dir string) error {
	path := filepath.Join(dir, hfConfigFile)
	cfg, err := readHFConfig(path)
	if err != nil {
		return err
	}
	c.Config = &cfg
	c.ConfigSource = path
	if err := c.hfView(cfg); err != nil {
		return err
	}
	pre := filepath.Join(dir, hfPreprocessFile)
	if exists(pre) {
		p, err := readHFPreprocess(pre, cfg.Vision.ImageSize)
		if err != nil {
			return err
		}
		c.Preprocess = p
	}
	return nil
}

// hfVisionConfig is the part of transformers' CLIPVisionConfig that
// determines the computation.
type hfVisionConfig struct {
	HiddenSize        int     `json:"hidden_size"`
	IntermediateSize  int     `json:"intermediate_size"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	ImageSize         int     `json:"image_size"`
	PatchSize         int     `json:"patch_size"`
	NumChannels       int     `json:"num_channels"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float64 `json:"layer_norm_eps"`
}

// hfTextConfig is the part of transformers' CLIPTextConfig that determines
// the computation.
type hfTextConfig struct {
	HiddenSize            int     `json:"hidden_size"`
	IntermediateSize      int     `json:"intermediate_size"`
	NumAttentionHeads     int     `json:"num_attention_heads"`
	NumHiddenLayers       int     `json:"num_hidden_layers"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	VocabSize             int     `json:"vocab_size"`
	HiddenAct             string  `json:"hidden_act"`
	LayerNormEps          float64 `json:"layer_norm_eps"`
	EOSTokenID            int     `json:"eos_token_id"`
}

// The defaults of transformers' CLIPVisionConfig, CLIPTextConfig and
// CLIPConfig (models/clip/configuration_clip.py), used for keys a
// config.json leaves out, as transformers does when it loads the file:
// openai/clip-vit-base-patch32's architecture, QuickGELU, LayerNorm
// epsilon 1e-5, projection_dim 512, and eos_token_id 49407 (the default
// since transformers PR #24773; configs written before it state 2).
var (
	hfVisionDefaults = hfVisionConfig{
		HiddenSize: 768, IntermediateSize: 3072, NumAttentionHeads: 12, NumHiddenLayers: 12,
		ImageSize: 224, PatchSize: 32, NumChannels: 3, HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
	}
	hfTextDefaults = hfTextConfig{
		HiddenSize: 512, IntermediateSize: 2048, NumAttentionHeads: 8, NumHiddenLayers: 12,
		MaxPositionEmbeddings: 77, VocabSize: 49408, HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
		EOSTokenID: 49407,
	}
	hfProjectionDimDefault = 512
)

// hfModelNames describe the model types of transformers' CLIP relatives,
// which share CLIPModel's file layout closely enough to be mistaken for it
// but compute something else.
var hfModelNames = map[string]string{
	"siglip":            "SigLIP (a sigmoid loss with a logit bias, attention-pooled image tower)",
	"siglip2":           "SigLIP 2",
	"chinese_clip":      "Chinese-CLIP (a BERT text tower)",
	"altclip":           "AltCLIP (an XLM-RoBERTa text tower)",
	"clipseg":           "CLIPSeg (a segmentation decoder)",
	"x_clip":            "X-CLIP (a video model)",
	"owlvit":            "OWL-ViT (a detection model)",
	"owlv2":             "OWLv2 (a detection model)",
	"clip_text_model":   "CLIP's text tower alone",
	"clip_vision_model": "CLIP's image tower alone",
	"blip":              "BLIP",
	"flava":             "FLAVA",
	"git":               "GIT (a captioning model)",
}

// readHFConfig reads a transformers CLIPModel config.json into trak's
// architecture.
func readHFConfig(path string) (clip.Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return clip.Config{}, fmt.Errorf("%s is missing: a Hugging Face CLIPModel needs its config.json beside the weights (save_pretrained writes it; copy it from the model's repository)", path)
	}
	if err != nil {
		return clip.Config{}, fmt.Errorf("read %s: %w", path, err)
	}
	var top struct {
		ModelType        string          `json:"model_type"`
		Architectures    []string        `json:"architectures"`
		ProjectionDim    *int            `json:"projection_dim"`
		TextConfig       json.RawMessage `json:"text_config"`
		VisionConfig     json.RawMessage `json:"vision_config"`
		TextConfigDict   json.RawMessage `json:"text_config_dict"`
		VisionConfigDict json.RawMessage `json:"vision_config_dict"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return clip.Config{}, fmt.Errorf("%s is not a transformers config: %v", path, err)
	}
	if err := checkHFModelType(top.ModelType, top.Architectures); err != nil {
		return clip.Config{}, fmt.Errorf("%s %w", path, err)
	}
	vision, text := hfVisionDefaults, hfTextDefaults
	// CLIPConfig builds each tower's config from *_config_dict when the file
	// has one (older files), with the defaults for its absent keys, and lets
	// it override *_config entirely.
	if err := decodeHFTower(&vision, "vision_config", top.VisionConfig, top.VisionConfigDict); err != nil {
		return clip.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := decodeHFTower(&text, "text_config", top.TextConfig, top.TextConfigDict); err != nil {
		return clip.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	proj := hfProjectionDimDefault
	if top.ProjectionDim != nil {
		proj = *top.ProjectionDim
	}
	cfg, err := hfClipConfig(vision, text, proj)
	if err != nil {
		return clip.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// checkHFModelType accepts a CLIPModel's model_type and architectures and
// names anything else; the error reads after the file's name.
func checkHFModelType(modelType string, archs []string) error {
	switch {
	case modelType == "" && slices.Contains(archs, "CLIPModel"):
		return nil
	case modelType == "":
		return fmt.Errorf("states no model_type and its architectures are %q, not [\"CLIPModel\"]: %s", archs, clip.Supported)
	case modelType != "clip":
		what, ok := hfModelNames[modelType]
		if !ok {
			what = "another model than CLIP"
		}
		return fmt.Errorf("describes %s (model_type %q), not a CLIPModel: %s", what, modelType, clip.Supported)
	case len(archs) > 0 && !slices.Contains(archs, "CLIPModel"):
		return fmt.Errorf("describes %s, not a CLIPModel with both towers: %s", strings.Join(archs, ", "), clip.Supported)
	}
	return nil
}

// decodeHFTower overlays a tower's stated keys on the defaults in dst:
// dict (the older *_config_dict) when present, else sub.
func decodeHFTower(dst any, key string, sub, dict json.RawMessage) error {
	src := sub
	if isJSONValue(dict) {
		src, key = dict, key+"_dict"
	}
	if !isJSONValue(src) {
		return nil
	}
	if err := json.Unmarshal(src, dst); err != nil {
		return fmt.Errorf("%s: %v", key, err)
	}
	return nil
}

// isJSONValue reports whether v holds a value other than null.
func isJSONValue(v json.RawMessage) bool {
	s := bytes.TrimSpace(v)
	return len(s) > 0 && !bytes.Equal(s, []byte("null"))
}

// hfClipConfig maps a CLIPModel's tower configs onto open_clip's config,
// refusing what trak would compute differently from transformers.
func hfClipConfig(v hfVisionConfig, t hfTextConfig, proj int) (clip.Config, error) {
	quick, err := hfActivation(v.HiddenAct, t.HiddenAct)
	if err != nil {
		return clip.Config{}, err
	}
	eps, err := hfLayerNormEps(v.LayerNormEps, t.LayerNormEps)
	if err != nil {
		return clip.Config{}, err
	}
	if v.NumChannels != 3 {
		return clip.Config{}, fmt.Errorf("vision_config.num_channels is %d: trak feeds RGB images, 3 channels", v.NumChannels)
	}
	if err := checkHFEndOfText(t.EOSTokenID, t.VocabSize); err != nil {
		return clip.Config{}, err
	}
	if v.NumAttentionHeads <= 0 || v.HiddenSize%v.NumAttentionHeads != 0 {
		return clip.Config{}, fmt.Errorf("vision_config.hidden_size %d is not a multiple of num_attention_heads %d", v.HiddenSize, v.NumAttentionHeads)
	}
	vratio, err := mlpRatio("vision_config", v.IntermediateSize, v.HiddenSize)
	if err != nil {
		return clip.Config{}, err
	}
	tratio, err := mlpRatio("text_config", t.IntermediateSize, t.HiddenSize)
	if err != nil {
		return clip.Config{}, err
	}
	cfg := clip.Config{
		EmbedDim: proj,
		Vision: clip.VisionConfig{
			ImageSize: v.ImageSize, Layers: v.NumHiddenLayers, Width: v.HiddenSize,
			HeadWidth: v.HiddenSize / v.NumAttentionHeads, PatchSize: v.PatchSize, MLPRatio: vratio,
		},
		Text: clip.TextConfig{
			ContextLength: t.MaxPositionEmbeddings, VocabSize: t.VocabSize, Width: t.HiddenSize,
			Heads: t.NumAttentionHeads, Layers: t.NumHiddenLayers, MLPRatio: tratio,
		},
		QuickGELU: quick,
	}
	if eps != clip.LayerNormEps {
		cfg.LayerNormEps = eps // 1e-5 stays 0: the same architecture as open_clip's, the same hash
	}
	if err := cfg.Validate(); err != nil {
		return clip.Config{}, err
	}
	return cfg, nil
}

// hfActivation maps the towers' hidden_act onto open_clip's quick_gelu
// flag. transformers' "gelu" is the exact (erf) GELU open_clip uses by
// default; its tanh approximations ("gelu_new", "gelu_pytorch_tanh", ...)
// differ from it by up to ~1e-3 and trak does not compute them.
func hfActivation(vision, text string) (quick bool, err error) {
	if vision != text {
		return false, fmt.Errorf("vision_config.hidden_act is %q and text_config.hidden_act %q: trak applies one activation to both towers", vision, text)
	}
	switch vision {
	case "quick_gelu":
		return true, nil
	case "gelu":
		return false, nil
	}
	return false, fmt.Errorf("hidden_act %q: trak computes \"quick_gelu\" (x·σ(1.702x)) and \"gelu\" (exact, erf), not other activations", vision)
}

// hfLayerNormEps returns the towers' common LayerNorm epsilon.
func hfLayerNormEps(vision, text float64) (float64, error) {
	if vision != text {
		return 0, fmt.Errorf("vision_config.layer_norm_eps is %g and text_config.layer_norm_eps %g: trak uses one epsilon in both towers", vision, text)
	}
	if !(vision > 0) || math.IsInf(vision, 0) {
		return 0, fmt.Errorf("layer_norm_eps is %g: it must be positive and finite", vision)
	}
	return vision, nil
}

// checkHFEndOfText checks that trak pools the text where transformers does.
// transformers pools at the argmax of the ids when eos_token_id is 2 (the
// value configs carried before PR #24773) and otherwise at the first
// occurrence of eos_token_id; trak pools at the first occurrence of the
// highest id. The two agree for eos_token_id 2 and, on captions that end
// with it, for the vocabulary's last id, which CLIP's end-of-text token is.
func checkHFEndOfText(eos, vocab int) error {
	if eos == 2 || eos == vocab-1 {
		return nil
	}
	return fmt.Errorf("text_config.eos_token_id is %d: transformers pools the text at that token, trak at the highest token id, "+
		"which agree only when eos_token_id is the vocabulary's last id (%d) or 2 (transformers' argmax pooling)", eos, vocab-1)
}

// mlpRatio returns intermediate/hidden as open_clip's mlp_ratio, checking
// that trak's width computation (hidden × ratio, truncated) gives back
// intermediate.
func mlpRatio(key string, intermediate, hidden int) (float64, error) {
	if intermediate <= 0 || hidden <= 0 {
		return 0, fmt.Errorf("%s: hidden_size %d and intermediate_size %d must be positive", key, hidden, intermediate)
	}
	r := float64(intermediate) / float64(hidden)
	if int(float64(hidden)*r) != intermediate {
		return 0, fmt.Errorf("%s: intermediate_size %d is not a whole mlp_ratio × hidden_size %d in floating point", key, intermediate, hidden)
	}
	return r, nil
}

// hfSource says where one open_clip parameter lies in a CLIPModel: one
// tensor (renamed, or transposed when open_clip multiplies by the
// transpose of the (out, in) linear weight), or the query, key and value
// tensors stacked in that order (open_clip's in_proj).
type hfSource struct {
	name      string
	from      []string
	transpose bool
}

// hfSources lists, in open_clip's parameter order, where each parameter of
// architecture cfg lies in a CLIPModel state dict.
func hfSources(cfg clip.Config) []hfSource {
	var out []hfSource
	add := func(name string, from ...string) { out = append(out, hfSource{name: name, from: from}) }
	addT := func(name, from string) {
		out = append(out, hfSource{name: name, from: []string{from}, transpose: true})
	}
	block := func(oc, hf string) {
		for _, wb := range []string{"weight", "bias"} {
			add(oc+"ln_1."+wb, hf+"layer_norm1."+wb)
		}
		add(oc+"attn.in_proj_weight", hf+"self_attn.q_proj.weight", hf+"self_attn.k_proj.weight", hf+"self_attn.v_proj.weight")
		add(oc+"attn.in_proj_bias", hf+"self_attn.q_proj.bias", hf+"self_attn.k_proj.bias", hf+"self_attn.v_proj.bias")
		for _, wb := range []string{"weight", "bias"} {
			add(oc+"attn.out_proj."+wb, hf+"self_attn.out_proj."+wb)
		}
		for _, wb := range []string{"weight", "bias"} {
			add(oc+"ln_2."+wb, hf+"layer_norm2."+wb)
		}
		for _, wb := range []string{"weight", "bias"} {
			add(oc+"mlp.c_fc."+wb, hf+"mlp.fc1."+wb)
		}
		for _, wb := range []string{"weight", "bias"} {
			add(oc+"mlp.c_proj."+wb, hf+"mlp.fc2."+wb)
		}
	}
	add("positional_embedding", "text_model.embeddings.position_embedding.weight")
	addT("text_projection", "text_projection.weight")
	add("logit_scale", "logit_scale")
	add("visual.class_embedding", "vision_model.embeddings.class_embedding")
	add("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight")
	addT("visual.proj", "visual_projection.weight")
	add("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight")
	// "pre_layrnorm" is transformers' own spelling.
	add("visual.ln_pre.weight", "vision_model.pre_layrnorm.weight")
	add("visual.ln_pre.bias", "vision_model.pre_layrnorm.bias")
	for i := range cfg.Vision.Layers {
		block(fmt.Sprintf("visual.transformer.resblocks.%d.", i), fmt.Sprintf("vision_model.encoder.layers.%d.", i))
	}
	add("visual.ln_post.weight", "vision_model.post_layernorm.weight")
	add("visual.ln_post.bias", "vision_model.post_layernorm.bias")
	for i := range cfg.Text.Layers {
		block(fmt.Sprintf("transformer.resblocks.%d.", i), fmt.Sprintf("text_model.encoder.layers.%d.", i))
	}
	add("token_embedding.weight", "text_model.embeddings.token_embedding.weight")
	add("ln_final.weight", "text_model.final_layer_norm.weight")
	add("ln_final.bias", "text_model.final_layer_norm.bias")
	return out
}

// hfPositionIDs are the position-index buffers CLIPModel registers (and
// older transformers versions saved): not parameters.
var hfPositionIDs = []string{"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"}

// hfView replaces c.File by a view holding the CLIPModel's parameters
// under open_clip's names and shapes, and moves the position-index
// buffers to c.Extras. Every stored tensor must be one cfg accounts for.
func (c *Checkpoint) hfView(cfg clip.Config) error {
	used := map[string]bool{}
	var tensors []*checkpoint.Tensor
	var missing, misshaped []string
	want := map[string][]int{}
	for _, e := range cfg.Expected() {
		want[e.Name] = e.Shape
	}
	for _, s := range hfSources(cfg) {
		var parts []*checkpoint.Tensor
		for _, name := range s.from {
			used[name] = true
			t, ok := c.File.Tensor(name)
			if !ok {
				missing = append(missing, fmt.Sprintf("%s (for open_clip's %s)", name, s.name))
				continue
			}
			parts = append(parts, t)
		}
		if len(parts) != len(s.from) {
			continue
		}
		t, err := hfTensor(s, parts)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Weights, err)
		}
		if !slices.Equal(t.Shape, want[s.name]) {
			misshaped = append(misshaped, fmt.Sprintf("%s is %s, %s's architecture needs %s (as open_clip's %s %s)",
				strings.Join(s.from, " + "), hfShapes(parts), hfConfigFile, hfWantShape(s, want[s.name]), s.name, checkpoint.FormatShape(want[s.name])))
		}
		tensors = append(tensors, t)
	}
	var unexpected []string
	for _, name := range c.File.Names() {
		t, _ := c.File.Tensor(name)
		switch {
		case used[name]:
		case slices.Contains(hfPositionIDs, name):
			c.Extras = append(c.Extras, Extra{Name: name, Tensor: t})
		default:
			unexpected = append(unexpected, fmt.Sprintf("%s %s", name, checkpoint.FormatShape(t.Shape)))
		}
	}
	if err := hfMismatch(c.Weights, missing, unexpected, misshaped); err != nil {
		return err
	}
	v, err := c.File.View(c.File.Format, tensors)
	if err != nil {
		return err
	}
	c.File = v
	return nil
}

// hfTensor builds one open_clip parameter from its CLIPModel tensors.
func hfTensor(s hfSource, parts []*checkpoint.Tensor) (*checkpoint.Tensor, error) {
	switch {
	case len(parts) > 1:
		return checkpoint.Concat(s.name, parts...)
	case s.transpose:
		return parts[0].Transposed(s.name)
	}
	return parts[0].Renamed(s.name), nil
}

// hfShapes writes the stored shapes of a parameter's parts.
func hfShapes(parts []*checkpoint.Tensor) string {
	var s []string
	for _, p := range parts {
		s = append(s, checkpoint.FormatShape(p.Shape))
	}
	return strings.Join(s, " + ")
}

// hfWantShape is the stored shape of each part that gives the open_clip
// shape want.
func hfWantShape(s hfSource, want []int) string {
	switch {
	case len(s.from) > 1:
		part := slices.Clone(want)
		part[0] /= len(s.from)
		return fmt.Sprintf("%s each", checkpoint.FormatShape(part))
	case s.transpose && len(want) == 2:
		return checkpoint.FormatShape([]int{want[1], want[0]})
	}
	return checkpoint.FormatShape(want)
}

// hfMismatch lists every tensor the config's CLIPModel lacks, has beyond
// it, or has with another shape.
func hfMismatch(path string, missing, unexpected, misshaped []string) error {
	if len(missing)+len(unexpected)+len(misshaped) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s does not hold the Hugging Face CLIPModel its %s describes:", path, hfConfigFile)
	for _, m := range missing {
		fmt.Fprintf(&b, "\n  missing:     %s", m)
	}
	for _, u := range unexpected {
		fmt.Fprintf(&b, "\n  unexpected:  %s", u)
	}
	for _, m := range misshaped {
		fmt.Fprintf(&b, "\n  wrong shape: %s", m)
	}
	return errors.New(b.String())
}

// checkHFPositionIDs checks a CLIPModel's position-index buffer: the
// positions 0..n-1 of its tower, the order in which trak adds the
// positional embeddings.
func checkHFPositionIDs(e Extra, cfg clip.Config) error {
	n := cfg.Text.ContextLength
	if strings.HasPrefix(e.Name, "vision_model.") {
		n = cfg.VisionTokens()
	}
	t := e.Tensor
	if t.Len() != n || len(t.Shape) > 2 || (len(t.Shape) == 2 && t.Shape[0] != 1) {
		return fmt.Errorf("shape %s, want (1, %d): the positions of the tower's %d tokens", checkpoint.FormatShape(t.Shape), n, n)
	}
	v := make([]float32, n)
	if err := t.Float32s(v); err != nil {
		return err
	}
	for i, x := range v {
		if x != float32(i) {
			return fmt.Errorf("position %d is %g, want %d: trak adds positional embeddings in token order", i, x, i)
		}
	}
	return nil
}

// hfPreprocessor is the part of transformers' CLIPImageProcessor
// configuration (preprocessor_config.json) that determines the model's
// input tensors. Pointers are nil for absent keys.
type hfPreprocessor struct {
	DoResize      *bool           `json:"do_resize"`
	Size          json.RawMessage `json:"size"`
	Resample      *int            `json:"resample"`
	DoCenterCrop  *bool           `json:"do_center_crop"`
	CropSize      json.RawMessage `json:"crop_size"`
	DoRescale     *bool           `json:"do_rescale"`
	RescaleFactor *float64        `json:"rescale_factor"`
	DoNormalize   *bool           `json:"do_normalize"`
	ImageMean     json.RawMessage `json:"image_mean"`
	ImageStd      json.RawMessage `json:"image_std"`
}

// PIL's resampling filter numbers, as preprocessor_config.json's resample
// states them, for the two filters trak implements.
var hfResample = map[int]string{3: "bicubic", 2: "bilinear"}

// readHFPreprocess reads preprocessor_config.json. trak applies open_clip's
// evaluation transform (resize the shortest side to the image size, centre
// crop a square of it, scale to [0, 1], normalise) with the settings read
// here; CLIPImageProcessor does the same steps, so the file is accepted
// when it states them and refused when it turns one off. Absent keys take
// CLIPImageProcessor's defaults (bicubic, rescale by 1/255, normalise with
// CLIP's mean and std), except that an absent size or crop_size means the
// model's image size rather than transformers' 224.
func readHFPreprocess(path string, imageSize int) (*Preprocess, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var h hfPreprocessor
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%s is not a transformers image processor config: %v", path, err)
	}
	p, err := h.preprocess(imageSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.Source = path
	return p, nil
}

// preprocess maps a CLIPImageProcessor configuration onto trak's.
func (h hfPreprocessor) preprocess(imageSize int) (*Preprocess, error) {
	const steps = "trak applies open_clip's transform: resize the shortest side, centre crop, scale by 1/255, normalise"
	for _, f := range []struct {
		key string
		on  *bool
	}{{"do_resize", h.DoResize}, {"do_center_crop", h.DoCenterCrop}, {"do_rescale", h.DoRescale}, {"do_normalize", h.DoNormalize}} {
		if f.on != nil && !*f.on {
			return nil, fmt.Errorf("%s is false: %s", f.key, steps)
		}
	}
	if h.RescaleFactor != nil && math.Abs(*h.RescaleFactor-1.0/255) > 1e-12 {
		return nil, fmt.Errorf("rescale_factor is %g: %s", *h.RescaleFactor, steps)
	}
	p := &Preprocess{Interpolation: "bicubic", ResizeMode: "shortest"}
	if h.Resample != nil {
		name, ok := hfResample[*h.Resample]
		if !ok {
			return nil, fmt.Errorf("resample is %d: trak resizes with bicubic (3) or bilinear (2)", *h.Resample)
		}
		p.Interpolation = name
	}
	size, err := hfImageSize(h.Size, h.CropSize)
	if err != nil {
		return nil, err
	}
	if size != 0 && size != imageSize {
		return nil, fmt.Errorf("images are cropped to %d pixels, the model's vision_config.image_size is %d", size, imageSize)
	}
	p.ImageSize = size
	if isJSONValue(h.ImageMean) {
		if p.Mean, err = parseTriple(h.ImageMean); err != nil {
			return nil, fmt.Errorf("image_mean: %w", err)
		}
	}
	if isJSONValue(h.ImageStd) {
		if p.Std, err = parseTriple(h.ImageStd); err != nil {
			return nil, fmt.Errorf("image_std: %w", err)
		}
	}
	return p, nil
}

// hfImageSize returns the image size that size (the shortest side after
// resizing) and crop_size state, 0 when neither does. open_clip resizes
// and crops to the same size, so the two must agree.
func hfImageSize(size, crop json.RawMessage) (int, error) {
	s, err := hfSizeValue(size, "size", "shortest_edge")
	if err != nil {
		return 0, err
	}
	c, err := hfSizeValue(crop, "crop_size", "")
	if err != nil {
		return 0, err
	}
	if s != 0 && c != 0 && s != c {
		return 0, fmt.Errorf("size %d and crop_size %d differ: trak resizes the shortest side to the crop size, as open_clip does", s, c)
	}
	return max(s, c), nil
}

// hfSizeValue reads a size given as one number, as {edge: n} when edge is
// not "", or as {"height": n, "width": n}; 0 when absent.
func hfSizeValue(v json.RawMessage, key, edge string) (int, error) {
	if !isJSONValue(v) {
		return 0, nil
	}
	var n int
	if err := json.Unmarshal(v, &n); err == nil {
		return n, nil
	}
	var m map[string]int
	if err := json.Unmarshal(v, &m); err != nil {
		return 0, fmt.Errorf("%s is %s: want a number or an object of numbers", key, bytes.TrimSpace(v))
	}
	if n, ok := m[edge]; ok && edge != "" && len(m) == 1 {
		return n, nil
	}
	h, hok := m["height"]
	w, wok := m["width"]
	if edge == "" && hok && wok && len(m) == 2 {
		if h != w {
			return 0, fmt.Errorf("%s is %d × %d: trak's image tower takes square images", key, h, w)
		}
		return h, nil
	}
	want := `{"height": n, "width": n}`
	if edge != "" {
		want = fmt.Sprintf(`{%q: n}`, edge)
	}
	return 0, fmt.Errorf("%s is %s: trak reads a number or %s", key, bytes.TrimSpace(v), want)
}
