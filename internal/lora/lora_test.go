package lora

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/model"
)

func tinyConfig(arch string) model.Config {
	c := model.Config{Arch: arch, Vocab: 40, Hidden: 16, Layers: 3, Heads: 2, Inter: 24, MaxPos: 24, TypeVocab: 2,
		PadID: 0, Act: "gelu", Eps: 1e-12, HasPooler: true, HiddenDrop: 0.1, AttnDrop: 0.1}
	if arch == "roberta" {
		c.PadID, c.TypeVocab, c.HasPooler = 1, 1, false
	}
	return c
}

func tinyModel(t *testing.T, arch string) *model.Model {
	t.Helper()
	m, err := model.NewRandom(tinyConfig(arch), 3, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tinyBatch(c model.Config, B, T int, seed uint64) model.Batch {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := model.Batch{B: B, T: T, IDs: make([]int32, B*T), TypeIDs: make([]int32, B*T), Mask: make([]int32, B*T)}
	for s := 0; s < B; s++ {
		n := T - s%3
		for i := 0; i < T; i++ {
			if i < n {
				b.IDs[s*T+i] = int32(2 + rng.IntN(c.Vocab-2))
				b.Mask[s*T+i] = 1
			} else {
				b.IDs[s*T+i] = int32(c.PadID)
			}
		}
	}
	return b
}

// logits runs the adapter's model in inference mode.
func logits(m *model.Model, a *Adapter, b model.Batch) []float32 {
	ws := m.NewWorkspace(b.B, b.T, false, a.Ad)
	m.Encode(ws, b, a.Ad, model.FwdOpts{})
	var x []float32
	if a.Head.UsesPooler() {
		x = m.Pool(ws)
	} else {
		x = m.CLS(ws)
	}
	return a.Head.Forward(x, b.B, false, 0, nil).Logits
}

func maxRel(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		num = math.Max(num, math.Abs(float64(got[i])-float64(want[i])))
		den = math.Max(den, math.Abs(float64(want[i])))
	}
	return num / math.Max(den, 1e-12)
}

func TestParseRanks(t *testing.T) {
	types := []string{model.Query, model.Value}
	cases := []struct {
		spec string
		q, v string
	}{
		{"uniform:8", "8,8,8", "8,8,8"},
		{"4", "4,4,4", "4,4,4"},
		{"1,2,3", "1,2,3", "1,2,3"},
		{"1,2,3 4,5,6", "1,2,3", "4,5,6"},
		{"value=4,5,6;query=1,2,3", "1,2,3", "4,5,6"},
	}
	for _, c := range cases {
		r, err := ParseRanks(c.spec, types, 3)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		if r.List(model.Query) != c.q || r.List(model.Value) != c.v || r.List(model.Key) != "0,0,0" {
			t.Errorf("%q: query %s value %s key %s", c.spec, r.List(model.Query), r.List(model.Value), r.List(model.Key))
		}
	}
	r, err := ParseRanks("dense=1,2,3", []string{model.AttnOut}, 3)
	if err != nil || r.List(model.AttnOut) != "1,2,3" {
		t.Errorf("dense alias: %v %v", r, err)
	}
	for _, bad := range []string{"uniform:0", "0", "-2", "1,2", "1,0,3", "1,2,3;4,5,6;7,8,9", "key=1,2,3", "query=1,2,3",
		"value=1,2,3;value=1,2,3", "x", "1,a,3", ""} {
		if _, err := ParseRanks(bad, types, 3); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := ParseRanks("8", []string{"mlp"}, 3); err == nil {
		t.Error("unknown type accepted")
	}
}

func writeRanksJSON(t *testing.T, dir string, v any) string {
	t.Helper()
	p := filepath.Join(dir, "ranks.json")
	b, _ := json.Marshal(v)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRanksFile(t *testing.T) {
	c := tinyConfig("bert")
	type mod struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Layer int    `json:"layer"`
		Rank  int    `json:"rank"`
	}
	mk := func(arch string, layers int, hash string, ranks map[string][]int) map[string]any {
		var mods []mod
		for typ, rs := range ranks {
			for l, r := range rs {
				mods = append(mods, mod{model.HFName(arch, typ, l), typ, l, r})
			}
		}
		return map[string]any{"model_type": arch, "layers": layers, "weights_sha256": hash, "modules": mods}
	}
	dir := t.TempDir()
	p := writeRanksJSON(t, dir, mk("bert", 3, "abc", map[string][]int{"value": {1, 0, 5}, "key": {2, 2, 2}}))
	fr, err := LoadRanksFile(p, c, "abc", []string{model.Value})
	if err != nil {
		t.Fatal(err)
	}
	if fr.Ranks.List(model.Value) != "1,0,5" || fr.Ranks.List(model.Key) != "0,0,0" || len(fr.Notes) != 1 {
		t.Errorf("got value %s key %s notes %v", fr.Ranks.List(model.Value), fr.Ranks.List(model.Key), fr.Notes)
	}
	fr, err = LoadRanksFile(p, c, "", nil)
	if err != nil || fr.Ranks.List(model.Key) != "2,2,2" || len(fr.Types) != 2 {
		t.Errorf("all types: %+v %v", fr, err)
	}
	for name, tc := range map[string]struct {
		v     any
		hash  string
		types []string
		want  string
	}{
		"other arch":   {mk("roberta", 3, "", map[string][]int{"value": {1, 1, 1}}), "", nil, "roberta"},
		"other layers": {mk("bert", 12, "", map[string][]int{"value": {1, 1, 1}}), "", nil, "12-layer"},
		"other hash":   {mk("bert", 3, "abc", map[string][]int{"value": {1, 1, 1}}), "def", nil, "other weights"},
		"missing type": {mk("bert", 3, "", map[string][]int{"value": {1, 1, 1}}), "", []string{model.Query}, "no ranks for module type query"},
		"negative":     {mk("bert", 3, "", map[string][]int{"value": {1, -1, 1}}), "", nil, "negative"},
		"all zero":     {mk("bert", 3, "", map[string][]int{"value": {0, 0, 0}}), "", nil, "rank 0"},
		"no modules":   {map[string]any{"model_type": "bert"}, "", nil, "no modules"},
		"not json":     {"[1,2", "", nil, "not a ranks.json"},
	} {
		var p string
		if s, ok := tc.v.(string); ok {
			p = filepath.Join(dir, "bad.json")
			os.WriteFile(p, []byte(s), 0o644)
		} else {
			p = writeRanksJSON(t, dir, tc.v)
		}
		if _, err := LoadRanksFile(p, c, tc.hash, tc.types); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, tc.want)
		}
	}
}

func TestInitConventions(t *testing.T) {
	c := tinyConfig("bert")
	r, _ := ParseRanks("query=2,4,8;ffn-in=4,4,4", []string{model.Query, model.FFNIn}, 3)
	for _, conv := range []string{Standard, Faithful} {
		a, err := New(c, r, Options{Convention: conv, Alpha: 16, AlphaMode: AlphaFix}, model.HeadHF, 3)
		if err != nil {
			t.Fatal(err)
		}
		a.Init(rand.New(rand.NewPCG(1, 2)))
		a.Ad.Each(func(l int, typ string, m *model.LoRA) {
			in, out := c.ModuleDims(typ)
			limA, limB := 1/math.Sqrt(float64(in)), 0.0
			if conv == Faithful {
				limA, limB = math.Sqrt(6/float64(in+m.R)), math.Sqrt(6/float64(m.R+out))
			}
			check := func(name string, x []float32, lim float64) {
				var mx float64
				for _, v := range x {
					mx = math.Max(mx, math.Abs(float64(v)))
				}
				if mx > lim || lim > 0 && mx < 0.7*lim {
					t.Errorf("%s %s l%d %s: max |x| %.4f, limit %.4f", conv, typ, l, name, mx, lim)
				}
			}
			check("A", m.A, limA)
			check("B", m.B, limB)
		})
	}
}

func TestAlphaModes(t *testing.T) {
	c := tinyConfig("bert")
	r, _ := ParseRanks("2,4,6", []string{model.Value}, 3) // mean 4
	cases := []struct {
		o      Options
		scales []float32
	}{
		{Options{Convention: Standard, Alpha: 16, AlphaMode: AlphaFix}, []float32{8, 4, 16.0 / 6}},
		{Options{Convention: Standard, Alpha: 16, AlphaMode: AlphaRate}, []float32{4, 4, 4}},
		{Options{Convention: Faithful}, []float32{1, 1, 1}},
	}
	for _, tc := range cases {
		a, err := New(c, r, tc.o, model.HeadHF, 2)
		if err != nil {
			t.Fatal(err)
		}
		for l := 0; l < 3; l++ {
			if s := a.Ad.Get(l, model.Value).Scale; math.Abs(float64(s-tc.scales[l])) > 1e-6 {
				t.Errorf("%+v layer %d: scale %v, want %v", tc.o, l, s, tc.scales[l])
			}
		}
	}
	for _, bad := range []Options{{Convention: "x"}, {Convention: Standard, Alpha: 0, AlphaMode: AlphaFix},
		{Convention: Standard, Alpha: 8, AlphaMode: "both"}} {
		if _, err := New(c, r, bad, model.HeadHF, 2); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := New(c, Ranks{{}, {}, {}}, cases[0].o, model.HeadHF, 2); err == nil {
		t.Error("no adapted module accepted")
	}
	big, _ := ParseRanks("17", []string{model.Value}, 3)
	if _, err := New(c, big, cases[0].o, model.HeadHF, 2); err == nil {
		t.Error("rank above min(in,out) accepted")
	}
}

// randomize fills every trainable tensor with random values.
func randomize(a *Adapter, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 9))
	fill := func(x []float32) {
		for i := range x {
			x[i] = float32(rng.NormFloat64()) * 0.3
		}
	}
	a.Ad.Each(func(_ int, _ string, m *model.LoRA) { fill(m.A); fill(m.B) })
	fill(a.Head.Data)
	for l := range a.Bias {
		for _, b := range a.Bias[l] {
			fill(b)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		arch, head, conv, mode string
		bias                   bool
		peft                   bool
	}{
		{"bert", model.HeadHF, Standard, AlphaFix, false, true},
		{"roberta", model.HeadHF, Standard, AlphaRate, false, true},
		{"bert", model.HeadHF, Faithful, "", false, true},
		{"bert", model.HeadPaper, Standard, AlphaFix, false, false},
		{"roberta", model.HeadPaper, Faithful, "", true, false},
		{"bert", model.HeadHF, Faithful, "", true, false},
	} {
		name := strings.Join([]string{tc.arch, tc.head, tc.conv, tc.mode}, "/")
		t.Run(name, func(t *testing.T) {
			m := tinyModel(t, tc.arch)
			r, err := ParseRanks("value=1,2,3;ffn-out=2,2,2;query=4,4,4", []string{model.Value, model.FFNOut, model.Query}, 3)
			if err != nil {
				t.Fatal(err)
			}
			r[1][model.ModuleIndex(model.Value)] = 0 // a layer without a value adapter
			a, err := New(m.Cfg, r, Options{Convention: tc.conv, Alpha: 8, AlphaMode: tc.mode}, tc.head, 3)
			if err != nil {
				t.Fatal(err)
			}
			a.Classes = []string{"a", "b", "c"}
			if tc.bias {
				a.AttachBias(m)
			}
			randomize(a, 4)
			b := tinyBatch(m.Cfg, 3, 6, 5)
			want := logits(m, a, b)
			dir := t.TempDir()
			if err := a.Save(dir); err != nil {
				t.Fatal(err)
			}
			_, err = os.Stat(filepath.Join(dir, PEFTConfig))
			if (err == nil) != tc.peft {
				t.Fatalf("adapter_config.json present %v, want %v", err == nil, tc.peft)
			}
			// Load onto a fresh base (biases must come from the adapter).
			m2 := tinyModel(t, tc.arch)
			a2, err := Load(dir, m2)
			if err != nil {
				t.Fatal(err)
			}
			a2.ApplyBias(m2)
			if got := logits(m2, a2, b); maxRel(got, want) != 0 {
				t.Errorf("logits after reload differ: rel %.3g", maxRel(got, want))
			}
			if strings.Join(a2.Classes, ",") != "a,b,c" || a2.Convention != tc.conv {
				t.Errorf("meta: classes %v convention %s", a2.Classes, a2.Convention)
			}
			if !tc.peft {
				return
			}
			// PEFT's own reading of the files: config + tensors only.
			os.Remove(filepath.Join(dir, MetaFile))
			a3, err := LoadPEFT(dir, tinyModel(t, tc.arch))
			if err != nil {
				t.Fatal(err)
			}
			if got := logits(m2, a3, b); maxRel(got, want) > 1e-6 {
				t.Errorf("logits via adapter_config.json differ: rel %.3g", maxRel(got, want))
			}
		})
	}
}

func TestPEFTConfigContents(t *testing.T) {
	m := tinyModel(t, "bert")
	r, _ := ParseRanks("2,4,6", []string{model.Value}, 3)
	a, _ := New(m.Cfg, r, Options{Convention: Standard, Alpha: 16, AlphaMode: AlphaRate}, model.HeadHF, 2)
	cfg, err := a.PEFTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TaskType != "SEQ_CLS" || cfg.PeftType != "LORA" || cfg.R != 2 || cfg.LoraAlpha != 16 ||
		strings.Join(cfg.TargetModules, ",") != "value" || strings.Join(cfg.ModulesToSave, ",") != "classifier" {
		t.Errorf("config %+v", cfg)
	}
	wantR := map[string]int{"layer.0.attention.self.value": 2, "layer.1.attention.self.value": 4, "layer.2.attention.self.value": 6}
	wantA := map[string]float64{"layer.0.attention.self.value": 8, "layer.2.attention.self.value": 24}
	for k, v := range wantR {
		if cfg.RankPattern[k] != v {
			t.Errorf("rank_pattern[%s] = %d, want %d", k, cfg.RankPattern[k], v)
		}
	}
	if len(cfg.AlphaPattern) != 2 || cfg.AlphaPattern["layer.0.attention.self.value"] != 8 || cfg.AlphaPattern["layer.2.attention.self.value"] != 24 {
		t.Errorf("alpha_pattern %v, want %v", cfg.AlphaPattern, wantA)
	}
	// A rank-0 layer forces exact per-layer target names; ffn-out alone too.
	r2, _ := ParseRanks("ffn-out=1,1,1", []string{model.FFNOut}, 3)
	a2, _ := New(m.Cfg, r2, Options{Convention: Standard, Alpha: 16, AlphaMode: AlphaFix}, model.HeadHF, 2)
	cfg2, _ := a2.PEFTConfig()
	if strings.Join(cfg2.TargetModules, ",") != "layer.0.output.dense,layer.1.output.dense,layer.2.output.dense" {
		t.Errorf("ffn-out targets %v", cfg2.TargetModules)
	}
}

func TestLoadErrors(t *testing.T) {
	m := tinyModel(t, "bert")
	r, _ := ParseRanks("2", []string{model.Value}, 3)
	a, _ := New(m.Cfg, r, Options{Convention: Standard, Alpha: 16, AlphaMode: AlphaFix}, model.HeadHF, 2)
	randomize(a, 1)
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(t.TempDir(), m); err == nil {
		t.Error("empty folder accepted")
	}
	if _, err := Load(dir, tinyModel(t, "roberta")); err == nil {
		t.Error("bert adapter loaded onto roberta")
	}
	// A rank that disagrees with adapter_config.json.
	os.Remove(filepath.Join(dir, MetaFile))
	cfg, _ := hf.LoadAdapterConfig(filepath.Join(dir, PEFTConfig))
	cfg.RankPattern["layer.1.attention.self.value"] = 3
	cfg.Save(filepath.Join(dir, PEFTConfig))
	if _, err := Load(dir, m); err == nil || !strings.Contains(err.Error(), "rank 2") {
		t.Errorf("rank mismatch: %v", err)
	}
	// Truncated tensor file.
	os.WriteFile(filepath.Join(dir, TensorFile), []byte("garbage"), 0o644)
	if _, err := Load(dir, m); err == nil {
		t.Error("garbage tensors accepted")
	}
}

func TestPatternKey(t *testing.T) {
	keys := []string{"layer.1.attention.self.value", "value"}
	for name, want := range map[string]string{
		"bert.encoder.layer.1.attention.self.value":  "layer.1.attention.self.value",
		"bert.encoder.layer.11.attention.self.value": "value",
		"bert.encoder.layer.1.attention.self.query":  "",
	} {
		if got, _ := patternKey(keys, name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if k := orderedKeys([]byte(`{"rank_pattern": {"b": 1, "a": {"x": 2}, "c": 3}}`), "rank_pattern"); strings.Join(k, ",") != "b,a,c" {
		t.Errorf("ordered keys %v", k)
	}
}

func TestMerge(t *testing.T) {
	for _, arch := range []string{"bert", "roberta"} {
		t.Run(arch, func(t *testing.T) {
			m := tinyModel(t, arch)
			r, _ := ParseRanks("uniform:3", []string{model.Query, model.FFNIn, model.FFNOut}, 3)
			a, _ := New(m.Cfg, r, Options{Convention: Faithful}, model.HeadHF, 3)
			a.AttachBias(m)
			randomize(a, 7)
			bias := make([]float32, len(a.Bias[1][model.ModuleIndex(model.Query)]))
			copy(bias, a.Bias[1][model.ModuleIndex(model.Query)])
			b := tinyBatch(m.Cfg, 2, 5, 8)
			want := logits(m, a, b)
			base := t.TempDir()
			writeBase(t, base, m)
			// Reload the base with original biases, merge into a folder, read it back.
			m2 := tinyModel(t, arch)
			out := t.TempDir()
			if err := WriteMerged(out, base, m2, a, true); err != nil {
				t.Fatal(err)
			}
			merged, err := model.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := model.NewHead(model.HeadHF, arch, m.Cfg.Hidden, 3)
			copy(h.Data, a.Head.Data)
			plain := &Adapter{Ad: nil, Head: h}
			if got := logits(merged, plain, b); maxRel(got, want) > 1e-5 {
				t.Errorf("merged logits differ: rel %.3g", maxRel(got, want))
			}
			hc, err := hf.LoadConfig(filepath.Join(out, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			if hc.NumLabels != 3 || !strings.HasSuffix(hc.Architectures[0], "ForSequenceClassification") {
				t.Errorf("config: %d labels, %v", hc.NumLabels, hc.Architectures)
			}
			if _, ok := merged.Extra["classifier.weight"]; !ok && arch == "bert" {
				t.Error("merged checkpoint lacks classifier.weight")
			}
			if got := merged.P.Layers[1].QB; maxRel(got, bias) != 0 {
				t.Error("trained bias not merged")
			}
			// --base-only: the base with the adapter's classifier; adapter on top gives the same logits.
			out2 := t.TempDir()
			if err := WriteMerged(out2, base, tinyModel(t, arch), a, false); err != nil {
				t.Fatal(err)
			}
			b2, err := model.Load(out2)
			if err != nil {
				t.Fatal(err)
			}
			a.ApplyBias(b2)
			if got := logits(b2, a, b); maxRel(got, want) > 1e-6 {
				t.Errorf("base-only + adapter logits differ: rel %.3g", maxRel(got, want))
			}
		})
	}
	m := tinyModel(t, "bert")
	r, _ := ParseRanks("2", []string{model.Value}, 3)
	a, _ := New(m.Cfg, r, Options{Convention: Standard, Alpha: 8, AlphaMode: AlphaFix}, model.HeadPaper, 2)
	if err := WriteMerged(t.TempDir(), t.TempDir(), m, a, true); err == nil {
		t.Error("paper head merged")
	}
}

// writeBase saves a random model as a Hugging Face folder.
func writeBase(t *testing.T, dir string, m *model.Model) {
	t.Helper()
	c := m.Cfg
	hc := &hf.Config{ModelType: c.Arch, VocabSize: c.Vocab, HiddenSize: c.Hidden, NumHiddenLayers: c.Layers,
		NumAttentionHeads: c.Heads, IntermediateSize: c.Inter, HiddenAct: c.Act, LayerNormEps: float64(c.Eps),
		MaxPositionEmbeddings: c.MaxPos, TypeVocabSize: c.TypeVocab, PadTokenID: c.PadID,
		HiddenDropoutProb: float64(c.HiddenDrop), AttentionProbsDropoutProb: float64(c.AttnDrop), Raw: map[string]any{}}
	if err := hc.Save(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	var ts []hf.WTensor
	for _, n := range m.P.Named(c) {
		ts = append(ts, hf.WTensor{Name: c.Arch + "." + n.Name, Shape: n.Shape, F32: n.Data})
	}
	if err := hf.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "vocab.txt"), []byte("[PAD]\n"), 0o644)
}

// Keys with the adapter name (older PEFT) load like the current ones.
func TestLoadPEFTOldKeyNames(t *testing.T) {
	m := tinyModel(t, "roberta")
	r, _ := ParseRanks("2", []string{model.Query}, 3)
	a, _ := New(m.Cfg, r, Options{Convention: Standard, Alpha: 16, AlphaMode: AlphaFix}, model.HeadHF, 2)
	randomize(a, 3)
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, MetaFile))
	var ts []hf.WTensor
	for _, wt := range a.Tensors() {
		wt.Name = strings.Replace(strings.Replace(wt.Name, ".weight", ".default.weight", 1), "classifier.", "classifier.modules_to_save.default.", 1)
		ts = append(ts, wt)
	}
	if err := hf.WriteSafetensors(filepath.Join(dir, TensorFile), ts, nil); err != nil {
		t.Fatal(err)
	}
	a2, err := Load(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	b := tinyBatch(m.Cfg, 2, 5, 1)
	if e := maxRel(logits(m, a2, b), logits(m, a, b)); e > 1e-6 {
		t.Errorf("logits rel err %.3g", e)
	}
}
