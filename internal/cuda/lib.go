package cuda

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Candidate file names, most specific first. The driver library comes with
// the driver; NVRTC and cuBLAS with the CUDA toolkit or its redistributable
// packages. Each is first looked up by soname on the loader's default path.
var (
	cudaNames   = []string{"libcuda.so.1", "libcuda.so"}
	nvrtcNames  = []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"}
	cublasNames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so"}
	extraDirs   = []string{"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"}
)

// driverFns are the libcuda entry points used (addresses from dlsym).
type driverFns struct {
	cuInit, cuDriverGetVersion, cuDeviceGetCount, cuDeviceGet, cuDeviceGetName uintptr
	cuDeviceGetAttribute, cuDeviceTotalMem, cuDevicePrimaryCtxRetain           uintptr
	cuDevicePrimaryCtxRelease, cuCtxSetCurrent, cuCtxSynchronize               uintptr
	cuMemAlloc, cuMemFree, cuMemGetInfo, cuMemcpyHtoD, cuMemcpyDtoH            uintptr
	cuMemcpyDtoDAsync, cuMemsetD32Async, cuMemAllocHost, cuMemFreeHost         uintptr
	cuMemcpyHtoDAsync, cuModuleLoadData, cuModuleUnload, cuModuleGetFunction   uintptr
	cuLaunchKernel, cuGetErrorName, cuGetErrorString                           uintptr
	cuEventCreate, cuEventRecord, cuEventSynchronize, cuEventElapsedTime       uintptr
	cuEventDestroy, cuFuncSetAttribute                                         uintptr
}

type nvrtcFns struct {
	nvrtcVersion, nvrtcCreateProgram, nvrtcCompileProgram, nvrtcGetProgramLogSize uintptr
	nvrtcGetProgramLog, nvrtcGetCUBINSize, nvrtcGetCUBIN, nvrtcDestroyProgram     uintptr
}

type cublasFns struct {
	cublasCreate, cublasDestroy, cublasSetStream, cublasSetMathMode uintptr
	cublasSgemm, cublasSgemmStridedBatched, cublasGetVersion        uintptr
	cublasGemmEx, cublasGemmStridedBatchedEx                        uintptr
}

// libs holds the three opened libraries. They are opened once per process
// and never closed (the driver does not support unloading cleanly).
type libs struct {
	cudaPath, nvrtcPath, cublasPath string
	drv                             driverFns
	rtc                             nvrtcFns
	blas                            cublasFns
}

var (
	libsOnce sync.Once
	libsVal  *libs
	libsErr  error
)

func loadLibs() (*libs, error) {
	libsOnce.Do(func() { libsVal, libsErr = openLibs() })
	return libsVal, libsErr
}

// dlopenAny tries every name, then every name in the extra folders, and
// reports the first error if none opens.
func dlopenAny(what string, names []string) (uintptr, string, error) {
	var firstErr error
	try := func(p string) (uintptr, bool) {
		h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return 0, false
		}
		return h, true
	}
	for _, n := range names {
		if h, ok := try(n); ok {
			return h, n, nil
		}
	}
	for _, d := range extraDirs {
		for _, n := range names {
			p := filepath.Join(d, n)
			if h, ok := try(p); ok {
				return h, p, nil
			}
		}
	}
	return 0, "", fmt.Errorf("%s not found (tried %s): %v", what, strings.Join(names, ", "), firstErr)
}

// bind resolves symbols into the uintptr fields named by syms (field pointer -> symbol).
func bindSyms(h uintptr, lib string, syms map[*uintptr]string) error {
	for p, name := range syms {
		a, err := purego.Dlsym(h, name)
		if err != nil || a == 0 {
			return fmt.Errorf("%s lacks %s (too old a version?)", lib, name)
		}
		*p = a
	}
	return nil
}

func openLibs() (*libs, error) {
	l := &libs{}
	h, p, err := dlopenAny("the NVIDIA driver library (libcuda)", cudaNames)
	if err != nil {
		return nil, fmt.Errorf("no usable NVIDIA driver: %w", err)
	}
	l.cudaPath = p
	d := &l.drv
	if err := bindSyms(h, p, map[*uintptr]string{
		&d.cuInit: "cuInit", &d.cuDriverGetVersion: "cuDriverGetVersion", &d.cuDeviceGetCount: "cuDeviceGetCount",
		&d.cuDeviceGet: "cuDeviceGet", &d.cuDeviceGetName: "cuDeviceGetName", &d.cuDeviceGetAttribute: "cuDeviceGetAttribute",
		&d.cuDeviceTotalMem: "cuDeviceTotalMem_v2", &d.cuDevicePrimaryCtxRetain: "cuDevicePrimaryCtxRetain",
		&d.cuDevicePrimaryCtxRelease: "cuDevicePrimaryCtxRelease_v2", &d.cuCtxSetCurrent: "cuCtxSetCurrent",
		&d.cuCtxSynchronize: "cuCtxSynchronize",
		&d.cuMemAlloc:       "cuMemAlloc_v2", &d.cuMemFree: "cuMemFree_v2", &d.cuMemGetInfo: "cuMemGetInfo_v2",
		&d.cuMemcpyHtoD: "cuMemcpyHtoD_v2", &d.cuMemcpyDtoH: "cuMemcpyDtoH_v2", &d.cuMemcpyDtoDAsync: "cuMemcpyDtoDAsync_v2",
		&d.cuMemsetD32Async: "cuMemsetD32Async", &d.cuMemAllocHost: "cuMemAllocHost_v2", &d.cuMemFreeHost: "cuMemFreeHost",
		&d.cuMemcpyHtoDAsync: "cuMemcpyHtoDAsync_v2", &d.cuModuleLoadData: "cuModuleLoadData",
		&d.cuModuleUnload: "cuModuleUnload", &d.cuModuleGetFunction: "cuModuleGetFunction",
		&d.cuLaunchKernel: "cuLaunchKernel", &d.cuGetErrorName: "cuGetErrorName", &d.cuGetErrorString: "cuGetErrorString",
		&d.cuEventCreate: "cuEventCreate", &d.cuEventRecord: "cuEventRecord", &d.cuEventSynchronize: "cuEventSynchronize",
		&d.cuEventElapsedTime: "cuEventElapsedTime", &d.cuEventDestroy: "cuEventDestroy_v2",
		&d.cuFuncSetAttribute: "cuFuncSetAttribute",
	}); err != nil {
		return nil, err
	}
	h, p, err = dlopenAny("NVRTC (libnvrtc, from the CUDA toolkit or the nvidia-cuda-nvrtc package)", nvrtcNames)
	if err != nil {
		return nil, err
	}
	l.nvrtcPath = p
	r := &l.rtc
	if err := bindSyms(h, p, map[*uintptr]string{
		&r.nvrtcVersion: "nvrtcVersion", &r.nvrtcCreateProgram: "nvrtcCreateProgram",
		&r.nvrtcCompileProgram: "nvrtcCompileProgram", &r.nvrtcGetProgramLogSize: "nvrtcGetProgramLogSize",
		&r.nvrtcGetProgramLog: "nvrtcGetProgramLog", &r.nvrtcGetCUBINSize: "nvrtcGetCUBINSize",
		&r.nvrtcGetCUBIN: "nvrtcGetCUBIN", &r.nvrtcDestroyProgram: "nvrtcDestroyProgram",
	}); err != nil {
		return nil, err
	}
	h, p, err = dlopenAny("cuBLAS (libcublas, from the CUDA toolkit or the nvidia-cublas package)", cublasNames)
	if err != nil {
		return nil, err
	}
	l.cublasPath = p
	b := &l.blas
	if err := bindSyms(h, p, map[*uintptr]string{
		&b.cublasCreate: "cublasCreate_v2", &b.cublasDestroy: "cublasDestroy_v2", &b.cublasSetStream: "cublasSetStream_v2",
		&b.cublasSetMathMode: "cublasSetMathMode", &b.cublasSgemm: "cublasSgemm_v2",
		&b.cublasSgemmStridedBatched: "cublasSgemmStridedBatched", &b.cublasGetVersion: "cublasGetVersion_v2",
		&b.cublasGemmEx: "cublasGemmEx", &b.cublasGemmStridedBatchedEx: "cublasGemmStridedBatchedEx",
	}); err != nil {
		return nil, err
	}
	return l, nil
}

// call invokes a C function whose return value is a 32-bit status code.
// Arguments that are Go pointers must be converted in the call expression
// itself (SyscallN is go:uintptrescapes), or kept alive by the caller.
func call(fn uintptr, args ...uintptr) int32 {
	r, _, _ := purego.SyscallN(fn, args...)
	return int32(r)
}

// cString returns a NUL-terminated copy of s.
func cString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// goString reads a NUL-terminated C string.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// trimNul cuts a byte buffer at its first NUL.
func trimNul(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
