package lds

import "image"

// glyph returns ch in a 3 × 5 bitmap font for tick labels, drawn at twice
// its size: the digits, the minus sign and the decimal point, which is all a
// numeric label needs. A glyph is five rows, top first, of three bits, the
// leftmost pixel in the highest bit; other characters are blank.
func glyph(ch rune) [5]uint8 {
	switch ch {
	case '0':
		return [5]uint8{7, 5, 5, 5, 7}
	case '1':
		return [5]uint8{2, 6, 2, 2, 7}
	case '2':
		return [5]uint8{7, 1, 7, 4, 7}
	case '3':
		return [5]uint8{7, 1, 7, 1, 7}
	case '4':
		return [5]uint8{5, 5, 7, 1, 1}
	case '5':
		return [5]uint8{7, 4, 7, 1, 7}
	case '6':
		return [5]uint8{7, 4, 7, 5, 7}
	case '7':
		return [5]uint8{7, 1, 1, 1, 1}
	case '8':
		return [5]uint8{7, 5, 7, 5, 7}
	case '9':
		return [5]uint8{7, 5, 7, 1, 7}
	case '-':
		return [5]uint8{0, 0, 7, 0, 0}
	case '.':
		return [5]uint8{0, 0, 0, 0, 2}
	}
	return [5]uint8{}
}

const (
	glyphScale   = 2
	glyphWidth   = 3 * glyphScale
	glyphHeight  = 5 * glyphScale
	glyphAdvance = glyphWidth + glyphScale
)

func textWidth(s string) int {
	if s == "" {
		return 0
	}
	return len(s)*glyphAdvance - glyphScale
}

func drawText(img *image.Paletted, x, y int, s string) {
	drawTextColor(img, x, y, s, colInk)
}

// drawTextColor draws s with its top-left corner at (x, y); characters
// without a glyph are left blank.
func drawTextColor(img *image.Paletted, x, y int, s string, c uint8) {
	for _, ch := range s {
		g := glyph(ch)
		for row, bits := range g {
			for col := range 3 {
				if bits&(4>>col) != 0 {
					px, py := x+col*glyphScale, y+row*glyphScale
					fillRect(img, image.Rect(px, py, px+glyphScale, py+glyphScale), c)
				}
			}
		}
		x += glyphAdvance
	}
}
