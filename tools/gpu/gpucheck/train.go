package main

// Training on the GPU (gpu.Trainer): gradient parity with the CPU engine and
// with PyTorch (the PEFT fixtures) in fp32, tf32 and bf16, and the time of a
// LoRA fine-tuning step and of a full (pretraining) step.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/gpu"
	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/nn"
	"github.com/adarank/adarank/internal/optim"
)

// trainTol is the gradient tolerance per GEMM precision: fp32 allows
// accumulation-order differences only; tf32 (10-bit mantissa inputs) and
// bf16 (7-bit) round every GEMM input, and the rounding compounds through
// the backward pass.
func trainTol(prec string) float64 {
	switch prec {
	case "tf32":
		return 2e-2
	case "bf16", "bf16-native":
		return 5e-2
	}
	return 1e-4
}

// gradFloor: a tensor whose largest reference gradient is below gradFloor of
// the largest gradient of the case is measured against gradFloor·max instead
// of its own maximum, where its own maximum is no scale for the error. The
// attention key biases' gradients are exactly zero in exact arithmetic
// (softmax is shift-invariant): both sides are rounding noise (~1e-8 of the
// largest gradient), so, as in internal/gpu's CI test, they are measured
// against the largest gradient of the case.
const gradFloor = 1e-3

func floorFor(name string) float64 {
	if strings.HasSuffix(name, "key.bias") {
		return 1
	}
	return gradFloor
}

// gradErr compares named gradient tensors: for each, max|Δ| / max(max|ref|,
// floorFor(name)·max over all refs); it returns the worst and its name (NaN
// or a missing tensor count as infinite).
func gradErr(got, want map[string][]float32) (worst float64, name string) {
	var gmax float64
	for _, w := range want {
		gmax = math.Max(gmax, maxAbs(w))
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, g := want[k], got[k]
		e := math.Inf(1)
		if len(g) == len(w) {
			var num float64
			for i := range w {
				d := math.Abs(float64(g[i]) - float64(w[i]))
				if math.IsNaN(d) {
					num = math.Inf(1)
					break
				}
				num = math.Max(num, d)
			}
			e = num / math.Max(math.Max(maxAbs(w), floorFor(k)*gmax), 1e-30)
		}
		if e > worst || name == "" {
			worst, name = e, k
		}
	}
	return worst, name
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// adapterGrads names the factors of an adapter set (and trained biases).
func adapterGrads(ad *model.Adapters, bias [][6][]float32) map[string][]float32 {
	out := map[string][]float32{}
	ad.Each(func(l int, typ string, a *model.LoRA) {
		out[fmt.Sprintf("layer.%d.%s.lora_A", l, typ)] = a.A
		out[fmt.Sprintf("layer.%d.%s.lora_B", l, typ)] = a.B
	})
	for l := range bias {
		for ti, b := range bias[l] {
			if b != nil {
				out[fmt.Sprintf("layer.%d.%s.bias", l, model.ModuleTypes[ti])] = b
			}
		}
	}
	return out
}

// paramGrads names the views of a flat gradient g laid out as p (the model's Params).
func paramGrads(c model.Config, p *model.Params, g []float32) map[string][]float32 {
	out := map[string][]float32{}
	base := uintptr(unsafe.Pointer(&p.Data[0]))
	for _, nt := range p.Named(c) {
		if len(nt.Data) == 0 {
			continue
		}
		off := int((uintptr(unsafe.Pointer(&nt.Data[0])) - base) / 4)
		out[nt.Name] = g[off : off+len(nt.Data)]
	}
	return out
}

func parseList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func setPrecision(d *cuda.Device, p string) { must(d.SetPrecision(p)) }

// sectionErr carries an error out of a training section (must), to be
// reported by guard as a failed check: the other sections (and the sweep
// timings) still run.
type sectionErr struct{ err error }

func must(err error) {
	if err != nil {
		panic(sectionErr{err})
	}
}

// guard, deferred at the top of a section, turns a must failure into a
// failed check and puts the GEMM precision back to fp32.
func guard(d *cuda.Device, what string) {
	r := recover()
	if r == nil {
		return
	}
	se, ok := r.(sectionErr)
	if !ok {
		panic(r)
	}
	check(false, "%s: %v", what, se.err)
	d.SetPrecision("fp32")
}

func reportParity(mode, name, against, prec string, worst float64, worstName string, extra map[string]any) {
	tol := trainTol(prec)
	ok := worst <= tol
	rec := map[string]any{"kind": "train_parity", "mode": mode, "model": name, "against": against, "precision": prec,
		"max_rel": worst, "worst": worstName, "tol": tol, "ok": ok}
	for k, v := range extra {
		rec[k] = v
		if f, isF := v.(float64); isF && strings.HasSuffix(k, "_rel") && !(f <= tol) {
			ok = false
		}
	}
	rec["ok"] = ok
	record(rec)
	line := fmt.Sprintf("%-9s %-26s %-4s vs %-7s max rel %.2e (%s)", mode, name, prec, against, worst, worstName)
	if v, has := extra["head_input_rel"]; has {
		line += fmt.Sprintf(", head input %.2e", v)
	}
	if v, has := extra["loss_rel"]; has {
		line += fmt.Sprintf(", loss %.2e", v)
	}
	check(ok, "%s (tol %.0e)", line, tol)
}

// trainParity compares gpu.Trainer gradients with the CPU engine's (and, for
// the PEFT fixtures, with transformers + PEFT) in each precision. Dropout is
// off (the GPU and CPU draw different masks).
func trainParity(d *cuda.Device, refDir, loraDir string, precs []string) {
	defer guard(d, "training parity")
	fmt.Println("\n== training gradients: GPU trainer vs CPU engine / PyTorch (max over tensors of max |Δ| / max |ref|) ==")
	for _, it := range refModels(refDir) {
		if it.m.Cfg.HasMLM {
			mlmParity(d, it.name, it.m, it.b, precs)
		} else {
			loraParity(d, it.name, it.m, it.b, precs)
		}
	}
	// BERT-base shape (the timed model; the sizes of real use): 12 layers of
	// rounding in tf32 and bf16, and the largest GEMM reductions.
	base := bertBase(12)
	loraParity(d, "random bert-base 4x128", base, randomBatch(base, 4, 128, 11), precs)
	c := model.BertBase()
	c.HasMLM, c.HasPooler = true, false
	mb, err := model.NewRandom(c, 2, 0.02)
	if err != nil {
		must(err)
	}
	mlmParity(d, "random bert-base-mlm 4x128", mb, randomBatch(mb, 4, 128, 12), precs)

	peftDirs, _ := filepath.Glob(filepath.Join(loraDir, "*"))
	sort.Strings(peftDirs)
	if len(peftDirs) == 0 {
		check(false, "no PEFT fixtures in %s", loraDir)
	}
	for _, dir := range peftDirs {
		peftParity(d, dir, precs)
	}
	setPrecision(d, "fp32")
}

// mlmTargets picks every third real token with a label derived from its index.
func mlmTargets(b model.Batch, V int) (rows, labels []int32) {
	for i := range b.IDs {
		if b.Mask[i] != 0 && i%3 == 1 {
			rows = append(rows, int32(i))
			labels = append(labels, int32((i*7+3)%V))
		}
	}
	return rows, labels
}

// cpuMLM is the CPU engine's summed masked-LM loss and parameter gradients (scale 1/n, no dropout).
func cpuMLM(m *model.Model, b model.Batch, rows, labels []int32) (float64, *model.Params) {
	g := m.P.Like(m.Cfg)
	loss, _, err := m.MLMStep(b, rows, labels, 1/float32(len(rows)), model.FwdOpts{}, g)
	if err != nil {
		must(err)
	}
	return loss, g
}

// mlmParity: full training (every weight) through the masked-LM head.
func mlmParity(d *cuda.Device, name string, m *model.Model, b model.Batch, precs []string) {
	defer guard(d, "mlm-full "+name)
	rows, labels := mlmTargets(b, m.Cfg.Vocab)
	wantLoss, wantP := cpuMLM(m, b, rows, labels)
	want := paramGrads(m.Cfg, wantP, wantP.Data)
	g, err := gpu.Upload(d, m)
	if err != nil {
		must(err)
	}
	defer g.Free()
	tr, err := g.NewTrainer(gpu.TrainConfig{MaxB: b.B, T: b.T, Full: true, MaxRows: len(rows)})
	if err != nil {
		must(err)
	}
	defer tr.Free()
	for _, prec := range precs {
		setPrecision(d, prec)
		res, err := func() (gpu.MLMResult, error) {
			if err := tr.ZeroGrads(); err != nil {
				return gpu.MLMResult{}, err
			}
			if err := tr.Forward(b, false, 0); err != nil {
				return gpu.MLMResult{}, err
			}
			return tr.MLM(rows, labels, 1/float32(len(rows)), true)
		}()
		if err != nil {
			check(false, "mlm-full %s %s: %v", name, prec, err)
			continue
		}
		got, err := tr.Grads()
		if err != nil {
			check(false, "mlm-full %s %s: %v", name, prec, err)
			continue
		}
		worst, wn := gradErr(paramGrads(m.Cfg, m.P, got), want)
		lossRel := math.Abs(res.Loss-wantLoss) / math.Max(math.Abs(wantLoss), 1e-30)
		reportParity("mlm-full", name, "cpu", prec, worst, wn, map[string]any{"loss_rel": lossRel, "rows": len(rows)})
	}
}

// loraParity: LoRA factors (random, both non-zero) on every module type of
// every layer, one trained bias, a random gradient on the head input.
func loraParity(d *cuda.Device, name string, m *model.Model, b model.Batch, precs []string) {
	defer guard(d, "lora "+name)
	c := m.Cfg
	ranks := make([][6]int, c.Layers)
	scale := make([][6]float32, c.Layers)
	for l := range ranks {
		for ti := range ranks[l] {
			ranks[l][ti] = min(8, c.Hidden/4)
			scale[l][ti] = 0.5
		}
	}
	ad, err := model.NewAdapters(c, ranks, scale)
	if err != nil {
		must(err)
	}
	rng := rand.New(rand.NewPCG(3, 1))
	ad.Each(func(_ int, _ string, a *model.LoRA) {
		in := len(a.A) / a.R
		for i := range a.A {
			a.A[i] = float32(rng.NormFloat64() / math.Sqrt(float64(in)))
		}
		for i := range a.B {
			a.B[i] = float32(rng.NormFloat64() * 0.02)
		}
	})
	vi := model.ModuleIndex(model.Value)
	bias := make([][6]bool, c.Layers)
	bias[0][vi] = true
	pooled := c.HasPooler
	H := c.Hidden
	dX := make([]float32, b.B*H)
	for i := range dX {
		dX[i] = float32(rng.NormFloat64())
	}
	// CPU.
	ws := m.NewWorkspace(b.B, b.T, true, ad)
	m.Encode(ws, b, ad, model.FwdOpts{})
	var wantX []float32
	if pooled {
		wantX = append([]float32(nil), m.Pool(ws)...)
	} else {
		wantX = append([]float32(nil), m.CLS(ws)...)
	}
	gAd := ad.Like()
	gBias := make([][6][]float32, c.Layers)
	gBias[0][vi] = make([]float32, H)
	dHid := make([]float32, b.B*b.T*H)
	gr := model.Grads{Adapters: gAd, Bias: gBias}
	if pooled {
		m.PoolBackward(ws, dHid, dX, gr)
	} else {
		for s := 0; s < b.B; s++ {
			nn.AddInto(dHid[s*b.T*H:s*b.T*H+H], dX[s*H:(s+1)*H])
		}
	}
	m.Backward(ws, dHid, ad, gr, model.FwdOpts{})
	want := adapterGrads(gAd, gBias)
	// GPU.
	g, err := gpu.Upload(d, m)
	if err != nil {
		must(err)
	}
	defer g.Free()
	tr, err := g.NewTrainer(gpu.TrainConfig{MaxB: b.B, T: b.T, Adapters: ad, Bias: bias})
	if err != nil {
		must(err)
	}
	defer tr.Free()
	for _, prec := range precs {
		setPrecision(d, prec)
		gotAd := ad.Like()
		gotBias := make([][6][]float32, c.Layers)
		gotBias[0][vi] = make([]float32, H)
		var x []float32
		err := func() error {
			if err := tr.Forward(b, false, 0); err != nil {
				return err
			}
			var err error
			if x, err = tr.HeadInput(pooled); err != nil {
				return err
			}
			if err := tr.ZeroGrads(); err != nil {
				return err
			}
			if err := tr.BackwardHead(dX, pooled); err != nil {
				return err
			}
			return tr.AddGrads(model.Grads{Adapters: gotAd, Bias: gotBias})
		}()
		if err != nil {
			check(false, "lora %s %s: %v", name, prec, err)
			continue
		}
		worst, wn := gradErr(adapterGrads(gotAd, gotBias), want)
		reportParity("lora", name, "cpu", prec, worst, wn, map[string]any{"head_input_rel": relErr(x, wantX)})
	}
}

// peftHead runs the fixture's classifier head on x (the encoder's head
// input) in eval mode with the mean cross-entropy: it returns the gradient on
// x, the loss and the head's gradients.
func peftHead(a *lora.Adapter, x []float32, B int, labels []int32) (dX []float32, loss float64, gHead *model.Head) {
	acts := a.Head.Forward(x, B, false, 0, nil)
	C := a.Head.C
	losses, probs := make([]float32, B), make([]float32, B*C)
	nn.CrossEntropyForward(losses, probs, acts.Logits, labels, B, C)
	for _, l := range losses {
		loss += float64(l)
	}
	loss /= float64(B)
	dLogits := make([]float32, B*C)
	nn.CrossEntropyBackward(dLogits, probs, labels, B, C, 1/float32(B))
	gHead = a.Head.Like()
	dX = a.Head.Backward(acts, dLogits, gHead)
	return dX, loss, gHead
}

// savedNames names LoRA-factor and head gradients as the adapter file names
// the tensors (PEFT's names, as the fixture's grad.* entries).
func savedNames(a *lora.Adapter, gAd *model.Adapters, gHead *model.Head) map[string][]float32 {
	ga := &lora.Adapter{Arch: a.Arch, Ad: gAd, Head: gHead}
	out := map[string][]float32{}
	for _, t := range ga.Tensors() {
		out[t.Name] = t.F32
	}
	return out
}

// peftParity: a PEFT fixture (adapter saved by PEFT, transformers' gradients)
// through the GPU trainer, against PyTorch and against the CPU engine.
func peftParity(d *cuda.Device, dir string, precs []string) {
	name := "peft " + filepath.Base(dir)
	defer guard(d, name)
	m, err := model.Load(filepath.Join(dir, "base"))
	if err != nil {
		check(false, "%s: %v", name, err)
		return
	}
	a, err := lora.Load(filepath.Join(dir, "adapter"), m)
	if err != nil {
		check(false, "%s: %v", name, err)
		return
	}
	exp, err := hf.ReadSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		check(false, "%s: %v", name, err)
		return
	}
	b, err := model.BatchFromFile(exp)
	if err != nil {
		must(err)
	}
	labels, _, err := exp.Int32s("labels")
	if err != nil {
		must(err)
	}
	torch := map[string][]float32{}
	for _, n := range exp.Order {
		if key, ok := strings.CutPrefix(n, "grad."); ok {
			v, err := exp.Tensors[n].Float32()
			if err != nil {
				must(err)
			}
			torch[key] = v
		}
	}
	wantLoss := float64(0)
	if t := exp.Tensors["loss"]; t != nil {
		v, _ := t.Float32()
		wantLoss = float64(v[0])
	}
	pooled := a.Head.UsesPooler()
	H := m.Cfg.Hidden
	// CPU engine.
	ws := m.NewWorkspace(b.B, b.T, true, a.Ad)
	m.Encode(ws, b, a.Ad, model.FwdOpts{})
	var x []float32
	if pooled {
		x = m.Pool(ws)
	} else {
		x = m.CLS(ws)
	}
	dX, _, gHead := peftHead(a, x, b.B, labels)
	gAd := a.Ad.Like()
	dHid := make([]float32, b.B*b.T*H)
	gr := model.Grads{Adapters: gAd}
	if pooled {
		m.PoolBackward(ws, dHid, dX, gr)
	} else {
		for s := 0; s < b.B; s++ {
			nn.AddInto(dHid[s*b.T*H:s*b.T*H+H], dX[s*H:(s+1)*H])
		}
	}
	m.Backward(ws, dHid, a.Ad, gr, model.FwdOpts{})
	cpu := savedNames(a, gAd, gHead)
	// GPU.
	g, err := gpu.Upload(d, m)
	if err != nil {
		must(err)
	}
	defer g.Free()
	tr, err := g.NewTrainer(gpu.TrainConfig{MaxB: b.B, T: b.T, Adapters: a.Ad})
	if err != nil {
		must(err)
	}
	defer tr.Free()
	for _, prec := range precs {
		setPrecision(d, prec)
		var got map[string][]float32
		var loss float64
		err := func() error {
			if err := tr.Forward(b, false, 0); err != nil {
				return err
			}
			x, err := tr.HeadInput(pooled)
			if err != nil {
				return err
			}
			dX, l, gHead := peftHead(a, x, b.B, labels)
			loss = l
			if err := tr.ZeroGrads(); err != nil {
				return err
			}
			if err := tr.BackwardHead(dX, pooled); err != nil {
				return err
			}
			gAd := a.Ad.Like()
			if err := tr.AddGrads(model.Grads{Adapters: gAd}); err != nil {
				return err
			}
			got = savedNames(a, gAd, gHead)
			return nil
		}()
		if err != nil {
			check(false, "%s %s: %v", name, prec, err)
			continue
		}
		lossRel := math.Abs(loss-wantLoss) / math.Max(math.Abs(wantLoss), 1e-30)
		if len(torch) != len(got) {
			check(false, "%s: fixture has %d gradients, the adapter %d trainable tensors", name, len(torch), len(got))
		}
		wt, nt := gradErr(got, torch)
		reportParity("peft", filepath.Base(dir), "pytorch", prec, wt, shortName(nt), map[string]any{"loss_rel": lossRel})
		wc, nc := gradErr(got, cpu)
		reportParity("peft", filepath.Base(dir), "cpu", prec, wc, shortName(nc), nil)
	}
}

func shortName(s string) string {
	s = strings.TrimPrefix(s, "base_model.model.")
	s = strings.TrimPrefix(s, "bert.encoder.")
	s = strings.TrimPrefix(s, "roberta.encoder.")
	return strings.TrimSuffix(s, ".weight")
}

// ---- timing ----

// gemmPeaks times a 8192³ GEMM (d.Gemm, random inputs) per precision: the
// measured cuBLAS peak that MFU is taken against.
func gemmPeaks(d *cuda.Device, precs []string) (peaks map[string]float64) {
	peaks = map[string]float64{}
	defer guard(d, "GEMM peak")
	const n = 8192
	fmt.Printf("\n== cuBLAS peak: %d³ GEMM through d.Gemm ==\n", n)
	host := make([]float32, n*n)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range host {
		host[i] = rng.Float32()*2 - 1
	}
	var bufs [3]*cuda.Buffer
	for i := range bufs {
		b, err := d.AllocF32("GEMM peak operand", n*n)
		if err != nil {
			must(err)
		}
		defer b.Free()
		bufs[i] = b
	}
	for _, b := range bufs[:2] {
		if err := d.Upload(b.Ptr, host); err != nil {
			must(err)
		}
	}
	tm, err := d.NewTimer()
	if err != nil {
		must(err)
	}
	defer tm.Free()
	for _, prec := range precs {
		setPrecision(d, prec)
		gemm := func() {
			if err := d.Gemm(false, false, n, n, n, 1, bufs[0].Ptr, n, bufs[1].Ptr, n, 0, bufs[2].Ptr, n); err != nil {
				must(err)
			}
		}
		for range 3 {
			gemm()
		}
		const reps = 10
		if err := tm.Start(); err != nil {
			must(err)
		}
		for range reps {
			gemm()
		}
		ms, err := tm.Stop()
		if err != nil {
			must(err)
		}
		tf := 2 * math.Pow(n, 3) * reps / (float64(ms) / 1e3) / 1e12
		peaks[prec] = tf
		fmt.Printf("%-4s %.1f TFLOP/s (%.2f ms per GEMM)\n", prec, tf, float64(ms)/reps)
		record(map[string]any{"kind": "gemm_peak", "precision": prec, "n": n, "tflops": tf, "ms": float64(ms) / reps})
	}
	setPrecision(d, "fp32")
	return peaks
}

// loraStepFLOPs is the model FLOP count of one LoRA fine-tuning step with a
// frozen base (tools/gpu/train_step_peft.py uses the same formula):
//
//	F = N·L·(4·(4H² + 2HI) + 12·T·H) + N·Σ_adapters 6·r·(in + out)
//
// N = B·T tokens. Per token and layer the six linear maps take 2·(4H²+2HI)
// FLOPs forward and as many backward (input gradients only: frozen weights
// get no weight gradient); attention (QKᵀ, PV) takes 4·T·H forward and
// 8·T·H backward (dP, dV, dQ, dK). A LoRA module takes 2r(in+out) forward
// and 4r(in+out) backward (dB, dA and the two input-gradient products).
// Embeddings, LayerNorm, softmax, element-wise ops, the pooler and the head
// are not counted.
func loraStepFLOPs(c model.Config, B, T int, ad *model.Adapters) float64 {
	N, H, I := float64(B*T), float64(c.Hidden), float64(c.Inter)
	f := N * float64(c.Layers) * (4*(4*H*H+2*H*I) + 12*float64(T)*H)
	ad.Each(func(_ int, typ string, a *model.LoRA) {
		in, out := c.ModuleDims(typ)
		f += N * 6 * float64(a.R) * float64(in+out)
	})
	return f
}

const loraFLOPsFormula = "N*L*(4*(4H^2+2HI)+12*T*H) + N*sum_adapters 6r(in+out); N=B*T tokens, frozen base: forward + input gradients, attention QK^T,PV forward and dP,dV,dQ,dK backward; embeddings, LayerNorm, element-wise ops, pooler and head not counted"

// pretrainStepFLOPs is the model FLOP count of one full-training MLM step:
//
//	F = N·L·(6·(4H² + 2HI) + 12·T·H) + 6·n·(H² + H·V)
//
// the linear maps forward, input and weight gradients (6 per weight per
// token), attention as in loraStepFLOPs, and the MLM head (dense and tied
// decoder) on the n masked rows; embeddings and element-wise ops not counted.
func pretrainStepFLOPs(c model.Config, B, T, n int) float64 {
	N, H, I, V := float64(B*T), float64(c.Hidden), float64(c.Inter), float64(c.Vocab)
	return N*float64(c.Layers)*(6*(4*H*H+2*H*I)+12*float64(T)*H) + 6*float64(n)*(H*H+H*V)
}

const pretrainFLOPsFormula = "N*L*(6*(4H^2+2HI)+12*T*H) + 6*n_masked*(H^2+H*V); N=B*T tokens"

// fullBatch is B sequences of T real tokens (ids in [1000, 20000) as
// train_step_peft.py), with no padding.
func fullBatch(c model.Config, B, T int, seed uint64) model.Batch {
	rng := rand.New(rand.NewPCG(seed, 5))
	b := model.Batch{B: B, T: T, IDs: make([]int32, B*T), Mask: make([]int32, B*T), TypeIDs: make([]int32, B*T)}
	lo, hi := 1000, min(20000, c.Vocab)
	if hi-lo < 100 { // small vocabularies: any id past the special tokens
		lo = min(5, hi-1)
	}
	for i := range b.IDs {
		b.IDs[i] = int32(lo + rng.IntN(hi-lo))
		b.Mask[i] = 1
	}
	return b
}

// memWatch tracks the lowest free device memory seen against a baseline.
type memWatch struct {
	d       *cuda.Device
	base    uint64
	minFree uint64
}

func newMemWatch(d *cuda.Device) *memWatch {
	free, _, err := d.MemInfo()
	if err != nil {
		must(err)
	}
	return &memWatch{d: d, base: free, minFree: free}
}

func (w *memWatch) sample() {
	if free, _, err := w.d.MemInfo(); err == nil && free < w.minFree {
		w.minFree = free
	}
}

// peakGiB is the most device memory in use since the baseline (parameters,
// trainer buffers, anything cuBLAS allocated), in GiB.
func (w *memWatch) peakGiB() float64 { return float64(w.base-w.minFree) / (1 << 30) }

// loraStepBench times one LoRA fine-tuning step in the shape of
// tools/gpu/train_step_peft.py: BERT-base, batch 32 × 128 tokens, r = 8 on
// query and value (alpha 16), a 2-class HF head on the pooled output,
// dropout 0.1, AdamW (lr 1e-4, weight decay 0.01 as torch's default) on the
// adapters and the head on the host.
func loraStepBench(d *cuda.Device, steps, warmup int, precs []string, peaks map[string]float64) {
	defer guard(d, "LoRA step timing")
	const B, T, r = 32, 128, 8
	fmt.Printf("\n== LoRA training step: BERT-base, %dx%d, r=%d on query,value, alpha 16, 2 classes, AdamW ==\n", B, T, r)
	c := model.BertBase()
	c.HiddenDrop, c.AttnDrop = 0.1, 0.1
	m, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		must(err)
	}
	ranks := make(lora.Ranks, c.Layers)
	for l := range ranks {
		ranks[l][model.ModuleIndex(model.Query)] = r
		ranks[l][model.ModuleIndex(model.Value)] = r
	}
	a, err := lora.New(c, ranks, lora.Options{Convention: lora.Standard, Alpha: 16, AlphaMode: lora.AlphaFix}, model.HeadHF, 2)
	if err != nil {
		must(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	a.Init(rng)
	a.InitHead(rng, 0.02)
	b := fullBatch(c, B, T, 1)
	labels := make([]int32, B)
	for i := range labels {
		labels[i] = int32(rng.IntN(2))
	}
	// Host optimizer state: every adapter factor and the head.
	gAd, gHead := a.Ad.Like(), a.Head.Like()
	var params, grads [][]float32
	a.Ad.Each(func(l int, typ string, x *model.LoRA) {
		gx := gAd.Get(l, typ)
		params = append(params, x.A, x.B)
		grads = append(grads, gx.A, gx.B)
	})
	params = append(params, a.Head.Data)
	grads = append(grads, gHead.Data)
	mom, vel := make([][]float32, len(params)), make([][]float32, len(params))
	for i, p := range params {
		mom[i], vel[i] = make([]float32, len(p)), make([]float32, len(p))
	}
	opt := optim.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	slots := make([]optim.Slot, len(params))
	for i := range params {
		slots[i] = optim.Slot{P: params[i], G: grads[i], M: mom[i], V: vel[i], WD: 0.01}
	}
	flops := loraStepFLOPs(c, B, T, a.Ad)

	mw := newMemWatch(d)
	g, err := gpu.Upload(d, m)
	if err != nil {
		must(err)
	}
	defer g.Free()
	tr, err := g.NewTrainer(gpu.TrainConfig{MaxB: B, T: T, Adapters: a.Ad})
	if err != nil {
		must(err)
	}
	defer tr.Free()
	mw.sample()
	pooled := a.Head.UsesPooler()
	C := a.Head.C
	var loss float64
	seed := uint64(0)
	step := func() {
		seed++
		if err := tr.Forward(b, true, seed); err != nil {
			must(err)
		}
		x, err := tr.HeadInput(pooled)
		if err != nil {
			must(err)
		}
		mw.sample()
		acts := a.Head.Forward(x, B, true, 0.1, rng)
		losses, probs := make([]float32, B), make([]float32, B*C)
		nn.CrossEntropyForward(losses, probs, acts.Logits, labels, B, C)
		loss = 0
		for _, l := range losses {
			loss += float64(l) / B
		}
		dLogits := make([]float32, B*C)
		nn.CrossEntropyBackward(dLogits, probs, labels, B, C, 1/float32(B))
		for _, gr := range grads {
			clear(gr)
		}
		dX := a.Head.Backward(acts, dLogits, gHead)
		if err := tr.ZeroGrads(); err != nil {
			must(err)
		}
		if err := tr.BackwardHead(dX, pooled); err != nil {
			must(err)
		}
		if err := tr.AddGrads(model.Grads{Adapters: gAd}); err != nil {
			must(err)
		}
		mw.sample()
		opt.Begin()
		opt.UpdateAll(slots, 1e-4) // as adarank train does

	}
	wall := map[string]float64{}
	for _, prec := range precs {
		setPrecision(d, prec)
		sec := timeSteps(d, step, warmup, steps)
		tflops, mfu := rate(flops, sec, peaks[prec])
		ok := !math.IsNaN(loss) && !math.IsInf(loss, 0)
		fmt.Printf("%-4s %7.2f ms/step  %8.0f tokens/s  peak memory %.2f GiB  %.1f TFLOP/s  MFU %s (of the measured %s GEMM peak)  loss %.4f\n",
			prec, 1e3*sec, B*T/sec, mw.peakGiB(), tflops, pct(mfu), prec, loss)
		record(map[string]any{"kind": "train_step", "impl": "adarank-cuda", "case": "lora bert-base 32x128 r8 q,v", "precision": prec,
			"ms_per_step": 1e3 * sec, "tokens_per_s": B * T / sec, "peak_mem_gib": mw.peakGiB(), "tflops": tflops, "mfu": nanNil(mfu),
			"peak_tflops": peaks[prec], "flops_per_step": flops, "flops_formula": loraFLOPsFormula, "steps": steps, "warmup": warmup,
			"loss": loss, "peak_mem_method": "cuMemGetInfo: free before Upload minus the lowest free seen after Forward and after Backward"})
		check(ok, "LoRA step %s: finite loss", prec)
		wall[prec] = 1e3 * sec
	}
	// The attention-dropout fusion (softmax and dropout in one kernel, forward
	// and backward) against the separate kernels, same step otherwise.
	for _, prec := range precs {
		if prec != "fp32" && prec != "tf32" {
			continue
		}
		setPrecision(d, prec)
		gpu.SeparateDropoutKernels = true
		sec := timeSteps(d, step, warmup, steps)
		gpu.SeparateDropoutKernels = false
		fmt.Printf("%-4s %7.2f ms/step with attention dropout as separate kernels (fused: %.2f ms)\n", prec, 1e3*sec, wall[prec])
		record(map[string]any{"kind": "train_step_variant", "impl": "adarank-cuda separate-dropout", "case": "lora bert-base 32x128 r8 q,v",
			"precision": prec, "ms_per_step": 1e3 * sec, "fused_ms_per_step": wall[prec]})
		// Separate query/key/value GEMMs: a trainer made with the toggle on.
		gpu.SeparateQKV = true
		sep, err := g.NewTrainer(gpu.TrainConfig{MaxB: B, T: T, Adapters: a.Ad})
		gpu.SeparateQKV = false
		if err != nil {
			must(err)
		}
		fusedTr := tr
		tr = sep
		sec = timeSteps(d, step, warmup, steps)
		tr = fusedTr
		sep.Free()
		fmt.Printf("%-4s %7.2f ms/step with separate query/key/value GEMMs (fused: %.2f ms)\n", prec, 1e3*sec, wall[prec])
		record(map[string]any{"kind": "train_step_variant", "impl": "adarank-cuda separate-qkv", "case": "lora bert-base 32x128 r8 q,v",
			"precision": prec, "ms_per_step": 1e3 * sec, "fused_ms_per_step": wall[prec]})
		// Threads per row of the forward LayerNorm kernels (compiled into the trainer).
		for _, n := range []int{32, 64, 256} {
			def := gpu.LNThreads
			gpu.LNThreads = n
			alt, err := g.NewTrainer(gpu.TrainConfig{MaxB: B, T: T, Adapters: a.Ad})
			gpu.LNThreads = def
			if err != nil {
				must(err)
			}
			tr = alt
			sec = timeSteps(d, step, warmup, steps)
			tr = fusedTr
			alt.Free()
			fmt.Printf("%-4s %7.2f ms/step with %d threads per LayerNorm row (%d: %.2f ms)\n", prec, 1e3*sec, n, def, wall[prec])
			record(map[string]any{"kind": "train_step_variant", "impl": fmt.Sprintf("adarank-cuda ln-threads-%d", n), "case": "lora bert-base 32x128 r8 q,v",
				"precision": prec, "ms_per_step": 1e3 * sec, "default_ms_per_step": wall[prec], "default_ln_threads": def})
		}
	}
	if *profileOps {
		// Per-op GPU time of the same step (events around every operation).
		prof := gpu.NewProfiler(d)
		defer prof.Free()
		gp, err := gpu.UploadProfiled(d, m, prof)
		if err != nil {
			must(err)
		}
		defer gp.Free()
		plain := tr
		if tr, err = gp.NewTrainer(gpu.TrainConfig{MaxB: B, T: T, Adapters: a.Ad}); err != nil {
			must(err)
		}
		for _, prec := range precs {
			setPrecision(d, prec)
			step()
			must(prof.Reset())
			const n = 5
			for range n {
				step()
			}
			fmt.Printf("\nper-op GPU time, LoRA step %s (%d profiled steps):\n", prec, n)
			must(prof.Report(os.Stdout, n, wall[prec]))
			st, err := prof.Stats()
			must(err)
			for _, o := range st {
				record(map[string]any{"kind": "op_profile", "case": "lora bert-base 32x128 r8 q,v", "precision": prec, "op": o.Name,
					"calls_per_step": float64(o.Calls) / n, "ms_per_step": o.Ms / n})
			}
		}
		tr.Free()
		tr = plain
	}
	setPrecision(d, "fp32")
}

// timeSteps runs warmup untimed steps, then returns the mean seconds of
// steps more (synchronised before and after).
func timeSteps(d *cuda.Device, step func(), warmup, steps int) float64 {
	for range warmup {
		step()
	}
	must(d.Sync())
	start := time.Now()
	for range steps {
		step()
	}
	must(d.Sync())
	return time.Since(start).Seconds() / float64(steps)
}

// rate is the TFLOP/s of flops in sec seconds and its share of peak (NaN without a peak).
func rate(flops, sec, peak float64) (tflops, mfu float64) {
	tflops = flops / sec / 1e12
	mfu = math.NaN()
	if peak > 0 {
		mfu = tflops / peak
	}
	return tflops, mfu
}

func pct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*x)
}

func nanNil(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

// pretrainConfig is the small pretraining encoder of the CPU runs, through
// the same path as `adarank pretrain --config` (MLM head, no pooler).
const pretrainConfig = `{"model_type":"bert","hidden_size":384,"num_hidden_layers":6,"num_attention_heads":6,"intermediate_size":1536,"vocab_size":16000}`

// pretrainStepBench times full training (every weight, masked-LM head): one
// step is Forward(train) + MLM(backward) + GradNorm + AdamWStep, with 15% of
// the rows masked.
func pretrainStepBench(d *cuda.Device, steps, warmup int, precs []string, peaks map[string]float64) {
	defer guard(d, "full-training timing")
	hc, err := hf.ParseConfig([]byte(pretrainConfig))
	if err != nil {
		must(err)
	}
	small, err := model.FromHF(hc)
	if err != nil {
		must(err)
	}
	small.HasMLM, small.HasPooler = true, false
	base := model.BertBase()
	base.HasMLM, base.HasPooler = true, false
	base.HiddenDrop, base.AttnDrop = 0.1, 0.1
	for _, cs := range []struct {
		name string
		c    model.Config
		B, T int
	}{{"pretrain 6x384 v16000 64x128", small, 64, 128}, {"pretrain bert-base v30522 32x128", base, 32, 128}} {
		fmt.Printf("\n== full training step (MLM, every weight, AdamW on the GPU): %s, dropout %.1f ==\n", cs.name, cs.c.HiddenDrop)
		pretrainCase(d, cs.name, cs.c, cs.B, cs.T, steps, warmup, precs, peaks)
	}
	setPrecision(d, "fp32")
}

func pretrainCase(d *cuda.Device, name string, c model.Config, B, T, steps, warmup int, precs []string, peaks map[string]float64) {
	defer guard(d, name+" timing")
	m, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		must(err)
	}
	b := fullBatch(c, B, T, 2)
	n := B * T * 15 / 100
	// A few masks, cycled (the host draws a new one per step in real training).
	rng := rand.New(rand.NewPCG(4, 4))
	type target struct{ rows, labels []int32 }
	targets := make([]target, 4)
	for k := range targets {
		perm := rng.Perm(B * T)[:n]
		sort.Ints(perm)
		tg := target{make([]int32, n), make([]int32, n)}
		for i, p := range perm {
			tg.rows[i] = int32(p)
			tg.labels[i] = int32(rng.IntN(c.Vocab))
		}
		targets[k] = tg
	}
	var decay [][2]int
	off := 0
	for _, nt := range m.P.Named(c) {
		if len(nt.Shape) > 1 { // no decay on biases and LayerNorm, as internal/pretrain
			decay = append(decay, [2]int{off, off + len(nt.Data)})
		}
		off += len(nt.Data)
	}
	flops := pretrainStepFLOPs(c, B, T, n)
	mw := newMemWatch(d)
	g, err := gpu.Upload(d, m)
	if err != nil {
		must(err)
	}
	defer g.Free()
	tr, err := g.NewTrainer(gpu.TrainConfig{MaxB: B, T: T, Full: true, MaxRows: n})
	if err != nil {
		must(err)
	}
	defer tr.Free()
	mw.sample()
	k, loss := 0, 0.0
	step := func() {
		k++
		tg := targets[k%len(targets)]
		if err := tr.ZeroGrads(); err != nil {
			must(err)
		}
		if err := tr.Forward(b, true, uint64(k)); err != nil {
			must(err)
		}
		mw.sample()
		res, err := tr.MLM(tg.rows, tg.labels, 1/float32(n), true)
		if err != nil {
			must(err)
		}
		loss = res.Loss / float64(n)
		norm, err := tr.GradNorm()
		if err != nil {
			must(err)
		}
		mw.sample()
		if err := tr.AdamWStep(k, 5e-4, 0.9, 0.999, 1e-6, 0.01, gpu.ClipScale(1, norm), decay); err != nil {
			must(err)
		}
	}
	for _, prec := range precs {
		setPrecision(d, prec)
		sec := timeSteps(d, step, warmup, steps)
		tflops, mfu := rate(flops, sec, peaks[prec])
		fmt.Printf("%-4s %7.2f ms/step  %8.0f tokens/s  peak memory %.2f GiB  %.1f TFLOP/s  MFU %s  MLM loss %.4f\n",
			prec, 1e3*sec, float64(B*T)/sec, mw.peakGiB(), tflops, pct(mfu), loss)
		record(map[string]any{"kind": "pretrain_step", "impl": "adarank-cuda", "case": name, "precision": prec,
			"ms_per_step": 1e3 * sec, "tokens_per_s": float64(B*T) / sec, "peak_mem_gib": mw.peakGiB(), "tflops": tflops,
			"mfu": nanNil(mfu), "peak_tflops": peaks[prec], "flops_per_step": flops, "flops_formula": pretrainFLOPsFormula,
			"masked_rows": n, "steps": steps, "warmup": warmup, "loss": loss})
		check(!math.IsNaN(loss) && !math.IsInf(loss, 0), "%s %s: finite loss", name, prec)
	}
}
