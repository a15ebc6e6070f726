package lora

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/report"
)

// Files of an adapter folder.
const (
	MetaFile    = "adarank_adapter.json"      // adarank's description (always written)
	TensorFile  = "adapter_model.safetensors" // tensors, PEFT's key names where PEFT has them
	PEFTConfig  = "adapter_config.json"       // only for PEFT-compatible adapters
	peftPrefix  = "base_model.model."
	formatName  = "adarank-lora"
	formatVersn = 1
)

// meta is adarank_adapter.json.
type meta struct {
	Format     string       `json:"format"`
	Version    int          `json:"version"`
	ModelType  string       `json:"model_type"`
	Hidden     int          `json:"hidden_size"`
	Convention string       `json:"convention"`
	Alpha      float64      `json:"lora_alpha,omitempty"`
	AlphaMode  string       `json:"alpha_mode,omitempty"`
	Head       string       `json:"head"`
	NumClasses int          `json:"num_classes"`
	Classes    []string     `json:"classes,omitempty"`
	TrainBias  bool         `json:"train_bias"`
	BaseModel  string       `json:"base_model,omitempty"`
	BaseHash   string       `json:"base_sha256,omitempty"`
	PEFT       bool         `json:"peft_compatible"`
	WhyNotPEFT string       `json:"why_not_peft,omitempty"`
	Input      *InputShape  `json:"input,omitempty"`
	Modules    []metaModule `json:"modules"`
}

type metaModule struct {
	Name  string  `json:"name"`
	Type  string  `json:"type"`
	Layer int     `json:"layer"`
	Rank  int     `json:"rank"`
	Alpha float64 `json:"alpha"`
	Scale float64 `json:"scale"`
}

// loraKey is the PEFT tensor name of a module's factor ("A" or "B").
func loraKey(arch, typ string, layer int, ab string) string {
	return peftPrefix + model.HFName(arch, typ, layer) + ".lora_" + ab + ".weight"
}

// headKeys gives the tensor names of a head's W1, B1, W2, B2 (W1/B1 "" when absent).
func headKeys(kind, arch string) (w1, b1, w2, b2 string) {
	switch {
	case kind == model.HeadPaper:
		return "head.dense.weight", "head.dense.bias", "head.out.weight", "head.out.bias"
	case arch == "roberta":
		p := peftPrefix + "classifier."
		return p + "dense.weight", p + "dense.bias", p + "out_proj.weight", p + "out_proj.bias"
	}
	return "", "", peftPrefix + "classifier.weight", peftPrefix + "classifier.bias"
}

// Tensors returns the adapter's tensors under their saved names.
func (a *Adapter) Tensors() []hf.WTensor {
	var ts []hf.WTensor
	a.Ad.Each(func(l int, typ string, m *model.LoRA) {
		in, out := len(m.A)/m.R, len(m.B)/m.R
		ts = append(ts,
			hf.WTensor{Name: loraKey(a.Arch, typ, l, "A"), Shape: []int{m.R, in}, F32: m.A},
			hf.WTensor{Name: loraKey(a.Arch, typ, l, "B"), Shape: []int{out, m.R}, F32: m.B})
		if a.Bias != nil {
			if b := a.Bias[l][model.ModuleIndex(typ)]; b != nil {
				ts = append(ts, hf.WTensor{Name: peftPrefix + model.HFName(a.Arch, typ, l) + ".bias", Shape: []int{len(b)}, F32: b})
			}
		}
	})
	h := a.Head
	w1, b1, w2, b2 := headKeys(h.Kind, a.Arch)
	if h.W1 != nil {
		ts = append(ts, hf.WTensor{Name: w1, Shape: []int{h.H, h.H}, F32: h.W1}, hf.WTensor{Name: b1, Shape: []int{h.H}, F32: h.B1})
	}
	ts = append(ts, hf.WTensor{Name: w2, Shape: []int{h.C, h.H}, F32: h.W2}, hf.WTensor{Name: b2, Shape: []int{h.C}, F32: h.B2})
	return ts
}

func (a *Adapter) meta() meta {
	ok, why := a.PEFTCompatible()
	mt := meta{Format: formatName, Version: formatVersn, ModelType: a.Arch, Hidden: a.Head.H, Convention: a.Convention,
		Alpha: a.Alpha, AlphaMode: a.AlphaMode, Head: a.Head.Kind, NumClasses: a.Head.C, Classes: a.Classes,
		TrainBias: a.HasBias(), BaseModel: a.BaseModel, BaseHash: a.BaseHash, PEFT: ok, WhyNotPEFT: why, Input: a.Input}
	a.Ad.Each(func(l int, typ string, m *model.LoRA) {
		mt.Modules = append(mt.Modules, metaModule{Name: model.HFName(a.Arch, typ, l), Type: typ, Layer: l, Rank: m.R,
			Alpha: a.Alphas[l][model.ModuleIndex(typ)], Scale: float64(m.Scale)})
	})
	return mt
}

// Save writes the adapter to dir: adapter_model.safetensors and
// adarank_adapter.json always, adapter_config.json when PEFT can load the
// adapter (a stale one is removed otherwise). Each file is written
// atomically.
func (a *Adapter) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	if err := writeTensors(filepath.Join(dir, TensorFile), a.Tensors(), map[string]string{"format": "pt"}); err != nil {
		return err
	}
	if ok, _ := a.PEFTCompatible(); ok {
		cfg, err := a.PEFTConfig()
		if err != nil {
			return err
		}
		if err := cfg.Save(filepath.Join(dir, PEFTConfig)); err != nil {
			return err
		}
	} else if err := os.Remove(filepath.Join(dir, PEFTConfig)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("save adapter: %w", err)
	}
	return report.WriteJSON(filepath.Join(dir, MetaFile), a.meta())
}

// writeTensors is hf.WriteSafetensors; tests replace it to simulate failed writes.
var writeTensors = hf.WriteSafetensors

// moduleRanks lists the adapted modules for the adarank package's PEFT helpers.
func (a *Adapter) moduleRanks() []adarank.ModuleRank {
	var mr []adarank.ModuleRank
	a.Ad.Each(func(l int, typ string, m *model.LoRA) {
		mr = append(mr, adarank.ModuleRank{Type: typ, Layer: l, Rank: m.R})
	})
	return mr
}

// PEFTConfig builds adapter_config.json: r is the most common rank and
// rank_pattern lists every adapted module; lora_alpha is Alpha (standard) or
// r (faithful), alpha_pattern lists every module whose alpha differs.
// target_modules are the short type names when every layer of a type is
// adapted, else exact per-layer module names.
func (a *Adapter) PEFTConfig() (*hf.AdapterConfig, error) {
	mr := a.moduleRanks()
	c := hf.NewAdapterConfig()
	c.TaskType = "SEQ_CLS"
	c.InferenceMode = true
	count := map[int]int{}
	for _, m := range mr {
		count[m.Rank]++
	}
	best := 0
	for r, n := range count {
		if n > count[best] || n == count[best] && r < best {
			best = r
		}
	}
	c.R = best
	rp, err := adarank.RankPattern(mr, a.Arch)
	if err != nil {
		return nil, err
	}
	c.RankPattern = rp
	c.LoraAlpha = a.Alpha
	if a.Convention == Faithful {
		c.LoraAlpha = float64(best)
		c.InitLoraWeights = false // A and B both random (Glorot)
	}
	c.AlphaPattern = map[string]float64{}
	a.Ad.Each(func(l int, typ string, _ *model.LoRA) {
		if al := a.Alphas[l][model.ModuleIndex(typ)]; al != c.LoraAlpha {
			suf, _ := adarank.ModuleSuffix(typ)
			c.AlphaPattern[fmt.Sprintf("layer.%d.%s", l, suf)] = al
		}
	})
	full := true
	for _, typ := range a.Ranks.Types() {
		for l := range a.Ranks {
			if a.Ranks[l][model.ModuleIndex(typ)] == 0 {
				full = false
			}
		}
	}
	var tm []string
	if full {
		tm, err = adarank.TargetModules(a.Ranks.Types())
	}
	if !full || err != nil {
		tm, err = adarank.ModuleTargets(mr)
		if err != nil {
			return nil, err
		}
	}
	c.TargetModules = tm
	c.ModulesToSave = []string{"classifier"}
	c.BaseModelNameOrPath = a.BaseModel
	return c, nil
}

// Load reads an adapter folder written by Save, or one saved by PEFT
// (adapter_config.json + adapter_model.safetensors), for the base model m.
func Load(dir string, m *model.Model) (*Adapter, error) {
	if _, err := os.Stat(filepath.Join(dir, MetaFile)); err == nil {
		return loadOwn(dir, m)
	}
	if _, err := os.Stat(filepath.Join(dir, PEFTConfig)); err == nil {
		return LoadPEFT(dir, m)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	return nil, fmt.Errorf("adapter: %s holds neither %s nor %s", dir, MetaFile, PEFTConfig)
}

// tensorSet reads the adapter tensors and tracks which were used.
type tensorSet struct {
	path string
	f    *hf.File
	used map[string]bool
}

func readTensorSet(path string) (*tensorSet, error) {
	if _, err := os.Stat(path); err != nil {
		if bin := filepath.Join(filepath.Dir(path), "adapter_model.bin"); fileExists(bin) {
			return nil, fmt.Errorf("adapter: %s not found, only %s: adarank reads safetensors only (save the adapter with save_pretrained(..., safe_serialization=True))", path, bin)
		}
	}
	f, err := hf.ReadSafetensors(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	// Older PEFT versions kept the adapter name in saved keys.
	for _, n := range f.Order {
		c := strings.Replace(strings.Replace(n, ".modules_to_save.default.", ".", 1), ".default.weight", ".weight", 1)
		if c != n && f.Tensors[c] == nil {
			f.Tensors[c] = f.Tensors[n]
			delete(f.Tensors, n)
		}
	}
	f.Order = f.Order[:0]
	for n := range f.Tensors {
		f.Order = append(f.Order, n)
	}
	sort.Strings(f.Order)
	return &tensorSet{path: path, f: f, used: map[string]bool{}}, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// get returns a tensor's values, checking its shape; missing is an error.
func (s *tensorSet) get(name string, shape ...int) ([]float32, error) {
	t := s.f.Tensors[name]
	if t == nil {
		return nil, fmt.Errorf("adapter: %s lacks tensor %s", s.path, name)
	}
	if !sameInts(t.Shape, shape) {
		return nil, fmt.Errorf("adapter: %s: %s has shape %v, want %v", s.path, name, t.Shape, shape)
	}
	v, err := t.Float32()
	if err != nil {
		return nil, fmt.Errorf("adapter: %s: %w", s.path, err)
	}
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("adapter: %s: %s holds NaN or Inf", s.path, name)
		}
	}
	s.used[name] = true
	return v, nil
}

func (s *tensorSet) unused() []string {
	var out []string
	for n := range s.f.Tensors {
		if !s.used[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func loadOwn(dir string, m *model.Model) (*Adapter, error) {
	path := filepath.Join(dir, MetaFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	var mt meta
	if err := json.Unmarshal(data, &mt); err != nil {
		return nil, fmt.Errorf("adapter: %s: %v", path, err)
	}
	c := m.Cfg
	switch {
	case mt.Format != formatName:
		return nil, fmt.Errorf("adapter: %s: format %q is not %s", path, mt.Format, formatName)
	case mt.Version != formatVersn:
		return nil, fmt.Errorf("adapter: %s: version %d not supported (want %d)", path, mt.Version, formatVersn)
	case mt.ModelType != c.Arch || mt.Hidden != c.Hidden:
		return nil, fmt.Errorf("adapter: %s is for a %s model of hidden size %d, the base is %s with %d", path, mt.ModelType, mt.Hidden, c.Arch, c.Hidden)
	case mt.Convention != Standard && mt.Convention != Faithful:
		return nil, fmt.Errorf("adapter: %s: unknown convention %q", path, mt.Convention)
	}
	r := make(Ranks, c.Layers)
	al := make([][6]float64, c.Layers)
	for _, mm := range mt.Modules {
		t := model.ModuleIndex(mm.Type)
		if t < 0 || mm.Layer < 0 || mm.Layer >= c.Layers || mm.Rank <= 0 || !(mm.Alpha > 0) {
			return nil, fmt.Errorf("adapter: %s: bad module entry %+v for a %d-layer model", path, mm, c.Layers)
		}
		if r[mm.Layer][t] != 0 {
			return nil, fmt.Errorf("adapter: %s: module %s listed twice", path, mm.Name)
		}
		r[mm.Layer][t], al[mm.Layer][t] = mm.Rank, mm.Alpha
	}
	if r.NumAdapted() == 0 {
		return nil, fmt.Errorf("adapter: %s lists no modules", path)
	}
	a := &Adapter{Arch: c.Arch, Convention: mt.Convention, Alpha: mt.Alpha, AlphaMode: mt.AlphaMode, Ranks: r, Alphas: al,
		Classes: mt.Classes, BaseModel: mt.BaseModel, BaseHash: mt.BaseHash, Input: mt.Input}
	if a.Ad, err = model.NewAdapters(c, r, scales(r, al)); err != nil {
		return nil, fmt.Errorf("adapter: %s: %w", path, err)
	}
	if a.Head, err = model.NewHead(mt.Head, c.Arch, c.Hidden, mt.NumClasses); err != nil {
		return nil, fmt.Errorf("adapter: %s: %w", path, err)
	}
	ts, err := readTensorSet(filepath.Join(dir, TensorFile))
	if err != nil {
		return nil, err
	}
	if err := a.readFactors(ts, mt.TrainBias); err != nil {
		return nil, err
	}
	if err := a.readHead(ts); err != nil {
		return nil, err
	}
	if u := ts.unused(); len(u) > 0 {
		return nil, fmt.Errorf("adapter: %s: unexpected tensors %s", ts.path, strings.Join(u, ", "))
	}
	return a, nil
}

// readFactors fills the LoRA factors (and biases) from the tensor file.
func (a *Adapter) readFactors(ts *tensorSet, bias bool) error {
	var err error
	if bias {
		a.Bias = make([][6][]float32, len(a.Ranks))
	}
	a.Ad.Each(func(l int, typ string, m *model.LoRA) {
		if err != nil {
			return
		}
		in, out := len(m.A)/m.R, len(m.B)/m.R
		var v []float32
		if v, err = ts.get(loraKey(a.Arch, typ, l, "A"), m.R, in); err != nil {
			return
		}
		copy(m.A, v)
		if v, err = ts.get(loraKey(a.Arch, typ, l, "B"), out, m.R); err != nil {
			return
		}
		copy(m.B, v)
		if bias {
			if v, err = ts.get(peftPrefix+model.HFName(a.Arch, typ, l)+".bias", out); err != nil {
				return
			}
			a.Bias[l][model.ModuleIndex(typ)] = v
		}
	})
	return err
}

// readHead fills the head from the tensor file.
func (a *Adapter) readHead(ts *tensorSet) error {
	h := a.Head
	w1, b1, w2, b2 := headKeys(h.Kind, a.Arch)
	type part struct {
		name  string
		dst   []float32
		shape []int
	}
	parts := []part{{w2, h.W2, []int{h.C, h.H}}, {b2, h.B2, []int{h.C}}}
	if h.W1 != nil {
		parts = append(parts, part{w1, h.W1, []int{h.H, h.H}}, part{b1, h.B1, []int{h.H}})
	}
	for _, p := range parts {
		v, err := ts.get(p.name, p.shape...)
		if err != nil {
			return err
		}
		copy(p.dst, v)
	}
	return nil
}

// moduleRe parses "<arch>.encoder.layer.<N>.<suffix>".
var moduleRe = regexp.MustCompile(`^(bert|roberta)\.encoder\.layer\.(\d+)\.(attention\.self\.query|attention\.self\.key|attention\.self\.value|attention\.output\.dense|intermediate\.dense|output\.dense)$`)

var suffixType = map[string]string{
	"attention.self.query": model.Query, "attention.self.key": model.Key, "attention.self.value": model.Value,
	"attention.output.dense": model.AttnOut, "intermediate.dense": model.FFNIn, "output.dense": model.FFNOut,
}

// patternKey resolves a PEFT rank_pattern / alpha_pattern key for a module
// as PEFT's get_pattern_key does: the first key k (in file order) with
// re.match(rf"(.*\.)?({k})$", name).
func patternKey(keys []string, name string) (string, error) {
	for _, k := range keys {
		re, err := regexp.Compile(`^(?:.*\.)?(?:` + k + `)$`)
		if err != nil {
			return "", fmt.Errorf("pattern key %q is not a regular expression adarank can read: %v", k, err)
		}
		if re.MatchString(name) {
			return k, nil
		}
	}
	return "", nil
}

// orderedKeys returns the keys of the JSON object at top-level field in file order.
func orderedKeys(data []byte, field string) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || top[field] == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(top[field]))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

// LoadPEFT reads an adapter saved by PEFT's save_pretrained for a LoRA
// sequence classifier. Ranks come from the tensor shapes (checked against
// r / rank_pattern), scales from lora_alpha / alpha_pattern (alpha/√r with
// use_rslora). The classifier comes from the adapter (modules_to_save) or,
// if it has none, from the base checkpoint.
func LoadPEFT(dir string, m *model.Model) (*Adapter, error) {
	cpath := filepath.Join(dir, PEFTConfig)
	raw, err := os.ReadFile(cpath)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	cfg, err := hf.ParseAdapterConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("adapter: %s: %w", cpath, err)
	}
	switch {
	case cfg.UseDora:
		return nil, fmt.Errorf("adapter: %s uses DoRA (use_dora), which adarank does not implement", cpath)
	case cfg.FanInFanOut:
		return nil, fmt.Errorf("adapter: %s sets fan_in_fan_out, which does not apply to BERT/RoBERTa Linear layers", cpath)
	case cfg.TaskType != "" && cfg.TaskType != "SEQ_CLS":
		return nil, fmt.Errorf("adapter: %s has task_type %s; adarank loads sequence-classification (SEQ_CLS) adapters", cpath, cfg.TaskType)
	}
	c := m.Cfg
	tpath := filepath.Join(dir, TensorFile)
	ts, err := readTensorSet(tpath)
	if err != nil {
		return nil, err
	}
	rankKeys, alphaKeys := orderedKeys(raw, "rank_pattern"), orderedKeys(raw, "alpha_pattern")
	r := make(Ranks, c.Layers)
	al := make([][6]float64, c.Layers)
	found := map[string]bool{}
	for _, name := range ts.f.Order {
		base, ok := strings.CutPrefix(name, peftPrefix)
		if !ok {
			return nil, fmt.Errorf("adapter: %s: tensor %s does not start with %s", tpath, name, peftPrefix)
		}
		mod, isA := strings.CutSuffix(base, ".lora_A.weight")
		if !isA {
			if mod2, isB := strings.CutSuffix(base, ".lora_B.weight"); isB {
				if ts.f.Tensors[peftPrefix+mod2+".lora_A.weight"] == nil {
					return nil, fmt.Errorf("adapter: %s: %s has no matching lora_A", tpath, name)
				}
			}
			continue
		}
		sm := moduleRe.FindStringSubmatch(mod)
		if sm == nil {
			return nil, fmt.Errorf("adapter: %s: LoRA on %s, which adarank cannot adapt (query, key, value, attention.output.dense, intermediate.dense, output.dense of a bert/roberta encoder)", tpath, mod)
		}
		if sm[1] != c.Arch {
			return nil, fmt.Errorf("adapter: %s is for a %s model, the base is %s", tpath, sm[1], c.Arch)
		}
		l, _ := strconv.Atoi(sm[2])
		if l >= c.Layers {
			return nil, fmt.Errorf("adapter: %s: %s is beyond the base's %d layers", tpath, mod, c.Layers)
		}
		typ := suffixType[sm[3]]
		t := ts.f.Tensors[name]
		if len(t.Shape) != 2 || t.Shape[0] <= 0 {
			return nil, fmt.Errorf("adapter: %s: %s has shape %v", tpath, name, t.Shape)
		}
		rank := t.Shape[0]
		want := cfg.R
		k, err := patternKey(rankKeys, mod)
		if err != nil {
			return nil, fmt.Errorf("adapter: %s: %w", cpath, err)
		}
		if k != "" {
			want = cfg.RankPattern[k]
		}
		if rank != want {
			return nil, fmt.Errorf("adapter: %s: %s has rank %d but %s gives %d", tpath, mod, rank, PEFTConfig, want)
		}
		alpha := cfg.LoraAlpha
		if k, err = patternKey(alphaKeys, mod); err != nil {
			return nil, fmt.Errorf("adapter: %s: %w", cpath, err)
		} else if k != "" {
			alpha = cfg.AlphaPattern[k]
		}
		if cfg.UseRslora {
			alpha *= math.Sqrt(float64(rank)) // scale alpha/√r = (alpha·√r)/r
		}
		if !(alpha > 0) {
			return nil, fmt.Errorf("adapter: %s: %s has alpha %v", cpath, mod, alpha)
		}
		r[l][model.ModuleIndex(typ)], al[l][model.ModuleIndex(typ)] = rank, alpha
		found[mod] = true
	}
	if r.NumAdapted() == 0 {
		return nil, fmt.Errorf("adapter: %s holds no LoRA weights", tpath)
	}
	a := &Adapter{Arch: c.Arch, Convention: Standard, Alpha: cfg.LoraAlpha, AlphaMode: AlphaFix, Ranks: r, Alphas: al,
		BaseModel: cfg.BaseModelNameOrPath}
	if len(cfg.AlphaPattern) > 0 {
		a.AlphaMode = "pattern"
	}
	if a.Ad, err = model.NewAdapters(c, r, scales(r, al)); err != nil {
		return nil, fmt.Errorf("adapter: %s: %w", tpath, err)
	}
	if err := a.readFactors(ts, false); err != nil {
		return nil, err
	}
	// Trained biases (bias "lora_only"/"all") of adapted modules.
	for _, name := range ts.f.Order {
		mod, ok := strings.CutSuffix(strings.TrimPrefix(name, peftPrefix), ".bias")
		if !ok || !found[mod] {
			continue
		}
		sm := moduleRe.FindStringSubmatch(mod)
		l, _ := strconv.Atoi(sm[2])
		typ := suffixType[sm[3]]
		_, out := c.ModuleDims(typ)
		v, err := ts.get(name, out)
		if err != nil {
			return nil, err
		}
		if a.Bias == nil {
			a.Bias = make([][6][]float32, c.Layers)
		}
		a.Bias[l][model.ModuleIndex(typ)] = v
	}
	if err := a.peftHead(ts, m); err != nil {
		return nil, err
	}
	if u := ts.unused(); len(u) > 0 {
		return nil, fmt.Errorf("adapter: %s: tensors adarank cannot place: %s", tpath, strings.Join(u, ", "))
	}
	for i := range a.Head.C {
		name, ok := c.ID2Label[i]
		if !ok || len(c.ID2Label) != a.Head.C {
			a.Classes = nil
			break
		}
		a.Classes = append(a.Classes, name)
	}
	return a, nil
}

// peftHead reads the hf classifier from the adapter, else from the base checkpoint.
func (a *Adapter) peftHead(ts *tensorSet, m *model.Model) error {
	c := m.Cfg
	_, _, w2, _ := headKeys(model.HeadHF, c.Arch)
	if t := ts.f.Tensors[w2]; t != nil {
		if len(t.Shape) != 2 || t.Shape[1] != c.Hidden {
			return fmt.Errorf("adapter: %s: %s has shape %v, want [classes, %d]", ts.path, w2, t.Shape, c.Hidden)
		}
		h, err := model.NewHead(model.HeadHF, c.Arch, c.Hidden, t.Shape[0])
		if err != nil {
			return fmt.Errorf("adapter: %s: %w", ts.path, err)
		}
		a.Head = h
		return a.readHead(ts)
	}
	// No modules_to_save in the adapter: the base checkpoint's classifier.
	name := strings.TrimPrefix(w2, peftPrefix)
	w, ok := m.Extra[name]
	if !ok || len(w.Shape) != 2 || w.Shape[1] != c.Hidden {
		return fmt.Errorf("adapter: %s saves no classifier and the base model has no %s of shape [classes, %d]", ts.path, name, c.Hidden)
	}
	h, err := model.NewHead(model.HeadHF, c.Arch, c.Hidden, w.Shape[0])
	if err != nil {
		return fmt.Errorf("adapter: base classifier: %w", err)
	}
	w1, b1, _, b2 := headKeys(model.HeadHF, c.Arch)
	for _, p := range []struct {
		name string
		dst  []float32
	}{{w1, h.W1}, {b1, h.B1}, {w2, h.W2}, {b2, h.B2}} {
		if p.dst == nil {
			continue
		}
		e, ok := m.Extra[strings.TrimPrefix(p.name, peftPrefix)]
		if !ok || len(e.Data) != len(p.dst) {
			return fmt.Errorf("adapter: the base model's %s is missing or has the wrong size", strings.TrimPrefix(p.name, peftPrefix))
		}
		copy(p.dst, e.Data)
	}
	a.Head = h
	a.Notes = append(a.Notes, "classifier taken from the base checkpoint (the adapter saves none)")
	return nil
}
