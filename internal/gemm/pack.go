package gemm

// packA copies op(A)[ic:ic+mc, pc:pc+kc] into dst as ceil(mc/mr) panels of
// mr rows, each stored l-major (the mr values of one l are adjacent, which is
// the order the micro-kernel broadcasts them in). Rows past mc are zero.
func packA(dst []float32, p *problem, ic, mc, pc, kc, mr int) {
	a, lda := p.a, p.lda
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : ir*kc+mr*kc]
		mv := min(mr, mc-ir)
		if p.tA {
			// op(A)[i][l] = a[l*lda+i]: the mr values of one l are contiguous.
			for l := range kc {
				src := a[(pc+l)*lda+ic+ir:]
				d := panel[l*mr : l*mr+mr]
				copy(d, src[:mv])
				clear(d[mv:])
			}
			continue
		}
		if mv < mr {
			clear(panel)
		}
		for r := range mv {
			src := a[(ic+ir+r)*lda+pc : (ic+ir+r)*lda+pc+kc]
			for l, v := range src {
				panel[l*mr+r] = v
			}
		}
	}
}

// packB copies op(B)[pc:pc+kc, jc:jc+nc] into dst as ceil(nc/nr) panels of
// nr columns, each stored l-major. Columns past nc are zero.
func packB(dst []float32, p *problem, pc, kc, jc, nc, nr int) {
	b, ldb := p.b, p.ldb
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : jr*kc+nr*kc]
		nv := min(nr, nc-jr)
		if !p.tB {
			for l := range kc {
				src := b[(pc+l)*ldb+jc+jr:]
				d := panel[l*nr : l*nr+nr]
				copy(d, src[:nv])
				clear(d[nv:])
			}
			continue
		}
		// op(B)[l][j] = b[j*ldb+l]
		if nv < nr {
			clear(panel)
		}
		for j := range nv {
			src := b[(jc+jr+j)*ldb+pc : (jc+jr+j)*ldb+pc+kc]
			for l, v := range src {
				panel[l*nr+j] = v
			}
		}
	}
}
