//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// Implementations available on this CPU, best first.
var (
	avx512Impl = &gemmImpl{name: "avx512", mr: 14, nr: 32, nb: 480, kernel: kernelAVX512, kernelRowA: kernelAVX512Row, maskedN: true}
	avx2Impl   = &gemmImpl{name: "avx2", mr: 6, nr: 16, nb: 480, kernel: kernelAVX2}
)

var hasAVX512 = cpu.X86.HasAVX512F
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useImpl is the implementation Gemm uses; tests switch it.
var useImpl = bestImpl()

func bestImpl() *gemmImpl {
	switch {
	case hasAVX512:
		return avx512Impl
	case hasAVX2:
		return avx2Impl
	}
	return genericImpl
}

func activeImpl() *gemmImpl { return useImpl }

// availableImpls lists the implementations this CPU can run (for tests).
func availableImpls() []*gemmImpl {
	var l []*gemmImpl
	if hasAVX512 {
		l = append(l, avx512Impl)
	}
	if hasAVX2 {
		l = append(l, avx2Impl)
	}
	return append(l, genericImpl)
}

type asmKernel func(kc int, a *float32, as int, b *float32, bs int, c *float32, ldc int, alpha, beta float32, mask uint32)

// AVX-512 kernels by rows: [masked][rows], full width (cols == 32) or masked.
var kern512 = [2][15]asmKernel{
	{nil, sgemmAVX512x1, sgemmAVX512x2, sgemmAVX512x3, sgemmAVX512x4, sgemmAVX512x5, sgemmAVX512x6, sgemmAVX512x7, sgemmAVX512x8, sgemmAVX512x9, sgemmAVX512x10, sgemmAVX512x11, sgemmAVX512x12, sgemmAVX512x13, sgemmAVX512x14},
	{nil, sgemmAVX512x1m, sgemmAVX512x2m, sgemmAVX512x3m, sgemmAVX512x4m, sgemmAVX512x5m, sgemmAVX512x6m, sgemmAVX512x7m, sgemmAVX512x8m, sgemmAVX512x9m, sgemmAVX512x10m, sgemmAVX512x11m, sgemmAVX512x12m, sgemmAVX512x13m, sgemmAVX512x14m},
}

var kern256 = [...]asmKernel{nil, sgemmAVX2x1, sgemmAVX2x2, sgemmAVX2x3, sgemmAVX2x4, sgemmAVX2x5, sgemmAVX2x6}

func kernelAVX512(rows, cols, kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
	// Bounds of everything the kernel touches (it reads only cols columns).
	_ = a[(kc-1)*as+rows-1]
	_ = b[(kc-1)*bs+cols-1]
	_ = c[(rows-1)*ldc+cols-1]
	kern512[b2i(cols < 32)][rows](kc, &a[0], as, &b[0], bs, &c[0], ldc, alpha, beta, uint32(uint64(1)<<cols-1))
}

var kern512r = [2][15]asmKernel{
	{nil, sgemmAVX512r1, sgemmAVX512r2, sgemmAVX512r3, sgemmAVX512r4, sgemmAVX512r5, sgemmAVX512r6, sgemmAVX512r7, sgemmAVX512r8, sgemmAVX512r9, sgemmAVX512r10, sgemmAVX512r11, sgemmAVX512r12, sgemmAVX512r13, sgemmAVX512r14},
	{nil, sgemmAVX512r1m, sgemmAVX512r2m, sgemmAVX512r3m, sgemmAVX512r4m, sgemmAVX512r5m, sgemmAVX512r6m, sgemmAVX512r7m, sgemmAVX512r8m, sgemmAVX512r9m, sgemmAVX512r10m, sgemmAVX512r11m, sgemmAVX512r12m, sgemmAVX512r13m, sgemmAVX512r14m},
}

// kernelAVX512Row reads A row-major in place: A(i,p) = a[i*as+p].
func kernelAVX512Row(rows, cols, kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
	_ = a[(rows-1)*as+kc-1]
	_ = b[(kc-1)*bs+cols-1]
	_ = c[(rows-1)*ldc+cols-1]
	kern512r[b2i(cols < 32)][rows](kc, &a[0], as, &b[0], bs, &c[0], ldc, alpha, beta, uint32(uint64(1)<<cols-1))
}

func kernelAVX2(rows, cols, kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
	_ = a[(kc-1)*as+rows-1]
	_ = b[(kc-1)*bs+15]
	_ = c[(rows-1)*ldc+15]
	kern256[rows](kc, &a[0], as, &b[0], bs, &c[0], ldc, alpha, beta, 0)
}

func init() {
	if hasAVX512 {
		packATransposeAsm = packTransposeAVX512
		packBTransposeAsm = packTransposeAVX512
	}
}

// packTransposeAVX512 does dst[p*w+i] = src[i*ld+p] for i < w, p < kc, for
// the AVX-512 tile widths (w = 14 for A, 32 for B); false for other widths.
func packTransposeAVX512(dst, src []float32, ld, kc, w int) bool {
	if w != 14 && w != 32 {
		return false
	}
	_ = dst[kc*w-1]
	_ = src[(w-1)*ld+kc-1]
	full := kc / 16 * 16
	if full > 0 {
		if w == 14 {
			packT14AVX512(&dst[0], &src[0], ld, kc/16)
		} else {
			packT16AVX512(&dst[0], &src[0], ld, kc/16)
			packT16AVX512(&dst[16], &src[16*ld], ld, kc/16)
		}
	}
	for i := 0; i < w; i++ {
		row := src[i*ld : i*ld+kc]
		for p := full; p < kc; p++ {
			dst[p*w+i] = row[p]
		}
	}
	return true
}

func init() {
	if hasAVX2 {
		dotAsm, sumAsm, maxAsm = dotAVX2, sumAVX2, maxAVX2
		axpyAsm, scaleAsm = axpyAVX2, scaleAVX2
		expAsm, tanhAsm, geluErfAsm = expAVX2, tanhAVX2, geluErfAVX2
		geluBwdAsm = geluErfBackwardAVX2
		adamwAsm = adamwAVX2
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
