// Package optim holds optimizers and learning-rate schedules shared by
// fine-tuning and pretraining.
package optim

import (
	"math"
	"runtime"
	"sync"

	"github.com/adarank/adarank/internal/kernels"
)

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter), as
// torch.optim.AdamW: p -= lr·(m̂/(√v̂+eps) + wd·p).
type AdamW struct {
	Beta1, Beta2, Eps float64
	Step              int // number of updates done
}

// Begin advances the step counter; call once per optimizer step before Update.
func (o *AdamW) Begin() { o.Step++ }

// Update applies one AdamW step to p with gradient g and moment buffers m, v
// (kernels.AdamWStep: AVX2 where available, the same bits either way).
func (o *AdamW) Update(p, g, m, v []float32, lr, wd float64) {
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	bc1 := 1 - math.Pow(o.Beta1, float64(o.Step))
	bc2 := 1 - math.Pow(o.Beta2, float64(o.Step))
	c := kernels.AdamWCoef{b1, 1 - b1, b2, 1 - b2, float32(math.Sqrt(bc2)), float32(o.Eps), float32(1 - lr*wd), float32(lr / bc1)}
	kernels.AdamWStep(p, g, m, v, &c)
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

// Slot is one tensor of a multi-tensor update: parameters, gradient, the two
// moment buffers and its weight decay.
type Slot struct {
	P, G, M, V []float32
	WD         float64
}

// UpdateAll applies Update to every slot (call Begin once before). Large
// updates are spread over the CPUs by whole slots or slot chunks; every
// element's arithmetic is the same, so the result does not depend on the
// number of threads.
func (o *AdamW) UpdateAll(slots []Slot, lr float64) {
	total := 0
	for _, s := range slots {
		total += len(s.P)
	}
	workers := min(runtime.GOMAXPROCS(0), total/minParallelElems)
	if workers <= 1 {
		for _, s := range slots {
			o.Update(s.P, s.G, s.M, s.V, lr, s.WD)
		}
		return
	}
	// Cut the concatenation of the slots into `workers` nearly equal ranges.
	per := (total + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*per, min(total, (w+1)*per)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			off := 0
			for _, s := range slots {
				n := len(s.P)
				a, b := max(lo, off)-off, min(hi, off+n)-off
				if a < b {
					o.Update(s.P[a:b], s.G[a:b], s.M[a:b], s.V[a:b], lr, s.WD)
				}
				off += n
			}
		}(lo, hi)
	}
	wg.Wait()
}

// minParallelElems is the work per thread below which UpdateAll stays serial.
const minParallelElems = 1 << 15
