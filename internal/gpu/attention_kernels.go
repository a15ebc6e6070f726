package gpu

// attnSource holds the fused attention kernels of the tf32 and bf16 modes,
// compiled with kernelSource (whose NEG_INF it uses): attn_tc for sequences
// of up to 128 tokens, attn_tc_tiled for longer ones. ATT_HS, the head
// size, is set per model at compile time (a multiple of 8, at most 128).
const attnSource = `
#ifndef ATT_HS
#define ATT_HS 64
#endif
#define ATT_TMAX 128         // longest sequence of attn_tc
#define ATT_KT 128           // keys per shared-memory tile of attn_tc_tiled
#define ATT_ROWS 128         // query rows per block: 8 warps of 16
#define ATT_KS (ATT_HS + 4)  // shared row strides that make the fragment loads conflict-free
#define ATT_VS (ATT_HS + 8)
#define ATT_RSTEP (1024 / ATT_HS) // tile rows loaded per pass of 256 threads, a float4 each

__device__ __forceinline__ unsigned to_tf32(float x) {
	unsigned r;
	asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
	return r;
}

// mma_tf32: d += a·b for one 16×8×8 tile (PTX mma.m16n8k8, tf32 in, fp32 accumulate).
// Lane (g = lane/4, t = lane%4) holds a = A[g][t], A[g+8][t], A[g][t+4], A[g+8][t+4];
// b = B[t][g], B[t+4][g]; d = D[g][2t], D[g][2t+1], D[g+8][2t], D[g+8][2t+1].
__device__ __forceinline__ void mma_tf32(float d[4], const unsigned a[4], unsigned b0, unsigned b1) {
	asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
		: "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// attn_tc: softmax(q·kᵀ·scale + mask)·v for head h = blockIdx.x % nh of
// sequence b = blockIdx.x / nh, query rows blockIdx.y*ATT_ROWS ... of Tq,
// written to ctx [B*Tq, nh*ATT_HS]. q [.., Tq rows per sequence], k and v
// [.., T rows] are the projections as their GEMMs wrote them (16-byte
// aligned), biases not yet added: tensor x of sequence b is read from
// sequence b % modx (copies that share it) and takes bias bx0 if its rows
// lie below segx, else bx1 (segments are whole sequences). mask is the
// additive key mask [B*T]. K and V (biased, rounded to tf32) sit in dynamic
// shared memory; scores and probabilities stay in registers.
extern "C" __global__ void __launch_bounds__(256) attn_tc(float* ctx, const float* q, const float* k, const float* v,
		const float* bq0, const float* bq1, int segq, int modq, const float* bk0, const float* bk1, int segk, int modk,
		const float* bv0, const float* bv1, int segv, int modv, const float* mask, int T, int Tq, int nh, float scale) {
	extern __shared__ float att_sm[];
	const int hs = ATT_HS, H = nh * ATT_HS;
	int b = blockIdx.x / nh, h = blockIdx.x - b * nh;
	int Tp = (T + 7) & ~7;
	float* Ks = att_sm;
	float* Vs = att_sm + Tp * ATT_KS;
	{
		// Thread i loads float4 column c4 of rows i/HS4, i/HS4 + RSTEP, ...
		// (all loads of a thread issued before their first use).
		const int HS4 = ATT_HS / 4, RSTEP = 256 / HS4;
		int c4 = threadIdx.x % HS4, t0 = threadIdx.x / HS4;
		const float4* kb = (const float4*)(k + (long long)(b % modk) * T * H + h * hs) + c4;
		const float4* vb = (const float4*)(v + (long long)(b % modv) * T * H + h * hs) + c4;
		float4 bk = ((const float4*)(((long long)b * T < segk ? bk0 : bk1) + h * hs))[c4];
		float4 bv = ((const float4*)(((long long)b * T < segv ? bv0 : bv1) + h * hs))[c4];
		float4 kr[ATT_TMAX / RSTEP], vr[ATT_TMAX / RSTEP];
#pragma unroll
		for (int it = 0; it < ATT_TMAX / RSTEP; it++) {
			int t = t0 + it * RSTEP;
			kr[it] = vr[it] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
			if (t < T) {
				kr[it] = kb[(long long)t * (H / 4)];
				vr[it] = vb[(long long)t * (H / 4)];
			}
		}
#pragma unroll
		for (int it = 0; it < ATT_TMAX / RSTEP; it++) {
			int t = t0 + it * RSTEP;
			if (t < Tp) {
				float4 x = kr[it], y = vr[it];
				if (t < T) {
					x.x += bk.x; x.y += bk.y; x.z += bk.z; x.w += bk.w;
					y.x += bv.x; y.y += bv.y; y.z += bv.z; y.w += bv.w;
				}
				float* ks = Ks + t * ATT_KS + 4 * c4;
				float* vs = Vs + t * ATT_VS + 4 * c4;
				ks[0] = __uint_as_float(to_tf32(x.x)); ks[1] = __uint_as_float(to_tf32(x.y));
				ks[2] = __uint_as_float(to_tf32(x.z)); ks[3] = __uint_as_float(to_tf32(x.w));
				vs[0] = __uint_as_float(to_tf32(y.x)); vs[1] = __uint_as_float(to_tf32(y.y));
				vs[2] = __uint_as_float(to_tf32(y.z)); vs[3] = __uint_as_float(to_tf32(y.w));
			}
		}
	}
	__syncthreads();
	int lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
	int r0 = blockIdx.y * ATT_ROWS + (threadIdx.x >> 5) * 16;
	if (r0 >= Tq) return; // warp-uniform
	int ra = r0 + g, rb = ra + 8;
	// Query fragments of rows ra, rb (zero beyond Tq).
	unsigned qa[ATT_HS / 8][4];
	{
		const float* qs = q + (long long)(b % modq) * Tq * H + h * hs;
		const float* ba = ((long long)b * Tq < segq ? bq0 : bq1) + h * hs;
		const float* bb = ba;
#pragma unroll
		for (int ks = 0; ks < ATT_HS / 8; ks++) {
			int d0 = ks * 8 + t4, d1 = d0 + 4;
			float x0 = 0.0f, x1 = 0.0f, x2 = 0.0f, x3 = 0.0f;
			if (ra < Tq) {
				x0 = qs[(long long)ra * H + d0] + ba[d0];
				x2 = qs[(long long)ra * H + d1] + ba[d1];
			}
			if (rb < Tq) {
				x1 = qs[(long long)rb * H + d0] + bb[d0];
				x3 = qs[(long long)rb * H + d1] + bb[d1];
			}
			qa[ks][0] = to_tf32(x0); qa[ks][1] = to_tf32(x1); qa[ks][2] = to_tf32(x2); qa[ks][3] = to_tf32(x3);
		}
	}
	// Scores: s[nt] is the 16×8 tile of keys nt*8 ...
	float s[ATT_TMAX / 8][4];
#pragma unroll
	for (int nt = 0; nt < ATT_TMAX / 8; nt++) {
		s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
		if (nt * 8 < Tp) {
#pragma unroll
			for (int ks = 0; ks < ATT_HS / 8; ks++) {
				const float* kr = Ks + (nt * 8 + g) * ATT_KS + ks * 8 + t4;
				mma_tf32(s[nt], qa[ks], __float_as_uint(kr[0]), __float_as_uint(kr[4]));
			}
		}
	}
	// Masked softmax of rows ra (s[.][0..1]) and rb (s[.][2..3]); the four
	// lanes of a group hold one row between them. As softmax_row: x = s·scale
	// + mask; a row whose maximum is -inf becomes uniform.
	const float* m = mask + (long long)b * T;
	float mxa = NEG_INF, mxb = NEG_INF;
#pragma unroll
	for (int nt = 0; nt < ATT_TMAX / 8; nt++) {
		if (nt * 8 < Tp) {
#pragma unroll
			for (int e = 0; e < 2; e++) {
				int j = nt * 8 + 2 * t4 + e;
				float mj = j < T ? m[j] : 0.0f;
				s[nt][e] = j < T ? s[nt][e] * scale + mj : NEG_INF;
				s[nt][2 + e] = j < T ? s[nt][2 + e] * scale + mj : NEG_INF;
				mxa = fmaxf(mxa, s[nt][e]);
				mxb = fmaxf(mxb, s[nt][2 + e]);
			}
		}
	}
	for (int o = 1; o < 4; o <<= 1) {
		mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, o));
		mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, o));
	}
	float suma = 0.0f, sumb = 0.0f;
#pragma unroll
	for (int nt = 0; nt < ATT_TMAX / 8; nt++) {
		if (nt * 8 < Tp) {
#pragma unroll
			for (int e = 0; e < 2; e++) {
				int j = nt * 8 + 2 * t4 + e;
				float u = j < T ? 1.0f : 0.0f;
				s[nt][e] = mxa == NEG_INF ? u : expf(s[nt][e] - mxa);
				s[nt][2 + e] = mxb == NEG_INF ? u : expf(s[nt][2 + e] - mxb);
				suma += s[nt][e];
				sumb += s[nt][2 + e];
			}
		}
	}
	for (int o = 1; o < 4; o <<= 1) {
		suma += __shfl_xor_sync(0xffffffffu, suma, o);
		sumb += __shfl_xor_sync(0xffffffffu, sumb, o);
	}
	float inva = 1.0f / suma, invb = 1.0f / sumb;
	// Context: o[nt] is the 16×8 tile of dimensions nt*8 ...; the
	// probabilities move from the accumulator layout to the A-fragment layout
	// by shuffles within each group of four lanes.
	float o[ATT_HS / 8][4];
#pragma unroll
	for (int nt = 0; nt < ATT_HS / 8; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
	int srcA = (lane & ~3) | (t4 >> 1), srcB = srcA + 2;
	bool odd = (t4 & 1) != 0;
#pragma unroll
	for (int kt = 0; kt < ATT_TMAX / 8; kt++) {
		if (kt * 8 < Tp) {
			float p0 = __shfl_sync(0xffffffffu, s[kt][0], srcA), p1 = __shfl_sync(0xffffffffu, s[kt][1], srcA);
			float p2 = __shfl_sync(0xffffffffu, s[kt][2], srcA), p3 = __shfl_sync(0xffffffffu, s[kt][3], srcA);
			float q0 = __shfl_sync(0xffffffffu, s[kt][0], srcB), q1 = __shfl_sync(0xffffffffu, s[kt][1], srcB);
			float q2 = __shfl_sync(0xffffffffu, s[kt][2], srcB), q3 = __shfl_sync(0xffffffffu, s[kt][3], srcB);
			unsigned a[4] = {to_tf32((odd ? p1 : p0) * inva), to_tf32((odd ? p3 : p2) * invb),
				to_tf32((odd ? q1 : q0) * inva), to_tf32((odd ? q3 : q2) * invb)};
#pragma unroll
			for (int nt = 0; nt < ATT_HS / 8; nt++) {
				const float* vr = Vs + (kt * 8 + t4) * ATT_VS + nt * 8 + g;
				mma_tf32(o[nt], a, __float_as_uint(vr[0]), __float_as_uint(vr[4 * ATT_VS]));
			}
		}
	}
	float* ca = ctx + ((long long)b * Tq + ra) * H + h * hs + 2 * t4;
	float* cb = ca + 8LL * H;
#pragma unroll
	for (int nt = 0; nt < ATT_HS / 8; nt++) {
		if (ra < Tq) { ca[nt * 8] = o[nt][0]; ca[nt * 8 + 1] = o[nt][1]; }
		if (rb < Tq) { cb[nt * 8] = o[nt][2]; cb[nt * 8 + 1] = o[nt][3]; }
	}
}

// attn_load_tile: keys and values k0 ... k0+Tt-1 (bias added, rounded to
// tf32; rows up to Tp zero) into Ks, Vs. Thread (t0, c4) loads float4 column
// c4 of rows t0, t0 + ATT_RSTEP, ..., DEPTH rows' loads issued before their
// first use: a deeper batch hides more latency and holds more registers.
template <int DEPTH>
__device__ __forceinline__ void attn_load_tile(float* Ks, float* Vs, const float4* kb, const float4* vb, float4 bk, float4 bv,
		int k0, int Tt, int Tp, int t0, int c4, int H4) {
#pragma unroll
	for (int i0 = 0; i0 < ATT_KT / ATT_RSTEP; i0 += DEPTH) {
		float4 kr[DEPTH], vr[DEPTH];
#pragma unroll
		for (int it = 0; it < DEPTH; it++) {
			int t = t0 + (i0 + it) * ATT_RSTEP;
			kr[it] = vr[it] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
			if (t < Tt) {
				kr[it] = kb[(long long)(k0 + t) * H4];
				vr[it] = vb[(long long)(k0 + t) * H4];
			}
		}
#pragma unroll
		for (int it = 0; it < DEPTH; it++) {
			int t = t0 + (i0 + it) * ATT_RSTEP;
			if (t < Tp) {
				float4 x = kr[it], y = vr[it];
				if (t < Tt) {
					x.x += bk.x; x.y += bk.y; x.z += bk.z; x.w += bk.w;
					y.x += bv.x; y.y += bv.y; y.z += bv.z; y.w += bv.w;
				}
				float* ks = Ks + t * ATT_KS + 4 * c4;
				float* vs = Vs + t * ATT_VS + 4 * c4;
				ks[0] = __uint_as_float(to_tf32(x.x)); ks[1] = __uint_as_float(to_tf32(x.y));
				ks[2] = __uint_as_float(to_tf32(x.z)); ks[3] = __uint_as_float(to_tf32(x.w));
				vs[0] = __uint_as_float(to_tf32(y.x)); vs[1] = __uint_as_float(to_tf32(y.y));
				vs[2] = __uint_as_float(to_tf32(y.z)); vs[3] = __uint_as_float(to_tf32(y.w));
			}
		}
	}
}

// attn_body (kernel attn_tc_tiled, sequences longer than one tile):
// softmax(q·kᵀ·scale + mask)·v for head h = blockIdx.x % nh of
// sequence b = blockIdx.x / nh, query rows blockIdx.y*ATT_ROWS ... of Tq,
// written to ctx [B*Tq, nh*ATT_HS]. q [.., Tq rows per sequence], k and v
// [.., T rows] are the projections as their GEMMs wrote them (16-byte
// aligned), biases not yet added: tensor x of sequence b is read from
// sequence b % modx (copies that share it) and takes bias bx0 if its rows
// lie below segx, else bx1 (segments are whole sequences). mask is the
// additive key mask [B*T], finite (0 or -FLT_MAX, as the engine builds it).
// Keys come in tiles of ATT_KT: K and V (biased, rounded to tf32) in dynamic
// shared memory; scores, probabilities and the context in registers, with
// the softmax's maximum and sum carried from tile to tile (online softmax).
// It needs 192 registers (one block per SM); attn_tc, one tile without the
// online rescaling, stays at 128 (two blocks per SM) for T <= ATT_KT.
__device__ __forceinline__ void attn_body(float* att_sm, float* ctx, const float* q, const float* k, const float* v,
		const float* bq0, const float* bq1, int segq, int modq, const float* bk0, const float* bk1, int segk, int modk,
		const float* bv0, const float* bv1, int segv, int modv, const float* mask, int T, int Tq, int nh, float scale) {
	const int hs = ATT_HS, H = nh * ATT_HS;
	const int HS4 = ATT_HS / 4;
	int b = blockIdx.x / nh, h = blockIdx.x - b * nh;
	int T1 = T < ATT_KT ? T : ATT_KT;
	float* Ks = att_sm;
	float* Vs = att_sm + ((T1 + 7) & ~7) * ATT_KS;
	int c4 = threadIdx.x % HS4, t0 = threadIdx.x / HS4;
	const float4* kb = (const float4*)(k + (long long)(b % modk) * T * H + h * hs) + c4;
	const float4* vb = (const float4*)(v + (long long)(b % modv) * T * H + h * hs) + c4;
	float4 bk = ((const float4*)(((long long)b * T < segk ? bk0 : bk1) + h * hs))[c4];
	float4 bv = ((const float4*)(((long long)b * T < segv ? bv0 : bv1) + h * hs))[c4];
	// The first tile with every load in flight at once, before the query
	// fragments and the context hold registers; later tiles 4 rows deep.
	attn_load_tile<ATT_KT / ATT_RSTEP>(Ks, Vs, kb, vb, bk, bv, 0, T1, (T1 + 7) & ~7, t0, c4, H / 4);
	__syncthreads();
	int lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
	int r0 = blockIdx.y * ATT_ROWS + (threadIdx.x >> 5) * 16;
	bool active = r0 < Tq; // warp-uniform
	int ra = r0 + g, rb = ra + 8;
	// Query fragments of rows ra, rb (zero beyond Tq).
	unsigned qa[ATT_HS / 8][4];
	{
		const float* qs = q + (long long)(b % modq) * Tq * H + h * hs;
		const float* bq = ((long long)b * Tq < segq ? bq0 : bq1) + h * hs;
#pragma unroll
		for (int ks = 0; ks < ATT_HS / 8; ks++) {
			int d0 = ks * 8 + t4, d1 = d0 + 4;
			float x0 = 0.0f, x1 = 0.0f, x2 = 0.0f, x3 = 0.0f;
			if (ra < Tq) {
				x0 = qs[(long long)ra * H + d0] + bq[d0];
				x2 = qs[(long long)ra * H + d1] + bq[d1];
			}
			if (rb < Tq) {
				x1 = qs[(long long)rb * H + d0] + bq[d0];
				x3 = qs[(long long)rb * H + d1] + bq[d1];
			}
			qa[ks][0] = to_tf32(x0); qa[ks][1] = to_tf32(x1); qa[ks][2] = to_tf32(x2); qa[ks][3] = to_tf32(x3);
		}
	}
	float o[ATT_HS / 8][4];
#pragma unroll
	for (int nt = 0; nt < ATT_HS / 8; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
	float mxa = NEG_INF, mxb = NEG_INF, la = 0.0f, lb = 0.0f; // running maximum and sum of rows ra, rb
	const float* m = mask + (long long)b * T;
	for (int k0 = 0; k0 < T; k0 += ATT_KT) {
		int Tt = T - k0 < ATT_KT ? T - k0 : ATT_KT, Tp = (Tt + 7) & ~7;
		if (k0 > 0) {
			__syncthreads(); // the previous tile is consumed
			attn_load_tile<4>(Ks, Vs, kb, vb, bk, bv, k0, Tt, Tp, t0, c4, H / 4);
			__syncthreads();
		}
		if (!active) continue;
		// Scores of this tile: s[nt] is the 16×8 tile of keys k0 + nt*8 ...
		float s[ATT_KT / 8][4];
#pragma unroll
		for (int nt = 0; nt < ATT_KT / 8; nt++) {
			s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
			if (nt * 8 < Tp) {
#pragma unroll
				for (int ks = 0; ks < ATT_HS / 8; ks++) {
					const float* kr = Ks + (nt * 8 + g) * ATT_KS + ks * 8 + t4;
					mma_tf32(s[nt], qa[ks], __float_as_uint(kr[0]), __float_as_uint(kr[4]));
				}
			}
		}
		// Rows ra (s[.][0..1]) and rb (s[.][2..3]); the four lanes of a group
		// hold one row between them. x = s·scale + mask; keys past T: -inf.
		float ta = NEG_INF, tb = NEG_INF;
#pragma unroll
		for (int nt = 0; nt < ATT_KT / 8; nt++) {
			if (nt * 8 < Tp) {
#pragma unroll
				for (int e = 0; e < 2; e++) {
					int j = k0 + nt * 8 + 2 * t4 + e;
					float mj = j < T ? m[j] : 0.0f;
					s[nt][e] = j < T ? s[nt][e] * scale + mj : NEG_INF;
					s[nt][2 + e] = j < T ? s[nt][2 + e] * scale + mj : NEG_INF;
					ta = fmaxf(ta, s[nt][e]);
					tb = fmaxf(tb, s[nt][2 + e]);
				}
			}
		}
		for (int sh = 1; sh < 4; sh <<= 1) {
			ta = fmaxf(ta, __shfl_xor_sync(0xffffffffu, ta, sh));
			tb = fmaxf(tb, __shfl_xor_sync(0xffffffffu, tb, sh));
		}
		float na = fmaxf(mxa, ta), nb = fmaxf(mxb, tb);
		float ca = expf(mxa - na), cb = expf(mxb - nb); // 0 on the first tile (mx = -inf)
		float suma = 0.0f, sumb = 0.0f;
#pragma unroll
		for (int nt = 0; nt < ATT_KT / 8; nt++) {
			if (nt * 8 < Tp) {
#pragma unroll
				for (int e = 0; e < 2; e++) {
					s[nt][e] = expf(s[nt][e] - na);
					s[nt][2 + e] = expf(s[nt][2 + e] - nb);
					suma += s[nt][e];
					sumb += s[nt][2 + e];
				}
			}
		}
		for (int sh = 1; sh < 4; sh <<= 1) {
			suma += __shfl_xor_sync(0xffffffffu, suma, sh);
			sumb += __shfl_xor_sync(0xffffffffu, sumb, sh);
		}
		la = la * ca + suma;
		lb = lb * cb + sumb;
		mxa = na;
		mxb = nb;
#pragma unroll
		for (int nt = 0; nt < ATT_HS / 8; nt++) {
			o[nt][0] *= ca; o[nt][1] *= ca; o[nt][2] *= cb; o[nt][3] *= cb;
		}
		// Context += p·v: the probabilities move from the accumulator layout
		// to the A-fragment layout by shuffles within each group of four lanes.
		int srcA = (lane & ~3) | (t4 >> 1), srcB = srcA + 2;
		bool odd = (t4 & 1) != 0;
#pragma unroll
		for (int kt = 0; kt < ATT_KT / 8; kt++) {
			if (kt * 8 < Tp) {
				float p0 = __shfl_sync(0xffffffffu, s[kt][0], srcA), p1 = __shfl_sync(0xffffffffu, s[kt][1], srcA);
				float p2 = __shfl_sync(0xffffffffu, s[kt][2], srcA), p3 = __shfl_sync(0xffffffffu, s[kt][3], srcA);
				float q0 = __shfl_sync(0xffffffffu, s[kt][0], srcB), q1 = __shfl_sync(0xffffffffu, s[kt][1], srcB);
				float q2 = __shfl_sync(0xffffffffu, s[kt][2], srcB), q3 = __shfl_sync(0xffffffffu, s[kt][3], srcB);
				unsigned a[4] = {to_tf32(odd ? p1 : p0), to_tf32(odd ? p3 : p2), to_tf32(odd ? q1 : q0), to_tf32(odd ? q3 : q2)};
#pragma unroll
				for (int nt = 0; nt < ATT_HS / 8; nt++) {
					const float* vr = Vs + (kt * 8 + t4) * ATT_VS + nt * 8 + g;
					mma_tf32(o[nt], a, __float_as_uint(vr[0]), __float_as_uint(vr[4 * ATT_VS]));
				}
			}
		}
	}
	if (!active) return;
	float inva = 1.0f / la, invb = 1.0f / lb;
	float* ca = ctx + ((long long)b * Tq + ra) * H + h * hs + 2 * t4;
	float* cb = ca + 8LL * H;
#pragma unroll
	for (int nt = 0; nt < ATT_HS / 8; nt++) {
		if (ra < Tq) { ca[nt * 8] = o[nt][0] * inva; ca[nt * 8 + 1] = o[nt][1] * inva; }
		if (rb < Tq) { cb[nt * 8] = o[nt][2] * invb; cb[nt * 8 + 1] = o[nt][3] * invb; }
	}
}

extern "C" __global__ void __launch_bounds__(256) attn_tc_tiled(float* ctx, const float* q, const float* k, const float* v,
		const float* bq0, const float* bq1, int segq, int modq, const float* bk0, const float* bk1, int segk, int modk,
		const float* bv0, const float* bv1, int segv, int modv, const float* mask, int T, int Tq, int nh, float scale) {
	extern __shared__ float att_sm[];
	attn_body(att_sm, ctx, q, k, v, bq0, bq1, segq, modq, bk0, bk1, segk, modk, bv0, bv1, segv, modv, mask, T, Tq, nh, scale);
}
`
