package clipckpt

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clip"
)

// OpenAI's model and state dicts saved from it carry entries that are not
// parameters: the text tower's causal attention mask as a buffer in every
// block, and the image resolution, context length and vocabulary size.
// They are accepted, and checked against the architecture where they say
// something about it.

// extraNames are the whole names of non-parameter entries.
var extraNames = map[string]bool{
	"input_resolution": true, "visual.input_resolution": true,
	"context_length": true, "vocab_size": true,
}

// isExtra reports whether the tensor called name is not a parameter.
func isExtra(name string) bool {
	return extraNames[name] || name == "attn_mask" || strings.HasSuffix(name, ".attn_mask")
}

// splitExtras moves the entries that are not parameters from c.File into
// c.Extras, and presents the tensors of an open_clip CustomTextCLIP
// ("text." prefix on a standard text transformer) under CLIP's names.
func (c *Checkpoint) splitExtras() error {
	var keep []*checkpoint.Tensor
	changed := false
	_, plainText := c.File.Tensor("token_embedding.weight")
	_, customText := c.File.Tensor("text.token_embedding.weight")
	for _, name := range c.File.Names() {
		t, _ := c.File.Tensor(name)
		if isExtra(name) {
			c.Extras = append(c.Extras, Extra{Name: name, Tensor: t})
			changed = true
			continue
		}
		if rest, ok := strings.CutPrefix(name, "text."); ok && customText && !plainText {
			keep = append(keep, t.Renamed(rest))
			changed = true
			continue
		}
		keep = append(keep, t)
	}
	for _, key := range []string{"input_resolution", "visual.input_resolution", "context_length", "vocab_size"} {
		if v, ok := c.File.Metadata[key]; ok {
			c.Extras = append(c.Extras, Extra{Name: key, Value: v})
		}
	}
	if !changed {
		return nil
	}
	v, err := c.File.View(c.File.Format, keep)
	if err != nil {
		return err
	}
	c.File = v
	return nil
}

// checkExtras checks what the extra entries say against the architecture.
func (c *Checkpoint) checkExtras(cfg clip.Config) error {
	var problems []string
	for _, e := range c.Extras {
		var err error
		switch {
		case strings.HasSuffix(e.Name, "attn_mask"):
			err = checkMask(e.Tensor, !strings.HasPrefix(e.Name, "visual."), cfg)
		case e.Name == "input_resolution" || e.Name == "visual.input_resolution":
			err = checkInt(e, cfg.Vision.ImageSize, "image size (vision_cfg.image_size)")
		case e.Name == "context_length":
			err = checkInt(e, cfg.Text.ContextLength, "context length (text_cfg.context_length)")
		case slices.Contains(hfPositionIDs, e.Name):
			err = checkHFPositionIDs(e, cfg)
		case e.Name == "vocab_size":
			err = checkInt(e, cfg.Text.VocabSize, "vocabulary size (text_cfg.vocab_size)")
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", e.Name, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s contradicts its architecture:\n  %s", c.Weights, strings.Join(problems, "\n  "))
	}
	return nil
}

// checkInt checks that an extra entry holds the integer want.
func checkInt(e Extra, want int, what string) error {
	var got float64
	switch {
	case e.Tensor != nil:
		if e.Tensor.Len() != 1 {
			return fmt.Errorf("holds %d values, want one", e.Tensor.Len())
		}
		v := make([]float32, 1)
		if err := e.Tensor.Float32s(v); err != nil {
			return err
		}
		got = float64(v[0])
	default:
		f, err := strconv.ParseFloat(e.Value, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", e.Value)
		}
		got = f
	}
	if got != float64(want) {
		return fmt.Errorf("says %g, the weights' %s is %d", got, what, want)
	}
	return nil
}

// checkMask checks an attention mask buffer: the text tower's must be the
// causal mask trak applies (0 on and below the diagonal, −inf above), an
// image tower's must mask nothing.
func checkMask(t *checkpoint.Tensor, causal bool, cfg clip.Config) error {
	v := make([]float32, t.Len())
	if err := t.Float32s(v); err != nil {
		return err
	}
	if !causal {
		for _, x := range v {
			if x != 0 {
				return fmt.Errorf("masks image tokens; trak's image tower attends to every token")
			}
		}
		return nil
	}
	n := cfg.Text.ContextLength
	if len(t.Shape) != 2 || t.Shape[0] != n || t.Shape[1] != n {
		return fmt.Errorf("shape %s, want the causal mask of the context length, %d × %d", checkpoint.FormatShape(t.Shape), n, n)
	}
	for i := range n {
		for j := range n {
			x := float64(v[i*n+j])
			if (j > i && !math.IsInf(x, -1)) || (j <= i && x != 0) {
				return fmt.Errorf("is not the causal mask (0 on and below the diagonal, −inf above) at row %d, column %d: %g", i, j, x)
			}
		}
	}
	return nil
}
