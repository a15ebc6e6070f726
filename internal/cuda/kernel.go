package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"strings"
	"unsafe"
)

// ParamKind is the machine type of one kernel parameter.
type ParamKind uint8

// Kernel parameter kinds.
const (
	KPtr    ParamKind = iota // any T* (8 bytes)
	KInt                     // int / unsigned (4 bytes)
	KFloat                   // float (4 bytes)
	KLong                    // long long / size_t (8 bytes)
	KDouble                  // double (8 bytes)
)

func (k ParamKind) String() string {
	return [...]string{"pointer", "int", "float", "long long", "double"}[k]
}

// maxKernelArgs bounds the parameters of one kernel.
const maxKernelArgs = 32

// Signature is a kernel's name and parameter kinds, read from its source.
type Signature struct {
	Name   string
	Params []ParamKind
}

var kernelRe = regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)`)

// ParseKernels reads the signatures of every `extern "C" __global__ void`
// kernel in src. It also checks that braces and parentheses balance.
func ParseKernels(src string) (map[string]Signature, error) {
	if err := balanced(src); err != nil {
		return nil, err
	}
	out := map[string]Signature{}
	for _, m := range kernelRe.FindAllStringSubmatch(src, -1) {
		name, params := m[1], strings.TrimSpace(m[2])
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("kernel %s defined twice", name)
		}
		sig := Signature{Name: name}
		if params != "" && params != "void" {
			for _, p := range strings.Split(params, ",") {
				k, err := paramKind(p)
				if err != nil {
					return nil, fmt.Errorf("kernel %s: %w", name, err)
				}
				sig.Params = append(sig.Params, k)
			}
		}
		if len(sig.Params) > maxKernelArgs {
			return nil, fmt.Errorf("kernel %s has %d parameters (at most %d)", name, len(sig.Params), maxKernelArgs)
		}
		out[name] = sig
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no extern \"C\" __global__ kernels in the source")
	}
	return out, nil
}

func paramKind(p string) (ParamKind, error) {
	p = strings.TrimSpace(p)
	f := strings.Fields(strings.NewReplacer("*", " * ", "__restrict__", " ", "const", " ").Replace(p))
	if len(f) < 2 {
		return 0, fmt.Errorf("cannot read parameter %q", p)
	}
	ty := f[:len(f)-1] // drop the parameter name
	if strings.Contains(p, "*") {
		return KPtr, nil
	}
	switch strings.Join(ty, " ") {
	case "int", "unsigned", "unsigned int", "int32_t", "uint32_t":
		return KInt, nil
	case "float":
		return KFloat, nil
	case "long long", "unsigned long long", "size_t", "int64_t", "uint64_t":
		return KLong, nil
	case "double":
		return KDouble, nil
	}
	return 0, fmt.Errorf("unsupported parameter type in %q", p)
}

// balanced checks (), {} and [] nesting, skipping comments and string literals.
func balanced(src string) error {
	var stack []byte
	line := 1
	pairs := map[byte]byte{')': '(', '}': '{', ']': '['}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\n':
			line++
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			line++
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return fmt.Errorf("line %d: unterminated comment", line)
			}
			line += strings.Count(src[i:i+2+j], "\n")
			i += j + 3
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			i = j
		case c == '(' || c == '{' || c == '[':
			stack = append(stack, c)
		case c == ')' || c == '}' || c == ']':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return fmt.Errorf("line %d: unbalanced %q", line, c)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		return fmt.Errorf("unclosed %q at end of source", stack[len(stack)-1])
	}
	return nil
}

// PackArgs checks args against a kernel signature and writes each value's
// bytes into slots (one 8-byte slot per parameter; 4-byte values go in the
// low half, which is where a little-endian reader of the slot looks).
// Accepted Go types: DevPtr and *Buffer for pointers, int/int32/uint32 for
// int, float32 for float, int/int64 for long long, float64 for double.
func PackArgs(sig Signature, args []any, slots []uint64) error {
	if len(args) != len(sig.Params) {
		return fmt.Errorf("kernel %s takes %d arguments, got %d", sig.Name, len(sig.Params), len(args))
	}
	for i, a := range args {
		k := sig.Params[i]
		bad := func() error {
			return fmt.Errorf("kernel %s argument %d: want %s, got %T", sig.Name, i, k, a)
		}
		var v uint64
		switch k {
		case KPtr:
			switch x := a.(type) {
			case DevPtr:
				v = uint64(x)
			case *Buffer:
				if x == nil {
					return fmt.Errorf("kernel %s argument %d: nil buffer", sig.Name, i)
				}
				v = uint64(x.Ptr)
			default:
				return bad()
			}
		case KInt:
			switch x := a.(type) {
			case int:
				if x < math.MinInt32 || x > math.MaxInt32 {
					return fmt.Errorf("kernel %s argument %d: %d does not fit an int", sig.Name, i, x)
				}
				v = uint64(uint32(int32(x)))
			case int32:
				v = uint64(uint32(x))
			case uint32:
				v = uint64(x)
			default:
				return bad()
			}
		case KFloat:
			x, ok := a.(float32)
			if !ok {
				return bad()
			}
			v = uint64(math.Float32bits(x))
		case KLong:
			switch x := a.(type) {
			case int:
				v = uint64(int64(x))
			case int64:
				v = uint64(x)
			default:
				return bad()
			}
		case KDouble:
			x, ok := a.(float64)
			if !ok {
				return bad()
			}
			v = math.Float64bits(x)
		}
		slots[i] = v
	}
	return nil
}

// Module is a compiled source: its kernels and their signatures.
type Module struct {
	h     uintptr
	sigs  map[string]Signature
	funcs map[string]*Function
	Log   string // NVRTC's log (warnings), if any
}

// Function is one kernel of a module.
type Function struct {
	h      uintptr
	Sig    Signature
	dynShm int // dynamic shared memory allowed so far beyond the default 48 KiB
}

// Dim3 is a grid or block size.
type Dim3 struct{ X, Y, Z int }

// Arch is the NVRTC --gpu-architecture value for the device (e.g. sm_90).
func (d *Device) Arch() string { return fmt.Sprintf("sm_%d%d", d.Major, d.Minor) }

// Compile compiles CUDA C source with NVRTC for the device and loads it.
// Results are cached by source text and options, so calling it again is
// cheap. A compile error includes NVRTC's log.
func (d *Device) Compile(name, src string, opts ...string) (*Module, error) {
	sigs, err := ParseKernels(src)
	if err != nil {
		return nil, fmt.Errorf("cuda: kernel source %s: %w", name, err)
	}
	all := append([]string{"--gpu-architecture=" + d.Arch(), "--std=c++17"}, opts...)
	h := sha256.Sum256([]byte(src + "\x00" + strings.Join(all, "\x00")))
	key := hex.EncodeToString(h[:])
	if m, ok := d.modules[key]; ok {
		return m, nil
	}
	defer d.Bind()()
	image, log, err := d.nvrtc(name, src, all)
	if err != nil {
		return nil, err
	}
	m := &Module{sigs: sigs, funcs: map[string]*Function{}, Log: log}
	r := call(d.l.drv.cuModuleLoadData, uintptr(unsafe.Pointer(&m.h)), uintptr(unsafe.Pointer(&image[0])))
	runtime.KeepAlive(image)
	if r != 0 {
		err := d.l.drvErr("cuModuleLoadData", r)
		if r == cudaErrorUnsupportedPTX || r == cudaErrorInvalidImage || r == cudaErrorNoBinaryForGPU || r == cudaErrorInsufficientDriver {
			return nil, fmt.Errorf("cuda: the driver (CUDA %s) cannot load code from NVRTC %d.%d for %s: use an NVRTC no newer than the driver, or update the driver: %w",
				versionString(d.DriverVersion), d.NVRTCVersion[0], d.NVRTCVersion[1], d.Arch(), err)
		}
		return nil, err
	}
	for kn, sig := range sigs {
		f := &Function{Sig: sig}
		cn := cString(kn)
		if err := d.l.drvErr("cuModuleGetFunction", call(d.l.drv.cuModuleGetFunction, uintptr(unsafe.Pointer(&f.h)), m.h, uintptr(unsafe.Pointer(&cn[0])))); err != nil {
			return nil, fmt.Errorf("cuda: kernel %s: %w", kn, err)
		}
		m.funcs[kn] = f
	}
	d.modules[key] = m
	return m, nil
}

// nvrtc compiles src to a CUBIN for the device's architecture.
func (d *Device) nvrtc(name, src string, opts []string) (image []byte, log string, err error) {
	r := &d.l.rtc
	var prog uintptr
	csrc, cname := cString(src), cString(name)
	if err := rtcErr("nvrtcCreateProgram", call(r.nvrtcCreateProgram, uintptr(unsafe.Pointer(&prog)),
		uintptr(unsafe.Pointer(&csrc[0])), uintptr(unsafe.Pointer(&cname[0])), 0, 0, 0)); err != nil {
		return nil, "", err
	}
	defer func() { call(r.nvrtcDestroyProgram, uintptr(unsafe.Pointer(&prog))) }()
	copts := make([][]byte, len(opts))
	optPtrs := make([]*byte, len(opts))
	for i, o := range opts {
		copts[i] = cString(o)
		optPtrs[i] = &copts[i][0]
	}
	cr := call(r.nvrtcCompileProgram, prog, uintptr(len(opts)), uintptr(unsafe.Pointer(&optPtrs[0])))
	runtime.KeepAlive(copts)
	runtime.KeepAlive(optPtrs)
	var logSize uintptr
	if call(r.nvrtcGetProgramLogSize, prog, uintptr(unsafe.Pointer(&logSize))) == 0 && logSize > 1 {
		buf := make([]byte, logSize)
		if call(r.nvrtcGetProgramLog, prog, uintptr(unsafe.Pointer(&buf[0]))) == 0 {
			log = strings.TrimSpace(trimNul(buf))
		}
	}
	if cr != 0 {
		return nil, log, fmt.Errorf("cuda: NVRTC could not compile %s for %s (options %s): %w\n%s",
			name, d.Arch(), strings.Join(opts, " "), rtcErr("nvrtcCompileProgram", cr), log)
	}
	var size uintptr
	if err := rtcErr("nvrtcGetCUBINSize", call(r.nvrtcGetCUBINSize, prog, uintptr(unsafe.Pointer(&size)))); err != nil {
		return nil, log, err
	}
	if size == 0 {
		return nil, log, fmt.Errorf("cuda: NVRTC produced no CUBIN for %s (is --gpu-architecture a real sm_XX?)", d.Arch())
	}
	image = make([]byte, size)
	if err := rtcErr("nvrtcGetCUBIN", call(r.nvrtcGetCUBIN, prog, uintptr(unsafe.Pointer(&image[0])))); err != nil {
		return nil, log, err
	}
	return image, log, nil
}

// Func returns a kernel of the module by name.
func (m *Module) Func(name string) (*Function, error) {
	f, ok := m.funcs[name]
	if !ok {
		return nil, fmt.Errorf("cuda: no kernel %q in the module", name)
	}
	return f, nil
}

// Launch queues a kernel with the given grid, block and dynamic shared
// memory. Arguments are checked against the kernel's source signature
// (see PackArgs).
func (d *Device) Launch(f *Function, grid, block Dim3, shmem int, args ...any) error {
	if err := PackArgs(f.Sig, args, d.argSlots[:]); err != nil {
		return fmt.Errorf("cuda: %w", err)
	}
	g, b := fix(grid), fix(block)
	if g.X <= 0 || g.Y <= 0 || g.Z <= 0 || b.X <= 0 || b.Y <= 0 || b.Z <= 0 || g.Y > 65535 || g.Z > 65535 {
		return fmt.Errorf("cuda: kernel %s: bad launch grid %v block %v", f.Sig.Name, grid, block)
	}
	defer d.Bind()()
	if shmem > 48<<10 && shmem > f.dynShm {
		const maxDynamicShared = 8 // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
		if err := d.l.drvErr("cuFuncSetAttribute", call(d.l.drv.cuFuncSetAttribute, f.h, maxDynamicShared, uintptr(shmem))); err != nil {
			return fmt.Errorf("cuda: kernel %s: %d bytes of shared memory: %w", f.Sig.Name, shmem, err)
		}
		f.dynShm = shmem
	}
	for i := range args {
		d.argPtrs[i] = unsafe.Pointer(&d.argSlots[i])
	}
	r := call(d.l.drv.cuLaunchKernel, f.h, uintptr(g.X), uintptr(g.Y), uintptr(g.Z), uintptr(b.X), uintptr(b.Y), uintptr(b.Z),
		uintptr(shmem), 0, uintptr(unsafe.Pointer(&d.argPtrs[0])), 0)
	if err := d.l.drvErr("cuLaunchKernel", r); err != nil {
		return fmt.Errorf("cuda: kernel %s (grid %v, block %v): %w", f.Sig.Name, g, b, err)
	}
	if d.debugSync {
		if err := d.l.drvErr("cuCtxSynchronize", call(d.l.drv.cuCtxSynchronize)); err != nil {
			return fmt.Errorf("cuda: kernel %s (grid %v, block %v): %w", f.Sig.Name, g, b, err)
		}
	}
	return nil
}

// fix turns zero Y/Z into 1.
func fix(d Dim3) Dim3 {
	if d.Y == 0 {
		d.Y = 1
	}
	if d.Z == 0 {
		d.Z = 1
	}
	return d
}
