// Command gen writes the amd64 assembly of package kernels with avo. It is
// its own module (so avo is not a dependency of adarank) and is run by
// `go generate ./internal/kernels`, i.e.
//
//	cd internal/kernels/_gen && go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go -pkg kernels
//
// The generated files are committed: building adarank needs only the Go
// toolchain.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Register tile sizes; the Go driver reads them back through the stubs'
// kernel tables, so change them here only.
const (
	mr512 = 14 // AVX-512 micro-tile: up to 14 rows × 32 columns (28 zmm accumulators)
	nr512 = 32
	mr256 = 6 // AVX2 micro-tile: up to 6 rows × 16 columns (12 ymm accumulators)
	nr256 = 16
)

func main() {
	ConstraintExpr("!purego")
	for mr := 1; mr <= mr512; mr++ {
		for _, rowA := range []bool{false, true} {
			gemmAVX512(mr, rowA, false)
			gemmAVX512(mr, rowA, true)
		}
	}
	for mr := 1; mr <= mr256; mr++ {
		gemmAVX2(mr)
	}
	packAAVX512()
	defConsts()
	vectorKernels()
	adamwKernel()
	Generate()
}

const kernelSig = "func(kc int, a *float32, as int, b *float32, bs int, c *float32, ldc int, alpha float32, beta float32, mask uint32)"

// gemmAVX512 writes the micro-kernel for an mr×32 tile:
//
//	C[i][j] = alpha * Σ_p A(i,p)·B(p,j) + beta*C[i][j]   (beta == ±0: C is not read)
//
// with A(i,p) = a[i + p*as], B(p,j) = b[p*bs + j], C[i][j] = c[i*ldc + j],
// i < mr, p < kc, and only the columns j whose bit is set in mask loaded
// from B or touched in C (so an unpadded B or C edge is safe to pass). Each
// accumulator is a chain of FMAs in p order: the value of C[i][j] does not
// depend on the tile it was computed in.
//
// With rowA, A is read in place from a row-major matrix instead:
// A(i,p) = a[i*as + p] (as = lda), through three row pointers.
//
// Only the masked variants (name suffix m) use the mask: the full-width ones
// ignore it (masked stores are slow on Zen 4).
func gemmAVX512(mr int, rowA, masked bool) {
	name := fmt.Sprintf("sgemmAVX512x%d", mr)
	if rowA {
		name = fmt.Sprintf("sgemmAVX512r%d", mr)
	}
	if masked {
		name += "m"
	}
	// Loads and stores of 16 columns, masked by k in the masked variant.
	load := func(m Mem, k OpmaskPhysical, z VecPhysical) {
		if masked {
			VMOVUPS_Z(m, k, z)
		} else {
			VMOVUPS(m, z)
		}
	}
	store := func(z VecPhysical, k OpmaskPhysical, m Mem) {
		if masked {
			VMOVUPS(z, k, m)
		} else {
			VMOVUPS(z, m)
		}
	}
	TEXT(name, NOSPLIT, kernelSig)
	if rowA {
		Doc(fmt.Sprintf("%s is the AVX-512 SGEMM micro-kernel for a %d×32 tile with A row-major in place (see _gen/main.go).", name, mr))
	} else {
		Doc(fmt.Sprintf("%s is the AVX-512 SGEMM micro-kernel for a %d×32 tile (see _gen/main.go).", name, mr))
	}
	kc, a, as, b, bs, c, ldc := RDX, RAX, RSI, RBX, RDI, RCX, R8
	Load(Param("kc"), kc)
	Load(Param("a"), a)
	Load(Param("as"), as)
	SHLQ(U8(2), as)
	Load(Param("b"), b)
	Load(Param("bs"), bs)
	SHLQ(U8(2), bs)
	Load(Param("c"), c)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	Load(Param("mask"), R9L)
	KMOVW(R9L, K1)
	SHRL(U8(16), R9L)
	KMOVW(R9L, K2)

	acc := func(i, h int) VecPhysical { return zmm(2*i + h) }
	b0, b1 := Z28, Z29
	bc := [2]VecPhysical{Z30, Z31}

	// Touch the C tile early so its lines are on the way when the sum ends.
	MOVQ(c, R10)
	for i := 0; i < mr; i++ {
		PREFETCHT0(Mem{Base: R10})
		PREFETCHT0(Mem{Base: R10, Disp: 64})
		if i < mr-1 {
			ADDQ(ldc, R10)
		}
	}
	for i := 0; i < mr; i++ {
		VPXORD(acc(i, 0), acc(i, 0), acc(i, 0))
		VPXORD(acc(i, 1), acc(i, 1), acc(i, 1))
	}
	// Address of A(i, p+u) for unroll step u.
	aAddr := func(i, u int) Mem { return Mem{Base: a, Disp: 4 * i} }
	advanceA := func(u int) { ADDQ(as, a) }
	if rowA {
		// Rows 5g..5g+4 from base g: (B), (B)(l*1), (B)(l*2), (B)(l3*1), (B)(l*4).
		l, l3 := as, R9
		bases := []GPPhysical{a, R12, R13}
		LEAQ(Mem{Base: l, Index: l, Scale: 2}, l3)
		LEAQ(Mem{Base: l, Index: l, Scale: 4}, R10)
		LEAQ(Mem{Base: a, Index: R10, Scale: 1}, R12)
		LEAQ(Mem{Base: R12, Index: R10, Scale: 1}, R13)
		aAddr = func(i, u int) Mem {
			m := Mem{Base: bases[i/5], Disp: 4 * u}
			switch i % 5 {
			case 1:
				m.Index, m.Scale = l, 1
			case 2:
				m.Index, m.Scale = l, 2
			case 3:
				m.Index, m.Scale = l3, 1
			case 4:
				m.Index, m.Scale = l, 4
			}
			return m
		}
		advanceA = func(u int) {
			for g := 0; g*5 < mr; g++ {
				ADDQ(U8(4*u), bases[g])
			}
		}
	}
	step := func(u int) {
		load(Mem{Base: b}, K1, b0)
		load(Mem{Base: b, Disp: 64}, K2, b1)
		ADDQ(bs, b)
		for i := 0; i < mr; i++ {
			r := bc[i%2]
			if rowA {
				VBROADCASTSS(aAddr(i, u), r)
			} else {
				VBROADCASTSS(aAddr(i, 0), r)
			}
			VFMADD231PS(b0, r, acc(i, 0))
			VFMADD231PS(b1, r, acc(i, 1))
		}
		if !rowA {
			advanceA(1)
		}
	}
	kernelLoops(kc, step, func(n int) {
		if rowA {
			advanceA(n)
		}
	})

	VBROADCASTSS(NewParamAddr("alpha", 56), b0)
	MOVL(NewParamAddr("beta", 60), R9L)
	ANDL(U32(0x7fffffff), R9L)
	JZ(LabelRef("beta0_" + name))
	VBROADCASTSS(NewParamAddr("beta", 60), b1)
	for i := 0; i < mr; i++ {
		load(Mem{Base: c}, K1, Z30)
		load(Mem{Base: c, Disp: 64}, K2, Z31)
		VMULPS(b1, Z30, Z30)
		VMULPS(b1, Z31, Z31)
		VFMADD231PS(b0, acc(i, 0), Z30)
		VFMADD231PS(b0, acc(i, 1), Z31)
		store(Z30, K1, Mem{Base: c})
		store(Z31, K2, Mem{Base: c, Disp: 64})
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
	Label("beta0_" + name)
	for i := 0; i < mr; i++ {
		VMULPS(b0, acc(i, 0), acc(i, 0))
		VMULPS(b0, acc(i, 1), acc(i, 1))
		store(acc(i, 0), K1, Mem{Base: c})
		store(acc(i, 1), K2, Mem{Base: c, Disp: 64})
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// gemmAVX2 writes the AVX2+FMA micro-kernel for an mr×16 tile with the same
// contract as gemmAVX512 but without a mask: all 16 columns of B are read
// and all 16 columns of C are written (the driver routes edges through a
// scratch tile). The mask argument is ignored.
func gemmAVX2(mr int) {
	TEXT(fmt.Sprintf("sgemmAVX2x%d", mr), NOSPLIT, kernelSig)
	Doc(fmt.Sprintf("sgemmAVX2x%d is the AVX2 SGEMM micro-kernel for a %d×16 tile (see _gen/main.go).", mr, mr))
	kc, a, as, b, bs, c, ldc := RDX, RAX, RSI, RBX, RDI, RCX, R8
	Load(Param("kc"), kc)
	Load(Param("a"), a)
	Load(Param("as"), as)
	SHLQ(U8(2), as)
	Load(Param("b"), b)
	Load(Param("bs"), bs)
	SHLQ(U8(2), bs)
	Load(Param("c"), c)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)

	acc := func(i, h int) VecPhysical { return ymm(2*i + h) }
	b0, b1 := Y12, Y13
	bc := [2]VecPhysical{Y14, Y15}
	MOVQ(c, R10)
	for i := 0; i < mr; i++ {
		PREFETCHT0(Mem{Base: R10})
		if i < mr-1 {
			ADDQ(ldc, R10)
		}
	}
	for i := 0; i < mr; i++ {
		VXORPS(acc(i, 0), acc(i, 0), acc(i, 0))
		VXORPS(acc(i, 1), acc(i, 1), acc(i, 1))
	}
	step := func(int) {
		VMOVUPS(Mem{Base: b}, b0)
		VMOVUPS(Mem{Base: b, Disp: 32}, b1)
		ADDQ(bs, b)
		for i := 0; i < mr; i++ {
			r := bc[i%2]
			VBROADCASTSS(Mem{Base: a, Disp: 4 * i}, r)
			VFMADD231PS(b0, r, acc(i, 0))
			VFMADD231PS(b1, r, acc(i, 1))
		}
		ADDQ(as, a)
	}
	kernelLoops(kc, step, func(int) {})

	VBROADCASTSS(NewParamAddr("alpha", 56), b0)
	MOVL(NewParamAddr("beta", 60), R9L)
	ANDL(U32(0x7fffffff), R9L)
	JZ(LabelRef(fmt.Sprintf("beta0_256x%d", mr)))
	VBROADCASTSS(NewParamAddr("beta", 60), b1)
	for i := 0; i < mr; i++ {
		VMULPS(Mem{Base: c}, b1, Y14)
		VMULPS(Mem{Base: c, Disp: 32}, b1, Y15)
		VFMADD231PS(b0, acc(i, 0), Y14)
		VFMADD231PS(b0, acc(i, 1), Y15)
		VMOVUPS(Y14, Mem{Base: c})
		VMOVUPS(Y15, Mem{Base: c, Disp: 32})
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
	Label(fmt.Sprintf("beta0_256x%d", mr))
	for i := 0; i < mr; i++ {
		VMULPS(b0, acc(i, 0), acc(i, 0))
		VMULPS(b0, acc(i, 1), acc(i, 1))
		VMOVUPS(acc(i, 0), Mem{Base: c})
		VMOVUPS(acc(i, 1), Mem{Base: c, Disp: 32})
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

var loopID int

// kernelLoops runs step kc times (kc in RDX), unrolled by 4; step gets its
// index in the unrolled group and advance the group size after it.
func kernelLoops(kc GPPhysical, step func(u int), advance func(n int)) {
	loopID++
	l4 := fmt.Sprintf("k4_%d", loopID)
	l1 := fmt.Sprintf("k1_%d", loopID)
	done := fmt.Sprintf("kdone_%d", loopID)
	CMPQ(kc, U8(4))
	JL(LabelRef(l1 + "pre"))
	Label(l4)
	for u := 0; u < 4; u++ {
		step(u)
	}
	advance(4)
	SUBQ(U8(4), kc)
	CMPQ(kc, U8(4))
	JGE(LabelRef(l4))
	Label(l1 + "pre")
	TESTQ(kc, kc)
	JZ(LabelRef(done))
	Label(l1)
	step(0)
	advance(1)
	DECQ(kc)
	JNZ(LabelRef(l1))
	Label(done)
}

func zmm(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

func ymm(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// packAAVX512 writes the transposing packers: dst[p*w+i] = src[i*ld+p] for
// i < rows, p < 16*chunks, 16 p at a time through a 16×16 in-register
// transpose.
func packAAVX512() {
	transposePack("packT14AVX512", 14, 14)
	transposePack("packT16AVX512", 16, 32)
}

func transposePack(name string, rows, w int) {
	TEXT(name, NOSPLIT, "func(dst *float32, src *float32, ld int, chunks int)")
	Doc(fmt.Sprintf("%s packs %d rows of src (row stride ld) transposed into dst with row stride %d, 16 columns per chunk.", name, rows, w))
	dst, src, ld, n := RDI, RSI, RDX, RCX
	Load(Param("dst"), dst)
	Load(Param("src"), src)
	Load(Param("ld"), ld)
	SHLQ(U8(2), ld)
	Load(Param("chunks"), n)
	MOVL(U32(1<<rows-1), R9L)
	KMOVW(R9L, K1)
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	MOVQ(src, R8)
	for i := 0; i < 16; i++ {
		if i < rows {
			VMOVUPS(Mem{Base: R8}, zmm(i))
			if i < rows-1 {
				ADDQ(ld, R8)
			}
		} else {
			VPXORD(zmm(i), zmm(i), zmm(i))
		}
	}
	// Stage 1: interleave 32-bit elements of row pairs.
	for i := 0; i < 16; i += 2 {
		VUNPCKLPS(zmm(i+1), zmm(i), zmm(16+i))
		VUNPCKHPS(zmm(i+1), zmm(i), zmm(16+i+1))
	}
	// Stage 2: interleave 64-bit pairs: u[4g+q] holds rows 4g..4g+3 at p = q+4L in lane L.
	for g := 0; g < 4; g++ {
		t := 16 + 4*g
		VUNPCKLPD(zmm(t+2), zmm(t), zmm(4*g+0))
		VUNPCKHPD(zmm(t+2), zmm(t), zmm(4*g+1))
		VUNPCKLPD(zmm(t+3), zmm(t+1), zmm(4*g+2))
		VUNPCKHPD(zmm(t+3), zmm(t+1), zmm(4*g+3))
	}
	// Stages 3-4: 4×4 transpose of 128-bit lanes across the groups; output
	// p (rows 0..15 of column p) lands in zmm(p), reusing dead registers.
	for q := 0; q < 4; q++ {
		a, b, c, d := Z16, Z17, Z18, Z19
		VSHUFF32X4(U8(0x44), zmm(4+q), zmm(q), a)
		VSHUFF32X4(U8(0x44), zmm(12+q), zmm(8+q), b)
		VSHUFF32X4(U8(0xEE), zmm(4+q), zmm(q), c)
		VSHUFF32X4(U8(0xEE), zmm(12+q), zmm(8+q), d)
		VSHUFF32X4(U8(0x88), b, a, zmm(q))
		VSHUFF32X4(U8(0xDD), b, a, zmm(q+4))
		VSHUFF32X4(U8(0x88), d, c, zmm(q+8))
		VSHUFF32X4(U8(0xDD), d, c, zmm(q+12))
	}
	// Store in p order. For rows < 16 each full-width store spills into the
	// next column's first lanes, which the next store overwrites (masked
	// stores are slow on Zen 4); only the last one is masked.
	for p := 0; p < 16; p++ {
		if rows == 16 || p < 15 {
			VMOVUPS(zmm(p), Mem{Base: dst, Disp: 4 * w * p})
		} else {
			VMOVUPS(zmm(p), K1, Mem{Base: dst, Disp: 4 * w * p})
		}
	}
	ADDQ(U32(64), src)
	ADDQ(U32(64*w), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// vectorKernels writes the AVX2+FMA vector loops. Each handles a multiple
// of its block (32 elements for the reductions/axpy, 8 for the maps); the Go
// wrappers do the tails. On Zen 4 ymm and zmm FMAs have the same throughput,
// so AVX2 is used for these on every CPU that has it.
func vectorKernels() {
	// dotAVX2: Σ x[i]*y[i] over n (multiple of 32), 4 accumulators.
	TEXT("dotAVX2", NOSPLIT, "func(x, y *float32, n int) float32")
	Doc("dotAVX2 returns Σ x[i]·y[i] for n a multiple of 32.")
	x, y, n := RSI, RDI, RCX
	Load(Param("x"), x)
	Load(Param("y"), y)
	Load(Param("n"), n)
	for i := 0; i < 4; i++ {
		VXORPS(ymm(i), ymm(i), ymm(i))
	}
	SHRQ(U8(5), n)
	JZ(LabelRef("dot_done"))
	Label("dot_loop")
	for i := 0; i < 4; i++ {
		VMOVUPS(Mem{Base: x, Disp: 32 * i}, ymm(4+i))
		VFMADD231PS(Mem{Base: y, Disp: 32 * i}, ymm(4+i), ymm(i))
	}
	ADDQ(U32(128), x)
	ADDQ(U32(128), y)
	DECQ(n)
	JNZ(LabelRef("dot_loop"))
	Label("dot_done")
	reduceStore(Y0, Y1, Y2, Y3, "ret")

	// sumAVX2: Σ x[i] over n (multiple of 32).
	TEXT("sumAVX2", NOSPLIT, "func(x *float32, n int) float32")
	Doc("sumAVX2 returns Σ x[i] for n a multiple of 32.")
	Load(Param("x"), x)
	Load(Param("n"), n)
	for i := 0; i < 4; i++ {
		VXORPS(ymm(i), ymm(i), ymm(i))
	}
	SHRQ(U8(5), n)
	JZ(LabelRef("sum_done"))
	Label("sum_loop")
	for i := 0; i < 4; i++ {
		VADDPS(Mem{Base: x, Disp: 32 * i}, ymm(i), ymm(i))
	}
	ADDQ(U32(128), x)
	DECQ(n)
	JNZ(LabelRef("sum_loop"))
	Label("sum_done")
	reduceStore(Y0, Y1, Y2, Y3, "ret")

	// maxAVX2: max x[i] over n (multiple of 32, ≥ 32).
	TEXT("maxAVX2", NOSPLIT, "func(x *float32, n int) float32")
	Doc("maxAVX2 returns max x[i] for n a positive multiple of 32 (NaNs are skipped or kept as VMAXPS does).")
	Load(Param("x"), x)
	Load(Param("n"), n)
	for i := 0; i < 4; i++ {
		VMOVUPS(Mem{Base: x, Disp: 32 * i}, ymm(i))
	}
	ADDQ(U32(128), x)
	SHRQ(U8(5), n)
	DECQ(n)
	JZ(LabelRef("max_done"))
	Label("max_loop")
	for i := 0; i < 4; i++ {
		VMAXPS(Mem{Base: x, Disp: 32 * i}, ymm(i), ymm(i))
	}
	ADDQ(U32(128), x)
	DECQ(n)
	JNZ(LabelRef("max_loop"))
	Label("max_done")
	VMAXPS(Y1, Y0, Y0)
	VMAXPS(Y3, Y2, Y2)
	VMAXPS(Y2, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	VMAXPS(X1, X0, X0)
	VPERMILPS(U8(0x4e), X0, X1)
	VMAXPS(X1, X0, X0)
	VPERMILPS(U8(0xb1), X0, X1)
	VMAXPS(X1, X0, X0)
	VZEROUPPER()
	Store(X0, ReturnIndex(0))
	RET()

	// axpyAVX2: y += alpha*x over n (multiple of 32).
	TEXT("axpyAVX2", NOSPLIT, "func(alpha float32, x, y *float32, n int)")
	Doc("axpyAVX2 does y[i] += alpha·x[i] for n a multiple of 32.")
	Load(Param("x"), x)
	Load(Param("y"), y)
	Load(Param("n"), n)
	VBROADCASTSS(NewParamAddr("alpha", 0), Y8)
	SHRQ(U8(5), n)
	JZ(LabelRef("axpy_done"))
	Label("axpy_loop")
	for i := 0; i < 4; i++ {
		VMOVUPS(Mem{Base: y, Disp: 32 * i}, ymm(i))
		VFMADD231PS(Mem{Base: x, Disp: 32 * i}, Y8, ymm(i))
		VMOVUPS(ymm(i), Mem{Base: y, Disp: 32 * i})
	}
	ADDQ(U32(128), x)
	ADDQ(U32(128), y)
	DECQ(n)
	JNZ(LabelRef("axpy_loop"))
	Label("axpy_done")
	VZEROUPPER()
	RET()

	// scaleAVX2: x *= alpha over n (multiple of 32).
	TEXT("scaleAVX2", NOSPLIT, "func(alpha float32, x *float32, n int)")
	Doc("scaleAVX2 does x[i] *= alpha for n a multiple of 32.")
	Load(Param("x"), x)
	Load(Param("n"), n)
	VBROADCASTSS(NewParamAddr("alpha", 0), Y8)
	SHRQ(U8(5), n)
	JZ(LabelRef("scale_done"))
	Label("scale_loop")
	for i := 0; i < 4; i++ {
		VMULPS(Mem{Base: x, Disp: 32 * i}, Y8, ymm(i))
		VMOVUPS(ymm(i), Mem{Base: x, Disp: 32 * i})
	}
	ADDQ(U32(128), x)
	DECQ(n)
	JNZ(LabelRef("scale_loop"))
	Label("scale_done")
	VZEROUPPER()
	RET()

	expKernel()
	tanhKernel()
	erfKernel()
	geluGradKernel()
}

// reduceStore adds the four ymm accumulators and stores the horizontal sum
// as the float32 result.
func reduceStore(a, b, c, d VecPhysical, ret string) {
	VADDPS(b, a, a)
	VADDPS(d, c, c)
	VADDPS(c, a, a)
	VEXTRACTF128(U8(1), Y0, X1)
	VADDPS(X1, X0, X0)
	VPERMILPS(U8(0x4e), X0, X1)
	VADDPS(X1, X0, X0)
	VPERMILPS(U8(0xb1), X0, X1)
	VADDPS(X1, X0, X0)
	VZEROUPPER()
	Store(X0, ReturnIndex(0))
	RET()
}

// Constants live in a read-only table, 8 copies each (a ymm operand).
var constTab Mem
var constIdx = map[string]int{}

func constant(name string, v float32) Mem {
	i, ok := constIdx[name]
	if !ok {
		panic("unknown constant " + name)
	}
	_ = v
	return constTab.Offset(32 * i)
}

func defConsts() {
	vals := []struct {
		name string
		f    float32
	}{
		{"one", 1}, {"half", 0.5}, {"log2e", 1.44269504088896341},
		{"expHi", 88.0}, {"expLo", -87.33654475}, {"ln2hi", 0.693359375}, {"ln2lo", -2.12194440e-4},
		{"p0", 1.9875691500e-4}, {"p1", 1.3981999507e-3}, {"p2", 8.3334519073e-3},
		{"p3", 4.1665795894e-2}, {"p4", 1.6666665459e-1}, {"p5", 5.0000001201e-1},
		// tanh(x) ≈ x·P(x²)/Q(x²) on [-7.9053, 7.9053] (Eigen's float tanh).
		{"thClamp", 7.90531110763549805},
		{"ta1", 4.89352455891786e-03}, {"ta3", 6.37261928875436e-04}, {"ta5", 1.48572235717979e-05},
		{"ta7", 5.12229709037114e-08}, {"ta9", -8.60467152213735e-11}, {"ta11", 2.00018790482477e-13},
		{"ta13", -2.76076847742355e-16},
		{"tb0", 4.89352518554385e-03}, {"tb2", 2.26843463243900e-03}, {"tb4", 1.18534705686654e-04},
		{"tb6", 1.19825839466702e-06},
		// erf(x) ≈ x·P(x²)/Q(x²) on [-4, 4] (Eigen's float erf).
		{"erfClamp", 4},
		{"ea1", -1.60960333262415e-02}, {"ea3", -2.95459980854025e-03}, {"ea5", -7.34990630326855e-04},
		{"ea7", -5.69250639462346e-05}, {"ea9", -2.10102402082508e-06}, {"ea11", 2.77068142495902e-08},
		{"ea13", -2.72614225801306e-10},
		{"eb0", -1.42647390514189e-02}, {"eb2", -7.37332916720468e-03}, {"eb4", -1.68282697438203e-03},
		{"eb6", -2.13374055278905e-04}, {"eb8", -1.45660718464996e-05},
		{"rsqrt2", 0.70710678118654752},
		{"mhalf", -0.5}, {"rsqrt2pi", 0.39894228040143268},
	}
	constTab = GLOBL("vecconst", RODATA|NOPTR)
	for i, c := range vals {
		constIdx[c.name] = i
		for l := 0; l < 8; l++ { // 8 copies: usable as a ymm memory operand
			DATA(32*i+4*l, U32(math.Float32bits(c.f))) // bits: avo prints 1.0 as the integer $(1)
		}
	}
}

func bc(name string, r VecPhysical) { VMOVUPS(constant(name, 0), r) }

// mapLoop emits the loop of an element-wise map over n (multiple of 8):
// load src into Y0, body computes the result into Y0, store to dst.
func mapLoop(name string, body func()) {
	dst, src, n := RDI, RSI, RCX
	Load(Param("dst"), dst)
	Load(Param("src"), src)
	Load(Param("n"), n)
	SHRQ(U8(3), n)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	VMOVUPS(Mem{Base: src}, Y0)
	body()
	VMOVUPS(Y0, Mem{Base: dst})
	ADDQ(U32(32), src)
	ADDQ(U32(32), dst)
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
}

// expY0 replaces Y0 by exp(Y0) (Cephes expf: range reduction by ln 2 in two
// parts and a degree-5 polynomial; ~1 ulp). Inputs above 88 saturate at
// exp(88); inputs below -87.3365 (where the result leaves the normal range)
// give 0. Uses Y1-Y4.
func expY0() {
	bc("expLo", Y4)
	VCMPPS(U8(0x1d), Y4, Y0, Y3) // Y3 = Y0 >= lo (ordered, quiet)
	VMAXPS(Y4, Y0, Y0)
	bc("expHi", Y4)
	VMINPS(Y4, Y0, Y0)
	bc("log2e", Y1)
	bc("half", Y2)
	VFMADD213PS(Y2, Y0, Y1) // Y1 = x*log2e + 0.5
	VROUNDPS(U8(1), Y1, Y1) // floor
	bc("ln2hi", Y2)
	VFNMADD231PS(Y2, Y1, Y0) // x -= n*ln2hi
	bc("ln2lo", Y2)
	VFNMADD231PS(Y2, Y1, Y0) // x -= n*ln2lo
	VMULPS(Y0, Y0, Y4)       // z = x²
	bc("p0", Y2)
	for _, p := range []string{"p1", "p2", "p3", "p4", "p5"} {
		VFMADD213PS(constant(p, 0), Y0, Y2) // y = y*x + p
	}
	VFMADD213PS(Y0, Y4, Y2) // y = y*z + x
	VADDPS(constant("one", 0), Y2, Y2)
	VCVTTPS2DQ(Y1, Y1)
	VPSLLD(U8(23), Y1, Y1)
	VPADDD(constant("one", 0), Y1, Y1) // + bits of 1.0 = 127<<23
	VMULPS(Y1, Y2, Y0)
	VANDPS(Y3, Y0, Y0)
}

func expKernel() {
	TEXT("expAVX2", NOSPLIT, "func(dst, src *float32, n int, sub float32) float32")
	Doc("expAVX2 sets dst[i] = exp(src[i]-sub) for n a multiple of 8 and returns Σ dst[i].")
	VBROADCASTSS(NewParamAddr("sub", 24), Y5)
	VXORPS(Y6, Y6, Y6)
	mapLoop("exp", func() {
		VSUBPS(Y5, Y0, Y0)
		expY0()
		VADDPS(Y0, Y6, Y6)
	})
	VEXTRACTF128(U8(1), Y6, X1)
	VADDPS(X1, X6, X0)
	VPERMILPS(U8(0x4e), X0, X1)
	VADDPS(X1, X0, X0)
	VPERMILPS(U8(0xb1), X0, X1)
	VADDPS(X1, X0, X0)
	VZEROUPPER()
	Store(X0, ReturnIndex(0))
	RET()
}

// ratPoly sets Y0 = x·P(x²)/Q(x²) with x = Y0 clamped to ±clamp. Uses Y1-Y4.
func ratPoly(clamp string, ps, qs []string) {
	bc(clamp, Y1)
	VMINPS(Y1, Y0, Y0)
	VXORPS(Y2, Y2, Y2)
	VSUBPS(Y1, Y2, Y1)
	VMAXPS(Y1, Y0, Y0)
	VMULPS(Y0, Y0, Y1) // x²
	bc(ps[len(ps)-1], Y2)
	for i := len(ps) - 2; i >= 0; i-- {
		VFMADD213PS(constant(ps[i], 0), Y1, Y2)
	}
	VMULPS(Y0, Y2, Y2) // x·P
	bc(qs[len(qs)-1], Y3)
	for i := len(qs) - 2; i >= 0; i-- {
		VFMADD213PS(constant(qs[i], 0), Y1, Y3)
	}
	VDIVPS(Y3, Y2, Y0)
}

func tanhKernel() {
	TEXT("tanhAVX2", NOSPLIT, "func(dst, src *float32, n int)")
	Doc("tanhAVX2 sets dst[i] = tanh(src[i]) for n a multiple of 8.")
	mapLoop("tanh", func() {
		ratPoly("thClamp", []string{"ta1", "ta3", "ta5", "ta7", "ta9", "ta11", "ta13"}, []string{"tb0", "tb2", "tb4", "tb6"})
	})
	VZEROUPPER()
	RET()
}

func erfKernel() {
	TEXT("geluErfAVX2", NOSPLIT, "func(dst, src *float32, n int)")
	Doc("geluErfAVX2 sets dst[i] = x/2·(1+erf(x/√2)), x = src[i], for n a multiple of 8.")
	mapLoop("gelu", func() {
		VMOVAPS(Y0, Y5)
		VMULPS(constant("rsqrt2", 0), Y0, Y0)
		ratPoly("erfClamp", []string{"ea1", "ea3", "ea5", "ea7", "ea9", "ea11", "ea13"}, []string{"eb0", "eb2", "eb4", "eb6", "eb8"})
		VADDPS(constant("one", 0), Y0, Y0)
		VMULPS(constant("half", 0), Y5, Y5)
		VMULPS(Y5, Y0, Y0)
	})
	VZEROUPPER()
	RET()
}

// geluGradKernel writes dx[i] += dy[i]·GELU'(x[i]) with
// GELU'(x) = Φ(x) + x·φ(x) = (1+erf(x/√2))/2 + x·exp(-x²/2)/√(2π).
func geluGradKernel() {
	TEXT("geluErfBackwardAVX2", NOSPLIT, "func(dx, x, dy *float32, n int)")
	Doc("geluErfBackwardAVX2 does dx[i] += dy[i]·GELU'(x[i]) for n a multiple of 8.")
	dx, x, dy, n := RDI, RSI, RDX, RCX
	Load(Param("dx"), dx)
	Load(Param("x"), x)
	Load(Param("dy"), dy)
	Load(Param("n"), n)
	SHRQ(U8(3), n)
	JZ(LabelRef("geluback_done"))
	Label("geluback_loop")
	VMOVUPS(Mem{Base: x}, Y5)
	VMULPS(constant("rsqrt2", 0), Y5, Y0)
	ratPoly("erfClamp", []string{"ea1", "ea3", "ea5", "ea7", "ea9", "ea11", "ea13"}, []string{"eb0", "eb2", "eb4", "eb6", "eb8"})
	VADDPS(constant("one", 0), Y0, Y0)
	VMULPS(constant("half", 0), Y0, Y6) // Φ(x)
	VMULPS(Y5, Y5, Y0)
	VMULPS(constant("mhalf", 0), Y0, Y0)
	expY0()                                 // exp(-x²/2)
	VMULPS(constant("rsqrt2pi", 0), Y0, Y0) // φ(x)
	VFMADD231PS(Y5, Y0, Y6)                 // Φ + x·φ
	VMOVUPS(Mem{Base: dx}, Y7)
	VFMADD231PS(Mem{Base: dy}, Y6, Y7)
	VMOVUPS(Y7, Mem{Base: dx})
	ADDQ(U32(32), x)
	ADDQ(U32(32), dx)
	ADDQ(U32(32), dy)
	DECQ(n)
	JNZ(LabelRef("geluback_loop"))
	Label("geluback_done")
	VZEROUPPER()
	RET()
}

// adamwKernel writes adamwAVX2: one AdamW step over n (multiple of 8)
// parameters with the coefficients c = [β1, 1−β1, β2, 1−β2, √(1−β2ᵗ), eps,
// 1 − lr·wd, lr/(1−β1ᵗ)], operation by operation as kernels.adamwGo does
// (no fused multiply-adds; IEEE square root and division), so both give
// the same bits:
//
//	m = β1·m + (1−β1)·g;  v = β2·v + ((1−β2)·g)·g
//	p = p·(1 − lr·wd) − (lr/(1−β1ᵗ)·m) / (√v/√(1−β2ᵗ) + eps)
func adamwKernel() {
	TEXT("adamwAVX2", NOSPLIT, "func(p, grad, m, v *float32, n int, c *[8]float32)")
	Doc("adamwAVX2 applies one AdamW step to n (a multiple of 8) parameters; see _gen/main.go.")
	p, g, m, v, n, c := RDI, RSI, RDX, R8, RCX, RAX
	Load(Param("p"), p)
	Load(Param("grad"), g) // "g" is a register name in Go assembly
	Load(Param("m"), m)
	Load(Param("v"), v)
	Load(Param("n"), n)
	Load(Param("c"), c)
	for k := 0; k < 8; k++ {
		VBROADCASTSS(Mem{Base: c, Disp: 4 * k}, ymm(8+k))
	}
	b1, omb1, b2, omb2, sqrtBC2, eps, decay, step := ymm(8), ymm(9), ymm(10), ymm(11), ymm(12), ymm(13), ymm(14), ymm(15)
	SHRQ(U8(3), n)
	JZ(LabelRef("adamw_done"))
	Label("adamw_loop")
	VMOVUPS(Mem{Base: g}, Y0)
	VMULPS(Mem{Base: m}, b1, Y1) // β1·m
	VMULPS(Y0, omb1, Y2)         // (1−β1)·g
	VADDPS(Y2, Y1, Y1)           // m
	VMOVUPS(Y1, Mem{Base: m})
	VMULPS(Y0, omb2, Y3) // (1−β2)·g
	VMULPS(Y0, Y3, Y3)   // ·g
	VMULPS(Mem{Base: v}, b2, Y4)
	VADDPS(Y3, Y4, Y4) // v
	VMOVUPS(Y4, Mem{Base: v})
	VSQRTPS(Y4, Y5)
	VDIVPS(sqrtBC2, Y5, Y5) // √v / √(1−β2ᵗ)
	VADDPS(eps, Y5, Y5)     // denominator
	VMULPS(Y1, step, Y6)    // lr/(1−β1ᵗ)·m
	VDIVPS(Y5, Y6, Y6)
	VMULPS(Mem{Base: p}, decay, Y7)
	VSUBPS(Y6, Y7, Y7)
	VMOVUPS(Y7, Mem{Base: p})
	for _, r := range []GPPhysical{p, g, m, v} {
		ADDQ(U32(32), r)
	}
	DECQ(n)
	JNZ(LabelRef("adamw_loop"))
	Label("adamw_done")
	VZEROUPPER()
	RET()
}
