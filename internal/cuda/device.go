package cuda

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

// DevPtr is a device address (CUdeviceptr).
type DevPtr uintptr

// Add returns p advanced by n float32 (or int32) elements.
func (p DevPtr) Add(n int) DevPtr { return p + DevPtr(4*n) }

// Device is an opened GPU: its primary context, a cuBLAS handle and the
// kernels compiled for it so far.
type Device struct {
	Ordinal       int
	Name          string
	Major, Minor  int // compute capability
	SMs           int
	TotalMem      uint64
	DriverVersion int // e.g. 13000 for CUDA 13.0
	NVRTCVersion  [2]int
	CUBLASVersion int

	l    *libs
	dev  int32
	ctx  uintptr
	blas uintptr
	tf32 bool
	bf16 bool // GEMMs through cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_16BF
	// bf16-native GEMMs (bf16.go): operand copies rounded to bf16, their converter and scratch.
	native16 bool
	cvt      *Function
	bfA, bfB *Buffer
	depth    int // Bind nesting on the locked thread
	closed   bool
	live     map[DevPtr]*Buffer
	modules  map[string]*Module // by source hash

	debugSync bool // synchronise and check after every launch

	// Launch scratch: argument values and the pointer array handed to cuLaunchKernel.
	argSlots [maxKernelArgs]uint64
	argPtrs  [maxKernelArgs]unsafe.Pointer
	// cuBLAS host scalars must outlive the call that reads them.
	alpha, beta float32
}

// Device attributes (CUdevice_attribute).
const (
	attrMultiprocessorCount = 16
	attrComputeMajor        = 75
	attrComputeMinor        = 76
)

// Open loads the CUDA libraries, initialises the driver and retains the
// primary context of GPU ordinal. On a machine without a usable driver or
// GPU it returns one clear error and never panics.
func Open(ordinal int) (*Device, error) {
	l, err := loadLibs()
	if err != nil {
		return nil, err
	}
	if ordinal < 0 {
		return nil, fmt.Errorf("cuda: device ordinal %d is negative", ordinal)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if r := call(l.drv.cuInit, 0); r != 0 {
		if r == cudaErrorNoDevice {
			return nil, fmt.Errorf("cuda: the driver (%s) finds no GPU", l.cudaPath)
		}
		return nil, fmt.Errorf("cuda: driver initialisation failed: %w", l.drvErr("cuInit", r))
	}
	d := &Device{Ordinal: ordinal, l: l, live: map[DevPtr]*Buffer{}, modules: map[string]*Module{}}
	var v int32
	if err := l.drvErr("cuDriverGetVersion", call(l.drv.cuDriverGetVersion, uintptr(unsafe.Pointer(&v)))); err != nil {
		return nil, err
	}
	d.DriverVersion = int(v)
	if d.DriverVersion < minDriverVersion {
		return nil, fmt.Errorf("cuda: the driver supports CUDA %s; adarank needs CUDA %s or newer: update the NVIDIA driver",
			versionString(d.DriverVersion), versionString(minDriverVersion))
	}
	var n int32
	if err := l.drvErr("cuDeviceGetCount", call(l.drv.cuDeviceGetCount, uintptr(unsafe.Pointer(&n)))); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("cuda: the driver finds no GPU")
	}
	if ordinal >= int(n) {
		return nil, fmt.Errorf("cuda: no GPU %d (this machine has %d)", ordinal, n)
	}
	if err := l.drvErr("cuDeviceGet", call(l.drv.cuDeviceGet, uintptr(unsafe.Pointer(&d.dev)), uintptr(ordinal))); err != nil {
		return nil, err
	}
	name := make([]byte, 256)
	if err := l.drvErr("cuDeviceGetName", call(l.drv.cuDeviceGetName, uintptr(unsafe.Pointer(&name[0])), uintptr(len(name)), uintptr(d.dev))); err != nil {
		return nil, err
	}
	d.Name = trimNul(name)
	attr := func(a int) (int, error) {
		var x int32
		err := l.drvErr("cuDeviceGetAttribute", call(l.drv.cuDeviceGetAttribute, uintptr(unsafe.Pointer(&x)), uintptr(a), uintptr(d.dev)))
		return int(x), err
	}
	if d.Major, err = attr(attrComputeMajor); err != nil {
		return nil, err
	}
	if d.Minor, err = attr(attrComputeMinor); err != nil {
		return nil, err
	}
	if d.SMs, err = attr(attrMultiprocessorCount); err != nil {
		return nil, err
	}
	if err := l.drvErr("cuDeviceTotalMem", call(l.drv.cuDeviceTotalMem, uintptr(unsafe.Pointer(&d.TotalMem)), uintptr(d.dev))); err != nil {
		return nil, err
	}
	if err := l.drvErr("cuDevicePrimaryCtxRetain", call(l.drv.cuDevicePrimaryCtxRetain, uintptr(unsafe.Pointer(&d.ctx)), uintptr(d.dev))); err != nil {
		return nil, err
	}
	if err := l.drvErr("cuCtxSetCurrent", call(l.drv.cuCtxSetCurrent, d.ctx)); err != nil {
		return nil, err
	}
	var maj, min int32
	if err := rtcErr("nvrtcVersion", call(l.rtc.nvrtcVersion, uintptr(unsafe.Pointer(&maj)), uintptr(unsafe.Pointer(&min)))); err != nil {
		d.release()
		return nil, err
	}
	d.NVRTCVersion = [2]int{int(maj), int(min)}
	if err := blasErr("cublasCreate", call(l.blas.cublasCreate, uintptr(unsafe.Pointer(&d.blas)))); err != nil {
		d.release()
		return nil, fmt.Errorf("cuda: cannot start cuBLAS on GPU %d: %w", ordinal, err)
	}
	var bv int32
	if err := blasErr("cublasGetVersion", call(l.blas.cublasGetVersion, d.blas, uintptr(unsafe.Pointer(&bv)))); err != nil {
		d.release()
		return nil, err
	}
	d.CUBLASVersion = int(bv)
	d.debugSync = os.Getenv("ADARANK_CUDA_SYNC") == "1"
	return d, nil
}

// minDriverVersion is CUDA 12.0: older drivers cannot load what current
// NVRTC releases produce.
const minDriverVersion = 12000

func versionString(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// String describes the device in one line.
func (d *Device) String() string {
	return fmt.Sprintf("GPU %d: %s (sm_%d%d, %d SMs, %.1f GiB), driver CUDA %s, NVRTC %d.%d, cuBLAS %d",
		d.Ordinal, d.Name, d.Major, d.Minor, d.SMs, float64(d.TotalMem)/(1<<30), versionString(d.DriverVersion),
		d.NVRTCVersion[0], d.NVRTCVersion[1], d.CUBLASVersion)
}

// Libraries lists the library files that were opened.
func (d *Device) Libraries() []string { return []string{d.l.cudaPath, d.l.nvrtcPath, d.l.cublasPath} }

// Bind locks the calling goroutine to its OS thread and makes the device's
// context current there, until the returned function is called. Binds nest;
// only the outermost one sets the context. Use it around a stretch of calls:
//
//	defer dev.Bind()()
func (d *Device) Bind() func() {
	runtime.LockOSThread()
	if d.depth == 0 {
		call(d.l.drv.cuCtxSetCurrent, d.ctx)
	}
	d.depth++
	return d.unbind
}

func (d *Device) unbind() {
	d.depth--
	runtime.UnlockOSThread()
}

// SetDebugSync makes every launch and GEMM synchronise and check for
// asynchronous errors (slow; for locating a failing kernel). ADARANK_CUDA_SYNC=1
// turns it on at Open.
func (d *Device) SetDebugSync(on bool) { d.debugSync = on }

// Sync waits for all queued work and reports any asynchronous error.
func (d *Device) Sync() error {
	defer d.Bind()()
	return d.l.drvErr("cuCtxSynchronize", call(d.l.drv.cuCtxSynchronize))
}

// MemInfo returns the free and total device memory in bytes.
func (d *Device) MemInfo() (free, total uint64, err error) {
	defer d.Bind()()
	err = d.l.drvErr("cuMemGetInfo", call(d.l.drv.cuMemGetInfo, uintptr(unsafe.Pointer(&free)), uintptr(unsafe.Pointer(&total))))
	return
}

// Close frees every live buffer, unloads the kernels, destroys the cuBLAS
// handle and releases the primary context.
func (d *Device) Close() error {
	if d == nil || d.closed {
		return nil
	}
	defer d.Bind()()
	call(d.l.drv.cuCtxSynchronize)
	for p := range d.live {
		call(d.l.drv.cuMemFree, uintptr(p))
	}
	d.live = nil
	for _, m := range d.modules {
		call(d.l.drv.cuModuleUnload, m.h)
	}
	d.modules = nil
	if d.blas != 0 {
		call(d.l.blas.cublasDestroy, d.blas)
		d.blas = 0
	}
	d.release()
	return nil
}

func (d *Device) release() {
	if !d.closed {
		call(d.l.drv.cuDevicePrimaryCtxRelease, uintptr(d.dev))
		d.closed = true
	}
}

// Buffer is a named device allocation.
type Buffer struct {
	Ptr   DevPtr
	Bytes int
	Name  string
	d     *Device
}

// Len is the buffer's size in 4-byte elements.
func (b *Buffer) Len() int { return b.Bytes / 4 }

// At returns the address of 4-byte element i.
func (b *Buffer) At(i int) DevPtr { return b.Ptr.Add(i) }

// Free releases the buffer (nil-safe, idempotent).
func (b *Buffer) Free() {
	if b == nil || b.d == nil || b.Ptr == 0 {
		return
	}
	d := b.d
	defer d.Bind()()
	if _, ok := d.live[b.Ptr]; ok {
		call(d.l.drv.cuMemFree, uintptr(b.Ptr))
		delete(d.live, b.Ptr)
	}
	b.Ptr = 0
}

// Alloc allocates bytes of device memory. name says what the memory is for,
// so that an out-of-memory error can say which tensor did not fit.
func (d *Device) Alloc(name string, bytes int) (*Buffer, error) {
	if bytes <= 0 {
		return nil, fmt.Errorf("cuda: allocating %s: size %d must be positive", name, bytes)
	}
	defer d.Bind()()
	var p DevPtr
	r := call(d.l.drv.cuMemAlloc, uintptr(unsafe.Pointer(&p)), uintptr(bytes))
	if r == cudaErrorOutOfMemory {
		free, total, _ := d.MemInfo()
		return nil, fmt.Errorf("cuda: out of GPU memory allocating %s (%s; %s free of %s): use a smaller batch or fewer tokens per batch: %w",
			name, human(uint64(bytes)), human(free), human(total), d.l.drvErr("cuMemAlloc", r))
	}
	if err := d.l.drvErr("cuMemAlloc", r); err != nil {
		return nil, fmt.Errorf("cuda: allocating %s (%s): %w", name, human(uint64(bytes)), err)
	}
	b := &Buffer{Ptr: p, Bytes: bytes, Name: name, d: d}
	d.live[p] = b
	return b, nil
}

// AllocF32 allocates n float32 values (n int32 values are the same size).
func (d *Device) AllocF32(name string, n int) (*Buffer, error) { return d.Alloc(name, 4*n) }

func human(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (b+1023)/1024)
}

// Upload copies src into device memory at dst (synchronous).
func (d *Device) Upload(dst DevPtr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	defer d.Bind()()
	return d.l.drvErr("cuMemcpyHtoD", call(d.l.drv.cuMemcpyHtoD, uintptr(dst), uintptr(unsafe.Pointer(&src[0])), uintptr(4*len(src))))
}

// UploadI32 copies int32 values into device memory at dst (synchronous).
func (d *Device) UploadI32(dst DevPtr, src []int32) error {
	if len(src) == 0 {
		return nil
	}
	defer d.Bind()()
	return d.l.drvErr("cuMemcpyHtoD", call(d.l.drv.cuMemcpyHtoD, uintptr(dst), uintptr(unsafe.Pointer(&src[0])), uintptr(4*len(src))))
}

// Download copies len(dst) float32 values from device memory at src; it
// waits for queued work first and reports its errors.
func (d *Device) Download(dst []float32, src DevPtr) error {
	if len(dst) == 0 {
		return nil
	}
	defer d.Bind()()
	return d.l.drvErr("cuMemcpyDtoH", call(d.l.drv.cuMemcpyDtoH, uintptr(unsafe.Pointer(&dst[0])), uintptr(src), uintptr(4*len(dst))))
}

// DownloadF64 copies len(dst) float64 values from device memory at src.
func (d *Device) DownloadF64(dst []float64, src DevPtr) error {
	if len(dst) == 0 {
		return nil
	}
	defer d.Bind()()
	return d.l.drvErr("cuMemcpyDtoH", call(d.l.drv.cuMemcpyDtoH, uintptr(unsafe.Pointer(&dst[0])), uintptr(src), uintptr(8*len(dst))))
}

// Copy queues a device-to-device copy of n 4-byte elements.
func (d *Device) Copy(dst, src DevPtr, n int) error {
	if n == 0 {
		return nil
	}
	defer d.Bind()()
	return d.l.drvErr("cuMemcpyDtoDAsync", call(d.l.drv.cuMemcpyDtoDAsync, uintptr(dst), uintptr(src), uintptr(4*n), 0))
}

// Fill32 queues setting n 4-byte elements at dst to the bit pattern v.
func (d *Device) Fill32(dst DevPtr, v uint32, n int) error {
	if n == 0 {
		return nil
	}
	defer d.Bind()()
	return d.l.drvErr("cuMemsetD32Async", call(d.l.drv.cuMemsetD32Async, uintptr(dst), uintptr(v), uintptr(n), 0))
}

// HostBuffer is page-locked host memory: uploads from it run at full PCIe
// speed and can be queued asynchronously.
type HostBuffer struct {
	F32 []float32
	p   unsafe.Pointer
	d   *Device
}

// AllocHost allocates n page-locked float32 values.
func (d *Device) AllocHost(name string, n int) (*HostBuffer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("cuda: allocating host %s: size %d must be positive", name, n)
	}
	defer d.Bind()()
	var p unsafe.Pointer
	if err := d.l.drvErr("cuMemAllocHost", call(d.l.drv.cuMemAllocHost, uintptr(unsafe.Pointer(&p)), uintptr(4*n))); err != nil {
		return nil, fmt.Errorf("cuda: allocating page-locked %s (%s): %w", name, human(uint64(4*n)), err)
	}
	return &HostBuffer{F32: unsafe.Slice((*float32)(p), n), p: p, d: d}, nil
}

// Free releases page-locked memory (nil-safe).
func (h *HostBuffer) Free() {
	if h == nil || h.p == nil {
		return
	}
	defer h.d.Bind()()
	call(h.d.l.drv.cuMemFreeHost, uintptr(h.p))
	h.p, h.F32 = nil, nil
}

// UploadAsync queues a copy of n float32 values from page-locked memory
// (starting at element off) to dst. The host memory must not change until
// the copy has run (Sync, or a later synchronous call).
func (d *Device) UploadAsync(dst DevPtr, h *HostBuffer, off, n int) error {
	if n == 0 {
		return nil
	}
	if off < 0 || off+n > len(h.F32) {
		return fmt.Errorf("cuda: UploadAsync range %d+%d outside a host buffer of %d", off, n, len(h.F32))
	}
	defer d.Bind()()
	return d.l.drvErr("cuMemcpyHtoDAsync", call(d.l.drv.cuMemcpyHtoDAsync, uintptr(dst), uintptr(unsafe.Add(h.p, 4*off)), uintptr(4*n), 0))
}

// Fence records a point in the queued work and returns a function that
// waits until everything queued before it has run (and reports the first
// asynchronous error). Use it to know when page-locked memory handed to
// UploadAsync may be reused.
func (d *Device) Fence() (wait func() error, err error) {
	defer d.Bind()()
	var ev uintptr
	const eventDisableTiming = 2
	if err := d.l.drvErr("cuEventCreate", call(d.l.drv.cuEventCreate, uintptr(unsafe.Pointer(&ev)), eventDisableTiming)); err != nil {
		return nil, err
	}
	if err := d.l.drvErr("cuEventRecord", call(d.l.drv.cuEventRecord, ev, 0)); err != nil {
		call(d.l.drv.cuEventDestroy, ev)
		return nil, err
	}
	return func() error {
		defer d.Bind()()
		err := d.l.drvErr("cuEventSynchronize", call(d.l.drv.cuEventSynchronize, ev))
		call(d.l.drv.cuEventDestroy, ev)
		return err
	}, nil
}

// Timer measures GPU time between Start and Stop with CUDA events.
type Timer struct {
	d          *Device
	start, end uintptr
}

// NewTimer creates a timer's two events.
func (d *Device) NewTimer() (*Timer, error) {
	defer d.Bind()()
	t := &Timer{d: d}
	if err := d.l.drvErr("cuEventCreate", call(d.l.drv.cuEventCreate, uintptr(unsafe.Pointer(&t.start)), 0)); err != nil {
		return nil, err
	}
	if err := d.l.drvErr("cuEventCreate", call(d.l.drv.cuEventCreate, uintptr(unsafe.Pointer(&t.end)), 0)); err != nil {
		call(d.l.drv.cuEventDestroy, t.start)
		return nil, err
	}
	return t, nil
}

// Start records the start event.
func (t *Timer) Start() error {
	defer t.d.Bind()()
	return t.d.l.drvErr("cuEventRecord", call(t.d.l.drv.cuEventRecord, t.start, 0))
}

// Stop records the end event, waits for it and returns the milliseconds since Start.
func (t *Timer) Stop() (float32, error) {
	defer t.d.Bind()()
	l := t.d.l
	if err := l.drvErr("cuEventRecord", call(l.drv.cuEventRecord, t.end, 0)); err != nil {
		return 0, err
	}
	if err := l.drvErr("cuEventSynchronize", call(l.drv.cuEventSynchronize, t.end)); err != nil {
		return 0, err
	}
	var ms float32
	err := l.drvErr("cuEventElapsedTime", call(l.drv.cuEventElapsedTime, uintptr(unsafe.Pointer(&ms)), t.start, t.end))
	return ms, err
}

// Free destroys the timer's events.
func (t *Timer) Free() {
	defer t.d.Bind()()
	call(t.d.l.drv.cuEventDestroy, t.start)
	call(t.d.l.drv.cuEventDestroy, t.end)
}

// Event is a CUDA event on the device's stream, for timing work without
// synchronising at every step.
type Event struct {
	d *Device
	h uintptr
}

// NewEvent creates an event.
func (d *Device) NewEvent() (*Event, error) {
	defer d.Bind()()
	e := &Event{d: d}
	if err := d.l.drvErr("cuEventCreate", call(d.l.drv.cuEventCreate, uintptr(unsafe.Pointer(&e.h)), 0)); err != nil {
		return nil, err
	}
	return e, nil
}

// Record queues the event after the work queued so far.
func (e *Event) Record() error {
	defer e.d.Bind()()
	return e.d.l.drvErr("cuEventRecord", call(e.d.l.drv.cuEventRecord, e.h, 0))
}

// Since waits for e and returns the milliseconds from start to e (both recorded).
func (e *Event) Since(start *Event) (float32, error) {
	defer e.d.Bind()()
	l := e.d.l
	if err := l.drvErr("cuEventSynchronize", call(l.drv.cuEventSynchronize, e.h)); err != nil {
		return 0, err
	}
	var ms float32
	err := l.drvErr("cuEventElapsedTime", call(l.drv.cuEventElapsedTime, uintptr(unsafe.Pointer(&ms)), start.h, e.h))
	return ms, err
}

// Free destroys the event.
func (e *Event) Free() {
	defer e.d.Bind()()
	call(e.d.l.drv.cuEventDestroy, e.h)
}
