package model

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/adarank/adarank/internal/nn"
)

func tinyConfig(arch string) Config {
	c := Config{Arch: arch, Vocab: 40, Hidden: 16, Layers: 3, Heads: 2, Inter: 24, MaxPos: 24, TypeVocab: 2,
		PadID: 0, Act: "gelu", Eps: 1e-12, HasPooler: true, HiddenDrop: 0.1, AttnDrop: 0.1}
	if arch == "roberta" {
		c.PadID, c.TypeVocab, c.HasPooler = 1, 1, false
		c.Act = "gelu_new"
	}
	return c
}

// jitter makes every parameter non-trivial so that bugs in biases and LayerNorms show.
func jitter(m *Model, rng *rand.Rand) {
	for _, t := range m.P.Named(m.Cfg) {
		for i := range t.Data {
			t.Data[i] += float32(rng.NormFloat64()) * 0.1
		}
	}
}

func tinyBatch(rng *rand.Rand, c Config, B, T int) Batch {
	b := Batch{B: B, T: T, IDs: make([]int32, B*T), TypeIDs: make([]int32, B*T), Mask: make([]int32, B*T)}
	for s := 0; s < B; s++ {
		n := T - s // later sequences are shorter (padded)
		for t := 0; t < T; t++ {
			i := s*T + t
			if t < n {
				b.IDs[i] = int32(2 + rng.IntN(c.Vocab-2))
				b.Mask[i] = 1
				if t > n/2 && c.TypeVocab > 1 {
					b.TypeIDs[i] = 1
				}
			} else {
				b.IDs[i] = int32(c.PadID)
			}
		}
	}
	return b
}

func randomAdapters(t *testing.T, c Config, rng *rand.Rand, types []string) *Adapters {
	ranks := make([][6]int, c.Layers)
	scale := make([][6]float32, c.Layers)
	for l := 1; l < c.Layers; l++ { // layer 0 has none: gradients must still reach layer 1
		for _, typ := range types {
			ranks[l][ModuleIndex(typ)] = 1 + (l+ModuleIndex(typ))%3
			scale[l][ModuleIndex(typ)] = 0.5 + float32(l)
		}
	}
	ad, err := NewAdapters(c, ranks, scale)
	if err != nil {
		t.Fatal(err)
	}
	ad.Each(func(_ int, _ string, a *LoRA) {
		for i := range a.A {
			a.A[i] = float32(rng.NormFloat64()) * 0.3
		}
		for i := range a.B {
			a.B[i] = float32(rng.NormFloat64()) * 0.3
		}
	})
	return ad
}

// lossAndGrads runs forward + mean cross-entropy + backward. Dropout masks
// come from a fresh RNG with a fixed seed, so the function is deterministic.
func lossAndGrads(m *Model, ad *Adapters, h *Head, b Batch, labels []int32, train bool, g Grads, gh *Head) float64 {
	opt := FwdOpts{Train: train, RNG: rand.New(rand.NewPCG(7, 7))}
	ws := m.NewWorkspace(b.B, b.T, true, ad)
	m.Encode(ws, b, ad, opt)
	var x []float32
	if h.UsesPooler() {
		x = m.Pool(ws)
	} else {
		x = m.CLS(ws)
	}
	acts := h.Forward(x, b.B, train, 0.1, opt.RNG)
	losses := make([]float32, b.B)
	probs := make([]float32, b.B*h.C)
	nn.CrossEntropyForward(losses, probs, acts.Logits, labels, b.B, h.C)
	var loss float64
	for _, l := range losses {
		loss += float64(l)
	}
	loss /= float64(b.B)
	if gh == nil {
		return loss
	}
	dLogits := make([]float32, b.B*h.C)
	nn.CrossEntropyBackward(dLogits, probs, labels, b.B, h.C, 1/float32(b.B))
	dX := h.Backward(acts, dLogits, gh)
	dHidden := make([]float32, b.B*b.T*m.Cfg.Hidden)
	if h.UsesPooler() {
		m.PoolBackward(ws, dHidden, dX, g)
	} else {
		for s := 0; s < b.B; s++ {
			nn.AddInto(dHidden[s*b.T*m.Cfg.Hidden:s*b.T*m.Cfg.Hidden+m.Cfg.Hidden], dX[s*m.Cfg.Hidden:(s+1)*m.Cfg.Hidden])
		}
	}
	m.Backward(ws, dHidden, ad, g, opt)
	return loss
}

// directional compares g·v with the central difference of the loss along v
// for every trainable buffer at once.
func directional(t *testing.T, name string, params, grads [][]float32, loss func() float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	dirs := make([][]float32, len(params))
	var analytic float64
	for i, p := range params {
		dirs[i] = make([]float32, len(p))
		for j := range p {
			dirs[i][j] = float32(rng.NormFloat64())
			analytic += float64(dirs[i][j]) * float64(grads[i][j])
		}
	}
	const h = 1e-3
	step := func(s float32) {
		for i, p := range params {
			for j := range p {
				p[j] += s * dirs[i][j]
			}
		}
	}
	step(h)
	lp := loss()
	step(-2 * h)
	lm := loss()
	step(h)
	numeric := (lp - lm) / (2 * h)
	rel := math.Abs(numeric-analytic) / math.Max(math.Abs(numeric), 1e-3)
	if rel > 2e-2 || math.IsNaN(analytic) {
		t.Errorf("%s: directional derivative analytic %.6g numeric %.6g (rel %.2g)", name, analytic, numeric, rel)
	}
}

func TestGradientsDirectional(t *testing.T) {
	for _, tc := range []struct {
		arch, head string
		train      bool
		full       bool
	}{
		{"bert", HeadPaper, false, false},
		{"bert", HeadHF, true, false},
		{"roberta", HeadHF, false, false},
		{"roberta", HeadPaper, true, false},
		{"bert", HeadHF, false, true},
		{"roberta", HeadHF, true, true},
	} {
		name := tc.arch + "/" + tc.head
		if tc.train {
			name += "/dropout"
		}
		if tc.full {
			name += "/full"
		}
		t.Run(name, func(t *testing.T) {
			c := tinyConfig(tc.arch)
			rng := rand.New(rand.NewPCG(1, 2))
			m, err := NewRandom(c, 5, 0.2)
			if err != nil {
				t.Fatal(err)
			}
			jitter(m, rng)
			ad := randomAdapters(t, c, rng, ModuleTypes)
			h, err := NewHead(tc.head, c.Arch, c.Hidden, 3)
			if err != nil {
				t.Fatal(err)
			}
			h.InitKeras(rng)
			for i := range h.Data {
				h.Data[i] += float32(rng.NormFloat64()) * 0.1
			}
			b := tinyBatch(rng, c, 3, 7)
			labels := []int32{0, 2, 1}
			gad := ad.Like()
			gh := h.Like()
			g := Grads{Adapters: gad}
			if tc.full {
				g.Base = m.P.Like(c)
			}
			lossAndGrads(m, ad, h, b, labels, tc.train, g, gh)
			loss := func() float64 { return lossAndGrads(m, ad, h, b, labels, tc.train, Grads{}, nil) }
			var ps, gs [][]float32
			ad.Each(func(l int, typ string, a *LoRA) {
				ga := gad.Get(l, typ)
				ps = append(ps, a.A, a.B)
				gs = append(gs, ga.A, ga.B)
			})
			directional(t, "lora", ps, gs, loss)
			directional(t, "head", [][]float32{h.Data}, [][]float32{gh.Data}, loss)
			if tc.full {
				// Exclude the padding row and unused positions: they get no gradient but do not move the loss.
				directional(t, "base", [][]float32{m.P.Data}, [][]float32{g.Base.Data}, loss)
			}
			var gnorm float64
			for _, x := range gs {
				for _, v := range x {
					gnorm += float64(v) * float64(v)
				}
			}
			if gnorm == 0 {
				t.Fatal("all LoRA gradients are zero")
			}
		})
	}
}

// A frozen base must not receive gradients, and layers below the lowest
// adapter need no backward.
func TestFrozenBaseUntouched(t *testing.T) {
	c := tinyConfig("bert")
	rng := rand.New(rand.NewPCG(9, 9))
	m, _ := NewRandom(c, 1, 0.2)
	before := append([]float32(nil), m.P.Data...)
	ad := randomAdapters(t, c, rng, []string{Value})
	h, _ := NewHead(HeadHF, "bert", c.Hidden, 2)
	h.InitKeras(rng)
	b := tinyBatch(rng, c, 2, 5)
	lossAndGrads(m, ad, h, b, []int32{0, 1}, false, Grads{Adapters: ad.Like()}, h.Like())
	for i := range before {
		if before[i] != m.P.Data[i] {
			t.Fatalf("base parameter %d changed during a LoRA step", i)
		}
	}
}

func TestDeterministicAcrossThreads(t *testing.T) {
	c := tinyConfig("bert")
	m, _ := NewRandom(c, 11, 0.2)
	rng := rand.New(rand.NewPCG(1, 1))
	b := tinyBatch(rng, c, 3, 9)
	run := func() []float32 {
		ws := m.NewWorkspace(b.B, b.T, false, nil)
		m.Encode(ws, b, nil, FwdOpts{})
		return append([]float32(nil), ws.Hidden()...)
	}
	a := run()
	old := setProcs(1)
	bb := run()
	setProcs(old)
	for i := range a {
		if a[i] != bb[i] {
			t.Fatalf("hidden[%d] differs between thread counts: %v vs %v", i, a[i], bb[i])
		}
	}
}

func setProcs(n int) int { return runtime.GOMAXPROCS(n) }

// mlmLoss runs a full masked-LM step (all weights trainable).
func mlmLoss(m *Model, b Batch, rows, labels []int32, train bool, g *Params) float64 {
	opt := FwdOpts{Train: train, RNG: rand.New(rand.NewPCG(5, 6))}
	ws := m.NewWorkspace(b.B, b.T, true, nil)
	m.Encode(ws, b, nil, opt)
	a, err := m.MLMForward(ws, rows)
	if err != nil {
		panic(err)
	}
	V := m.Cfg.Vocab
	n := len(rows)
	losses := make([]float32, n)
	probs := make([]float32, n*V)
	nn.CrossEntropyForward(losses, probs, a.Logits, labels, n, V)
	var loss float64
	for _, l := range losses {
		loss += float64(l)
	}
	loss /= float64(n)
	if g == nil {
		return loss
	}
	dLogits := make([]float32, n*V)
	nn.CrossEntropyBackward(dLogits, probs, labels, n, V, 1/float32(n))
	dHidden := make([]float32, b.B*b.T*m.Cfg.Hidden)
	m.MLMBackward(a, dLogits, dHidden, Grads{Base: g})
	m.Backward(ws, dHidden, nil, Grads{Base: g}, opt)
	return loss
}

func TestMLMGradients(t *testing.T) {
	for _, arch := range []string{"bert", "roberta"} {
		for _, tied := range []bool{true, false} {
			c := tinyConfig(arch)
			c.HasMLM = true
			rng := rand.New(rand.NewPCG(12, uint64(len(arch))))
			m, _ := NewRandom(c, 2, 0.2)
			if !tied { // untie: a separate decoder matrix
				m2 := &Model{Cfg: c, P: NewParams(c, false)}
				copy(m2.P.Data, m.P.Data) // same layout, decoder appended
				copy(m2.P.MLMDecoder, m.P.WordEmb)
				m = m2
			}
			jitter(m, rng)
			b := tinyBatch(rng, c, 2, 6)
			rows := []int32{1, 3, 7}
			labels := []int32{5, 9, 2}
			g := m.P.Like(c)
			mlmLoss(m, b, rows, labels, true, g)
			directional(t, arch+"/mlm", [][]float32{m.P.Data}, [][]float32{g.Data}, func() float64 {
				return mlmLoss(m, b, rows, labels, true, nil)
			})
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, arch := range []string{"bert", "roberta"} {
		c := tinyConfig(arch)
		c.HasMLM = true
		m, _ := NewRandom(c, 4, 0.1)
		jitter(m, rand.New(rand.NewPCG(1, 1)))
		dir := t.TempDir()
		arch0 := "BertForMaskedLM"
		if arch == "roberta" {
			arch0 = "RobertaForMaskedLM"
		}
		if err := m.SaveHF(dir, []string{arch0}, "F32", nil); err != nil {
			t.Fatal(err)
		}
		m2, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m2.Hash() != m.Hash() || !m2.Cfg.HasMLM || m2.Cfg.HasPooler != m.Cfg.HasPooler {
			t.Fatalf("%s: reloaded model differs (hash %v, mlm %v, pooler %v)", arch, m2.Hash() == m.Hash(), m2.Cfg.HasMLM, m2.Cfg.HasPooler)
		}
	}
}
