package hf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// An adapter_config.json as written by PEFT 0.13 for RoBERTa sequence
// classification.
const peftWritten = `{
  "alpha_pattern": {},
  "auto_mapping": null,
  "base_model_name_or_path": "roberta-base",
  "bias": "none",
  "fan_in_fan_out": false,
  "inference_mode": true,
  "init_lora_weights": true,
  "layer_replication": null,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_alpha": 16,
  "lora_dropout": 0.1,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "modules_to_save": ["classifier", "score"],
  "peft_type": "LORA",
  "r": 8,
  "rank_pattern": {"encoder.layer.0.attention.self.query": 4},
  "revision": null,
  "target_modules": ["query", "value"],
  "task_type": "SEQ_CLS",
  "use_dora": false,
  "use_rslora": false
}`

// loraConfigKeys are LoraConfig's fields (PEFT 0.13) plus PeftConfig's.
var loraConfigKeys = map[string]bool{
	"peft_type": true, "task_type": true, "auto_mapping": true, "base_model_name_or_path": true, "revision": true,
	"inference_mode": true, "r": true, "target_modules": true, "exclude_modules": true, "lora_alpha": true,
	"lora_dropout": true, "fan_in_fan_out": true, "bias": true, "use_rslora": true, "modules_to_save": true,
	"init_lora_weights": true, "layers_to_transform": true, "layers_pattern": true, "rank_pattern": true,
	"alpha_pattern": true, "megatron_config": true, "megatron_core": true, "loftq_config": true, "use_dora": true,
	"layer_replication": true,
}

func TestParseAdapterConfigPEFT(t *testing.T) {
	c, err := ParseAdapterConfig([]byte(peftWritten))
	if err != nil {
		t.Fatal(err)
	}
	if c.PeftType != "LORA" || c.TaskType != "SEQ_CLS" || c.R != 8 || c.LoraAlpha != 16 || c.LoraDropout != 0.1 ||
		!reflect.DeepEqual(c.TargetModules, []string{"query", "value"}) || c.BaseModelNameOrPath != "roberta-base" ||
		!reflect.DeepEqual(c.ModulesToSave, []string{"classifier", "score"}) || c.Bias != "none" || c.InitLoraWeights != true ||
		!c.InferenceMode || c.RankPattern["encoder.layer.0.attention.self.query"] != 4 || len(c.AlphaPattern) != 0 ||
		c.LayersToTransform != nil || c.LayersPattern != nil {
		t.Errorf("parsed %+v", c)
	}
	// Save keeps every key PEFT wrote, and only those.
	path := filepath.Join(t.TempDir(), "adapter_config.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	var orig, saved map[string]any
	json.Unmarshal([]byte(peftWritten), &orig)
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &saved); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(orig, saved) {
		t.Errorf("save changed the file:\n%s", data)
	}
}

func TestAdapterConfigNewSave(t *testing.T) {
	c := NewAdapterConfig()
	c.TaskType = "SEQ_CLS"
	c.R = 16
	c.LoraAlpha = 32
	c.TargetModules = []string{"query", "key", "value", "dense"}
	c.RankPattern = map[string]int{"encoder.layer.3.attention.self.query": 2, "encoder.layer.11.output.dense": 24}
	c.AlphaPattern = map[string]float64{"encoder.layer.3.attention.self.query": 4}
	c.ModulesToSave = []string{"classifier"}
	c.BaseModelNameOrPath = "bert-base-uncased"
	c.LayersToTransform = []int{0, 1, 2}
	path := filepath.Join(t.TempDir(), "adapter_config.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		if !loraConfigKeys[k] {
			t.Errorf("key %q is not a LoraConfig field", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"alpha_pattern", "base_model_name_or_path", "bias", "fan_in_fan_out", "inference_mode", "init_lora_weights",
		"layers_pattern", "layers_to_transform", "lora_alpha", "lora_dropout", "modules_to_save", "peft_type", "r",
		"rank_pattern", "revision", "target_modules", "task_type"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v\nwant %v", keys, want)
	}
	if !strings.Contains(string(data), `"lora_alpha": 32,`) || !strings.Contains(string(data), `"revision": null`) {
		t.Errorf("layout:\n%s", data)
	}
	back, err := LoadAdapterConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	back.Raw = nil
	if !reflect.DeepEqual(back, c) {
		t.Errorf("reload:\n got %+v\nwant %+v", back, c)
	}
	// use_rslora / use_dora appear once set.
	c.UseRslora = true
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(path)
	if !strings.Contains(string(data), `"use_rslora": true`) || strings.Contains(string(data), "use_dora") {
		t.Errorf("rslora:\n%s", data)
	}
}

func TestAdapterConfigVariants(t *testing.T) {
	c, err := ParseAdapterConfig([]byte(`{"peft_type":"LORA","target_modules":".*(query|value)$","lora_alpha":0.5,
		"init_lora_weights":"gaussian","runtime_config":{"ephemeral_gpu_offload":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.TargetModulesRegex != ".*(query|value)$" || c.TargetModules != nil || c.R != 8 || c.LoraAlpha != 0.5 || c.InitLoraWeights != "gaussian" || c.Bias != "none" {
		t.Errorf("parsed %+v", c)
	}
	path := filepath.Join(t.TempDir(), "a.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "runtime_config") || !strings.Contains(string(data), `"target_modules": ".*(query|value)$"`) {
		t.Errorf("saved:\n%s", data)
	}
	c, err = ParseAdapterConfig([]byte(`{"peft_type":"LORA","layers_to_transform":3,"layers_pattern":["layer"]}`))
	if err != nil || c.LayersToTransform != 3 || !reflect.DeepEqual(c.LayersPattern, []string{"layer"}) {
		t.Errorf("layers: %v %+v", err, c)
	}
}

func TestAdapterConfigErrors(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{"r":8}`, "peft_type is missing"},
		{`{"peft_type":"ADALORA"}`, `"ADALORA"`},
		{`{"peft_type":"LORA","r":0}`, "r must be positive"},
		{`{"peft_type":"LORA","r":"8"}`, "r must be an integer"},
		{`{"peft_type":"LORA","bias":"some"}`, `bias "some"`},
		{`{"peft_type":"LORA","task_type":"SEQ_CLASSIFICATION"}`, "task_type"},
		{`{"peft_type":"LORA","lora_dropout":1}`, "lora_dropout"},
		{`{"peft_type":"LORA","target_modules":5}`, "target_modules must be a list"},
		{`{"peft_type":"LORA","target_modules":["a",1]}`, "target_modules must be a list"},
		{`{"peft_type":"LORA","rank_pattern":{"a":0}}`, "rank_pattern"},
		{`{"peft_type":"LORA","rank_pattern":{"a":"x"}}`, "rank_pattern"},
		{`{"peft_type":"LORA","rank_pattern":[1]}`, "rank_pattern must be an object"},
		{`{"peft_type":"LORA","alpha_pattern":{"a":true}}`, "alpha_pattern"},
		{`{"peft_type":"LORA","init_lora_weights":3}`, "init_lora_weights"},
		{`{"peft_type":"LORA","layers_to_transform":["a"]}`, "layers_to_transform"},
		{`{"peft_type":"LORA","use_dora":"yes"}`, "use_dora must be a boolean"},
		{`{"peft_type":"LORA","target_modules":"q","layers_to_transform":[1]}`, "regex"},
		{`{"peft_type":"LORA"}x`, "trailing"},
		{`[]`, "not a JSON object"},
	}
	for _, c := range cases {
		_, err := ParseAdapterConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %s", c.json, err, c.want)
		}
	}
	bad := NewAdapterConfig()
	bad.TargetModules = []string{"q"}
	bad.TargetModulesRegex = "q"
	if err := bad.Save(filepath.Join(t.TempDir(), "a.json")); err == nil {
		t.Error("list and regex both saved")
	}
	if _, err := LoadAdapterConfig(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("missing file accepted")
	}
}
