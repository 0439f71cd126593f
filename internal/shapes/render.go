package shapes

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
)

// supersample is the number of samples per pixel along each axis.
const supersample = 4

// Polygons in shape coordinates: the shape's centre at the origin, its
// nominal radius 1, y pointing down.
var (
	trianglePoly = regularStar(3, 1, 0)
	starPoly     = regularStar(5, 1, 0.45)
)

// regularStar returns the vertices of a regular polygon with n corners on
// the unit circle, the first pointing up, or, when inner > 0, of a star
// whose notches lie at radius inner between them.
func regularStar(n int, outer, inner float64) [][2]float64 {
	var pts [][2]float64
	for k := range n {
		a := -math.Pi/2 + 2*math.Pi*float64(k)/float64(n)
		pts = append(pts, [2]float64{outer * math.Cos(a), outer * math.Sin(a)})
		if inner > 0 {
			b := a + math.Pi/float64(n)
			pts = append(pts, [2]float64{inner * math.Cos(b), inner * math.Sin(b)})
		}
	}
	return pts
}

// inPolygon reports whether (u, v) is inside poly by the even-odd rule.
func inPolygon(poly [][2]float64, u, v float64) bool {
	in := false
	j := len(poly) - 1
	for i := range poly {
		xi, yi, xj, yj := poly[i][0], poly[i][1], poly[j][0], poly[j][1]
		if (yi > v) != (yj > v) && u < xi+(v-yi)*(xj-xi)/(yj-yi) {
			in = !in
		}
		j = i
	}
	return in
}

// inside reports whether (u, v), in shape coordinates, is inside shape
// (an index into shapeNames). Every shape contains a disc of radius 0.3
// around its centre.
func inside(shape int, u, v float64) bool {
	switch shape {
	case 0: // circle
		return u*u+v*v <= 1
	case 1: // square, of about the circle's area
		return math.Abs(u) <= 0.85 && math.Abs(v) <= 0.85
	case 2: // triangle, centroid at the origin
		return inPolygon(trianglePoly, u, v)
	case 3: // five-pointed star
		return inPolygon(starPoly, u, v)
	default: // cross: two bars
		au, av := math.Abs(u), math.Abs(v)
		return (au <= 0.3 && av <= 0.9) || (av <= 0.3 && au <= 0.9)
	}
}

// drawShape paints shape centred at (cx, cy) with the given radius, turned
// by turn radians, in colour c over what img holds, weighting each pixel by
// the share of its supersamples the shape covers.
func drawShape(img *image.NRGBA, shape int, cx, cy, radius, turn float64, c color.NRGBA) {
	b := img.Rect
	ext := 1.25 * radius // every shape, turned, fits in this square
	x0, x1 := max(b.Min.X, int(math.Floor(cx-ext))), min(b.Max.X, int(math.Ceil(cx+ext)))
	y0, y1 := max(b.Min.Y, int(math.Floor(cy-ext))), min(b.Max.Y, int(math.Ceil(cy+ext)))
	cos, sin := math.Cos(turn), math.Sin(turn)
	inv := 1 / radius
	const step = 1.0 / supersample
	for py := y0; py < y1; py++ {
		for px := x0; px < x1; px++ {
			n := 0
			for sy := range supersample {
				y := float64(py) + (float64(sy)+0.5)*step - cy
				for sx := range supersample {
					x := float64(px) + (float64(sx)+0.5)*step - cx
					u := (cos*x + sin*y) * inv
					v := (cos*y - sin*x) * inv
					if inside(shape, u, v) {
						n++
					}
				}
			}
			if n == 0 {
				continue
			}
			a := float64(n) / (supersample * supersample)
			p := img.PixOffset(px, py)
			pix := img.Pix[p : p+3 : p+3]
			pix[0] = clamp8(float64(pix[0]) + a*(float64(c.R)-float64(pix[0])))
			pix[1] = clamp8(float64(pix[1]) + a*(float64(c.G)-float64(pix[1])))
			pix[2] = clamp8(float64(pix[2]) + a*(float64(c.B)-float64(pix[2])))
		}
	}
}

// Background textures.
const (
	textureStripes = iota
	textureChecks
	textureNoise
	numTextures
)

// drawBackground fills img with a low-contrast texture in a muted random
// colour: a grey level with a slight tint, modulated in brightness only by
// stripes, checks or smooth value noise, plus faint per-pixel grain.
func drawBackground(img *image.NRGBA, r *rand.Rand) {
	size := img.Rect.Dx()
	s := float64(size)

	level := 90 + 80*r.Float64()
	var base [3]float64
	for k := range base {
		base[k] = level + 18*(2*r.Float64()-1)
	}
	amp := 6 + 10*r.Float64()
	kind := r.IntN(numTextures)

	var texture func(x, y float64) float64
	switch kind {
	case textureStripes:
		angle := math.Pi * r.Float64()
		freq := 2 * math.Pi / (s * (0.08 + 0.17*r.Float64()))
		phase := 2 * math.Pi * r.Float64()
		dx, dy := freq*math.Cos(angle), freq*math.Sin(angle)
		texture = func(x, y float64) float64 { return amp * math.Sin(dx*x+dy*y+phase) }
	case textureChecks:
		cell := s * (0.06 + 0.12*r.Float64())
		ox, oy := cell*r.Float64(), cell*r.Float64()
		texture = func(x, y float64) float64 {
			if (int(math.Floor((x+ox)/cell))+int(math.Floor((y+oy)/cell)))&1 == 0 {
				return 0.6 * amp
			}
			return -0.6 * amp
		}
	default:
		grid := 3 + r.IntN(5) // lattice cells across the image
		lat := make([]float64, (grid+1)*(grid+1))
		for k := range lat {
			lat[k] = amp * (2*r.Float64() - 1)
		}
		scale := float64(grid) / s
		texture = func(x, y float64) float64 {
			gx, gy := x*scale, y*scale
			ix, iy := min(int(gx), grid-1), min(int(gy), grid-1)
			fx, fy := smooth(gx-float64(ix)), smooth(gy-float64(iy))
			at := func(i, j int) float64 { return lat[j*(grid+1)+i] }
			top := at(ix, iy) + fx*(at(ix+1, iy)-at(ix, iy))
			bot := at(ix, iy+1) + fx*(at(ix+1, iy+1)-at(ix, iy+1))
			return top + fy*(bot-top)
		}
	}

	for y := range size {
		row := img.Pix[y*img.Stride : y*img.Stride+4*size]
		for x := range size {
			d := texture(float64(x)+0.5, float64(y)+0.5) + float64(r.IntN(7)-3)
			p := row[4*x : 4*x+4 : 4*x+4]
			p[0], p[1], p[2], p[3] = clamp8(base[0]+d), clamp8(base[1]+d), clamp8(base[2]+d), 255
		}
	}
}

// smooth is the smoothstep easing 3t² − 2t³.
func smooth(t float64) float64 { return t * t * (3 - 2*t) }
