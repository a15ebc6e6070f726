package study

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
)

// allocOptions are the allocation rules shared by the adarank and random
// sources (predict's: min/max ranks apply to largest-remainder only).
func (w SweepConfig) allocOptions(avgRank int) (adarank.AllocOptions, error) {
	round, err := adarank.ParseRounding(w.Rounding)
	if err != nil {
		return adarank.AllocOptions{}, err
	}
	o := adarank.AllocOptions{AvgRank: float64(avgRank), Rounding: round}
	if round == adarank.RoundLargestRemainder {
		o.MinRank, o.MaxRank = w.MinRank, w.MaxRank
	}
	return o, nil
}

// NeedsImportance reports whether a source's ranks come from the sweep.
func NeedsImportance(source string) bool {
	return source == SourceAdaRank || source == SourceReversed
}

// randomImportances draws one Exp(1) weight per module (a uniform point on
// the simplex once normalised) from a stream fixed by the seed, the model,
// the module setting and r: each seed gets its own random pattern, shared by
// every task and training setting.
func randomImportances(seed uint64, modelName, modules string, r int, types []string, layers int) [][]float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "random-ranks/%s/%s/%d", modelName, modules, r)
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	g := make([][]float64, len(types))
	for t := range types {
		g[t] = make([]float64, layers)
		for l := range g[t] {
			g[t][l] = -math.Log(1 - rng.Float64()) // in (0, ∞): never zero
		}
	}
	return g
}

// CellRanks returns the ranks of a cell. imp[type] are the sweep's mean
// importances per layer (needed by adarank and adarank-reversed only).
//
//   - uniform: r on every module (budget r × modules);
//   - adarank: the sweep's importances allocated with the sweep's rounding,
//     per type (or jointly with SweepConfig.Joint), as `adarank predict` does;
//   - random: random importances allocated by the same rule (same budget
//     under largest-remainder);
//   - adarank-reversed: AdaRank's per-type rank lists reversed across layers
//     (layer l gets the rank of layer L-1-l; same budget).
func CellRanks(c *Cell, layers int, imp map[string][]float64, w SweepConfig) (lora.Ranks, error) {
	r := make(lora.Ranks, layers)
	var groups [][]float64
	switch c.Source {
	case SourceUniform:
		for _, typ := range c.Types {
			t := model.ModuleIndex(typ)
			for l := range r {
				r[l][t] = c.AvgRank
			}
		}
		return r, nil
	case SourceRandom:
		groups = randomImportances(c.Seed, c.Model, c.Modules, c.AvgRank, c.Types, layers)
	case SourceAdaRank, SourceReversed:
		for _, typ := range c.Types {
			g, ok := imp[typ]
			if !ok || len(g) != layers {
				return nil, fmt.Errorf("%s: no importances for %s (%d of %d layers)", c.ID, typ, len(g), layers)
			}
			groups = append(groups, g)
		}
	default:
		return nil, fmt.Errorf("unknown rank source %q", c.Source)
	}
	opt, err := w.allocOptions(c.AvgRank)
	if err != nil {
		return nil, err
	}
	alloc, err := adarank.PerType(groups, opt, w.Joint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.ID, err)
	}
	for ti, typ := range c.Types {
		list := alloc[ti]
		if c.Source == SourceReversed {
			list = slices.Clone(list)
			slices.Reverse(list)
		}
		t := model.ModuleIndex(typ)
		for l := range r {
			r[l][t] = list[l]
		}
	}
	return r, nil
}

// RankSum is the total rank over all modules.
func RankSum(r lora.Ranks) int {
	s := 0
	for l := range r {
		for _, v := range r[l] {
			s += v
		}
	}
	return s
}

// LoRAParams counts the LoRA factor parameters: Σ r_i·(in_i + out_i).
func LoRAParams(c model.Config, r lora.Ranks) int {
	n := 0
	for l := range r {
		for t, v := range r[l] {
			if v > 0 {
				in, out := c.ModuleDims(model.ModuleTypes[t])
				n += v * (in + out)
			}
		}
	}
	return n
}

// rankLists gives each adapted type's comma list (predict's rank_lists).
func rankLists(r lora.Ranks, types []string) map[string]string {
	out := map[string]string{}
	for _, typ := range types {
		out[typ] = r.List(typ)
	}
	return out
}
