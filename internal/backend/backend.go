// Package backend defines what the device engine (internal/gpu: the encoder
// forward, the AdaRank sweep, LoRA and masked-LM training) calls on the
// machine it runs on: memory (named allocations, uploads, downloads, copies,
// fills, page-locked staging), matmul (row-major GEMM with transposes, and
// strided-batched GEMM for attention, in the precision the backend is set
// to), and every other op — element-wise and fused kernels, reductions,
// Philox noise — as a kernel of the engine's CUDA C sources, compiled once and
// launched with arguments checked against the kernel's signature.
//
// Two implementations: *cuda.Device (NVIDIA GPUs through the driver API,
// NVRTC and cuBLAS, opened at run time) and *host.Device (the CPU: every
// kernel has a Go twin), which CI uses to check the engine against the CPU
// engine in internal/model on machines without a GPU.
package backend

import "github.com/adarank/adarank/internal/cuda"

// Backend is the machine the device engine runs on. Methods bind the calling
// goroutine to the backend's thread where that matters (CUDA contexts are
// per thread); one Backend must not be used from two goroutines at once.
type Backend interface {
	// Bind locks the calling goroutine to the backend's thread and returns
	// the release; calls nest.
	Bind() func()
	// Precision is the GEMM precision: fp32, tf32, bf16 or bf16-native.
	// The engine picks kernels by it (the fused tf32 attention).
	Precision() string
	// Sync waits for all queued work.
	Sync() error

	// Memory. Buffers carry a name, which out-of-memory errors report.
	AllocF32(name string, n int) (*cuda.Buffer, error)
	Upload(dst cuda.DevPtr, src []float32) error
	UploadI32(dst cuda.DevPtr, src []int32) error
	Download(dst []float32, src cuda.DevPtr) error
	DownloadF64(dst []float64, src cuda.DevPtr) error
	Copy(dst, src cuda.DevPtr, n int) error
	Fill32(dst cuda.DevPtr, v uint32, n int) error
	// AllocHost, UploadAsync and Fence stage uploads through page-locked
	// host memory without waiting: a staging buffer may be refilled once
	// the wait of a Fence queued after its upload has returned.
	AllocHost(name string, n int) (*cuda.HostBuffer, error)
	UploadAsync(dst cuda.DevPtr, h *cuda.HostBuffer, off, n int) error
	Fence() (wait func() error, err error)

	// Matmul, row-major: C = alpha·op(A)·op(B) + beta·C (beta 0: C is not
	// read), and the same for batch items stride floats apart.
	Gemm(tA, tB bool, M, N, K int, alpha float32, A cuda.DevPtr, lda int, B cuda.DevPtr, ldb int, beta float32, C cuda.DevPtr, ldc int) error
	GemmStridedBatched(tA, tB bool, M, N, K int, alpha float32, A cuda.DevPtr, lda, strideA int, B cuda.DevPtr, ldb, strideB int,
		beta float32, C cuda.DevPtr, ldc, strideC, batch int) error

	// Kernels: element-wise and fused ops, reductions and noise, from CUDA C
	// source (options as for NVRTC, e.g. -DNAME=value); Launch checks its
	// arguments against the kernel's signature.
	Compile(name, src string, opts ...string) (*cuda.Module, error)
	Launch(f *cuda.Function, grid, block cuda.Dim3, shmem int, args ...any) error
}

var _ Backend = (*cuda.Device)(nil)
