package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/clipckpt"
)

// InspectOptions is what `trak inspect` runs with.
type InspectOptions struct {
	IO         *IOStreams
	Checkpoint string
	ModelCfg   string // open_clip JSON config or preset name; "" infers
}

func newCmdInspect(io *IOStreams, runF func(context.Context, *InspectOptions) error) *cobra.Command {
	opts := &InspectOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "inspect <checkpoint>",
		Short: "Show a CLIP checkpoint's architecture and check every tensor",
		Long: heredoc(`
			Read an open_clip checkpoint (.safetensors, or a PyTorch .pt/.bin zip: a
			plain state dict or a training checkpoint with "state_dict" and "module."
			prefixes), and print its architecture, the parameter count per tower and
			the tensor dtypes. Every tensor is read and checked: missing, unexpected and
			mis-shaped tensors and non-finite values are reported by name, and the exit
			status is 1 if there are any.

			Without --model-config the architecture is inferred from the shapes; head
			counts are then assumed to be width/64 and the activation exact GELU
			(OpenAI's weights need a -quickgelu config).
		`),
		Example: examples(`
			$ trak inspect ViT-B-32.safetensors
			$ trak inspect epoch_32.pt --model-config ViT-B-32-quickgelu
		`),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Checkpoint = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return inspectRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.ModelCfg, "model-config", "", "open_clip JSON config `file`, or a preset name ("+strings.Join(clip.PresetNames(), ", ")+")")
	return cmd
}

// loadModelConfig reads a config file or preset name; "" means infer.
func loadModelConfig(s string) (*clip.Config, error) {
	if s == "" {
		return nil, nil
	}
	if c, ok := clip.Preset(s); ok {
		return &c, nil
	}
	if _, err := os.Stat(s); err != nil {
		return nil, fmt.Errorf("model config %q is neither a file nor a preset (%s)", s, strings.Join(clip.PresetNames(), ", "))
	}
	c, err := clip.LoadConfig(s)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

func inspectRun(opts *InspectOptions) error {
	cfg, err := loadModelConfig(opts.ModelCfg)
	if err != nil {
		return err
	}
	ck, err := clipckpt.Open(opts.Checkpoint)
	if err != nil {
		return err
	}
	defer ck.Close()
	f := ck.File
	w := tabwriter.NewWriter(opts.IO.Out, 0, 8, 2, ' ', 0)
	size := int64(0)
	if st, err := os.Stat(ck.Weights); err == nil {
		size = st.Size()
	}
	fmt.Fprintf(w, "checkpoint\t%s\n", opts.Checkpoint)
	fmt.Fprintf(w, "layout\t%s\n", ck.Layout)
	fmt.Fprintf(w, "weights\t%s (%s, %.1f MB)\n", ck.Weights, f.Format, float64(size)/1e6)
	dtypes := map[string]int{}
	for _, name := range f.Names() {
		t, _ := f.Tensor(name)
		dtypes[t.DType.String()]++
	}
	var dts []string
	for dt, n := range dtypes {
		dts = append(dts, fmt.Sprintf("%s × %d", dt, n))
	}
	sort.Strings(dts)
	fmt.Fprintf(w, "tensors\t%d parameters (%s)\n", len(f.Names()), strings.Join(dts, ", "))
	if len(ck.Extras) > 0 {
		var names []string
		for _, e := range ck.Extras {
			names = append(names, e.Name)
		}
		fmt.Fprintf(w, "also stored\t%s (not parameters: checked, then ignored)\n", summarizeNames(names))
	}
	var source string
	switch {
	case cfg != nil:
		source = "model_config " + opts.ModelCfg
	default:
		source = ck.ArchitectureSource()
	}
	c, cfgErr := ck.Resolve(cfg)
	if cfgErr != nil && cfg == nil && ck.Config == nil {
		w.Flush()
		return cfgErr
	}
	switch {
	case cfg != nil:
		c = *cfg
	case cfgErr != nil:
		c = *ck.Config
	}
	act := "GELU"
	if c.QuickGELU {
		act = "QuickGELU"
	}
	fmt.Fprintf(w, "architecture\t%s\n", source)
	fmt.Fprintf(w, "embed_dim\t%d\n", c.EmbedDim)
	var vision, text int64
	for _, p := range c.Params() {
		switch {
		case strings.HasPrefix(p.Name, "visual."):
			vision += int64(p.Len())
		case p.Name != "logit_scale":
			text += int64(p.Len())
		}
	}
	eps := ""
	if c.LayerNormEps != 0 {
		eps = fmt.Sprintf(", LayerNorm eps %g", c.LayerNormEps)
	}
	fmt.Fprintf(w, "vision\tViT %d px, patch %d, width %d, %d layers, %d heads, MLP %d, %s%s: %s parameters\n",
		c.Vision.ImageSize, c.Vision.PatchSize, c.Vision.Width, c.Vision.Layers, c.VisionHeads(), c.VisionMLP(), act, eps, commas(vision))
	fmt.Fprintf(w, "text\tcontext %d, vocab %d, width %d, %d layers, %d heads, MLP %d, %s%s: %s parameters\n",
		c.Text.ContextLength, c.Text.VocabSize, c.Text.Width, c.Text.Layers, c.Text.Heads, c.TextMLP(), act, eps, commas(text))
	fmt.Fprintf(w, "total\t%s parameters (+ logit_scale)\n", commas(c.NumParams()))
	if p := ck.Preprocess; p != nil {
		fmt.Fprintf(w, "preprocess\t%s (from %s)\n", describePreprocess(p), p.Source)
	}
	if ck.VocabDir != "" {
		fmt.Fprintf(w, "vocabulary\t%s (vocab.json, merges.txt; vocab_dir overrides)\n", ck.VocabDir)
	}
	var problems []string
	if cfgErr != nil {
		problems = append(problems, cfgErr.Error())
	}
	for _, name := range f.Names() {
		t, _ := f.Tensor(name)
		buf := make([]float32, t.Len())
		if err := t.Float32s(buf); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		bad := 0
		for _, v := range buf {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				bad++
			}
		}
		if bad > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d non-finite values", name, bad))
		}
	}
	if ls, ok := f.Tensor("logit_scale"); ok && ls.Len() == 1 {
		v := make([]float32, 1)
		if ls.Float32s(v) == nil {
			fmt.Fprintf(w, "temperature\texp(logit_scale) = %.4g\n", math.Exp(float64(v[0])))
		}
	}
	if len(problems) == 0 {
		fmt.Fprintf(w, "status\tok: every tensor present, shaped as the architecture says, and finite\n")
		return w.Flush()
	}
	fmt.Fprintf(w, "status\t%d problem(s)\n", len(problems))
	w.Flush()
	return fmt.Errorf("%s:\n  %s", opts.Checkpoint, strings.Join(problems, "\n  "))
}

// describePreprocess is one line of the image settings a folder states.
func describePreprocess(p *clipckpt.Preprocess) string {
	var parts []string
	if p.ImageSize != 0 {
		parts = append(parts, fmt.Sprintf("size %d", p.ImageSize))
	}
	if p.Mean != nil {
		parts = append(parts, fmt.Sprintf("mean %g", p.Mean))
	}
	if p.Std != nil {
		parts = append(parts, fmt.Sprintf("std %g", p.Std))
	}
	if p.Interpolation != "" {
		parts = append(parts, p.Interpolation)
	}
	if p.ResizeMode != "" {
		parts = append(parts, "resize "+p.ResizeMode)
	}
	if p.FillColor != nil {
		parts = append(parts, fmt.Sprintf("fill %d", *p.FillColor))
	}
	if len(parts) == 0 {
		return "open_clip's defaults"
	}
	return strings.Join(parts, ", ")
}

// summarizeNames lists names, collapsing a block index into {i} so that a
// buffer repeated in every block reads once ("transformer.resblocks.{i}.attn_mask × 12").
func summarizeNames(names []string) string {
	counts := map[string]int{}
	var order []string
	for _, n := range names {
		parts := strings.Split(n, ".")
		for i, p := range parts {
			if _, err := strconv.Atoi(p); err == nil {
				parts[i] = "{i}"
			}
		}
		k := strings.Join(parts, ".")
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	var out []string
	for _, k := range order {
		if counts[k] > 1 {
			out = append(out, fmt.Sprintf("%s × %d", k, counts[k]))
		} else {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
