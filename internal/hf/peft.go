package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

// AdapterConfig is a PEFT LoRA adapter_config.json. Field names follow
// PEFT's LoraConfig; Raw holds every key of a loaded file so Save keeps the
// ones this struct does not model (written by the PEFT version that made
// the file, hence known to it).
type AdapterConfig struct {
	PeftType            string             `json:"peft_type"` // "LORA"
	TaskType            string             `json:"task_type"` // "" (null) or a PEFT TaskType, e.g. "SEQ_CLS"
	R                   int                `json:"r"`
	LoraAlpha           float64            `json:"lora_alpha"`
	LoraDropout         float64            `json:"lora_dropout"`
	TargetModules       []string           `json:"target_modules"`
	TargetModulesRegex  string             `json:"-"` // target_modules given as one regex string
	RankPattern         map[string]int     `json:"rank_pattern"`
	AlphaPattern        map[string]float64 `json:"alpha_pattern"`
	ModulesToSave       []string           `json:"modules_to_save"`
	BaseModelNameOrPath string             `json:"base_model_name_or_path"`
	Revision            string             `json:"revision"`
	Bias                string             `json:"bias"` // none | all | lora_only
	FanInFanOut         bool               `json:"fan_in_fan_out"`
	InitLoraWeights     any                `json:"init_lora_weights"` // bool or a method name such as "gaussian"
	UseRslora           bool               `json:"use_rslora"`
	UseDora             bool               `json:"use_dora"`
	LayersToTransform   any                `json:"layers_to_transform"` // nil, int or []int
	LayersPattern       any                `json:"layers_pattern"`      // nil, string or []string
	InferenceMode       bool               `json:"inference_mode"`
	Raw                 map[string]any     `json:"-"`
}

// peftTaskTypes are PEFT's TaskType values.
var peftTaskTypes = map[string]bool{
	"SEQ_CLS": true, "SEQ_2_SEQ_LM": true, "CAUSAL_LM": true,
	"TOKEN_CLS": true, "QUESTION_ANS": true, "FEATURE_EXTRACTION": true,
}

// NewAdapterConfig returns PEFT's LoraConfig defaults (r 8, lora_alpha 8,
// no dropout, bias "none", default init).
func NewAdapterConfig() *AdapterConfig {
	return &AdapterConfig{PeftType: "LORA", R: 8, LoraAlpha: 8, Bias: "none", InitLoraWeights: true}
}

// LoadAdapterConfig reads and validates a LoRA adapter_config.json.
func LoadAdapterConfig(path string) (*AdapterConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseAdapterConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseAdapterConfig parses and validates adapter_config.json contents;
// missing keys take LoraConfig's defaults.
func ParseAdapterConfig(data []byte) (*AdapterConfig, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, errors.New("adapter_config.json is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("adapter_config.json: trailing data after the JSON object")
	}
	c := NewAdapterConfig()
	c.Raw = raw
	p := peftGetter{raw: raw}
	c.PeftType = p.str("peft_type")
	c.TaskType = p.str("task_type")
	c.R = p.int("r", 8)
	c.LoraAlpha = p.num("lora_alpha", 8)
	c.LoraDropout = p.num("lora_dropout", 0)
	c.BaseModelNameOrPath = p.str("base_model_name_or_path")
	c.Revision = p.str("revision")
	if b := p.str("bias"); b != "" {
		c.Bias = b
	}
	c.FanInFanOut = p.bool("fan_in_fan_out")
	c.UseRslora = p.bool("use_rslora")
	c.UseDora = p.bool("use_dora")
	c.InferenceMode = p.bool("inference_mode")
	c.ModulesToSave = p.strList("modules_to_save")
	switch v := raw["target_modules"].(type) {
	case nil:
	case string:
		c.TargetModulesRegex = v
	default:
		c.TargetModules = p.strList("target_modules")
	}
	switch v := raw["init_lora_weights"].(type) {
	case nil:
	case bool, string:
		c.InitLoraWeights = v
	default:
		p.fail("init_lora_weights", "a boolean or a string", v)
	}
	switch v := raw["layers_to_transform"].(type) {
	case nil:
	case json.Number:
		c.LayersToTransform = p.int("layers_to_transform", 0)
	case []any:
		ls := make([]int, len(v))
		for i, x := range v {
			n, err := intOf(x)
			if err != nil {
				p.fail("layers_to_transform", "an integer or a list of integers", v)
				break
			}
			ls[i] = n
		}
		c.LayersToTransform = ls
	default:
		p.fail("layers_to_transform", "an integer or a list of integers", v)
	}
	switch v := raw["layers_pattern"].(type) {
	case nil:
	case string:
		c.LayersPattern = v
	default:
		c.LayersPattern = p.strList("layers_pattern")
	}
	if v, ok := raw["rank_pattern"].(map[string]any); ok {
		c.RankPattern = make(map[string]int, len(v))
		for k, x := range v {
			n, err := intOf(x)
			if err != nil {
				p.fail("rank_pattern["+strconv.Quote(k)+"]", "an integer", x)
			}
			c.RankPattern[k] = n
		}
	} else if raw["rank_pattern"] != nil {
		p.fail("rank_pattern", "an object", raw["rank_pattern"])
	}
	if v, ok := raw["alpha_pattern"].(map[string]any); ok {
		c.AlphaPattern = make(map[string]float64, len(v))
		for k, x := range v {
			n, ok := x.(json.Number)
			f, err := strconv.ParseFloat(string(n), 64)
			if !ok || err != nil {
				p.fail("alpha_pattern["+strconv.Quote(k)+"]", "a number", x)
			}
			c.AlphaPattern[k] = f
		}
	} else if raw["alpha_pattern"] != nil {
		p.fail("alpha_pattern", "an object", raw["alpha_pattern"])
	}
	if p.err != nil {
		return nil, p.err
	}
	if c.PeftType == "" {
		return nil, errors.New("adapter_config.json: peft_type is missing")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks the values PEFT would reject or adarank cannot use.
func (c *AdapterConfig) Validate() error {
	if c.PeftType != "LORA" {
		return fmt.Errorf("adapter_config.json: peft_type %q is not supported (want LORA)", c.PeftType)
	}
	if c.TaskType != "" && !peftTaskTypes[c.TaskType] {
		return fmt.Errorf("adapter_config.json: task_type %q is not a PEFT task type", c.TaskType)
	}
	if c.R <= 0 {
		return fmt.Errorf("adapter_config.json: r must be positive, got %d", c.R)
	}
	if math.IsNaN(c.LoraAlpha) || math.IsInf(c.LoraAlpha, 0) {
		return fmt.Errorf("adapter_config.json: lora_alpha must be finite, got %g", c.LoraAlpha)
	}
	if !(c.LoraDropout >= 0 && c.LoraDropout < 1) {
		return fmt.Errorf("adapter_config.json: lora_dropout must be in [0, 1), got %g", c.LoraDropout)
	}
	switch c.Bias {
	case "none", "all", "lora_only":
	default:
		return fmt.Errorf("adapter_config.json: bias %q is not none, all or lora_only", c.Bias)
	}
	if c.TargetModulesRegex != "" && c.TargetModules != nil {
		return errors.New("adapter_config.json: target_modules is either a list or one regex string, not both")
	}
	for k, r := range c.RankPattern {
		if r <= 0 {
			return fmt.Errorf("adapter_config.json: rank_pattern[%q] must be positive, got %d", k, r)
		}
	}
	for k, a := range c.AlphaPattern {
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return fmt.Errorf("adapter_config.json: alpha_pattern[%q] must be finite", k)
		}
	}
	switch c.InitLoraWeights.(type) {
	case nil, bool, string:
	default:
		return fmt.Errorf("adapter_config.json: init_lora_weights must be a boolean or a string, got %T", c.InitLoraWeights)
	}
	switch c.LayersToTransform.(type) {
	case nil, int, []int:
	default:
		return fmt.Errorf("adapter_config.json: layers_to_transform must be an int or []int, got %T", c.LayersToTransform)
	}
	switch c.LayersPattern.(type) {
	case nil, string, []string:
	default:
		return fmt.Errorf("adapter_config.json: layers_pattern must be a string or []string, got %T", c.LayersPattern)
	}
	if c.TargetModulesRegex != "" && (c.LayersToTransform != nil || c.LayersPattern != nil) {
		return errors.New("adapter_config.json: layers_to_transform and layers_pattern need target_modules as a list, not a regex")
	}
	return nil
}

// Save writes adapter_config.json atomically in PEFT's layout (sorted keys,
// 2-space indent). It writes only keys LoraConfig has: the long-standing ones
// always, use_rslora / use_dora only when set or present in the loaded file
// (older PEFT versions reject unknown keys), and Raw's other keys as loaded.
func (c *AdapterConfig) Save(path string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[string]any, len(c.Raw)+20)
	for k, v := range c.Raw {
		out[k] = v
	}
	delete(out, "runtime_config") // runtime-only, PEFT warns about it
	orNull := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	out["peft_type"] = c.PeftType
	out["task_type"] = orNull(c.TaskType)
	out["r"] = c.R
	out["lora_alpha"] = c.LoraAlpha
	out["lora_dropout"] = c.LoraDropout
	switch {
	case c.TargetModulesRegex != "":
		out["target_modules"] = c.TargetModulesRegex
	case c.TargetModules != nil:
		out["target_modules"] = c.TargetModules
	default:
		out["target_modules"] = nil
	}
	if c.ModulesToSave != nil {
		out["modules_to_save"] = c.ModulesToSave
	} else {
		out["modules_to_save"] = nil
	}
	out["base_model_name_or_path"] = orNull(c.BaseModelNameOrPath)
	out["revision"] = orNull(c.Revision)
	out["bias"] = c.Bias
	out["fan_in_fan_out"] = c.FanInFanOut
	if c.InitLoraWeights == nil {
		out["init_lora_weights"] = true
	} else {
		out["init_lora_weights"] = c.InitLoraWeights
	}
	out["layers_to_transform"] = c.LayersToTransform
	out["layers_pattern"] = c.LayersPattern
	rp := c.RankPattern
	if rp == nil {
		rp = map[string]int{}
	}
	out["rank_pattern"] = rp
	ap := c.AlphaPattern
	if ap == nil {
		ap = map[string]float64{}
	}
	out["alpha_pattern"] = ap
	out["inference_mode"] = c.InferenceMode
	for key, v := range map[string]bool{"use_rslora": c.UseRslora, "use_dora": c.UseDora} {
		if _, had := c.Raw[key]; had || v {
			out[key] = v
		}
	}
	data, err := marshalSorted(out)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFileAtomic(path, data)
}

// intOf converts a decoded JSON number to an int.
func intOf(v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, errors.New("not a number")
	}
	i, err := strconv.ParseInt(string(n), 10, 32)
	if err != nil {
		return 0, err
	}
	return int(i), nil
}

// peftGetter reads typed values from a decoded adapter config, keeping the
// first error; null counts as missing.
type peftGetter struct {
	raw map[string]any
	err error
}

func (g *peftGetter) fail(key, want string, v any) {
	if g.err == nil {
		g.err = fmt.Errorf("adapter_config.json: %s must be %s, got %s", key, want, jsonKind(v))
	}
}

func (g *peftGetter) str(key string) string {
	v := g.raw[key]
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		g.fail(key, "a string", v)
	}
	return s
}

func (g *peftGetter) int(key string, def int) int {
	v := g.raw[key]
	if v == nil {
		return def
	}
	n, err := intOf(v)
	if err != nil {
		g.fail(key, "an integer", v)
		return def
	}
	return n
}

func (g *peftGetter) num(key string, def float64) float64 {
	v := g.raw[key]
	if v == nil {
		return def
	}
	n, ok := v.(json.Number)
	f, err := strconv.ParseFloat(string(n), 64)
	if !ok || err != nil {
		g.fail(key, "a number", v)
		return def
	}
	return f
}

func (g *peftGetter) bool(key string) bool {
	v := g.raw[key]
	if v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		g.fail(key, "a boolean", v)
	}
	return b
}

func (g *peftGetter) strList(key string) []string {
	v := g.raw[key]
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		g.fail(key, "a list of strings", v)
		return nil
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			g.fail(key, "a list of strings", v)
			return nil
		}
		out[i] = s
	}
	return out
}
