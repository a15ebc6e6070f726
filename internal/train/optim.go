package train

import "github.com/adarank/adarank/internal/optim"

// Schedule and its kinds live in internal/optim; these names keep train's API.
type Schedule = optim.Schedule

const (
	Constant  = optim.Constant
	Linear    = optim.Linear
	Staircase = optim.Staircase
)

// param is one trainable tensor with its gradient.
type param struct {
	name  string
	shape []int
	w, g  []float32
	decay bool // weight decay applies (matrices; not biases)
}

// adamW holds the moment buffers (one buffer for all parameters, in param
// order) and applies optim.AdamW to each parameter.
type adamW struct {
	opt  optim.AdamW
	wd   float64
	m, v []float32
}

func newAdamW(n int, beta1, beta2, eps, wd float64) *adamW {
	return &adamW{opt: optim.AdamW{Beta1: beta1, Beta2: beta2, Eps: eps}, wd: wd, m: make([]float32, n), v: make([]float32, n)}
}

// step applies one update with learning rate lr (spread over the CPUs
// when large: optim.AdamW.UpdateAll).
func (o *adamW) step(ps []param, lr float64) {
	o.opt.Begin()
	slots := make([]optim.Slot, len(ps))
	off := 0
	for i, p := range ps {
		n := len(p.w)
		wd := 0.0
		if p.decay {
			wd = o.wd
		}
		slots[i] = optim.Slot{P: p.w, G: p.g, M: o.m[off : off+n], V: o.v[off : off+n], WD: wd}
		off += n
	}
	o.opt.UpdateAll(slots, lr)
}
