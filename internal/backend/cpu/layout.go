package cpu

import (
	"github.com/trak-dev/trak/internal/backend"
)

// qkvDims checks q, k, v (B, H, T, hd) against qkv (B, T, 3·H·hd) and
// returns B, H, T, hd.
func qkvDims(op string, q, k, v, qkv *backend.Tensor, heads int) (nb, h, t, hd int) {
	rank(op, "q", q, 4, "(B, H, T, hd)")
	if heads < 1 || q.Shape[1] != heads {
		panicf(op, "q %v does not have heads = %d", q, heads)
	}
	shapeIs(op, "k", k, q.Shape, "(like q)")
	shapeIs(op, "v", v, q.Shape, "(like q)")
	nb, h, t, hd = q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	shapeIs(op, "qkv", qkv, []int{nb, t, 3 * h * hd}, "(B, T, 3W) for q "+q.String())
	return nb, h, t, hd
}

// headDims checks heads (B, H, T, hd) against tokens (B, T, H·hd) and
// returns B, H, T, hd.
func headDims(op string, heads *backend.Tensor, hn string, tokens *backend.Tensor, tn string, h int) (nb, hh, t, hd int) {
	rank(op, hn, heads, 4, "(B, H, T, hd)")
	if h < 1 || heads.Shape[1] != h {
		panicf(op, "%s %v does not have heads = %d", hn, heads, h)
	}
	nb, t, hd = heads.Shape[0], heads.Shape[2], heads.Shape[3]
	shapeIs(op, tn, tokens, []int{nb, t, h * hd}, "(B, T, W) for "+hn+" "+heads.String())
	return nb, h, t, hd
}

// SplitQKV splits qkv (B, T, 3W), whose rows hold q, then k, then v, each
// as H heads of hd = W/H values, into q, k, v (B, H, T, hd):
//
//	q[b, h, t, i] = qkv[b, t, h·hd + i],
//	k[b, h, t, i] = qkv[b, t, W + h·hd + i],
//	v[b, h, t, i] = qkv[b, t, 2W + h·hd + i].
//
// heads must equal H.
func (be *Backend) SplitQKV(q, k, v, qkv *backend.Tensor, heads int) {
	const op = "SplitQKV"
	qd, kd, vd, sd := data(op, "q", q), data(op, "k", k), data(op, "v", v), data(op, "qkv", qkv)
	nb, h, t, hd := qkvDims(op, q, k, v, qkv, heads)
	be.split(nb*t, len(sd), func(lo, hi int) {
		for bt := lo; bt < hi; bt++ {
			b, tt := bt/t, bt%t
			row := sd[bt*3*h*hd : (bt+1)*3*h*hd]
			for p, dst := range [3][]float32{qd, kd, vd} {
				for hh := range h {
					o := ((b*h+hh)*t + tt) * hd
					copy(dst[o:o+hd], row[(p*h+hh)*hd:])
				}
			}
		}
	})
}

// JoinQKV is SplitQKV's inverse (and, a permutation, its adjoint): it
// writes dq, dk, dv (B, H, T, hd) into dqkv (B, T, 3W), every element of
// which is set.
func (be *Backend) JoinQKV(dqkv, dq, dk, dv *backend.Tensor, heads int) {
	const op = "JoinQKV"
	qd, kd, vd, dd := data(op, "dq", dq), data(op, "dk", dk), data(op, "dv", dv), data(op, "dqkv", dqkv)
	nb, h, t, hd := qkvDims(op, dq, dk, dv, dqkv, heads)
	be.split(nb*t, len(dd), func(lo, hi int) {
		for bt := lo; bt < hi; bt++ {
			b, tt := bt/t, bt%t
			row := dd[bt*3*h*hd : (bt+1)*3*h*hd]
			for p, src := range [3][]float32{qd, kd, vd} {
				for hh := range h {
					o := ((b*h+hh)*t + tt) * hd
					copy(row[(p*h+hh)*hd:(p*h+hh+1)*hd], src[o:o+hd])
				}
			}
		}
	})
}

// MergeHeads sets dst (B, T, W) from src (B, H, T, hd), W = H·hd:
// dst[b, t, h·hd + i] = src[b, h, t, i]. heads must equal H.
func (be *Backend) MergeHeads(dst, src *backend.Tensor, heads int) {
	const op = "MergeHeads"
	dd, sd := data(op, "dst", dst), data(op, "src", src)
	nb, h, t, hd := headDims(op, src, "src", dst, "dst", heads)
	be.split(nb*t, len(dd), func(lo, hi int) {
		for bt := lo; bt < hi; bt++ {
			b, tt := bt/t, bt%t
			for hh := range h {
				o := ((b*h+hh)*t + tt) * hd
				copy(dd[(bt*h+hh)*hd:(bt*h+hh+1)*hd], sd[o:o+hd])
			}
		}
	})
}

// SplitHeads is MergeHeads' inverse (and adjoint): dst (B, H, T, hd) from
// src (B, T, W), dst[b, h, t, i] = src[b, t, h·hd + i].
func (be *Backend) SplitHeads(dst, src *backend.Tensor, heads int) {
	const op = "SplitHeads"
	dd, sd := data(op, "dst", dst), data(op, "src", src)
	nb, h, t, hd := headDims(op, dst, "dst", src, "src", heads)
	be.split(nb*t, len(dd), func(lo, hi int) {
		for bt := lo; bt < hi; bt++ {
			b, tt := bt/t, bt%t
			for hh := range h {
				o := ((b*h+hh)*t + tt) * hd
				copy(dd[o:o+hd], sd[(bt*h+hh)*hd:(bt*h+hh+1)*hd])
			}
		}
	})
}

// Patchify cuts images (B, 3, S, S) into the G×G non-overlapping P×P
// patches, G = S/P, in row-major patch order, each flattened as (channel,
// row, column):
//
//	dst[b, py·G + px, (c·P + i)·P + j] = images[b, c, py·P + i, px·P + j],
//
// so that dst (B, G², 3·P·P) times a convolution weight (W, 3, P, P)
// flattened to (W, 3·P·P) and transposed is the patch embedding. S must be
// a multiple of P.
func (be *Backend) Patchify(dst, images *backend.Tensor, patch int) {
	const op = "Patchify"
	dd, id := data(op, "dst", dst), data(op, "images", images)
	rank(op, "images", images, 4, "(B, 3, S, S)")
	nb, ch, s := images.Shape[0], images.Shape[1], images.Shape[2]
	if ch != 3 || images.Shape[3] != s {
		panicf(op, "images %v is not (B, 3, S, S)", images)
	}
	if patch < 1 || s%patch != 0 {
		panicf(op, "patch %d does not divide the image size of images %v", patch, images)
	}
	p, g := patch, s/patch
	shapeIs(op, "dst", dst, []int{nb, g * g, ch * p * p}, "(B, (S/P)², 3·P·P)")
	be.split(nb*g*g, len(dd), func(lo, hi int) {
		for bp := lo; bp < hi; bp++ {
			b, py, px := bp/(g*g), bp%(g*g)/g, bp%g
			out := dd[bp*ch*p*p : (bp+1)*ch*p*p]
			for c := range ch {
				for i := range p {
					o := ((b*ch+c)*s+py*p+i)*s + px*p
					copy(out[(c*p+i)*p:(c*p+i+1)*p], id[o:o+p])
				}
			}
		}
	})
}

// CopyTokens copies, for every example b, rows [srcT0, srcT0+n) of src
// (B, Ts, W) into rows [dstT0, dstT0+n) of dst (B, Td, W); both ranges
// must lie within their tensors. dst may be src.
func (be *Backend) CopyTokens(dst *backend.Tensor, dstT0 int, src *backend.Tensor, srcT0, n int) {
	const op = "CopyTokens"
	dd, sd := data(op, "dst", dst), data(op, "src", src)
	rank(op, "dst", dst, 3, "(B, Td, W)")
	rank(op, "src", src, 3, "(B, Ts, W)")
	nb, td, w := dst.Shape[0], dst.Shape[1], dst.Shape[2]
	ts := src.Shape[1]
	if src.Shape[0] != nb || src.Shape[2] != w {
		panicf(op, "dst %v and src %v differ in examples or width", dst, src)
	}
	if n < 0 || dstT0 < 0 || srcT0 < 0 || dstT0+n > td || srcT0+n > ts {
		panicf(op, "rows [%d, %d) of src %v to rows [%d, %d) of dst %v out of range", srcT0, srcT0+n, src, dstT0, dstT0+n, dst)
	}
	be.split(nb, nb*n*w, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			copy(dd[(b*td+dstT0)*w:(b*td+dstT0+n)*w], sd[(b*ts+srcT0)*w:(b*ts+srcT0+n)*w])
		}
	})
}

// SetToken sets row t of every example of dst (B, T, W) to v (W elements).
func (be *Backend) SetToken(dst *backend.Tensor, t int, v *backend.Tensor) {
	const op = "SetToken"
	dd, vd := data(op, "dst", dst), data(op, "v", v)
	rank(op, "dst", dst, 3, "(B, T, W)")
	nb, tt, w := dst.Shape[0], dst.Shape[1], dst.Shape[2]
	vector(op, "v", v, w, "dst's width")
	if t < 0 || t >= tt {
		panicf(op, "token %d out of range for dst %v", t, dst)
	}
	for b := range nb {
		copy(dd[(b*tt+t)*w:(b*tt+t+1)*w], vd)
	}
}
