package gpu

import (
	"github.com/adarank/adarank/internal/backend/host"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/optim"
)

func mlmModel(t *testing.T, act string) *model.Model {
	return mlmModelArch(t, "bert", act)
}

func mlmModelArch(t *testing.T, arch, act string) *model.Model {
	t.Helper()
	c := model.Config{Arch: arch, Vocab: 50, Hidden: 16, Layers: 2, Heads: 4, Inter: 24, MaxPos: 20, TypeVocab: 2,
		Act: act, Eps: 1e-12, HasPooler: true, HasMLM: true, HiddenDrop: 0.1, AttnDrop: 0.1}
	if arch == "roberta" {
		c.PadID, c.TypeVocab, c.MaxPos = 1, 1, 24
	}
	m, err := model.NewRandom(c, 11, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range m.P.Data {
		m.P.Data[i] += float32(rng.NormFloat64()) * 0.05
	}
	return m
}

func mlmTargets(b model.Batch, V int) (rows, labels []int32) {
	for i := range b.IDs {
		if b.Mask[i] != 0 && i%3 == 1 {
			rows = append(rows, int32(i))
			labels = append(labels, int32((i*7)%V))
		}
	}
	return
}

// cpuMLM returns the summed MLM loss and the CPU gradients (scale 1/n) without dropout.
func cpuMLM(m *model.Model, b model.Batch, rows, labels []int32) (float64, *model.Params) {
	g := m.P.Like(m.Cfg)
	loss, _, err := m.MLMStep(b, rows, labels, 1/float32(len(rows)), model.FwdOpts{}, g)
	if err != nil {
		panic(err)
	}
	return loss, g
}

// Full training through the emulated GPU (masked-LM head, every weight,
// tied decoder) gives the CPU engine's loss and gradients.
func TestTrainerMLMGradsMatchCPU(t *testing.T) {
	for _, arch := range []string{"bert/gelu", "bert/gelu_new", "roberta/gelu_new"} {
		act := arch[strings.Index(arch, "/")+1:]
		m := mlmModelArch(t, arch[:strings.Index(arch, "/")], act)
		act = arch
		b := testBatch(m, 3, 9, 4)
		rows, labels := mlmTargets(b, m.Cfg.Vocab)
		wantLoss, want := cpuMLM(m, b, rows, labels)
		d, _, tr := emuTrainer(t, m, TrainConfig{MaxB: 4, T: 10, Full: true, MaxRows: 3}) // chunks of 3 rows
		if err := tr.Forward(b, false, 1); err != nil {
			t.Fatal(err)
		}
		res, err := tr.MLM(rows, labels, 1/float32(len(rows)), true)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(res.Loss-wantLoss) > 1e-4*wantLoss {
			t.Errorf("%s: loss %g, CPU %g", act, res.Loss, wantLoss)
		}
		got, err := tr.Grads()
		if err != nil {
			t.Fatal(err)
		}
		var gmax float64
		for _, v := range want.Data {
			gmax = math.Max(gmax, math.Abs(float64(v)))
		}
		for _, nt := range want.Named(m.Cfg) {
			off := offsetIn(want.Data, nt.Data)
			e := relErr(got[off:off+len(nt.Data)], nt.Data)
			if strings.HasSuffix(nt.Name, "key.bias") {
				// Exactly zero in exact arithmetic (softmax is shift-invariant):
				// both sides are rounding noise, so compare against the largest gradient.
				e = relErr(got[off:off+len(nt.Data)], nt.Data) * maxAbs(nt.Data) / gmax
			}
			if !(e < 1e-4) {
				t.Errorf("%s: gradient of %s rel err %.3g", act, nt.Name, e)
			}
		}
		for _, k := range []string{"ln_bwd", "softmax_bwd", "xent", "scatter_add_rows", "act_bwd", "bias_grad", "bias_permute"} {
			if d.Launches[k] == 0 {
				t.Errorf("kernel %s never launched", k)
			}
		}
	}
}

func offsetIn(base, view []float32) int {
	for i := range base {
		if &base[i] == &view[0] {
			return i
		}
	}
	panic("view outside base")
}

// LoRA training through the emulated GPU: the pooled head input, and the
// adapter and bias gradients from a head gradient, equal the CPU's.
func TestTrainerLoRAMatchesCPU(t *testing.T) {
	m := testModel(t, "bert", "gelu", true)
	c := m.Cfg
	ranks := make([][6]int, c.Layers)
	scale := make([][6]float32, c.Layers)
	ranks[1][model.ModuleIndex(model.Value)] = 2
	ranks[1][model.ModuleIndex(model.Query)] = 3
	ranks[2][model.ModuleIndex(model.FFNIn)] = 2
	ranks[2][model.ModuleIndex(model.AttnOut)] = 1
	for l := range scale {
		for ti := range scale[l] {
			scale[l][ti] = 0.7
		}
	}
	rng := rand.New(rand.NewPCG(3, 1))
	ad := randomAdapters(t, c, ranks, scale, rng)
	bias := make([][6]bool, c.Layers)
	bias[1][model.ModuleIndex(model.Value)] = true
	b := testBatch(m, 3, 7, 2)
	H := c.Hidden
	dX := make([]float32, b.B*H)
	for i := range dX {
		dX[i] = float32(rng.NormFloat64())
	}
	// CPU.
	ws := m.NewWorkspace(b.B, b.T, true, ad)
	m.Encode(ws, b, ad, model.FwdOpts{})
	wantPooled := append([]float32(nil), m.Pool(ws)...)
	gAd := ad.Like()
	gBias := make([][6][]float32, c.Layers)
	gBias[1][model.ModuleIndex(model.Value)] = make([]float32, H)
	dHid := make([]float32, b.B*b.T*H)
	gr := model.Grads{Adapters: gAd, Bias: gBias}
	m.PoolBackward(ws, dHid, dX, gr)
	m.Backward(ws, dHid, ad, gr, model.FwdOpts{})
	// Emulated GPU.
	_, _, tr := emuTrainer(t, m, TrainConfig{MaxB: 3, T: 8, Adapters: ad, Bias: bias})
	if err := tr.Forward(b, false, 0); err != nil {
		t.Fatal(err)
	}
	pooled, err := tr.HeadInput(true)
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(pooled, wantPooled); !(e < 2e-5) {
		t.Errorf("pooled rel err %.3g", e)
	}
	if err := tr.ZeroGrads(); err != nil {
		t.Fatal(err)
	}
	if err := tr.BackwardHead(dX, true); err != nil {
		t.Fatal(err)
	}
	gotAd := ad.Like()
	gotBias := make([][6][]float32, c.Layers)
	gotBias[1][model.ModuleIndex(model.Value)] = make([]float32, H)
	if err := tr.AddGrads(model.Grads{Adapters: gotAd, Bias: gotBias}); err != nil {
		t.Fatal(err)
	}
	gAd.Each(func(l int, typ string, w *model.LoRA) {
		got := gotAd.Get(l, typ)
		if e := relErr(got.A, w.A); !(e < 1e-4) {
			t.Errorf("layer %d %s: dA rel err %.3g", l, typ, e)
		}
		if e := relErr(got.B, w.B); !(e < 1e-4) {
			t.Errorf("layer %d %s: dB rel err %.3g", l, typ, e)
		}
	})
	vi := model.ModuleIndex(model.Value)
	if e := relErr(gotBias[1][vi], gBias[1][vi]); !(e < 1e-4) {
		t.Errorf("bias gradient rel err %.3g", e)
	}
	// Layer 0 has nothing to train: the backward pass stops above it.
	if tr.lowest() != 1 {
		t.Errorf("lowest trained layer %d, want 1", tr.lowest())
	}
}

// With dropout on, forward and backward use the same masks: the gradient
// agrees with central differences of the loss (same seed) along a random
// direction.
func TestTrainerDropoutGradient(t *testing.T) {
	m := mlmModel(t, "gelu")
	m.Cfg.HiddenDrop, m.Cfg.AttnDrop = 0.3, 0.3
	b := testBatch(m, 2, 6, 9)
	rows, labels := mlmTargets(b, m.Cfg.Vocab)
	d, g, tr := emuTrainer(t, m, TrainConfig{MaxB: 2, T: 6, Full: true})
	const seed = 77
	loss := func() float64 {
		if err := tr.Forward(b, true, seed); err != nil {
			t.Fatal(err)
		}
		r, err := tr.MLM(rows, labels, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		return r.Loss
	}
	if err := tr.Forward(b, true, seed); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.MLM(rows, labels, 1, true); err != nil {
		t.Fatal(err)
	}
	grad, err := tr.Grads()
	if err != nil {
		t.Fatal(err)
	}
	if d.Launches["dropout"] == 0 {
		t.Fatal("dropout never launched")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	dir := make([]float32, len(grad))
	var gv float64
	for i := range dir {
		dir[i] = float32(rng.NormFloat64())
		gv += float64(dir[i]) * float64(grad[i])
	}
	base := append([]float32(nil), m.P.Data...)
	const eps = 1e-3
	set := func(s float32) {
		for i := range base {
			m.P.Data[i] = base[i] + s*dir[i]
		}
		if err := d.Upload(g.params.Ptr, m.P.Data); err != nil {
			t.Fatal(err)
		}
	}
	set(eps)
	lp := loss()
	set(-eps)
	lm := loss()
	set(0)
	fd := (lp - lm) / (2 * eps)
	t.Logf("directional derivative: backward %.6g, central difference %.6g", gv, fd)
	if math.Abs(fd-gv) > 0.02*math.Abs(gv)+1e-3 {
		t.Errorf("backward %.6g vs central difference %.6g", gv, fd)
	}
	// A different seed gives different masks (the loss changes).
	if err := tr.Forward(b, true, seed+1); err != nil {
		t.Fatal(err)
	}
	r, _ := tr.MLM(rows, labels, 1, false)
	if r.Loss == loss() {
		t.Error("dropout masks do not depend on the seed")
	}
}

// AdamWStep (after clipping) equals optim.AdamW with ClipByGlobalNorm.
func TestTrainerAdamWMatchesCPU(t *testing.T) {
	m := mlmModel(t, "gelu")
	b := testBatch(m, 2, 6, 3)
	rows, labels := mlmTargets(b, m.Cfg.Vocab)
	_, _, tr := emuTrainer(t, m, TrainConfig{MaxB: 2, T: 6, Full: true})
	if err := tr.Forward(b, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.MLM(rows, labels, 1, true); err != nil {
		t.Fatal(err)
	}
	grad, _ := tr.Grads()
	decay := [][2]int{{10, 500}, {700, 900}}
	// CPU reference.
	p := append([]float32(nil), m.P.Data...)
	gc := append([]float32(nil), grad...)
	mm, vv := make([]float32, len(p)), make([]float32, len(p))
	norm := optim.ClipByGlobalNorm(0.5, gc)
	opt := optim.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-6}
	opt.Begin()
	prev := 0
	for _, r := range decay {
		opt.Update(p[prev:r[0]], gc[prev:r[0]], mm[prev:r[0]], vv[prev:r[0]], 1e-3, 0)
		opt.Update(p[r[0]:r[1]], gc[r[0]:r[1]], mm[r[0]:r[1]], vv[r[0]:r[1]], 1e-3, 0.01)
		prev = r[1]
	}
	opt.Update(p[prev:], gc[prev:], mm[prev:], vv[prev:], 1e-3, 0)
	// GPU.
	gn, err := tr.GradNorm()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(gn-norm) > 1e-6*norm {
		t.Errorf("grad norm %g, CPU %g", gn, norm)
	}
	if err := tr.AdamWStep(1, 1e-3, 0.9, 0.999, 1e-6, 0.01, ClipScale(0.5, gn), decay); err != nil {
		t.Fatal(err)
	}
	mg, vg := make([]float32, len(p)), make([]float32, len(p))
	if err := tr.SyncParams(mg, vg); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"params", m.P.Data, p}, {"m", mg, mm}, {"v", vg, vv}} {
		if e := relErr(c.got, c.want); !(e < 1e-6) {
			t.Errorf("%s rel err %.3g", c.name, e)
		}
	}
}

func maxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// A LoRA trainer for a model with an MLM head does not allocate the head's
// logits (V per token), and MLM then fails cleanly.
func TestLoRATrainerSkipsMLMBuffers(t *testing.T) {
	m := mlmModel(t, "gelu")
	d := host.New()
	g, err := Upload(d, m)
	if err != nil {
		t.Fatal(err)
	}
	size := func(c TrainConfig) (*Trainer, int) {
		before := d.Floats()
		tr, err := g.NewTrainer(c)
		if err != nil {
			t.Fatal(err)
		}
		return tr, d.Floats() - before
	}
	tr, lora := size(TrainConfig{MaxB: 4, T: 10})
	_, withMLM := size(TrainConfig{MaxB: 4, T: 10, MaxRows: 40})
	if withMLM-lora < 40*m.Cfg.Vocab {
		t.Errorf("LoRA trainer %d floats, with MLM buffers %d: the logits were allocated anyway", lora, withMLM)
	}
	b := testBatch(m, 2, 6, 1)
	if err := tr.Forward(b, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.MLM([]int32{1}, []int32{3}, 1, false); err == nil || !strings.Contains(err.Error(), "masked-LM buffers") {
		t.Errorf("MLM on a LoRA trainer: %v", err)
	}
}

// Pretraining on the GPU resumes exactly: two steps, a checkpoint (params
// and AdamW moments downloaded), a fresh upload of that state and two more
// steps give the weights of four uninterrupted steps.
func TestTrainerResumeExact(t *testing.T) {
	steps := func(m *model.Model, tr *Trainer, from, n int, b model.Batch, rows, labels []int32) {
		for s := from; s < from+n; s++ {
			if err := tr.ZeroGrads(); err != nil {
				t.Fatal(err)
			}
			if err := tr.Forward(b, true, uint64(100+s)); err != nil {
				t.Fatal(err)
			}
			if _, err := tr.MLM(rows, labels, 0.5, true); err != nil {
				t.Fatal(err)
			}
			gn, err := tr.GradNorm()
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.AdamWStep(s+1, 1e-2, 0.9, 0.999, 1e-6, 0.01, ClipScale(1, gn), [][2]int{{0, 100}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	newRun := func(m *model.Model) (*host.Device, *Trainer) {
		d, _, tr := emuTrainer(t, m, TrainConfig{MaxB: 2, T: 6, Full: true})
		return d, tr
	}
	mA := mlmModel(t, "gelu")
	b := testBatch(mA, 2, 6, 5)
	rows, labels := mlmTargets(b, mA.Cfg.Vocab)
	_, trA := newRun(mA)
	steps(mA, trA, 0, 4, b, rows, labels)
	if err := trA.SyncParams(nil, nil); err != nil {
		t.Fatal(err)
	}

	mB := mlmModel(t, "gelu")
	_, trB := newRun(mB)
	steps(mB, trB, 0, 2, b, rows, labels)
	mom, vel := make([]float32, len(mB.P.Data)), make([]float32, len(mB.P.Data))
	if err := trB.SyncParams(mom, vel); err != nil { // the checkpoint
		t.Fatal(err)
	}
	saved := append([]float32(nil), mB.P.Data...)
	mC := mlmModel(t, "gelu")
	copy(mC.P.Data, saved) // a new process loads the checkpoint, then uploads
	_, trC := newRun(mC)
	if err := trC.LoadState(mom, vel); err != nil {
		t.Fatal(err)
	}
	steps(mC, trC, 2, 2, b, rows, labels)
	if err := trC.SyncParams(nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := range mA.P.Data {
		if mA.P.Data[i] != mC.P.Data[i] {
			t.Fatalf("parameter %d: %v uninterrupted, %v resumed", i, mA.P.Data[i], mC.P.Data[i])
		}
	}
}

// Attention dropout fused into the softmax forward and backward gives the
// gradients of the separate dropout kernels exactly.
func TestFusedAttentionDropoutMatchesSeparate(t *testing.T) {
	grads := func(separate bool) ([]float32, map[string]int) {
		SeparateDropoutKernels = separate
		defer func() { SeparateDropoutKernels = false }()
		m := mlmModel(t, "gelu")
		m.Cfg.AttnDrop, m.Cfg.HiddenDrop = 0.3, 0.2
		b := testBatch(m, 2, 7, 4)
		rows, labels := mlmTargets(b, m.Cfg.Vocab)
		d, _, tr := emuTrainer(t, m, TrainConfig{MaxB: 2, T: 7, Full: true})
		if err := tr.Forward(b, true, 9); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.MLM(rows, labels, 1, true); err != nil {
			t.Fatal(err)
		}
		gr, err := tr.Grads()
		if err != nil {
			t.Fatal(err)
		}
		return gr, d.Launches
	}
	fused, lf := grads(false)
	sep, ls := grads(true)
	if lf["softmax_mask_drop"] == 0 || ls["softmax_mask_drop"] != 0 || ls["dropout"] <= lf["dropout"] {
		t.Errorf("launches: fused %v, separate %v", lf, ls)
	}
	for i := range fused {
		if fused[i] != sep[i] {
			t.Fatalf("gradient %d: fused %v, separate %v", i, fused[i], sep[i])
		}
	}
}

// The fused query/key/value projection of LoRA trainers (one GEMM over the
// stacked weights, forward and input gradient) gives the separate
// projections' head input and adapter and bias gradients.
func TestFusedQKVMatchesSeparate(t *testing.T) {
	run := func(separate bool) ([]float32, *model.Adapters, []float32, map[string]int) {
		SeparateQKV = separate
		defer func() { SeparateQKV = false }()
		m := testModel(t, "bert", "gelu", true)
		c := m.Cfg
		ranks := make([][6]int, c.Layers)
		scale := make([][6]float32, c.Layers)
		for l := range ranks {
			ranks[l][model.ModuleIndex(model.Query)] = 2
			ranks[l][model.ModuleIndex(model.Value)] = 3
			scale[l] = [6]float32{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}
		}
		ranks[0][model.ModuleIndex(model.Key)] = 1 // all three stacked in layer 0
		scale[0][model.ModuleIndex(model.Key)] = 0.25
		rng := rand.New(rand.NewPCG(8, 1))
		ad := randomAdapters(t, c, ranks, scale, rng)
		bias := make([][6]bool, c.Layers)
		bias[0][model.ModuleIndex(model.Query)] = true // (the key bias has no gradient: softmax is shift-invariant)
		d, _, tr := emuTrainer(t, m, TrainConfig{MaxB: 3, T: 7, Adapters: ad, Bias: bias})
		b := testBatch(m, 3, 7, 6)
		if err := tr.Forward(b, false, 0); err != nil {
			t.Fatal(err)
		}
		x, err := tr.HeadInput(true)
		if err != nil {
			t.Fatal(err)
		}
		dX := make([]float32, len(x))
		for i := range dX {
			dX[i] = float32(rng.NormFloat64())
		}
		if err := tr.ZeroGrads(); err != nil {
			t.Fatal(err)
		}
		if err := tr.BackwardHead(dX, true); err != nil {
			t.Fatal(err)
		}
		gAd := ad.Like()
		gBias := make([][6][]float32, c.Layers)
		gBias[0][model.ModuleIndex(model.Query)] = make([]float32, c.Hidden)
		if err := tr.AddGrads(model.Grads{Adapters: gAd, Bias: gBias}); err != nil {
			t.Fatal(err)
		}
		return x, gAd, gBias[0][model.ModuleIndex(model.Query)], d.Launches
	}
	x1, g1, b1, l1 := run(false)
	x2, g2, b2, l2 := run(true)
	if l1["bias_permute3"] == 0 || l1["unpermute3"] == 0 || l2["bias_permute3"] != 0 {
		t.Errorf("launches: fused %v, separate %v", l1, l2)
	}
	if e := relErr(x1, x2); !(e < 1e-6) {
		t.Errorf("head input rel err %.3g", e)
	}
	if e := relErr(b1, b2); !(e < 1e-5) {
		t.Errorf("query bias gradient rel err %.3g", e)
	}
	g2.Each(func(l int, typ string, w *model.LoRA) {
		got := g1.Get(l, typ)
		if e := relErr(got.A, w.A); !(e < 1e-5) {
			t.Errorf("layer %d %s dA rel err %.3g", l, typ, e)
		}
		if e := relErr(got.B, w.B); !(e < 1e-5) {
			t.Errorf("layer %d %s dB rel err %.3g", l, typ, e)
		}
	})
}

// emuTrainer uploads m to a fresh host emulation of a GPU and makes a trainer.
func emuTrainer(t *testing.T, m *model.Model, c TrainConfig) (*host.Device, *Model, *Trainer) {
	t.Helper()
	d := host.New()
	g, err := Upload(d, m)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := g.NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	return d, g, tr
}

// randomAdapters makes adapters of the given ranks with N(0, 0.3²) factors
// (both non-zero, so every gradient path is exercised).
func randomAdapters(t *testing.T, c model.Config, ranks [][6]int, scale [][6]float32, rng *rand.Rand) *model.Adapters {
	t.Helper()
	ad, err := model.NewAdapters(c, ranks, scale)
	if err != nil {
		t.Fatal(err)
	}
	ad.Each(func(_ int, _ string, a *model.LoRA) {
		for i := range a.A {
			a.A[i] = float32(rng.NormFloat64()) * 0.3
		}
		for i := range a.B {
			a.B[i] = float32(rng.NormFloat64()) * 0.3
		}
	})
	return ad
}
