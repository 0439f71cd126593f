// Package shapes generates the image–caption pairs of trak's built-in CLIP
// demo: small RGB pictures of one coloured shape on a softly textured
// background, each with a caption that names its attributes, made from a
// seed with nothing to download.
//
// # Content
//
// Every example draws one shape with four attributes, each chosen uniformly
// at random and independently of the others:
//
//   - shape: circle, square, triangle, star, cross
//   - color: red, green, blue, yellow, purple, orange (saturated, with a
//     little per-example jitter that never brings one colour near another)
//   - size: small (radius 0.1 of the image side) or large (0.2)
//   - position: left, right, top, bottom or center, meaning the shape's
//     centre lies in that cell of a 3×3 grid (left is the middle row's first
//     cell, top the middle column's first cell, and so on; the corner cells
//     are never used), placed with random jitter inside the cell.
//
// Shapes are turned by a small random angle and rendered with 4×4
// supersampling. The background is a low-contrast texture (stripes, checks
// or smooth value noise, plus faint grain) in a muted random colour, so no
// two backgrounds are alike and none competes with the shape's colour.
//
// # Captions
//
// Captions follow one of a few templates, chosen at random per example
// (see FormatCaption):
//
//	a small red triangle on the left
//	small red triangle, left
//	a picture of a small red triangle on the left
//	there is a small red triangle on the left
//	on the left: a small red triangle
//
// The position phrases are "on the left", "on the right", "at the top",
// "at the bottom" and "in the center". Attribute words always appear
// exactly as listed above, so ParseCaption recovers them from any caption.
//
// A share of examples (Options.NoisyShare, 0 by default) is noisy: the
// caption names a wrong colour or a wrong shape (each half the time). The
// example records both what is drawn (TrueAttrs) and what the caption says
// (CaptionAttrs), so attribution demos can check whether such examples show
// up among a target's opponents.
//
// # Determinism
//
// Example i is made from its own random generator seeded from (Seed, i)
// alone, so it is the same whatever N is and whichever other examples are
// generated; whether an example is noisy changes its caption only, never
// its picture. Output is byte-identical for a seed on a given platform
// (architectures that fuse multiply-adds could differ in rare anti-aliased
// edge pixels).
//
// # Files
//
// WriteDataset stores a data set in open_clip's CSV layout (columns filepath
// and title, with paths relative to the CSV's directory), which trak's
// dataset package reads directly.
package shapes
