//go:build amd64

#include "textflag.h"

// Packing helpers. They use only SSE, the amd64 baseline, because every
// kernel (Generic included) shares the packing code.

// func copyRows16(dst, src *float32, kc, npanels, lds, dpanel, dls, schunk int)
//
// For l < kc and p < npanels:
// dst[p·dpanel + l·dls : +16] = src[l·lds + p·schunk : +16].
// Walking src row by row keeps its reads sequential.
TEXT ·copyRows16(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ kc+16(FP), CX
	MOVQ npanels+24(FP), DX
	MOVQ lds+32(FP), R8
	SHLQ $2, R8
	MOVQ dpanel+40(FP), R9
	SHLQ $2, R9
	MOVQ dls+48(FP), R12
	SHLQ $2, R12
	MOVQ schunk+56(FP), R13
	SHLQ $2, R13

row16:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ DX, BX

panel16:
	MOVUPS (R10), X0
	MOVUPS 16(R10), X1
	MOVUPS 32(R10), X2
	MOVUPS 48(R10), X3
	MOVUPS X0, (R11)
	MOVUPS X1, 16(R11)
	MOVUPS X2, 32(R11)
	MOVUPS X3, 48(R11)
	ADDQ R13, R10
	ADDQ R9, R11
	DECQ BX
	JNZ panel16
	ADDQ R8, SI
	ADDQ R12, DI
	DECQ CX
	JNZ row16
	RET

// func copyRows6(dst, src *float32, kc, lds int)
//
// For l < kc: dst[6l : 6l+6] = src[l·lds : +6].
TEXT ·copyRows6(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ kc+16(FP), CX
	MOVQ lds+24(FP), R8
	SHLQ $2, R8

row6:
	MOVUPS (SI), X0
	MOVSD 16(SI), X1
	MOVUPS X0, (DI)
	MOVSD X1, 16(DI)
	ADDQ R8, SI
	ADDQ $24, DI
	DECQ CX
	JNZ row6
	RET

// func transpose4(dst, src *float32, kc, lds, dstride int)
//
// For r < 4, l < kc: dst[l·dstride + r] = src[r·lds + l]. Four l at a time
// as a 4×4 transpose in registers, the rest one by one.
TEXT ·transpose4(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ kc+16(FP), CX
	MOVQ lds+24(FP), R8
	SHLQ $2, R8
	MOVQ dstride+32(FP), R9
	SHLQ $2, R9
	LEAQ (SI)(R8*2), R10
	LEAQ (R9)(R9*2), R11
	MOVQ CX, BX
	SHRQ $2, BX
	ANDQ $3, CX
	TESTQ BX, BX
	JZ t4tail

t4loop:
	MOVUPS (SI), X0
	MOVUPS (SI)(R8*1), X1
	MOVUPS (R10), X2
	MOVUPS (R10)(R8*1), X3
	MOVAPS X0, X4
	UNPCKLPS X1, X4
	UNPCKHPS X1, X0
	MOVAPS X2, X5
	UNPCKLPS X3, X5
	UNPCKHPS X3, X2
	MOVAPS X4, X6
	MOVLHPS X5, X6
	MOVHLPS X4, X5
	MOVAPS X0, X7
	MOVLHPS X2, X7
	MOVHLPS X0, X2
	MOVUPS X6, (DI)
	MOVUPS X5, (DI)(R9*1)
	MOVUPS X7, (DI)(R9*2)
	MOVUPS X2, (DI)(R11*1)
	ADDQ $16, SI
	ADDQ $16, R10
	LEAQ (DI)(R9*4), DI
	DECQ BX
	JNZ t4loop

t4tail:
	TESTQ CX, CX
	JZ t4done

t4one:
	MOVSS (SI), X0
	MOVSS X0, (DI)
	MOVSS (SI)(R8*1), X0
	MOVSS X0, 4(DI)
	MOVSS (R10), X0
	MOVSS X0, 8(DI)
	MOVSS (R10)(R8*1), X0
	MOVSS X0, 12(DI)
	ADDQ $4, SI
	ADDQ $4, R10
	ADDQ R9, DI
	DECQ CX
	JNZ t4one

t4done:
	RET

// func transpose2(dst, src *float32, kc, lds, dstride int)
//
// For r < 2, l < kc: dst[l·dstride + r] = src[r·lds + l].
TEXT ·transpose2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ kc+16(FP), CX
	MOVQ lds+24(FP), R8
	SHLQ $2, R8
	MOVQ dstride+32(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R11
	MOVQ CX, BX
	SHRQ $2, BX
	ANDQ $3, CX
	TESTQ BX, BX
	JZ t2tail

t2loop:
	MOVUPS (SI), X0
	MOVUPS (SI)(R8*1), X1
	MOVAPS X0, X2
	UNPCKLPS X1, X2
	UNPCKHPS X1, X0
	MOVLPS X2, (DI)
	MOVHPS X2, (DI)(R9*1)
	MOVLPS X0, (DI)(R9*2)
	MOVHPS X0, (DI)(R11*1)
	ADDQ $16, SI
	LEAQ (DI)(R9*4), DI
	DECQ BX
	JNZ t2loop

t2tail:
	TESTQ CX, CX
	JZ t2done

t2one:
	MOVSS (SI), X0
	MOVSS X0, (DI)
	MOVSS (SI)(R8*1), X0
	MOVSS X0, 4(DI)
	ADDQ $4, SI
	ADDQ R9, DI
	DECQ CX
	JNZ t2one

t2done:
	RET
