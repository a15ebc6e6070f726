package kernels

import (
	"fmt"
	"math"
)

// AdamWCoef are the coefficients of one AdamW step: β1, 1−β1, β2, 1−β2,
// √(1−β2ᵗ), eps, 1 − lr·wd and lr/(1−β1ᵗ) (see optim.AdamW).
type AdamWCoef [8]float32

// adamwAsm is the AVX2 body (n a multiple of 8), set by the amd64 init.
var adamwAsm func(p, g, m, v *float32, n int, c *[8]float32)

// AdamWStep applies one AdamW step to the parameters p with gradients g and
// moments m, v (all the same length):
//
//	m = β1·m + (1−β1)·g;  v = β2·v + ((1−β2)·g)·g
//	p = p·(1 − lr·wd) − (lr/(1−β1ᵗ)·m) / (√v/√(1−β2ᵗ) + eps)
//
// every operation rounded to float32 in this order (no fused multiply-adds),
// so the assembly and Go paths give identical bits.
func AdamWStep(p, g, m, v []float32, c *AdamWCoef) {
	if len(g) != len(p) || len(m) != len(p) || len(v) != len(p) {
		panic(fmt.Sprintf("kernels: AdamWStep: lengths %d, %d, %d, %d differ", len(p), len(g), len(m), len(v)))
	}
	i := 0
	if vecAsm && adamwAsm != nil && len(p) >= 8 {
		i = len(p) &^ 7
		adamwAsm(&p[0], &g[0], &m[0], &v[0], i, (*[8]float32)(c))
	}
	adamwGo(p[i:], g[i:], m[i:], v[i:], c)
}

// adamwGo is AdamWStep in Go; the explicit float32 conversions keep the
// compiler from fusing a multiply and an add (the Go spec allows fusion
// otherwise, and the assembly does not fuse).
func adamwGo(p, g, m, v []float32, c *AdamWCoef) {
	b1, omb1, b2, omb2, sqrtBC2, eps, decay, step := c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
	for i := range p {
		gi := g[i]
		mi := float32(b1*m[i]) + float32(omb1*gi)
		vi := float32(b2*v[i]) + float32(float32(omb2*gi)*gi)
		m[i], v[i] = mi, vi
		denom := float32(float32(math.Sqrt(float64(vi)))/sqrtBC2) + eps
		p[i] = float32(p[i]*decay) - float32(step*mi)/denom
	}
}
