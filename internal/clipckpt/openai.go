package clipckpt

import "github.com/trak-dev/trak/internal/clip"

// openAI reads the architecture of an OpenAI TorchScript archive: the
// shapes tell every size (OpenAI's heads are width/64 in both towers, as
// InferConfig assumes) and the activation is QuickGELU.
func (c *Checkpoint) openAI() error {
	if err := c.splitExtras(); err != nil {
		return err
	}
	cfg, err := clip.InferConfig(clip.ShapesOf(c.File))
	if err != nil {
		return err
	}
	cfg.QuickGELU = true
	c.Config = &cfg
	c.ConfigSource = "tensor shapes of OpenAI's archive (heads = width/64, QuickGELU)"
	return nil
}
