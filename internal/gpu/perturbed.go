package gpu

import (
	"fmt"
	"math"

	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/model"
)

// The sweep's perturbed layer: every copy enters layer l with the same
// cached input, and a perturbed module changes only what depends on it.
// What the unperturbed pass computes upstream of the module (the other two
// of Q, K, V; the attention probabilities when only V changes; the context
// when only the output projection changes; the attention block's output
// for the feed-forward modules) is computed once per layer and chunk
// (layerRef) and shared by every copy and trial, instead of once per copy.

// allocLayerRef allocates the parts of ch.ref that the module types read.
// With fused attention (attn_tc), Q, K and V are kept as their GEMMs wrote
// them and a perturbed value needs Q and K instead of the probabilities.
func (g *Model) allocLayerRef(ch *sweepChunk, types []string) error {
	fused := g.fused(ch.T)
	c := g.Cfg
	BT := ch.B * ch.T
	ch.ref.layer = -1
	need := map[*cuda.DevPtr]int{}
	for _, typ := range types {
		switch typ {
		case model.Query:
			need[&ch.ref.k], need[&ch.ref.v] = BT*c.Hidden, BT*c.Hidden
		case model.Key:
			need[&ch.ref.q], need[&ch.ref.v] = BT*c.Hidden, BT*c.Hidden
		case model.Value:
			if fused {
				need[&ch.ref.q], need[&ch.ref.k] = BT*c.Hidden, BT*c.Hidden
			} else {
				need[&ch.ref.att] = c.Heads * ch.B * ch.T * ch.T
			}
		case model.AttnOut:
			need[&ch.ref.ctx] = BT * c.Hidden
		case model.FFNIn:
			need[&ch.ref.ln1] = BT * c.Hidden
		case model.FFNOut:
			need[&ch.ref.ln1], need[&ch.ref.fi] = BT*c.Hidden, BT*c.Inter
		default:
			return fmt.Errorf("gpu: the sweep has no module type %q", typ)
		}
	}
	for dst, n := range need {
		b, err := g.d.AllocF32(fmt.Sprintf("unperturbed layer intermediates (%d tokens)", BT), n)
		if err != nil {
			return err
		}
		ch.bufs = append(ch.bufs, b)
		*dst = b.Ptr
	}
	return nil
}

// fillLayerRef runs the unperturbed layer l on the chunk's cached input
// (one copy) and keeps the allocated parts of ch.ref, unless it holds
// layer l already.
func (g *Model) fillLayerRef(ws *Workspace, ch *sweepChunk, l int) error {
	r := &ch.ref
	if r.layer == l {
		return nil
	}
	c := g.Cfg
	H, nh := c.Hidden, c.Heads
	B, T := ch.B, ch.T
	BT := B * T
	if err := ws.Reshape(B, T); err != nil {
		return err
	}
	ws.mask = ch.mask // its first B·T entries are the single copy's
	defer func() { ws.mask = ws.maskOwn }()
	if err := g.d.Copy(ws.hidden, ch.cache[l], BT*H); err != nil {
		return err
	}
	if err := g.Layer(ws, l, nil); err != nil {
		return err
	}
	for _, p := range []struct {
		dst, src cuda.DevPtr
		n        int
	}{{r.k, ws.k, BT * H}, {r.v, ws.v, BT * H}, {r.att, ws.att, nh * B * T * T}, {r.ctx, ws.ctx, BT * H},
		{r.ln1, ws.ln1, BT * H}, {r.fi, ws.fi, BT * c.Inter}} {
		if p.dst != 0 {
			if err := g.d.Copy(p.dst, p.src, p.n); err != nil {
				return err
			}
		}
	}
	if r.q != 0 && g.fused(T) {
		if err := g.d.Copy(r.q, ws.q, BT*H); err != nil {
			return err
		}
	} else if r.q != 0 { // ws.q holds the permuted context by now: project again
		b0, b1, seg, err := g.linear(l, model.Query, ws.tmp, ch.cache[l], BT, 0, nil)
		if err != nil {
			return err
		}
		if err := g.d.Launch(g.k.biasPermute, rowsGrid(BT, H), cuda.Dim3{X: elemBlock}, 0, r.q, ws.tmp, b0, b1, seg, B, T, nh, H/nh); err != nil {
			return err
		}
	}
	r.layer = l
	return nil
}

// perturbedLayer runs layer l for n stacked copies (ws reshaped to n·B
// sequences), each with its own weights of the module ov names, from the
// chunk's cached input and ch.ref (filled for layer l), and leaves the
// copies' layer outputs in ws.hidden.
func (g *Model) perturbedLayer(ws *Workspace, ch *sweepChunk, l, n int, ov *Override) error {
	c := g.Cfg
	H, I, nh := c.Hidden, c.Inter, c.Heads
	hs := H / nh
	B, T := ch.B, ch.T
	BT := B * T
	L := &g.Host.P.Layers[l]
	k, r, x := g.k, &ch.ref, ch.cache[l]
	if r.layer != l || ov.Layer != l || ov.NSeg != n {
		return fmt.Errorf("gpu: internal error: perturbed layer %d with the reference of layer %d", l, r.layer)
	}
	// shared: the perturbed module on one input for every copy; copy s's
	// rows of out are in·W_sᵀ, its bias is returned for the next kernel.
	shared := func(out, in cuda.DevPtr) (b0, b1 cuda.DevPtr, seg int, err error) {
		_, _, nout, nin, _ := L.Linear(ov.Type)
		for s := 0; s < n; s++ {
			if err := g.d.Gemm(false, true, BT, nout, nin, 1, in, nin, ov.W[s], nin, 0, out.Add(s*BT*nout), nout); err != nil {
				return 0, 0, 0, err
			}
		}
		return ov.Bias[0], ov.Bias[n-1], BT, nil
	}
	switch ov.Type {
	case model.Query, model.Key, model.Value:
		if g.fused(T) {
			// The perturbed projection per copy, the other two shared.
			var ops [3]attnOperand
			for i, typ := range []string{model.Query, model.Key, model.Value} {
				_, bias, _, _, _ := L.Linear(typ)
				ops[i] = attnOperand{[]cuda.DevPtr{r.q, r.k, r.v}[i], g.ptr(bias), g.ptr(bias), n * BT, B}
				if typ == ov.Type {
					dst := []cuda.DevPtr{ws.q, ws.k, ws.v}[i]
					b0, b1, seg, err := shared(dst, x)
					if err != nil {
						return err
					}
					ops[i] = attnOperand{dst, b0, b1, seg, n * B}
				}
			}
			if err := g.attend(ws.ctx, ops[0], ops[1], ops[2], ws.mask, n*B, T, T); err != nil {
				return err
			}
			return g.attentionTail(ws, l, n, ov, x)
		}
		// Per copy s, each of Q, K, V is at base + s·stride: the copies'
		// own projections (stride B·T·H) or the shared reference (stride 0).
		q, k2, v := r.q, r.k, r.v
		var qs, ks, vs int
		dst := &q
		switch ov.Type {
		case model.Query:
			q, qs = ws.q, BT*H
		case model.Key:
			k2, ks, dst = ws.k, BT*H, &k2
		case model.Value:
			v, vs, dst = ws.v, BT*H, &v
		}
		b0, b1, seg, err := shared(ws.tmp, x)
		if err != nil {
			return err
		}
		if err := g.d.Launch(k.biasPermute, rowsGrid(n*BT, H), cuda.Dim3{X: elemBlock}, 0, *dst, ws.tmp, b0, b1, seg, n*B, T, nh, hs); err != nil {
			return err
		}
		att, as := r.att, 0 // a perturbed value leaves the probabilities as they were
		if ov.Type != model.Value {
			att, as = ws.att, nh*B*T*T
			scale := float32(1 / math.Sqrt(float64(hs)))
			for s := 0; s < n; s++ {
				if err := g.d.GemmStridedBatched(false, true, T, T, hs, scale, q.Add(s*qs), hs, T*hs, k2.Add(s*ks), hs, T*hs,
					0, att.Add(s*as), T, T*T, B*nh); err != nil {
					return err
				}
			}
			rows := n * B * nh * T
			const warps = rowBlock / 32
			if err := g.d.Launch(k.softmaxMask, cuda.Dim3{X: (rows + warps - 1) / warps}, cuda.Dim3{X: rowBlock}, 0, att, ws.mask, rows, T, nh, T); err != nil {
				return err
			}
		}
		for s := 0; s < n; s++ {
			if err := g.context(ws.ctx.Add(s*BT*H), att.Add(s*as), v.Add(s*vs), ws.tmp.Add(s*BT*H), B, T); err != nil {
				return err
			}
		}
		return g.attentionTail(ws, l, n, ov, x)
	case model.AttnOut:
		b0, b1, _, err := shared(ws.tmp, r.ctx)
		if err != nil {
			return err
		}
		if err := g.resLN(n, BT, ws.ln1, ws.tmp, b0, b1, x, L.LN1G, L.LN1B); err != nil {
			return err
		}
		return g.feedForward(ws, l, ov)
	case model.FFNIn:
		b0, b1, seg, err := shared(ws.fi, r.ln1)
		if err != nil {
			return err
		}
		if err := g.d.Launch(k.biasAct, rowsGrid(n*BT, I), cuda.Dim3{X: elemBlock}, 0, ws.fi, ws.fi, b0, b1, seg, n*BT, I, actCode(c.Act)); err != nil {
			return err
		}
		if b0, b1, _, err = g.linear(l, model.FFNOut, ws.tmp, ws.fi, n*BT, BT, ov); err != nil {
			return err
		}
		return g.resLN(n, BT, ws.hidden, ws.tmp, b0, b1, r.ln1, L.LN2G, L.LN2B)
	case model.FFNOut:
		b0, b1, _, err := shared(ws.tmp, r.fi)
		if err != nil {
			return err
		}
		return g.resLN(n, BT, ws.hidden, ws.tmp, b0, b1, r.ln1, L.LN2G, L.LN2B)
	}
	return fmt.Errorf("gpu: the sweep has no module type %q", ov.Type)
}

// attentionTail finishes the perturbed layer l after attention, from the
// copies' context in ws.ctx: the output projection, bias + residual (the
// shared layer input x) + LayerNorm, and the feed-forward block.
func (g *Model) attentionTail(ws *Workspace, l, n int, ov *Override, x cuda.DevPtr) error {
	BT := ws.B * ws.T / n
	L := &g.Host.P.Layers[l]
	b0, b1, seg, err := g.linear(l, model.AttnOut, ws.tmp, ws.ctx, n*BT, BT, ov)
	if err != nil {
		return err
	}
	if seg != n*BT {
		return fmt.Errorf("gpu: internal error: attention output override in a %s perturbation", ov.Type)
	}
	if err := g.resLN(n, BT, ws.ln1, ws.tmp, b0, b1, x, L.LN1G, L.LN1B); err != nil {
		return err
	}
	return g.feedForward(ws, l, ov)
}

// resLN is out = LayerNorm(x + bias + res) for n stacked copies of BT rows,
// copy 0 with bias b0 and copy 1 with b1, all with the one residual res.
func (g *Model) resLN(n, BT int, out, x, b0, b1, res cuda.DevPtr, gamma, beta []float32) error {
	H := g.Cfg.Hidden
	for s := 0; s < n; s++ {
		b := b0
		if s == 1 {
			b = b1
		}
		if err := g.d.Launch(g.k.biasResLN, cuda.Dim3{X: BT}, cuda.Dim3{X: g.k.lnThreads}, 0, out.Add(s*BT*H), x.Add(s*BT*H), b, b, BT,
			res, g.ptr(gamma), g.ptr(beta), H, g.Cfg.Eps, BT); err != nil {
			return err
		}
	}
	return nil
}
