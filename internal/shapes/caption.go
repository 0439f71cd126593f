package shapes

import (
	"fmt"
	"slices"
	"strings"
)

// Attribute values, in a fixed order. The index of a value in its list is
// what the generator draws.
var (
	shapeNames    = [...]string{"circle", "square", "triangle", "star", "cross"}
	colorNames    = [...]string{"red", "green", "blue", "yellow", "purple", "orange"}
	sizeNames     = [...]string{"small", "large"}
	positionNames = [...]string{"left", "right", "top", "bottom", "center"}
)

// Shapes returns the shape names, in a fixed order.
func Shapes() []string { return slices.Clone(shapeNames[:]) }

// Colors returns the colour names, in a fixed order.
func Colors() []string { return slices.Clone(colorNames[:]) }

// Sizes returns the size names, in a fixed order.
func Sizes() []string { return slices.Clone(sizeNames[:]) }

// Positions returns the position names, in a fixed order.
func Positions() []string { return slices.Clone(positionNames[:]) }

// Attrs are the four attributes of an example, each one of the names that
// Shapes, Colors, Sizes and Positions list.
type Attrs struct {
	Shape, Color, Size, Position string
}

// String gives the attributes in caption order, e.g. "small red triangle left".
func (a Attrs) String() string {
	return a.Size + " " + a.Color + " " + a.Shape + " " + a.Position
}

// Valid reports whether every attribute is one of the listed names.
func (a Attrs) Valid() bool {
	return indexOf(shapeNames[:], a.Shape) >= 0 && indexOf(colorNames[:], a.Color) >= 0 &&
		indexOf(sizeNames[:], a.Size) >= 0 && indexOf(positionNames[:], a.Position) >= 0
}

// NumTemplates is the number of caption templates FormatCaption knows.
const NumTemplates = 5

// positionPhrase turns a position name into the words captions use.
func positionPhrase(pos string) string {
	switch pos {
	case "left", "right":
		return "on the " + pos
	case "top", "bottom":
		return "at the " + pos
	default:
		return "in the " + pos
	}
}

// FormatCaption writes the caption for a with template t, in
// [0, NumTemplates):
//
//	0: a small red triangle on the left
//	1: small red triangle, left
//	2: a picture of a small red triangle on the left
//	3: there is a small red triangle on the left
//	4: on the left: a small red triangle
//
// It panics if t is out of range.
func FormatCaption(a Attrs, t int) string {
	obj := a.Size + " " + a.Color + " " + a.Shape
	switch t {
	case 0:
		return "a " + obj + " " + positionPhrase(a.Position)
	case 1:
		return obj + ", " + a.Position
	case 2:
		return "a picture of a " + obj + " " + positionPhrase(a.Position)
	case 3:
		return "there is a " + obj + " " + positionPhrase(a.Position)
	case 4:
		return positionPhrase(a.Position) + ": a " + obj
	}
	panic(fmt.Sprintf("shapes: caption template %d out of range [0, %d)", t, NumTemplates))
}

// ParseCaption recovers the attributes a caption names. It looks for the
// attribute words anywhere in the caption, ignoring case and punctuation
// ("centre" is read as center), and succeeds when each of the four
// attributes is named by exactly one value (repeating the same value is
// fine). It reads every caption FormatCaption writes.
func ParseCaption(caption string) (Attrs, bool) {
	var a Attrs
	ok := true
	set := func(dst *string, v string) {
		if *dst != "" && *dst != v {
			ok = false
		}
		*dst = v
	}
	words := strings.FieldsFunc(strings.ToLower(caption), func(r rune) bool {
		return r < 'a' || r > 'z'
	})
	for _, w := range words {
		if w == "centre" {
			w = "center"
		}
		switch {
		case indexOf(shapeNames[:], w) >= 0:
			set(&a.Shape, w)
		case indexOf(colorNames[:], w) >= 0:
			set(&a.Color, w)
		case indexOf(sizeNames[:], w) >= 0:
			set(&a.Size, w)
		case indexOf(positionNames[:], w) >= 0:
			set(&a.Position, w)
		}
	}
	if !ok || a.Shape == "" || a.Color == "" || a.Size == "" || a.Position == "" {
		return Attrs{}, false
	}
	return a, true
}

func indexOf(list []string, v string) int { return slices.Index(list, v) }
