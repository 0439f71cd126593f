package clipckpt

import "fmt"

// openAI prepares an OpenAI TorchScript archive. Its shapes tell every size
// but the head counts (OpenAI's rule, width/64 in both towers, is what
// InferConfig assumes) and the activation, which is QuickGELU in every
// model OpenAI released: Resolve applies it.
func (c *Checkpoint) openAI() error {
	c.quickGELU = true
	return c.splitExtras()
}

// checkActivation refuses a given architecture that computes OpenAI's
// weights with another activation than theirs.
func (c *Checkpoint) checkActivation(quickGELU bool) error {
	if c.quickGELU && !quickGELU {
		return fmt.Errorf("%s is an OpenAI archive, whose models use QuickGELU, but model_config has quick_gelu false: use the -quickgelu config (e.g. ViT-B-32-quickgelu) or remove model_config", c.Weights)
	}
	return nil
}
