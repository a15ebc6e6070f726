package model

import "math/rand/v2"

// NewRandom builds a model with HF-style random initialisation: linear and
// embedding weights N(0, std²), biases 0, LayerNorm weight 1 and bias 0.
// Used for benchmarks, tests and pretraining from scratch.
func NewRandom(c Config, seed uint64, std float32) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Cfg: c, P: NewParams(c, true), Extra: map[string]ExtraTensor{}}
	rng := rand.New(rand.NewPCG(seed, 0x6164617261))
	for _, t := range m.P.Named(c) {
		switch {
		case isLNWeight(t.Name):
			fillConst(t.Data, 1)
		case len(t.Shape) == 1:
			clear(t.Data)
		default:
			for i := range t.Data {
				t.Data[i] = float32(rng.NormFloat64()) * std
			}
		}
	}
	// The padding_idx row of the word embeddings is zero in HF models.
	clear(m.P.WordEmb[c.PadID*c.Hidden : (c.PadID+1)*c.Hidden])
	return m, nil
}

func isLNWeight(name string) bool {
	return hasSuffix(name, "LayerNorm.weight") || hasSuffix(name, "layer_norm.weight")
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

func fillConst(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}
