package lora

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/adarank/adarank/internal/model"
)

// Ranks[l][t] is the LoRA rank of module type model.ModuleTypes[t] in
// encoder layer l; 0 means the module has no adapter.
type Ranks [][6]int

// NumAdapted counts modules with a positive rank.
func (r Ranks) NumAdapted() int {
	n := 0
	for l := range r {
		for _, v := range r[l] {
			if v > 0 {
				n++
			}
		}
	}
	return n
}

// Mean is the average rank over the adapted modules (0 if none).
func (r Ranks) Mean() float64 {
	n, s := 0, 0
	for l := range r {
		for _, v := range r[l] {
			if v > 0 {
				n++
				s += v
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(s) / float64(n)
}

// Types lists the module types with at least one adapter, in ModuleTypes order.
func (r Ranks) Types() []string {
	var out []string
	for t, typ := range model.ModuleTypes {
		for l := range r {
			if r[l][t] > 0 {
				out = append(out, typ)
				break
			}
		}
	}
	return out
}

// List returns the per-layer ranks of one module type as "r0,r1,...".
func (r Ranks) List(typ string) string {
	t := model.ModuleIndex(typ)
	parts := make([]string, len(r))
	for l := range r {
		parts[l] = strconv.Itoa(r[l][t])
	}
	return strings.Join(parts, ",")
}

// ParseRanks reads an explicit rank specification for the given module
// types of a model with `layers` layers:
//
//	uniform:R or R                 rank R on every selected module
//	r0,r1,...,r(L-1)               one list, used for every selected type
//	TYPE=r0,...;TYPE=r0,...        one list per type (also separated by spaces)
//	r0,...,r(L-1) r0,...           lists in the order of types (the reference's "all" form)
//
// Every explicit rank must be positive; ranks larger than the module allows
// are rejected when the adapters are built.
func ParseRanks(spec string, types []string, layers int) (Ranks, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("ranks: empty specification")
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("ranks: no module types selected")
	}
	for _, typ := range types {
		if model.ModuleIndex(typ) < 0 {
			return nil, fmt.Errorf("ranks: unknown module type %q (want %s)", typ, strings.Join(model.ModuleTypes, ", "))
		}
	}
	r := make(Ranks, layers)
	if u, ok := strings.CutPrefix(spec, "uniform:"); ok || !strings.ContainsAny(spec, ",;= \t") {
		if !ok {
			u = spec
		}
		v, err := parseRank(u)
		if err != nil {
			return nil, err
		}
		for l := range r {
			for _, typ := range types {
				r[l][model.ModuleIndex(typ)] = v
			}
		}
		return r, nil
	}
	fields := strings.FieldsFunc(spec, func(c rune) bool { return c == ';' || c == ' ' || c == '\t' || c == '\n' })
	named := strings.Contains(spec, "=")
	if !named && len(fields) != 1 && len(fields) != len(types) {
		return nil, fmt.Errorf("ranks: %d lists for %d module types (%s)", len(fields), len(types), strings.Join(types, ", "))
	}
	seen := map[string]bool{}
	for i, f := range fields {
		var typs []string
		list := f
		if named {
			name, l, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("ranks: %q is not TYPE=list (mix of named and unnamed lists)", f)
			}
			name = strings.TrimSpace(name)
			if name == "dense" {
				name = model.AttnOut
			}
			if !contains(types, name) {
				return nil, fmt.Errorf("ranks: list for %q, which is not among the selected modules (%s)", name, strings.Join(types, ", "))
			}
			typs, list = []string{name}, l
		} else if len(fields) == 1 {
			typs = types
		} else {
			typs = []string{types[i]}
		}
		vals, err := parseList(list, layers)
		if err != nil {
			return nil, fmt.Errorf("ranks for %s: %w", strings.Join(typs, ","), err)
		}
		for _, typ := range typs {
			if seen[typ] {
				return nil, fmt.Errorf("ranks: two lists for %s", typ)
			}
			seen[typ] = true
			for l, v := range vals {
				r[l][model.ModuleIndex(typ)] = v
			}
		}
	}
	for _, typ := range types {
		if !seen[typ] {
			return nil, fmt.Errorf("ranks: no list for module type %s", typ)
		}
	}
	return r, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func parseRank(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("ranks: %q is not an integer", strings.TrimSpace(s))
	}
	if v <= 0 {
		return 0, fmt.Errorf("ranks: rank %d must be positive (leave a module out with --modules instead)", v)
	}
	return v, nil
}

func parseList(s string, layers int) ([]int, error) {
	parts := strings.Split(s, ",")
	if len(parts) != layers {
		return nil, fmt.Errorf("%d ranks for a %d-layer model", len(parts), layers)
	}
	out := make([]int, layers)
	for i, p := range parts {
		v, err := parseRank(p)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// ranksFile is the part of `adarank predict`'s ranks.json read here.
type ranksFile struct {
	Tool        string `json:"tool"`
	ModelType   string `json:"model_type"`
	WeightsHash string `json:"weights_sha256"`
	Layers      int    `json:"layers"`
	Settings    struct {
		Modules []string `json:"modules"`
	} `json:"settings"`
	Modules []struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Layer int    `json:"layer"`
		Rank  *int   `json:"rank"`
	} `json:"modules"`
}

// FileRanks is what LoadRanksFile read.
type FileRanks struct {
	Ranks Ranks
	Types []string // module types taken from the file
	Notes []string // e.g. modules left out because their rank is 0
}

// LoadRanksFile reads the ranks.json written by `adarank predict` for a
// model with config c and weights hash `hash` ("" skips the hash check).
// types selects module types (nil = every type in the file); each must be
// present for every layer. Rank 0 (possible with floor rounding) leaves the
// module without an adapter, as PEFT's rank_pattern would; negative ranks
// are an error.
func LoadRanksFile(path string, c model.Config, hash string, types []string) (*FileRanks, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ranks: %w", err)
	}
	var f ranksFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("ranks: %s is not a ranks.json from adarank predict: %v", path, err)
	}
	if len(f.Modules) == 0 {
		return nil, fmt.Errorf("ranks: %s lists no modules", path)
	}
	if f.ModelType != "" && f.ModelType != c.Arch {
		return nil, fmt.Errorf("ranks: %s was predicted for a %s model, --model is %s", path, f.ModelType, c.Arch)
	}
	if f.Layers != 0 && f.Layers != c.Layers {
		return nil, fmt.Errorf("ranks: %s is for a %d-layer model, --model has %d layers", path, f.Layers, c.Layers)
	}
	if hash != "" && f.WeightsHash != "" && f.WeightsHash != hash {
		return nil, fmt.Errorf("ranks: %s was predicted on other weights (sha256 %.12s…), --model has %.12s…", path, f.WeightsHash, hash)
	}
	have := map[string]map[int]int{}
	var fileTypes []string
	for i, m := range f.Modules {
		typ := m.Type
		if model.ModuleIndex(typ) < 0 {
			return nil, fmt.Errorf("ranks: %s: module %d has unknown type %q", path, i, typ)
		}
		if m.Layer < 0 || m.Layer >= c.Layers {
			return nil, fmt.Errorf("ranks: %s: module %s has layer %d outside 0..%d", path, typ, m.Layer, c.Layers-1)
		}
		if m.Rank == nil {
			return nil, fmt.Errorf("ranks: %s: module %s layer %d has no rank", path, typ, m.Layer)
		}
		if *m.Rank < 0 {
			return nil, fmt.Errorf("ranks: %s: module %s layer %d has negative rank %d", path, typ, m.Layer, *m.Rank)
		}
		if have[typ] == nil {
			have[typ] = map[int]int{}
			fileTypes = append(fileTypes, typ)
		}
		if _, dup := have[typ][m.Layer]; dup {
			return nil, fmt.Errorf("ranks: %s: module %s layer %d listed twice", path, typ, m.Layer)
		}
		have[typ][m.Layer] = *m.Rank
	}
	if types == nil {
		types = fileTypes
	}
	out := &FileRanks{Ranks: make(Ranks, c.Layers), Types: types}
	for _, typ := range types {
		if model.ModuleIndex(typ) < 0 {
			return nil, fmt.Errorf("ranks: unknown module type %q", typ)
		}
		got := have[typ]
		if got == nil {
			return nil, fmt.Errorf("ranks: %s has no ranks for module type %s (it has %s); predict with --modules including %s",
				path, typ, strings.Join(fileTypes, ", "), typ)
		}
		for l := 0; l < c.Layers; l++ {
			v, ok := got[l]
			if !ok {
				return nil, fmt.Errorf("ranks: %s has no rank for %s in layer %d", path, typ, l)
			}
			if v == 0 {
				out.Notes = append(out.Notes, fmt.Sprintf("%s layer %d has rank 0 in %s: no adapter", typ, l, path))
			}
			out.Ranks[l][model.ModuleIndex(typ)] = v
		}
	}
	if out.Ranks.NumAdapted() == 0 {
		return nil, fmt.Errorf("ranks: every selected module has rank 0 in %s", path)
	}
	return out, nil
}
