package cuda

import (
	"fmt"
	"unsafe"
)

// cuBLAS constants.
const (
	cublasOpN            = 0
	cublasOpT            = 1
	cublasDefaultMath    = 0
	cublasTF32TensorMath = 3

	cudaR32F                 = 0  // cudaDataType CUDA_R_32F
	cublasCompute32FFast16BF = 75 // cublasComputeType_t CUBLAS_COMPUTE_32F_FAST_16BF
	cublasGemmDefault        = -1 // cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT
)

// ColGemm is one column-major cuBLAS SGEMM call:
// C[m×n] = alpha·op(A)[m×k]·op(B)[k×n] + beta·C, leading dimensions in elements.
type ColGemm struct {
	TransA, TransB bool
	M, N, K        int
	A, B, C        DevPtr
	LDA, LDB, LDC  int
	// Strides between batch items (strided-batched calls only).
	StrideA, StrideB, StrideC int
}

// RowMajorGemm maps the row-major product
//
//	C[M×N] = alpha·op(A)[M×K]·op(B)[K×N] + beta·C   (op = transpose when tA / tB)
//
// with row-major leading dimensions lda, ldb, ldc onto column-major cuBLAS:
// a row-major matrix is its transpose in column-major order, so cuBLAS
// computes Cᵀ = op(B)ᵀ·op(A)ᵀ, i.e. the operands swap places.
func RowMajorGemm(tA, tB bool, M, N, K int, A DevPtr, lda int, B DevPtr, ldb int, C DevPtr, ldc int) ColGemm {
	return ColGemm{TransA: tB, TransB: tA, M: N, N: M, K: K, A: B, LDA: ldb, B: A, LDB: lda, C: C, LDC: ldc}
}

// RowMajorGemmStrided is RowMajorGemm for strided-batched calls: the
// strides follow their operands when those swap places.
func RowMajorGemmStrided(tA, tB bool, M, N, K int, A DevPtr, lda, strideA int, B DevPtr, ldb, strideB int, C DevPtr, ldc, strideC int) ColGemm {
	g := RowMajorGemm(tA, tB, M, N, K, A, lda, B, ldb, C, ldc)
	g.StrideA, g.StrideB, g.StrideC = strideB, strideA, strideC
	return g
}

// checkRowMajor validates row-major GEMM sizes (cuBLAS would report only
// CUBLAS_STATUS_INVALID_VALUE).
func checkRowMajor(tA, tB bool, M, N, K, lda, ldb, ldc int) error {
	if M < 0 || N < 0 || K < 0 {
		return fmt.Errorf("cuda: gemm: negative size %d×%d×%d", M, N, K)
	}
	colsA, colsB := K, N
	if tA {
		colsA = M
	}
	if tB {
		colsB = K
	}
	if lda < max(1, colsA) || ldb < max(1, colsB) || ldc < max(1, N) {
		return fmt.Errorf("cuda: gemm %d×%d×%d (tA %v, tB %v): leading dimensions %d, %d, %d too small", M, N, K, tA, tB, lda, ldb, ldc)
	}
	const lim = 1<<31 - 1
	if M > lim || N > lim || K > lim || lda > lim || ldb > lim || ldc > lim {
		return fmt.Errorf("cuda: gemm size over 2^31")
	}
	return nil
}

func op(t bool) uintptr {
	if t {
		return cublasOpT
	}
	return cublasOpN
}

// SetTF32 selects TF32 tensor-core math for the SGEMMs (faster, about 1e-3
// relative error) or plain FP32 (the default).
func (d *Device) SetTF32(on bool) error {
	defer d.Bind()()
	mode := uintptr(cublasDefaultMath)
	if on {
		mode = cublasTF32TensorMath
	}
	if err := blasErr("cublasSetMathMode", call(d.l.blas.cublasSetMathMode, d.blas, mode)); err != nil {
		return err
	}
	d.tf32 = on
	return nil
}

// TF32 reports whether TF32 math is on.
func (d *Device) TF32() bool { return d.tf32 }

// Precisions are the GEMM precisions SetPrecision accepts.
var Precisions = []string{"fp32", "tf32", "bf16"}

// SetPrecision selects the GEMM precision: fp32 (exact SGEMM), tf32 (TF32
// tensor cores) or bf16: cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_16BF on
// fp32 buffers, which allows cuBLAS to down-convert to bf16. On an H100 with
// cuBLAS 13.1 it measured as fast and as accurate as tf32 (docs/cuda.md):
// bf16 storage and native bf16 GEMMs are not implemented. Buffers stay
// float32 in every mode.
func (d *Device) SetPrecision(p string) error {
	switch p {
	case "fp32", "":
		d.bf16, d.native16 = false, false
		return d.SetTF32(false)
	case "tf32":
		d.bf16, d.native16 = false, false
		return d.SetTF32(true)
	case "bf16", "bf16-native":
		if err := d.SetTF32(false); err != nil {
			return err
		}
		d.bf16, d.native16 = p == "bf16", p == "bf16-native"
		return nil
	}
	return fmt.Errorf("cuda: unknown precision %q (want fp32, tf32 or bf16)", p)
}

// Precision is the current GEMM precision.
func (d *Device) Precision() string {
	switch {
	case d.native16:
		return "bf16-native"
	case d.bf16:
		return "bf16"
	case d.tf32:
		return "tf32"
	}
	return "fp32"
}

// Gemm queues the row-major C[M×N] = alpha·op(A)·op(B) + beta·C.
func (d *Device) Gemm(tA, tB bool, M, N, K int, alpha float32, A DevPtr, lda int, B DevPtr, ldb int, beta float32, C DevPtr, ldc int) error {
	if err := checkRowMajor(tA, tB, M, N, K, lda, ldb, ldc); err != nil {
		return err
	}
	if M == 0 || N == 0 {
		return nil
	}
	g := RowMajorGemm(tA, tB, M, N, K, A, lda, B, ldb, C, ldc)
	defer d.Bind()()
	if d.native16 {
		return d.gemmNativeBF16(tA, tB, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1)
	}
	d.alpha, d.beta = alpha, beta
	if d.bf16 {
		r := call(d.l.blas.cublasGemmEx, d.blas, op(g.TransA), op(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
			uintptr(unsafe.Pointer(&d.alpha)), uintptr(g.A), cudaR32F, uintptr(g.LDA), uintptr(g.B), cudaR32F, uintptr(g.LDB),
			uintptr(unsafe.Pointer(&d.beta)), uintptr(g.C), cudaR32F, uintptr(g.LDC), cublasCompute32FFast16BF, gemmDefault())
		if err := blasErr("cublasGemmEx", r); err != nil {
			return fmt.Errorf("cuda: gemm %d×%d×%d: %w", M, N, K, err)
		}
		return d.afterBlas("gemm")
	}
	r := call(d.l.blas.cublasSgemm, d.blas, op(g.TransA), op(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
		uintptr(unsafe.Pointer(&d.alpha)), uintptr(g.A), uintptr(g.LDA), uintptr(g.B), uintptr(g.LDB),
		uintptr(unsafe.Pointer(&d.beta)), uintptr(g.C), uintptr(g.LDC))
	if err := blasErr("cublasSgemm", r); err != nil {
		return fmt.Errorf("cuda: gemm %d×%d×%d: %w", M, N, K, err)
	}
	return d.afterBlas("gemm")
}

// GemmStridedBatched queues batch row-major products; item i uses A+i·strideA,
// B+i·strideB and C+i·strideC (strides in elements).
func (d *Device) GemmStridedBatched(tA, tB bool, M, N, K int, alpha float32, A DevPtr, lda, strideA int, B DevPtr, ldb, strideB int,
	beta float32, C DevPtr, ldc, strideC, batch int) error {
	if err := checkRowMajor(tA, tB, M, N, K, lda, ldb, ldc); err != nil {
		return err
	}
	if M == 0 || N == 0 || batch == 0 {
		return nil
	}
	g := RowMajorGemmStrided(tA, tB, M, N, K, A, lda, strideA, B, ldb, strideB, C, ldc, strideC)
	defer d.Bind()()
	if d.native16 {
		return d.gemmNativeBF16(tA, tB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC, batch)
	}
	d.alpha, d.beta = alpha, beta
	if d.bf16 {
		r := call(d.l.blas.cublasGemmStridedBatchedEx, d.blas, op(g.TransA), op(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
			uintptr(unsafe.Pointer(&d.alpha)), uintptr(g.A), cudaR32F, uintptr(g.LDA), uintptr(g.StrideA), uintptr(g.B), cudaR32F, uintptr(g.LDB), uintptr(g.StrideB),
			uintptr(unsafe.Pointer(&d.beta)), uintptr(g.C), cudaR32F, uintptr(g.LDC), uintptr(g.StrideC), uintptr(batch),
			cublasCompute32FFast16BF, gemmDefault())
		if err := blasErr("cublasGemmStridedBatchedEx", r); err != nil {
			return fmt.Errorf("cuda: batched gemm %d×(%d×%d×%d): %w", batch, M, N, K, err)
		}
		return d.afterBlas("batched gemm")
	}
	r := call(d.l.blas.cublasSgemmStridedBatched, d.blas, op(g.TransA), op(g.TransB), uintptr(g.M), uintptr(g.N), uintptr(g.K),
		uintptr(unsafe.Pointer(&d.alpha)), uintptr(g.A), uintptr(g.LDA), uintptr(g.StrideA), uintptr(g.B), uintptr(g.LDB), uintptr(g.StrideB),
		uintptr(unsafe.Pointer(&d.beta)), uintptr(g.C), uintptr(g.LDC), uintptr(g.StrideC), uintptr(batch))
	if err := blasErr("cublasSgemmStridedBatched", r); err != nil {
		return fmt.Errorf("cuda: batched gemm %d×(%d×%d×%d): %w", batch, M, N, K, err)
	}
	return d.afterBlas("batched gemm")
}

func (d *Device) afterBlas(what string) error {
	if !d.debugSync {
		return nil
	}
	if err := d.l.drvErr("cuCtxSynchronize", call(d.l.drv.cuCtxSynchronize)); err != nil {
		return fmt.Errorf("cuda: %s: %w", what, err)
	}
	return nil
}

// gemmDefault is CUBLAS_GEMM_DEFAULT (-1) as a C int argument.
func gemmDefault() uintptr {
	v := int32(cublasGemmDefault)
	return uintptr(uint32(v))
}
