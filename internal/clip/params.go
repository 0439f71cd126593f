package clip

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Param is one parameter tensor: its open_clip name, its shape, and its
// offset in the flattened parameter vector (the row of the projection where
// it starts).
type Param struct {
	Name   string
	Shape  []int
	Offset int64
}

// Len returns the number of elements.
func (p Param) Len() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Params lists the model's parameters in open_clip's module definition
// order (named_parameters()), which is the row order of the projection.
func (c Config) Params() []Param {
	var ps []Param
	var off int64
	add := func(name string, shape ...int) {
		ps = append(ps, Param{Name: name, Shape: shape, Offset: off})
		off += int64(ps[len(ps)-1].Len())
	}
	block := func(prefix string, w, mlp int) {
		add(prefix+"ln_1.weight", w)
		add(prefix+"ln_1.bias", w)
		add(prefix+"attn.in_proj_weight", 3*w, w)
		add(prefix+"attn.in_proj_bias", 3*w)
		add(prefix+"attn.out_proj.weight", w, w)
		add(prefix+"attn.out_proj.bias", w)
		add(prefix+"ln_2.weight", w)
		add(prefix+"ln_2.bias", w)
		add(prefix+"mlp.c_fc.weight", mlp, w)
		add(prefix+"mlp.c_fc.bias", mlp)
		add(prefix+"mlp.c_proj.weight", w, mlp)
		add(prefix+"mlp.c_proj.bias", w)
	}
	v, t := c.Vision, c.Text
	add("positional_embedding", t.ContextLength, t.Width)
	add("text_projection", t.Width, c.EmbedDim)
	add("logit_scale")
	add("visual.class_embedding", v.Width)
	add("visual.positional_embedding", c.VisionTokens(), v.Width)
	add("visual.proj", v.Width, c.EmbedDim)
	add("visual.conv1.weight", v.Width, 3, v.PatchSize, v.PatchSize)
	add("visual.ln_pre.weight", v.Width)
	add("visual.ln_pre.bias", v.Width)
	for i := range v.Layers {
		block(fmt.Sprintf("visual.transformer.resblocks.%d.", i), v.Width, c.VisionMLP())
	}
	add("visual.ln_post.weight", v.Width)
	add("visual.ln_post.bias", v.Width)
	for i := range t.Layers {
		block(fmt.Sprintf("transformer.resblocks.%d.", i), t.Width, c.TextMLP())
	}
	add("token_embedding.weight", t.VocabSize, t.Width)
	add("ln_final.weight", t.Width)
	add("ln_final.bias", t.Width)
	return ps
}

// NumParams returns the total number of parameters.
func (c Config) NumParams() int64 {
	ps := c.Params()
	last := ps[len(ps)-1]
	return last.Offset + int64(last.Len())
}

// InferConfig reconstructs the architecture from a checkpoint's tensor
// shapes. Two things cannot be read from shapes: attention head counts
// (taken as width/64, open_clip's convention for every ViT and text tower
// it ships) and the activation (taken as exact GELU); a config file overrides
// both, and OpenAI's original weights need quick_gelu.
func InferConfig(shapes map[string][]int) (Config, error) {
	get := func(name string, dims int) ([]int, error) {
		s, ok := shapes[name]
		if !ok {
			return nil, fmt.Errorf("no tensor %s: not an open_clip ViT CLIP checkpoint", name)
		}
		if len(s) != dims {
			return nil, fmt.Errorf("tensor %s has shape %v, want %d dimensions", name, s, dims)
		}
		return s, nil
	}
	var c Config
	tp, err := get("text_projection", 2)
	if err != nil {
		return c, err
	}
	conv, err := get("visual.conv1.weight", 4)
	if err != nil {
		return c, err
	}
	vpos, err := get("visual.positional_embedding", 2)
	if err != nil {
		return c, err
	}
	tpos, err := get("positional_embedding", 2)
	if err != nil {
		return c, err
	}
	tok, err := get("token_embedding.weight", 2)
	if err != nil {
		return c, err
	}
	c.EmbedDim = tp[1]
	c.Vision.Width, c.Vision.PatchSize = conv[0], conv[2]
	grid := int(math.Round(math.Sqrt(float64(vpos[0] - 1))))
	if grid*grid != vpos[0]-1 {
		return c, fmt.Errorf("visual.positional_embedding has %d rows, not 1 + a square number of patches", vpos[0])
	}
	c.Vision.ImageSize = grid * c.Vision.PatchSize
	c.Vision.Layers = countLayers(shapes, "visual.transformer.resblocks.")
	c.Vision.HeadWidth = 64
	if c.Vision.Width%64 != 0 {
		c.Vision.HeadWidth = c.Vision.Width
	}
	c.Text.ContextLength, c.Text.Width = tpos[0], tpos[1]
	c.Text.VocabSize = tok[0]
	c.Text.Layers = countLayers(shapes, "transformer.resblocks.")
	c.Text.Heads = max(c.Text.Width/64, 1)
	if c.Text.Width%c.Text.Heads != 0 {
		c.Text.Heads = 1
	}
	if fc, ok := shapes["visual.transformer.resblocks.0.mlp.c_fc.weight"]; ok && len(fc) == 2 && c.Vision.Width > 0 {
		c.Vision.MLPRatio = float64(fc[0]) / float64(c.Vision.Width)
	}
	if fc, ok := shapes["transformer.resblocks.0.mlp.c_fc.weight"]; ok && len(fc) == 2 && c.Text.Width > 0 {
		c.Text.MLPRatio = float64(fc[0]) / float64(c.Text.Width)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// countLayers returns 1 + the highest block index under prefix.
func countLayers(shapes map[string][]int, prefix string) int {
	n := 0
	for name := range shapes {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(idx); err == nil && i+1 > n {
			n = i + 1
		}
	}
	return n
}
