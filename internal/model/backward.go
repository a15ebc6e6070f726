package model

import "github.com/adarank/adarank/internal/nn"

// Grads receives gradients. Base may be nil (frozen encoder); Adapters may
// be nil (no LoRA). Both are added into.
type Grads struct {
	Base     *Params
	Adapters *Adapters
	// Bias[l][t] receives the gradient of the bias of module type
	// ModuleTypes[t] in layer l (nil entries are skipped) when Base is nil:
	// training the adapted modules' biases without a full base gradient.
	Bias [][6][]float32
}

// PoolBackward turns dPooled [B,H] into a gradient on the last hidden state,
// added into dHidden [B*T,H]. For models without a pooler the gradient goes
// to the CLS rows directly.
func (m *Model) PoolBackward(ws *Workspace, dHidden, dPooled []float32, g Grads) {
	H := m.Cfg.Hidden
	if !m.Cfg.HasPooler {
		for s := 0; s < ws.B; s++ {
			nn.AddInto(dHidden[s*ws.T*H:s*ws.T*H+H], dPooled[s*H:(s+1)*H])
		}
		return
	}
	gs := &ws.g
	clear(gs.dPoolPre)
	nn.TanhBackward(gs.dPoolPre, dPooled, ws.pooled)
	clear(gs.dCls)
	var dW, dB []float32
	if g.Base != nil {
		dW, dB = g.Base.PoolW, g.Base.PoolB
	}
	nn.LinearBackward(gs.dCls, dW, dB, gs.dPoolPre, ws.cls, m.P.PoolW, ws.B, H, H)
	for s := 0; s < ws.B; s++ {
		nn.AddInto(dHidden[s*ws.T*H:s*ws.T*H+H], gs.dCls[s*H:(s+1)*H])
	}
}

// Backward propagates dHidden (gradient of the loss w.r.t. the last hidden
// state, [B*T,H]) down the encoder. It stops below the lowest layer that has
// something to train; with g.Base set it goes through the embeddings.
func (m *Model) Backward(ws *Workspace, dHidden []float32, ad *Adapters, g Grads, opt FwdOpts) {
	c := m.Cfg
	stop := 0
	if g.Base == nil {
		stop = ad.Lowest()
		if stop < 0 {
			return
		}
	}
	gs := &ws.g
	dOut := gs.dOut
	copy(dOut, dHidden)
	for l := c.Layers - 1; l >= stop; l-- {
		needIn := l > stop || g.Base != nil
		m.layerBackward(ws, l, dOut, ad, g, needIn)
		if needIn {
			copy(dOut, gs.dIn)
		}
	}
	if g.Base == nil {
		return
	}
	// Embeddings.
	H := c.Hidden
	P := g.Base
	if ws.embMask != nil {
		nn.DropoutForward(gs.dRes, dOut, ws.embMask)
		copy(dOut, gs.dRes)
	}
	clear(gs.dRes)
	nn.LayerNormBackward(gs.dRes, P.EmbLNG, P.EmbLNB, dOut, ws.embSum, m.P.EmbLNG, ws.embMean, ws.embRstd, ws.BT, H)
	nn.EmbeddingBackward(P.WordEmb, ws.ids, gs.dRes, H)
	nn.EmbeddingBackward(P.PosEmb, ws.posIDs, gs.dRes, H)
	nn.EmbeddingBackward(P.TypeEmb, ws.typeIDs, gs.dRes, H)
}

// linearBackward runs one module's backward: base weight grads if training
// the base, LoRA grads if it has an adapter, and dIn.
func (m *Model) linearBackward(ws *Workspace, l int, typ string, dIn, dOut, in, tmp []float32, ad *Adapters, g Grads) {
	L := &m.P.Layers[l]
	w, _, nout, nin, _ := L.Linear(typ)
	var dW, dB []float32
	if g.Base != nil {
		dW, dB, _, _, _ = g.Base.Layers[l].Linear(typ)
	}
	nn.LinearBackward(dIn, dW, dB, dOut, in, w, ws.BT, nin, nout)
	if g.Base == nil && g.Bias != nil {
		if gb := g.Bias[l][ModuleIndex(typ)]; gb != nil {
			nn.LinearBackward(nil, nil, gb, dOut, nil, nil, ws.BT, nin, nout)
		}
	}
	if a := ad.get(l, typ); a != nil {
		var dA, dBm []float32
		if ga := g.Adapters.get(l, typ); ga != nil {
			dA, dBm = ga.A, ga.B
		}
		nn.LoRABackward(dIn, dA, dBm, ws.g.dTmp[:ws.BT*a.R], dOut, in, tmp[:ws.BT*a.R], a.A, a.B, a.Scale, ws.BT, nin, nout, a.R)
	}
}

func (m *Model) layerBackward(ws *Workspace, l int, dOut []float32, ad *Adapters, g Grads, needIn bool) {
	c := m.Cfg
	H, BT := c.Hidden, ws.BT
	la := &ws.layers[l]
	gs := &ws.g
	L := &m.P.Layers[l]
	var gl *LayerParams
	if g.Base != nil {
		gl = &g.Base.Layers[l]
	}
	pick := func(f func(*LayerParams) []float32) []float32 {
		if gl == nil {
			return nil
		}
		return f(gl)
	}
	// out = LN2(res2), res2 = ln1 + drop(fo)
	clear(gs.dRes)
	nn.LayerNormBackward(gs.dRes, pick(func(p *LayerParams) []float32 { return p.LN2G }), pick(func(p *LayerParams) []float32 { return p.LN2B }),
		dOut, la.res2, L.LN2G, la.ln2Mean, la.ln2Rstd, BT, H)
	copy(gs.dLn1, gs.dRes)
	if la.foMask != nil {
		nn.DropoutForward(gs.dQ, gs.dRes, la.foMask) // d(fo) = dRes·mask; dQ is scratch here
	} else {
		copy(gs.dQ, gs.dRes)
	}
	clear(gs.dFa)
	m.linearBackward(ws, l, FFNOut, gs.dFa, gs.dQ, la.fa, la.loraTmp[5], ad, g)
	clear(gs.dFi)
	actBackward(c.Act, gs.dFi, gs.dFa, la.fi)
	m.linearBackward(ws, l, FFNIn, gs.dLn1, gs.dFi, la.ln1, la.loraTmp[4], ad, g)
	// ln1 = LN1(res1), res1 = in + drop(ao)
	clear(gs.dRes)
	nn.LayerNormBackward(gs.dRes, pick(func(p *LayerParams) []float32 { return p.LN1G }), pick(func(p *LayerParams) []float32 { return p.LN1B }),
		gs.dLn1, la.res1, L.LN1G, la.ln1Mean, la.ln1Rstd, BT, H)
	if needIn {
		copy(gs.dIn, gs.dRes)
	}
	if la.aoMask != nil {
		nn.DropoutForward(gs.dQ, gs.dRes, la.aoMask)
	} else {
		copy(gs.dQ, gs.dRes)
	}
	clear(gs.dCtx)
	m.linearBackward(ws, l, AttnOut, gs.dCtx, gs.dQ, la.ctx, la.loraTmp[3], ad, g)
	clear(gs.dQ)
	clear(gs.dK)
	clear(gs.dV)
	var dropMask, attDrop []float32
	if la.attDropped {
		dropMask, attDrop = la.attMsk, la.attDrop
	}
	nn.AttentionBackward(gs.dQ, gs.dK, gs.dV, gs.dAtt, gs.dCtx, la.q, la.k, la.v, la.att, attDrop, dropMask, ws.B, ws.T, H, c.Heads)
	dIn := gs.dIn
	if !needIn {
		dIn = nil
	}
	m.linearBackward(ws, l, Query, dIn, gs.dQ, la.in, la.loraTmp[0], ad, g)
	m.linearBackward(ws, l, Key, dIn, gs.dK, la.in, la.loraTmp[1], ad, g)
	m.linearBackward(ws, l, Value, dIn, gs.dV, la.in, la.loraTmp[2], ad, g)
}
