package clip

import (
	"fmt"

	clipmodel "github.com/trak-dev/trak/internal/clip"
	"github.com/trak-dev/trak/internal/dataset"
	"github.com/trak-dev/trak/internal/imageprep"
)

// Image modes of the image_mode key: auto resolves per data set.
const (
	ImageModeAuto   = "auto"
	ImageModeNative = imageprep.ModeNative
	ImageModeRGB    = imageprep.ModeRGB
)

// ResolveImageMode returns the image mode (imageprep.ModeNative or ModeRGB)
// for a data set of format f: mode itself when it is native or rgb; for
// "auto" or "", what open_clip does with that format: webdataset shards are
// decoded with "pilrgb", which converts to RGB before the transform (rgb),
// while the CSV loader passes Image.open's image, in its own mode (native;
// folders of image + caption pairs are read the same way).
func ResolveImageMode(mode string, f dataset.Format) (string, error) {
	switch mode {
	case ImageModeNative, ImageModeRGB:
		return mode, nil
	case ImageModeAuto, "":
		if f == dataset.FormatWebDataset {
			return ImageModeRGB, nil
		}
		return ImageModeNative, nil
	}
	return "", fmt.Errorf("image_mode %q: use auto, native or rgb", mode)
}

// ImageTransform returns the transform that turns the images of a data set
// of format f into inputs of a model of configuration cfg: Setup.Transform
// with its zero fields defaulted (imageprep.DefaultTransform at the model's
// image size) and its Mode resolved for f (ResolveImageMode).
func (s Setup) ImageTransform(f dataset.Format, cfg clipmodel.Config) (imageprep.Transform, error) {
	t := s.Transform
	def := imageprep.DefaultTransform(cfg.Vision.ImageSize)
	switch {
	case t.Size == 0:
		t.Size = def.Size
	case t.Size != def.Size:
		return t, fmt.Errorf("image transform size %d differs from the model's image size %d", t.Size, def.Size)
	}
	if t.Mean == ([3]float64{}) && t.Std == ([3]float64{}) {
		t.Mean, t.Std = def.Mean, def.Std
	}
	if t.Interpolation == "" {
		t.Interpolation = def.Interpolation
	}
	if t.ResizeMode == "" {
		t.ResizeMode = def.ResizeMode
	}
	mode, err := ResolveImageMode(t.Mode, f)
	if err != nil {
		return t, err
	}
	t.Mode = mode
	if err := t.Validate(); err != nil {
		return t, err
	}
	return t, nil
}
