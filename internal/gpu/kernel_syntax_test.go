package gpu

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cudaPrelude declares the CUDA built-ins the kernels use, so that a host
// C++ compiler can check the kernel sources' syntax and types (NVRTC is only
// on GPU hosts, where a compile error would cost a whole GPU job).
const cudaPrelude = `#include <algorithm>
#include <cmath>
#define __global__
#define __device__
#define __forceinline__
#define __shared__
#define __launch_bounds__(n)
struct dim3_ { unsigned x, y, z; };
struct float4 { float x, y, z, w; };
float4 make_float4(float, float, float, float);
unsigned int __umulhi(unsigned int, unsigned int);
void sincos(double, double*, double*);
void __syncwarp();
extern dim3_ blockIdx, blockDim, threadIdx, gridDim;
float __int_as_float(int);
int __float_as_int(float);
template <class T> T __shfl_xor_sync(unsigned, T, int);
template <class T> T __shfl_sync(unsigned, T, int);
float __uint_as_float(unsigned);
unsigned __float_as_uint(float);
float atomicAdd(float*, float);
double atomicAdd(double*, double);
void __syncthreads();
float erff(float); float expf(float); float tanhf(float); float logf(float);
float sqrtf(float); float fabsf(float); float fmaxf(float, float); float rsqrtf(float);
using std::max; using std::min;
`

// TestKernelSourcesCompileAsCPP compiles every kernel source with g++
// -fsyntax-only against cudaPrelude; skipped where no g++ is installed.
func TestKernelSourcesCompileAsCPP(t *testing.T) {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not installed")
	}
	for name, src := range map[string]string{"encoder": kernelSource, "train": kernelSource + trainKernelSource,
		"attention": kernelSource + attnSource} {
		f := filepath.Join(t.TempDir(), name+".cpp")
		if err := os.WriteFile(f, []byte(cudaPrelude+src), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(gxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Werror", "-Wno-unused-variable", "-Wno-unknown-pragmas", f).CombinedOutput()
		if err != nil {
			t.Errorf("%s kernels do not compile as C++: %v\n%s", name, err, out)
		}
	}
}
