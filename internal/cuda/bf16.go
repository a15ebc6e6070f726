package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// Native bf16 GEMMs (precision "bf16-native", experimental): both operands
// are rounded to bf16 copies on the device by a small NVRTC kernel, then
// multiplied by cublasGemmEx with bf16 inputs, fp32 output and fp32
// accumulation (CUBLAS_COMPUTE_32F). Unlike "bf16" (COMPUTE_32F_FAST_16BF on
// fp32 inputs, which cuBLAS ran like tf32 on an H100), this forces bf16
// tensor-core arithmetic. Not yet run on a GPU: gpucheck compares it with
// the CPU engine and PyTorch before it may become the --precision bf16 path.

const (
	cudaR16BF        = 14 // cudaDataType CUDA_R_16BF
	cublasCompute32F = 68 // cublasComputeType_t CUBLAS_COMPUTE_32F
)

// bf16Source rounds float32 to bf16 (round to nearest even; NaN stays NaN).
const bf16Source = `
extern "C" __global__ void f32_to_bf16(unsigned short* out, const float* in, long long n) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		unsigned int b = __float_as_uint(in[i]);
		if ((b & 0x7fffffffu) > 0x7f800000u) {
			out[i] = (unsigned short)((b >> 16) | 0x40u);
		} else {
			b += 0x7fffu + ((b >> 16) & 1u);
			out[i] = (unsigned short)(b >> 16);
		}
	}
}
`

// BF16Bits is the host twin of f32_to_bf16.
func BF16Bits(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// span is the number of elements from a row-major matrix's first to its
// last element: rows × cols stored with leading dimension ld.
func span(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// operandSpans gives the element spans of A and B of a row-major
// C[M×N] = op(A)[M×K]·op(B)[K×N] (batched: batch items stride apart).
func operandSpans(tA, tB bool, M, N, K, lda, ldb, strideA, strideB, batch int) (int, int) {
	ra, ca := M, K
	if tA {
		ra, ca = K, M
	}
	rb, cb := K, N
	if tB {
		rb, cb = N, K
	}
	sa, sb := span(ra, ca, lda), span(rb, cb, ldb)
	if batch > 1 {
		sa += (batch - 1) * strideA
		sb += (batch - 1) * strideB
	}
	return sa, sb
}

// toBF16 converts n float32 values at src into the scratch buffer *dst
// (grown as needed) and returns its address.
func (d *Device) toBF16(dst **Buffer, src DevPtr, n int) (DevPtr, error) {
	if d.cvt == nil {
		m, err := d.Compile("adarank_bf16.cu", bf16Source)
		if err != nil {
			return 0, err
		}
		if d.cvt, err = m.Func("f32_to_bf16"); err != nil {
			return 0, err
		}
	}
	if *dst == nil || (*dst).Bytes < 2*n {
		if *dst != nil {
			(*dst).Free()
		}
		b, err := d.Alloc("bf16 copy of a GEMM operand", max(2*n, 1<<20))
		if err != nil {
			return 0, err
		}
		*dst = b
	}
	grid := Dim3{X: max(1, min(8192, (n+255)/256))}
	if err := d.Launch(d.cvt, grid, Dim3{X: 256}, 0, (*dst).Ptr, src, int64(n)); err != nil {
		return 0, err
	}
	return (*dst).Ptr, nil
}

// gemmNativeBF16 is the bf16-native branch of Gemm and GemmStridedBatched.
func (d *Device) gemmNativeBF16(tA, tB bool, M, N, K int, alpha float32, A DevPtr, lda, strideA int, B DevPtr, ldb, strideB int,
	beta float32, C DevPtr, ldc, strideC, batch int) error {
	sa, sb := operandSpans(tA, tB, M, N, K, lda, ldb, strideA, strideB, batch)
	a16, err := d.toBF16(&d.bfA, A, sa)
	if err != nil {
		return err
	}
	b16, err := d.toBF16(&d.bfB, B, sb)
	if err != nil {
		return err
	}
	// bf16 element offsets equal float32 ones; DevPtr.Add counts 4 bytes, so
	// the strides below are plain element counts handed to cuBLAS.
	g := RowMajorGemmStrided(tA, tB, M, N, K, a16, lda, strideA, b16, ldb, strideB, C, ldc, strideC)
	d.alpha, d.beta = alpha, beta
	var r int32
	if batch <= 1 {
		r = call(d.l.blas.cublasGemmEx, d.blas, op(g.TransA), op(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
			uintptr(unsafe.Pointer(&d.alpha)), uintptr(g.A), cudaR16BF, uintptr(g.LDA), uintptr(g.B), cudaR16BF, uintptr(g.LDB),
			uintptr(unsafe.Pointer(&d.beta)), uintptr(g.C), cudaR32F, uintptr(g.LDC), cublasCompute32F, gemmDefault())
	} else {
		r = call(d.l.blas.cublasGemmStridedBatchedEx, d.blas, op(g.TransA), op(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
			uintptr(unsafe.Pointer(&d.alpha)), uintptr(g.A), cudaR16BF, uintptr(g.LDA), uintptr(g.StrideA), uintptr(g.B), cudaR16BF, uintptr(g.LDB), uintptr(g.StrideB),
			uintptr(unsafe.Pointer(&d.beta)), uintptr(g.C), cudaR32F, uintptr(g.LDC), uintptr(g.StrideC), uintptr(batch),
			cublasCompute32F, gemmDefault())
	}
	if err := blasErr("cublasGemmEx (bf16)", r); err != nil {
		return fmt.Errorf("cuda: bf16 gemm %d×(%d×%d×%d): %w", max(batch, 1), M, N, K, err)
	}
	return d.afterBlas("bf16 gemm")
}
