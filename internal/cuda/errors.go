package cuda

import (
	"errors"
	"fmt"
	"unsafe"
)

// Driver API result codes used by name in this package.
const (
	cudaSuccess                 = 0
	cudaErrorOutOfMemory        = 2
	cudaErrorNoDevice           = 100
	cudaErrorInvalidDevice      = 101
	cudaErrorInvalidImage       = 200
	cudaErrorNoBinaryForGPU     = 209
	cudaErrorUnsupportedPTX     = 222
	cudaErrorInsufficientDriver = 35
)

// Error is a failed CUDA, cuBLAS or NVRTC call.
type Error struct {
	Lib  string // "cuda", "cublas" or "nvrtc"
	Call string // the function that failed
	Code int32
	Name string // symbolic name of Code
	Msg  string // driver's description, if any
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s failed: %s (%d)", e.Lib, e.Call, e.Name, e.Code)
	if e.Msg != "" && e.Msg != e.Name {
		s += ": " + e.Msg
	}
	return s
}

// IsOutOfMemory reports whether err is a CUDA or cuBLAS out-of-memory error.
func IsOutOfMemory(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Lib == "cuda" && e.Code == cudaErrorOutOfMemory || e.Lib == "cublas" && e.Code == 3
}

// driverNames covers the codes most likely to be seen, for when the driver
// cannot name a code itself.
var driverNames = map[int32]string{
	0: "CUDA_SUCCESS", 1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY", 3: "CUDA_ERROR_NOT_INITIALIZED",
	4: "CUDA_ERROR_DEINITIALIZED", 34: "CUDA_ERROR_STUB_LIBRARY", 35: "CUDA_ERROR_INSUFFICIENT_DRIVER",
	46: "CUDA_ERROR_DEVICES_UNAVAILABLE", 100: "CUDA_ERROR_NO_DEVICE", 101: "CUDA_ERROR_INVALID_DEVICE",
	200: "CUDA_ERROR_INVALID_IMAGE", 201: "CUDA_ERROR_INVALID_CONTEXT", 209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
	218: "CUDA_ERROR_INVALID_PTX", 222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", 300: "CUDA_ERROR_INVALID_SOURCE",
	400: "CUDA_ERROR_INVALID_HANDLE", 500: "CUDA_ERROR_NOT_FOUND", 600: "CUDA_ERROR_NOT_READY",
	700: "CUDA_ERROR_ILLEGAL_ADDRESS", 701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", 702: "CUDA_ERROR_LAUNCH_TIMEOUT",
	719: "CUDA_ERROR_LAUNCH_FAILED", 999: "CUDA_ERROR_UNKNOWN",
}

var cublasNamesByCode = map[int32]string{
	0: "CUBLAS_STATUS_SUCCESS", 1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED",
	7: "CUBLAS_STATUS_INVALID_VALUE", 8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED", 14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

var nvrtcNamesByCode = map[int32]string{
	0: "NVRTC_SUCCESS", 1: "NVRTC_ERROR_OUT_OF_MEMORY", 2: "NVRTC_ERROR_PROGRAM_CREATION_FAILURE",
	3: "NVRTC_ERROR_INVALID_INPUT", 4: "NVRTC_ERROR_INVALID_PROGRAM", 5: "NVRTC_ERROR_INVALID_OPTION",
	6: "NVRTC_ERROR_COMPILATION", 7: "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE",
	8: "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION", 9: "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION",
	10: "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID", 11: "NVRTC_ERROR_INTERNAL_ERROR",
}

func codeName(table map[int32]string, prefix string, code int32) string {
	if n, ok := table[code]; ok {
		return n
	}
	return fmt.Sprintf("%s_%d", prefix, code)
}

// drvErr turns a driver result into an error (nil on success), asking the
// driver for the code's name and description.
func (l *libs) drvErr(callName string, r int32) error {
	if r == cudaSuccess {
		return nil
	}
	e := &Error{Lib: "cuda", Call: callName, Code: r, Name: codeName(driverNames, "CUDA_ERROR", r)}
	if l != nil && l.drv.cuGetErrorName != 0 {
		var p *byte
		if call(l.drv.cuGetErrorName, uintptr(r), uintptr(unsafe.Pointer(&p))) == 0 && p != nil {
			e.Name = goString(p)
		}
		var q *byte
		if call(l.drv.cuGetErrorString, uintptr(r), uintptr(unsafe.Pointer(&q))) == 0 && q != nil {
			e.Msg = goString(q)
		}
	}
	return e
}

func blasErr(callName string, r int32) error {
	if r == 0 {
		return nil
	}
	return &Error{Lib: "cublas", Call: callName, Code: r, Name: codeName(cublasNamesByCode, "CUBLAS_STATUS", r)}
}

func rtcErr(callName string, r int32) error {
	if r == 0 {
		return nil
	}
	return &Error{Lib: "nvrtc", Call: callName, Code: r, Name: codeName(nvrtcNamesByCode, "NVRTC_ERROR", r)}
}
