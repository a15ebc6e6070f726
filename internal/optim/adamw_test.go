package optim

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// Two AdamW steps on one parameter, checked against the closed form
// computed by hand in float64 (torch.optim.AdamW semantics).
func TestAdamWMatchesReference(t *testing.T) {
	o := AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	p, m, v := []float32{1}, []float32{0}, []float32{0}
	lr, wd := 0.1, 0.01
	want := 1.0
	mw, vw := 0.0, 0.0
	for step, g := range []float64{0.5, -0.25} {
		o.Begin()
		o.Update(p, []float32{float32(g)}, m, v, lr, wd)
		mw = 0.9*mw + 0.1*g
		vw = 0.999*vw + 0.001*g*g
		mh := mw / (1 - math.Pow(0.9, float64(step+1)))
		vh := vw / (1 - math.Pow(0.999, float64(step+1)))
		want = want*(1-lr*wd) - lr*mh/(math.Sqrt(vh)+1e-8)
	}
	if math.Abs(float64(p[0])-want) > 1e-6 {
		t.Fatalf("AdamW: got %.8f want %.8f", p[0], want)
	}
}

func TestClipAndSchedule(t *testing.T) {
	g := []float32{3, 4}
	if n := ClipByGlobalNorm(1, g); math.Abs(n-5) > 1e-9 || math.Abs(GlobalNorm(g)-1) > 1e-5 {
		t.Fatalf("clip: norm %v, after %v", n, GlobalNorm(g))
	}
	s := Schedule{Kind: Linear, LR: 1, Warmup: 10, Total: 110}
	if lr := s.At(5); math.Abs(lr-0.5) > 1e-12 {
		t.Fatalf("warm-up lr %v", lr)
	}
	if lr := s.At(60); math.Abs(lr-0.5) > 1e-12 {
		t.Fatalf("decay lr %v", lr)
	}
	if lr := s.At(110); lr != 0 {
		t.Fatalf("final lr %v", lr)
	}
}

// UpdateAll gives Update's result element for element, however many
// threads cut the slots.
func TestUpdateAllMatchesUpdate(t *testing.T) {
	sizes := []int{7, 40_000, 3, 90_001, 12_000}
	mk := func() []Slot {
		r := rand.New(rand.NewPCG(9, 9))
		var ss []Slot
		for k, n := range sizes {
			s := Slot{P: make([]float32, n), G: make([]float32, n), M: make([]float32, n), V: make([]float32, n), WD: float64(k%2) * 0.01}
			for i := 0; i < n; i++ {
				s.P[i], s.G[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			}
			ss = append(ss, s)
		}
		return ss
	}
	want, got := mk(), mk()
	a, b := AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for step, procs := range []int{1, 3, 4} {
		a.Begin()
		for _, s := range want {
			a.Update(s.P, s.G, s.M, s.V, 1e-3, s.WD)
		}
		runtime.GOMAXPROCS(procs)
		b.Begin()
		b.UpdateAll(got, 1e-3)
		for k := range want {
			for i := range want[k].P {
				if want[k].P[i] != got[k].P[i] || want[k].M[i] != got[k].M[i] || want[k].V[i] != got[k].V[i] {
					t.Fatalf("step %d, %d threads: slot %d element %d differs", step, procs, k, i)
				}
			}
		}
	}
}
