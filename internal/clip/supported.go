package clip

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Supported says, in one sentence, which CLIP models trak computes; errors
// about other architectures end with it.
const Supported = "trak computes CLIP models with a ViT image tower and a transformer text tower " +
	"(open_clip's ViT-* models, OpenAI's ViT CLIP weights, Hugging Face CLIPModel)"

// unsupportedConfig names the architecture of an open_clip config that trak
// does not compute, or returns "" when the config may describe a supported
// one (ParseConfig then checks every key).
func unsupportedConfig(raw map[string]json.RawMessage) string {
	sub := func(key string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		json.Unmarshal(raw[key], &m)
		return m
	}
	set := func(v json.RawMessage) bool {
		s := strings.TrimSpace(string(v))
		return s != "" && s != "null" && s != "false" && s != `""` && s != "0"
	}
	vision, text := sub("vision_cfg"), sub("text_cfg")
	if l := strings.TrimSpace(string(vision["layers"])); strings.HasPrefix(l, "[") {
		return "a ResNet image tower (open_clip's RN50, RN101, RN50x4, ... configs)"
	}
	if v, ok := vision["timm_model_name"]; ok && set(v) {
		var name string
		json.Unmarshal(v, &name)
		return fmt.Sprintf("a timm image tower (%s)", name)
	}
	if v, ok := text["hf_model_name"]; ok && set(v) {
		var name string
		json.Unmarshal(v, &name)
		return fmt.Sprintf("a Hugging Face text tower (%s)", name)
	}
	if _, ok := raw["multimodal_cfg"]; ok {
		return "CoCa (a captioning decoder beside the two towers)"
	}
	if v, ok := raw["init_logit_bias"]; ok && set(v) {
		return "SigLIP (a sigmoid loss with a logit bias)"
	}
	return ""
}

// UnsupportedTensors names the architecture of a checkpoint that trak does
// not compute, told by its tensor names, or returns "" when the names may
// belong to a supported model.
func UnsupportedTensors(names []string) string {
	has := func(prefix string) bool {
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				return true
			}
		}
		return false
	}
	switch {
	case has("visual.layer1.") || has("visual.attnpool."):
		return "a ResNet image tower (RN50-style weights)"
	case has("visual.trunk."):
		return "a timm image tower (ConvNeXt, EVA or another timm model)"
	case has("text.transformer.embeddings.") || has("text.transformer.encoder."):
		return "a Hugging Face text tower"
	case has("text_decoder."):
		return "CoCa (a captioning decoder beside the two towers)"
	case has("logit_bias"):
		return "SigLIP (a sigmoid loss with a logit bias)"
	case has("visual.attn_pool.") || has("visual.attn_pool_contrastive."):
		return "an attentional-pooling image tower (CoCa-style)"
	}
	return ""
}
