package gemm

// packA copies op(A)[ic:ic+mc, pc:pc+kc] into dst as ceil(mc/mr) panels of
// mr rows, each stored l-major (the mr values of one l are adjacent, which is
// the order the micro-kernel broadcasts them in). Rows past mc are zero.
func packA(dst []float32, p *problem, ic, mc, pc, kc, mr int) {
	a, lda := p.a, p.lda
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : ir*kc+mr*kc]
		mv := min(mr, mc-ir)
		if mv < mr {
			clear(panel)
		}
		if p.tA {
			// op(A)[i][l] = a[l*lda+i]: the mr values of one l are contiguous.
			src := a[pc*lda+ic+ir:]
			if mv == 6 && mr == 6 {
				rows6(panel, src, kc, lda)
				continue
			}
			for l := range kc {
				copy(panel[l*mr:l*mr+mv], src[l*lda:l*lda+mv])
			}
			continue
		}
		trans(panel, a[(ic+ir)*lda+pc:], mv, kc, lda, mr)
	}
}

// packB copies op(B)[pc:pc+kc, jc:jc+nc] into dst as ceil(nc/nr) panels of
// nr columns, each stored l-major. Columns past nc are zero.
func packB(dst []float32, p *problem, pc, kc, jc, nc, nr int) {
	b, ldb := p.b, p.ldb
	full := nc / nr * nr
	if !p.tB {
		// Row by row: B is read sequentially and every store fills whole
		// cache lines of a panel. Walking panel by panel instead reads 64
		// bytes from each of kc rows, which thrashes the TLB on wide B.
		src := b[pc*ldb+jc:]
		if full > 0 {
			// Each 16-column strip of a panel is one pass: nr/16 passes.
			for h := 0; h < nr; h += 16 {
				rows16(dst[h:], src[h:], kc, full/nr, ldb, nr*kc, nr, nr)
			}
		}
		if full < nc {
			panel := dst[full*kc : full*kc+nr*kc]
			nv := nc - full
			for l := range kc {
				d := panel[l*nr : l*nr+nr]
				copy(d, src[l*ldb+full:l*ldb+nc])
				clear(d[nv:])
			}
		}
		return
	}
	// op(B)[l][j] = b[j*ldb+l]: columns of op(B) are rows of b.
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : jr*kc+nr*kc]
		nv := min(nr, nc-jr)
		if nv < nr {
			clear(panel)
		}
		trans(panel, b[(jc+jr)*ldb+pc:], nv, kc, ldb, nr)
	}
}
