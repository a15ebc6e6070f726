// Package study runs the AdaRank study (issue 8): a grid of LoRA training
// runs that compares rank sources (AdaRank, uniform, random with the same
// budget, AdaRank reversed across layers) over module settings, average
// ranks, seeds, tasks, training settings and models, and reports the results
// with paired statistics.
//
// Layout of a study folder DIR:
//
//	DIR/study.json              the configuration of the last run
//	DIR/cells.jsonl             one line per grid cell: coordinates, status, result
//	DIR/cells/<id>/             one training run (train.Train's files: summary.json, ...)
//	DIR/cells/<id>/cell.json    the cell's specification, ranks and fingerprint
//	DIR/importance/<key>.json   cached importance sweeps, one per (model, module set, probes)
//	DIR/results.json, results.md, importance-<model>.svg   written by Report
//
// Finished cells (summary.json present) are skipped, interrupted ones (a
// checkpoint but no summary) resume with train's bit-exact resume, and a cell
// whose folder was made with other settings is refused rather than mixed.
package study

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/data"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/train"
)

// Rank sources.
const (
	SourceAdaRank  = "adarank"          // disagreement-based allocation (predict's settings)
	SourceUniform  = "uniform"          // rank r on every module
	SourceRandom   = "random"           // random importances, same allocation rule and budget
	SourceReversed = "adarank-reversed" // AdaRank's ranks reversed across layers
)

// Sources lists the rank sources in report order.
var Sources = []string{SourceAdaRank, SourceUniform, SourceRandom, SourceReversed}

// Presets of a training setting.
const (
	PresetReference = "reference" // `train --preset reference`: faithful LoRA, paper head, lr 1e-3, 500 steps
	PresetStandard  = "standard"  // `train`'s defaults: PEFT-style LoRA, hf head
)

// EmbeddedModel names the embedded default encoder in a config.
const EmbeddedModel = "embedded"

// Config is study.json.
type Config struct {
	Name     string      `json:"name"`
	DataRoot string      `json:"data_root"` // default folder of a task's data: DataRoot/<task> (default ../shared/data)
	Models   []ModelSpec `json:"models"`    // default: the embedded model
	Tasks    []TaskSpec  `json:"tasks"`
	Sources  []string    `json:"sources"`   // default: all four
	Modules  []string    `json:"modules"`   // module settings: a type, a comma list of types, or "all" (query,key,value,attn-out)
	AvgRanks []int       `json:"avg_ranks"` // average rank r per module
	Seeds    []uint64    `json:"seeds"`
	Settings []Setting   `json:"settings"`
	Sweep    SweepConfig `json:"sweep"`
}

// ModelSpec is one model of the study: the embedded encoder (path "" or
// "embedded") or a Hugging Face model folder. In JSON a plain string is the path.
type ModelSpec struct {
	Name string `json:"name"` // label in cell ids and reports (default: "embedded" or the folder's base name)
	Path string `json:"path,omitempty"`
}

// TaskSpec is one data set. In JSON a plain string is the task name.
type TaskSpec struct {
	Name    string `json:"name"`           // label in cell ids and reports
	Loader  string `json:"loader"`         // data.LoadTask task (default: Name; "generic" for CSV/TSV/JSONL)
	Data    string `json:"data"`           // data folder or file (default: DataRoot/Name)
	MaxVal  int    `json:"max_val"`        // use at most this many validation rows (fixed-seed subset; 0 = all)
	MaxTest int    `json:"max_test"`       // use at most this many test rows (fixed-seed subset; 0 = all)
	Note    string `json:"note,omitempty"` // shown in the report (e.g. "stand-in for Yelp polarity")
}

// Setting is one training recipe. Fields absent from the JSON take the
// values of its preset (PresetReference or PresetStandard).
type Setting struct {
	Name        string   `json:"name"`
	Preset      string   `json:"preset"`
	Modules     []string `json:"modules,omitempty"` // restrict the study's module settings (nil: all)
	LoRA        string   `json:"lora"`              // standard | faithful
	Alpha       float64  `json:"alpha"`
	AlphaMode   string   `json:"alpha_mode"`
	TrainBias   bool     `json:"train_bias"`
	Head        string   `json:"head"` // hf | paper
	Steps       int      `json:"steps"`
	Batch       int      `json:"batch"`
	GradAccum   int      `json:"grad_accum"`
	LR          float64  `json:"lr"`
	Schedule    string   `json:"schedule"`
	Warmup      int      `json:"warmup"`
	DecaySteps  int      `json:"decay_steps"`
	DecayRate   float64  `json:"decay_rate"`
	Beta1       float64  `json:"adam_beta1"`
	Beta2       float64  `json:"adam_beta2"`
	Eps         float64  `json:"adam_eps"`
	WeightDecay float64  `json:"weight_decay"`
	Loss        string   `json:"loss"`
	MaxLen      int      `json:"max_len"` // shrinks to the model's maximum
	Pad         string   `json:"pad"`
	NoMask      bool     `json:"no_attention_mask"`
	Dropout     float64  `json:"dropout"`      // hidden and attention dropout; -1: the model's config
	HeadDropout float64  `json:"head_dropout"` // -1: classifier_dropout, else hidden dropout (as transformers)
	EvalEvery   int      `json:"eval_every"`
	EvalBatch   int      `json:"eval_batch"` // 0: Batch
}

// SweepConfig are the importance-sweep and allocation settings of the
// AdaRank source (defaults: those of `adarank predict`).
type SweepConfig struct {
	Trials      int     `json:"trials"`
	Seed        uint64  `json:"seed"`
	NoiseScale  float64 `json:"noise_scale"`
	NoBiasNoise bool    `json:"no_bias_noise"`
	Against     string  `json:"against"`
	Output      string  `json:"output"`
	Probes      string  `json:"probes"`  // "reference" (the notebook's nine sentences), "task" (a sample of each task's train split) or "file:PATH"
	ProbeN      int     `json:"probe_n"` // task probes
	MaxLen      int     `json:"max_len"` // 0: min(128, the model's maximum)
	Rounding    string  `json:"rounding"`
	MinRank     int     `json:"min_rank"` // largest-remainder only
	MaxRank     int     `json:"max_rank"` // largest-remainder only; 0 = none
	Joint       bool    `json:"joint"`    // one budget across the types of a multi-type module setting
}

// DefaultSweep returns predict's default sweep and allocation settings.
func DefaultSweep() SweepConfig {
	return SweepConfig{Trials: 5, Seed: 1, NoiseScale: 1, Against: adarank.AgainstCopies, Output: adarank.OutputPooled,
		Probes: "reference", ProbeN: 64, Rounding: string(adarank.RoundLargestRemainder), MinRank: 1}
}

// PresetSetting returns the recipe of a preset.
func PresetSetting(preset string) (Setting, error) {
	switch preset {
	case PresetReference:
		// train's referencePreset (../shared/docs/adarank-reference.md §(d)).
		return Setting{Preset: preset, LoRA: lora.Faithful, Head: model.HeadPaper, TrainBias: true, Loss: train.LossSum,
			Schedule: train.Staircase, LR: 1e-3, DecaySteps: 1000, DecayRate: 0.8, Beta1: 0.9, Beta2: 0.999, Eps: 1e-7,
			MaxLen: 512, Pad: train.PadMax, NoMask: true, Batch: 256, Steps: 500, EvalEvery: 100, GradAccum: 1,
			Dropout: -1, HeadDropout: -1}, nil
	case PresetStandard:
		// train's flag defaults: PEFT's LoRA (alpha 16, fixed), the architecture's head.
		return Setting{Preset: preset, LoRA: lora.Standard, Alpha: lora.DefaultAlpha, AlphaMode: lora.AlphaFix,
			Head: model.HeadHF, Loss: train.LossMean, Schedule: train.Linear, LR: 1e-3, DecaySteps: 1000, DecayRate: 0.8,
			Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxLen: 128, Pad: train.PadLongest, Batch: 32, Steps: 500,
			EvalEvery: 100, GradAccum: 1, Dropout: -1, HeadDropout: -1}, nil
	}
	return Setting{}, fmt.Errorf("unknown preset %q (want %s or %s)", preset, PresetReference, PresetStandard)
}

// decodeStrict decodes JSON into v, refusing unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// UnmarshalJSON fills the preset's values, then the fields given.
func (s *Setting) UnmarshalJSON(b []byte) error {
	var head struct {
		Preset string `json:"preset"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	if head.Preset == "" {
		return fmt.Errorf("a setting needs a \"preset\" (%s or %s)", PresetReference, PresetStandard)
	}
	def, err := PresetSetting(head.Preset)
	if err != nil {
		return err
	}
	type plain Setting // no UnmarshalJSON: no recursion
	p := plain(def)
	if err := decodeStrict(b, &p); err != nil {
		return fmt.Errorf("setting: %w", err)
	}
	*s = Setting(p)
	return nil
}

// UnmarshalJSON accepts a path string or an object.
func (m *ModelSpec) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*m = ModelSpec{Path: s}
		return nil
	}
	type plain ModelSpec
	var p plain
	if err := decodeStrict(b, &p); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	*m = ModelSpec(p)
	return nil
}

// UnmarshalJSON accepts a task name or an object.
func (t *TaskSpec) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*t = TaskSpec{Name: s}
		return nil
	}
	type plain TaskSpec
	var p plain
	if err := decodeStrict(b, &p); err != nil {
		return fmt.Errorf("task: %w", err)
	}
	*t = TaskSpec(p)
	return nil
}

// IsEmbedded reports whether the spec names the embedded model.
func (m ModelSpec) IsEmbedded() bool { return m.Path == "" || m.Path == EmbeddedModel }

// ParseConfig decodes and validates a study configuration.
func ParseConfig(b []byte) (*Config, error) {
	c := &Config{Sweep: DefaultSweep()}
	if err := decodeStrict(b, c); err != nil {
		return nil, fmt.Errorf("study config: %w", err)
	}
	if err := c.Normalize(); err != nil {
		return nil, fmt.Errorf("study config: %w", err)
	}
	return c, nil
}

// LoadConfig reads and validates a study.json.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9_+-]+$`)

// sanitize makes a label safe for cell ids (letters, digits, _ + -).
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '+', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// ModuleTypes expands a module setting ("all", a type, or a comma list) to types.
func ModuleTypes(setting string) ([]string, error) {
	if setting == "all" {
		return []string{model.Query, model.Key, model.Value, model.AttnOut}, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(setting, ",") {
		p = strings.TrimSpace(p)
		if p == "dense" {
			p = model.AttnOut // the paper's name
		}
		if model.ModuleIndex(p) < 0 {
			return nil, fmt.Errorf("unknown module type %q in %q (want %s or all)", p, setting, strings.Join(model.ModuleTypes, ", "))
		}
		if seen[p] {
			return nil, fmt.Errorf("module type %q repeated in %q", p, setting)
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// ModulesLabel is a module setting's name in cell ids ("all", "value", "query+value").
func ModulesLabel(setting string) string {
	if setting == "all" {
		return "all"
	}
	types, err := ModuleTypes(setting)
	if err != nil {
		return sanitize(setting)
	}
	return strings.Join(types, "+")
}

// Normalize fills defaults and checks every field.
func (c *Config) Normalize() error {
	if c.Name == "" {
		c.Name = "study"
	}
	if c.DataRoot == "" {
		c.DataRoot = filepath.Join("..", "shared", "data")
	}
	if len(c.Models) == 0 {
		c.Models = []ModelSpec{{}}
	}
	seen := map[string]bool{}
	for i := range c.Models {
		m := &c.Models[i]
		if m.Path == EmbeddedModel {
			m.Path = ""
		}
		if m.Name == "" {
			if m.IsEmbedded() {
				m.Name = EmbeddedModel
			} else {
				m.Name = sanitize(filepath.Base(filepath.Clean(m.Path)))
			}
		}
		if !labelRE.MatchString(m.Name) {
			return fmt.Errorf("model name %q: use letters, digits, _ + - only", m.Name)
		}
		if seen[m.Name] {
			return fmt.Errorf("two models are named %q: give them distinct \"name\"s", m.Name)
		}
		seen[m.Name] = true
	}
	if len(c.Tasks) == 0 {
		return fmt.Errorf("no tasks")
	}
	seen = map[string]bool{}
	known := map[string]bool{}
	for _, n := range data.TaskNames() {
		known[n] = true
	}
	for i := range c.Tasks {
		t := &c.Tasks[i]
		if t.Name == "" {
			return fmt.Errorf("task %d has no name", i+1)
		}
		if !labelRE.MatchString(t.Name) {
			return fmt.Errorf("task name %q: use letters, digits, _ + - only", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("task %q listed twice", t.Name)
		}
		seen[t.Name] = true
		if t.Loader == "" {
			t.Loader = t.Name
		}
		if !known[t.Loader] {
			return fmt.Errorf("task %q: unknown loader %q (known: %s)", t.Name, t.Loader, strings.Join(data.TaskNames(), ", "))
		}
		if t.Data == "" {
			t.Data = filepath.Join(c.DataRoot, t.Name)
		}
		if t.MaxVal < 0 || t.MaxTest < 0 {
			return fmt.Errorf("task %q: max_val and max_test must not be negative", t.Name)
		}
		if t.Note == "" && t.Loader == "imdb" {
			t.Note = "IMDB is the stand-in for Yelp polarity"
		}
		if t.Note == "" && t.Loader == "ag_news" {
			t.Note = "AG News (test-carved): train = rows i % 5 != 0 of the official test file, test = i % 5 == 0"
		}
	}
	if len(c.Sources) == 0 {
		c.Sources = append([]string(nil), Sources...)
	}
	seen = map[string]bool{}
	for _, s := range c.Sources {
		ok := false
		for _, k := range Sources {
			ok = ok || s == k
		}
		if !ok {
			return fmt.Errorf("unknown rank source %q (want %s)", s, strings.Join(Sources, ", "))
		}
		if seen[s] {
			return fmt.Errorf("rank source %q listed twice", s)
		}
		seen[s] = true
	}
	if len(c.Modules) == 0 {
		return fmt.Errorf("no module settings (e.g. \"modules\": [\"value\", \"all\"])")
	}
	seen = map[string]bool{}
	for _, m := range c.Modules {
		if _, err := ModuleTypes(m); err != nil {
			return err
		}
		if seen[ModulesLabel(m)] {
			return fmt.Errorf("module setting %q listed twice", m)
		}
		seen[ModulesLabel(m)] = true
	}
	if len(c.AvgRanks) == 0 {
		return fmt.Errorf("no average ranks (e.g. \"avg_ranks\": [4, 8])")
	}
	for _, r := range c.AvgRanks {
		if r < 1 {
			return fmt.Errorf("average rank %d must be at least 1", r)
		}
	}
	if len(c.Seeds) == 0 {
		return fmt.Errorf("no seeds")
	}
	seenSeed := map[uint64]bool{}
	for _, s := range c.Seeds {
		if seenSeed[s] {
			return fmt.Errorf("seed %d listed twice", s)
		}
		seenSeed[s] = true
	}
	if len(c.Settings) == 0 {
		return fmt.Errorf("no training settings")
	}
	seen = map[string]bool{}
	for i := range c.Settings {
		s := &c.Settings[i]
		if s.Name == "" {
			s.Name = s.Preset
		}
		if !labelRE.MatchString(s.Name) {
			return fmt.Errorf("setting name %q: use letters, digits, _ + - only", s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("two settings are named %q", s.Name)
		}
		seen[s.Name] = true
		if err := s.validate(c.Modules); err != nil {
			return fmt.Errorf("setting %q: %w", s.Name, err)
		}
	}
	return c.Sweep.validate()
}

func (s *Setting) validate(modules []string) error {
	for _, m := range s.Modules {
		found := false
		for _, cm := range modules {
			found = found || ModulesLabel(cm) == ModulesLabel(m)
		}
		if !found {
			return fmt.Errorf("module setting %q is not one of the study's %v", m, modules)
		}
	}
	if err := (lora.Options{Convention: s.LoRA, Alpha: s.Alpha, AlphaMode: s.AlphaMode}).Validate(); err != nil {
		return err
	}
	if s.Head != model.HeadHF && s.Head != model.HeadPaper {
		return fmt.Errorf("unknown head %q (want %s or %s)", s.Head, model.HeadHF, model.HeadPaper)
	}
	switch {
	case s.Steps < 1:
		return fmt.Errorf("steps must be at least 1")
	case s.Batch < 1 || s.GradAccum < 1:
		return fmt.Errorf("batch and grad_accum must be at least 1")
	case s.MaxLen < 2:
		return fmt.Errorf("max_len must be at least 2")
	case s.EvalEvery < 0 || s.EvalBatch < 0:
		return fmt.Errorf("eval_every and eval_batch must not be negative")
	case s.Dropout >= 1 || s.HeadDropout >= 1:
		return fmt.Errorf("dropout must be below 1")
	case s.Loss != train.LossMean && s.Loss != train.LossSum:
		return fmt.Errorf("unknown loss %q (want mean or sum)", s.Loss)
	case s.Pad != train.PadLongest && s.Pad != train.PadMax:
		return fmt.Errorf("unknown pad %q (want longest or max)", s.Pad)
	}
	sch := train.Schedule{Kind: s.Schedule, LR: s.LR, Warmup: s.Warmup, Total: s.Steps, DecaySteps: s.DecaySteps, DecayRate: s.DecayRate}
	return sch.Validate()
}

// UsesModules reports whether the setting runs a module setting.
func (s *Setting) UsesModules(m string) bool {
	if len(s.Modules) == 0 {
		return true
	}
	for _, x := range s.Modules {
		if ModulesLabel(x) == ModulesLabel(m) {
			return true
		}
	}
	return false
}

func (w *SweepConfig) validate() error {
	if w.Trials < 1 {
		return fmt.Errorf("sweep: trials must be at least 1")
	}
	if !(w.NoiseScale > 0) {
		return fmt.Errorf("sweep: noise_scale must be positive")
	}
	if _, err := adarank.ParseRounding(w.Rounding); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if w.MinRank < 0 || w.MaxRank < 0 {
		return fmt.Errorf("sweep: min_rank and max_rank must not be negative")
	}
	switch {
	case w.Probes == "reference", w.Probes == "task", strings.HasPrefix(w.Probes, "file:"):
	default:
		return fmt.Errorf("sweep: probes %q (want reference, task or file:PATH)", w.Probes)
	}
	if w.Probes == "task" && w.ProbeN < 1 {
		return fmt.Errorf("sweep: probe_n must be at least 1")
	}
	if w.MaxLen < 0 || w.MaxLen == 1 {
		return fmt.Errorf("sweep: max_len must be 0 (default) or at least 2")
	}
	return nil
}
