package gpu

import (
	"fmt"
	"sort"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/backend"
	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/model"
)

// DefaultMaxTokens is the GPU sweep's default bound on the tokens of one
// stacked forward batch (both perturbed copies together): 256 probes of 128
// tokens, two copies, fit in one batch (about 3 GiB of activations for a
// BERT-base shape).
const DefaultMaxTokens = 65536

// Sweep measures every selected module's importance on the probe batch on
// the GPU, with the semantics and the noise of adarank.Sweep: the same
// per-(module, layer, trial, copy) noise streams, the cached layer inputs,
// and the perturbed copies stacked into one batch. It uploads m, runs the
// sweep and frees the device copy.
func Sweep(d backend.Backend, m *model.Model, probes model.Batch, o adarank.SweepOptions) ([]adarank.Importance, error) {
	defer d.Bind()()
	g, err := Upload(d, m)
	if err != nil {
		return nil, err
	}
	defer g.Free()
	return g.Sweep(probes, o)
}

// sweepChunk is a slice of the probes small enough for one stacked forward.
type sweepChunk struct {
	B, T  int           // probe sequences in the chunk and their length
	cache []cuda.DevPtr // input of each layer [B*T, H]
	out   cuda.DevPtr   // unperturbed output [B, H] (against reference)
	mask  cuda.DevPtr   // additive mask of the stacked batch [copies*B*T]
	ref   layerRef      // the unperturbed pass through one layer (perturbedLayer)
	bufs  []*cuda.Buffer
}

// layerRef holds what the unperturbed pass through layer `layer` computes
// for a chunk's probes, where a perturbed copy of one of that layer's
// modules computes the same: Q, K, V (biased and permuted to [B, nh, T, hs];
// with the fused attention [B·T, H] as their GEMMs wrote them), the
// attention probabilities [B, nh, T, T], the context and the attention
// block's output [B·T, H], the feed-forward activations [B·T, I]. Only the
// parts the swept module types read are allocated (others stay 0).
type layerRef struct {
	layer                      int // -1 before the first fill
	q, k, v, att, ctx, ln1, fi cuda.DevPtr
}

func (c *sweepChunk) free() {
	for _, b := range c.bufs {
		b.Free()
	}
}

// Sweep runs the perturbation sweep with the model's uploaded weights.
func (g *Model) Sweep(probes model.Batch, o adarank.SweepOptions) ([]adarank.Importance, error) {
	m := g.Host
	if o.MaxTokens <= 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if err := o.Validate(m); err != nil {
		return nil, err
	}
	if err := m.Validate(probes); err != nil {
		return nil, err
	}
	switch {
	case o.Cumulative:
		return nil, fmt.Errorf("--cumulative (the reference notebook's accumulating noise) runs on the CPU only: use --device cpu")
	case o.NoCache:
		return nil, fmt.Errorf("--no-cache is a CPU check of the layer cache: use --device cpu")
	case o.Output == adarank.OutputMLM:
		return nil, fmt.Errorf("--output mlm is not implemented on the GPU yet: use --device cpu, or --output pooled / cls")
	}
	defer g.d.Bind()()
	c := g.Cfg
	H, L := c.Hidden, c.Layers
	copies := 2
	if o.Against == adarank.AgainstReference {
		copies = 1
	}
	// Chunks of probes of similar length, each cut to its longest probe
	// (trailing padding changes no output), run stacked copies at a time.
	plan := planChunks(probes, o.MaxTokens/copies)
	if NoLengthBuckets {
		plan = nil
		per := max(1, o.MaxTokens/(copies*probes.T))
		for lo := 0; lo < probes.B; lo += per {
			plan = append(plan, probes.Slice(lo, min(probes.B, lo+per)))
		}
	}
	capSeq, capTok, capAtt := 0, 0, 0
	for _, p := range plan {
		capSeq = max(capSeq, copies*p.B)
		capTok = max(capTok, copies*p.B*p.T)
		capAtt = max(capAtt, copies*p.B*p.T*p.T)
	}
	big, err := g.newWorkspace(capSeq, capTok, capAtt)
	if err != nil {
		return nil, err
	}
	defer big.Free()

	// Per chunk: run the unperturbed model once, keeping every layer's input
	// and the reference output; build the stacked batch's mask.
	var chunks []*sweepChunk
	defer func() {
		for _, ch := range chunks {
			ch.free()
		}
	}()
	for _, p := range plan {
		ch, err := g.prepareChunk(big, p, copies, o.Output)
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, ch)
	}

	// The modules are visited layer by layer (each chunk's layerRef is then
	// filled once per layer); the results keep adarank.Sweep's order (type,
	// then layer). Perturbed weights: two device copies of the largest module.
	maxW, maxB := 0, 0
	var mods []moduleRef
	for l := 0; l < L; l++ {
		for ti, typ := range o.Modules {
			w, b, _, _, _ := m.P.Layers[l].Linear(typ)
			maxW, maxB = max(maxW, len(w)), max(maxB, len(b))
			mods = append(mods, moduleRef{typ: typ, layer: l, w: w, b: b, out: ti*L + l})
		}
	}
	for _, ch := range chunks {
		if err := g.allocLayerRef(ch, o.Modules); err != nil {
			return nil, err
		}
	}
	var dw, db [2]*cuda.Buffer
	for s := 0; s < copies; s++ {
		if dw[s], err = g.d.AllocF32(fmt.Sprintf("perturbed weight copy %d", s), maxW); err != nil {
			return nil, err
		}
		defer dw[s].Free()
		if db[s], err = g.d.AllocF32(fmt.Sprintf("perturbed bias copy %d", s), maxB); err != nil {
			return nil, err
		}
		defer db[s].Free()
	}
	nTrials := len(mods) * o.Trials
	slots, err := g.d.AllocF32("disagreement sums", 2*nTrials) // float64 each
	if err != nil {
		return nil, err
	}
	defer slots.Free()
	if err := g.d.Fill32(slots.Ptr, 0, 2*nTrials); err != nil {
		return nil, err
	}

	// PCG noise is drawn on CPU threads ahead of the GPU into page-locked
	// buffers; each trial's uploads are queued asynchronously, and a buffer
	// goes back to the producer once a fence after its upload has passed.
	// The device weight buffers are reused by every trial: stream order puts
	// each upload after the kernels of the previous trial that read them.
	// Philox noise is drawn on the GPU into the same buffers (no host work).
	philox := o.Noise == adarank.NoisePhilox
	var src *noiseSource
	if !philox {
		if src, err = newNoiseSource(mods, o.Trials, copies, o.NoiseScale, o.BiasNoise, o.Seed, maxW, maxB, g.d.AllocHost); err != nil {
			return nil, err
		}
	}
	type inFlight struct {
		wait func() error
		jobs []*noiseJob
	}
	var queued []inFlight
	defer func() {
		for _, q := range queued {
			q.wait()
		}
		g.d.Sync() // on an error path, uploads from the staging buffers may still be queued
		if src != nil {
			src.stop()
		}
	}()
	done := 0
	for mi, mod := range mods {
		sdW, sdB := o.NoiseScale*adarank.PopStd(mod.w), o.NoiseScale*adarank.PopStd(mod.b)
		for tr := 0; tr < o.Trials; tr++ {
			ov := &Override{Layer: mod.layer, Type: mod.typ, NSeg: copies}
			if err := func() error {
				if philox {
					for s := 0; s < copies; s++ {
						if err := g.perturbPhilox(dw[s].Ptr, db[s].Ptr, mod, sdW, sdB, o, tr, s); err != nil {
							return err
						}
						ov.W[s], ov.Bias[s] = dw[s].Ptr, db[s].Ptr
					}
					return nil
				}
				var jobs []*noiseJob
				for s := 0; s < copies; s++ {
					j := src.next()
					if j == nil || j.typ != mod.typ || j.layer != mod.layer || j.tr != tr || j.copyIdx != s {
						return fmt.Errorf("gpu: internal error: noise out of order")
					}
					jobs = append(jobs, j)
					if err := g.d.UploadAsync(dw[s].Ptr, j.buf.w, 0, len(j.outW)); err != nil {
						return err
					}
					if err := g.d.UploadAsync(db[s].Ptr, j.buf.b, 0, len(j.outB)); err != nil {
						return err
					}
					ov.W[s], ov.Bias[s] = dw[s].Ptr, db[s].Ptr
				}
				wait, err := g.d.Fence()
				if err != nil {
					return err
				}
				queued = append(queued, inFlight{wait, jobs})
				if len(queued) >= noiseHeld-1 {
					q := queued[0]
					queued = queued[1:]
					if err := q.wait(); err != nil {
						return err
					}
					for _, j := range q.jobs {
						src.release(j)
					}
				}
				return nil
			}(); err != nil {
				return nil, err
			}
			slot := slots.Ptr + cuda.DevPtr(8*(mi*o.Trials+tr))
			for _, ch := range chunks {
				if err := g.perturbedChunk(big, ch, mod.layer, copies, ov, o.Output, slot); err != nil {
					return nil, err
				}
			}
			done++
			if o.Progress != nil {
				o.Progress(done, nTrials)
			}
		}
	}
	sums := make([]float64, nTrials)
	if err := g.d.DownloadF64(sums, slots.Ptr); err != nil {
		return nil, err
	}
	count := float64(probes.B * H)
	out := make([]adarank.Importance, len(mods))
	for mi, mod := range mods {
		imp := adarank.Importance{Type: mod.typ, Layer: mod.layer}
		for tr := 0; tr < o.Trials; tr++ {
			imp.Trials = append(imp.Trials, sums[mi*o.Trials+tr]/count)
		}
		imp.Mean, imp.Std = adarank.MeanStd(imp.Trials)
		out[mod.out] = imp
	}
	return out, nil
}

// perturbPhilox writes copy s of trial tr of module mod into dw (weights)
// and db (bias) on the device: Philox noise of sd sdW / sdB (the bias only
// with o.BiasNoise) added to the model's values, as adarank.PerturbPhilox.
func (g *Model) perturbPhilox(dw, db cuda.DevPtr, mod moduleRef, sdW, sdB float64, o adarank.SweepOptions, tr, s int) error {
	stream := int64(adarank.NoiseStream(mod.typ, mod.layer, tr, s))
	launch := func(out cuda.DevPtr, src []float32, sd float64, which int) error {
		n := len(src)
		return g.d.Launch(g.k.perturbPhilox, elemGrid((n+3)/4), cuda.Dim3{X: elemBlock}, 0, out, g.ptr(src), int64(n), float32(sd),
			int64(o.Seed), stream, which)
	}
	if err := launch(dw, mod.w, sdW, 0); err != nil {
		return err
	}
	if o.BiasNoise {
		return launch(db, mod.b, sdB, 1)
	}
	return g.d.Copy(db, g.ptr(mod.b), len(mod.b))
}

// prepareChunk runs the unperturbed forward for one chunk of probes in the
// stacked workspace, caching each layer's input, and stores the chunk's
// reference output and the stacked batch's mask.
func (g *Model) prepareChunk(ws *Workspace, probes model.Batch, copies int, output string) (*sweepChunk, error) {
	c := g.Cfg
	H, L := c.Hidden, c.Layers
	BT := probes.B * probes.T
	ch := &sweepChunk{B: probes.B, T: probes.T}
	alloc := func(name string, n int) (cuda.DevPtr, error) {
		b, err := g.d.AllocF32(name, n)
		if err != nil {
			return 0, err
		}
		ch.bufs = append(ch.bufs, b)
		return b.Ptr, nil
	}
	fail := func(err error) (*sweepChunk, error) {
		ch.free()
		return nil, err
	}
	if err := g.SetBatch(ws, probes); err != nil {
		return fail(err)
	}
	if err := g.Embed(ws); err != nil {
		return fail(err)
	}
	for l := 0; l < L; l++ {
		p, err := alloc(fmt.Sprintf("cached input of layer %d (%d tokens)", l, BT), BT*H)
		if err != nil {
			return fail(err)
		}
		ch.cache = append(ch.cache, p)
		if err := g.d.Copy(p, ws.hidden, BT*H); err != nil {
			return fail(err)
		}
		if err := g.Layer(ws, l, nil); err != nil {
			return fail(err)
		}
	}
	out, err := g.output(ws, output)
	if err != nil {
		return fail(err)
	}
	if ch.out, err = alloc("reference output", probes.B*H); err != nil {
		return fail(err)
	}
	if err := g.d.Copy(ch.out, out, probes.B*H); err != nil {
		return fail(err)
	}
	// The stacked batch: the probes repeated copies times.
	stacked := probes.Repeat(copies)
	if err := g.SetBatch(ws, stacked); err != nil {
		return fail(err)
	}
	if ch.mask, err = alloc("stacked attention mask", copies*BT); err != nil {
		return fail(err)
	}
	if err := g.d.Copy(ch.mask, ws.maskOwn, copies*BT); err != nil {
		return fail(err)
	}
	return ch, nil
}

// output computes the compared output ([B, H]) of the workspace's batch.
func (g *Model) output(ws *Workspace, output string) (cuda.DevPtr, error) {
	if output == adarank.OutputCLS {
		return ws.cls, g.CLS(ws)
	}
	return g.Pool(ws)
}

// perturbedChunk runs layers l.. of one chunk with the override and adds
// the disagreement sum into slot.
func (g *Model) perturbedChunk(ws *Workspace, ch *sweepChunk, l, copies int, ov *Override, output string, slot cuda.DevPtr) error {
	H := g.Cfg.Hidden
	BT := ch.B * ch.T
	// Layers l..L-2 in full; the last one only for the first token, which is
	// all the compared outputs (pooled or CLS) read.
	last := g.Cfg.Layers - 1
	if FullLastLayer {
		last = g.Cfg.Layers
	}
	reuse := l < last && !NoLayerReuse
	if reuse {
		if err := g.fillLayerRef(ws, ch, l); err != nil {
			return err
		}
	}
	if err := ws.Reshape(copies*ch.B, ch.T); err != nil {
		return err
	}
	ws.mask = ch.mask
	defer func() { ws.mask = ws.maskOwn }()
	ov.SegRows = BT
	from := l
	if reuse {
		if err := g.perturbedLayer(ws, ch, l, copies, ov); err != nil {
			return err
		}
		from = l + 1
	} else {
		for s := 0; s < copies; s++ {
			if err := g.d.Copy(ws.hidden.Add(s*BT*H), ch.cache[l], BT*H); err != nil {
				return err
			}
		}
	}
	for k := from; k < last; k++ {
		if err := g.Layer(ws, k, ov); err != nil {
			return err
		}
	}
	if last < g.Cfg.Layers {
		if err := g.LayerCLS(ws, last, ov); err != nil {
			return err
		}
	} else if err := g.CLS(ws); err != nil {
		return err
	}
	out := ws.cls
	if output == adarank.OutputPooled {
		var err error
		if out, err = g.PoolCLS(ws); err != nil {
			return err
		}
	}
	n := ch.B * H
	a, b := out, ch.out
	if copies == 2 {
		b = out.Add(n)
	}
	return g.d.Launch(g.k.absdiffSum, elemGrid(n), cuda.Dim3{X: elemBlock}, 0, slot, a, b, n)
}

// Benchmark switches (tools/gpu/gpucheck times the sweep with and without
// each optimisation); both false in normal use.
var (
	NoLengthBuckets bool // one chunk order and length as on the CPU (probes keep their padding)
	FullLastLayer   bool // run the last layer for every token, not just the first
	NoLayerReuse    bool // run the perturbed layer in full for every copy (no layerRef)
)

// minChunkTokens is the least tokens (per copy) worth a separate chunk:
// below it, launch overheads outweigh the padding a split saves.
var minChunkTokens = 8192

// planChunks splits the probes into batches for the stacked forwards:
// sorted by length (real tokens up to the last one; position 0 always kept;
// a probe with no real token keeps its full length, since then every key
// counts), grouped greedily into chunks of at least minChunkTokens and at
// most maxTokens tokens, each cut to its longest member. Trailing padding
// changes no output, and the disagreement is a sum over probes, so grouping
// changes only the order of additions.
func planChunks(b model.Batch, maxTokens int) []model.Batch {
	T := b.T
	lens := make([]int, b.B)
	idx := make([]int, b.B)
	for s := range lens {
		idx[s] = s
		lens[s] = T
		if b.Mask != nil {
			last := -1
			for t := 0; t < T; t++ {
				if b.Mask[s*T+t] != 0 {
					last = t
				}
			}
			if last >= 0 {
				lens[s] = last + 1
			}
		}
	}
	sort.SliceStable(idx, func(i, j int) bool { return lens[idx[i]] < lens[idx[j]] })
	var out []model.Batch
	for lo := 0; lo < len(idx); {
		hi := lo + 1
		for hi < len(idx) {
			n, Tc := hi-lo, lens[idx[hi-1]]
			if n*Tc >= minChunkTokens || (n+1)*lens[idx[hi]] > maxTokens {
				break
			}
			hi++
		}
		Tc := lens[idx[hi-1]]
		r := model.Batch{B: hi - lo, T: Tc, IDs: make([]int32, (hi-lo)*Tc)}
		if b.TypeIDs != nil {
			r.TypeIDs = make([]int32, (hi-lo)*Tc)
		}
		if b.Mask != nil {
			r.Mask = make([]int32, (hi-lo)*Tc)
		}
		for k, s := range idx[lo:hi] {
			copy(r.IDs[k*Tc:(k+1)*Tc], b.IDs[s*T:s*T+Tc])
			if b.TypeIDs != nil {
				copy(r.TypeIDs[k*Tc:(k+1)*Tc], b.TypeIDs[s*T:s*T+Tc])
			}
			if b.Mask != nil {
				copy(r.Mask[k*Tc:(k+1)*Tc], b.Mask[s*T:s*T+Tc])
			}
		}
		out = append(out, r)
		lo = hi
	}
	return out
}
