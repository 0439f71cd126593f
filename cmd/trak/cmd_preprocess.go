package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/imageprep"
	"github.com/trak-dev/trak/internal/npy"
	cliptask "github.com/trak-dev/trak/internal/tasks/clip"
)

// PreprocessOptions is what `trak preprocess` runs with.
type PreprocessOptions struct {
	IO            *IOStreams
	Images        []string // image files, or
	Data          string   // a data set (CSV/TSV, tar shards, folder)
	Out           string
	Size          int
	MaxPixels     int64
	OnBadExample  string // fail or skip
	Workers       int
	ImageMode     string // auto, native or rgb
	ExifTranspose bool
}

func newCmdPreprocess(io *IOStreams, runF func(context.Context, *PreprocessOptions) error) *cobra.Command {
	opts := &PreprocessOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "preprocess (<image>... | --data <path>) --out <file.npy>",
		Short: "Turn images into CLIP input tensors",
		Long: heredoc(`
			Decode images (PNG, JPEG with EXIF orientation, GIF, BMP, TIFF, WebP),
			resize the shorter side to --image-size with bicubic interpolation,
			centre-crop, convert to RGB (alpha dropped, colour kept) and normalise with
			CLIP's mean and standard deviation: the tensors the model sees, as open_clip
			computes them. The result is an N × 3 × S × S float32 .npy file.

			--image-mode native resizes each image in its own mode (palette, gray,
			RGBA premultiplied, 16-bit, ...) and converts to RGB afterwards, as
			open_clip's preprocess(Image.open(path)) does; rgb converts to RGB first, as
			open_clip's webdataset loader does. auto (the default) picks rgb for tar
			shards and native for image files, CSV/TSV files and folders.

			Images come from the arguments or from a data set (--data: a CSV/TSV file,
			webdataset tar shards, or a folder of image + .txt pairs), in its row order.
			With --on-bad-example skip, an image that cannot be read keeps its row,
			filled with zeros, and is reported on stderr.
		`),
		Example: examples(`
			$ trak preprocess cat.jpg dog.png --out images.npy
			$ trak preprocess --data train.csv --image-size 224 --out train_images.npy
			$ trak preprocess --data 'shards/{00..09}.tar' --image-mode native --out x.npy
		`),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Images = args
			switch {
			case opts.Out == "":
				return usageErrorf("--out is required")
			case (len(args) == 0) == (opts.Data == ""):
				return usageErrorf("give image files or --data, not both or neither")
			case opts.Size < 1:
				return usageErrorf("--image-size must be positive, got %d", opts.Size)
			case opts.OnBadExample != "fail" && opts.OnBadExample != "skip":
				return usageErrorf("--on-bad-example must be fail or skip, got %q", opts.OnBadExample)
			case opts.ImageMode != cliptask.ImageModeAuto && opts.ImageMode != cliptask.ImageModeNative && opts.ImageMode != cliptask.ImageModeRGB:
				return usageErrorf("--image-mode must be auto, native or rgb, got %q", opts.ImageMode)
			case opts.Size > imageprep.MaxTransformSize:
				return usageErrorf("--image-size must be at most %d, got %d", imageprep.MaxTransformSize, opts.Size)
			}
			if opts.Workers < 1 {
				opts.Workers = runtime.NumCPU()
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return preprocessRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Data, "data", "", "Data set `path`: a CSV/TSV file, tar shards (globs, {00..09} ranges) or a folder")
	cmd.Flags().StringVar(&opts.Out, "out", "", "Output .npy `file`")
	cmd.Flags().IntVar(&opts.Size, "image-size", 224, "Side of the square model input, in pixels")
	cmd.Flags().Int64Var(&opts.MaxPixels, "max-pixels", imageprep.DefaultMaxPixels, "Refuse images with more pixels than this (decompression-bomb guard)")
	cmd.Flags().StringVar(&opts.OnBadExample, "on-bad-example", "fail", "What an unreadable image does: fail, or skip (zeros, reported)")
	cmd.Flags().IntVar(&opts.Workers, "workers", 0, "Images decoded in parallel (0 = all cores)")
	cmd.Flags().BoolVar(&opts.ExifTranspose, "exif-transpose", false, "Turn images upright by their EXIF orientation first (PIL's ImageOps.exif_transpose; open_clip does not)")
	cmd.Flags().StringVar(&opts.ImageMode, "image-mode", "auto", "native (resize in the image's own mode, then RGB), rgb (RGB first), or auto: rgb for tar shards, native otherwise")
	return cmd
}

func preprocessRun(ctx context.Context, opts *PreprocessOptions) error {
	s := opts.Size
	per := 3 * s * s
	var n int
	var read func(row int) ([]byte, string, error)
	var ds *dataset.Dataset
	format := dataset.FormatFolder // image files are read as a folder's are
	if opts.Data != "" {
		var err error
		if ds, err = dataset.Open(dataset.Spec{Path: opts.Data}); err != nil {
			return err
		}
		n = ds.Len()
		format = ds.Format()
	} else {
		n = len(opts.Images)
		read = func(row int) ([]byte, string, error) {
			b, err := os.ReadFile(opts.Images[row])
			return b, opts.Images[row], err
		}
	}
	if n == 0 {
		return errors.New("no images to preprocess")
	}
	mode, err := cliptask.ResolveImageMode(opts.ImageMode, format)
	if err != nil {
		return err
	}
	tr := imageprep.DefaultTransform(s)
	tr.Mode = mode
	tr.ExifTranspose = opts.ExifTranspose
	partial := opts.Out + ".partial"
	os.Remove(partial)
	f, err := npy.Create(partial, npy.Header{DType: npy.Float32, Shape: []int{n, 3, s, s}})
	if err != nil {
		return err
	}
	defer os.Remove(partial)
	defer f.Close()
	out := f.Float32s()
	prep := func(row int, data []byte, name string) error {
		img, err := imageprep.Decode(bytes.NewReader(data), name, tr.DecodeOptions(opts.MaxPixels))
		if err != nil {
			return err
		}
		if err := tr.Apply(img, out[row*per:(row+1)*per]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	add := opts.IO.progress().Start("preprocess", "images", n)
	skipped := 0
	handle := func(row int, err error) error {
		if err == nil {
			add(1)
			return nil
		}
		if !errors.As(err, new(*dataset.RowError)) {
			err = fmt.Errorf("row %d: %w", row, err)
		}
		if opts.OnBadExample == "fail" {
			return fmt.Errorf("%w (use --on-bad-example skip to keep going)", err)
		}
		skipped++
		fmt.Fprintf(opts.IO.ErrOut, "skipped %v\n", err)
		add(1)
		return nil
	}
	if ds != nil {
		rows := make([]int, n)
		for i := range rows {
			rows[i] = i
		}
		for item, err := range dataset.Stream(ctx, ds, rows, opts.Workers, 2*opts.Workers, func(row int, image []byte, _ string) (struct{}, error) {
			ref, _ := ds.Describe(row)
			return struct{}{}, prep(row, image, ref)
		}) {
			if err != nil {
				return err
			}
			if err := handle(item.Row, item.Err); err != nil {
				return err
			}
		}
	} else {
		for row := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			data, name, err := read(row)
			if err == nil {
				err = prep(row, data, name)
			}
			if err := handle(row, err); err != nil {
				return err
			}
		}
	}
	if err := f.Flush(0, f.Header().DataSize()); err != nil {
		return err
	}
	if err := os.Rename(partial, opts.Out); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "%d images (%d skipped) → %s (%d × 3 × %d × %d float32; %s)\n", n, skipped, opts.Out, n, s, s, tr)
	return nil
}
