package clipckpt

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/trak-dev/trak/internal/checkpoint"
	"github.com/trak-dev/trak/internal/clip"
)

// Resolve returns the architecture to compute the checkpoint with, and
// checks every tensor against it. given is the architecture the user set
// (model_config), nil if none. A stated architecture (the file's or the
// folder's) is used when none is given; a given one that contradicts it is
// an error naming the keys that differ, since computing the model with the
// wrong activation or head count gives wrong numbers without failing.
// Without either, the architecture is inferred from tensor shapes.
func (c *Checkpoint) Resolve(given *clip.Config) (clip.Config, error) {
	var cfg clip.Config
	switch {
	case given != nil && c.Config != nil:
		if diff := configDiff(*c.Config, *given); len(diff) > 0 {
			return clip.Config{}, fmt.Errorf("model_config contradicts the architecture %s states (%s): %s; remove model_config to use the checkpoint's own",
				c.Weights, c.ConfigSource, strings.Join(diff, ", "))
		}
		cfg = *given
	case given != nil:
		if err := c.checkActivation(given.QuickGELU); err != nil {
			return clip.Config{}, err
		}
		cfg = *given
	case c.Config != nil:
		cfg = *c.Config
	default:
		inferred, err := clip.InferConfig(clip.ShapesOf(c.File))
		if err != nil {
			return clip.Config{}, fmt.Errorf("%s: %w", c.Weights, err)
		}
		inferred.QuickGELU = c.quickGELU
		cfg = inferred
	}
	if err := checkpoint.Check(c.File, cfg.Expected()); err != nil {
		return clip.Config{}, err
	}
	if err := c.checkExtras(cfg); err != nil {
		return clip.Config{}, err
	}
	return cfg, nil
}

// ArchitectureSource says where the architecture comes from when no
// model_config is given.
func (c *Checkpoint) ArchitectureSource() string {
	switch {
	case c.Config != nil:
		return c.ConfigSource
	case c.quickGELU:
		return "tensor shapes of an OpenAI archive (heads = width/64, QuickGELU)"
	}
	return "inferred from tensor shapes (heads = width/64; the activation is not visible: exact GELU assumed, set --model-config to a -quickgelu config for OpenAI-trained weights)"
}

// maxListed bounds the differences an error lists.
const maxListed = 5

// configDiff lists the keys on which two configs disagree, as
// "key: a vs b" in open_clip's JSON names.
func configDiff(stated, given clip.Config) []string {
	flat := func(c clip.Config) map[string]string {
		var m map[string]any
		json.Unmarshal(c.JSON(), &m)
		out := map[string]string{}
		var walk func(prefix string, v any)
		walk = func(prefix string, v any) {
			if sub, ok := v.(map[string]any); ok {
				for k, x := range sub {
					walk(prefix+k+".", x)
				}
				return
			}
			out[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(v)
		}
		walk("", m)
		return out
	}
	a, b := flat(stated), flat(given)
	var diff []string
	for k, av := range a {
		if bv := b[k]; bv != av {
			diff = append(diff, fmt.Sprintf("%s is %s in the checkpoint, %s in model_config", k, av, bv))
		}
	}
	for k, bv := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s is unset in the checkpoint, %s in model_config", k, bv))
		}
	}
	slices.Sort(diff)
	if len(diff) > maxListed {
		diff = append(diff[:maxListed], fmt.Sprintf("and %d more", len(diff)-maxListed))
	}
	return diff
}
