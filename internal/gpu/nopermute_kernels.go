package gpu

import (
	"fmt"

	"github.com/adarank/adarank/internal/cuda"
)

// noPermuteSource holds the kernels of the experimental NoPermuteAttention
// path. They are compiled (with kernelSource, whose helpers they use) into
// a module of their own, only when that path first runs, so that the
// default kernels stay exactly the ones checked on a GPU.
const noPermuteSource = `
// softmax_mask_qb: softmax_mask with the query bias's term added: rows of
// head (b, h) get qb[(b*nh + h)*T + j] on key j (see qbias). The term is
// added in a first pass; __syncwarp makes it visible to softmax_row's split.
extern "C" __global__ void softmax_mask_qb(float* att, const float* mask, const float* qb, int rows, int T, int nh, int Tq) {
	long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	if (row >= rows) return;
	int lane = threadIdx.x & 31;
	long long bh = row / Tq, b = bh / nh;
	float* a = att + row * T;
	const float* e = qb + bh * T;
	for (int j = lane; j < T; j += 32) a[j] += e[j];
	__syncwarp();
	softmax_row(a, mask + b * T, T, lane);
}

// qbias: the query bias's share of the attention scores, which needs no
// biased copy of the queries: (q + bq)·k = q·k + bq·k, so key j of head
// (b, h) gets qb[(b*nh + h)*T + j] = scale · Σ_d bq[h*hs + d]·k[(b*T + j)*ldk
// + h*hs + d], with bq = b*T < seg ? bq0 : bq1. One warp per (b, h, j).
extern "C" __global__ void qbias(float* qb, const float* k, const float* bq0, const float* bq1, int seg, int B, int T, int nh,
		int hs, int ldk, float scale) {
	long long w = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	if (w >= (long long)B * nh * T) return;
	int lane = threadIdx.x & 31;
	int j = (int)(w % T);
	long long bh = w / T;
	int h = (int)(bh % nh), b = (int)(bh / nh);
	const float* bq = (long long)b * T < seg ? bq0 : bq1;
	const float* kr = k + ((long long)b * T + j) * ldk + (long long)h * hs;
	float s = 0.0f;
	for (int d = lane; d < hs; d += 32) s += bq[h * hs + d] * kr[d];
	for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
	if (lane == 0) qb[w] = scale * s;
}

// fill_ptrs: out[b*nh + h] = base + 4·(b·strideB + h·strideH), the device
// addresses of the per-head matrices of a pointer-array batched GEMM.
extern "C" __global__ void fill_ptrs(unsigned long long* out, unsigned long long base, int B, int nh, long long strideB, long long strideH) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i >= B * nh) return;
	int b = i / nh, h = i - b * nh;
	out[i] = base + 4ull * (unsigned long long)(b * strideB + h * strideH);
}
`

// noPermuteKernels are the compiled functions of noPermuteSource.
type noPermuteKernels struct {
	softmaxMaskQB, qbias, fillPtrs *cuda.Function
}

// noPermute compiles noPermuteSource on first use.
func (g *Model) noPermute() (*noPermuteKernels, error) {
	if g.np != nil {
		return g.np, nil
	}
	m, err := g.d.Compile("adarank_nopermute.cu", kernelSource+noPermuteSource, lnOptions(g.Cfg.Hidden, g.k.lnThreads)...)
	if err != nil {
		return nil, err
	}
	k := &noPermuteKernels{}
	for name, dst := range map[string]**cuda.Function{"softmax_mask_qb": &k.softmaxMaskQB, "qbias": &k.qbias, "fill_ptrs": &k.fillPtrs} {
		f, err := m.Func(name)
		if err != nil {
			return nil, fmt.Errorf("gpu: %w", err)
		}
		*dst = f
	}
	g.np = k
	return k, nil
}
