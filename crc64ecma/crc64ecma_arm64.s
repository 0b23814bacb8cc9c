#include "textflag.h"

// The amd64 algorithm (see crc64ecma_amd64.s) with PMULL: eight 128-bit
// accumulators folded by 1024 bits per round, then one onto the next, the
// remaining blocks one by one, 128 → 64 bits and Barrett. The constants are
// in zconsts.s. A block is loaded little-endian, so D[0] is its low quadword.

// FOLD folds acc forward with the constants in V8 (D[0] multiplies acc's
// D[0], D[1] its D[1]), using tmp, and xors the block in with into it.
#define FOLD(acc, with, tmp) \
	VPMULL  V8.D1, acc.D1, tmp.Q1 \
	VPMULL2 V8.D2, acc.D2, acc.Q1 \
	VEOR    tmp.B16, acc.B16, acc.B16 \
	VEOR    with.B16, acc.B16, acc.B16

// func clmulUpdate(crc uint64, p []byte, avx512 bool) uint64
TEXT ·clmulUpdate(SB), NOSPLIT, $0-48
	MOVD crc+0(FP), R0
	MOVD p_base+8(FP), R1
	MOVD p_len+16(FP), R2

	VEOR V30.B16, V30.B16, V30.B16
	VMOV R0, V30.D[0]
	CMP  $128, R2
	BLT  single

	VLD1.P 64(R1), [V0.B16, V1.B16, V2.B16, V3.B16]
	VLD1.P 64(R1), [V4.B16, V5.B16, V6.B16, V7.B16]
	VEOR   V30.B16, V0.B16, V0.B16
	SUB    $128, R2
	MOVD   $·fold8(SB), R3
	VLD1   (R3), [V8.D2]
	CMP    $128, R2
	BLT    reduce8

loop8:
	VLD1.P 64(R1), [V16.B16, V17.B16, V18.B16, V19.B16]
	VLD1.P 64(R1), [V20.B16, V21.B16, V22.B16, V23.B16]
	FOLD(V0, V16, V24)
	FOLD(V1, V17, V25)
	FOLD(V2, V18, V26)
	FOLD(V3, V19, V27)
	FOLD(V4, V20, V28)
	FOLD(V5, V21, V29)
	FOLD(V6, V22, V24)
	FOLD(V7, V23, V25)
	SUB    $128, R2
	CMP    $128, R2
	BGE    loop8

reduce8:
	// Each accumulator onto the next, 128 bits at a time, into V0.
	MOVD $·fold1(SB), R3
	VLD1 (R3), [V8.D2]
	FOLD(V0, V1, V24)
	FOLD(V0, V2, V24)
	FOLD(V0, V3, V24)
	FOLD(V0, V4, V24)
	FOLD(V0, V5, V24)
	FOLD(V0, V6, V24)
	FOLD(V0, V7, V24)
	B    tail

single:
	VLD1.P 16(R1), [V0.B16]
	VEOR   V30.B16, V0.B16, V0.B16
	SUB    $16, R2
	MOVD   $·fold1(SB), R3
	VLD1   (R3), [V8.D2]

tail:
	// The remaining blocks one by one; V8 holds fold1, V0 the accumulator.
	CMP    $16, R2
	BLT    finish
	VLD1.P 16(R1), [V16.B16]
	FOLD(V0, V16, V24)
	SUB    $16, R2
	B      tail

finish:
	// 128 → 64 bits: Y = clmul(X.lo, reduce.lo) ^ X.hi in the low quadword;
	// Y.lo in R5, Y.hi in R6.
	MOVD   $·reduce(SB), R3
	VLD1   (R3), [V8.D2]
	VPMULL V8.D1, V0.D1, V1.Q1
	VMOV   V0.D[1], R4
	VMOV   V1.D[0], R5
	VMOV   V1.D[1], R6
	EOR    R4, R5

	// Barrett: q = low quadword of clmul(Y.lo, barrett.lo); the register
	// is the high quadword of clmul(q, barrett.hi) ^ q ^ Y.hi.
	MOVD    $·barrett(SB), R3
	VLD1    (R3), [V8.D2]
	VMOV    R5, V2.D[0]
	VPMULL  V8.D1, V2.D1, V3.Q1
	VMOV    V3.D[0], R7
	VMOV    R7, V2.D[1]
	VPMULL2 V8.D2, V2.D2, V4.Q1
	VMOV    V4.D[1], R8
	EOR     R7, R8
	EOR     R6, R8
	MOVD    R8, ret+40(FP)
	RET
