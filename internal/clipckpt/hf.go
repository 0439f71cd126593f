package clipckpt

import (
	"errors"
	"strings"
)

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
// with the architecture from dir's config.json.
func (c *Checkpoint) huggingFace(dir string) error {
	return errors.New("Hugging Face CLIPModel checkpoints: not yet")
}
