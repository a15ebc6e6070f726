package gpu

import (
	"fmt"
	"math"

	"github.com/adarank/adarank/internal/backend"
	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/model"
)

// trainKernels are the functions Trainer launches.
type trainKernels struct {
	dropout, embedLN, resLN, lnFwd, lnBwd, biasGrad, biasActSave, biasAct, actBwd           *cuda.Function
	biasPermute, unpermute, softmaxMask, softmaxMaskDrop, softmaxBwd, gatherCLS, scatterCLS *cuda.Function
	biasPermute3, unpermute3                                                                *cuda.Function
	xent, gatherRows, scatterRows, sumsq, adamw                                             *cuda.Function
	lnThreads                                                                               int // LNThreads when compiled
}

func loadTrainKernels(d device, H, lnThreads int) (*trainKernels, error) {
	m, err := d.Compile("adarank_train.cu", kernelSource+trainKernelSource, lnOptions(H, lnThreads)...)
	if err != nil {
		return nil, err
	}
	k := &trainKernels{lnThreads: lnThreads}
	for _, e := range []struct {
		name string
		dst  **cuda.Function
	}{
		{"dropout", &k.dropout}, {"embed_ln_train", &k.embedLN}, {"res_ln_train", &k.resLN}, {"ln_fwd_save", &k.lnFwd},
		{"ln_bwd", &k.lnBwd}, {"bias_grad", &k.biasGrad}, {"bias_act_save", &k.biasActSave}, {"bias_act", &k.biasAct},
		{"act_bwd", &k.actBwd}, {"bias_permute", &k.biasPermute}, {"unpermute", &k.unpermute},
		{"bias_permute3", &k.biasPermute3}, {"unpermute3", &k.unpermute3},
		{"softmax_mask", &k.softmaxMask}, {"softmax_mask_drop", &k.softmaxMaskDrop}, {"softmax_bwd", &k.softmaxBwd}, {"gather_cls", &k.gatherCLS},
		{"scatter_cls_add", &k.scatterCLS}, {"xent", &k.xent}, {"gather_rows", &k.gatherRows},
		{"scatter_add_rows", &k.scatterRows}, {"sumsq", &k.sumsq}, {"adamw", &k.adamw},
	} {
		f, err := m.Func(e.name)
		if err != nil {
			return nil, err
		}
		*e.dst = f
	}
	return k, nil
}

// TrainConfig sets what a Trainer trains.
type TrainConfig struct {
	MaxB, T  int             // capacity: up to MaxB sequences of up to T tokens
	Adapters *model.Adapters // LoRA adapters (nil: none); their values are uploaded by Forward
	Full     bool            // every base weight trainable (pretraining): gradients and AdamW on the GPU
	// Bias[l][t] marks adapted modules whose base bias is trained on the host
	// (train --train-bias): Forward uploads it, Backward returns its gradient.
	Bias [][6]bool
	// MaxRows is the capacity of masked-LM rows per batch (more run in
	// chunks). The masked-LM head's buffers are allocated only for Full
	// trainers or MaxRows > 0 (0 with Full: MaxB·T).
	MaxRows int
}

type layerBufs struct {
	q, k, v, att, attDrop   cuda.DevPtr // [B,nh,T,hs], [B,nh,T,T]
	ctx, res1, ln1          cuda.DevPtr // [BT,H]
	mean1, rstd1            cuda.DevPtr // [BT]
	fiPre, fa               cuda.DevPtr // [BT,I]
	res2, out, mean2, rstd2 cuda.DevPtr
	lora                    [6]cuda.DevPtr // [BT, r] per adapted module (not fused query / key / value)
	// With fused query / key / value: their adapters' A factors are stacked
	// (qkvR rows, adapter ti's from row qkvCol[ti]) so that one GEMM makes
	// every in·Aᵀ ([BT, qkvR] in loraQKV) and one each gives dA and dIn.
	qkvR    int
	qkvCol  [3]int
	loraQKV cuda.DevPtr
}

// Trainer runs training forward and backward passes of one model on the
// GPU with every activation kept for the backward pass (llm.c style: one
// function per op, buffers allocated once for the capacity).
type Trainer struct {
	g    *Model
	d    device
	k    *trainKernels
	cfg  TrainConfig
	B, T int
	seed int64
	drop bool // dropout on in the last Forward

	owned                         []*cuda.Buffer
	ids, pos, types, mask         cuda.DevPtr
	embSum, embMean, embRstd, emb cuda.DevPtr
	layers                        []layerBufs
	tmp                           cuda.DevPtr // [BT, H] GEMM output
	pA, pB, pC                    cuda.DevPtr // permuted scratch [BT,H]
	dOut, dRes, dLn1, dCtx, dIn   cuda.DevPtr // [BT,H]
	dQ, dK, dV, dDrop             cuda.DevPtr
	dFa, dFi                      cuda.DevPtr // [BT,I]
	dAtt                          cuda.DevPtr // [B,nh,T,T]
	dTmp                          cuda.DevPtr // [BT, rmax]
	cls, poolPre, pooled, dPool   cuda.DevPtr // [B,H]
	dCls                          cuda.DevPtr
	zero                          cuda.DevPtr // [max(H,I)] zeros
	slot                          cuda.DevPtr // one double
	// masked-LM head
	mRows, mLab                    cuda.DevPtr // int32 [n]
	mX, mT, mA, mLN, mDX, mDT, mDA cuda.DevPtr // [n,H]
	mMean, mRstd, mLoss, mPred     cuda.DevPtr // [n]
	mLogits                        cuda.DevPtr // [n,V]
	// adapters: packed A then B of each adapter in Adapters.Each order
	adBuf, adGrad *cuda.Buffer
	adOff         map[*model.LoRA][2]int // offsets of A and B in adBuf and adGrad
	adHost        []float32              // page-locked staging of the adapters' upload (adPinned.F32)
	adGradHost    []float32              // page-locked staging of their gradients' download
	pinned        []*cuda.HostBuffer     // freed with the trainer
	biasGrad      *cuda.Buffer           // packed bias gradients of cfg.Bias modules
	biasOff       [][6]int
	// full training
	grads, adamM, adamV *cuda.Buffer
	// fused QKV projection (frozen base): [Wq; Wk; Wv] per layer, [3H, H]
	fused     bool
	wqkv      *cuda.Buffer
	qkv, dqkv cuda.DevPtr // [BT, 3H]
}

// SeparateQKV computes a frozen base's query, key and value projections
// (and their input gradients) as three GEMMs instead of one over the
// stacked weights (kept to time the fusion, gpucheck).
var SeparateQKV bool

// NewTrainer allocates a trainer's device buffers.
func (g *Model) NewTrainer(cfg TrainConfig) (*Trainer, error) {
	c := g.Cfg
	if cfg.MaxB <= 0 || cfg.T <= 0 {
		return nil, fmt.Errorf("gpu: trainer for %d×%d tokens", cfg.MaxB, cfg.T)
	}
	if c.Hidden%c.Heads != 0 {
		return nil, fmt.Errorf("gpu: hidden size %d not divisible by %d heads", c.Hidden, c.Heads)
	}
	defer g.d.Bind()()
	k, err := loadTrainKernels(g.d, g.Cfg.Hidden, LNThreads)
	if err != nil {
		return nil, err
	}
	t := &Trainer{g: g, d: g.d, k: k, cfg: cfg}
	if err := t.alloc(); err != nil {
		t.Free()
		return nil, err
	}
	return t, nil
}

func (t *Trainer) alloc() error {
	c := t.g.Cfg
	H, I, nh := c.Hidden, c.Inter, c.Heads
	B, T := t.cfg.MaxB, t.cfg.T
	BT := B * T
	var err error
	a := func(name string, n int) cuda.DevPtr {
		if err != nil {
			return 0
		}
		var b *cuda.Buffer
		b, err = t.d.AllocF32(fmt.Sprintf("%s (training batch of %d×%d tokens)", name, B, T), max(n, 2))
		if err != nil {
			return 0
		}
		t.owned = append(t.owned, b)
		return b.Ptr
	}
	t.fused = !t.cfg.Full && !SeparateQKV
	rmax := 1
	t.cfg.Adapters.Each(func(_ int, _ string, l *model.LoRA) { rmax = max(rmax, l.R) })
	t.ids, t.pos, t.types, t.mask = a("token ids", BT), a("position ids", BT), a("token type ids", BT), a("attention mask", BT)
	t.embSum, t.emb = a("embedding sums", BT*H), a("embedding output", BT*H)
	t.embMean, t.embRstd = a("embedding LayerNorm statistics", BT), a("embedding LayerNorm statistics", BT)
	attDrop := c.AttnDrop > 0
	t.layers = make([]layerBufs, c.Layers)
	for l := range t.layers {
		L := &t.layers[l]
		L.q, L.k, L.v = a("queries", BT*H), a("keys", BT*H), a("values", BT*H)
		L.att = a("attention probabilities", B*nh*T*T)
		L.attDrop = L.att
		if attDrop {
			L.attDrop = a("attention probabilities after dropout", B*nh*T*T)
		}
		L.ctx, L.res1, L.ln1 = a("attention context", BT*H), a("attention residual", BT*H), a("attention LayerNorm output", BT*H)
		L.mean1, L.rstd1 = a("LayerNorm statistics", BT), a("LayerNorm statistics", BT)
		L.fiPre, L.fa = a("feed-forward pre-activations", BT*I), a("feed-forward activations", BT*I)
		L.res2, L.out = a("feed-forward residual", BT*H), a("layer output", BT*H)
		L.mean2, L.rstd2 = a("LayerNorm statistics", BT), a("LayerNorm statistics", BT)
		if t.cfg.Adapters != nil {
			for ti, ad := range t.cfg.Adapters.L[l] {
				switch {
				case ad == nil:
				case t.fused && ti < 3:
					L.qkvCol[ti] = L.qkvR
					L.qkvR += ad.R
				default:
					L.lora[ti] = a("LoRA intermediates", BT*ad.R)
				}
			}
			if L.qkvR > 0 {
				L.loraQKV = a("LoRA intermediates", BT*L.qkvR)
				rmax = max(rmax, L.qkvR)
			}
		}
	}
	t.tmp = a("linear output", BT*H) // the feed-forward input projection writes fiPre itself
	t.pA, t.pB, t.pC = a("attention gradients", BT*H), a("attention gradients", BT*H), a("attention gradients", BT*H)
	t.dOut, t.dRes, t.dLn1, t.dCtx, t.dIn = a("gradients", BT*H), a("gradients", BT*H), a("gradients", BT*H), a("gradients", BT*H), a("gradients", BT*H)
	t.dQ, t.dK, t.dV, t.dDrop = a("gradients", BT*H), a("gradients", BT*H), a("gradients", BT*H), a("gradients", BT*H)
	t.dFa, t.dFi = a("feed-forward gradients", BT*I), a("feed-forward gradients", BT*I)
	t.dAtt = a("attention-score gradients", B*nh*T*T)
	t.dTmp = a("LoRA gradients", BT*rmax)
	t.cls, t.poolPre, t.pooled, t.dPool, t.dCls = a("CLS states", B*H), a("pooler", B*H), a("pooler output", B*H), a("pooler gradients", B*H), a("CLS gradients", B*H)
	t.zero = a("zeros", max(H, I))
	t.slot = a("reduction slot", 2)
	if t.fused {
		t.qkv, t.dqkv = a("query, key and value projections", BT*3*H), a("query, key and value gradients", BT*3*H)
	}
	if c.HasMLM && (t.cfg.Full || t.cfg.MaxRows > 0) {
		n := t.cfg.MaxRows
		if n <= 0 {
			n = BT
		}
		t.cfg.MaxRows = n
		t.mRows, t.mLab = a("masked rows", n), a("masked labels", n)
		t.mX, t.mT, t.mA, t.mLN = a("MLM head", n*H), a("MLM head", n*H), a("MLM head", n*H), a("MLM head", n*H)
		t.mDX, t.mDT, t.mDA = a("MLM head gradients", n*H), a("MLM head gradients", n*H), a("MLM head gradients", n*H)
		t.mMean, t.mRstd, t.mLoss, t.mPred = a("MLM statistics", n), a("MLM statistics", n), a("MLM losses", n), a("MLM predictions", n)
		t.mLogits = a("MLM logits", n*c.Vocab)
	}
	if err != nil {
		return err
	}
	if err := t.d.Fill32(t.zero, 0, max(H, I)); err != nil {
		return err
	}
	if ad := t.cfg.Adapters; ad != nil && ad.NumParams() > 0 {
		// Per layer: with fused query / key / value, their A factors
		// first (stacked), then their B factors; every other adapter A, B.
		t.adOff = map[*model.LoRA][2]int{}
		off := 0
		for l := range ad.L {
			for _, stack := range []bool{true, false} {
				for ti, a := range ad.L[l] {
					if a == nil || (t.fused && ti < 3) != stack {
						continue
					}
					if !stack {
						t.adOff[a] = [2]int{off, off + len(a.A)}
						off += len(a.A) + len(a.B)
						continue
					}
					o := t.adOff[a]
					o[0], off = off, off+len(a.A)
					t.adOff[a] = o
				}
				for ti, a := range ad.L[l] {
					if a != nil && stack && t.fused && ti < 3 {
						o := t.adOff[a]
						o[1], off = off, off+len(a.B)
						t.adOff[a] = o
					}
				}
			}
		}
		for _, dst := range []*[]float32{&t.adHost, &t.adGradHost} {
			hb, err := t.d.AllocHost("LoRA adapter staging", off)
			if err != nil {
				return err
			}
			t.pinned = append(t.pinned, hb)
			*dst = hb.F32
		}
		if t.adBuf, err = t.d.AllocF32("LoRA adapters", off); err != nil {
			return err
		}
		t.owned = append(t.owned, t.adBuf)
		if t.adGrad, err = t.d.AllocF32("LoRA adapter gradients", off); err != nil {
			return err
		}
		t.owned = append(t.owned, t.adGrad)
	}
	if t.cfg.Bias != nil {
		t.biasOff = make([][6]int, len(t.cfg.Bias))
		off := 0
		for l := range t.cfg.Bias {
			for ti, on := range t.cfg.Bias[l] {
				t.biasOff[l][ti] = -1
				if on {
					t.biasOff[l][ti] = off
					_, out := c.ModuleDims(model.ModuleTypes[ti])
					off += out
				}
			}
		}
		if off > 0 {
			if t.biasGrad, err = t.d.AllocF32("bias gradients", off); err != nil {
				return err
			}
			t.owned = append(t.owned, t.biasGrad)
		}
	}
	if t.fused {
		HH := H * H
		if t.wqkv, err = t.d.AllocF32("stacked query, key and value weights", c.Layers*3*HH); err != nil {
			return err
		}
		t.owned = append(t.owned, t.wqkv)
		for l := range c.Layers {
			L := &t.g.Host.P.Layers[l]
			for i, w := range [][]float32{L.Q, L.K, L.V} {
				if err := t.d.Copy(t.wqkv.At((3*l+i)*HH), t.g.ptr(w), HH); err != nil {
					return err
				}
			}
		}
	}
	if t.cfg.Full {
		n := len(t.g.Host.P.Data)
		for _, e := range []struct {
			name string
			dst  **cuda.Buffer
		}{{"parameter gradients", &t.grads}, {"AdamW first moments", &t.adamM}, {"AdamW second moments", &t.adamV}} {
			b, err := t.d.AllocF32(e.name, n)
			if err != nil {
				return err
			}
			t.owned = append(t.owned, b)
			*e.dst = b
			if err := t.d.Fill32(b.Ptr, 0, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// Free releases the trainer's device memory.
func (t *Trainer) Free() {
	if t == nil {
		return
	}
	for _, b := range t.owned {
		b.Free()
	}
	t.owned = nil
	for _, hb := range t.pinned {
		hb.Free()
	}
	t.pinned, t.adHost, t.adGradHost = nil, nil, nil
}

// gptr is the gradient address of a parameter view (0 when the base is frozen).
func (t *Trainer) gptr(s []float32) cuda.DevPtr {
	if t.grads == nil || len(s) == 0 {
		return 0
	}
	return t.grads.Ptr + (t.g.ptr(s) - t.g.params.Ptr)
}

func (t *Trainer) launchElem(f *cuda.Function, n int, args ...any) error {
	return t.d.Launch(f, elemGrid(n), cuda.Dim3{X: elemBlock}, 0, args...)
}

// launchRows launches a row-structured kernel (FOR_ROWS / FOR_COLS) over rows × n.
func (t *Trainer) launchRows(f *cuda.Function, rows, n int, args ...any) error {
	return t.d.Launch(f, rowsGrid(rows, n), cuda.Dim3{X: elemBlock}, 0, args...)
}

// SeparateDropoutKernels runs attention dropout as its own kernel instead
// of inside the softmax forward and backward (same masks and results; kept
// to time the fusion, gpucheck).
var SeparateDropoutKernels bool

// dropSite numbers the dropout sites of a forward pass.
func dropSite(layer, which int) int { return 1 + layer*4 + which }

const (
	siteAtt = 0
	siteAO  = 1
	siteFO  = 2
)

// Forward runs the training forward pass on b, keeping every activation.
// With train set, dropout is on (masks drawn from seed). Adapters (and the
// trained biases) are uploaded from the host first.
func (t *Trainer) Forward(b model.Batch, train bool, seed uint64) error {
	g, c := t.g, t.g.Cfg
	if err := g.Host.Validate(b); err != nil {
		return err
	}
	if b.B > t.cfg.MaxB || b.T > t.cfg.T {
		return fmt.Errorf("gpu: batch of %d×%d tokens exceeds the trainer's %d×%d", b.B, b.T, t.cfg.MaxB, t.cfg.T)
	}
	defer t.d.Bind()()
	t.B, t.T, t.seed, t.drop = b.B, b.T, int64(seed), train
	BT := b.B * b.T
	pos := make([]int32, BT)
	mask := make([]float32, BT)
	hostPositions(c, b, pos, mask)
	types := b.TypeIDs
	if types == nil {
		types = make([]int32, BT)
	}
	for _, e := range []error{t.d.UploadI32(t.ids, b.IDs), t.d.UploadI32(t.pos, pos), t.d.UploadI32(t.types, types), t.d.Upload(t.mask, mask)} {
		if e != nil {
			return e
		}
	}
	if err := t.uploadAdapters(); err != nil {
		return err
	}
	if err := t.uploadBiases(); err != nil {
		return err
	}
	P := g.Host.P
	H := c.Hidden
	if err := t.d.Launch(t.k.embedLN, cuda.Dim3{X: BT}, cuda.Dim3{X: t.k.lnThreads}, 0, t.emb, t.embSum, t.embMean, t.embRstd,
		t.ids, t.pos, t.types, g.ptr(P.WordEmb), g.ptr(P.PosEmb), g.ptr(P.TypeEmb), g.ptr(P.EmbLNG), g.ptr(P.EmbLNB), H, c.Eps, BT); err != nil {
		return err
	}
	if p := t.pHidden(); p > 0 {
		if err := t.launchElem(t.k.dropout, BT*H, t.emb, t.emb, BT*H, p, t.seed, 0); err != nil {
			return err
		}
	}
	for l := 0; l < c.Layers; l++ {
		if err := t.layerForward(l); err != nil {
			return err
		}
	}
	return nil
}

func (t *Trainer) pHidden() float32 {
	if !t.drop {
		return 0
	}
	return t.g.Cfg.HiddenDrop
}

func (t *Trainer) pAttn() float32 {
	if !t.drop {
		return 0
	}
	return t.g.Cfg.AttnDrop
}

func (t *Trainer) layerIn(l int) cuda.DevPtr {
	if l == 0 {
		return t.emb
	}
	return t.layers[l-1].out
}

// Hidden is the device address of the last hidden states [B*T, H].
func (t *Trainer) Hidden() cuda.DevPtr { return t.layers[len(t.layers)-1].out }

func (t *Trainer) adapter(l, ti int) *model.LoRA {
	if t.cfg.Adapters == nil {
		return nil
	}
	return t.cfg.Adapters.L[l][ti]
}

// linear: out[rows, nout] = in·Wᵀ (+ LoRA); the bias is left to the caller's fused kernel.
func (t *Trainer) linear(l, ti int, out, in cuda.DevPtr, rows int) error {
	typ := model.ModuleTypes[ti]
	w, _, nout, nin, _ := t.g.Host.P.Layers[l].Linear(typ)
	if err := t.d.Gemm(false, true, rows, nout, nin, 1, in, nin, t.g.ptr(w), nin, 0, out, nout); err != nil {
		return err
	}
	return t.loraForward(l, ti, out, nout, in, rows)
}

// loraForward adds module (l, ti)'s adapter term scale·(in·Aᵀ)·Bᵀ into out
// (leading dimension ld), keeping in·Aᵀ for the backward pass.
func (t *Trainer) loraForward(l, ti int, out cuda.DevPtr, ld int, in cuda.DevPtr, rows int) error {
	a := t.adapter(l, ti)
	if a == nil {
		return nil
	}
	nin, nout := t.g.Cfg.ModuleDims(model.ModuleTypes[ti])
	A, Bm := t.adPtrs(a)
	tmp := t.layers[l].lora[ti]
	if err := t.d.Gemm(false, true, rows, a.R, nin, 1, in, nin, A, nin, 0, tmp, a.R); err != nil {
		return err
	}
	return t.d.Gemm(false, true, rows, nout, a.R, a.Scale, tmp, a.R, Bm, a.R, 1, out, ld)
}

// loraQKVForward adds the query / key / value adapters' terms into the fused
// projection t.qkv [BT, 3H]: one GEMM for in·Aᵀ of all of them (their A
// factors are stacked), then one per adapter for scale·(in·Aᵀ)·Bᵀ.
func (t *Trainer) loraQKVForward(l int, in cuda.DevPtr) error {
	L := &t.layers[l]
	if L.qkvR == 0 {
		return nil
	}
	H, BT, R := t.g.Cfg.Hidden, t.B*t.T, L.qkvR
	if err := t.d.Gemm(false, true, BT, R, H, 1, in, H, t.qkvA(l), H, 0, L.loraQKV, R); err != nil {
		return err
	}
	for ti := range 3 {
		if a := t.adapter(l, ti); a != nil {
			_, Bm := t.adPtrs(a)
			if err := t.d.Gemm(false, true, BT, H, a.R, a.Scale, L.loraQKV.Add(L.qkvCol[ti]), R, Bm, a.R, 1, t.qkv.Add(ti*H), 3*H); err != nil {
				return err
			}
		}
	}
	return nil
}

// loraQKVBackward is loraBackward for the stacked query / key / value
// adapters, from the fused gradient t.dqkv [BT, 3H]: per adapter dB and its
// columns of dTmp, then one GEMM for every dA and one for dIn.
func (t *Trainer) loraQKVBackward(l int, dIn, in cuda.DevPtr) error {
	L := &t.layers[l]
	if L.qkvR == 0 {
		return nil
	}
	H, BT, R := t.g.Cfg.Hidden, t.B*t.T, L.qkvR
	var dA cuda.DevPtr
	for ti := range 3 {
		a := t.adapter(l, ti)
		if a == nil {
			continue
		}
		_, Bm := t.adPtrs(a)
		dAi, dB := t.adGradPtrs(a)
		if dA == 0 {
			dA = dAi
		}
		dOut := t.dqkv.Add(ti * H)
		if err := t.d.Gemm(true, false, H, a.R, BT, a.Scale, dOut, 3*H, L.loraQKV.Add(L.qkvCol[ti]), R, 1, dB, a.R); err != nil {
			return err
		}
		if err := t.d.Gemm(false, false, BT, a.R, H, a.Scale, dOut, 3*H, Bm, a.R, 0, t.dTmp.Add(L.qkvCol[ti]), R); err != nil {
			return err
		}
	}
	if err := t.d.Gemm(true, false, R, H, BT, 1, t.dTmp, R, in, H, 1, dA, H); err != nil {
		return err
	}
	if dIn != 0 {
		return t.d.Gemm(false, false, BT, H, R, 1, t.dTmp, R, t.qkvA(l), H, 1, dIn, H)
	}
	return nil
}

// qkvA is the first of layer l's stacked query / key / value A factors.
func (t *Trainer) qkvA(l int) cuda.DevPtr {
	for ti := range 3 {
		if a := t.adapter(l, ti); a != nil {
			A, _ := t.adPtrs(a)
			return A
		}
	}
	return 0
}

func (t *Trainer) adPtrs(a *model.LoRA) (A, B cuda.DevPtr) {
	off := t.adOff[a]
	return t.adBuf.At(off[0]), t.adBuf.At(off[1])
}

func (t *Trainer) adGradPtrs(a *model.LoRA) (A, B cuda.DevPtr) {
	off := t.adOff[a]
	return t.adGrad.At(off[0]), t.adGrad.At(off[1])
}

func (t *Trainer) layerForward(l int) error {
	c := t.g.Cfg
	H, I, nh := c.Hidden, c.Inter, c.Heads
	hs := H / nh
	B, T := t.B, t.T
	BT := B * T
	L := &t.layers[l]
	P := &t.g.Host.P.Layers[l]
	in := t.layerIn(l)
	k := t.k
	biases := [6][]float32{P.QB, P.KB, P.VB, P.AOB, P.FIB, P.FOB}
	if t.fused {
		// One GEMM over the stacked weights, adapters added into their column blocks.
		if err := t.d.Gemm(false, true, BT, 3*H, H, 1, in, H, t.wqkv.At(3*l*H*H), H, 0, t.qkv, 3*H); err != nil {
			return err
		}
		if err := t.loraQKVForward(l, in); err != nil {
			return err
		}
		if err := t.launchRows(k.biasPermute3, BT, 3*H, L.q, L.k, L.v, t.qkv, t.g.ptr(P.QB), t.g.ptr(P.KB), t.g.ptr(P.VB), B, T, nh, hs); err != nil {
			return err
		}
	} else {
		for ti, dst := range []cuda.DevPtr{L.q, L.k, L.v} {
			if err := t.linear(l, ti, t.tmp, in, BT); err != nil {
				return err
			}
			b := t.g.ptr(biases[ti])
			if err := t.launchRows(k.biasPermute, BT, H, dst, t.tmp, b, b, BT, B, T, nh, hs); err != nil {
				return err
			}
		}
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	if err := t.d.GemmStridedBatched(false, true, T, T, hs, scale, L.q, hs, T*hs, L.k, hs, T*hs, 0, L.att, T, T*T, B*nh); err != nil {
		return err
	}
	rows := B * nh * T
	const warps = rowBlock / 32
	grid := cuda.Dim3{X: (rows + warps - 1) / warps}
	attUsed := L.att
	if p := t.pAttn(); p > 0 {
		attUsed = L.attDrop
		site := dropSite(l, siteAtt)
		if !SeparateDropoutKernels {
			if err := t.d.Launch(k.softmaxMaskDrop, grid, cuda.Dim3{X: rowBlock}, 0, L.att, L.attDrop, t.mask, rows, T, nh, T, p, t.seed, site); err != nil {
				return err
			}
		} else {
			if err := t.d.Launch(k.softmaxMask, grid, cuda.Dim3{X: rowBlock}, 0, L.att, t.mask, rows, T, nh, T); err != nil {
				return err
			}
			if err := t.launchElem(k.dropout, rows*T, L.attDrop, L.att, rows*T, p, t.seed, site); err != nil {
				return err
			}
		}
	} else if err := t.d.Launch(k.softmaxMask, grid, cuda.Dim3{X: rowBlock}, 0, L.att, t.mask, rows, T, nh, T); err != nil {
		return err
	}
	if err := t.d.GemmStridedBatched(false, false, T, hs, T, 1, attUsed, T, T*T, L.v, hs, T*hs, 0, t.pA, hs, T*hs, B*nh); err != nil {
		return err
	}
	if err := t.launchRows(k.unpermute, BT, H, L.ctx, t.pA, B, T, nh, hs); err != nil {
		return err
	}
	if err := t.linear(l, 3, t.tmp, L.ctx, BT); err != nil {
		return err
	}
	if err := t.d.Launch(k.resLN, cuda.Dim3{X: BT}, cuda.Dim3{X: t.k.lnThreads}, 0, L.ln1, L.res1, L.mean1, L.rstd1, t.tmp, t.g.ptr(P.AOB), in,
		t.g.ptr(P.LN1G), t.g.ptr(P.LN1B), H, c.Eps, t.pHidden(), t.seed, dropSite(l, siteAO), BT); err != nil {
		return err
	}
	if err := t.linear(l, 4, L.fiPre, L.ln1, BT); err != nil {
		return err
	}
	if err := t.launchRows(k.biasActSave, BT, I, L.fa, L.fiPre, L.fiPre, t.g.ptr(P.FIB), BT, I, actCode(c.Act)); err != nil {
		return err
	}
	if err := t.linear(l, 5, t.tmp, L.fa, BT); err != nil {
		return err
	}
	return t.d.Launch(k.resLN, cuda.Dim3{X: BT}, cuda.Dim3{X: t.k.lnThreads}, 0, L.out, L.res2, L.mean2, L.rstd2, t.tmp, t.g.ptr(P.FOB), L.ln1,
		t.g.ptr(P.LN2G), t.g.ptr(P.LN2B), H, c.Eps, t.pHidden(), t.seed, dropSite(l, siteFO), BT)
}

// HeadInput computes the pooler output (pooled, when the model has a
// pooler) or the CLS states of the last Forward and copies them back [B,H].
func (t *Trainer) HeadInput(pooled bool) ([]float32, error) {
	defer t.d.Bind()()
	c := t.g.Cfg
	H, B := c.Hidden, t.B
	if err := t.launchElem(t.k.gatherCLS, B*H, t.cls, t.Hidden(), B, t.T, H); err != nil {
		return nil, err
	}
	src := t.cls
	if pooled && c.HasPooler {
		P := t.g.Host.P
		if err := t.d.Gemm(false, true, B, H, H, 1, t.cls, H, t.g.ptr(P.PoolW), H, 0, t.poolPre, H); err != nil {
			return nil, err
		}
		b := t.g.ptr(P.PoolB)
		if err := t.launchRows(t.k.biasAct, B, H, t.pooled, t.poolPre, b, b, B, B, H, actTanh); err != nil {
			return nil, err
		}
		src = t.pooled
	}
	out := make([]float32, B*H)
	return out, t.d.Download(out, src)
}

// BackwardHead propagates dX [B,H], the gradient on HeadInput(pooled)'s
// output, through the pooler and the encoder. Adapter and bias gradients
// stay on the device until AddGrads.
func (t *Trainer) BackwardHead(dX []float32, pooled bool) error {
	defer t.d.Bind()()
	c := t.g.Cfg
	H, B, T := c.Hidden, t.B, t.T
	if len(dX) != B*H {
		return fmt.Errorf("gpu: head gradient of %d values for %d×%d", len(dX), B, H)
	}
	if err := t.d.Fill32(t.dOut, 0, B*T*H); err != nil {
		return err
	}
	if err := t.d.Upload(t.dPool, dX); err != nil {
		return err
	}
	dCls := t.dPool
	if pooled && c.HasPooler {
		P := t.g.Host.P
		if err := t.launchElem(t.k.actBwd, B*H, t.poolPre, t.dPool, t.pooled, B*H, actTanh); err != nil { // poolPre ← d(pre-tanh)
			return err
		}
		if err := t.d.Gemm(false, false, B, H, H, 1, t.poolPre, H, t.g.ptr(P.PoolW), H, 0, t.dCls, H); err != nil {
			return err
		}
		if t.grads != nil {
			if err := t.d.Gemm(true, false, H, H, B, 1, t.poolPre, H, t.cls, H, 1, t.gptr(P.PoolW), H); err != nil {
				return err
			}
			if err := t.biasGradLaunch(t.gptr(P.PoolB), t.poolPre, B, H, H); err != nil {
				return err
			}
		}
		dCls = t.dCls
	}
	if err := t.launchElem(t.k.scatterCLS, B*H, t.dOut, dCls, B, T, H); err != nil {
		return err
	}
	return t.backward()
}

// MLMResult is one masked-LM batch's outcome.
type MLMResult struct {
	Loss    float64 // summed over the rows
	Correct int
}

// MLM runs the masked-LM head on rows of the last Forward's hidden states,
// the cross-entropy against labels and, with backward set, the backward
// pass of the head and the encoder (gradients scaled by scale, added into
// the trainer's gradient buffer). Rows beyond the head's capacity
// (TrainConfig.MaxRows) are processed in chunks.
func (t *Trainer) MLM(rows, labels []int32, scale float32, backward bool) (MLMResult, error) {
	c := t.g.Cfg
	if !c.HasMLM {
		return MLMResult{}, fmt.Errorf("gpu: model has no masked-LM head")
	}
	if t.mLogits == 0 {
		return MLMResult{}, fmt.Errorf("gpu: trainer made without masked-LM buffers (TrainConfig.MaxRows)")
	}
	n, H, V := len(rows), c.Hidden, c.Vocab
	if n == 0 || len(labels) != n {
		return MLMResult{}, fmt.Errorf("gpu: %d masked rows and %d labels", n, len(labels))
	}
	BT := t.B * t.T
	for i := range rows {
		if rows[i] < 0 || int(rows[i]) >= BT || labels[i] < 0 || int(labels[i]) >= V {
			return MLMResult{}, fmt.Errorf("gpu: masked row %d / label %d out of range", rows[i], labels[i])
		}
	}
	if backward && t.grads == nil {
		return MLMResult{}, fmt.Errorf("gpu: masked-LM backward needs a Full trainer")
	}
	defer t.d.Bind()()
	if backward {
		if err := t.d.Fill32(t.dOut, 0, BT*H); err != nil {
			return MLMResult{}, err
		}
	}
	var res MLMResult
	for lo := 0; lo < n; lo += t.cfg.MaxRows {
		hi := min(n, lo+t.cfg.MaxRows)
		r, err := t.mlmChunk(rows[lo:hi], labels[lo:hi], scale, backward)
		if err != nil {
			return MLMResult{}, err
		}
		res.Loss += r.Loss
		res.Correct += r.Correct
	}
	if !backward {
		return res, nil
	}
	return res, t.backward()
}

// mlmChunk is MLM on at most MaxRows rows; its backward adds the head's
// parameter gradients and scatters the hidden-state gradient into t.dOut.
func (t *Trainer) mlmChunk(rows, labels []int32, scale float32, backward bool) (MLMResult, error) {
	c := t.g.Cfg
	n, H, V := len(rows), c.Hidden, c.Vocab
	P := t.g.Host.P
	k := t.k
	act := actCode(c.Act)
	if c.Arch == "roberta" {
		act = actGelu // RobertaLMHead hard-codes exact GELU
	}
	for _, e := range []error{t.d.UploadI32(t.mRows, rows), t.d.UploadI32(t.mLab, labels)} {
		if e != nil {
			return MLMResult{}, e
		}
	}
	steps := []func() error{
		func() error { return t.launchElem(k.gatherRows, n*H, t.mX, t.Hidden(), t.mRows, n, H) },
		func() error {
			return t.d.Gemm(false, true, n, H, H, 1, t.mX, H, t.g.ptr(P.MLMDenseW), H, 0, t.mT, H)
		},
		func() error {
			return t.launchRows(k.biasActSave, n, H, t.mA, t.mT, t.mT, t.g.ptr(P.MLMDenseB), n, H, act)
		},
		func() error {
			return t.d.Launch(k.lnFwd, cuda.Dim3{X: n}, cuda.Dim3{X: t.k.lnThreads}, 0, t.mLN, t.mMean, t.mRstd, t.mA,
				t.g.ptr(P.MLMLNG), t.g.ptr(P.MLMLNB), H, c.Eps, n)
		},
		func() error {
			return t.d.Gemm(false, true, n, V, H, 1, t.mLN, H, t.g.ptr(P.MLMDecoder), H, 0, t.mLogits, V)
		},
		func() error {
			b := t.g.ptr(P.MLMDecoderB)
			return t.launchRows(k.biasAct, n, V, t.mLogits, t.mLogits, b, b, n, n, V, actNone)
		},
		func() error {
			return t.d.Launch(k.xent, cuda.Dim3{X: n}, cuda.Dim3{X: 256}, 0, t.mLogits, t.mLoss, t.mPred, t.mLab, V, scale)
		},
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return MLMResult{}, err
		}
	}
	loss := make([]float32, n)
	pred := make([]float32, n)
	if err := t.d.Download(loss, t.mLoss); err != nil {
		return MLMResult{}, err
	}
	if err := t.d.Download(pred, t.mPred); err != nil {
		return MLMResult{}, err
	}
	var res MLMResult
	for i := range loss {
		res.Loss += float64(loss[i])
		if int32(pred[i]) == labels[i] {
			res.Correct++
		}
	}
	if !backward {
		return res, nil
	}
	// dLogits is in mLogits.
	back := []func() error{
		func() error {
			return t.d.Gemm(false, false, n, H, V, 1, t.mLogits, V, t.g.ptr(P.MLMDecoder), H, 0, t.mDX, H)
		},
		func() error {
			return t.d.Gemm(true, false, V, H, n, 1, t.mLogits, V, t.mLN, H, 1, t.gptr(P.MLMDecoder), H)
		},
		func() error { return t.biasGradLaunch(t.gptr(P.MLMDecoderB), t.mLogits, n, V, V) },
		func() error {
			return t.lnBackward(t.mDA, 0, t.gptr(P.MLMLNG), t.gptr(P.MLMLNB), t.mDX, t.mA, t.mMean, t.mRstd, t.g.ptr(P.MLMLNG), n, H, 0, 0)
		},
		func() error { return t.launchElem(k.actBwd, n*H, t.mDT, t.mDA, t.mT, n*H, act) },
		func() error {
			return t.d.Gemm(false, false, n, H, H, 1, t.mDT, H, t.g.ptr(P.MLMDenseW), H, 0, t.mDX, H)
		},
		func() error { return t.d.Gemm(true, false, H, H, n, 1, t.mDT, H, t.mX, H, 1, t.gptr(P.MLMDenseW), H) },
		func() error { return t.biasGradLaunch(t.gptr(P.MLMDenseB), t.mDT, n, H, H) },
		func() error { return t.launchElem(k.scatterRows, n*H, t.dOut, t.mDX, t.mRows, n, H) },
	}
	for _, s := range back {
		if err := s(); err != nil {
			return MLMResult{}, err
		}
	}
	return res, nil
}

// biasGradLaunch adds the column sums of dy (rows × N, leading dimension ld) into db.
func (t *Trainer) biasGradLaunch(db, dy cuda.DevPtr, rows, N, ld int) error {
	if db == 0 {
		return nil
	}
	gy := max(1, min(64, (rows+127)/128))
	return t.d.Launch(t.k.biasGrad, cuda.Dim3{X: (N + elemBlock - 1) / elemBlock, Y: gy}, cuda.Dim3{X: elemBlock}, 0, db, dy, rows, N, ld)
}

// lnBackward launches ln_bwd: dx, and with dxd ≠ 0 also dxd = dx · the
// dropout mask of (p, site).
func (t *Trainer) lnBackward(dx, dxd, dg, db, dy, x, mean, rstd, g cuda.DevPtr, rows, H int, p float32, site int) error {
	// One warp per row; with parameter gradients, fewer blocks (each adds its
	// partial dg / db once) and 2·H floats of shared memory.
	grid, shmem := (rows+rowBlock/32-1)/(rowBlock/32), 0
	if dg != 0 {
		grid, shmem = min(grid, 512), 2*H*4
	}
	return t.d.Launch(t.k.lnBwd, cuda.Dim3{X: max(1, grid)}, cuda.Dim3{X: rowBlock}, shmem, dx, dxd, dg, db, dy, x, mean, rstd, g, rows, H,
		p, t.seed, site)
}

// linearBackward: dIn (+)= dOut·W (beta 0 or 1), weight and bias grads
// when the base trains, bias grads of host-trained biases, LoRA grads.
func (t *Trainer) linearBackward(l, ti int, dIn cuda.DevPtr, accum bool, dOut, in cuda.DevPtr) error {
	typ := model.ModuleTypes[ti]
	P := &t.g.Host.P.Layers[l]
	w, b, nout, nin, _ := P.Linear(typ)
	rows := t.B * t.T
	beta := float32(0)
	if accum {
		beta = 1
	}
	if dIn != 0 {
		if err := t.d.Gemm(false, false, rows, nin, nout, 1, dOut, nout, t.g.ptr(w), nin, beta, dIn, nin); err != nil {
			return err
		}
	}
	if t.grads != nil {
		if err := t.d.Gemm(true, false, nout, nin, rows, 1, dOut, nout, in, nin, 1, t.gptr(w), nin); err != nil {
			return err
		}
		if err := t.biasGradLaunch(t.gptr(b), dOut, rows, nout, nout); err != nil {
			return err
		}
	} else if t.biasOff != nil && t.biasOff[l][ti] >= 0 {
		if err := t.biasGradLaunch(t.biasGrad.At(t.biasOff[l][ti]), dOut, rows, nout, nout); err != nil {
			return err
		}
	}
	return t.loraBackward(l, ti, dIn, dOut, nout, in)
}

// loraBackward adds module (l, ti)'s adapter gradients and, with dIn, its
// input gradient, from dOut (leading dimension ld).
func (t *Trainer) loraBackward(l, ti int, dIn, dOut cuda.DevPtr, ld int, in cuda.DevPtr) error {
	a := t.adapter(l, ti)
	if a == nil {
		return nil
	}
	nin, nout := t.g.Cfg.ModuleDims(model.ModuleTypes[ti])
	rows := t.B * t.T
	A, Bm := t.adPtrs(a)
	dA, dB := t.adGradPtrs(a)
	tmp := t.layers[l].lora[ti]
	r := a.R
	if err := t.d.Gemm(true, false, nout, r, rows, a.Scale, dOut, ld, tmp, r, 1, dB, r); err != nil {
		return err
	}
	if err := t.d.Gemm(false, false, rows, r, nout, a.Scale, dOut, ld, Bm, r, 0, t.dTmp, r); err != nil {
		return err
	}
	if err := t.d.Gemm(true, false, r, nin, rows, 1, t.dTmp, r, in, nin, 1, dA, nin); err != nil {
		return err
	}
	if dIn != 0 {
		return t.d.Gemm(false, false, rows, nin, r, 1, t.dTmp, r, A, nin, 1, dIn, nin)
	}
	return nil
}

// lowest is the lowest layer the backward pass must reach.
func (t *Trainer) lowest() int {
	if t.grads != nil {
		return 0
	}
	low := t.g.Cfg.Layers
	if l := t.cfg.Adapters.Lowest(); l >= 0 {
		low = l
	}
	for l := range t.cfg.Bias {
		for _, on := range t.cfg.Bias[l] {
			if on {
				low = min(low, l)
			}
		}
	}
	return low
}

// backward runs the encoder backward from the gradient in t.dOut.
func (t *Trainer) backward() error {
	c := t.g.Cfg
	stop := t.lowest()
	for l := c.Layers - 1; l >= stop; l-- {
		needIn := l > stop || t.grads != nil
		if err := t.layerBackward(l, needIn); err != nil {
			return err
		}
		if needIn {
			t.dOut, t.dIn = t.dIn, t.dOut
		}
	}
	if t.grads == nil {
		return nil
	}
	H, BT := c.Hidden, t.B*t.T
	P := t.g.Host.P
	if p := t.pHidden(); p > 0 {
		if err := t.launchElem(t.k.dropout, BT*H, t.dOut, t.dOut, BT*H, p, t.seed, 0); err != nil {
			return err
		}
	}
	if err := t.lnBackward(t.dRes, 0, t.gptr(P.EmbLNG), t.gptr(P.EmbLNB), t.dOut, t.embSum, t.embMean, t.embRstd, t.g.ptr(P.EmbLNG), BT, H, 0, 0); err != nil {
		return err
	}
	for _, e := range []struct {
		w   []float32
		ids cuda.DevPtr
	}{{P.WordEmb, t.ids}, {P.PosEmb, t.pos}, {P.TypeEmb, t.types}} {
		if err := t.launchElem(t.k.scatterRows, BT*H, t.gptr(e.w), t.dRes, e.ids, BT, H); err != nil {
			return err
		}
	}
	return nil
}

// dropOut is buf when dropout is on (p > 0), else 0 (no dropout output).
func dropOut(p float32, buf cuda.DevPtr) cuda.DevPtr {
	if p > 0 {
		return buf
	}
	return 0
}

func (t *Trainer) layerBackward(l int, needIn bool) error {
	c := t.g.Cfg
	H, nh := c.Hidden, c.Heads
	hs := H / nh
	B, T := t.B, t.T
	BT := B * T
	L := &t.layers[l]
	P := &t.g.Host.P.Layers[l]
	k := t.k
	in := t.layerIn(l)
	I := c.Inter
	// out = LN2(res2), res2 = ln1 + drop(fo): the LayerNorm's input gradient
	// goes straight to dLn1 (the residual path; the FFN's input gradient is
	// added to it below) and, through the dropout, to dFo. Without dropout
	// dFo is dLn1 itself: linearBackward(5) reads it before anything adds to it.
	p := t.pHidden()
	dFo := t.dLn1
	if p > 0 {
		dFo = t.dDrop
	}
	if err := t.lnBackward(t.dLn1, dropOut(p, t.dDrop), t.gptr(P.LN2G), t.gptr(P.LN2B), t.dOut, L.res2, L.mean2, L.rstd2, t.g.ptr(P.LN2G),
		BT, H, p, dropSite(l, siteFO)); err != nil {
		return err
	}
	if err := t.linearBackward(l, 5, t.dFa, false, dFo, L.fa); err != nil {
		return err
	}
	if err := t.launchElem(k.actBwd, BT*I, t.dFi, t.dFa, L.fiPre, BT*I, actCode(c.Act)); err != nil {
		return err
	}
	if err := t.linearBackward(l, 4, t.dLn1, true, t.dFi, L.ln1); err != nil {
		return err
	}
	// ln1 = LN1(res1), res1 = in + drop(ao): likewise into dIn (the residual
	// path; the attention's input gradient is added at the end) or, for the
	// lowest trained layer, into dRes.
	dRes := t.dRes
	if needIn {
		dRes = t.dIn
	}
	dAo := dRes
	if p > 0 {
		dAo = t.dDrop
	}
	if err := t.lnBackward(dRes, dropOut(p, t.dDrop), t.gptr(P.LN1G), t.gptr(P.LN1B), t.dLn1, L.res1, L.mean1, L.rstd1, t.g.ptr(P.LN1G),
		BT, H, p, dropSite(l, siteAO)); err != nil {
		return err
	}
	if err := t.linearBackward(l, 3, t.dCtx, false, dAo, L.ctx); err != nil {
		return err
	}
	// Attention: ctx = drop(att)·v, att = softmax(q·kᵀ·scale + mask).
	// [BT,H] → [B,nh,T,hs]: bias_permute with the zero vector as its bias.
	if err := t.launchRows(k.biasPermute, BT, H, t.pA, t.dCtx, t.zero, t.zero, BT, B, T, nh, hs); err != nil {
		return err
	}
	attUsed := L.att
	if t.pAttn() > 0 {
		attUsed = L.attDrop
	}
	if err := t.d.GemmStridedBatched(false, true, T, T, hs, 1, t.pA, hs, T*hs, L.v, hs, T*hs, 0, t.dAtt, T, T*T, B*nh); err != nil {
		return err
	}
	if err := t.d.GemmStridedBatched(true, false, T, hs, T, 1, attUsed, T, T*T, t.pA, hs, T*hs, 0, t.pC, hs, T*hs, B*nh); err != nil {
		return err
	}
	rows := B * nh * T
	pd := t.pAttn() // the attention-dropout backward, fused into softmax_bwd
	if pd > 0 && SeparateDropoutKernels {
		if err := t.launchElem(k.dropout, rows*T, t.dAtt, t.dAtt, rows*T, pd, t.seed, dropSite(l, siteAtt)); err != nil {
			return err
		}
		pd = 0
	}
	const warps = rowBlock / 32
	if err := t.d.Launch(k.softmaxBwd, cuda.Dim3{X: (rows + warps - 1) / warps}, cuda.Dim3{X: rowBlock}, 0, t.dAtt, L.att, t.dAtt, rows, T,
		pd, t.seed, dropSite(l, siteAtt)); err != nil {
		return err
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	if err := t.d.GemmStridedBatched(false, false, T, hs, T, scale, t.dAtt, T, T*T, L.k, hs, T*hs, 0, t.pA, hs, T*hs, B*nh); err != nil {
		return err
	}
	if err := t.d.GemmStridedBatched(true, false, T, hs, T, scale, t.dAtt, T, T*T, L.q, hs, T*hs, 0, t.pB, hs, T*hs, B*nh); err != nil {
		return err
	}
	dIn := cuda.DevPtr(0)
	if needIn {
		dIn = t.dIn
	}
	if t.fused {
		// [dQ | dK | dV] in one [BT, 3H] buffer: one input-gradient GEMM over the stacked weights.
		if err := t.launchRows(k.unpermute3, BT, 3*H, t.dqkv, t.pA, t.pB, t.pC, B, T, nh, hs); err != nil {
			return err
		}
		if dIn != 0 {
			if err := t.d.Gemm(false, false, BT, H, 3*H, 1, t.dqkv, 3*H, t.wqkv.At(3*l*H*H), H, 1, dIn, H); err != nil {
				return err
			}
		}
		for ti := range 3 {
			dOut := t.dqkv.Add(ti * H)
			if t.biasOff != nil && t.biasOff[l][ti] >= 0 {
				if err := t.biasGradLaunch(t.biasGrad.At(t.biasOff[l][ti]), dOut, BT, H, 3*H); err != nil {
					return err
				}
			}
		}
		return t.loraQKVBackward(l, dIn, in)
	}
	for _, e := range []struct{ dst, src cuda.DevPtr }{{t.dQ, t.pA}, {t.dK, t.pB}, {t.dV, t.pC}} {
		if err := t.launchRows(k.unpermute, BT, H, e.dst, e.src, B, T, nh, hs); err != nil {
			return err
		}
	}
	for ti, d := range []cuda.DevPtr{t.dQ, t.dK, t.dV} {
		if err := t.linearBackward(l, ti, dIn, true, d, in); err != nil {
			return err
		}
	}
	return nil
}

// ZeroGrads clears the device gradients (parameters, adapters, biases).
func (t *Trainer) ZeroGrads() error {
	defer t.d.Bind()()
	for _, b := range []*cuda.Buffer{t.grads, t.adGrad, t.biasGrad} {
		if b != nil {
			if err := t.d.Fill32(b.Ptr, 0, b.Len()); err != nil {
				return err
			}
		}
	}
	return nil
}

// uploadAdapters copies the host adapters' values to the device.
func (t *Trainer) uploadAdapters() error {
	if t.adBuf == nil {
		return nil
	}
	t.cfg.Adapters.Each(func(_ int, _ string, a *model.LoRA) {
		off := t.adOff[a]
		copy(t.adHost[off[0]:], a.A)
		copy(t.adHost[off[1]:], a.B)
	})
	return t.d.Upload(t.adBuf.Ptr, t.adHost)
}

// uploadBiases copies the host-trained biases into the device parameters.
func (t *Trainer) uploadBiases() error {
	for l := range t.cfg.Bias {
		for ti, on := range t.cfg.Bias[l] {
			if on {
				_, b, _, _, _ := t.g.Host.P.Layers[l].Linear(model.ModuleTypes[ti])
				if err := t.d.Upload(t.g.ptr(b), b); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// AddGrads adds the device adapter and bias gradients into the host's
// (g.Adapters must have Adapters' layout; g.Bias entries may be nil).
func (t *Trainer) AddGrads(g model.Grads) error {
	defer t.d.Bind()()
	if t.adGrad != nil && g.Adapters != nil {
		buf := t.adGradHost
		if err := t.d.Download(buf, t.adGrad.Ptr); err != nil {
			return err
		}
		t.cfg.Adapters.Each(func(l int, typ string, a *model.LoRA) {
			ga := g.Adapters.Get(l, typ)
			if ga == nil {
				return
			}
			off := t.adOff[a]
			addInto(ga.A, buf[off[0]:off[0]+len(a.A)])
			addInto(ga.B, buf[off[1]:off[1]+len(a.B)])
		})
	}
	if t.biasGrad != nil && g.Bias != nil {
		buf := make([]float32, t.biasGrad.Len())
		if err := t.d.Download(buf, t.biasGrad.Ptr); err != nil {
			return err
		}
		for l := range t.biasOff {
			for ti, off := range t.biasOff[l] {
				if off >= 0 && l < len(g.Bias) && g.Bias[l][ti] != nil {
					dst := g.Bias[l][ti]
					addInto(dst, buf[off:off+len(dst)])
				}
			}
		}
	}
	return nil
}

func addInto(dst, src []float32) {
	for i := range dst {
		dst[i] += src[i]
	}
}

// GradNorm is the L2 norm of the parameter gradients (Full trainers).
func (t *Trainer) GradNorm() (float64, error) {
	if t.grads == nil {
		return 0, fmt.Errorf("gpu: no parameter gradients")
	}
	defer t.d.Bind()()
	if err := t.d.Fill32(t.slot, 0, 2); err != nil {
		return 0, err
	}
	n := t.grads.Len()
	if err := t.launchElem(t.k.sumsq, n, t.slot, t.grads.Ptr, n); err != nil {
		return 0, err
	}
	s := make([]float64, 1)
	if err := t.d.DownloadF64(s, t.slot); err != nil {
		return 0, err
	}
	return math.Sqrt(s[0]), nil
}

// AdamWStep is one AdamW update on the device parameters, as optim.AdamW
// after optim.ClipByGlobalNorm: gradients are scaled by gradScale first;
// step counts updates from 1; decay lists the [lo,hi) ranges of Params.Data
// that get weight decay wd.
func (t *Trainer) AdamWStep(step int, lr, beta1, beta2, eps, wd float64, gradScale float32, decay [][2]int) error {
	if t.grads == nil {
		return fmt.Errorf("gpu: no parameter gradients")
	}
	defer t.d.Bind()()
	bc1 := 1 - math.Pow(beta1, float64(step))
	bc2 := 1 - math.Pow(beta2, float64(step))
	stepSize := float32(lr / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	run := func(lo, hi int, wd float64) error {
		if hi <= lo {
			return nil
		}
		n := hi - lo
		return t.launchElem(t.k.adamw, n, t.g.params.At(lo), t.grads.At(lo), t.adamM.At(lo), t.adamV.At(lo), n, gradScale,
			float32(beta1), float32(beta2), stepSize, sqrtBC2, float32(1-lr*wd), float32(eps))
	}
	prev := 0
	for _, r := range decay {
		if err := run(prev, r[0], 0); err != nil {
			return err
		}
		if err := run(r[0], r[1], wd); err != nil {
			return err
		}
		prev = r[1]
	}
	return run(prev, t.grads.Len(), 0)
}

// SyncParams downloads the device parameters into the host model (and the
// AdamW moments into m, v when given) for checkpoints and export.
func (t *Trainer) SyncParams(m, v []float32) error {
	defer t.d.Bind()()
	if err := t.d.Download(t.g.Host.P.Data, t.g.params.Ptr); err != nil {
		return err
	}
	if m != nil && t.adamM != nil {
		if err := t.d.Download(m, t.adamM.Ptr); err != nil {
			return err
		}
	}
	if v != nil && t.adamV != nil {
		if err := t.d.Download(v, t.adamV.Ptr); err != nil {
			return err
		}
	}
	return t.d.Sync()
}

// LoadState uploads host parameters and AdamW moments (after a resume).
func (t *Trainer) LoadState(m, v []float32) error {
	defer t.d.Bind()()
	if err := t.d.Upload(t.g.params.Ptr, t.g.Host.P.Data); err != nil {
		return err
	}
	if t.adamM != nil && m != nil {
		if err := t.d.Upload(t.adamM.Ptr, m); err != nil {
			return err
		}
	}
	if t.adamV != nil && v != nil {
		if err := t.d.Upload(t.adamV.Ptr, v); err != nil {
			return err
		}
	}
	return nil
}

// Grads downloads the parameter gradients (tests, parity checks).
func (t *Trainer) Grads() ([]float32, error) {
	if t.grads == nil {
		return nil, fmt.Errorf("gpu: no parameter gradients")
	}
	defer t.d.Bind()()
	out := make([]float32, t.grads.Len())
	return out, t.d.Download(out, t.grads.Ptr)
}

// ClipScale is the factor optim.ClipByGlobalNorm applies for a gradient norm.
func ClipScale(maxNorm, norm float64) float32 {
	if maxNorm > 0 && norm > maxNorm {
		return float32(maxNorm / (norm + 1e-6))
	}
	return 1
}

// LoRAEncoder is a Trainer behind the train.Encoder interface: LoRA
// fine-tuning with the encoder on the GPU and the head and optimizer on the
// host. Adapters and trained biases are uploaded at every Encode.
type LoRAEncoder struct {
	G  *Model
	Tr *Trainer
}

// NewLoRAEncoder uploads m and allocates a trainer for batches of up to
// maxB sequences of T tokens, training ad (and the biases in bias, views
// into m's parameters as lora.Adapter.Bias holds them; may be nil).
func NewLoRAEncoder(d backend.Backend, m *model.Model, ad *model.Adapters, bias [][6][]float32, maxB, T int) (*LoRAEncoder, error) {
	g, err := Upload(d, m)
	if err != nil {
		return nil, err
	}
	var mask [][6]bool
	if bias != nil {
		mask = make([][6]bool, len(bias))
		for l := range bias {
			for ti, b := range bias[l] {
				mask[l][ti] = b != nil
			}
		}
	}
	tr, err := g.NewTrainer(TrainConfig{MaxB: maxB, T: T, Adapters: ad, Bias: mask})
	if err != nil {
		g.Free()
		return nil, err
	}
	return &LoRAEncoder{G: g, Tr: tr}, nil
}

// Encode implements train.Encoder.
func (e *LoRAEncoder) Encode(b model.Batch, pooled, train bool, seed uint64) ([]float32, error) {
	if err := e.Tr.Forward(b, train, seed); err != nil {
		return nil, err
	}
	return e.Tr.HeadInput(pooled)
}

// Backward implements train.Encoder.
func (e *LoRAEncoder) Backward(dX []float32, pooled bool, g model.Grads) error {
	if err := e.Tr.ZeroGrads(); err != nil {
		return err
	}
	if err := e.Tr.BackwardHead(dX, pooled); err != nil {
		return err
	}
	return e.Tr.AddGrads(g)
}

// Free releases the device memory.
func (e *LoRAEncoder) Free() {
	e.Tr.Free()
	e.G.Free()
}
