package adarank

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// linearModules lists every nn.Linear of a 12-layer {Bert,Roberta}ForSequenceClassification.
func linearModules(modelType string) []string {
	var names []string
	for i := range 12 {
		for _, s := range []string{"attention.self.query", "attention.self.key", "attention.self.value",
			"attention.output.dense", "intermediate.dense", "output.dense"} {
			names = append(names, fmt.Sprintf("%s.encoder.layer.%d.%s", modelType, i, s))
		}
	}
	if modelType == "bert" {
		return append(names, "bert.pooler.dense", "classifier")
	}
	return append(names, "classifier.dense", "classifier.out_proj")
}

// pattern matchers of PEFT's get_pattern_key, old and new (Python re.match
// anchors at the start; both patterns are plain RE2).
func pattern(key string, newer bool) *regexp.Regexp {
	if newer {
		return regexp.MustCompile(`^(.*\.)?(` + key + `)$`)
	}
	return regexp.MustCompile(`^.*\.` + key + `$`)
}

// targetMatch is PEFT's list form of target_modules matching.
func targetMatch(name, target string) bool {
	return name == target || strings.HasSuffix(name, "."+target)
}

func allMods(rank func(typ string, layer int) int) []ModuleRank {
	var mods []ModuleRank
	for _, typ := range ModuleTypes {
		for l := range 12 {
			mods = append(mods, ModuleRank{Type: typ, Layer: l, Rank: rank(typ, l)})
		}
	}
	return mods
}

func TestRankPatternMatchesExactlyOneModule(t *testing.T) {
	for _, mt := range []string{"bert", "roberta"} {
		mods := allMods(func(typ string, l int) int { return 1 + l })
		rp, err := RankPattern(mods, mt)
		if err != nil {
			t.Fatal(err)
		}
		if len(rp) != 72 {
			t.Fatalf("%s: %d keys, want 72", mt, len(rp))
		}
		names := linearModules(mt)
		for _, m := range mods {
			want, err := HFModuleName(mt, m.Type, m.Layer)
			if err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("layer.%d.%s", m.Layer, mustSuffix(t, m.Type))
			if rp[key] != m.Rank {
				t.Errorf("%s: rank_pattern[%q] = %d, want %d", mt, key, rp[key], m.Rank)
			}
			for _, newer := range []bool{false, true} {
				re := pattern(key, newer)
				var hits []string
				for _, n := range names {
					if re.MatchString(n) {
						hits = append(hits, n)
					}
				}
				if len(hits) != 1 || hits[0] != want {
					t.Errorf("%s key %q (newer=%v) matches %v, want only %s", mt, key, newer, hits, want)
				}
			}
		}
	}
	// The case the brief worried about, spelled out.
	if pattern("layer.3.output.dense", true).MatchString("bert.encoder.layer.3.attention.output.dense") {
		t.Error("layer.3.output.dense must not match the attention output")
	}
	if pattern("layer.1.attention.self.query", false).MatchString("bert.encoder.layer.11.attention.self.query") {
		t.Error("layer.1 must not match layer.11")
	}
}

func mustSuffix(t *testing.T, typ string) string {
	t.Helper()
	s, err := ModuleSuffix(typ)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRankPatternOmitsZeroAndValidates(t *testing.T) {
	mods := []ModuleRank{{TypeKey, 0, 0}, {TypeKey, 1, 2}, {TypeFFNOut, 11, 5}}
	rp, err := RankPattern(mods, "roberta")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"layer.1.attention.self.key": 2, "layer.11.output.dense": 5}
	if fmt.Sprint(rp) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", rp, want)
	}
	bad := []struct {
		mods []ModuleRank
		mt   string
		msg  string
	}{
		{mods, "gpt2", "unsupported model type"},
		{[]ModuleRank{{"dense", 0, 1}}, "bert", "unknown module type"},
		{[]ModuleRank{{TypeQuery, -1, 1}}, "bert", "negative layer"},
		{[]ModuleRank{{TypeQuery, 0, -1}}, "bert", "negative rank"},
		{[]ModuleRank{{TypeQuery, 0, 1}, {TypeQuery, 0, 2}}, "bert", "twice"},
	}
	for _, b := range bad {
		if _, err := RankPattern(b.mods, b.mt); err == nil || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("%v %s: got %v, want error with %q", b.mods, b.mt, err, b.msg)
		}
	}
}

func TestModuleTargets(t *testing.T) {
	mods := []ModuleRank{{TypeFFNOut, 3, 4}, {TypeQuery, 3, 2}, {TypeValue, 0, 0}, {TypeAttnOut, 1, 8}}
	got, err := ModuleTargets(mods)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"layer.1.attention.output.dense", "layer.3.attention.self.query", "layer.3.output.dense"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// Each entry selects exactly its own module under PEFT's suffix rule.
	for _, tgt := range got {
		var hits []string
		for _, n := range linearModules("bert") {
			if targetMatch(n, tgt) {
				hits = append(hits, n)
			}
		}
		if len(hits) != 1 || !strings.HasSuffix(hits[0], "encoder."+tgt) {
			t.Errorf("target %q selects %v", tgt, hits)
		}
	}
}

func TestTargetModules(t *testing.T) {
	got, err := TargetModules([]string{TypeValue, TypeQuery, TypeValue})
	if err != nil || !slices.Equal(got, []string{"query", "value"}) {
		t.Errorf("got %v, %v", got, err)
	}
	// Selected sets under PEFT's suffix rule must be exactly the requested types.
	sets := [][]string{{TypeQuery}, {TypeKey}, {TypeValue}, {TypeAttnOut}, {TypeFFNIn},
		{TypeAttnOut, TypeFFNOut}, ModuleTypes}
	for _, types := range sets {
		tgts, err := TargetModules(types)
		if err != nil {
			t.Fatal(err)
		}
		wantN := 12 * len(types)
		n := 0
		for _, name := range linearModules("roberta") {
			sel := false
			for _, tg := range tgts {
				sel = sel || targetMatch(name, tg)
			}
			if !sel {
				continue
			}
			n++
			ok := false
			for _, typ := range types {
				ok = ok || strings.HasSuffix(name, "."+mustSuffix(t, typ)) &&
					!(typ == TypeFFNOut && strings.HasSuffix(name, "attention.output.dense"))
			}
			if !ok {
				t.Errorf("types %v: targets %v also select %s", types, tgts, name)
			}
		}
		if n != wantN {
			t.Errorf("types %v: targets %v select %d modules, want %d", types, tgts, n, wantN)
		}
	}
	if _, err := TargetModules([]string{TypeFFNOut}); err == nil {
		t.Error("ffn-out alone: want an error")
	}
	if _, err := TargetModules([]string{"dense"}); err == nil {
		t.Error("unknown type: want an error")
	}
	if _, err := TargetModules(nil); err == nil {
		t.Error("no types: want an error")
	}
}

func TestHFModuleName(t *testing.T) {
	cases := []struct {
		mt, typ string
		layer   int
		want    string
	}{
		{"bert", TypeValue, 7, "bert.encoder.layer.7.attention.self.value"},
		{"roberta", TypeAttnOut, 0, "roberta.encoder.layer.0.attention.output.dense"},
		{"bert", TypeFFNIn, 11, "bert.encoder.layer.11.intermediate.dense"},
		{"roberta", TypeFFNOut, 3, "roberta.encoder.layer.3.output.dense"},
	}
	for _, c := range cases {
		got, err := HFModuleName(c.mt, c.typ, c.layer)
		if err != nil || got != c.want {
			t.Errorf("HFModuleName(%s,%s,%d) = %q, %v; want %q", c.mt, c.typ, c.layer, got, err, c.want)
		}
	}
	if _, err := HFModuleName("t5", TypeQuery, 0); err == nil {
		t.Error("unknown model type: want an error")
	}
	if _, err := HFModuleName("bert", TypeQuery, -1); err == nil {
		t.Error("negative layer: want an error")
	}
}
