package optim

import "testing"

func BenchmarkAdamWUpdate600K(b *testing.B) {
	n := 600_000
	p, g, m, v := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range g {
		g[i] = float32(i%7) * 1e-3
	}
	o := AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	b.SetBytes(int64(16 * n))
	for i := 0; i < b.N; i++ {
		o.Begin()
		o.Update(p, g, m, v, 1e-3, 0.01)
	}
}

func BenchmarkAdamWUpdateAll600K(b *testing.B) {
	var slots []Slot
	for k := 0; k < 48; k++ {
		n := 12_500
		g := make([]float32, n)
		for i := range g {
			g[i] = float32(i%7) * 1e-3
		}
		slots = append(slots, Slot{P: make([]float32, n), G: g, M: make([]float32, n), V: make([]float32, n), WD: 0.01})
	}
	o := AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	for i := 0; i < b.N; i++ {
		o.Begin()
		o.UpdateAll(slots, 1e-3)
	}
}
