package clipckpt

import (
	"fmt"
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
	return fmt.Errorf("%s has Hugging Face CLIPModel names, which this trak does not read yet: save the model with open_clip's names", dir)
}
