package model

import "fmt"

// LoRA is one low-rank adapter: the module computes W·x + b + Scale·B·(A·x).
type LoRA struct {
	R     int
	Scale float32
	A     []float32 // [R, in]
	B     []float32 // [out, R]
}

// Adapters holds the LoRA adapters of a model, indexed [layer][module type
// index in ModuleTypes]; nil entries are modules without an adapter.
type Adapters struct {
	L [][6]*LoRA
}

// NewAdapters allocates adapters for the given ranks (rank 0 = none).
// ranks[l][t] follows ModuleTypes order; scale[l][t] is the output scale.
func NewAdapters(c Config, ranks [][6]int, scale [][6]float32) (*Adapters, error) {
	if len(ranks) != c.Layers {
		return nil, fmt.Errorf("adapters: %d layers of ranks for a %d-layer model", len(ranks), c.Layers)
	}
	ad := &Adapters{L: make([][6]*LoRA, c.Layers)}
	for l := range ranks {
		for t, r := range ranks[l] {
			if r < 0 {
				return nil, fmt.Errorf("adapters: negative rank %d for layer %d %s", r, l, ModuleTypes[t])
			}
			if r == 0 {
				continue
			}
			in, out := moduleDims(c, ModuleTypes[t])
			if r > min(in, out) {
				return nil, fmt.Errorf("adapters: rank %d for layer %d %s exceeds min(in, out) = %d", r, l, ModuleTypes[t], min(in, out))
			}
			ad.L[l][t] = &LoRA{R: r, Scale: scale[l][t], A: make([]float32, r*in), B: make([]float32, out*r)}
		}
	}
	return ad, nil
}

// moduleDims gives (in, out) of a module type.
func moduleDims(c Config, typ string) (in, out int) {
	switch typ {
	case FFNIn:
		return c.Hidden, c.Inter
	case FFNOut:
		return c.Inter, c.Hidden
	}
	return c.Hidden, c.Hidden
}

// ModuleDims gives (in, out) of a module type.
func (c Config) ModuleDims(typ string) (in, out int) { return moduleDims(c, typ) }

func (ad *Adapters) get(l int, typ string) *LoRA {
	if ad == nil {
		return nil
	}
	return ad.L[l][ModuleIndex(typ)]
}

// Get returns the adapter of (layer, type) or nil.
func (ad *Adapters) Get(l int, typ string) *LoRA { return ad.get(l, typ) }

// Like allocates zeroed adapters with the same ranks and scales (for gradients).
func (ad *Adapters) Like() *Adapters {
	g := &Adapters{L: make([][6]*LoRA, len(ad.L))}
	for l := range ad.L {
		for t, a := range ad.L[l] {
			if a != nil {
				g.L[l][t] = &LoRA{R: a.R, Scale: a.Scale, A: make([]float32, len(a.A)), B: make([]float32, len(a.B))}
			}
		}
	}
	return g
}

// Lowest returns the lowest layer with an adapter, or -1.
func (ad *Adapters) Lowest() int {
	if ad == nil {
		return -1
	}
	for l := range ad.L {
		for _, a := range ad.L[l] {
			if a != nil {
				return l
			}
		}
	}
	return -1
}

// NumParams counts adapter parameters.
func (ad *Adapters) NumParams() int {
	n := 0
	if ad == nil {
		return 0
	}
	for l := range ad.L {
		for _, a := range ad.L[l] {
			if a != nil {
				n += len(a.A) + len(a.B)
			}
		}
	}
	return n
}

// Each calls f for every adapter in layer, then ModuleTypes, order.
func (ad *Adapters) Each(f func(l int, typ string, a *LoRA)) {
	if ad == nil {
		return
	}
	for l := range ad.L {
		for t, a := range ad.L[l] {
			if a != nil {
				f(l, ModuleTypes[t], a)
			}
		}
	}
}
