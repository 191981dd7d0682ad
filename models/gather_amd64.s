#include "textflag.h"

// func gatherMinMaxAsm(col []float64, data []int32, vals []float64) (lo, hi float64, ok bool)
//
// len(data) >= 1 and len(vals) >= len(data) (the caller checks); ok is
// false, with lo, hi and vals unspecified, when an index of data is
// outside col. Four rows a step, each into a minimum and a maximum of its
// own (MINSD and MAXSD, no branch: no chain of comparisons from one row
// to the next).
TEXT ·gatherMinMaxAsm(SB), NOSPLIT, $0-89
	MOVQ	col_base+0(FP), AX
	MOVQ	col_len+8(FP), BX
	MOVQ	data_base+24(FP), DI
	MOVQ	data_len+32(FP), SI
	MOVQ	vals_base+48(FP), R9
	MOVLQSX	(DI), DX
	CMPQ	DX, BX
	JAE	bad
	MOVSD	(AX)(DX*8), X0
	MOVAPS	X0, X1
	MOVAPS	X0, X2
	MOVAPS	X0, X3
	MOVAPS	X0, X4
	MOVAPS	X0, X5
	MOVAPS	X0, X6
	MOVAPS	X0, X7
	XORQ	CX, CX
	LEAQ	-4(SI), R10
	CMPQ	R10, $0
	JLT	tail

loop4:
	MOVLQSX	0(DI)(CX*4), DX
	MOVLQSX	4(DI)(CX*4), R11
	MOVLQSX	8(DI)(CX*4), R12
	MOVLQSX	12(DI)(CX*4), R13
	CMPQ	DX, BX
	JAE	bad
	CMPQ	R11, BX
	JAE	bad
	CMPQ	R12, BX
	JAE	bad
	CMPQ	R13, BX
	JAE	bad
	MOVSD	(AX)(DX*8), X8
	MOVSD	(AX)(R11*8), X9
	MOVSD	(AX)(R12*8), X10
	MOVSD	(AX)(R13*8), X11
	MOVSD	X8, 0(R9)(CX*8)
	MOVSD	X9, 8(R9)(CX*8)
	MOVSD	X10, 16(R9)(CX*8)
	MOVSD	X11, 24(R9)(CX*8)
	MINSD	X8, X0
	MAXSD	X8, X1
	MINSD	X9, X2
	MAXSD	X9, X3
	MINSD	X10, X4
	MAXSD	X10, X5
	MINSD	X11, X6
	MAXSD	X11, X7
	ADDQ	$4, CX
	CMPQ	CX, R10
	JLE	loop4

tail:
	CMPQ	CX, SI
	JGE	done
	MOVLQSX	(DI)(CX*4), DX
	CMPQ	DX, BX
	JAE	bad
	MOVSD	(AX)(DX*8), X8
	MOVSD	X8, (R9)(CX*8)
	MINSD	X8, X0
	MAXSD	X8, X1
	INCQ	CX
	JMP	tail

done:
	MINSD	X2, X0
	MINSD	X6, X4
	MINSD	X4, X0
	MAXSD	X3, X1
	MAXSD	X7, X5
	MAXSD	X5, X1
	MOVSD	X0, lo+72(FP)
	MOVSD	X1, hi+80(FP)
	MOVB	$1, ok+88(FP)
	RET

bad:
	MOVB	$0, ok+88(FP)
	RET

// func partitionAsm(dst, rows []int32, vals []float64, split float64) int
//
// partitionGo for len(rows) >= 1, len(vals) >= len(rows) and len(dst) >=
// len(rows), the rows going right written back from the end of dst (the
// caller checks); two rows a step. A row goes left when split >= its
// value: UCOMISD sets the carry when split < value or either is NaN
// (which goes right, as in partitionGo).
TEXT ·partitionAsm(SB), NOSPLIT, $0-88
	MOVQ	dst_base+0(FP), DI
	MOVQ	rows_base+24(FP), SI
	MOVQ	rows_len+32(FP), CX
	MOVQ	vals_base+48(FP), R9
	MOVSD	split+72(FP), X0
	XORQ	R8, R8
	MOVQ	dst_len+8(FP), R10
	XORQ	DX, DX
	LEAQ	-1(CX), R12
	CMPQ	R12, $0
	JLE	ptail

ploop2:
	MOVL	(SI)(DX*4), AX
	MOVL	4(SI)(DX*4), R11
	MOVL	AX, (DI)(R8*4)
	MOVL	AX, -4(DI)(R10*4)
	XORL	BX, BX
	UCOMISD	(R9)(DX*8), X0
	SETCC	BX
	ADDQ	BX, R8
	LEAQ	-1(R10)(BX*1), R10
	MOVL	R11, (DI)(R8*4)
	MOVL	R11, -4(DI)(R10*4)
	XORL	BX, BX
	UCOMISD	8(R9)(DX*8), X0
	SETCC	BX
	ADDQ	BX, R8
	LEAQ	-1(R10)(BX*1), R10
	ADDQ	$2, DX
	CMPQ	DX, R12
	JLT	ploop2

ptail:
	CMPQ	DX, CX
	JGE	pdone
	MOVL	(SI)(DX*4), AX
	MOVL	AX, (DI)(R8*4)
	MOVL	AX, -4(DI)(R10*4)
	XORL	BX, BX
	UCOMISD	(R9)(DX*8), X0
	SETCC	BX
	ADDQ	BX, R8

pdone:
	MOVQ	R8, ret+80(FP)
	RET

// func addDenseAsm(acc *[routeBlock]float64, set, mask []uint64, flip uint64, v float64)
//
// addDenseGo for len(mask) >= len(set) and len(set) <= routeBlock/64 (the
// caller checks); four rows a step: their four bits select the lanes of
// two pairs (denseLanes) that keep v, the others adding +0.
TEXT ·addDenseAsm(SB), NOSPLIT, $0-72
	MOVQ	acc+0(FP), DI
	MOVQ	set_base+8(FP), SI
	MOVQ	set_len+16(FP), CX
	MOVQ	mask_base+32(FP), R8
	MOVQ	flip+56(FP), R9
	MOVSD	v+64(FP), X0
	MOVLHPS	X0, X0
	LEAQ	·denseLanes(SB), R10
	XORQ	DX, DX
	TESTQ	CX, CX
	JEQ	ddone

dword:
	MOVQ	(SI)(DX*8), AX
	MOVQ	(R8)(DX*8), BX
	XORQ	R9, BX
	ANDQ	BX, AX
	MOVQ	$16, R11

dquad:
	MOVQ	AX, BX
	ANDQ	$15, BX
	SHLQ	$5, BX
	MOVUPD	(R10)(BX*1), X1
	MOVUPD	16(R10)(BX*1), X2
	ANDPD	X0, X1
	ANDPD	X0, X2
	MOVUPD	(DI), X3
	MOVUPD	16(DI), X4
	ADDPD	X1, X3
	ADDPD	X2, X4
	MOVUPD	X3, (DI)
	MOVUPD	X4, 16(DI)
	SHRQ	$4, AX
	ADDQ	$32, DI
	DECQ	R11
	JNE	dquad
	INCQ	DX
	CMPQ	DX, CX
	JLT	dword

ddone:
	RET
