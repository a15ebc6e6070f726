package train

import (
	"fmt"
	"math"
)

// Schedules.
const (
	Constant  = "constant"  // lr (after the warm-up)
	Linear    = "linear"    // linear warm-up, then linear decay to 0 at the last step (transformers' default)
	Staircase = "staircase" // lr·rate^floor(step/decay_steps) (the reference's Keras ExponentialDecay, staircase)
)

// Schedule gives the learning rate of each optimizer update.
type Schedule struct {
	Kind       string
	LR         float64
	Warmup     int     // steps of linear warm-up from 0 (any kind)
	Total      int     // total steps (linear decay)
	DecaySteps int     // staircase period
	DecayRate  float64 // staircase factor
}

// Validate checks the schedule.
func (s Schedule) Validate() error {
	if !(s.LR > 0) || math.IsInf(s.LR, 0) {
		return fmt.Errorf("learning rate must be positive and finite, got %v", s.LR)
	}
	if s.Warmup < 0 || s.Warmup > s.Total {
		return fmt.Errorf("warm-up %d outside 0..%d steps", s.Warmup, s.Total)
	}
	switch s.Kind {
	case Constant, Linear:
	case Staircase:
		if s.DecaySteps <= 0 {
			return fmt.Errorf("staircase schedule needs decay steps > 0, got %d", s.DecaySteps)
		}
		if !(s.DecayRate > 0 && s.DecayRate <= 1) {
			return fmt.Errorf("staircase decay rate must be in (0, 1], got %v", s.DecayRate)
		}
	default:
		return fmt.Errorf("unknown schedule %q (want constant, linear or staircase)", s.Kind)
	}
	return nil
}

// At is the learning rate of update `step` (0-based), as transformers'
// LambdaLR schedules and Keras' optimizer.iterations count.
func (s Schedule) At(step int) float64 {
	f := 1.0
	if step < s.Warmup {
		f = float64(step) / float64(max(1, s.Warmup))
	}
	switch s.Kind {
	case Linear:
		if step >= s.Warmup {
			f = math.Max(0, float64(s.Total-step)/float64(max(1, s.Total-s.Warmup)))
		}
	case Staircase:
		f *= math.Pow(s.DecayRate, float64(step/s.DecaySteps))
	}
	return s.LR * f
}

// param is one trainable tensor with its gradient.
type param struct {
	name  string
	shape []int
	w, g  []float32
	decay bool // weight decay applies (matrices; not biases)
}

// adamW is PyTorch's AdamW: decoupled weight decay w -= lr·wd·w, then the
// bias-corrected Adam update w -= lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + ε).
// Moments are float32, one buffer for all parameters in param order.
type adamW struct {
	beta1, beta2, eps, wd float64
	t                     int
	m, v                  []float32
}

func newAdamW(n int, beta1, beta2, eps, wd float64) *adamW {
	return &adamW{beta1: beta1, beta2: beta2, eps: eps, wd: wd, m: make([]float32, n), v: make([]float32, n)}
}

// step applies one update with learning rate lr.
func (o *adamW) step(ps []param, lr float64) {
	o.t++
	bc1 := 1 - math.Pow(o.beta1, float64(o.t))
	bc2 := math.Sqrt(1 - math.Pow(o.beta2, float64(o.t)))
	stepSize := float32(lr / bc1)
	b1, b2 := float32(o.beta1), float32(o.beta2)
	eps, inv := float32(o.eps), float32(1/bc2)
	decay := float32(1 - lr*o.wd)
	off := 0
	for _, p := range ps {
		m, v := o.m[off:off+len(p.w)], o.v[off:off+len(p.w)]
		for i, g := range p.g {
			if p.decay && o.wd != 0 {
				p.w[i] *= decay
			}
			m[i] = b1*m[i] + (1-b1)*g
			v[i] = b2*v[i] + (1-b2)*g*g
			denom := float32(math.Sqrt(float64(v[i])))*inv + eps
			p.w[i] -= stepSize * m[i] / denom
		}
		off += len(p.w)
	}
}
