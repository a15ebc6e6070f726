// Package optim holds optimizers and learning-rate schedules shared by
// fine-tuning and pretraining.
package optim

import "math"

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), as
// torch.optim.AdamW: p -= lr·(m̂/(√v̂+eps) + wd·p).
type AdamW struct {
	Beta1, Beta2, Eps float64
	Step              int // number of updates done
}

// Begin advances the step counter; call once per optimizer step before Update.
func (o *AdamW) Begin() { o.Step++ }

// Update applies one AdamW step to p with gradient g and moment buffers m, v.
func (o *AdamW) Update(p, g, m, v []float32, lr, wd float64) {
	b1, b2 := o.Beta1, o.Beta2
	bc1 := 1 - math.Pow(b1, float64(o.Step))
	bc2 := 1 - math.Pow(b2, float64(o.Step))
	stepSize := float32(lr / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	decay := float32(1 - lr*wd)
	eps := float32(o.Eps)
	fb1, fb2 := float32(b1), float32(b2)
	for i := range p {
		gi := g[i]
		m[i] = fb1*m[i] + (1-fb1)*gi
		v[i] = fb2*v[i] + (1-fb2)*gi*gi
		denom := float32(math.Sqrt(float64(v[i])))/sqrtBC2 + eps
		p[i] = p[i]*decay - stepSize*m[i]/denom
	}
}

// GlobalNorm is the L2 norm over several gradient buffers.
func GlobalNorm(gs ...[]float32) float64 {
	var s float64
	for _, g := range gs {
		for _, v := range g {
			s += float64(v) * float64(v)
		}
	}
	return math.Sqrt(s)
}

// ClipByGlobalNorm scales gradients so their global norm is at most maxNorm
// and returns the norm before clipping.
func ClipByGlobalNorm(maxNorm float64, gs ...[]float32) float64 {
	n := GlobalNorm(gs...)
	if maxNorm > 0 && n > maxNorm {
		s := float32(maxNorm / (n + 1e-6))
		for _, g := range gs {
			for i := range g {
				g[i] *= s
			}
		}
	}
	return n
}
