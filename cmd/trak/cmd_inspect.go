package main

import (
	"context"
	"fmt"
	"io"
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
	Format     string // text or json
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
	addFormatFlag(cmd, &opts.Format)
	return cmd
}

// inspectReport is what `trak inspect` finds; --format json prints it as
// is, and the text form prints the same facts as a table.
type inspectReport struct {
	Checkpoint string `json:"checkpoint"`
	Layout     string `json:"layout"`
	Weights    struct {
		Path      string `json:"path"`
		Format    string `json:"format"`
		SizeBytes int64  `json:"size_bytes"`
	} `json:"weights"`
	Tensors struct {
		Count  int            `json:"count"`
		DTypes map[string]int `json:"dtypes"`
	} `json:"tensors"`
	// AlsoStored are the entries that are not parameters: checked, then
	// ignored.
	AlsoStored []string `json:"also_stored"`
	// Architecture is null when neither a config nor the shapes give one.
	Architecture *inspectArch       `json:"architecture"`
	Preprocess   *inspectPreprocess `json:"preprocess"`
	VocabDir     string             `json:"vocab_dir"`
	// Temperature is exp(logit_scale), null without a logit_scale.
	Temperature *float64 `json:"temperature"`
	OK          bool     `json:"ok"`
	Problems    []string `json:"problems"`
}

type inspectArch struct {
	Source          string       `json:"source"`
	EmbedDim        int          `json:"embed_dim"`
	Activation      string       `json:"activation"` // gelu or quick_gelu
	LayerNormEps    float64      `json:"layer_norm_eps"`
	Vision          inspectTower `json:"vision"`
	Text            inspectTower `json:"text"`
	TotalParameters int64        `json:"total_parameters"` // without logit_scale
}

// inspectTower describes one tower; the fields a tower lacks are omitted.
type inspectTower struct {
	ImageSize     int   `json:"image_size,omitempty"`
	PatchSize     int   `json:"patch_size,omitempty"`
	ContextLength int   `json:"context_length,omitempty"`
	VocabSize     int   `json:"vocab_size,omitempty"`
	Width         int   `json:"width"`
	Layers        int   `json:"layers"`
	Heads         int   `json:"heads"`
	MLPWidth      int   `json:"mlp_width"`
	Parameters    int64 `json:"parameters"`
}

type inspectPreprocess struct {
	ImageSize     int       `json:"image_size,omitempty"`
	Mean          []float64 `json:"mean,omitempty"`
	Std           []float64 `json:"std,omitempty"`
	Interpolation string    `json:"interpolation,omitempty"`
	ResizeMode    string    `json:"resize_mode,omitempty"`
	FillColor     *int      `json:"fill_color,omitempty"`
	Source        string    `json:"source"`

	text string
}

func inspectRun(opts *InspectOptions) error {
	r, err := inspectCheckpoint(opts)
	if r == nil {
		return err
	}
	if opts.Format == formatJSON {
		if werr := writeJSON(opts.IO.Out, r); werr != nil {
			return werr
		}
		return err
	}
	if werr := r.writeText(opts.IO.Out); werr != nil {
		return werr
	}
	return err
}

// inspectCheckpoint reads and checks the checkpoint. It returns a nil
// report when nothing could be read, and an error when the checkpoint has
// problems (listed in the report too).
func inspectCheckpoint(opts *InspectOptions) (*inspectReport, error) {
	cfg, err := clip.LoadConfigOrPreset(opts.ModelCfg)
	if err != nil {
		return nil, err
	}
	ck, err := clipckpt.Open(opts.Checkpoint)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	f := ck.File
	r := &inspectReport{Checkpoint: opts.Checkpoint, Layout: ck.Layout, AlsoStored: []string{}, Problems: []string{}}
	r.Weights.Path, r.Weights.Format = ck.Weights, f.Format
	if st, err := os.Stat(ck.Weights); err == nil {
		r.Weights.SizeBytes = st.Size()
	}
	r.Tensors.Count = len(f.Names())
	r.Tensors.DTypes = map[string]int{}
	for _, name := range f.Names() {
		t, _ := f.Tensor(name)
		r.Tensors.DTypes[t.DType.String()]++
	}
	for _, e := range ck.Extras {
		r.AlsoStored = append(r.AlsoStored, e.Name)
	}
	source := ck.ArchitectureSource()
	if cfg != nil {
		source = "model_config " + opts.ModelCfg
	}
	c, cfgErr := ck.Resolve(cfg)
	if cfgErr != nil && cfg == nil && ck.Config == nil {
		r.Problems = append(r.Problems, cfgErr.Error())
		return r, cfgErr
	}
	switch {
	case cfg != nil:
		c = *cfg
	case cfgErr != nil:
		c = *ck.Config
	}
	a := &inspectArch{Source: source, EmbedDim: c.EmbedDim, Activation: "gelu", LayerNormEps: c.LayerNormEps}
	if c.QuickGELU {
		a.Activation = "quick_gelu"
	}
	if a.LayerNormEps == 0 {
		a.LayerNormEps = 1e-5
	}
	for _, p := range c.Params() {
		switch {
		case strings.HasPrefix(p.Name, "visual."):
			a.Vision.Parameters += int64(p.Len())
		case p.Name != "logit_scale":
			a.Text.Parameters += int64(p.Len())
		}
	}
	a.Vision.ImageSize, a.Vision.PatchSize, a.Vision.Width, a.Vision.Layers, a.Vision.Heads, a.Vision.MLPWidth =
		c.Vision.ImageSize, c.Vision.PatchSize, c.Vision.Width, c.Vision.Layers, c.VisionHeads(), c.VisionMLP()
	a.Text.ContextLength, a.Text.VocabSize, a.Text.Width, a.Text.Layers, a.Text.Heads, a.Text.MLPWidth =
		c.Text.ContextLength, c.Text.VocabSize, c.Text.Width, c.Text.Layers, c.Text.Heads, c.TextMLP()
	a.TotalParameters = c.NumParams()
	r.Architecture = a
	if p := ck.Preprocess; p != nil {
		r.Preprocess = &inspectPreprocess{ImageSize: p.ImageSize, Mean: p.Mean, Std: p.Std, Interpolation: p.Interpolation,
			ResizeMode: p.ResizeMode, FillColor: p.FillColor, Source: p.Source, text: describePreprocess(p)}
	}
	r.VocabDir = ck.VocabDir
	if cfgErr != nil {
		r.Problems = append(r.Problems, cfgErr.Error())
	}
	for _, name := range f.Names() {
		t, _ := f.Tensor(name)
		buf := make([]float32, t.Len())
		if err := t.Float32s(buf); err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		bad := 0
		for _, v := range buf {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				bad++
			}
		}
		if bad > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %d non-finite values", name, bad))
		}
	}
	if ls, ok := f.Tensor("logit_scale"); ok && ls.Len() == 1 {
		v := make([]float32, 1)
		if ls.Float32s(v) == nil {
			temp := math.Exp(float64(v[0]))
			r.Temperature = &temp
		}
	}
	if len(r.Problems) > 0 {
		return r, fmt.Errorf("%s:\n  %s", opts.Checkpoint, strings.Join(r.Problems, "\n  "))
	}
	r.OK = true
	return r, nil
}

// writeText prints the report as a two-column table.
func (r *inspectReport) writeText(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(w, "checkpoint\t%s\n", r.Checkpoint)
	fmt.Fprintf(w, "layout\t%s\n", r.Layout)
	fmt.Fprintf(w, "weights\t%s (%s, %.1f MB)\n", r.Weights.Path, r.Weights.Format, float64(r.Weights.SizeBytes)/1e6)
	var dts []string
	for dt, n := range r.Tensors.DTypes {
		dts = append(dts, fmt.Sprintf("%s × %d", dt, n))
	}
	sort.Strings(dts)
	fmt.Fprintf(w, "tensors\t%d parameters (%s)\n", r.Tensors.Count, strings.Join(dts, ", "))
	if len(r.AlsoStored) > 0 {
		fmt.Fprintf(w, "also stored\t%s (not parameters: checked, then ignored)\n", summarizeNames(r.AlsoStored))
	}
	a := r.Architecture
	if a == nil {
		return w.Flush()
	}
	act := "GELU"
	if a.Activation == "quick_gelu" {
		act = "QuickGELU"
	}
	eps := ""
	if a.LayerNormEps != 1e-5 {
		eps = fmt.Sprintf(", LayerNorm eps %g", a.LayerNormEps)
	}
	fmt.Fprintf(w, "architecture\t%s\n", a.Source)
	fmt.Fprintf(w, "embed_dim\t%d\n", a.EmbedDim)
	v, t := a.Vision, a.Text
	fmt.Fprintf(w, "vision\tViT %d px, patch %d, width %d, %d layers, %d heads, MLP %d, %s%s: %s parameters\n",
		v.ImageSize, v.PatchSize, v.Width, v.Layers, v.Heads, v.MLPWidth, act, eps, commas(v.Parameters))
	fmt.Fprintf(w, "text\tcontext %d, vocab %d, width %d, %d layers, %d heads, MLP %d, %s%s: %s parameters\n",
		t.ContextLength, t.VocabSize, t.Width, t.Layers, t.Heads, t.MLPWidth, act, eps, commas(t.Parameters))
	fmt.Fprintf(w, "total\t%s parameters (+ logit_scale)\n", commas(a.TotalParameters))
	if p := r.Preprocess; p != nil {
		fmt.Fprintf(w, "preprocess\t%s (from %s)\n", p.text, p.Source)
	}
	if r.VocabDir != "" {
		fmt.Fprintf(w, "vocabulary\t%s (vocab.json, merges.txt; vocab_dir overrides)\n", r.VocabDir)
	}
	if r.Temperature != nil {
		fmt.Fprintf(w, "temperature\texp(logit_scale) = %.4g\n", *r.Temperature)
	}
	if r.OK {
		fmt.Fprintf(w, "status\tok: every tensor present, shaped as the architecture says, and finite\n")
	} else {
		fmt.Fprintf(w, "status\t%d problem(s)\n", len(r.Problems))
	}
	return w.Flush()
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
