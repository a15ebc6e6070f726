package optim

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
