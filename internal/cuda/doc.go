// Package cuda is a minimal binding to the NVIDIA driver API (libcuda),
// NVRTC and cuBLAS, opened at run time with purego so that a CGO_ENABLED=0
// binary can use a GPU. No CUDA headers or toolkit are needed to build: the
// few functions used are declared here by hand.
//
// A CUDA context is current per OS thread. Every exported method of Device
// locks the calling goroutine to its thread and makes the device's context
// current for the duration of the call (Bind does the same for a longer
// stretch of work). A Device must not be used from two goroutines at once.
//
// Device pointers are DevPtr values; Buffer is a named allocation. Kernels
// are CUDA C source compiled by NVRTC for the device's compute capability and
// cached per source. Gemm and GemmStridedBatched are row-major wrappers over
// the column-major cuBLAS SGEMM calls.
package cuda
