package adarank

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/model"
)

func sweepModel(t *testing.T, arch string, mlm bool) *model.Model {
	t.Helper()
	c := model.Config{Arch: arch, Vocab: 50, Hidden: 16, Layers: 3, Heads: 2, Inter: 32, MaxPos: 32, TypeVocab: 2,
		Act: "gelu", Eps: 1e-12, HasPooler: arch == "bert", HasMLM: mlm}
	if arch == "roberta" {
		c.PadID, c.TypeVocab = 1, 1
	}
	m, err := model.NewRandom(c, 3, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range m.P.Data { // non-trivial biases and LayerNorms
		m.P.Data[i] += float32(rng.NormFloat64()) * 0.05
	}
	return m
}

func probeBatch(m *model.Model, B, T int) model.Batch {
	rng := rand.New(rand.NewPCG(8, 8))
	b := model.Batch{B: B, T: T, IDs: make([]int32, B*T), Mask: make([]int32, B*T)}
	for s := 0; s < B; s++ {
		n := T - s%3
		for t := 0; t < T; t++ {
			if t < n {
				b.IDs[s*T+t] = int32(2 + rng.IntN(m.Cfg.Vocab-2))
				b.Mask[s*T+t] = 1
			} else {
				b.IDs[s*T+t] = int32(m.Cfg.PadID)
			}
		}
	}
	return b
}

func sameImportances(t *testing.T, what string, a, b []Importance, tol float64) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d results", what, len(a), len(b))
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Layer != b[i].Layer {
			t.Fatalf("%s: order differs at %d", what, i)
		}
		if d := math.Abs(a[i].Mean - b[i].Mean); d > tol*math.Max(1, math.Abs(a[i].Mean)) {
			t.Errorf("%s: %s layer %d: %.8g vs %.8g", what, a[i].Type, a[i].Layer, a[i].Mean, b[i].Mean)
		}
	}
}

func TestCacheMatchesFullRecompute(t *testing.T) {
	for _, arch := range []string{"bert", "roberta"} {
		for _, against := range []string{AgainstCopies, AgainstReference} {
			m := sweepModel(t, arch, false)
			probes := probeBatch(m, 4, 9)
			o := SweepOptions{Modules: model.ModuleTypes, Trials: 2, NoiseScale: 1, BiasNoise: true, Against: against, Seed: 42}
			fast, err := Sweep(m, probes, o)
			if err != nil {
				t.Fatal(err)
			}
			o.NoCache = true
			slow, err := Sweep(m, probes, o)
			if err != nil {
				t.Fatal(err)
			}
			sameImportances(t, arch+"/"+against, fast, slow, 1e-5)
			o.NoCache, o.MaxTokens = false, 9 // one sequence per chunk
			chunked, err := Sweep(m, probes, o)
			if err != nil {
				t.Fatal(err)
			}
			sameImportances(t, arch+"/"+against+"/chunked", fast, chunked, 1e-5)
			for _, r := range fast {
				if !(r.Mean > 0) || len(r.Trials) != 2 {
					t.Fatalf("%s layer %d: importance %v trials %d", r.Type, r.Layer, r.Mean, len(r.Trials))
				}
			}
		}
	}
}

func TestSweepDeterministic(t *testing.T) {
	m := sweepModel(t, "bert", true)
	probes := probeBatch(m, 3, 8)
	o := SweepOptions{Modules: []string{model.Value, model.FFNOut}, Trials: 3, NoiseScale: 1, BiasNoise: true, Output: OutputMLM, Seed: 7}
	a, err := Sweep(m, probes, o)
	if err != nil {
		t.Fatal(err)
	}
	old := runtime.GOMAXPROCS(1)
	b, err := Sweep(m, probes, o)
	runtime.GOMAXPROCS(old)
	if err != nil {
		t.Fatal(err)
	}
	sameImportances(t, "threads", a, b, 0)
	o.Seed = 8
	c, _ := Sweep(m, probes, o)
	if c[0].Mean == a[0].Mean {
		t.Error("a different seed gave the same importance")
	}
}

func TestNoiseScaleMonotone(t *testing.T) {
	m := sweepModel(t, "bert", false)
	probes := probeBatch(m, 4, 8)
	run := func(s float64) float64 {
		r, err := Sweep(m, probes, SweepOptions{Modules: []string{model.Query}, Trials: 4, NoiseScale: s, Against: AgainstReference, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, x := range r {
			sum += x.Mean
		}
		return sum
	}
	small, large := run(0.01), run(1)
	if !(small < large/5) {
		t.Errorf("disagreement with 1%% noise (%g) not far below full noise (%g)", small, large)
	}
}

func TestCumulativeRestoresWeights(t *testing.T) {
	m := sweepModel(t, "bert", false)
	h := m.Hash()
	probes := probeBatch(m, 2, 6)
	r, err := Sweep(m, probes, SweepOptions{Modules: []string{model.Value, model.Key}, Trials: 3, NoiseScale: 1, BiasNoise: true,
		Against: AgainstReference, Cumulative: true, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if m.Hash() != h {
		t.Fatal("cumulative sweep left the weights perturbed")
	}
	// Accumulated noise: later trials of a module see larger perturbations on average.
	var first, last float64
	for _, x := range r {
		first += x.Trials[0]
		last += x.Trials[len(x.Trials)-1]
	}
	if !(last > first) {
		t.Errorf("cumulative trials did not grow: first %g last %g", first, last)
	}
}

func TestSweepErrors(t *testing.T) {
	m := sweepModel(t, "bert", false)
	probes := probeBatch(m, 2, 5)
	for _, tc := range []struct {
		o    SweepOptions
		want string
	}{
		{SweepOptions{Modules: []string{"ffn"}, Trials: 1, NoiseScale: 1}, "unknown module"},
		{SweepOptions{Modules: []string{"value"}, Trials: 0, NoiseScale: 1}, "trials"},
		{SweepOptions{Modules: []string{"value"}, Trials: 1, NoiseScale: 0}, "noise"},
		{SweepOptions{Modules: []string{"value"}, Trials: 1, NoiseScale: 1, Output: OutputMLM}, "masked-LM"},
		{SweepOptions{Modules: []string{"value"}, Trials: 1, NoiseScale: 1, Cumulative: true}, "against reference"},
		{SweepOptions{}, "no module"},
	} {
		_, err := Sweep(m, probes, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("options %+v: error %v, want one mentioning %q", tc.o, err, tc.want)
		}
	}
}
