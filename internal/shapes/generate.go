package shapes

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// DefaultSize is the image side used when Options.Size is 0.
const DefaultSize = 64

// Limits on Options.Size: below MinSize a small shape is a few pixels
// wide, above MaxSize the images are far larger than the demo needs.
const (
	MinSize = 16
	MaxSize = 1024
)

// Options configure Generate and WriteDataset.
type Options struct {
	// N is the number of examples.
	N int
	// Size is the side of the square images in pixels; 0 means DefaultSize.
	Size int
	// Seed selects the data set; example i depends on Seed and i only.
	Seed uint64
	// NoisyShare is the probability, in [0, 1], that an example's caption
	// names a wrong colour or shape.
	NoisyShare float64
}

// Validate reports whether the options are usable.
func (o Options) Validate() error {
	if o.N < 0 {
		return fmt.Errorf("shapes: N = %d is negative", o.N)
	}
	if o.Size != 0 && (o.Size < MinSize || o.Size > MaxSize) {
		return fmt.Errorf("shapes: image size %d outside [%d, %d]", o.Size, MinSize, MaxSize)
	}
	if !(o.NoisyShare >= 0 && o.NoisyShare <= 1) {
		return fmt.Errorf("shapes: noisy share %v outside [0, 1]", o.NoisyShare)
	}
	return nil
}

func (o Options) size() int {
	if o.Size == 0 {
		return DefaultSize
	}
	return o.Size
}

// Example is one generated image with its caption.
type Example struct {
	// Index is the example's number i in [0, N).
	Index int
	// Image is the Size×Size picture, fully opaque.
	Image *image.NRGBA
	// Caption describes the picture, naming CaptionAttrs.
	Caption string
	// TrueAttrs are the attributes of what is drawn.
	TrueAttrs Attrs
	// CaptionAttrs are the attributes the caption names. They equal
	// TrueAttrs except in noisy examples, where the colour or the shape
	// differs.
	CaptionAttrs Attrs
	// Noisy reports whether CaptionAttrs differ from TrueAttrs.
	Noisy bool
	// CenterX and CenterY locate the shape's centre in pixels (the image's
	// top-left corner is 0, 0; pixel x covers [x, x+1)).
	CenterX, CenterY float64
	// Radius is the shape's nominal radius in pixels: the circle's radius,
	// the circumradius of the triangle and star.
	Radius float64
}

// Shape geometry, as fractions of the image side.
const (
	smallRadius = 0.10
	largeRadius = 0.20
	// Anchor of the centre along the axis that names the position
	// (left/right: x, top/bottom: y), from the near edge; the jitter along
	// that axis is ±edgeJitter, along the other one (and both for center)
	// ±crossJitter around 0.5. Both keep the centre inside its grid cell.
	edgeAnchor  = 0.26
	edgeJitter  = 0.04
	crossJitter = 0.10
	// Largest turn of a shape, in radians either way.
	maxTurn = 0.25
	// Per-channel jitter of the shape colour, either way.
	colorJitter = 12
)

// palette holds the nominal colour of each entry of colorNames.
var palette = [...]color.NRGBA{
	{220, 35, 35, 255},  // red
	{35, 165, 50, 255},  // green
	{35, 75, 225, 255},  // blue
	{240, 210, 30, 255}, // yellow
	{140, 45, 180, 255}, // purple
	{245, 135, 25, 255}, // orange
}

// Palette returns the nominal RGB of a colour name; the drawn colour of an
// example is within a few levels of it per channel.
func Palette(name string) (color.NRGBA, bool) {
	i := indexOf(colorNames[:], name)
	if i < 0 {
		return color.NRGBA{}, false
	}
	return palette[i], true
}

// NearestColor returns the colour name whose nominal RGB is nearest to c
// (Euclidean distance in RGB).
func NearestColor(c color.NRGBA) string {
	best, bestD := 0, math.MaxInt
	for i, p := range palette {
		dr, dg, db := int(c.R)-int(p.R), int(c.G)-int(p.G), int(c.B)-int(p.B)
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = i, d
		}
	}
	return colorNames[best]
}

// RegionOf names the position whose grid cell holds the point (x, y) of a
// size×size image: "left", "right", "top", "bottom" or "center", or "" for
// the corner cells and points outside the image.
func RegionOf(x, y float64, size int) string {
	s := float64(size)
	if x < 0 || y < 0 || x >= s || y >= s {
		return ""
	}
	col, row := int(3*x/s), int(3*y/s)
	switch {
	case row == 1 && col == 0:
		return "left"
	case row == 1 && col == 2:
		return "right"
	case row == 0 && col == 1:
		return "top"
	case row == 2 && col == 1:
		return "bottom"
	case row == 1 && col == 1:
		return "center"
	}
	return ""
}

// Generate makes examples 0 to opt.N-1, in parallel. It panics if the
// options are invalid (see Options.Validate).
func Generate(opt Options) []Example {
	if err := opt.Validate(); err != nil {
		panic(err)
	}
	out := make([]Example, opt.N)
	parallel(opt.N, func(i int) bool {
		out[i] = GenerateAt(opt, i)
		return true
	})
	return out
}

// parallel calls f for each i in [0, n) on up to GOMAXPROCS goroutines,
// stopping early once some call returns false.
func parallel(n int, f func(i int) bool) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if !f(i) {
					stop.Store(true)
				}
			}
		})
	}
	wg.Wait()
}

// GenerateAt makes example i of the data set opt describes (opt.N is not
// consulted). It panics if the options are invalid or i is negative.
func GenerateAt(opt Options, i int) Example {
	o := opt
	o.N = 0
	if err := o.Validate(); err != nil {
		panic(err)
	}
	if i < 0 {
		panic(fmt.Sprintf("shapes: example index %d is negative", i))
	}
	size := opt.size()
	r := exampleRNG(opt.Seed, i)
	s := float64(size)

	// The draws below come in a fixed order and number, whatever the
	// options, so that example i is stable.
	shape, col := r.IntN(len(shapeNames)), r.IntN(len(colorNames))
	sz, pos := r.IntN(len(sizeNames)), r.IntN(len(positionNames))
	ja, jc := 2*r.Float64()-1, 2*r.Float64()-1
	turn := maxTurn * (2*r.Float64() - 1)
	var rgb [3]uint8
	for k := range rgb {
		v := [3]uint8{palette[col].R, palette[col].G, palette[col].B}[k]
		rgb[k] = clamp8(float64(v) + float64(r.IntN(2*colorJitter+1)-colorJitter))
	}
	template := r.IntN(NumTemplates)
	noiseU, noiseWhich, noisePick := r.Float64(), r.IntN(2), r.Float64()

	radius := smallRadius * s
	if sizeNames[sz] == "large" {
		radius = largeRadius * s
	}
	edge, cross := edgeJitter*ja, crossJitter*jc
	var cx, cy float64
	switch positionNames[pos] {
	case "left":
		cx, cy = edgeAnchor+edge, 0.5+cross
	case "right":
		cx, cy = 1-edgeAnchor+edge, 0.5+cross
	case "top":
		cx, cy = 0.5+cross, edgeAnchor+edge
	case "bottom":
		cx, cy = 0.5+cross, 1-edgeAnchor+edge
	default:
		cx, cy = 0.5+crossJitter*ja, 0.5+cross
	}
	cx, cy = cx*s, cy*s

	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	drawBackground(img, r)
	drawShape(img, shape, cx, cy, radius, turn, color.NRGBA{rgb[0], rgb[1], rgb[2], 255})

	truth := Attrs{Shape: shapeNames[shape], Color: colorNames[col], Size: sizeNames[sz], Position: positionNames[pos]}
	said := truth
	if noiseU < opt.NoisyShare {
		if noiseWhich == 0 {
			said.Color = otherValue(colorNames[:], col, noisePick)
		} else {
			said.Shape = otherValue(shapeNames[:], shape, noisePick)
		}
	}
	return Example{
		Index:        i,
		Image:        img,
		Caption:      FormatCaption(said, template),
		TrueAttrs:    truth,
		CaptionAttrs: said,
		Noisy:        said != truth,
		CenterX:      cx,
		CenterY:      cy,
		Radius:       radius,
	}
}

// otherValue picks, by u in [0, 1), one of the values of list other than
// list[not].
func otherValue(list []string, not int, u float64) string {
	k := min(int(u*float64(len(list)-1)), len(list)-2)
	if k >= not {
		k++
	}
	return list[k]
}

// exampleRNG returns the generator of example i: its 128-bit state is an
// injective function of (seed, i), scrambled so that neighbouring seeds and
// indices give unrelated streams.
func exampleRNG(seed uint64, i int) *rand.Rand {
	hi := splitmix(seed)
	lo := splitmix(hi ^ splitmix(uint64(i)+0x5348415045530000))
	return rand.New(rand.NewPCG(hi, lo))
}

// splitmix is the finalizer of SplitMix64, a bijection on uint64.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func clamp8(v float64) uint8 {
	return uint8(math.Round(min(max(v, 0), 255)))
}
