package adarank

// Module names of BERT/RoBERTa encoders, as Hugging Face and PEFT spell them.
//
// PEFT resolves a module's rank with get_pattern_key: the first rank_pattern
// key k with re.match(rf"(.*\.)?({k})$", name) (PEFT >= 0.14; older versions
// used re.match(rf".*\.{k}$", name)) wins, k being used as a regex. Our keys
// are "layer.<i>.<suffix>": the match is anchored at the end and must start at
// a "." boundary (or the name's start), so layer.1 never matches layer.11 and
// "layer.3.output.dense" (FFN output) never matches
// "layer.3.attention.output.dense". The unescaped dots match any character,
// which is harmless on these names (tests check every BERT/RoBERTa Linear).
//
// target_modules given as a list match a module when name == t or name ends
// with "." + t. The suffix "output.dense" therefore selects the attention
// output projection as well as the FFN output; ModuleTargets gives exact
// per-layer names, which is also the only way to leave rank-0 modules out.

import (
	"fmt"
	"sort"
)

// Module type names.
const (
	TypeQuery   = "query"
	TypeKey     = "key"
	TypeValue   = "value"
	TypeAttnOut = "attn-out" // attention output projection W_O (the reference's "dense")
	TypeFFNIn   = "ffn-in"   // intermediate.dense (hidden -> 4·hidden)
	TypeFFNOut  = "ffn-out"  // output.dense (4·hidden -> hidden)
)

// ModuleTypes lists the adaptable module types in canonical order.
var ModuleTypes = []string{TypeQuery, TypeKey, TypeValue, TypeAttnOut, TypeFFNIn, TypeFFNOut}

// moduleSuffix is the module path inside encoder.layer.<i>.
var moduleSuffix = map[string]string{
	TypeQuery:   "attention.self.query",
	TypeKey:     "attention.self.key",
	TypeValue:   "attention.self.value",
	TypeAttnOut: "attention.output.dense",
	TypeFFNIn:   "intermediate.dense",
	TypeFFNOut:  "output.dense",
}

// ModuleRank is the rank of one adapted module.
type ModuleRank struct {
	Type  string // query|key|value|attn-out|ffn-in|ffn-out
	Layer int
	Rank  int
}

// ModuleSuffix returns the module path inside encoder.layer.<i> for a type.
func ModuleSuffix(typ string) (string, error) {
	s, ok := moduleSuffix[typ]
	if !ok {
		return "", fmt.Errorf("unknown module type %q (want query, key, value, attn-out, ffn-in or ffn-out)", typ)
	}
	return s, nil
}

// checkModelType accepts the encoder families whose weight names we know.
func checkModelType(modelType string) error {
	switch modelType {
	case "bert", "roberta":
		return nil
	}
	return fmt.Errorf("unsupported model type %q (want bert or roberta)", modelType)
}

// HFModuleName returns the checkpoint weight prefix of a module, e.g.
// "bert.encoder.layer.7.attention.self.value" (append ".weight"/".bias").
func HFModuleName(modelType, typ string, layer int) (string, error) {
	if err := checkModelType(modelType); err != nil {
		return "", err
	}
	suf, err := ModuleSuffix(typ)
	if err != nil {
		return "", err
	}
	if layer < 0 {
		return "", fmt.Errorf("negative layer index %d", layer)
	}
	return fmt.Sprintf("%s.encoder.layer.%d.%s", modelType, layer, suf), nil
}

// patternKey is the PEFT rank_pattern key of one module.
func patternKey(typ string, layer int) string {
	return fmt.Sprintf("layer.%d.%s", layer, moduleSuffix[typ])
}

func checkMods(mods []ModuleRank) error {
	seen := map[[2]string]bool{}
	for _, m := range mods {
		if _, err := ModuleSuffix(m.Type); err != nil {
			return err
		}
		if m.Layer < 0 {
			return fmt.Errorf("%s: negative layer index %d", m.Type, m.Layer)
		}
		if m.Rank < 0 {
			return fmt.Errorf("%s layer %d: negative rank %d", m.Type, m.Layer, m.Rank)
		}
		k := [2]string{m.Type, fmt.Sprint(m.Layer)}
		if seen[k] {
			return fmt.Errorf("%s layer %d listed twice", m.Type, m.Layer)
		}
		seen[k] = true
	}
	return nil
}

// RankPattern returns PEFT's LoraConfig.rank_pattern for the modules, keyed
// "layer.<i>.<suffix>" (see the file comment). Rank-0 modules are omitted:
// leave them out of target_modules too (ModuleTargets does).
func RankPattern(mods []ModuleRank, modelType string) (map[string]int, error) {
	if err := checkModelType(modelType); err != nil {
		return nil, err
	}
	if err := checkMods(mods); err != nil {
		return nil, err
	}
	out := make(map[string]int, len(mods))
	for _, m := range mods {
		if m.Rank > 0 {
			out[patternKey(m.Type, m.Layer)] = m.Rank
		}
	}
	return out, nil
}

// ModuleTargets returns exact PEFT target_modules entries ("layer.<i>.<suffix>")
// for the modules with rank > 0, sorted by layer then canonical type order.
func ModuleTargets(mods []ModuleRank) ([]string, error) {
	if err := checkMods(mods); err != nil {
		return nil, err
	}
	order := map[string]int{}
	for i, t := range ModuleTypes {
		order[t] = i
	}
	kept := make([]ModuleRank, 0, len(mods))
	for _, m := range mods {
		if m.Rank > 0 {
			kept = append(kept, m)
		}
	}
	sort.Slice(kept, func(i, j int) bool {
		if kept[i].Layer != kept[j].Layer {
			return kept[i].Layer < kept[j].Layer
		}
		return order[kept[i].Type] < order[kept[j].Type]
	})
	out := make([]string, len(kept))
	for i, m := range kept {
		out[i] = patternKey(m.Type, m.Layer)
	}
	return out, nil
}

// TargetModules returns PEFT target_modules suffixes for whole module types,
// in canonical order without duplicates: query, key, value,
// attention.output.dense, intermediate.dense, output.dense. Because the
// suffix "output.dense" also matches attention.output.dense, ffn-out without
// attn-out cannot be expressed this way: that is an error (use ModuleTargets).
func TargetModules(types []string) ([]string, error) {
	want := map[string]bool{}
	for _, t := range types {
		if _, err := ModuleSuffix(t); err != nil {
			return nil, err
		}
		want[t] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("no module types")
	}
	if want[TypeFFNOut] && !want[TypeAttnOut] {
		return nil, fmt.Errorf("target_modules suffix %q would also adapt attention.output.dense; list per-layer modules (ModuleTargets) to adapt ffn-out alone", moduleSuffix[TypeFFNOut])
	}
	var out []string
	for _, t := range ModuleTypes {
		if !want[t] {
			continue
		}
		switch t {
		case TypeQuery, TypeKey, TypeValue:
			out = append(out, t) // "query", "key", "value": unique leaf names
		default:
			out = append(out, moduleSuffix[t])
		}
	}
	return out, nil
}
