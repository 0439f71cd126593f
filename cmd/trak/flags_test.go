package main

// In-process tests of the command lines: each command is built with a runF
// that keeps the parsed options instead of doing the work, so no binary is
// built and nothing is computed.

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/config"
	"github.com/trak-dev/trak/internal/imageprep"
	"github.com/trak-dev/trak/internal/train"
)

// parseOptions parses args with the command newCmd makes and returns the
// options its runF received (nil when it was not called).
func parseOptions[O any](t *testing.T, newCmd func(*IOStreams, func(context.Context, *O) error) *cobra.Command, args ...string) (*O, *IOStreams, error) {
	t.Helper()
	io, _, _ := testIO()
	var got *O
	err := runCmd(newCmd(io, func(_ context.Context, o *O) error { got = o; return nil }), args...)
	if err == nil && got == nil {
		t.Fatal("the command succeeded without calling runF")
	}
	return got, io, err
}

// checkParse checks the outcome of parseOptions: err contains wantErr when
// it is set, and otherwise got equals want once normalize (which gets the
// IOStreams the command was given) has checked and cleared the fields that
// want leaves out.
func checkParse[O any](t *testing.T, got *O, io *IOStreams, err error, wantErr string, want O, normalize func(*testing.T, *O, *IOStreams)) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	normalize(t, got, io)
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", *got, want)
	}
}

func TestNewCmdFinalize(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    FinalizeOptions
		lambda  float64
	}{
		{name: "defaults", args: []string{"--save-dir", "s"}},
		{name: "model ids and lambda", args: []string{"--save-dir", "s", "--model-id", "0", "--model-id", "2,3", "--lambda", "0.5"},
			want: FinalizeOptions{ModelIDs: []int{0, 2, 3}}, lambda: 0.5},
		{name: "no store", args: []string{"--lambda", "1"}, wantErr: "save_dir is not set"},
		{name: "bad model id", args: []string{"--save-dir", "s", "--model-id", "x"}, wantErr: `invalid argument "x"`},
		{name: "positional argument", args: []string{"--save-dir", "s", "extra"}, wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, io, err := parseOptions(t, newCmdFinalize, tt.args...)
			checkParse(t, got, io, err, tt.wantErr, tt.want, func(t *testing.T, o *FinalizeOptions, io *IOStreams) {
				if o.IO != io || o.Config.SaveDir != "s" || o.Config.Lambda != tt.lambda {
					t.Errorf("IO %p (want %p), save_dir %q, lambda %g (want %g)", o.IO, io, o.Config.SaveDir, o.Config.Lambda, tt.lambda)
				}
				o.IO, o.Config = nil, config.Config{}
			})
		})
	}
}

func TestNewCmdScore(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "flags", args: []string{"--save-dir", "s", "--targets", "v.csv", "--exp", "val", "--skip-unfinished", "--batch-size", "3", "--on-bad-example", "skip"}},
		{name: "no targets", args: []string{"--save-dir", "s", "--exp", "val"}, wantErr: "targets is not set"},
		{name: "no exp", args: []string{"--save-dir", "s", "--targets", "v.csv"}, wantErr: "exp is not set"},
		{name: "bad batch size", args: []string{"--save-dir", "s", "--targets", "v.csv", "--exp", "val", "--batch-size", "many"}, wantErr: `invalid argument "many"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, io, err := parseOptions(t, newCmdScore, tt.args...)
			checkParse(t, got, io, err, tt.wantErr, ScoreOptions{}, func(t *testing.T, o *ScoreOptions, io *IOStreams) {
				c := o.Config
				if o.IO != io || c.SaveDir != "s" || c.Targets != "v.csv" || c.Exp != "val" || !c.SkipUnfinished || c.BatchSize != 3 || c.OnBadExample != "skip" {
					t.Errorf("IO %p (want %p), config %+v", o.IO, io, c)
				}
				o.IO, o.Config = nil, config.Config{}
			})
		})
	}
}

func TestNewCmdInspect(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    InspectOptions
	}{
		{name: "defaults", args: []string{"m.safetensors"}, want: InspectOptions{Checkpoint: "m.safetensors", Format: "text"}},
		{name: "all flags", args: []string{"m.pt", "--model-config", "ViT-B-32", "--format", "json"},
			want: InspectOptions{Checkpoint: "m.pt", ModelCfg: "ViT-B-32", Format: "json"}},
		{name: "no checkpoint", wantErr: "accepts 1 arg"},
		{name: "two checkpoints", args: []string{"a", "b"}, wantErr: "accepts 1 arg"},
		{name: "bad format", args: []string{"m.pt", "--format", "xml"}, wantErr: "want text or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, io, err := parseOptions(t, newCmdInspect, tt.args...)
			checkParse(t, got, io, err, tt.wantErr, tt.want, clearIO[InspectOptions])
		})
	}
}

func TestNewCmdPreprocess(t *testing.T) {
	defaults := PreprocessOptions{Out: "x.npy", Size: 224, MaxPixels: imageprep.DefaultMaxPixels, OnBadExample: "fail", Workers: runtime.NumCPU(), ImageMode: "auto"}
	all := PreprocessOptions{Data: "train.csv", Out: "x.npy", Size: 64, MaxPixels: 1000, OnBadExample: "skip", Workers: 3, ImageMode: "rgb", ExifTranspose: true}
	images := defaults
	images.Images = []string{"a.png", "b.jpg"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    PreprocessOptions
	}{
		{name: "images, defaults", args: []string{"a.png", "b.jpg", "--out", "x.npy"}, want: images},
		{name: "data, all flags", args: []string{"--data", "train.csv", "--out", "x.npy", "--image-size", "64", "--max-pixels", "1000", "--on-bad-example", "skip", "--workers", "3", "--image-mode", "rgb", "--exif-transpose"},
			want: all},
		{name: "no out", args: []string{"a.png"}, wantErr: "--out is required"},
		{name: "neither images nor data", args: []string{"--out", "x.npy"}, wantErr: "not both or neither"},
		{name: "images and data", args: []string{"a.png", "--data", "d.csv", "--out", "x.npy"}, wantErr: "not both or neither"},
		{name: "size 0", args: []string{"a.png", "--out", "x.npy", "--image-size", "0"}, wantErr: "--image-size must be positive"},
		{name: "size too large", args: []string{"a.png", "--out", "x.npy", "--image-size", "1000000"}, wantErr: "--image-size must be at most"},
		{name: "bad policy", args: []string{"a.png", "--out", "x.npy", "--on-bad-example", "ignore"}, wantErr: "must be fail or skip"},
		{name: "bad image mode", args: []string{"a.png", "--out", "x.npy", "--image-mode", "cmyk"}, wantErr: "must be auto, native or rgb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, io, err := parseOptions(t, newCmdPreprocess, tt.args...)
			checkParse(t, got, io, err, tt.wantErr, tt.want, func(t *testing.T, o *PreprocessOptions, io *IOStreams) {
				if len(o.Images) == 0 {
					o.Images = nil // cobra passes no arguments as an empty slice
				}
				clearIO(t, o, io)
			})
		})
	}
}

func TestNewCmdTokenize(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    TokenizeOptions
	}{
		{name: "stdin, defaults", want: TokenizeOptions{ContextLength: 77}},
		{name: "arguments, all flags", args: []string{"a cat", "a dog", "--context-length", "16", "--out", "t.npy", "--vocab-dir", "v", "--trim"},
			want: TokenizeOptions{Captions: []string{"a cat", "a dog"}, ContextLength: 16, Out: "t.npy", VocabDir: "v", Trim: true}},
		{name: "context length 0", args: []string{"--context-length", "0"}, wantErr: "--context-length must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, io, err := parseOptions(t, newCmdTokenize, tt.args...)
			checkParse(t, got, io, err, tt.wantErr, tt.want, clearIO[TokenizeOptions])
		})
	}
}

func TestNewCmdTrain(t *testing.T) {
	required := []string{"--data", "d.csv", "--model-config", "tiny", "--out", "run"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		want    TrainOptions
	}{
		{name: "defaults: one checkpoint at the end", args: required,
			want: TrainOptions{Data: "d.csv", ModelConfig: "tiny", Out: "run", SaveEvery: 10,
				Opt: train.Options{Epochs: 10, BatchSize: 32, LR: 2e-3, WeightDecay: 0.1, Warmup: 15, ClipNorm: 0.1}}},
		{name: "all flags", args: append(required, "--vocab-dir", "v", "--epochs", "4", "--batch-size", "8", "--lr", "3e-3", "--weight-decay", "0", "--warmup", "2", "--grad-clip-norm", "0", "--seed", "7", "--save-every", "2", "--workers", "3"),
			want: TrainOptions{Data: "d.csv", ModelConfig: "tiny", Out: "run", VocabDir: "v", SaveEvery: 2, Workers: 3,
				Opt: train.Options{Epochs: 4, BatchSize: 8, LR: 3e-3, WeightDecay: 0, Warmup: 2, Seed: 7}}},
		{name: "no out", args: []string{"--data", "d.csv", "--model-config", "tiny"}, wantErr: "--out are required"},
		{name: "initial weights only", args: append(required, "--epochs", "0"),
			want: TrainOptions{Data: "d.csv", ModelConfig: "tiny", Out: "run", SaveEvery: 0,
				Opt: train.Options{Epochs: 0, BatchSize: 32, LR: 2e-3, WeightDecay: 0.1, Warmup: 15, ClipNorm: 0.1}}},
		{name: "negative epochs", args: append(required, "--epochs", "-1"), wantErr: "--epochs must be ≥ 0"},
		{name: "batch of one", args: append(required, "--batch-size", "1"), wantErr: "--batch-size ≥ 2"},
		{name: "lr 0", args: append(required, "--lr", "0"), wantErr: "--lr must be positive"},
		{name: "negative weight decay", args: append(required, "--weight-decay", "-1"), wantErr: "--weight-decay ≥ 0"},
		{name: "negative clip norm", args: append(required, "--grad-clip-norm", "-1"), wantErr: "--grad-clip-norm must be ≥ 0"},
		{name: "positional argument", args: append(required, "extra"), wantErr: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, io, err := parseOptions(t, newCmdTrain, tt.args...)
			checkParse(t, got, io, err, tt.wantErr, tt.want, clearIO[TrainOptions])
		})
	}
}

// clearIO checks that the options hold the command's IOStreams and clears
// them; O is an options struct with an IO field.
func clearIO[O any](t *testing.T, o *O, io *IOStreams) {
	t.Helper()
	f := reflect.ValueOf(o).Elem().FieldByName("IO")
	if f.Interface() != io {
		t.Errorf("IO %p, want the command's %p", f.Interface(), io)
	}
	f.Set(reflect.Zero(f.Type()))
}
