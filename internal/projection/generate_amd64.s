//go:build amd64

#include "textflag.h"

// SIGNS writes the 32 entries encoded by the word of the current row at
// woff(SI) to doff(DI) onwards. The word is broadcast to all eight lanes;
// VPSLLVD by 31−t in lane t moves bit 8·g+t to the sign bit (Y10+g hold the
// counts for g = 0…3), and VBLENDVPS picks +s (Y8) where that bit is set and
// −s (Y9) where it is clear.
#define SIGNS(woff, doff) \
	VPBROADCASTD woff(SI), Y0 \
	VPSLLVD      Y10, Y0, Y1 \
	VPSLLVD      Y11, Y0, Y2 \
	VPSLLVD      Y12, Y0, Y3 \
	VPSLLVD      Y13, Y0, Y4 \
	VBLENDVPS    Y1, Y8, Y9, Y1 \
	VBLENDVPS    Y2, Y8, Y9, Y2 \
	VBLENDVPS    Y3, Y8, Y9, Y3 \
	VBLENDVPS    Y4, Y8, Y9, Y4 \
	VMOVUPS      Y1, doff(DI) \
	VMOVUPS      Y2, doff+32(DI) \
	VMOVUPS      Y3, doff+64(DI) \
	VMOVUPS      Y4, doff+96(DI)

// func expandSigns8(dst *float32, ldBytes uintptr, x *philox.Lanes8, rows int, pos uint32)
TEXT ·expandSigns8(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ ldBytes+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ rows+24(FP), CX
	MOVL pos+32(FP), AX

	VMOVD        AX, X8
	VPBROADCASTD X8, Y8 // +s
	XORL         $0x80000000, AX
	VMOVD        AX, X9
	VPBROADCASTD X9, Y9 // −s
	VMOVDQU      shifts<>+0(SB), Y10
	VMOVDQU      shifts<>+32(SB), Y11
	VMOVDQU      shifts<>+64(SB), Y12
	VMOVDQU      shifts<>+96(SB), Y13

	// Row i's words are x[w][i] at 32·w + 4·i(x); SI steps 4 bytes a row.
loop:
	SIGNS(0, 0)
	SIGNS(32, 128)
	SIGNS(64, 256)
	SIGNS(96, 384)
	ADDQ $4, SI
	ADDQ DX, DI
	DECQ CX
	JNZ  loop

	VZEROUPPER
	RET

// shifts: lane t of vector g is 31 − (8·g + t).
DATA shifts<>+0(SB)/8, $0x0000001e0000001f
DATA shifts<>+8(SB)/8, $0x0000001c0000001d
DATA shifts<>+16(SB)/8, $0x0000001a0000001b
DATA shifts<>+24(SB)/8, $0x0000001800000019
DATA shifts<>+32(SB)/8, $0x0000001600000017
DATA shifts<>+40(SB)/8, $0x0000001400000015
DATA shifts<>+48(SB)/8, $0x0000001200000013
DATA shifts<>+56(SB)/8, $0x0000001000000011
DATA shifts<>+64(SB)/8, $0x0000000e0000000f
DATA shifts<>+72(SB)/8, $0x0000000c0000000d
DATA shifts<>+80(SB)/8, $0x0000000a0000000b
DATA shifts<>+88(SB)/8, $0x0000000800000009
DATA shifts<>+96(SB)/8, $0x0000000600000007
DATA shifts<>+104(SB)/8, $0x0000000400000005
DATA shifts<>+112(SB)/8, $0x0000000200000003
DATA shifts<>+120(SB)/8, $0x0000000000000001
GLOBL shifts<>(SB), RODATA|NOPTR, $128

// The pipelined tile generator. Its state (pipeState in generate_amd64.go):
#define ST_KEYS 0   // [10][2][8]uint32: round r's k0, k1, broadcast
#define ST_GRP 640  // [8]uint32: counter word 0 (the column group)
#define ST_DOM 672  // [8]uint32: counter word 3 (the domain)
#define ST_ROWA 704 // [4]uint64: the rows of blocks 0-3 of the next group
#define ST_ROWB 736 // [4]uint64: the rows of blocks 4-7
#define ST_BUF 768  // [2]philox.Lanes8: Philox outputs, alternating

// PROUND is one Philox round of four blocks held in 64-bit lanes (as in
// package philox's block8AVX2), with the multipliers M0, M1 in Y14, Y15 and
// round key r read from the state at BX. New state (x0, t1, x2, t0).
#define PROUND(x0, x1, x2, x3, t0, t1, r) \
	VPMULUDQ Y14, x0, t0 \
	VPMULUDQ Y15, x2, t1 \
	VPXOR    (ST_KEYS+64*r)(BX), x1, x1 \
	VPXOR    (ST_KEYS+64*r+32)(BX), x3, x3 \
	VPSRLQ   $32, t1, x0 \
	VPXOR    x1, x0, x0 \
	VPSRLQ   $32, t0, x2 \
	VPXOR    x3, x2, x2

#define PROUND8(a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5, r) \
	PROUND(a0, a1, a2, a3, a4, a5, r) \
	PROUND(b0, b1, b2, b3, b4, b5, r)

// PSIGNS expands word woff(SI) of the current row to 32 entries at
// doff(R8) through the sign table at R10 (signTab: 32 bytes of entries per
// byte value). The byte offsets 32·byte are cut from the word with integer
// shifts and masks, so the expansion uses one word load, four table loads,
// four stores and integer instructions, and leaves the vector units to the
// Philox rounds.
#define PSIGNS(woff, doff) \
	MOVL    woff(SI), AX \
	MOVL    AX, R11 \
	SHLL    $5, R11 \
	ANDL    $0x1FE0, R11 \
	MOVL    AX, R12 \
	SHRL    $3, R12 \
	ANDL    $0x1FE0, R12 \
	MOVL    AX, R13 \
	SHRL    $11, R13 \
	ANDL    $0x1FE0, R13 \
	SHRL    $19, AX \
	ANDL    $0x1FE0, AX \
	VMOVUPS (R10)(R11*1), Y12 \
	VMOVUPS (R10)(R12*1), Y13 \
	VMOVUPS Y12, doff(R8) \
	VMOVUPS Y13, doff+32(R8) \
	VMOVUPS (R10)(R13*1), Y12 \
	VMOVUPS (R10)(AX*1), Y13 \
	VMOVUPS Y12, doff+64(R8) \
	VMOVUPS Y13, doff+96(R8)

// PROW expands the current row (words at 0, 32, 64, 96 from SI) to R8, then
// steps SI and R8 to the next row.
#define PROW \
	PSIGNS(0, 0) \
	PSIGNS(32, 128) \
	PSIGNS(64, 256) \
	PSIGNS(96, 384) \
	ADDQ $4, SI \
	ADDQ DX, R8

// PPACK stores word w of the eight new blocks to off(R9), as PACK in
// package philox; Y12 holds the dword indices 0, 2, 4, 6, 0, 2, 4, 6.
#define PPACK(a, b, off) \
	VPERMD   a, Y12, a \
	VPERMD   b, Y12, b \
	VPBLENDD $0xF0, b, a, a \
	VMOVDQU  a, off(R9)

// KEYS stores round key r (Y12, Y13) and advances Y12, Y13 to round r+1.
#define KEYS(r) \
	VMOVDQU Y12, (ST_KEYS+64*r)(BX) \
	VMOVDQU Y13, (ST_KEYS+64*r+32)(BX) \
	VPADDD  weyl0x8<>(SB), Y12, Y12 \
	VPADDD  weyl1x8<>(SB), Y13, Y13

// func rademacherPipe(dst *float32, ldBytes uintptr, groups int, st *pipeState, tab *signTab, k0, k1, grp, dom uint32)
TEXT ·rademacherPipe(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ ldBytes+8(FP), DX
	MOVQ groups+16(FP), CX
	MOVQ st+24(FP), BX
	MOVQ tab+32(FP), R10

	// The round keys, k + r·W for r = 0…9, and counter words 0 and 3,
	// broadcast into the state.
	MOVL         k0+40(FP), AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12
	MOVL         k1+44(FP), AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	KEYS(0)
	KEYS(1)
	KEYS(2)
	KEYS(3)
	KEYS(4)
	KEYS(5)
	KEYS(6)
	KEYS(7)
	KEYS(8)
	KEYS(9)
	MOVL         grp+48(FP), AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12
	VMOVDQU      Y12, ST_GRP(BX)
	MOVL         dom+52(FP), AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12
	VMOVDQU      Y12, ST_DOM(BX)

	VMOVDQU mul0x4<>(SB), Y14
	VMOVDQU mul1x4<>(SB), Y15
	LEAQ    ST_BUF(BX), SI        // the outputs being expanded
	LEAQ    (ST_BUF+128)(BX), R9 // the outputs being computed

group:
	// Counters of the next group: word 0 the column group, words 1 and 2
	// the low and high halves of the 64-bit rows, word 3 the domain.
	VPBROADCASTD ST_GRP(BX), Y0
	VMOVDQA      Y0, Y6
	VMOVDQU      ST_ROWA(BX), Y1
	VMOVDQU      ST_ROWB(BX), Y7
	VPSRLQ       $32, Y1, Y2
	VPSRLQ       $32, Y7, Y8
	VPBROADCASTD ST_DOM(BX), Y3
	VMOVDQA      Y3, Y9
	VPADDQ       eight<>(SB), Y1, Y13
	VPADDQ       eight<>(SB), Y7, Y12
	VMOVDQU      Y13, ST_ROWA(BX)
	VMOVDQU      Y12, ST_ROWB(BX)
	MOVQ         DI, R8

	// Rounds 1-8 of the next group, one per row expanded of this group.
	PROUND8(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, 0)
	PROW
	PROUND8(Y0, Y5, Y2, Y4, Y1, Y3, Y6, Y11, Y8, Y10, Y7, Y9, 1)
	PROW
	PROUND8(Y0, Y3, Y2, Y1, Y5, Y4, Y6, Y9, Y8, Y7, Y11, Y10, 2)
	PROW
	PROUND8(Y0, Y4, Y2, Y5, Y3, Y1, Y6, Y10, Y8, Y11, Y9, Y7, 3)
	PROW
	PROUND8(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, 4)
	PROW
	PROUND8(Y0, Y5, Y2, Y4, Y1, Y3, Y6, Y11, Y8, Y10, Y7, Y9, 5)
	PROW
	PROUND8(Y0, Y3, Y2, Y1, Y5, Y4, Y6, Y9, Y8, Y7, Y11, Y10, 6)
	PROW
	PROUND8(Y0, Y4, Y2, Y5, Y3, Y1, Y6, Y10, Y8, Y11, Y9, Y7, 7)
	PROW
	PROUND8(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, 8)
	PROUND8(Y0, Y5, Y2, Y4, Y1, Y3, Y6, Y11, Y8, Y10, Y7, Y9, 9)

	// The words are now (Y0, Y3, Y2, Y1) and (Y6, Y9, Y8, Y7).
	VMOVDQU packidx<>(SB), Y12
	PPACK(Y0, Y6, 0)
	PPACK(Y3, Y9, 32)
	PPACK(Y2, Y8, 64)
	PPACK(Y1, Y7, 96)

	// Swap the buffers (SI has moved 32 bytes, one per row) and move to
	// the next eight rows of dst.
	LEAQ -32(SI), AX
	MOVQ R9, SI
	MOVQ AX, R9
	MOVQ R8, DI
	DECQ CX
	JNZ  group

	VZEROUPPER
	RET

// philox.M0, M1 (zero-extended to 64-bit lanes), philox.W0, W1 (broadcast):
// the Philox constants, repeated here; the tests compare every path with
// philox.Block and Entry bit for bit.
DATA mul0x4<>+0(SB)/8, $0xD2511F53
DATA mul0x4<>+8(SB)/8, $0xD2511F53
DATA mul0x4<>+16(SB)/8, $0xD2511F53
DATA mul0x4<>+24(SB)/8, $0xD2511F53
GLOBL mul0x4<>(SB), RODATA|NOPTR, $32
DATA mul1x4<>+0(SB)/8, $0xCD9E8D57
DATA mul1x4<>+8(SB)/8, $0xCD9E8D57
DATA mul1x4<>+16(SB)/8, $0xCD9E8D57
DATA mul1x4<>+24(SB)/8, $0xCD9E8D57
GLOBL mul1x4<>(SB), RODATA|NOPTR, $32
DATA eight<>+0(SB)/8, $8
DATA eight<>+8(SB)/8, $8
DATA eight<>+16(SB)/8, $8
DATA eight<>+24(SB)/8, $8
GLOBL eight<>(SB), RODATA|NOPTR, $32

DATA packidx<>+0(SB)/4, $0
DATA packidx<>+4(SB)/4, $2
DATA packidx<>+8(SB)/4, $4
DATA packidx<>+12(SB)/4, $6
DATA packidx<>+16(SB)/4, $0
DATA packidx<>+20(SB)/4, $2
DATA packidx<>+24(SB)/4, $4
DATA packidx<>+28(SB)/4, $6
GLOBL packidx<>(SB), RODATA|NOPTR, $32

DATA weyl0x8<>+0(SB)/8, $0x9E3779B99E3779B9
DATA weyl0x8<>+8(SB)/8, $0x9E3779B99E3779B9
DATA weyl0x8<>+16(SB)/8, $0x9E3779B99E3779B9
DATA weyl0x8<>+24(SB)/8, $0x9E3779B99E3779B9
GLOBL weyl0x8<>(SB), RODATA|NOPTR, $32
DATA weyl1x8<>+0(SB)/8, $0xBB67AE85BB67AE85
DATA weyl1x8<>+8(SB)/8, $0xBB67AE85BB67AE85
DATA weyl1x8<>+16(SB)/8, $0xBB67AE85BB67AE85
DATA weyl1x8<>+24(SB)/8, $0xBB67AE85BB67AE85
GLOBL weyl1x8<>(SB), RODATA|NOPTR, $32
