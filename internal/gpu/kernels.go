package gpu

// kernelSource is the CUDA C of every encoder kernel, compiled at run time
// by NVRTC (no headers: the CUDA math functions are built in). One kernel per
// op, llm.c style; each has a Go twin in the tests (hostdev_test.go) that
// checks the host-side orchestration on machines without a GPU.
//
// Conventions: activations are row-major [rows, C]; "b0, b1, seg" is a bias
// per batch segment (rows < seg use b0, the rest b1), which lets the AdaRank
// sweep run two perturbed copies of a module in one batch; plain forward
// passes give b0 == b1. Reductions accumulate in double, as the CPU engine
// does, so that GPU and CPU agree to float32 rounding.
const kernelSource = `
#define ACT_GELU 0
#define ACT_GELU_TANH 1
#define ACT_RELU 2
#define ACT_TANH 3
#define ACT_NONE 4
#define NEG_INF __int_as_float((int)0xff800000)

// block_sum returns the sum of v over the block to every thread. blockDim.x
// must be a multiple of 32 (at most 1024).
// With one warp per block (the row kernels' launch) it is a warp reduction
// without shared memory or barriers.
__device__ double block_sum(double v) {
	__shared__ double partial[32];
	__shared__ double total;
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	if (blockDim.x == 32) return v;
	__syncthreads(); // earlier calls may still read partial / total
	if (lane == 0) partial[warp] = v;
	__syncthreads();
	if (warp == 0) {
		int nw = blockDim.x >> 5;
		double s = lane < nw ? partial[lane] : 0.0;
		for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
		if (lane == 0) total = s;
	}
	__syncthreads();
	return total;
}

// layernorm_row normalises the H values at o in place (the calling thread
// only touches o[c] for c = threadIdx.x + k*blockDim.x, as the writers did):
// o = (o - mean) * rstd * g + b with the population variance, two passes.
// mean and rstd, unless null, receive the row's statistics (for backward).
__device__ void layernorm_row(float* o, float* mean, float* rstd, const float* g, const float* b, int H, float eps) {
	double s = 0.0;
	for (int c = threadIdx.x; c < H; c += blockDim.x) s += (double)o[c];
	float m = (float)(block_sum(s) / (double)H);
	double ss = 0.0;
	for (int c = threadIdx.x; c < H; c += blockDim.x) {
		double d = (double)(o[c] - m);
		ss += d * d;
	}
	float rs = (float)(1.0 / sqrt(block_sum(ss) / (double)H + (double)eps));
	if (threadIdx.x == 0 && mean) { *mean = m; *rstd = rs; }
	for (int c = threadIdx.x; c < H; c += blockDim.x) o[c] = (o[c] - m) * rs * g[c] + b[c];
}

// embed_ln: one block per token row r:
// out[r] = LayerNorm(wte[ids[r]] + wpe[pos[r]] + tte[types[r]]).
extern "C" __global__ void embed_ln(float* out, const int* ids, const int* pos, const int* types,
		const float* wte, const float* wpe, const float* tte, const float* g, const float* b, int H, float eps) {
	long long r = blockIdx.x;
	float* o = out + r * H;
	const float* w = wte + (long long)ids[r] * H;
	const float* p = wpe + (long long)pos[r] * H;
	const float* t = tte + (long long)types[r] * H;
	for (int c = threadIdx.x; c < H; c += blockDim.x) o[c] = (w[c] + p[c]) + t[c];
	layernorm_row(o, 0, 0, g, b, H, eps);
}

// bias_res_ln: one block per row r: out[r] = LayerNorm((x[r] + bias) + res[r]),
// bias = r < seg ? b0 : b1. out may alias res.
extern "C" __global__ void bias_res_ln(float* out, const float* x, const float* b0, const float* b1, int seg,
		const float* res, const float* g, const float* b, int H, float eps) {
	long long r = blockIdx.x;
	const float* bias = r < seg ? b0 : b1;
	float* o = out + r * H;
	const float* xr = x + r * H;
	const float* rr = res + r * H;
	for (int c = threadIdx.x; c < H; c += blockDim.x) o[c] = (xr[c] + bias[c]) + rr[c];
	layernorm_row(o, 0, 0, g, b, H, eps);
}

__device__ float activate(float x, int act) {
	switch (act) {
	case ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
	case ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
	case ACT_RELU: return x > 0.0f ? x : 0.0f;
	case ACT_TANH: return tanhf(x);
	}
	return x;
}

// Row-structured element-wise kernels run on a 2-D grid: blockIdx.y strides
// over rows, x over the columns, so no index needs a (slow) 64-bit division.
#define FOR_ROWS(r, rows) for (long long r = blockIdx.y; r < (rows); r += gridDim.y)
#define FOR_COLS(c, N) for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < (N); c += gridDim.x * blockDim.x)

// bias_act: out[r, j] = act(x[r, j] + bias[j]) over rows x N (in place allowed).
extern "C" __global__ void bias_act(float* out, const float* x, const float* b0, const float* b1, int seg,
		int rows, int N, int act) {
	FOR_ROWS(r, rows) {
		const float* bias = r < seg ? b0 : b1;
		const float* xr = x + r * N;
		float* o = out + r * N;
		FOR_COLS(j, N) o[j] = activate(xr[j] + bias[j], act);
	}
}

// head_offset: where element (row, 0) of a [B*T, nh*hs] matrix lives in the
// [B, nh, T, hs] layout of the batched attention GEMMs (head 0); column col
// adds head_col(col, T, hs).
__device__ __forceinline__ long long head_offset(long long row, int T, int nh, int hs) {
	int bb = (int)(row / T), t = (int)(row - (long long)bb * T);
	return ((long long)bb * nh * T + t) * hs;
}

__device__ __forceinline__ long long head_col(int col, int T, int hs) {
	int h = col / hs;
	return (long long)h * T * hs + (col - h * hs);
}

// bias_permute: x [B*T, nh*hs] (+ bias) -> out [B, nh, T, hs], the layout the
// batched attention GEMMs read.
extern "C" __global__ void bias_permute(float* out, const float* x, const float* b0, const float* b1, int seg,
		int B, int T, int nh, int hs) {
	int C = nh * hs;
	FOR_ROWS(row, (long long)B * T) {
		const float* bias = row < seg ? b0 : b1;
		const float* xr = x + row * C;
		float* o = out + head_offset(row, T, nh, hs);
		FOR_COLS(col, C) o[head_col(col, T, hs)] = xr[col] + bias[col];
	}
}

// unpermute: in [B, nh, T, hs] -> out [B*T, nh*hs].
extern "C" __global__ void unpermute(float* out, const float* in, int B, int T, int nh, int hs) {
	int C = nh * hs;
	FOR_ROWS(row, (long long)B * T) {
		const float* ir = in + head_offset(row, T, nh, hs);
		float* o = out + row * C;
		FOR_COLS(col, C) o[col] = ir[head_col(col, T, hs)];
	}
}

// softmax_row: the calling warp turns row a of T scores into
// softmax(a + m) in place (lane j handles j, j+32, ...). A row whose maximum
// is -inf (every key masked with -inf) becomes uniform, as on the CPU.
__device__ void softmax_row(float* a, const float* m, int T, int lane) {
	float mx = NEG_INF;
	for (int j = lane; j < T; j += 32) {
		float x = a[j] + m[j];
		a[j] = x;
		mx = fmaxf(mx, x);
	}
	for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
	if (mx == NEG_INF) {
		for (int j = lane; j < T; j += 32) a[j] = 1.0f / (float)T;
		return;
	}
	float s = 0.0f;
	for (int j = lane; j < T; j += 32) {
		float e = expf(a[j] - mx);
		a[j] = e;
		s += e;
	}
	for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
	float inv = 1.0f / s;
	for (int j = lane; j < T; j += 32) a[j] *= inv;
}

// softmax_mask: one warp per attention row (b, h, t1) of att [B*nh*Tq, T]
// (Tq queries, T keys per sequence): row = softmax(row + mask[b*T : b*T+T]),
// in place.
extern "C" __global__ void softmax_mask(float* att, const float* mask, int rows, int T, int nh, int Tq) {
	long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	if (row >= rows) return;
	long long b = row / ((long long)nh * Tq);
	softmax_row(att + row * T, mask + b * T, T, threadIdx.x & 31);
}

// gather_cls: out[b] = h[b*T] (the first token of every sequence), rows of H.
extern "C" __global__ void gather_cls(float* out, const float* h, int B, int T, int H) {
	long long n = (long long)B * H;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		long long bb = i / H;
		int c = (int)(i - bb * H);
		out[i] = h[bb * T * H + c];
	}
}

// absdiff_sum: *slot += sum |a[i] - b[i]| over n values (double accumulation).
extern "C" __global__ void absdiff_sum(double* slot, const float* a, const float* b, int n) {
	double s = 0.0;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
		s += fabs((double)a[i] - (double)b[i]);
	s = block_sum(s);
	if (threadIdx.x == 0) atomicAdd(slot, s);
}
`

// Activation codes shared with kernelSource.
const (
	actGelu     = 0
	actGeluTanh = 1
	actRelu     = 2
	actTanh     = 3
	actNone     = 4
)
