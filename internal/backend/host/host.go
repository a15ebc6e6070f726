// Package host is the CPU implementation of backend.Backend (see Device).
package host

import (
	"fmt"
	"math"
	"sort"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/backend"
	"github.com/adarank/adarank/internal/cuda"
)

// Device is the CPU implementation of backend.Backend: the encoder, sweep
// and trainer code of internal/gpu runs on it unchanged, on the host.
// Device memory is one float32 arena in which address p is mem[p/4];
// cuBLAS calls run through cuda.ColGemm.RunHost after the same row-major
// mapping as the CUDA wrappers; every kernel of internal/gpu's CUDA sources
// has a Go twin here with the same arithmetic (attn_tc's tensor-core tf32
// rounding aside). Launch checks each call's arguments against the CUDA
// source signature (cuda.PackArgs), and every kernel access and GEMM operand
// must lie inside one allocation: an overrun, silent on a GPU, is an error
// here. It is slow (reference GEMM loops) and meant for checking the GPU code
// path on machines without a GPU: CI compares it with the CPU engine.
type Device struct {
	mem      []float32
	Launches map[string]int // kernel (and "gemm", "gemm_batched") launch counts
	Poison   bool           // fill new allocations with NaN (reads of unwritten memory show up)
	allocs   [][2]int       // [start, end) of every allocation in mem indices, ascending
	Prec     string         // what Precision reports ("" is fp32); it selects kernels, the arithmetic stays float32
	attHS    int            // ATT_HS of the last compile that set it
}

// New returns an empty host device that poisons new allocations.
func New() *Device {
	return &Device{mem: make([]float32, 1024), Launches: map[string]int{}, Poison: true}
}

// Floats is the size of the memory arena in floats (allocations only grow it).
func (h *Device) Floats() int { return len(h.mem) }

var _ backend.Backend = (*Device)(nil)

func (h *Device) Bind() func() { return func() {} }

func (h *Device) Precision() string {
	if h.Prec == "" {
		return "fp32"
	}
	return h.Prec
}
func (h *Device) Sync() error { return nil }

func (h *Device) AllocF32(name string, n int) (*cuda.Buffer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("alloc %s: %d", name, n)
	}
	start := len(h.mem)
	start += start & 1 // 8-byte alignment for doubles
	end := start + n + 64
	grown := make([]float32, end)
	copy(grown, h.mem)
	if h.Poison {
		for i := len(h.mem); i < end; i++ {
			grown[i] = float32(math.NaN())
		}
	}
	h.mem = grown
	h.allocs = append(h.allocs, [2]int{start, start + n})
	return &cuda.Buffer{Ptr: cuda.DevPtr(4 * start), Bytes: 4 * n, Name: name}, nil
}

// f32 is device memory [p, p+n): it must lie inside one allocation (an
// overrun into the next buffer would go unnoticed on a real GPU).
func (h *Device) f32(p cuda.DevPtr, n int) []float32 {
	i := int(p) / 4
	if p%4 != 0 || i < 1024 || i+n > len(h.mem) {
		panic(fmt.Sprintf("Device: access %#x+%d outside device memory", p, n))
	}
	h.inside(i, n)
	return h.mem[i : i+n]
}

// inside panics unless mem[i, i+n) lies in one allocation.
func (h *Device) inside(i, n int) {
	if n == 0 {
		return
	}
	k := sort.Search(len(h.allocs), func(k int) bool { return h.allocs[k][1] > i })
	if k == len(h.allocs) || i < h.allocs[k][0] || i+n > h.allocs[k][1] {
		panic(fmt.Sprintf("Device: access to floats [%d, %d) crosses an allocation boundary", i, i+n))
	}
}

// gemmSpan checks that a row-major operand (rows × cols, leading dimension
// ld, batch items stride apart) lies inside one allocation.
func (h *Device) gemmSpan(p cuda.DevPtr, rows, cols, ld, stride, batch int) {
	if rows == 0 || cols == 0 || batch == 0 {
		return
	}
	h.inside(int(p)/4, (batch-1)*stride+(rows-1)*ld+cols)
}

func (h *Device) gemmSpans(tA, tB bool, M, N, K int, A cuda.DevPtr, lda, sA int, B cuda.DevPtr, ldb, sB int, C cuda.DevPtr, ldc, sC, batch int) {
	ra, ca, rb, cb := M, K, K, N
	if tA {
		ra, ca = K, M
	}
	if tB {
		rb, cb = N, K
	}
	h.gemmSpan(A, ra, ca, lda, sA, batch)
	h.gemmSpan(B, rb, cb, ldb, sB, batch)
	h.gemmSpan(C, M, N, ldc, sC, batch)
}

func (h *Device) i32(p cuda.DevPtr, i int) int32 {
	return int32(math.Float32bits(h.f32(p.Add(i), 1)[0]))
}

func (h *Device) Upload(dst cuda.DevPtr, src []float32) (err error) {
	defer guard("Upload", &err)
	copy(h.f32(dst, len(src)), src)
	return nil
}

func (h *Device) AllocHost(name string, n int) (*cuda.HostBuffer, error) {
	return &cuda.HostBuffer{F32: make([]float32, n)}, nil
}

func (h *Device) UploadAsync(dst cuda.DevPtr, hb *cuda.HostBuffer, off, n int) (err error) {
	defer guard("UploadAsync", &err)
	copy(h.f32(dst, n), hb.F32[off:off+n])
	return nil
}

func (h *Device) Fence() (func() error, error) { return func() error { return nil }, nil }

func (h *Device) UploadI32(dst cuda.DevPtr, src []int32) (err error) {
	defer guard("UploadI32", &err)
	d := h.f32(dst, len(src))
	for i, v := range src {
		d[i] = math.Float32frombits(uint32(v))
	}
	return nil
}

func (h *Device) Download(dst []float32, src cuda.DevPtr) (err error) {
	defer guard("Download", &err)
	copy(dst, h.f32(src, len(dst)))
	return nil
}

func (h *Device) DownloadF64(dst []float64, src cuda.DevPtr) (err error) {
	defer guard("DownloadF64", &err)
	for i := range dst {
		dst[i] = h.f64(src + cuda.DevPtr(8*i))
	}
	return nil
}

func (h *Device) f64(p cuda.DevPtr) float64 {
	w := h.f32(p, 2)
	return math.Float64frombits(uint64(math.Float32bits(w[0])) | uint64(math.Float32bits(w[1]))<<32)
}

func (h *Device) setF64(p cuda.DevPtr, v float64) {
	w := h.f32(p, 2)
	b := math.Float64bits(v)
	w[0], w[1] = math.Float32frombits(uint32(b)), math.Float32frombits(uint32(b>>32))
}

func (h *Device) Copy(dst, src cuda.DevPtr, n int) (err error) {
	defer guard("Copy", &err)
	copy(h.f32(dst, n), h.f32(src, n))
	return nil
}

func (h *Device) Fill32(dst cuda.DevPtr, v uint32, n int) (err error) {
	defer guard("Fill32", &err)
	d := h.f32(dst, n)
	for i := range d {
		d[i] = math.Float32frombits(v)
	}
	return nil
}

func (h *Device) Gemm(tA, tB bool, M, N, K int, alpha float32, A cuda.DevPtr, lda int, B cuda.DevPtr, ldb int, beta float32, C cuda.DevPtr, ldc int) (err error) {
	defer guard("Gemm", &err)
	if err := cuda.CheckRowMajor(tA, tB, M, N, K, lda, ldb, ldc); err != nil {
		return err
	}
	h.Launches["gemm"]++
	h.gemmSpans(tA, tB, M, N, K, A, lda, 0, B, ldb, 0, C, ldc, 0, 1)
	cuda.RowMajorGemm(tA, tB, M, N, K, A, lda, B, ldb, C, ldc).RunHost(h.mem, alpha, beta, 1)
	return nil
}

func (h *Device) GemmStridedBatched(tA, tB bool, M, N, K int, alpha float32, A cuda.DevPtr, lda, strideA int, B cuda.DevPtr, ldb, strideB int,
	beta float32, C cuda.DevPtr, ldc, strideC, batch int) (err error) {
	defer guard("GemmStridedBatched", &err)
	if err := cuda.CheckRowMajor(tA, tB, M, N, K, lda, ldb, ldc); err != nil {
		return err
	}
	h.Launches["gemm_batched"]++
	h.gemmSpans(tA, tB, M, N, K, A, lda, strideA, B, ldb, strideB, C, ldc, strideC, batch)
	cuda.RowMajorGemmStrided(tA, tB, M, N, K, A, lda, strideA, B, ldb, strideB, C, ldc, strideC).RunHost(h.mem, alpha, beta, batch)
	return nil
}

func (h *Device) Compile(name, src string, opts ...string) (*cuda.Module, error) {
	for _, o := range opts {
		fmt.Sscanf(o, "-DATT_HS=%d", &h.attHS)
	}
	return cuda.NewHostModule(src)
}

func (h *Device) Launch(f *cuda.Function, grid, block cuda.Dim3, shmem int, args ...any) (err error) {
	defer guard("Launch", &err)
	slots := make([]uint64, 32)
	if err := cuda.PackArgs(f.Sig, args, slots); err != nil {
		return err
	}
	if block.X <= 0 || block.X%32 != 0 || block.X > 1024 || grid.X <= 0 {
		return fmt.Errorf("kernel %s: bad launch grid %v block %v", f.Sig.Name, grid, block)
	}
	h.Launches[f.Sig.Name]++
	// One block per row, no grid stride: the grid must cover every row (the
	// row count is the last argument).
	switch f.Sig.Name {
	case "embed_ln", "bias_res_ln", "embed_ln_train", "res_ln_train", "ln_fwd_save":
		if rows := int(int32(uint32(slots[len(f.Sig.Params)-1]))); grid.X < rows {
			return fmt.Errorf("kernel %s: grid %v covers fewer than %d rows", f.Sig.Name, grid, rows)
		}
	}
	p := func(i int) cuda.DevPtr { return cuda.DevPtr(slots[i]) }
	n := func(i int) int { return int(int32(uint32(slots[i]))) }
	fl := func(i int) float32 { return math.Float32frombits(uint32(slots[i])) }
	switch f.Sig.Name {
	case "embed_ln":
		h.embedLN(n(11), p(0), p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), n(9), fl(10))
	case "bias_res_ln":
		h.biasResLN(n(10), p(0), p(1), p(2), p(3), n(4), p(5), p(6), p(7), n(8), fl(9))
	case "bias_act":
		h.biasAct(p(0), p(1), p(2), p(3), n(4), n(5), n(6), n(7))
	case "bias_permute":
		h.biasPermute(p(0), p(1), p(2), p(3), n(4), n(5), n(6), n(7), n(8))
	case "unpermute":
		h.unpermute(p(0), p(1), n(2), n(3), n(4), n(5))
	case "softmax_mask":
		h.softmaxMask(min(n(2), grid.X*(block.X/32)), p(0), p(1), n(3), n(4), n(5))
	case "gather_cls":
		h.gatherCLS(p(0), p(1), n(2), n(3), n(4))
	case "attn_tc", "attn_tc_tiled":
		if T := n(17); (f.Sig.Name == "attn_tc") != (T <= attnKeyTile) {
			return fmt.Errorf("kernel %s for %d keys", f.Sig.Name, T)
		}
		return h.attnTC(grid, block, shmem, p, n, fl)
	case "perturb_philox":
		cnt := int(int64(slots[2]))
		adarank.PerturbPhilox(h.f32(p(0), cnt), h.f32(p(1), cnt), float64(fl(3)), slots[4], slots[5], uint32(n(6)))
	case "absdiff_sum":
		h.absdiffSum(p(0), p(1), p(2), n(3))
	default:
		return h.launchTrain(f.Sig.Name, grid, block, shmem, slots)
	}
	return nil
}

// layerNormRow is ln_warp; it returns the row's mean and 1/std.
func layerNormRow(o, g, b []float32, eps float32) (float32, float32) {
	H := len(o)
	var s float64
	for _, v := range o {
		s += float64(v)
	}
	m := float32(s / float64(H))
	var ss float64
	for _, v := range o {
		d := float64(v - m)
		ss += d * d
	}
	rs := float32(1 / math.Sqrt(ss/float64(H)+float64(eps)))
	for c := range o {
		o[c] = (o[c]-m)*rs*g[c] + b[c]
	}
	return m, rs
}

func (h *Device) embedLN(rows int, out, ids, pos, types, wte, wpe, tte, g, b cuda.DevPtr, H int, eps float32) {
	for r := 0; r < rows; r++ {
		o := h.f32(out.Add(r*H), H)
		w := h.f32(wte.Add(int(h.i32(ids, r))*H), H)
		p := h.f32(wpe.Add(int(h.i32(pos, r))*H), H)
		t := h.f32(tte.Add(int(h.i32(types, r))*H), H)
		for c := range o {
			o[c] = (w[c] + p[c]) + t[c]
		}
		layerNormRow(o, h.f32(g, H), h.f32(b, H), eps)
	}
}

func (h *Device) biasResLN(rows int, out, x, b0, b1 cuda.DevPtr, seg int, res, g, b cuda.DevPtr, H int, eps float32) {
	for r := 0; r < rows; r++ {
		bias := b1
		if r < seg {
			bias = b0
		}
		xr, br, rr := h.f32(x.Add(r*H), H), h.f32(bias, H), h.f32(res.Add(r*H), H)
		o := h.f32(out.Add(r*H), H)
		for c := range o {
			o[c] = (xr[c] + br[c]) + rr[c]
		}
		layerNormRow(o, h.f32(g, H), h.f32(b, H), eps)
	}
}

func activate(x float32, act int) float32 {
	switch act {
	case actGelu:
		return float32(0.5 * float64(x) * (1 + math.Erf(float64(x*0.70710678118654752))))
	case actGeluTanh:
		return 0.5 * x * (1 + float32(math.Tanh(float64(0.79788456080286535588*(x+0.044715*x*x*x)))))
	case actRelu:
		return max(x, 0)
	case actTanh:
		return float32(math.Tanh(float64(x)))
	}
	return x
}

func (h *Device) biasAct(out, x, b0, b1 cuda.DevPtr, seg, rows, N, act int) {
	for r := 0; r < rows; r++ {
		bias := b1
		if r < seg {
			bias = b0
		}
		xr, br, o := h.f32(x.Add(r*N), N), h.f32(bias, N), h.f32(out.Add(r*N), N)
		for j := range o {
			o[j] = activate(xr[j]+br[j], act)
		}
	}
}

func (h *Device) biasPermute(out, x, b0, b1 cuda.DevPtr, seg, B, T, nh, hs int) {
	C := nh * hs
	xs, o := h.f32(x, B*T*C), h.f32(out, B*T*C)
	for row := 0; row < B*T; row++ {
		bias := b1
		if row < seg {
			bias = b0
		}
		br := h.f32(bias, C)
		bb, t := row/T, row%T
		for col := 0; col < C; col++ {
			hh, d := col/hs, col%hs
			o[((bb*nh+hh)*T+t)*hs+d] = xs[row*C+col] + br[col]
		}
	}
}

func (h *Device) unpermute(out, in cuda.DevPtr, B, T, nh, hs int) {
	C := nh * hs
	o, is := h.f32(out, B*T*C), h.f32(in, B*T*C)
	for row := 0; row < B*T; row++ {
		bb, t := row/T, row%T
		for col := 0; col < C; col++ {
			hh, d := col/hs, col%hs
			o[row*C+col] = is[((bb*nh+hh)*T+t)*hs+d]
		}
	}
}

func (h *Device) softmaxMask(rows int, att, mask cuda.DevPtr, T, nh, Tq int) {
	for row := 0; row < rows; row++ {
		b := row / (nh * Tq)
		a, m := h.f32(att.Add(row*T), T), h.f32(mask.Add(b*T), T)
		mx := float32(math.Inf(-1))
		for j := range a {
			a[j] += m[j]
			mx = max(mx, a[j])
		}
		if math.IsInf(float64(mx), -1) {
			for j := range a {
				a[j] = 1 / float32(T)
			}
			continue
		}
		var s float32
		for j := range a {
			a[j] = float32(math.Exp(float64(a[j] - mx)))
			s += a[j]
		}
		inv := 1 / s
		for j := range a {
			a[j] *= inv
		}
	}
}

func (h *Device) gatherCLS(out, hid cuda.DevPtr, B, T, H int) {
	for b := 0; b < B; b++ {
		copy(h.f32(out.Add(b*H), H), h.f32(hid.Add(b*T*H), H))
	}
}

func (h *Device) absdiffSum(slot, a, b cuda.DevPtr, n int) {
	as, bs := h.f32(a, n), h.f32(b, n)
	var s float64
	for i := range as {
		s += math.Abs(float64(as[i]) - float64(bs[i]))
	}
	h.setF64(slot, h.f64(slot)+s)
}

// The emulation rejects an access that runs from one buffer into the next.

// attnTC is attn_tc in float32 (the tf32 rounding of its tensor-core
// products aside), with its launch shape checked.
func (h *Device) attnTC(grid, block cuda.Dim3, shmem int, p func(int) cuda.DevPtr, n func(int) int, fl func(int) float32) error {
	type operand struct {
		x, b0, b1 cuda.DevPtr
		seg, mod  int
	}
	ctx := p(0)
	ops := [3]operand{{p(1), p(4), p(5), n(6), n(7)}, {p(2), p(8), p(9), n(10), n(11)}, {p(3), p(12), p(13), n(14), n(15)}}
	mask, T, Tq, nh, scale := p(16), n(17), n(18), n(19), fl(20)
	hs := h.attHS
	H := nh * hs
	B := grid.X / nh
	Tp := (min(T, attnKeyTile) + 7) &^ 7
	switch {
	case grid.X%nh != 0 || (grid.Y > 0 && grid.Y*attnRows < Tq) || (grid.Y == 0 && attnRows < Tq):
		return fmt.Errorf("kernel attn_tc: grid %v does not cover %d heads × %d query rows", grid, nh, Tq)
	case block.X != 256:
		return fmt.Errorf("kernel attn_tc: block %v, want 256 threads", block)
	case ops[0].seg%Tq != 0 || ops[1].seg%T != 0 || ops[2].seg%T != 0:
		return fmt.Errorf("kernel attn_tc: bias segments %d, %d, %d not whole sequences of %d / %d rows", ops[0].seg, ops[1].seg, ops[2].seg, Tq, T)
	case shmem < 4*Tp*(2*hs+12):
		return fmt.Errorf("kernel attn_tc: %d bytes of shared memory for %d keys", shmem, T)
	}
	// row is element d.. of row r of operand o (rows per sequence rows) for sequence b, with its bias.
	row := func(o operand, b, rows, r int) []float32 {
		x := h.f32(o.x.Add(((b%o.mod)*rows+r)*H), H)
		bias := o.b1
		if b*rows+r < o.seg {
			bias = o.b0
		}
		bv := h.f32(bias, H)
		out := make([]float32, H)
		for i := range out {
			out[i] = x[i] + bv[i]
		}
		return out
	}
	sc := make([]float32, T)
	for b := 0; b < B; b++ {
		m := h.f32(mask.Add(b*T), T)
		keys, vals := make([][]float32, T), make([][]float32, T)
		for j := 0; j < T; j++ {
			keys[j], vals[j] = row(ops[1], b, T, j), row(ops[2], b, T, j)
		}
		for r := 0; r < Tq; r++ {
			qr := row(ops[0], b, Tq, r)
			out := h.f32(ctx.Add((b*Tq+r)*H), H)
			for hh := 0; hh < nh; hh++ {
				lo := hh * hs
				mx := float32(math.Inf(-1))
				for j := 0; j < T; j++ {
					var d float32
					for i := lo; i < lo+hs; i++ {
						d += qr[i] * keys[j][i]
					}
					sc[j] = d*scale + m[j]
					mx = max(mx, sc[j])
				}
				var sum float32
				for j := range sc {
					if math.IsInf(float64(mx), -1) {
						sc[j] = 1
					} else {
						sc[j] = float32(math.Exp(float64(sc[j] - mx)))
					}
					sum += sc[j]
				}
				for i := lo; i < lo+hs; i++ {
					var o float32
					for j := range sc {
						o += sc[j] / sum * vals[j][i]
					}
					out[i] = o
				}
			}
		}
	}
	return nil
}

// Constants of the CUDA sources (internal/gpu: kernels.go's ACT_* codes,
// attention_kernels.go's ATT_KT and ATT_ROWS).
const (
	actGelu     = 0
	actGeluTanh = 1
	actRelu     = 2
	actTanh     = 3
	actNone     = 4
	attnKeyTile = 128
	attnRows    = 128
)

// guard turns the panic of a failed bounds check (an access outside its
// allocation: memory corruption on a GPU) into op's error.
func guard(op string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("host backend: %s: %v", op, r)
	}
}
