package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/adarank/adarank/internal/nn"
)

// Batch is a padded batch of B token sequences of length T.
type Batch struct {
	B, T    int
	IDs     []int32 // [B*T]
	TypeIDs []int32 // [B*T]; nil = all zero
	Mask    []int32 // [B*T] 1 = token, 0 = padding; nil = attend everywhere
}

// Slice returns sequences [lo, hi) of b (sharing memory).
func (b Batch) Slice(lo, hi int) Batch {
	T := b.T
	r := Batch{B: hi - lo, T: T, IDs: b.IDs[lo*T : hi*T]}
	if b.TypeIDs != nil {
		r.TypeIDs = b.TypeIDs[lo*T : hi*T]
	}
	if b.Mask != nil {
		r.Mask = b.Mask[lo*T : hi*T]
	}
	return r
}

// Repeat returns b stacked k times (B·k sequences).
func (b Batch) Repeat(k int) Batch {
	r := Batch{B: b.B * k, T: b.T}
	for i := 0; i < k; i++ {
		r.IDs = append(r.IDs, b.IDs...)
		if b.TypeIDs != nil {
			r.TypeIDs = append(r.TypeIDs, b.TypeIDs...)
		}
		if b.Mask != nil {
			r.Mask = append(r.Mask, b.Mask...)
		}
	}
	return r
}

// Validate checks ids against the model so that lookups cannot go out of range.
func (m *Model) Validate(b Batch) error {
	c := m.Cfg
	if b.B <= 0 || b.T <= 0 || len(b.IDs) != b.B*b.T {
		return fmt.Errorf("batch: %d ids for %d×%d", len(b.IDs), b.B, b.T)
	}
	if b.T > c.MaxSeqLen() {
		return fmt.Errorf("batch: sequence length %d exceeds the model's maximum %d", b.T, c.MaxSeqLen())
	}
	if b.TypeIDs != nil && len(b.TypeIDs) != len(b.IDs) || b.Mask != nil && len(b.Mask) != len(b.IDs) {
		return fmt.Errorf("batch: type ids / mask length mismatch")
	}
	for i, id := range b.IDs {
		if id < 0 || int(id) >= c.Vocab {
			return fmt.Errorf("batch: token id %d outside the vocabulary (%d)", id, c.Vocab)
		}
		if b.TypeIDs != nil && (b.TypeIDs[i] < 0 || int(b.TypeIDs[i]) >= c.TypeVocab) {
			return fmt.Errorf("batch: token type id %d outside type_vocab_size %d", b.TypeIDs[i], c.TypeVocab)
		}
	}
	return nil
}

// Override replaces one module's weights per batch segment: rows
// [s*SegRows, (s+1)*SegRows) of the batch use W[s], Bias[s]. The AdaRank
// sweep uses it to run several perturbed copies of a module in one batch.
type Override struct {
	Layer   int
	Type    string
	SegRows int // tokens per segment (a multiple of T)
	W, Bias [][]float32
}

// FwdOpts controls one forward pass.
type FwdOpts struct {
	Train    bool       // dropout on (needs RNG)
	RNG      *rand.Rand // dropout masks
	Override *Override
}

type layerActs struct {
	in, out              []float32 // views: layer input and output hidden states
	q, k, v, ctx, ao     []float32
	att, attDrop, attMsk []float32
	res1, ln1            []float32
	ln1Mean, ln1Rstd     []float32
	fi, fa, fo           []float32
	aoMask, foMask       []float32
	res2                 []float32
	ln2Mean, ln2Rstd     []float32
	loraTmp              [6][]float32
	attDropped           bool // attention dropout was applied in the last forward
}

// Workspace holds activations for one batch shape. A training workspace
// keeps every layer's activations for the backward pass; an inference one
// reuses a single layer's buffers.
type Workspace struct {
	B, T, BT int
	train    bool
	maskAdd  []float32
	posIDs   []int32
	ids      []int32
	typeIDs  []int32
	embSum   []float32
	embMean  []float32
	embRstd  []float32
	embOut   []float32
	embMask  []float32
	layers   []layerActs
	hidden   []float32 // inference: shared in/out buffer
	// pooler
	cls, poolPre, pooled []float32
	// backward scratch
	g gradScratch
}

type gradScratch struct {
	dOut, dRes, dLn1, dCtx, dQ, dK, dV, dIn []float32
	dFa, dFi, dAtt, dTmp                    []float32
	dCls, dPoolPre                          []float32
}

// NewWorkspace allocates activations for B sequences of T tokens. Adapters
// (may be nil) size the LoRA scratch buffers.
func (m *Model) NewWorkspace(B, T int, train bool, ad *Adapters) *Workspace {
	c := m.Cfg
	BT := B * T
	H, I, nh := c.Hidden, c.Inter, c.Heads
	ws := &Workspace{B: B, T: T, BT: BT, train: train}
	ws.maskAdd = make([]float32, BT)
	ws.posIDs = make([]int32, BT)
	ws.ids = make([]int32, BT)
	ws.typeIDs = make([]int32, BT)
	ws.embSum = make([]float32, BT*H)
	ws.embMean = make([]float32, BT)
	ws.embRstd = make([]float32, BT)
	ws.embOut = make([]float32, BT*H)
	nl := 1
	if train {
		nl = c.Layers
		ws.embMask = make([]float32, BT*H)
	}
	alloc := func() layerActs {
		la := layerActs{
			q: make([]float32, BT*H), k: make([]float32, BT*H), v: make([]float32, BT*H),
			ctx: make([]float32, BT*H), ao: make([]float32, BT*H),
			att:  make([]float32, B*nh*T*T),
			res1: make([]float32, BT*H), ln1: make([]float32, BT*H),
			ln1Mean: make([]float32, BT), ln1Rstd: make([]float32, BT),
			fi: make([]float32, BT*I), fa: make([]float32, BT*I), fo: make([]float32, BT*H),
			res2:    make([]float32, BT*H),
			ln2Mean: make([]float32, BT), ln2Rstd: make([]float32, BT),
		}
		if train {
			la.attDrop = make([]float32, B*nh*T*T)
			la.attMsk = make([]float32, B*nh*T*T)
			la.aoMask = make([]float32, BT*H)
			la.foMask = make([]float32, BT*H)
			la.out = make([]float32, BT*H)
		}
		return la
	}
	ws.layers = make([]layerActs, c.Layers)
	if train {
		for l := range ws.layers {
			ws.layers[l] = alloc()
		}
		ws.layers[0].in = ws.embOut
		for l := 1; l < c.Layers; l++ {
			ws.layers[l].in = ws.layers[l-1].out
		}
	} else {
		shared := alloc()
		ws.hidden = make([]float32, BT*H)
		shared.in, shared.out = ws.hidden, ws.hidden
		for l := range ws.layers {
			ws.layers[l] = shared
		}
		_ = nl
	}
	rmax := 0
	if ad != nil {
		for l := range ad.L {
			for t := range ad.L[l] {
				if a := ad.L[l][t]; a != nil {
					rmax = max(rmax, a.R)
					if train || ws.layers[l].loraTmp[t] == nil {
						ws.layers[l].loraTmp[t] = make([]float32, BT*a.R)
					}
				}
			}
		}
		if !train { // shared buffers: every layer sees the same tmp slices
			for l := range ws.layers {
				for t := range ws.layers[l].loraTmp {
					if ws.layers[l].loraTmp[t] == nil || len(ws.layers[l].loraTmp[t]) < BT*rmax {
						ws.layers[l].loraTmp[t] = make([]float32, BT*rmax)
					}
				}
			}
		}
	}
	if c.HasPooler {
		ws.cls = make([]float32, B*H)
		ws.poolPre = make([]float32, B*H)
		ws.pooled = make([]float32, B*H)
	}
	if train {
		g := &ws.g
		for _, p := range []*[]float32{&g.dOut, &g.dRes, &g.dLn1, &g.dCtx, &g.dQ, &g.dK, &g.dV, &g.dIn} {
			*p = make([]float32, BT*H)
		}
		g.dFa = make([]float32, BT*I)
		g.dFi = make([]float32, BT*I)
		g.dAtt = make([]float32, B*nh*T*T)
		g.dTmp = make([]float32, BT*max(rmax, 1))
		g.dCls = make([]float32, B*H)
		g.dPoolPre = make([]float32, B*H)
	}
	return ws
}

// Fits reports whether the workspace serves a batch of this shape.
func (ws *Workspace) Fits(B, T int, train bool) bool {
	return ws != nil && ws.B == B && ws.T == T && ws.train == train
}

// Embed computes the embedding output (the input of layer 0).
func (m *Model) Embed(ws *Workspace, b Batch, opt FwdOpts) {
	c := m.Cfg
	H := c.Hidden
	copy(ws.ids, b.IDs)
	if b.TypeIDs != nil {
		copy(ws.typeIDs, b.TypeIDs)
	} else {
		clear(ws.typeIDs)
	}
	minF := float32(-math.MaxFloat32)
	for i := range ws.maskAdd {
		if b.Mask == nil || b.Mask[i] != 0 {
			ws.maskAdd[i] = 0
		} else {
			ws.maskAdd[i] = minF
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
					ws.posIDs[i] = int32(c.PadID) + n
				} else {
					ws.posIDs[i] = int32(c.PadID)
				}
			}
		} else {
			for t := 0; t < b.T; t++ {
				ws.posIDs[s*b.T+t] = int32(t)
			}
		}
	}
	p := m.P
	nn.EmbeddingForward(ws.embSum, ws.ids, p.WordEmb, H)
	tmp := ws.embOut // scratch before the LayerNorm writes it
	nn.EmbeddingForward(tmp, ws.posIDs, p.PosEmb, H)
	nn.AddInto(ws.embSum, tmp)
	nn.EmbeddingForward(tmp, ws.typeIDs, p.TypeEmb, H)
	nn.AddInto(ws.embSum, tmp)
	nn.LayerNormForward(ws.embOut, ws.embMean, ws.embRstd, ws.embSum, p.EmbLNG, p.EmbLNB, ws.BT, H, c.Eps)
	if opt.Train && c.HiddenDrop > 0 {
		nn.FillDropoutMask(ws.embMask, c.HiddenDrop, opt.RNG)
		nn.DropoutForward(ws.embOut, ws.embOut, ws.embMask)
	} else if ws.embMask != nil {
		fillOnes(ws.embMask)
	}
	if !ws.train {
		copy(ws.hidden, ws.embOut)
	}
}

// linear runs one module: base weights (or a per-segment override) plus its LoRA adapter.
func (m *Model) linear(ws *Workspace, l int, typ string, out, in, tmp []float32, ad *Adapters, ov *Override) {
	L := &m.P.Layers[l]
	w, bias, nout, nin, _ := L.Linear(typ)
	if ov != nil && ov.Layer == l && ov.Type == typ {
		for s := range ov.W {
			lo, hi := s*ov.SegRows, (s+1)*ov.SegRows
			nn.LinearForward(out[lo*nout:hi*nout], in[lo*nin:hi*nin], ov.W[s], ov.Bias[s], hi-lo, nin, nout)
		}
	} else {
		nn.LinearForward(out, in, w, bias, ws.BT, nin, nout)
	}
	if a := ad.get(l, typ); a != nil {
		nn.LoRAForward(out, tmp[:ws.BT*a.R], in, a.A, a.B, a.Scale, ws.BT, nin, nout, a.R)
	}
}

// Layer runs encoder layer l on the workspace's layer input.
func (m *Model) Layer(ws *Workspace, l int, ad *Adapters, opt FwdOpts) {
	c := m.Cfg
	H, I, BT := c.Hidden, c.Inter, ws.BT
	la := &ws.layers[l]
	lt := &la.loraTmp
	m.linear(ws, l, Query, la.q, la.in, lt[0], ad, opt.Override)
	m.linear(ws, l, Key, la.k, la.in, lt[1], ad, opt.Override)
	m.linear(ws, l, Value, la.v, la.in, lt[2], ad, opt.Override)
	var dropMask, attDrop []float32
	if opt.Train && c.AttnDrop > 0 {
		nn.FillDropoutMask(la.attMsk, c.AttnDrop, opt.RNG)
		dropMask, attDrop = la.attMsk, la.attDrop
	}
	la.attDropped = dropMask != nil
	nn.AttentionForward(la.ctx, la.att, attDrop, la.q, la.k, la.v, ws.maskAdd, dropMask, ws.B, ws.T, H, c.Heads)
	m.linear(ws, l, AttnOut, la.ao, la.ctx, lt[3], ad, opt.Override)
	m.dropout(la.ao, la.aoMask, opt)
	nn.Add(la.res1, la.in, la.ao)
	nn.LayerNormForward(la.ln1, la.ln1Mean, la.ln1Rstd, la.res1, m.P.Layers[l].LN1G, m.P.Layers[l].LN1B, BT, H, c.Eps)
	m.linear(ws, l, FFNIn, la.fi[:BT*I], la.ln1, lt[4], ad, opt.Override)
	actForward(c.Act, la.fa, la.fi)
	m.linear(ws, l, FFNOut, la.fo, la.fa, lt[5], ad, opt.Override)
	m.dropout(la.fo, la.foMask, opt)
	nn.Add(la.res2, la.ln1, la.fo)
	nn.LayerNormForward(la.out, la.ln2Mean, la.ln2Rstd, la.res2, m.P.Layers[l].LN2G, m.P.Layers[l].LN2B, BT, H, c.Eps)
}

func (m *Model) dropout(x, mask []float32, opt FwdOpts) {
	if opt.Train && m.Cfg.HiddenDrop > 0 {
		nn.FillDropoutMask(mask, m.Cfg.HiddenDrop, opt.RNG)
		nn.DropoutForward(x, x, mask)
	} else if mask != nil {
		fillOnes(mask)
	}
}

func actForward(act string, out, in []float32) {
	switch act {
	case "gelu_new":
		nn.GeluTanhForward(out, in)
	case "relu":
		nn.ReluForward(out, in)
	default:
		nn.GeluForward(out, in)
	}
}

func actBackward(act string, dIn, dOut, in []float32) {
	switch act {
	case "gelu_new":
		nn.GeluTanhBackward(dIn, dOut, in)
	case "relu":
		nn.ReluBackward(dIn, dOut, in)
	default:
		nn.GeluBackward(dIn, dOut, in)
	}
}

// Encode runs the embeddings and every layer. The last hidden state is
// then ws.Hidden().
func (m *Model) Encode(ws *Workspace, b Batch, ad *Adapters, opt FwdOpts) {
	m.Embed(ws, b, opt)
	m.RunLayers(ws, 0, ad, opt)
}

// RunLayers runs layers from..L-1 on the current input of layer from.
func (m *Model) RunLayers(ws *Workspace, from int, ad *Adapters, opt FwdOpts) {
	for l := from; l < m.Cfg.Layers; l++ {
		m.Layer(ws, l, ad, opt)
	}
}

// LayerInput is the input buffer of layer l ([BT,H]); writing it and then
// calling RunLayers(ws, l, ...) resumes the forward pass there.
func (ws *Workspace) LayerInput(l int) []float32 { return ws.layers[l].in }

// Hidden is the last hidden state [B*T, H].
func (ws *Workspace) Hidden() []float32 { return ws.layers[len(ws.layers)-1].out }

// Pool computes the pooler output tanh(W·h_CLS + b) [B,H]; for models
// without a pooler it returns the CLS hidden state.
func (m *Model) Pool(ws *Workspace) []float32 {
	H := m.Cfg.Hidden
	h := ws.Hidden()
	if !m.Cfg.HasPooler {
		out := make([]float32, ws.B*H)
		for s := 0; s < ws.B; s++ {
			copy(out[s*H:(s+1)*H], h[s*ws.T*H:s*ws.T*H+H])
		}
		return out
	}
	for s := 0; s < ws.B; s++ {
		copy(ws.cls[s*H:(s+1)*H], h[s*ws.T*H:s*ws.T*H+H])
	}
	nn.LinearForward(ws.poolPre, ws.cls, m.P.PoolW, m.P.PoolB, ws.B, H, H)
	nn.TanhForward(ws.pooled, ws.poolPre)
	return ws.pooled
}

// CLS returns a copy of the last hidden state at position 0 of every sequence [B,H].
func (m *Model) CLS(ws *Workspace) []float32 {
	H := m.Cfg.Hidden
	h := ws.Hidden()
	out := make([]float32, ws.B*H)
	for s := 0; s < ws.B; s++ {
		copy(out[s*H:(s+1)*H], h[s*ws.T*H:s*ws.T*H+H])
	}
	return out
}

// MLMActs holds the masked-LM head's activations for backward.
type MLMActs struct {
	Rows        []int32
	x, t, a, ln []float32
	mean, rstd  []float32
	Logits      []float32 // [len(Rows), V]
}

func (m *Model) mlmAct() string {
	if m.Cfg.Arch == "roberta" {
		return "gelu" // RobertaLMHead hard-codes exact GELU
	}
	return m.Cfg.Act
}

// MLMForward computes masked-LM logits [len(rows), V] for the given token rows
// (indices into the B*T positions; nil = all positions).
func (m *Model) MLMForward(ws *Workspace, rows []int32) (*MLMActs, error) {
	c := m.Cfg
	if !c.HasMLM {
		return nil, fmt.Errorf("model has no masked-LM head")
	}
	H := c.Hidden
	if rows == nil {
		rows = make([]int32, ws.BT)
		for i := range rows {
			rows[i] = int32(i)
		}
	}
	n := len(rows)
	a := &MLMActs{Rows: rows, x: make([]float32, n*H), t: make([]float32, n*H), a: make([]float32, n*H),
		ln: make([]float32, n*H), mean: make([]float32, n), rstd: make([]float32, n), Logits: make([]float32, n*c.Vocab)}
	nn.GatherRows(a.x, ws.Hidden(), rows, H)
	nn.LinearForward(a.t, a.x, m.P.MLMDenseW, m.P.MLMDenseB, n, H, H)
	actForward(m.mlmAct(), a.a, a.t)
	nn.LayerNormForward(a.ln, a.mean, a.rstd, a.a, m.P.MLMLNG, m.P.MLMLNB, n, H, c.Eps)
	nn.LinearForward(a.Logits, a.ln, m.P.MLMDecoder, m.P.MLMDecoderB, n, H, c.Vocab)
	return a, nil
}

// MLMLogits is MLMForward's logits.
func (m *Model) MLMLogits(ws *Workspace, rows []int32) ([]float32, error) {
	a, err := m.MLMForward(ws, rows)
	if err != nil {
		return nil, err
	}
	return a.Logits, nil
}

// MLMBackward adds the MLM head's gradients into g.Base (nil = head frozen)
// and the gradient on the last hidden state into dHidden [B*T,H].
func (m *Model) MLMBackward(a *MLMActs, dLogits, dHidden []float32, g Grads) {
	c := m.Cfg
	H, n := c.Hidden, len(a.Rows)
	var dDec, dDecB, dLNG, dLNB, dW, dB []float32
	if g.Base != nil {
		dDec, dDecB = g.Base.MLMDecoder, g.Base.MLMDecoderB
		dLNG, dLNB = g.Base.MLMLNG, g.Base.MLMLNB
		dW, dB = g.Base.MLMDenseW, g.Base.MLMDenseB
	}
	dLn := make([]float32, n*H)
	nn.LinearBackward(dLn, dDec, dDecB, dLogits, a.ln, m.P.MLMDecoder, n, H, c.Vocab)
	dA := make([]float32, n*H)
	nn.LayerNormBackward(dA, dLNG, dLNB, dLn, a.a, m.P.MLMLNG, a.mean, a.rstd, n, H)
	dT := make([]float32, n*H)
	actBackward(m.mlmAct(), dT, dA, a.t)
	dX := make([]float32, n*H)
	nn.LinearBackward(dX, dW, dB, dT, a.x, m.P.MLMDenseW, n, H, H)
	nn.ScatterAddRows(dHidden, dX, a.Rows, H)
}

func fillOnes(x []float32) {
	for i := range x {
		x[i] = 1
	}
}
