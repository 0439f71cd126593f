//go:build amd64

#include "textflag.h"

// block8AVX2 computes eight Philox4x32-10 blocks with AVX2.
//
// Layout. VPMULUDQ multiplies the low 32 bits of each 64-bit lane into a full
// 64-bit product, so each counter word is kept zero-extended in 64-bit lanes:
// one ymm register holds one word of four blocks. Blocks 0-3 ("half A") use
// Y0-Y5, blocks 4-7 ("half B") Y6-Y11. The high 32 bits of a lane are never
// read by VPMULUDQ and never stored, so they may hold garbage: the product
// M·x is then both lo (low half) and, shifted right by 32, hi.
//
// Y12, Y13 = M0, M1 and Y14, Y15 = the round keys k0, k1, broadcast.

// ROUND applies one Philox round to the four blocks whose words are x0..x3,
// using t0, t1 as scratch. The new state is (x0, t1, x2, t0): the products
// become the new words 1 and 3 in place, and x1, x3 are free afterwards.
//
//	t0 = M0·x0, t1 = M1·x2          (64-bit products)
//	x0 = hi(t1) ⊕ (x1 ⊕ k0)
//	x2 = hi(t0) ⊕ (x3 ⊕ k1)
//
// The key is folded into x1, x3 (dead afterwards) while the products are
// computed, leaving multiply, shift, xor on the dependency chain.
#define ROUND(x0, x1, x2, x3, t0, t1) \
	VPMULUDQ Y12, x0, t0 \
	VPMULUDQ Y13, x2, t1 \
	VPXOR    Y14, x1, x1 \
	VPXOR    Y15, x3, x3 \
	VPSRLQ   $32, t1, x0 \
	VPXOR    x1, x0, x0 \
	VPSRLQ   $32, t0, x2 \
	VPXOR    x3, x2, x2

// ROUND8 applies one round to both halves; the register names rotate with a
// period of four rounds (see ROUND).
#define ROUND8(a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5) \
	ROUND(a0, a1, a2, a3, a4, a5) \
	ROUND(b0, b1, b2, b3, b4, b5)

// BUMP advances the round keys: k0 += W0, k1 += W1.
#define BUMP \
	VPADDD weyl0<>(SB), Y14, Y14 \
	VPADDD weyl1<>(SB), Y15, Y15

// PACK stores word w of the eight blocks, held in 64-bit lanes in a (blocks
// 0-3) and b (blocks 4-7), as eight consecutive uint32 at off(DI). Y12 holds
// the dword indices 0, 2, 4, 6, 0, 2, 4, 6.
#define PACK(a, b, off) \
	VPERMD   a, Y12, a \
	VPERMD   b, Y12, b \
	VPBLENDD $0xF0, b, a, a \
	VMOVDQU  a, off(DI)

// func block8AVX2(k0, k1 uint32, in, out *Lanes8)
TEXT ·block8AVX2(SB), NOSPLIT, $0-24
	MOVQ in+8(FP), SI
	MOVQ out+16(FP), DI

	MOVL         k0+0(FP), AX
	MOVL         k1+4(FP), BX
	VMOVD        AX, X14
	VMOVD        BX, X15
	VPBROADCASTD X14, Y14
	VPBROADCASTD X15, Y15
	VPBROADCASTD mul0<>(SB), Y12
	VPBROADCASTD mul1<>(SB), Y13

	// Word w of blocks 0-3 and 4-7, zero-extended to 64-bit lanes.
	VPMOVZXDQ 0(SI), Y0
	VPMOVZXDQ 32(SI), Y1
	VPMOVZXDQ 64(SI), Y2
	VPMOVZXDQ 96(SI), Y3
	VPMOVZXDQ 16(SI), Y6
	VPMOVZXDQ 48(SI), Y7
	VPMOVZXDQ 80(SI), Y8
	VPMOVZXDQ 112(SI), Y9

	ROUND8(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11) // round 1
	BUMP
	ROUND8(Y0, Y5, Y2, Y4, Y1, Y3, Y6, Y11, Y8, Y10, Y7, Y9) // round 2
	BUMP
	ROUND8(Y0, Y3, Y2, Y1, Y5, Y4, Y6, Y9, Y8, Y7, Y11, Y10) // round 3
	BUMP
	ROUND8(Y0, Y4, Y2, Y5, Y3, Y1, Y6, Y10, Y8, Y11, Y9, Y7) // round 4
	BUMP
	ROUND8(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11) // round 5
	BUMP
	ROUND8(Y0, Y5, Y2, Y4, Y1, Y3, Y6, Y11, Y8, Y10, Y7, Y9) // round 6
	BUMP
	ROUND8(Y0, Y3, Y2, Y1, Y5, Y4, Y6, Y9, Y8, Y7, Y11, Y10) // round 7
	BUMP
	ROUND8(Y0, Y4, Y2, Y5, Y3, Y1, Y6, Y10, Y8, Y11, Y9, Y7) // round 8
	BUMP
	ROUND8(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11) // round 9
	BUMP
	ROUND8(Y0, Y5, Y2, Y4, Y1, Y3, Y6, Y11, Y8, Y10, Y7, Y9) // round 10

	// After round 10 the words are (Y0, Y3, Y2, Y1) and (Y6, Y9, Y8, Y7).
	VMOVDQU packidx<>(SB), Y12
	PACK(Y0, Y6, 0)
	PACK(Y3, Y9, 32)
	PACK(Y2, Y8, 64)
	PACK(Y1, Y7, 96)
	VZEROUPPER
	RET

DATA mul0<>+0(SB)/4, $0xD2511F53
GLOBL mul0<>(SB), RODATA|NOPTR, $4
DATA mul1<>+0(SB)/4, $0xCD9E8D57
GLOBL mul1<>(SB), RODATA|NOPTR, $4

DATA weyl0<>+0(SB)/8, $0x9E3779B99E3779B9
DATA weyl0<>+8(SB)/8, $0x9E3779B99E3779B9
DATA weyl0<>+16(SB)/8, $0x9E3779B99E3779B9
DATA weyl0<>+24(SB)/8, $0x9E3779B99E3779B9
GLOBL weyl0<>(SB), RODATA|NOPTR, $32
DATA weyl1<>+0(SB)/8, $0xBB67AE85BB67AE85
DATA weyl1<>+8(SB)/8, $0xBB67AE85BB67AE85
DATA weyl1<>+16(SB)/8, $0xBB67AE85BB67AE85
DATA weyl1<>+24(SB)/8, $0xBB67AE85BB67AE85
GLOBL weyl1<>(SB), RODATA|NOPTR, $32

DATA packidx<>+0(SB)/4, $0
DATA packidx<>+4(SB)/4, $2
DATA packidx<>+8(SB)/4, $4
DATA packidx<>+12(SB)/4, $6
DATA packidx<>+16(SB)/4, $0
DATA packidx<>+20(SB)/4, $2
DATA packidx<>+24(SB)/4, $4
DATA packidx<>+28(SB)/4, $6
GLOBL packidx<>(SB), RODATA|NOPTR, $32
