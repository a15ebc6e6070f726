package gpu

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/adarank/adarank/internal/backend"
	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/model"
)

// Model is a model.Model whose parameters live on the GPU.
type Model struct {
	Cfg    model.Config
	Host   *model.Model // the CPU model the weights came from (kept for the sweep's noise)
	d      device
	k      *kernels
	params *cuda.Buffer // all of Host.P.Data
}

// Upload copies m's parameters to the device and compiles the kernels.
func Upload(d backend.Backend, m *model.Model) (*Model, error) {
	defer d.Bind()()
	k, err := loadKernels(d, m.Cfg.Hidden, m.Cfg.Heads, LNThreads)
	if err != nil {
		return nil, err
	}
	p, err := d.AllocF32("model parameters", len(m.P.Data))
	if err != nil {
		return nil, err
	}
	if err := d.Upload(p.Ptr, m.P.Data); err != nil {
		p.Free()
		return nil, err
	}
	return &Model{Cfg: m.Cfg, Host: m, d: d, k: k, params: p}, nil
}

// Free releases the device copy of the parameters.
func (g *Model) Free() {
	if g != nil && g.params != nil {
		g.params.Free()
		g.params = nil
	}
}

// ptr is the device address of a view into Host.P.Data.
func (g *Model) ptr(s []float32) cuda.DevPtr {
	data := g.Host.P.Data
	if len(s) == 0 {
		return 0
	}
	off := (uintptr(unsafe.Pointer(&s[0])) - uintptr(unsafe.Pointer(&data[0]))) / 4
	if off >= uintptr(len(data)) {
		panic("gpu: parameter view outside Params.Data") // a programming error, not input
	}
	return g.params.At(int(off))
}

// Workspace holds the activations of one batch of B sequences of T tokens.
// Its buffers are sized by capacities (sequences, tokens, attention
// scores), so that Reshape can switch to any batch shape within them
// without reallocating.
type Workspace struct {
	B, T                   int
	capSeq, capTok, capAtt int
	owned                  []*cuda.Buffer
	ids, pos               cuda.DevPtr // int32 [B*T]
	types                  cuda.DevPtr
	mask                   cuda.DevPtr // additive key mask [B*T]; the sweep points it at a chunk's own mask
	maskOwn                cuda.DevPtr // the workspace's own mask buffer, which SetBatch writes
	hidden                 cuda.DevPtr // layer input and output [B*T, H]
	tmp                    cuda.DevPtr // GEMM output [B*T, H]
	q, k, v                cuda.DevPtr // [B, nh, T, hs]; q is reused for the attention output
	att                    cuda.DevPtr // [B, nh, T, T]
	ctx                    cuda.DevPtr // [B*T, H]
	ln1                    cuda.DevPtr // [B*T, H]
	fi                     cuda.DevPtr // [B*T, I]
	cls                    cuda.DevPtr // [B, H]
	poolPre                cuda.DevPtr // [B, H]
	pooled                 cuda.DevPtr // [B, H]
	// The last layer restricted to the first token (LayerCLS).
	clsIn, clsQ, clsCtx, clsLN1 cuda.DevPtr // [B, H]
	clsFI                       cuda.DevPtr // [B, I]
	clsAtt                      cuda.DevPtr // [B, nh, 1, T]
}

// NewWorkspace allocates activations for up to maxB sequences of T tokens.
func (g *Model) NewWorkspace(maxB, T int) (*Workspace, error) {
	if maxB <= 0 || T <= 0 {
		return nil, fmt.Errorf("gpu: workspace for %d×%d tokens", maxB, T)
	}
	ws, err := g.newWorkspace(maxB, maxB*T, maxB*T*T)
	if err == nil {
		ws.B, ws.T = maxB, T
	}
	return ws, err
}

// newWorkspace allocates for up to capSeq sequences, capTok tokens and
// capAtt attention scores per head (Σ T² over the sequences).
func (g *Model) newWorkspace(capSeq, capTok, capAtt int) (*Workspace, error) {
	c := g.Cfg
	H, I, nh := c.Hidden, c.Inter, c.Heads
	BT, maxB := capTok, capSeq
	ws := &Workspace{capSeq: capSeq, capTok: capTok, capAtt: capAtt}
	defer g.d.Bind()()
	for _, a := range []struct {
		name string
		n    int
		dst  *cuda.DevPtr
	}{
		{"token ids", BT, &ws.ids}, {"position ids", BT, &ws.pos}, {"token type ids", BT, &ws.types},
		{"attention mask", BT, &ws.mask}, {"hidden states", BT * H, &ws.hidden}, {"linear output", BT * H, &ws.tmp},
		{"queries", BT * H, &ws.q}, {"keys", BT * H, &ws.k}, {"values", BT * H, &ws.v},
		{"attention probabilities", nh * capAtt, &ws.att}, {"attention context", BT * H, &ws.ctx},
		{"attention LayerNorm output", BT * H, &ws.ln1}, {"feed-forward activations", BT * I, &ws.fi},
		{"CLS states", maxB * H, &ws.cls}, {"pooler input", maxB * H, &ws.poolPre}, {"pooler output", maxB * H, &ws.pooled},
		{"CLS layer input", maxB * H, &ws.clsIn}, {"CLS queries", maxB * H, &ws.clsQ}, {"CLS context", maxB * H, &ws.clsCtx},
		{"CLS attention LayerNorm output", maxB * H, &ws.clsLN1}, {"CLS feed-forward activations", maxB * I, &ws.clsFI},
		{"CLS attention probabilities", nh * capTok, &ws.clsAtt},
	} {
		b, err := g.d.AllocF32(fmt.Sprintf("%s for %d sequences, %d tokens", a.name, capSeq, capTok), a.n)
		if err != nil {
			ws.Free()
			return nil, err
		}
		ws.owned = append(ws.owned, b)
		*a.dst = b.Ptr
	}
	ws.maskOwn = ws.mask
	return ws, nil
}

// Free releases the workspace's device memory.
func (ws *Workspace) Free() {
	if ws == nil {
		return
	}
	for _, b := range ws.owned {
		b.Free()
	}
	ws.owned = nil
}

// Reshape sets the batch shape of the next passes (within the capacities).
func (ws *Workspace) Reshape(B, T int) error {
	if B <= 0 || T <= 0 || B > ws.capSeq || B*T > ws.capTok || B*T*T > ws.capAtt {
		return fmt.Errorf("gpu: batch of %d×%d tokens does not fit a workspace for %d sequences, %d tokens, %d scores per head",
			B, T, ws.capSeq, ws.capTok, ws.capAtt)
	}
	ws.B, ws.T = B, T
	return nil
}

// Override replaces one module's weights per batch segment: rows
// [s*SegRows, (s+1)*SegRows) use W[s] and Bias[s] (device addresses), for at
// most two segments (the sweep's two perturbed copies).
type Override struct {
	Layer   int
	Type    string
	SegRows int
	NSeg    int
	W, Bias [2]cuda.DevPtr
}

func (ov *Override) segRows() int {
	if ov == nil {
		return 0
	}
	return ov.SegRows
}

// hostPositions fills position ids and the additive mask as model.Embed does.
func hostPositions(c model.Config, b model.Batch, pos []int32, mask []float32) {
	minF := float32(-math.MaxFloat32)
	for i := range mask {
		if b.Mask == nil || b.Mask[i] != 0 {
			mask[i] = 0
		} else {
			mask[i] = minF
		}
	}
	for s := 0; s < b.B; s++ {
		if c.Arch == "roberta" {
			// create_position_ids_from_input_ids: pad + cumulative count of non-pad tokens.
			n := int32(0)
			for t := 0; t < b.T; t++ {
				i := s*b.T + t
				if int(b.IDs[i]) != c.PadID {
					n++
					pos[i] = int32(c.PadID) + n
				} else {
					pos[i] = int32(c.PadID)
				}
			}
		} else {
			for t := 0; t < b.T; t++ {
				pos[s*b.T+t] = int32(t)
			}
		}
	}
}

// SetBatch uploads a batch's ids, positions, types and mask, and reshapes the
// workspace to its size.
func (g *Model) SetBatch(ws *Workspace, b model.Batch) error {
	if err := g.Host.Validate(b); err != nil {
		return err
	}
	if err := ws.Reshape(b.B, b.T); err != nil {
		return err
	}
	ws.mask = ws.maskOwn
	BT := b.B * b.T
	pos := make([]int32, BT)
	mask := make([]float32, BT)
	hostPositions(g.Cfg, b, pos, mask)
	types := b.TypeIDs
	if types == nil {
		types = make([]int32, BT)
	}
	defer g.d.Bind()()
	for _, e := range []error{g.d.UploadI32(ws.ids, b.IDs), g.d.UploadI32(ws.pos, pos), g.d.UploadI32(ws.types, types), g.d.Upload(ws.maskOwn, mask)} {
		if e != nil {
			return e
		}
	}
	return nil
}

// Embed computes the embedding output (the input of layer 0) into the hidden
// states, for the batch last given to SetBatch.
func (g *Model) Embed(ws *Workspace) error {
	p, c := g.Host.P, g.Cfg
	return g.d.Launch(g.k.embedLN, cuda.Dim3{X: ws.B * ws.T}, cuda.Dim3{X: g.k.lnThreads}, 0,
		ws.hidden, ws.ids, ws.pos, ws.types, g.ptr(p.WordEmb), g.ptr(p.PosEmb), g.ptr(p.TypeEmb),
		g.ptr(p.EmbLNG), g.ptr(p.EmbLNB), c.Hidden, c.Eps, ws.B*ws.T)
}

// linear runs the GEMM of one module, out[rows, nout] = in[rows, nin]·Wᵀ,
// with the override's per-segment weights (segments of segRows rows) where
// it applies. It returns the bias pointers and segment boundary that the
// following fused kernel adds.
func (g *Model) linear(l int, typ string, out, in cuda.DevPtr, rows, segRows int, ov *Override) (b0, b1 cuda.DevPtr, seg int, err error) {
	w, b, nout, nin, _ := g.Host.P.Layers[l].Linear(typ)
	if ov != nil && ov.Layer == l && ov.Type == typ {
		if ov.NSeg < 1 || ov.NSeg > 2 || segRows*ov.NSeg != rows {
			return 0, 0, 0, fmt.Errorf("gpu: override of %d segments of %d rows for a batch of %d rows", ov.NSeg, segRows, rows)
		}
		for s := 0; s < ov.NSeg; s++ {
			lo := s * segRows
			if err := g.d.Gemm(false, true, segRows, nout, nin, 1, in.Add(lo*nin), nin, ov.W[s], nin, 0, out.Add(lo*nout), nout); err != nil {
				return 0, 0, 0, err
			}
		}
		return ov.Bias[0], ov.Bias[ov.NSeg-1], segRows, nil
	}
	if err := g.d.Gemm(false, true, rows, nout, nin, 1, in, nin, g.ptr(w), nin, 0, out, nout); err != nil {
		return 0, 0, 0, err
	}
	return g.ptr(b), g.ptr(b), rows, nil
}

// Layer runs encoder layer l on the hidden states in place.
func (g *Model) Layer(ws *Workspace, l int, ov *Override) error {
	c := g.Cfg
	H := c.Hidden
	BT := ws.B * ws.T
	L := &g.Host.P.Layers[l]
	b0, b1, seg, err := g.attention(ws, l, ov)
	if err != nil {
		return err
	}
	if err := g.d.Launch(g.k.biasResLN, cuda.Dim3{X: BT}, cuda.Dim3{X: g.k.lnThreads}, 0, ws.ln1, ws.tmp, b0, b1, seg, ws.hidden,
		g.ptr(L.LN1G), g.ptr(L.LN1B), H, c.Eps, BT); err != nil {
		return err
	}
	return g.feedForward(ws, l, ov)
}

// feedForward is the second half of layer l: from the attention block's
// output ws.ln1 to the layer output in ws.hidden (GEMM, bias + activation,
// GEMM, bias + residual + LayerNorm).
func (g *Model) feedForward(ws *Workspace, l int, ov *Override) error {
	c := g.Cfg
	H, I := c.Hidden, c.Inter
	BT := ws.B * ws.T
	L := &g.Host.P.Layers[l]
	b0, b1, seg, err := g.linear(l, model.FFNIn, ws.fi, ws.ln1, BT, ov.segRows(), ov)
	if err != nil {
		return err
	}
	if err := g.d.Launch(g.k.biasAct, rowsGrid(BT, I), cuda.Dim3{X: elemBlock}, 0, ws.fi, ws.fi, b0, b1, seg, BT, I, actCode(c.Act)); err != nil {
		return err
	}
	if b0, b1, seg, err = g.linear(l, model.FFNOut, ws.tmp, ws.fi, BT, ov.segRows(), ov); err != nil {
		return err
	}
	return g.d.Launch(g.k.biasResLN, cuda.Dim3{X: BT}, cuda.Dim3{X: g.k.lnThreads}, 0, ws.hidden, ws.tmp, b0, b1, seg, ws.ln1,
		g.ptr(L.LN2G), g.ptr(L.LN2B), H, c.Eps, BT)
}

// attention is layer l's attention; it leaves ctx·Woᵀ in ws.tmp and
// returns the attention-output bias (b0, b1, seg) for the caller's
// bias + residual + LayerNorm. With the fused kernel (g.fused) the Q, K, V
// GEMMs write [B·T, H] and attn_tc adds their biases: no bias, permute,
// softmax or unpermute passes and no score matrix in memory. Otherwise Q, K
// and V are biased and permuted to [B, nh, T, hs] for strided-batched GEMMs.
func (g *Model) attention(ws *Workspace, l int, ov *Override) (b0, b1 cuda.DevPtr, seg int, err error) {
	c := g.Cfg
	H, nh := c.Hidden, c.Heads
	hs := H / nh
	B, T := ws.B, ws.T
	BT := B * T
	k := g.k
	fused := g.fused(T)
	var ops [3]attnOperand
	for i, p := range []struct {
		typ string
		dst cuda.DevPtr
	}{{model.Query, ws.q}, {model.Key, ws.k}, {model.Value, ws.v}} {
		out := ws.tmp
		if fused {
			out = p.dst
		}
		b0, b1, seg, err := g.linear(l, p.typ, out, ws.hidden, BT, ov.segRows(), ov)
		if err != nil {
			return 0, 0, 0, err
		}
		if fused {
			ops[i] = attnOperand{p.dst, b0, b1, seg, B}
		} else if err := g.d.Launch(k.biasPermute, rowsGrid(B*T, H), cuda.Dim3{X: elemBlock}, 0, p.dst, ws.tmp, b0, b1, seg, B, T, nh, hs); err != nil {
			return 0, 0, 0, err
		}
	}
	if fused {
		err = g.attend(ws.ctx, ops[0], ops[1], ops[2], ws.mask, B, T, T)
	} else {
		// Scores, masked softmax, context: att = softmax(q·kᵀ/√hs + mask); ctx = att·v.
		scale := float32(1 / math.Sqrt(float64(hs)))
		rows := B * nh * T
		const warps = rowBlock / 32
		if err = g.d.GemmStridedBatched(false, true, T, T, hs, scale, ws.q, hs, T*hs, ws.k, hs, T*hs, 0, ws.att, T, T*T, B*nh); err == nil {
			err = g.d.Launch(k.softmaxMask, cuda.Dim3{X: (rows + warps - 1) / warps}, cuda.Dim3{X: rowBlock}, 0, ws.att, ws.mask, rows, T, nh, T)
		}
		if err == nil {
			err = g.context(ws.ctx, ws.att, ws.v, ws.q, B, T)
		}
	}
	if err != nil {
		return 0, 0, 0, err
	}
	// Attention output projection (its bias goes to the caller's LayerNorm).
	return g.linear(l, model.AttnOut, ws.tmp, ws.ctx, BT, ov.segRows(), ov)
}

// context writes the attention context att·v of B sequences of T tokens
// into dst [B·T, H], from the probabilities att [B, nh, T, T] and the values
// v [B, nh, T, hs]; scratch ([B·T, H] floats) holds it permuted on the way.
func (g *Model) context(dst, att, v, scratch cuda.DevPtr, B, T int) error {
	H, nh := g.Cfg.Hidden, g.Cfg.Heads
	hs := H / nh
	if err := g.d.GemmStridedBatched(false, false, T, hs, T, 1, att, T, T*T, v, hs, T*hs, 0, scratch, hs, T*hs, B*nh); err != nil {
		return err
	}
	return g.d.Launch(g.k.unpermute, rowsGrid(B*T, H), cuda.Dim3{X: elemBlock}, 0, dst, scratch, B, T, nh, hs)
}

// NoFusedAttention turns the fused attention kernel off (gpucheck times
// both ways; false in normal use).
var NoFusedAttention bool

// Sizes of attn_tc: keys per shared-memory tile (ATT_KT), query rows per
// block (ATT_ROWS).
const (
	attnKeyTile = 128
	attnRows    = 128
)

// fused reports whether attention over sequences of T tokens runs in the
// fused attn_tc kernel: in the tf32 and bf16 modes (its tensor-core
// products are tf32, as cuBLAS's attention GEMMs are there), for head
// sizes it is compiled for. fp32 keeps the exact GEMM path.
func (g *Model) fused(T int) bool {
	if NoFusedAttention || g.k.attnTC == nil {
		return false
	}
	p := g.d.Precision()
	return p == "tf32" || p == "bf16"
}

// attnOperand is Q, K or V for attn_tc: the projection as its GEMM wrote it
// ([rows, H], no bias), the bias of rows below seg (b0) and of the others
// (b1), and the sequences stored: sequence b of the batch reads b % mod
// (perturbed copies sharing one unperturbed projection).
type attnOperand struct {
	x, b0, b1 cuda.DevPtr
	seg, mod  int
}

// attend runs attn_tc for B sequences of T keys and Tq queries each,
// writing the context [B·Tq, H] into ctx.
func (g *Model) attend(ctx cuda.DevPtr, q, k, v attnOperand, mask cuda.DevPtr, B, T, Tq int) error {
	nh := g.Cfg.Heads
	hs := g.Cfg.Hidden / nh
	scale := float32(1 / math.Sqrt(float64(hs)))
	Tp := (min(T, attnKeyTile) + 7) &^ 7
	shm := 4 * Tp * (2*hs + 12) // a tile of K and V rows of hs+4 and hs+8 floats
	f := g.k.attnTC
	if T > attnKeyTile {
		f = g.k.attnTCTiled
	}
	return g.d.Launch(f, cuda.Dim3{X: B * nh, Y: (Tq + attnRows - 1) / attnRows}, cuda.Dim3{X: 256}, shm,
		ctx, q.x, k.x, v.x, q.b0, q.b1, q.seg, q.mod, k.b0, k.b1, k.seg, k.mod, v.b0, v.b1, v.seg, v.mod, mask, T, Tq, nh, scale)
}

func actCode(act string) int {
	switch act {
	case "gelu_new":
		return actGeluTanh
	case "relu":
		return actRelu
	}
	return actGelu
}

// RunLayers runs layers from..L-1 on the hidden states.
func (g *Model) RunLayers(ws *Workspace, from int, ov *Override) error {
	for l := from; l < g.Cfg.Layers; l++ {
		if err := g.Layer(ws, l, ov); err != nil {
			return err
		}
	}
	return nil
}

// LayerCLS runs encoder layer l for the first token of every sequence only
// and writes its output into ws.cls: keys and values still cover every
// token, but the query, attention row, output projection and feed-forward
// part run on B rows instead of B·T. The sweep uses it for the last layer,
// whose other rows no compared output depends on.
func (g *Model) LayerCLS(ws *Workspace, l int, ov *Override) error {
	c := g.Cfg
	H, I := c.Hidden, c.Inter
	B, T := ws.B, ws.T
	L := &g.Host.P.Layers[l]
	k := g.k
	segCLS := 0 // override segments in CLS rows
	if ov != nil {
		segCLS = ov.SegRows / T
	}
	if err := g.clsAttention(ws, l, ov, segCLS); err != nil {
		return err
	}
	b0, b1, seg, err := g.linear(l, model.AttnOut, ws.tmp, ws.clsCtx, B, segCLS, ov)
	if err != nil {
		return err
	}
	if err := g.d.Launch(k.biasResLN, cuda.Dim3{X: B}, cuda.Dim3{X: g.k.lnThreads}, 0, ws.clsLN1, ws.tmp, b0, b1, seg, ws.clsIn,
		g.ptr(L.LN1G), g.ptr(L.LN1B), H, c.Eps, B); err != nil {
		return err
	}
	if b0, b1, seg, err = g.linear(l, model.FFNIn, ws.clsFI, ws.clsLN1, B, segCLS, ov); err != nil {
		return err
	}
	if err := g.d.Launch(k.biasAct, rowsGrid(B, I), cuda.Dim3{X: elemBlock}, 0, ws.clsFI, ws.clsFI, b0, b1, seg, B, I, actCode(c.Act)); err != nil {
		return err
	}
	if b0, b1, seg, err = g.linear(l, model.FFNOut, ws.tmp, ws.clsFI, B, segCLS, ov); err != nil {
		return err
	}
	return g.d.Launch(k.biasResLN, cuda.Dim3{X: B}, cuda.Dim3{X: g.k.lnThreads}, 0, ws.cls, ws.tmp, b0, b1, seg, ws.clsLN1,
		g.ptr(L.LN2G), g.ptr(L.LN2B), H, c.Eps, B)
}

// clsAttention is LayerCLS's attention: keys and values of every token,
// the first token's query, its context into ws.clsCtx.
func (g *Model) clsAttention(ws *Workspace, l int, ov *Override, segCLS int) error {
	c := g.Cfg
	H, nh := c.Hidden, c.Heads
	hs := H / nh
	B, T := ws.B, ws.T
	BT := B * T
	k := g.k
	// Keys and values of every token: as their GEMMs write them for attn_tc,
	// else biased and permuted to [B, nh, T, hs].
	fused := g.fused(T)
	var kv [2]attnOperand
	for i, p := range []struct {
		typ string
		dst cuda.DevPtr
	}{{model.Key, ws.k}, {model.Value, ws.v}} {
		out := ws.tmp
		if fused {
			out = p.dst
		}
		b0, b1, seg, err := g.linear(l, p.typ, out, ws.hidden, BT, ov.segRows(), ov)
		if err != nil {
			return err
		}
		if fused {
			kv[i] = attnOperand{p.dst, b0, b1, seg, B}
		} else if err := g.d.Launch(k.biasPermute, rowsGrid(BT, H), cuda.Dim3{X: elemBlock}, 0, p.dst, ws.tmp, b0, b1, seg, B, T, nh, hs); err != nil {
			return err
		}
	}
	if err := g.d.Launch(k.gatherCLS, elemGrid(B*H), cuda.Dim3{X: elemBlock}, 0, ws.clsIn, ws.hidden, B, T, H); err != nil {
		return err
	}
	if fused {
		b0, b1, seg, err := g.linear(l, model.Query, ws.clsQ, ws.clsIn, B, segCLS, ov)
		if err != nil {
			return err
		}
		return g.attend(ws.clsCtx, attnOperand{ws.clsQ, b0, b1, seg, B}, kv[0], kv[1], ws.mask, B, T, 1)
	}
	b0, b1, seg, err := g.linear(l, model.Query, ws.tmp, ws.clsIn, B, segCLS, ov)
	if err != nil {
		return err
	}
	// One query per sequence: [B, nh, 1, hs].
	if err := g.d.Launch(k.biasPermute, rowsGrid(B, H), cuda.Dim3{X: elemBlock}, 0, ws.clsQ, ws.tmp, b0, b1, seg, B, 1, nh, hs); err != nil {
		return err
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	if err := g.d.GemmStridedBatched(false, true, 1, T, hs, scale, ws.clsQ, hs, hs, ws.k, hs, T*hs, 0, ws.clsAtt, T, T, B*nh); err != nil {
		return err
	}
	rows := B * nh
	const warps = rowBlock / 32
	if err := g.d.Launch(k.softmaxMask, cuda.Dim3{X: (rows + warps - 1) / warps}, cuda.Dim3{X: rowBlock}, 0, ws.clsAtt, ws.mask, rows, T, nh, 1); err != nil {
		return err
	}
	if err := g.d.GemmStridedBatched(false, false, 1, hs, T, 1, ws.clsAtt, T, T, ws.v, hs, T*hs, 0, ws.clsQ, hs, hs, B*nh); err != nil {
		return err
	}
	return g.d.Launch(k.unpermute, rowsGrid(B, H), cuda.Dim3{X: elemBlock}, 0, ws.clsCtx, ws.clsQ, B, 1, nh, hs)
}

// CLS gathers the first token's hidden state of every sequence into ws.cls.
func (g *Model) CLS(ws *Workspace) error {
	H := g.Cfg.Hidden
	return g.d.Launch(g.k.gatherCLS, elemGrid(ws.B*H), cuda.Dim3{X: elemBlock}, 0, ws.cls, ws.hidden, ws.B, ws.T, H)
}

// Pool computes the pooler output tanh(W·h_CLS + b) into ws.pooled and
// returns its address; without a pooler it returns the CLS states.
func (g *Model) Pool(ws *Workspace) (cuda.DevPtr, error) {
	if err := g.CLS(ws); err != nil {
		return 0, err
	}
	return g.PoolCLS(ws)
}

// PoolCLS is Pool on the CLS states already in ws.cls.
func (g *Model) PoolCLS(ws *Workspace) (cuda.DevPtr, error) {
	if !g.Cfg.HasPooler {
		return ws.cls, nil
	}
	H, P := g.Cfg.Hidden, g.Host.P
	if err := g.d.Gemm(false, true, ws.B, H, H, 1, ws.cls, H, g.ptr(P.PoolW), H, 0, ws.poolPre, H); err != nil {
		return 0, err
	}
	b := g.ptr(P.PoolB)
	if err := g.d.Launch(g.k.biasAct, rowsGrid(ws.B, H), cuda.Dim3{X: elemBlock}, 0, ws.pooled, ws.poolPre, b, b, ws.B, ws.B, H, actTanh); err != nil {
		return 0, err
	}
	return ws.pooled, nil
}

// Output is what Forward copies back.
type Output struct {
	Hidden []float32 // last hidden state [B*T, H]
	CLS    []float32 // [B, H]
	Pooled []float32 // pooler output [B, H] (the CLS states without a pooler)
}

// Forward runs the encoder and the pooler on b and copies the outputs back.
// It allocates a workspace for the batch and frees it afterwards.
func (g *Model) Forward(b model.Batch) (*Output, error) {
	defer g.d.Bind()()
	ws, err := g.NewWorkspace(b.B, b.T)
	if err != nil {
		return nil, err
	}
	defer ws.Free()
	return g.ForwardIn(ws, b)
}

// ForwardIn is Forward in a caller's workspace (the batch must fit it).
func (g *Model) ForwardIn(ws *Workspace, b model.Batch) (*Output, error) {
	defer g.d.Bind()()
	if err := g.SetBatch(ws, b); err != nil {
		return nil, err
	}
	if err := g.Embed(ws); err != nil {
		return nil, err
	}
	if err := g.RunLayers(ws, 0, nil); err != nil {
		return nil, err
	}
	pooled, err := g.Pool(ws)
	if err != nil {
		return nil, err
	}
	H := g.Cfg.Hidden
	out := &Output{Hidden: make([]float32, b.B*b.T*H), CLS: make([]float32, b.B*H), Pooled: make([]float32, b.B*H)}
	for _, e := range []error{g.d.Download(out.Hidden, ws.hidden), g.d.Download(out.CLS, ws.cls), g.d.Download(out.Pooled, pooled)} {
		if e != nil {
			return nil, e
		}
	}
	return out, g.d.Sync()
}
