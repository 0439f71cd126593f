//go:build amd64

#include "textflag.h"

// func sjltScatterAVX2(partT, gT *float32, tab *uint32, rows, nz, n, lanes int, c0, cn uint32)
//
// For each row (gT row at SI, lanes·4 bytes apart; its entries at BX, nz·4
// bytes apart) and each of its n entries e in order: skip unless
// (e&^sign) − c0 < cn; else broadcast e&sign to Y0 and, a vector of eight
// lanes at a time, partT[col·lanes:] = partT[col·lanes:] + (gT row XOR Y0).
// The partial is VADDPS's first operand (which NaN an addition of two NaNs
// keeps may still differ from the portable code, whose operand order the
// compiler picks; the exact sums treat every NaN alike). With lanes = 16 (a batch of 9 to 16) the row's two vectors stay
// in Y4 and Y5 for all its entries, and the entry is broadcast straight
// from memory and masked to its sign bit (Y3), with no move from a general
// register.
TEXT ·sjltScatterAVX2(SB), NOSPLIT, $0-64
	MOVQ partT+0(FP), DI
	MOVQ gT+8(FP), SI
	MOVQ tab+16(FP), BX
	MOVQ rows+24(FP), CX
	MOVQ nz+32(FP), R8
	SHLQ $2, R8
	MOVQ n+40(FP), R10
	MOVQ lanes+48(FP), R11
	MOVQ R11, R14
	SHLQ $2, R14 // bytes of a gT row and of a partT column
	SHRQ $3, R11 // vectors a row
	MOVL c0+56(FP), R12
	MOVL cn+60(FP), R13
	CMPQ R11, $2
	JNE  row
	MOVL         $0x80000000, AX
	VMOVD        AX, X3
	VPBROADCASTD X3, Y3
	JMP  row16

row:
	MOVQ BX, DX
	MOVQ R10, R15

entry:
	MOVL (DX), AX
	MOVL AX, R9
	ANDL $0x7fffffff, R9
	MOVL R9, R12
	SUBL c0+56(FP), R12
	CMPL R12, cn+60(FP)
	JAE  skip
	ANDL $0x80000000, AX
	VMOVD        AX, X0
	VPBROADCASTD X0, Y0
	IMULQ R14, R9
	LEAQ  (DI)(R9*1), R12 // partT column
	MOVQ  SI, R9          // gT row
	MOVQ  R11, R13

vec:
	VXORPS  (R9), Y0, Y1
	VMOVUPS (R12), Y2
	VADDPS  Y1, Y2, Y2
	VMOVUPS Y2, (R12)
	ADDQ    $32, R9
	ADDQ    $32, R12
	DECQ    R13
	JNZ     vec

skip:
	ADDQ $4, DX
	DECQ R15
	JNZ  entry
	ADDQ R8, BX
	ADDQ R14, SI
	DECQ CX
	JNZ  row
	VZEROUPPER
	RET

row16:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	MOVQ    BX, DX
	MOVQ    R10, R15

entry16:
	MOVL (DX), AX
	MOVL AX, R9
	ANDL $0x7fffffff, R9
	MOVL R9, R11
	SUBL R12, R11
	CMPL R11, R13
	JAE  skip16
	VPBROADCASTD (DX), Y0
	VPAND        Y3, Y0, Y0 // the sign bit of the entry, in every lane
	SHLQ    $6, R9 // col · 64 bytes
	VXORPS  Y4, Y0, Y1
	VXORPS  Y5, Y0, Y2
	VMOVUPS (DI)(R9*1), Y6
	VMOVUPS 32(DI)(R9*1), Y7
	VADDPS  Y1, Y6, Y6
	VADDPS  Y2, Y7, Y7
	VMOVUPS Y6, (DI)(R9*1)
	VMOVUPS Y7, 32(DI)(R9*1)

skip16:
	ADDQ $4, DX
	DECQ R15
	JNZ  entry16
	ADDQ R8, BX
	ADDQ $64, SI
	DECQ CX
	JNZ  row16
	VZEROUPPER
	RET

// func sjltTranspose8AVX2(dst *float32, laneBytes int, src *float32, strideBytes, groups, rowGroups int)
//
// For each group g of eight examples and each group of eight rows: load
// example 8g+b's eight rows (src + (8g+b)·strideBytes, 32 bytes a row group)
// into Y0+b, transpose the 8 × 8 block with unpack, shuffle and lane
// permutes (which move bits only), and store row r's eight values to
// dst + r·laneBytes + 32·g (laneBytes·8 a row group).
TEXT ·sjltTranspose8AVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ laneBytes+8(FP), BX
	MOVQ src+16(FP), SI
	MOVQ strideBytes+24(FP), DX
	MOVQ groups+32(FP), CX
	LEAQ (DX)(DX*2), R9 // 3·stride
	LEAQ (BX)(BX*2), R10 // 3·laneBytes

group:
	MOVQ SI, R12
	MOVQ DI, R13
	MOVQ rowGroups+40(FP), R15

block:
	LEAQ    (R12)(DX*4), R8
	VMOVUPS (R12), Y0
	VMOVUPS (R12)(DX*1), Y1
	VMOVUPS (R12)(DX*2), Y2
	VMOVUPS (R12)(R9*1), Y3
	VMOVUPS (R8), Y4
	VMOVUPS (R8)(DX*1), Y5
	VMOVUPS (R8)(DX*2), Y6
	VMOVUPS (R8)(R9*1), Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xee, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xee, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xee, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xee, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	LEAQ    (R13)(BX*4), R11
	VMOVUPS Y8, (R13)
	VMOVUPS Y9, (R13)(BX*1)
	VMOVUPS Y10, (R13)(BX*2)
	VMOVUPS Y11, (R13)(R10*1)
	VMOVUPS Y12, (R11)
	VMOVUPS Y13, (R11)(BX*1)
	VMOVUPS Y14, (R11)(BX*2)
	VMOVUPS Y15, (R11)(R10*1)

	ADDQ $32, R12
	LEAQ (R11)(BX*4), R13
	DECQ R15
	JNZ  block

	LEAQ (SI)(DX*8), SI
	ADDQ $32, DI
	DECQ CX
	JNZ  group
	VZEROUPPER
	RET

// PACK computes eight packed entries of a column block, b + ⌊col·w/2³²⌋ |
// (sign bit 0 clear) << 31, from the Philox words at coff(SI) (col) and
// soff(SI) (sign) with b and w broadcast in Y8 and Y9, and stores them 4·nz
// bytes apart (DX) from off(DI) (R9 = 3·DX). VPMULUDQ multiplies the even
// lanes and, after a shift, the odd lanes to 64 bits; the high halves are
// the columns.
#define PACK(coff, soff, off) \
	VMOVDQU      coff(SI), Y0 \
	VPMULUDQ     Y9, Y0, Y1 \
	VPSRLQ       $32, Y0, Y2 \
	VPMULUDQ     Y9, Y2, Y2 \
	VPSRLQ       $32, Y1, Y1 \
	VPBLENDD     $0xaa, Y2, Y1, Y1 \
	VPADDD       Y8, Y1, Y1 \
	VMOVDQU      soff(SI), Y3 \
	VPSLLD       $31, Y3, Y3 \
	VPXOR        Y10, Y3, Y3 \
	VPOR         Y3, Y1, Y1 \
	LEAQ         (DI)(DX*4), R8 \
	VMOVD        X1, off(DI) \
	VPEXTRD      $1, X1, off(DI)(DX*1) \
	VPEXTRD      $2, X1, off(DI)(DX*2) \
	VPEXTRD      $3, X1, off(DI)(R9*1) \
	VEXTRACTI128 $1, Y1, X1 \
	VMOVD        X1, off(R8) \
	VPEXTRD      $1, X1, off(R8)(DX*1) \
	VPEXTRD      $2, X1, off(R8)(DX*2) \
	VPEXTRD      $3, X1, off(R8)(R9*1)

// func sjltPackAVX2(d *uint32, nzBytes uintptr, x *philox.Lanes8, b0, w0, b1, w1 uint32, two int)
TEXT ·sjltPackAVX2(SB), NOSPLIT, $0-48
	MOVQ d+0(FP), DI
	MOVQ nzBytes+8(FP), DX
	MOVQ x+16(FP), SI
	LEAQ (DX)(DX*2), R9
	MOVL $0x80000000, AX
	VMOVD        AX, X10
	VPBROADCASTD X10, Y10
	MOVL         b0+24(FP), AX
	VMOVD        AX, X8
	VPBROADCASTD X8, Y8
	MOVL         w0+28(FP), AX
	VMOVD        AX, X9
	VPBROADCASTD X9, Y9
	PACK(0, 32, 0)
	MOVQ two+40(FP), AX
	TESTQ AX, AX
	JZ   done
	MOVL         b1+32(FP), AX
	VMOVD        AX, X8
	VPBROADCASTD X8, Y8
	MOVL         w1+36(FP), AX
	VMOVD        AX, X9
	VPBROADCASTD X9, Y9
	PACK(64, 96, 4)

done:
	VZEROUPPER
	RET
