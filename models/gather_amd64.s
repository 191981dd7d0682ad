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
// partitionGo for len(rows) >= 1, len(dst) and len(vals) >= len(rows)
// (the caller checks); two rows a step. A row goes left when split >= its
// value: UCOMISD sets the carry when split < value or either is NaN
// (which goes right, as in partitionGo).
TEXT ·partitionAsm(SB), NOSPLIT, $0-88
	MOVQ	dst_base+0(FP), DI
	MOVQ	rows_base+24(FP), SI
	MOVQ	rows_len+32(FP), CX
	MOVQ	vals_base+48(FP), R9
	MOVSD	split+72(FP), X0
	XORQ	R8, R8
	MOVQ	CX, R10
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
