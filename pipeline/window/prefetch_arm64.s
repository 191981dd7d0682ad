#include "textflag.h"

// func prefetch(p unsafe.Pointer)
TEXT ·prefetch(SB), NOSPLIT, $0-8
	MOVD	p+0(FP), R0
	PRFM	(R0), PLDL1KEEP
	RET

// func prefetch4(p unsafe.Pointer)
TEXT ·prefetch4(SB), NOSPLIT, $0-8
	MOVD	p+0(FP), R0
	PRFM	(R0), PLDL1KEEP
	PRFM	64(R0), PLDL1KEEP
	PRFM	128(R0), PLDL1KEEP
	PRFM	184(R0), PLDL1KEEP
	RET

// func prefetchDev(p unsafe.Pointer)
TEXT ·prefetchDev(SB), NOSPLIT, $0-8
	MOVD	p+0(FP), R0
	PRFM	(R0), PLDL1KEEP
	PRFM	64(R0), PLDL1KEEP
	PRFM	128(R0), PLDL1KEEP
	PRFM	192(R0), PLDL1KEEP
	PRFM	256(R0), PLDL1KEEP
	RET
