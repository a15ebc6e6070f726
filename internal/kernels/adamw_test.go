package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The assembly AdamW step gives the same bits as the Go path (and as a
// float64 reference to float32 rounding), for every length around the
// 8-wide blocks and for large, tiny and zero moments.
func TestAdamWStepMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	c := &AdamWCoef{0.9, 1 - float32(0.9), 0.999, 1 - float32(0.999), float32(math.Sqrt(1 - math.Pow(0.999, 3))), 1e-8,
		1 - 1e-3*0.01, float32(1e-3 / (1 - math.Pow(0.9, 3)))}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000} {
		mk := func(scale float64) []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * scale)
			}
			return x
		}
		p, g, m := mk(1), mk(1e-2), mk(1e-3)
		v := mk(1e-4)
		for i := range v {
			v[i] = v[i] * v[i]
			if i%5 == 0 {
				v[i], m[i], g[i] = 0, 0, 0 // denominators of eps only
			}
		}
		p2, g2, m2, v2 := append([]float32(nil), p...), append([]float32(nil), g...), append([]float32(nil), m...), append([]float32(nil), v...)
		AdamWStep(p, g, m, v, c)
		adamwGo(p2, g2, m2, v2, c)
		for i := range p {
			if math.Float32bits(p[i]) != math.Float32bits(p2[i]) || m[i] != m2[i] || v[i] != v2[i] {
				t.Fatalf("n=%d i=%d: p %v / %v, m %v / %v, v %v / %v", n, i, p[i], p2[i], m[i], m2[i], v[i], v2[i])
			}
		}
	}
	if adamwAsm == nil {
		t.Log("no assembly path on this CPU: Go path only")
	}
}

func TestAdamWStepValues(t *testing.T) {
	// One step from zero moments: m = (1−β1)g, v = (1−β2)g², and with bias
	// correction the update is lr·g/(|g| + eps′) ≈ lr·sign(g).
	lr, b1, b2 := 1e-2, 0.9, 0.999
	c := &AdamWCoef{float32(b1), 1 - float32(b1), float32(b2), 1 - float32(b2), float32(math.Sqrt(1 - b2)), 1e-8, 1, float32(lr / (1 - b1))}
	p := make([]float32, 19)
	g := make([]float32, 19)
	for i := range g {
		g[i] = float32(i - 9)
	}
	m, v := make([]float32, 19), make([]float32, 19)
	AdamWStep(p, g, m, v, c)
	for i := range p {
		want := 0.0
		if g[i] != 0 {
			want = -lr * math.Copysign(1, float64(g[i]))
		}
		if math.Abs(float64(p[i])-want) > 1e-6 {
			t.Errorf("p[%d] = %v, want %v", i, p[i], want)
		}
	}
}

func BenchmarkAdamWStep(b *testing.B) {
	n := 300_000
	p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range g {
		g[i] = float32(i%13) * 1e-3
	}
	c := &AdamWCoef{0.9, 0.1, 0.999, 0.001, 0.03, 1e-8, 1, 1e-3}
	b.SetBytes(int64(16 * n))
	for b.Loop() {
		AdamWStep(p, g, m, v, c)
	}
}
