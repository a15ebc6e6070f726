package study

import (
	"slices"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
)

const fullConfig = `{
  "name": "full",
  "tasks": ["trec", "ag_news", {"name": "imdb", "max_test": 5000}, "sst2"],
  "modules": ["query", "key", "value", "attn-out", "all"],
  "avg_ranks": [4, 8],
  "seeds": [1, 2, 3, 4, 5],
  "settings": [
    {"name": "faithful", "preset": "reference", "batch": 32, "max_len": 128},
    {"name": "standard", "preset": "standard", "modules": ["value", "all"]}
  ]
}`

func TestParseConfigDefaultsAndPresets(t *testing.T) {
	c, err := ParseConfig([]byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Models) != 1 || c.Models[0].Name != EmbeddedModel || !c.Models[0].IsEmbedded() {
		t.Errorf("default model: %+v", c.Models)
	}
	if !slices.Equal(c.Sources, Sources) {
		t.Errorf("default sources %v", c.Sources)
	}
	if c.Tasks[1].Data != "../shared/data/ag_news" || c.Tasks[1].Loader != "ag_news" || !strings.Contains(c.Tasks[1].Note, "test-carved") {
		t.Errorf("task defaults: %+v", c.Tasks[1])
	}
	if c.Tasks[2].MaxTest != 5000 || !strings.Contains(c.Tasks[2].Note, "Yelp") {
		t.Errorf("imdb: %+v", c.Tasks[2])
	}
	f := c.Settings[0]
	// The reference preset, with batch and max-len overridden.
	if f.LoRA != lora.Faithful || f.Head != model.HeadPaper || !f.TrainBias || f.LR != 1e-3 || f.Steps != 500 ||
		f.Loss != "sum" || f.Schedule != "staircase" || f.Eps != 1e-7 || !f.NoMask || f.Pad != "max" || f.Batch != 32 || f.MaxLen != 128 {
		t.Errorf("faithful setting: %+v", f)
	}
	s := c.Settings[1]
	if s.LoRA != lora.Standard || s.Alpha != 16 || s.AlphaMode != lora.AlphaFix || s.Head != model.HeadHF || s.TrainBias ||
		s.Batch != 32 || s.MaxLen != 128 || s.Loss != "mean" || s.Schedule != "linear" {
		t.Errorf("standard setting: %+v", s)
	}
	if c.Sweep != DefaultSweep() {
		t.Errorf("sweep defaults: %+v", c.Sweep)
	}
	// 4 tasks × 4 sources × 5 seeds × 2 r × (5 faithful + 2 standard module settings).
	cells := c.Expand()
	if len(cells) != 4*4*5*2*7 {
		t.Fatalf("%d cells", len(cells))
	}
	ids := map[string]bool{}
	for _, cl := range cells {
		if ids[cl.ID] {
			t.Fatalf("duplicate id %s", cl.ID)
		}
		ids[cl.ID] = true
		if cl.Setting == "standard" && cl.Modules != "value" && cl.Modules != "all" {
			t.Errorf("standard setting ran %s", cl.Modules)
		}
	}
	// Run order: the four sources of a seed are consecutive.
	if cells[0].ID != "embedded.trec.faithful.query.r4.s1.adarank" || cells[3].ID != "embedded.trec.faithful.query.r4.s1.adarank-reversed" ||
		cells[4].ID != "embedded.trec.faithful.query.r4.s2.adarank" {
		t.Errorf("order: %s %s %s", cells[0].ID, cells[3].ID, cells[4].ID)
	}
	var all *Cell
	for i := range cells {
		if cells[i].Modules == "all" {
			all = &cells[i]
			break
		}
	}
	if all == nil || !slices.Equal(all.Types, []string{"query", "key", "value", "attn-out"}) {
		t.Errorf("all: %+v", all)
	}
	if got := c.sweepTypes(); !slices.Equal(got, []string{"query", "key", "value", "attn-out"}) {
		t.Errorf("sweep types %v", got)
	}
}

func TestParseConfigErrors(t *testing.T) {
	base := `"tasks": ["trec"], "modules": ["value"], "avg_ranks": [8], "seeds": [1]`
	for _, c := range []struct{ json, want string }{
		{`{` + base + `, "settings": [{"name": "x"}]}`, "needs a \"preset\""},
		{`{` + base + `, "settings": [{"preset": "fast"}]}`, "unknown preset"},
		{`{` + base + `, "settings": [{"preset": "standard", "lrate": 1}]}`, "unknown field"},
		{`{` + base + `, "settings": [{"preset": "standard", "head": "mlp"}]}`, "unknown head"},
		{`{` + base + `, "settings": [{"preset": "standard", "modules": ["query"]}]}`, "not one of the study's"},
		{`{` + base + `, "settings": [{"preset": "standard"}], "sources": ["adarank", "best"]}`, "unknown rank source"},
		{`{"tasks": ["trec"], "modules": ["values"], "avg_ranks": [8], "seeds": [1], "settings": [{"preset": "standard"}]}`, "unknown module type"},
		{`{"tasks": ["trec"], "modules": ["value"], "avg_ranks": [0], "seeds": [1], "settings": [{"preset": "standard"}]}`, "at least 1"},
		{`{"tasks": ["trec"], "modules": ["value"], "avg_ranks": [8], "seeds": [1, 1], "settings": [{"preset": "standard"}]}`, "twice"},
		{`{"tasks": ["yelp"], "modules": ["value"], "avg_ranks": [8], "seeds": [1], "settings": [{"preset": "standard"}]}`, "unknown loader"},
		{`{` + base + `, "settings": [{"preset": "standard"}], "sweep": {"rounding": "ceil"}}`, "unknown rounding"},
		{`{` + base + `, "settings": [{"preset": "standard"}], "models": ["a/m", "b/m"]}`, "two models"},
		{`{` + base + `}`, "no training settings"},
		{`{` + base + `, "settings": [{"preset": "standard"}], "extra": 1}`, "unknown field"},
	} {
		_, err := ParseConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.json, err, c.want)
		}
	}
}

func TestFilter(t *testing.T) {
	c, err := ParseConfig([]byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	cells := c.Expand()
	count := func(s string) int {
		f, err := ParseFilter(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		n := 0
		for i := range cells {
			if f.Match(&cells[i]) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		filter string
		want   int
	}{
		{"", 1120},
		{"task=trec", 280},
		{"task=trec|sst2,setting=standard", 2 * 2 * 2 * 5 * 4},
		{"task=trec,modules=value,r=8,seed=1", 2 * 4},
		{"source=uniform,seed=3", 1120 / 20},
		{"*.s1.adarank", 1120 / 20},
		{"embedded.trec.*,source=adarank", 280 / 4},
	} {
		if got := count(tc.filter); got != tc.want {
			t.Errorf("filter %q: %d cells, want %d", tc.filter, got, tc.want)
		}
	}
	for _, bad := range []string{"size=1", "task=a,task=b", "[x"} {
		if _, err := ParseFilter(bad); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
}

// Every source spends the same budget under largest-remainder rounding, so
// LoRA parameter counts match; reversed is AdaRank backwards; random is
// seeded.
func TestRankSourcesEqualBudget(t *testing.T) {
	cfg := model.Config{Arch: "bert", Vocab: 100, Hidden: 32, Layers: 6, Heads: 4, Inter: 64, MaxPos: 64, TypeVocab: 2, Act: "gelu"}
	L := cfg.Layers
	imp := map[string][]float64{}
	for t, typ := range []string{"query", "key", "value", "attn-out"} {
		for l := 0; l < L; l++ {
			imp[typ] = append(imp[typ], 0.1+float64(l*l)*0.05+float64(t)*0.3)
		}
	}
	w := DefaultSweep()
	for _, mods := range []string{"value", "all"} {
		types, _ := ModuleTypes(mods)
		for _, joint := range []bool{false, true} {
			w.Joint = joint
			for _, r := range []int{4, 8} {
				var counts []int
				ranks := map[string]lora.Ranks{}
				for _, src := range Sources {
					c := &Cell{ID: "x", Model: "m", Modules: mods, Types: types, AvgRank: r, Source: src, Seed: 3}
					rk, err := CellRanks(c, L, imp, w)
					if err != nil {
						t.Fatal(err)
					}
					if RankSum(rk) != r*L*len(types) {
						t.Errorf("%s %s r=%d joint=%v: rank sum %d, want %d", src, mods, r, joint, RankSum(rk), r*L*len(types))
					}
					counts = append(counts, LoRAParams(cfg, rk))
					ranks[src] = rk
				}
				if counts[0] != counts[1] || counts[1] != counts[2] || counts[2] != counts[3] {
					t.Errorf("%s r=%d: LoRA parameters differ: %v", mods, r, counts)
				}
				if counts[1] != r*L*len(types)*64 {
					t.Errorf("uniform parameters %d", counts[1])
				}
				for _, typ := range types {
					a := ranks[SourceAdaRank].List(typ)
					rev := strings.Split(ranks[SourceReversed].List(typ), ",")
					slices.Reverse(rev)
					if strings.Join(rev, ",") != a {
						t.Errorf("%s: reversed %s is not adarank %s backwards", typ, ranks[SourceReversed].List(typ), a)
					}
				}
				// AdaRank follows the importances, which grow with the layer.
				v := ranks[SourceAdaRank]
				if v[L-1][model.ModuleIndex("value")] <= v[0][model.ModuleIndex("value")] {
					t.Errorf("adarank ranks do not grow with importance: %s", v.List("value"))
				}
			}
		}
	}
	// AdaRank matches adarank.PerType directly (predict's allocation).
	c := &Cell{Model: "m", Modules: "value", Types: []string{"value"}, AvgRank: 8, Source: SourceAdaRank}
	w.Joint = false
	rk, _ := CellRanks(c, L, imp, w)
	want, _ := adarank.PerType([][]float64{imp["value"]}, adarank.AllocOptions{AvgRank: 8, MinRank: 1}, false)
	if rk.List("value") != adarank.FormatRanks(want[0]) {
		t.Errorf("adarank %s, predict would give %s", rk.List("value"), adarank.FormatRanks(want[0]))
	}
	// Random: same seed, same ranks; another seed, other ranks.
	rnd := func(seed uint64) string {
		c := &Cell{Model: "m", Modules: "all", Types: []string{"query", "key", "value", "attn-out"}, AvgRank: 8, Source: SourceRandom, Seed: seed}
		rk, err := CellRanks(c, L, nil, w)
		if err != nil {
			t.Fatal(err)
		}
		return rk.List("query") + ";" + rk.List("value")
	}
	if rnd(1) != rnd(1) || rnd(1) == rnd(2) {
		t.Errorf("random ranks: seed 1 %s / %s, seed 2 %s", rnd(1), rnd(1), rnd(2))
	}
	// Floor rounding may spend less than the budget; the counts then differ and are reported.
	w.Rounding = "floor"
	c.Source = SourceAdaRank
	rk, err := CellRanks(c, L, imp, w)
	if err != nil {
		t.Fatal(err)
	}
	if RankSum(rk) > 8*L {
		t.Errorf("floor overspent: %d", RankSum(rk))
	}
	// Missing importances are an error, not a silent uniform.
	if _, err := CellRanks(&Cell{ID: "y", Types: []string{"key"}, AvgRank: 4, Source: SourceAdaRank}, L, map[string][]float64{}, DefaultSweep()); err == nil {
		t.Error("adarank without importances accepted")
	}
}

// One sweep over the union of types serves every module setting: a type's
// importances do not depend on which other types are swept.
func TestSweepTypesIndependent(t *testing.T) {
	cfg := model.Config{Arch: "bert", Vocab: 50, Hidden: 16, Layers: 2, Heads: 2, Inter: 32, MaxPos: 16, TypeVocab: 2,
		Act: "gelu", Eps: 1e-12, HasPooler: true}
	m, err := model.NewRandom(cfg, 7, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	b := model.Batch{B: 3, T: 5, IDs: make([]int32, 15), Mask: make([]int32, 15)}
	for i := range b.IDs {
		b.IDs[i], b.Mask[i] = int32(1+(i*7)%49), 1
	}
	sweep := func(types ...string) map[string][]float64 {
		imps, err := adarank.Sweep(m, b, adarank.SweepOptions{Modules: types, Trials: 3, NoiseScale: 1, BiasNoise: true, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]float64{}
		for _, imp := range imps {
			out[imp.Type] = append(out[imp.Type], imp.Mean)
		}
		return out
	}
	all := sweep("query", "key", "value", "attn-out")
	one := sweep("value")
	if !slices.Equal(all["value"], one["value"]) || len(one["value"]) != 2 {
		t.Errorf("value importances: union sweep %v, alone %v", all["value"], one["value"])
	}
}
