package gemm

// packA copies op(A)[ic:ic+mc, pc:pc+kc] into dst as ceil(mc/mr) panels of
// mr rows, each stored l-major (the mr values of one l are adjacent, which is
// the order the micro-kernel broadcasts them in). Rows past mc are zero.
func packA(dst []float32, p *problem, ic, mc, pc, kc, mr int) {
	a, lda := p.a, p.lda
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : ir*kc+mr*kc]
		mv := min(mr, mc-ir)
		if p.tA && mv == 6 && mr == 6 {
			for l := range kc {
				*(*[6]float32)(panel[l*6:]) = *(*[6]float32)(a[(pc+l)*lda+ic+ir:])
			}
			continue
		}
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
		if mv == 6 && mr == 6 {
			packA6(panel, a, (ic+ir)*lda+pc, lda, kc)
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
	if !p.tB && nr == 16 {
		// Row by row: B is read sequentially and every store fills a whole
		// cache line of a panel. Walking panel by panel instead reads 64
		// bytes from each of kc rows, which thrashes the TLB on wide B.
		full := nc / 16 * 16
		for l := range kc {
			row := b[(pc+l)*ldb+jc : (pc+l)*ldb+jc+nc]
			for jr := 0; jr < full; jr += 16 {
				// Two 8-float moves: the compiler inlines them as vector
				// moves, where one 16-float array copy becomes a memmove call.
				d := dst[jr*kc+l*16:]
				*(*[8]float32)(d) = *(*[8]float32)(row[jr:])
				*(*[8]float32)(d[8:]) = *(*[8]float32)(row[jr+8:])
			}
			if full < nc {
				d := dst[full*kc+l*16 : full*kc+l*16+16]
				copy(d, row[full:])
				clear(d[nc-full:])
			}
		}
		return
	}
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
		if nv == 16 && nr == 16 {
			packBT16(panel, b, (jc+jr)*ldb+pc, ldb, kc)
			continue
		}
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

// packA6 interleaves six rows of A (starting at a[off], lda apart) into an
// l-major panel. Slicing every row to kc up front lets the compiler drop the
// bounds checks in the loop.
func packA6(panel, a []float32, off, lda, kc int) {
	r0 := a[off : off+kc]
	r1 := a[off+lda : off+lda+kc]
	r2 := a[off+2*lda : off+2*lda+kc]
	r3 := a[off+3*lda : off+3*lda+kc]
	r4 := a[off+4*lda : off+4*lda+kc]
	r5 := a[off+5*lda : off+5*lda+kc]
	panel = panel[:6*kc]
	for l := range kc {
		d := (*[6]float32)(panel[l*6:])
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[l], r1[l], r2[l], r3[l], r4[l], r5[l]
	}
}

// packBT16 gathers sixteen rows of a transposed B (columns of op(B)), starting
// at b[off], ldb apart, into an l-major panel. Every row is resliced to the
// same length so the compiler can drop the bounds checks in the loop.
func packBT16(panel, b []float32, off, ldb, kc int) {
	n := kc
	r0 := b[off+0*ldb:][:n]
	r1 := b[off+1*ldb:][:n]
	r2 := b[off+2*ldb:][:n]
	r3 := b[off+3*ldb:][:n]
	r4 := b[off+4*ldb:][:n]
	r5 := b[off+5*ldb:][:n]
	r6 := b[off+6*ldb:][:n]
	r7 := b[off+7*ldb:][:n]
	r8 := b[off+8*ldb:][:n]
	r9 := b[off+9*ldb:][:n]
	r10 := b[off+10*ldb:][:n]
	r11 := b[off+11*ldb:][:n]
	r12 := b[off+12*ldb:][:n]
	r13 := b[off+13*ldb:][:n]
	r14 := b[off+14*ldb:][:n]
	r15 := b[off+15*ldb:][:n]
	panel = panel[:16*kc]
	for l := range r0 {
		d := (*[16]float32)(panel[l*16:])
		d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15] = r0[l], r1[l], r2[l], r3[l], r4[l], r5[l], r6[l], r7[l], r8[l], r9[l], r10[l], r11[l], r12[l], r13[l], r14[l], r15[l]
	}
}
