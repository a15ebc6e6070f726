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

// The forward LayerNorm kernels run one block per row (the row count is
// the last argument); thread t keeps the row's values c = t + blockDim·k in
// registers, k < LNF_REG = ceil(H / blockDim), and ln_bwd's warps
// (one per row) keep c = lane + 32k, k < LN_REG = ceil(H / 32). Both are
// defined for the model at compile time (NVRTC options -DLNF_REG, -DLN_REG).
#ifndef LN_REG
#define LN_REG 32
#endif
#ifndef LNF_REG
#define LNF_REG 8
#endif
#define LNF_ROW(r, rows) \
	long long r = blockIdx.x; \
	if (r >= (rows)) return;

__device__ __forceinline__ double warp_sum(double v) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

// ln_regs writes o[c] = (v - mean) * rstd * g[c] + b[c] for the calling
// thread's values v[k] (c = threadIdx.x + blockDim.x·k < H): population
// variance, two passes, double sums. mean and rstd, unless null, receive the
// row's statistics.
__device__ __forceinline__ void ln_regs(float* o, float (&v)[LNF_REG], float* mean, float* rstd, const float* g, const float* b,
		int H, float eps) {
	double s = 0.0;
#pragma unroll
	for (int k = 0; k < LNF_REG; k++)
		if ((int)(threadIdx.x + blockDim.x * k) < H) s += (double)v[k];
	float m = (float)(block_sum(s) / (double)H);
	double ss = 0.0;
#pragma unroll
	for (int k = 0; k < LNF_REG; k++)
		if ((int)(threadIdx.x + blockDim.x * k) < H) {
			double d = (double)(v[k] - m);
			ss += d * d;
		}
	float rs = (float)(1.0 / sqrt(block_sum(ss) / (double)H + (double)eps));
	if (threadIdx.x == 0 && mean) { *mean = m; *rstd = rs; }
#pragma unroll
	for (int k = 0; k < LNF_REG; k++) {
		int c = (int)(threadIdx.x + blockDim.x * k);
		if (c < H) o[c] = (v[k] - m) * rs * g[c] + b[c];
	}
}

// embed_regs loads token row r's embedding sum wte[ids[r]] + wpe[pos[r]] +
// tte[types[r]] into the calling thread's registers (ln_regs' split), and
// into sm unless it is null.
__device__ __forceinline__ void embed_regs(float (&v)[LNF_REG], float* sm, long long r, const int* ids, const int* pos,
		const int* types, const float* wte, const float* wpe, const float* tte, int H) {
	const float* w = wte + (long long)ids[r] * H;
	const float* p = wpe + (long long)pos[r] * H;
	const float* t = tte + (long long)types[r] * H;
#pragma unroll
	for (int k = 0; k < LNF_REG; k++) {
		int c = (int)(threadIdx.x + blockDim.x * k);
		if (c < H) {
			v[k] = (w[c] + p[c]) + t[c];
			if (sm) sm[c] = v[k];
		}
	}
}

// embed_ln: one block per token row r:
// out[r] = LayerNorm(wte[ids[r]] + wpe[pos[r]] + tte[types[r]]).
extern "C" __global__ void embed_ln(float* out, const int* ids, const int* pos, const int* types,
		const float* wte, const float* wpe, const float* tte, const float* g, const float* b, int H, float eps, int rows) {
	LNF_ROW(r, rows)
	float v[LNF_REG];
	embed_regs(v, 0, r, ids, pos, types, wte, wpe, tte, H);
	ln_regs(out + r * H, v, 0, 0, g, b, H, eps);
}

// bias_res_ln: one block per row r: out[r] = LayerNorm((x[r] + bias) + res[r]),
// bias = r < seg ? b0 : b1. out may alias res.
extern "C" __global__ void bias_res_ln(float* out, const float* x, const float* b0, const float* b1, int seg,
		const float* res, const float* g, const float* b, int H, float eps, int rows) {
	LNF_ROW(r, rows)
	const float* bias = r < seg ? b0 : b1;
	const float* xr = x + r * H;
	const float* rr = res + r * H;
	float v[LNF_REG];
#pragma unroll
	for (int k = 0; k < LNF_REG; k++) {
		int c = (int)(threadIdx.x + blockDim.x * k);
		if (c < H) v[k] = (xr[c] + bias[c]) + rr[c];
	}
	ln_regs(out + r * H, v, 0, 0, g, b, H, eps);
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

// VEC4 is true when rows of N floats at the given pointers can be moved as
// float4 (16-byte aligned, N and the head size multiples of 4): each thread
// then handles 4 columns, which keeps enough loads in flight for the
// memory bandwidth.
#define ALIGNED16(p) ((((unsigned long long)(p)) & 15ull) == 0)
#define VEC4(N, hs, p, q) ((((N) | (hs)) & 3) == 0 && ALIGNED16(p) && ALIGNED16(q))

// bias_act: out[r, j] = act(x[r, j] + bias[j]) over rows x N (in place allowed).
extern "C" __global__ void bias_act(float* out, const float* x, const float* b0, const float* b1, int seg,
		int rows, int N, int act) {
	bool v4 = VEC4(N, 4, x, out);
	FOR_ROWS(r, rows) {
		const float* bias = r < seg ? b0 : b1;
		const float* xr = x + r * N;
		float* o = out + r * N;
		if (v4) {
			FOR_COLS(j4, N / 4) {
				int j = 4 * j4;
				float4 v = ((const float4*)xr)[j4];
				v.x = activate(v.x + bias[j], act);
				v.y = activate(v.y + bias[j + 1], act);
				v.z = activate(v.z + bias[j + 2], act);
				v.w = activate(v.w + bias[j + 3], act);
				((float4*)o)[j4] = v;
			}
		} else {
			FOR_COLS(j, N) o[j] = activate(xr[j] + bias[j], act);
		}
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
	bool v4 = VEC4(C, hs, x, out);
	FOR_ROWS(row, (long long)B * T) {
		const float* bias = row < seg ? b0 : b1;
		const float* xr = x + row * C;
		float* o = out + head_offset(row, T, nh, hs);
		if (v4) {
			FOR_COLS(c4, C / 4) {
				int col = 4 * c4;
				float4 v = ((const float4*)xr)[c4];
				v.x += bias[col]; v.y += bias[col + 1]; v.z += bias[col + 2]; v.w += bias[col + 3];
				*(float4*)(o + head_col(col, T, hs)) = v;
			}
		} else {
			FOR_COLS(col, C) o[head_col(col, T, hs)] = xr[col] + bias[col];
		}
	}
}

// unpermute: in [B, nh, T, hs] -> out [B*T, nh*hs].
extern "C" __global__ void unpermute(float* out, const float* in, int B, int T, int nh, int hs) {
	int C = nh * hs;
	bool v4 = VEC4(C, hs, in, out);
	FOR_ROWS(row, (long long)B * T) {
		const float* ir = in + head_offset(row, T, nh, hs);
		float* o = out + row * C;
		if (v4) {
			FOR_COLS(c4, C / 4) ((float4*)o)[c4] = *(const float4*)(ir + head_col(4 * c4, T, hs));
		} else {
			FOR_COLS(col, C) o[col] = ir[head_col(col, T, hs)];
		}
	}
}

// softmax_row: the calling warp turns row a of T scores into
// softmax(a + m) in place. Lane j handles the float4 groups j, j+32, ...
// when the row can be read as float4s (ROW4: T a multiple of 4, 16-byte
// aligned rows), else the elements j, j+32, ...; callers that touch the row
// afterwards use the same split. A row whose maximum is -inf (every key
// masked with -inf) becomes uniform, as on the CPU.
#define ROW4(T, p, q) ((((T) & 3) == 0) && ALIGNED16(p) && ALIGNED16(q))

__device__ __forceinline__ float max4(float4 x) { return fmaxf(fmaxf(x.x, x.y), fmaxf(x.z, x.w)); }

__device__ void softmax_row(float* a, const float* m, int T, int lane) {
	if (ROW4(T, a, m)) {
		float4* a4 = (float4*)a;
		const float4* m4 = (const float4*)m;
		int T4 = T >> 2;
		float mx = NEG_INF;
		for (int j = lane; j < T4; j += 32) {
			float4 x = a4[j], y = m4[j];
			x.x += y.x; x.y += y.y; x.z += y.z; x.w += y.w;
			a4[j] = x;
			mx = fmaxf(mx, max4(x));
		}
		for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
		if (mx == NEG_INF) {
			float u = 1.0f / (float)T;
			for (int j = lane; j < T4; j += 32) a4[j] = make_float4(u, u, u, u);
			return;
		}
		float s = 0.0f;
		for (int j = lane; j < T4; j += 32) {
			float4 x = a4[j];
			x.x = expf(x.x - mx); x.y = expf(x.y - mx); x.z = expf(x.z - mx); x.w = expf(x.w - mx);
			a4[j] = x;
			s += x.x; s += x.y; s += x.z; s += x.w;
		}
		for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
		float inv = 1.0f / s;
		for (int j = lane; j < T4; j += 32) {
			float4 x = a4[j];
			x.x *= inv; x.y *= inv; x.z *= inv; x.w *= inv;
			a4[j] = x;
		}
		return;
	}
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

// philox4x32: Philox-4x32-10 on counter c under key (k0, k1), in place
// (adarank.Philox4x32).
__device__ __forceinline__ void philox4x32(unsigned int c[4], unsigned int k0, unsigned int k1) {
	for (int r = 0; r < 10; r++) {
		unsigned int hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
		unsigned int hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
		unsigned int n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
		c[0] = n0; c[1] = lo1; c[2] = n2; c[3] = lo0;
		k0 += 0x9E3779B9u;
		k1 += 0xBB67AE85u;
	}
}

// box_muller: two standard normals from two uniform words, in double
// (u1 = (a+1)/2^32, u2 = b/2^32), as adarank.PerturbPhilox.
__device__ __forceinline__ void box_muller(unsigned int a, unsigned int b, double* z0, double* z1) {
	double u1 = ((double)a + 1.0) * (1.0 / 4294967296.0);
	double u2 = (double)b * (1.0 / 4294967296.0);
	double rad = sqrt(-2.0 * log(u1));
	double s, c;
	sincos(6.283185307179586 * u2, &s, &c);
	*z0 = rad * c;
	*z1 = rad * s;
}

// perturb_philox: out[i] = w[i] + sd·z_i with the normals of
// adarank.PerturbPhilox (block i/4 of counter (i/4, which, stream) under
// key seed); one thread per block of 4.
extern "C" __global__ void perturb_philox(float* out, const float* w, long long n, float sd, long long seed, long long stream, int which) {
	long long nb = (n + 3) / 4;
	unsigned long long sd64 = (unsigned long long)seed, st64 = (unsigned long long)stream;
	for (long long i4 = (long long)blockIdx.x * blockDim.x + threadIdx.x; i4 < nb; i4 += (long long)gridDim.x * blockDim.x) {
		unsigned int c[4] = {(unsigned int)i4, (unsigned int)which, (unsigned int)st64, (unsigned int)(st64 >> 32)};
		philox4x32(c, (unsigned int)sd64, (unsigned int)(sd64 >> 32));
		double z[4];
		box_muller(c[0], c[1], &z[0], &z[1]);
		box_muller(c[2], c[3], &z[2], &z[3]);
		for (int k = 0; k < 4; k++) {
			long long i = 4 * i4 + k;
			if (i < n) out[i] = w[i] + (float)(z[k] * (double)sd);
		}
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
