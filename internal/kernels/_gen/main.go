// Command gen writes the amd64 assembly of package kernels with avo:
//
//	go run ./internal/kernels/internal/gen -out internal/kernels/kernels_amd64.s -stubs internal/kernels/kernels_amd64.go -pkg kernels
//
// (run by `go generate ./internal/kernels`). The generated files are
// committed, so building the package needs nothing but the Go toolchain.
package main

import (
	"fmt"

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
		gemmAVX512(mr)
	}
	for mr := 1; mr <= mr256; mr++ {
		gemmAVX2(mr)
	}
	packAAVX512()
	vectorKernels()
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
func gemmAVX512(mr int) {
	TEXT(fmt.Sprintf("sgemmAVX512x%d", mr), NOSPLIT, kernelSig)
	Doc(fmt.Sprintf("sgemmAVX512x%d is the AVX-512 SGEMM micro-kernel for a %d×32 tile (see gen/main.go).", mr, mr))
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
	step := func() {
		VMOVUPS_Z(Mem{Base: b}, K1, b0)
		VMOVUPS_Z(Mem{Base: b, Disp: 64}, K2, b1)
		ADDQ(bs, b)
		for i := 0; i < mr; i++ {
			r := bc[i%2]
			VBROADCASTSS(Mem{Base: a, Disp: 4 * i}, r)
			VFMADD231PS(b0, r, acc(i, 0))
			VFMADD231PS(b1, r, acc(i, 1))
		}
		ADDQ(as, a)
	}
	kernelLoops(kc, step)

	Label(fmt.Sprintf("store512x%d", mr))
	VBROADCASTSS(NewParamAddr("alpha", 56), b0)
	MOVL(NewParamAddr("beta", 60), R9L)
	ANDL(U32(0x7fffffff), R9L)
	JZ(LabelRef(fmt.Sprintf("beta0_512x%d", mr)))
	VBROADCASTSS(NewParamAddr("beta", 60), b1)
	for i := 0; i < mr; i++ {
		VMOVUPS_Z(Mem{Base: c}, K1, Z30)
		VMOVUPS_Z(Mem{Base: c, Disp: 64}, K2, Z31)
		VMULPS(b1, Z30, Z30)
		VMULPS(b1, Z31, Z31)
		VFMADD231PS(b0, acc(i, 0), Z30)
		VFMADD231PS(b0, acc(i, 1), Z31)
		VMOVUPS(Z30, K1, Mem{Base: c})
		VMOVUPS(Z31, K2, Mem{Base: c, Disp: 64})
		if i < mr-1 {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
	Label(fmt.Sprintf("beta0_512x%d", mr))
	for i := 0; i < mr; i++ {
		VMULPS(b0, acc(i, 0), acc(i, 0))
		VMULPS(b0, acc(i, 1), acc(i, 1))
		VMOVUPS(acc(i, 0), K1, Mem{Base: c})
		VMOVUPS(acc(i, 1), K2, Mem{Base: c, Disp: 64})
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
	Doc(fmt.Sprintf("sgemmAVX2x%d is the AVX2 SGEMM micro-kernel for a %d×16 tile (see gen/main.go).", mr, mr))
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
	step := func() {
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
	kernelLoops(kc, step)

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

// kernelLoops runs step kc times (kc in RDX), unrolled by 4.
func kernelLoops(kc GPPhysical, step func()) {
	loopID++
	l4 := fmt.Sprintf("k4_%d", loopID)
	l1 := fmt.Sprintf("k1_%d", loopID)
	done := fmt.Sprintf("kdone_%d", loopID)
	CMPQ(kc, U8(4))
	JL(LabelRef(l1 + "pre"))
	Label(l4)
	for u := 0; u < 4; u++ {
		step()
	}
	SUBQ(U8(4), kc)
	CMPQ(kc, U8(4))
	JGE(LabelRef(l4))
	Label(l1 + "pre")
	TESTQ(kc, kc)
	JZ(LabelRef(done))
	Label(l1)
	step()
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
	// Stages 3-4: 4×4 transpose of 128-bit lanes across the groups.
	for q := 0; q < 4; q++ {
		a, b, c, d := Z16, Z17, Z18, Z19
		VSHUFF32X4(U8(0x44), zmm(4+q), zmm(q), a)
		VSHUFF32X4(U8(0x44), zmm(12+q), zmm(8+q), b)
		VSHUFF32X4(U8(0xEE), zmm(4+q), zmm(q), c)
		VSHUFF32X4(U8(0xEE), zmm(12+q), zmm(8+q), d)
		outs := []struct {
			x, y VecPhysical
			imm  uint8
			p    int
		}{{a, b, 0x88, q}, {a, b, 0xDD, q + 4}, {c, d, 0x88, q + 8}, {c, d, 0xDD, q + 12}}
		for k, o := range outs {
			r := zmm(20 + k)
			VSHUFF32X4(U8(o.imm), o.y, o.x, r)
			if rows == 16 {
				VMOVUPS(r, Mem{Base: dst, Disp: 4 * w * o.p})
			} else {
				VMOVUPS(r, K1, Mem{Base: dst, Disp: 4 * w * o.p})
			}
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

// vectorKernels is filled in below.
func vectorKernels() {}
