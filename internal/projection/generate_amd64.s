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
