package gpu

// trainKernelSource holds the kernels of training (backward ops, dropout,
// losses, AdamW). It is compiled together with kernelSource (whose helpers
// it uses) only when a Trainer is made. Every kernel has a Go twin in
// hostdev_test.go.
//
// Dropout masks are not stored: keep(i) is a hash of (seed, site, i), so
// the backward pass regenerates the forward mask from the same arguments.
// Gradient accumulations into parameters use atomicAdd, so GPU gradients
// are equal to the CPU's to float32 rounding but not bit-reproducible.
const trainKernelSource = `
// drop_scale is 0 with probability p, else 1/(1-p), from a hash of
// (seed, site, i) (splitmix64 finaliser).
__device__ __forceinline__ float drop_scale(float p, long long seed, int site, long long i) {
	unsigned long long x = (unsigned long long)seed ^ ((unsigned long long)(site + 1) * 0x9E3779B97F4A7C15ull)
		^ ((unsigned long long)i * 0xD1B54A32D192ED03ull);
	x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 27; x *= 0x94D049BB133111EBull;
	x ^= x >> 31;
	float u = (float)(x >> 40) * (1.0f / 16777216.0f);
	return u < p ? 0.0f : 1.0f / (1.0f - p);
}

// dropout: out[i] = in[i] * drop_scale(i) (in place allowed); the backward
// pass is the same call on the gradient.
extern "C" __global__ void dropout(float* out, const float* in, long long n, float p, long long seed, int site) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
		out[i] = in[i] * drop_scale(p, seed, site, i);
}

// embed_ln_train: one block per row: sum[r] = wte[ids] + wpe[pos] + tte[types];
// out[r] = LayerNorm(sum[r]) with mean / rstd saved.
extern "C" __global__ void embed_ln_train(float* out, float* sum, float* mean, float* rstd, const int* ids, const int* pos,
		const int* types, const float* wte, const float* wpe, const float* tte, const float* g, const float* b, int H, float eps, int rows) {
	LNF_ROW(r, rows)
	float v[LNF_REG];
	embed_regs(v, sum + r * H, r, ids, pos, types, wte, wpe, tte, H);
	ln_regs(out + r * H, v, mean + r, rstd + r, g, b, H, eps);
}

// res_ln_train: one block per row: sum[r] = res[r] + drop(x[r] + bias);
// out[r] = LayerNorm(sum[r]) with mean / rstd saved (p = 0: no dropout).
extern "C" __global__ void res_ln_train(float* out, float* sum, float* mean, float* rstd, const float* x, const float* bias,
		const float* res, const float* g, const float* b, int H, float eps, float p, long long seed, int site, int rows) {
	LNF_ROW(r, rows)
	float* sm = sum + r * H;
	const float* xr = x + r * H;
	const float* rr = res + r * H;
	float v[LNF_REG];
#pragma unroll
	for (int k = 0; k < LNF_REG; k++) {
		int c = (int)(threadIdx.x + blockDim.x * k);
		if (c < H) {
			float u = xr[c] + bias[c];
			if (p > 0.0f) u *= drop_scale(p, seed, site, r * H + c);
			v[k] = rr[c] + u;
			sm[c] = v[k];
		}
	}
	ln_regs(out + r * H, v, mean + r, rstd + r, g, b, H, eps);
}

// ln_fwd_save: one block per row: out[r] = LayerNorm(x[r]) with mean / rstd saved.
extern "C" __global__ void ln_fwd_save(float* out, float* mean, float* rstd, const float* x, const float* g, const float* b,
		int H, float eps, int rows) {
	LNF_ROW(r, rows)
	const float* xr = x + r * H;
	float v[LNF_REG];
#pragma unroll
	for (int k = 0; k < LNF_REG; k++) {
		int c = (int)(threadIdx.x + blockDim.x * k);
		if (c < H) v[k] = xr[c];
	}
	ln_regs(out + r * H, v, mean + r, rstd + r, g, b, H, eps);
}

// ln_bwd: rows of LayerNorm backward with x the saved LayerNorm input:
// dx = rstd·(dy·g − mean(dy·g) − x̂·mean(dy·g·x̂)) (overwritten);
// dg += Σ dy·x̂, db += Σ dy unless dg is null; unless dxd is null also
// dxd = dx · the dropout mask of (p, seed, site) (the backward of a dropout
// that fed this LayerNorm's input, fused in). One warp per row, values in
// registers (blocks of several warps stride over rows); with dg, the block
// keeps its dg / db partials in shared memory (2·H floats of dynamic shared
// memory) and adds them once.
extern "C" __global__ void ln_bwd(float* dx, float* dxd, float* dg, float* db, const float* dy, const float* x, const float* mean,
		const float* rstd, const float* g, int rows, int H, float p, long long seed, int site) {
	extern __shared__ float acc[];
	int lane = threadIdx.x & 31, nw = blockDim.x >> 5;
	if (dg) {
		for (int c = threadIdx.x; c < 2 * H; c += blockDim.x) acc[c] = 0.0f;
		__syncthreads();
	}
	for (long long r = (long long)blockIdx.x * nw + (threadIdx.x >> 5); r < rows; r += (long long)gridDim.x * nw) {
		const float* dyr = dy + r * H;
		const float* xr = x + r * H;
		float m = mean[r], rs = rstd[r];
		float xh[LN_REG], d[LN_REG];
		double s1 = 0.0, s2 = 0.0;
#pragma unroll
		for (int k = 0; k < LN_REG; k++) {
			int c = lane + 32 * k;
			if (c < H) {
				xh[k] = (xr[c] - m) * rs;
				d[k] = dyr[c] * g[c];
				s1 += (double)d[k];
				s2 += (double)(d[k] * xh[k]);
			}
		}
		float m1 = (float)(warp_sum(s1) / (double)H);
		float m2 = (float)(warp_sum(s2) / (double)H);
		float* dxr = dx + r * H;
#pragma unroll
		for (int k = 0; k < LN_REG; k++) {
			int c = lane + 32 * k;
			if (c < H) {
				float v = rs * (d[k] - m1 - xh[k] * m2);
				dxr[c] = v;
				if (dxd) dxd[r * H + c] = v * drop_scale(p, seed, site, r * H + c);
				if (dg) {
					atomicAdd(acc + c, dyr[c] * xh[k]);
					atomicAdd(acc + H + c, dyr[c]);
				}
			}
		}
	}
	if (!dg) return;
	__syncthreads();
	for (int c = threadIdx.x; c < H; c += blockDim.x) {
		atomicAdd(dg + c, acc[c]);
		atomicAdd(db + c, acc[H + c]);
	}
}

// bias_grad: db[j] += Σ_r dy[r·ld + j]; blockIdx.y takes a slice of the rows.
extern "C" __global__ void bias_grad(float* db, const float* dy, int rows, int N, int ld) {
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= N) return;
	int per = (rows + gridDim.y - 1) / gridDim.y;
	int lo = blockIdx.y * per, hi = min(rows, lo + per);
	float s = 0.0f;
	for (int r = lo; r < hi; r++) s += dy[(long long)r * ld + j];
	if (hi > lo) atomicAdd(db + j, s);
}

// bias_permute3: x [B*T, 3C] (query | key | value columns, C = nh*hs) plus
// their biases -> q, k, v [B, nh, T, hs]: the fused QKV projection's split.
extern "C" __global__ void bias_permute3(float* q, float* k, float* v, const float* x, const float* bq, const float* bk,
		const float* bv, int B, int T, int nh, int hs) {
	int C = nh * hs;
	bool v4 = VEC4(C, hs, x, q) && ALIGNED16(k) && ALIGNED16(v);
	FOR_ROWS(row, (long long)B * T) {
		const float* xr = x + row * 3 * C;
		long long off = head_offset(row, T, nh, hs);
		if (v4) {
			FOR_COLS(c4, 3 * C / 4) {
				int c3 = 4 * c4;
				int which = c3 >= C ? (c3 >= 2 * C ? 2 : 1) : 0, col = c3 - which * C;
				float* out = which == 0 ? q : (which == 1 ? k : v);
				const float* bias = which == 0 ? bq : (which == 1 ? bk : bv);
				float4 u = ((const float4*)xr)[c4];
				u.x += bias[col]; u.y += bias[col + 1]; u.z += bias[col + 2]; u.w += bias[col + 3];
				*(float4*)(out + off + head_col(col, T, hs)) = u;
			}
			continue;
		}
		FOR_COLS(c3, 3 * C) {
			int which = c3 >= C ? (c3 >= 2 * C ? 2 : 1) : 0, col = c3 - which * C;
			float* out = which == 0 ? q : (which == 1 ? k : v);
			const float* bias = which == 0 ? bq : (which == 1 ? bk : bv);
			out[off + head_col(col, T, hs)] = xr[c3] + bias[col];
		}
	}
}

// unpermute3: dq, dk, dv [B, nh, T, hs] -> dx [B*T, 3C] (query | key | value columns).
extern "C" __global__ void unpermute3(float* dx, const float* dq, const float* dk, const float* dv, int B, int T, int nh, int hs) {
	int C = nh * hs;
	bool v4 = VEC4(C, hs, dx, dq) && ALIGNED16(dk) && ALIGNED16(dv);
	FOR_ROWS(row, (long long)B * T) {
		float* o = dx + row * 3 * C;
		long long off = head_offset(row, T, nh, hs);
		if (v4) {
			FOR_COLS(c4, 3 * C / 4) {
				int c3 = 4 * c4;
				int which = c3 >= C ? (c3 >= 2 * C ? 2 : 1) : 0, col = c3 - which * C;
				const float* in = which == 0 ? dq : (which == 1 ? dk : dv);
				((float4*)o)[c4] = *(const float4*)(in + off + head_col(col, T, hs));
			}
			continue;
		}
		FOR_COLS(c3, 3 * C) {
			int which = c3 >= C ? (c3 >= 2 * C ? 2 : 1) : 0, col = c3 - which * C;
			const float* in = which == 0 ? dq : (which == 1 ? dk : dv);
			o[c3] = in[off + head_col(col, T, hs)];
		}
	}
}

// bias_act_save: pre = x + bias; out = act(pre) over rows × N.
extern "C" __global__ void bias_act_save(float* out, float* pre, const float* x, const float* bias, int rows, int N, int act) {
	bool v4 = VEC4(N, 4, x, out) && ALIGNED16(pre);
	FOR_ROWS(r, rows) {
		const float* xr = x + r * N;
		float* pr = pre + r * N;
		float* o = out + r * N;
		if (v4) {
			FOR_COLS(j4, N / 4) {
				int j = 4 * j4;
				float4 u = ((const float4*)xr)[j4];
				u.x += bias[j]; u.y += bias[j + 1]; u.z += bias[j + 2]; u.w += bias[j + 3];
				((float4*)pr)[j4] = u;
				u.x = activate(u.x, act); u.y = activate(u.y, act); u.z = activate(u.z, act); u.w = activate(u.w, act);
				((float4*)o)[j4] = u;
			}
			continue;
		}
		FOR_COLS(j, N) {
			float v = xr[j] + bias[j];
			pr[j] = v;
			o[j] = activate(v, act);
		}
	}
}

// act_deriv is act'(v) (for ACT_TANH, v is the output y: 1 − y²).
__device__ __forceinline__ float act_deriv(float v, int act) {
	switch (act) {
	case ACT_GELU: {
		float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
		float pdf = expf(-0.5f * v * v) * 0.39894228040143267794f;
		return cdf + v * pdf;
	}
	case ACT_GELU_TANH: {
		float u = 0.79788456080286535588f * (v + 0.044715f * v * v * v);
		float t = tanhf(u);
		float du = 0.79788456080286535588f * (1.0f + 3.0f * 0.044715f * v * v);
		return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du;
	}
	case ACT_RELU: return v > 0.0f ? 1.0f : 0.0f;
	case ACT_TANH: return 1.0f - v * v;
	}
	return 1.0f;
}

// act_bwd: dx = dy · act'(x) with x the activation's input (overwritten);
// for ACT_TANH, x is the activation's output y and act' = 1 − y².
extern "C" __global__ void act_bwd(float* dx, const float* dy, const float* x, long long n, int act) {
	long long i0 = (long long)blockIdx.x * blockDim.x + threadIdx.x, step = (long long)gridDim.x * blockDim.x;
	if ((n & 3) == 0 && ALIGNED16(dx) && ALIGNED16(dy) && ALIGNED16(x)) { // float4 path
		for (long long i = i0; i < n / 4; i += step) {
			float4 v = ((const float4*)x)[i], d = ((const float4*)dy)[i];
			d.x *= act_deriv(v.x, act); d.y *= act_deriv(v.y, act); d.z *= act_deriv(v.z, act); d.w *= act_deriv(v.w, act);
			((float4*)dx)[i] = d;
		}
		return;
	}
	for (long long i = i0; i < n; i += step) dx[i] = dy[i] * act_deriv(x[i], act);
}

// drop4 applies the dropout masks of elements i..i+3 to d.
__device__ __forceinline__ float4 drop4(float4 d, float p, long long seed, int site, long long i) {
	d.x *= drop_scale(p, seed, site, i);
	d.y *= drop_scale(p, seed, site, i + 1);
	d.z *= drop_scale(p, seed, site, i + 2);
	d.w *= drop_scale(p, seed, site, i + 3);
	return d;
}

// softmax_bwd: one warp per row of T: ds = p·(dp' − Σ dp'·p) with
// dp' = dp times the attention-dropout mask of (pd, seed, site) when pd > 0
// (the dropout backward fused in; ds may alias dp).
extern "C" __global__ void softmax_bwd(float* ds, const float* p, const float* dp, int rows, int T, float pd, long long seed, int site) {
	long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	int lane = threadIdx.x & 31;
	if (row >= rows) return;
	const float* pr = p + row * T;
	const float* dr = dp + row * T;
	float* o = ds + row * T;
	if (ROW4(T, pr, dr) && ALIGNED16(o)) {
		const float4* p4 = (const float4*)pr;
		const float4* d4 = (const float4*)dr;
		float4* o4 = (float4*)o;
		int T4 = T >> 2;
		long long base = row * T;
		float s = 0.0f;
		for (int j = lane; j < T4; j += 32) {
			float4 x = p4[j], d = d4[j];
			if (pd > 0.0f) d = drop4(d, pd, seed, site, base + 4 * j);
			s += x.x * d.x; s += x.y * d.y; s += x.z * d.z; s += x.w * d.w;
		}
		for (int k = 16; k > 0; k >>= 1) s += __shfl_xor_sync(0xffffffffu, s, k);
		for (int j = lane; j < T4; j += 32) {
			float4 x = p4[j], d = d4[j];
			if (pd > 0.0f) d = drop4(d, pd, seed, site, base + 4 * j);
			o4[j] = make_float4(x.x * (d.x - s), x.y * (d.y - s), x.z * (d.z - s), x.w * (d.w - s));
		}
		return;
	}
	float s = 0.0f;
	for (int j = lane; j < T; j += 32) {
		float d = dr[j];
		if (pd > 0.0f) d *= drop_scale(pd, seed, site, row * T + j);
		s += pr[j] * d;
	}
	for (int k = 16; k > 0; k >>= 1) s += __shfl_xor_sync(0xffffffffu, s, k);
	for (int j = lane; j < T; j += 32) {
		float d = dr[j];
		if (pd > 0.0f) d *= drop_scale(pd, seed, site, row * T + j);
		o[j] = pr[j] * (d - s);
	}
}

// softmax_mask_drop: softmax_mask on att (one warp per row) and, in the
// same pass, attDrop = att · the dropout mask of (p, seed, site) over the
// flattened index row·T + j, as the dropout kernel would write it.
extern "C" __global__ void softmax_mask_drop(float* att, float* attDrop, const float* mask, int rows, int T, int nh, int Tq,
		float p, long long seed, int site) {
	long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
	int lane = threadIdx.x & 31;
	if (row >= rows) return;
	long long b = row / ((long long)nh * Tq);
	float* a = att + row * T;
	softmax_row(a, mask + b * T, T, lane);
	float* ad = attDrop + row * T;
	if (ROW4(T, a, mask + b * T)) { // softmax_row's float4 split: the lane's own groups
		const float4* a4 = (const float4*)a;
		float4* ad4 = (float4*)ad;
		if (ALIGNED16(ad)) {
			for (int j = lane; j < (T >> 2); j += 32) {
				ad4[j] = drop4(a4[j], p, seed, site, row * T + 4 * j);
			}
		} else {
			for (int j = lane; j < (T >> 2); j += 32)
				for (int q = 0; q < 4; q++) ad[4 * j + q] = a[4 * j + q] * drop_scale(p, seed, site, row * T + 4 * j + q);
		}
		return;
	}
	for (int j = lane; j < T; j += 32) ad[j] = a[j] * drop_scale(p, seed, site, row * T + j); // the lane's own a[j]
}

// block_max_arg returns the block's largest v (first index on ties) to every thread.
__device__ void block_max_arg(float* v, int* idx) {
	__shared__ float pv[32];
	__shared__ int pi[32];
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	float x = *v;
	int k = *idx;
	for (int o = 16; o > 0; o >>= 1) {
		float y = __shfl_xor_sync(0xffffffffu, x, o);
		int l = __shfl_xor_sync(0xffffffffu, k, o);
		if (y > x || (y == x && l < k)) { x = y; k = l; }
	}
	__syncthreads();
	if (lane == 0) { pv[warp] = x; pi[warp] = k; }
	__syncthreads();
	int nw = blockDim.x >> 5;
	x = pv[0]; k = pi[0];
	for (int w = 1; w < nw; w++) {
		if (pv[w] > x || (pv[w] == x && pi[w] < k)) { x = pv[w]; k = pi[w]; }
	}
	*v = x; *idx = k;
}

// xent: one block per row of V logits, label lab[r]: loss[r] = logsumexp −
// logit[label]; pred[r] = argmax (as a float); the logits are replaced by
// their gradient scale·(softmax − onehot).
extern "C" __global__ void xent(float* logits, float* loss, float* pred, const int* lab, int V, float scale) {
	long long r = blockIdx.x;
	float* x = logits + r * V;
	float mx = NEG_INF;
	int arg = 0x7fffffff;
	for (int j = threadIdx.x; j < V; j += blockDim.x) {
		if (x[j] > mx) { mx = x[j]; arg = j; }
	}
	block_max_arg(&mx, &arg);
	double s = 0.0;
	for (int j = threadIdx.x; j < V; j += blockDim.x) s += (double)expf(x[j] - mx);
	s = block_sum(s);
	int y = lab[r];
	float lse = (float)log(s);
	float xy = x[y];
	__syncthreads();
	if (threadIdx.x == 0) {
		loss[r] = lse - (xy - mx);
		pred[r] = (float)arg;
	}
	float inv = (float)(1.0 / s);
	for (int j = threadIdx.x; j < V; j += blockDim.x) {
		float p = expf(x[j] - mx) * inv;
		x[j] = scale * (j == y ? p - 1.0f : p);
	}
}

// gather_rows: out[i] = in[idx[i]] for n rows of H.
extern "C" __global__ void gather_rows(float* out, const float* in, const int* idx, int n, int H) {
	long long tot = (long long)n * H;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < tot; i += (long long)gridDim.x * blockDim.x) {
		long long r = i / H;
		int c = (int)(i - r * H);
		out[i] = in[(long long)idx[r] * H + c];
	}
}

// scatter_add_rows: dst[idx[i]] += src[i] for n rows of H (atomic: indices may repeat).
extern "C" __global__ void scatter_add_rows(float* dst, const float* src, const int* idx, int n, int H) {
	long long tot = (long long)n * H;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < tot; i += (long long)gridDim.x * blockDim.x) {
		long long r = i / H;
		int c = (int)(i - r * H);
		atomicAdd(dst + (long long)idx[r] * H + c, src[i]);
	}
}

// scatter_cls_add: dh[b*T] += dcls[b] (the first token of every sequence), rows of H.
extern "C" __global__ void scatter_cls_add(float* dh, const float* dcls, int B, int T, int H) {
	long long n = (long long)B * H;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		long long bb = i / H;
		int c = (int)(i - bb * H);
		dh[bb * T * H + c] += dcls[i];
	}
}

// sumsq: *slot += Σ x[i]² (double accumulation).
extern "C" __global__ void sumsq(double* slot, const float* x, long long n) {
	double s = 0.0;
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
		s += (double)x[i] * (double)x[i];
	s = block_sum(s);
	if (threadIdx.x == 0) atomicAdd(slot, s);
}

// adamw: one AdamW step as optim.AdamW.Update, on the gradient times gs
// (the clipping factor): m = b1·m + (1−b1)·g; v = b2·v + (1−b2)·g²;
// p = p·decay − step·m / (√v / sqrtbc2 + eps).
extern "C" __global__ void adamw(float* p, const float* g, float* m, float* v, long long n, float gs, float b1, float b2,
		float step, float sqrtbc2, float decay, float eps) {
	for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
		float gi = g[i] * gs;
		float mi = b1 * m[i] + (1.0f - b1) * gi;
		float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
		m[i] = mi;
		v[i] = vi;
		float denom = sqrtf(vi) / sqrtbc2 + eps;
		p[i] = p[i] * decay - step * mi / denom;
	}
}
`
