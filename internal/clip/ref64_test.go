package clip

// A plain float64 CLIP forward pass for one example, written with loops
// and independent of the backend, for finite-difference checks of the
// model's per-example gradients.

import "math"

type ref64 struct {
	c Config
	w map[string][]float64
}

func (r *ref64) linear(x []float64, rows int, wName, bName string, out int) []float64 {
	w, b := r.w[wName], r.w[bName]
	in := len(x) / rows
	y := make([]float64, rows*out)
	for t := range rows {
		for o := range out {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for i := range in {
				s += w[o*in+i] * x[t*in+i]
			}
			y[t*out+o] = s
		}
	}
	return y
}

func layerNorm64(x []float64, rows int, g, b []float64, eps float64) []float64 {
	w := len(x) / rows
	y := make([]float64, len(x))
	for t := range rows {
		row := x[t*w : (t+1)*w]
		mean := 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(w)
		vr := 0.0
		for _, v := range row {
			vr += (v - mean) * (v - mean)
		}
		vr /= float64(w)
		rstd := 1 / math.Sqrt(vr+eps)
		for j, v := range row {
			y[t*w+j] = (v-mean)*rstd*g[j] + b[j]
		}
	}
	return y
}

func (r *ref64) act(x float64) float64 {
	if r.c.QuickGELU {
		return x / (1 + math.Exp(-1.702*x))
	}
	return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
}

func (r *ref64) block(x []float64, T, W, H int, prefix string, causal bool) []float64 {
	p := func(s string) string { return prefix + s }
	h := layerNorm64(x, T, r.w[p("ln_1.weight")], r.w[p("ln_1.bias")], r.c.LayerNormEpsilon())
	qkv := r.linear(h, T, p("attn.in_proj_weight"), p("attn.in_proj_bias"), 3*W)
	hd := W / H
	att := make([]float64, T*W)
	for head := range H {
		for i := range T {
			scores := make([]float64, T)
			mx := math.Inf(-1)
			for j := range T {
				if causal && j > i {
					scores[j] = math.Inf(-1)
					continue
				}
				s := 0.0
				for d := range hd {
					s += qkv[i*3*W+head*hd+d] * qkv[j*3*W+W+head*hd+d]
				}
				scores[j] = s / math.Sqrt(float64(hd))
				mx = math.Max(mx, scores[j])
			}
			sum := 0.0
			for j := range T {
				scores[j] = math.Exp(scores[j] - mx)
				sum += scores[j]
			}
			for d := range hd {
				o := 0.0
				for j := range T {
					o += scores[j] / sum * qkv[j*3*W+2*W+head*hd+d]
				}
				att[i*W+head*hd+d] = o
			}
		}
	}
	o := r.linear(att, T, p("attn.out_proj.weight"), p("attn.out_proj.bias"), W)
	x2 := make([]float64, len(x))
	for i := range x {
		x2[i] = x[i] + o[i]
	}
	h2 := layerNorm64(x2, T, r.w[p("ln_2.weight")], r.w[p("ln_2.bias")], r.c.LayerNormEpsilon())
	mlp := len(r.w[p("mlp.c_fc.bias")])
	f := r.linear(h2, T, p("mlp.c_fc.weight"), p("mlp.c_fc.bias"), mlp)
	for i := range f {
		f[i] = r.act(f[i])
	}
	m := r.linear(f, T, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"), W)
	for i := range x2 {
		x2[i] += m[i]
	}
	return x2
}

func normalize64(x []float64) []float64 {
	n := 0.0
	for _, v := range x {
		n += v * v
	}
	n = math.Max(math.Sqrt(n), EmbedEps)
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v / n
	}
	return y
}

// image returns φ for one image (3 × S × S).
func (r *ref64) image(img []float64) []float64 {
	c := r.c
	S, P, W, g := c.Vision.ImageSize, c.Vision.PatchSize, c.Vision.Width, c.Grid()
	T := c.VisionTokens()
	x := make([]float64, T*W)
	copy(x, r.w["visual.class_embedding"])
	conv := r.w["visual.conv1.weight"]
	for py := range g {
		for px := range g {
			tok := 1 + py*g + px
			for o := range W {
				s := 0.0
				for ch := range 3 {
					for i := range P {
						for j := range P {
							s += conv[((o*3+ch)*P+i)*P+j] * img[(ch*S+py*P+i)*S+px*P+j]
						}
					}
				}
				x[tok*W+o] = s
			}
		}
	}
	for i, v := range r.w["visual.positional_embedding"] {
		x[i] += v
	}
	x = layerNorm64(x, T, r.w["visual.ln_pre.weight"], r.w["visual.ln_pre.bias"], r.c.LayerNormEpsilon())
	for l := range c.Vision.Layers {
		x = r.block(x, T, W, c.VisionHeads(), "visual.transformer.resblocks."+itoa(l)+".", false)
	}
	pooled := layerNorm64(x[:W], 1, r.w["visual.ln_post.weight"], r.w["visual.ln_post.bias"], r.c.LayerNormEpsilon())
	return normalize64(matvec(pooled, r.w["visual.proj"], c.EmbedDim))
}

// text returns ψ for one token row.
func (r *ref64) text(ids []int32) []float64 {
	c := r.c
	T, W := c.Text.ContextLength, c.Text.Width
	x := make([]float64, T*W)
	emb, pos := r.w["token_embedding.weight"], r.w["positional_embedding"]
	for t, id := range ids {
		for j := range W {
			x[t*W+j] = emb[int(id)*W+j] + pos[t*W+j]
		}
	}
	for l := range c.Text.Layers {
		x = r.block(x, T, W, c.Text.Heads, "transformer.resblocks."+itoa(l)+".", true)
	}
	eot := EndOfText(ids, 1, T)[0]
	pooled := layerNorm64(x[eot*W:(eot+1)*W], 1, r.w["ln_final.weight"], r.w["ln_final.bias"], r.c.LayerNormEpsilon())
	return normalize64(matvec(pooled, r.w["text_projection"], c.EmbedDim))
}

// matvec returns x · M for M of shape (len(x), out).
func matvec(x, m []float64, out int) []float64 {
	y := make([]float64, out)
	for i, v := range x {
		for j := range out {
			y[j] += v * m[i*out+j]
		}
	}
	return y
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
