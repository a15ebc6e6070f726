package hf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// bert-base-uncased's config.json as published on the Hub.
const bertBaseConfig = `{
  "architectures": ["BertForMaskedLM"],
  "attention_probs_dropout_prob": 0.1,
  "gradient_checkpointing": false,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 768,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "layer_norm_eps": 1e-12,
  "max_position_embeddings": 512,
  "model_type": "bert",
  "num_attention_heads": 12,
  "num_hidden_layers": 12,
  "pad_token_id": 0,
  "position_embedding_type": "absolute",
  "transformers_version": "4.6.0.dev0",
  "type_vocab_size": 2,
  "use_cache": true,
  "vocab_size": 30522
}`

// roberta-base's config.json as published on the Hub.
const robertaBaseConfig = `{
  "architectures": ["RobertaForMaskedLM"],
  "attention_probs_dropout_prob": 0.1,
  "bos_token_id": 0,
  "eos_token_id": 2,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 768,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "layer_norm_eps": 1e-05,
  "max_position_embeddings": 514,
  "model_type": "roberta",
  "num_attention_heads": 12,
  "num_hidden_layers": 12,
  "pad_token_id": 1,
  "type_vocab_size": 1,
  "vocab_size": 50265
}`

func TestParseConfigHub(t *testing.T) {
	b, err := ParseConfig([]byte(bertBaseConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{ModelType: "bert", Architectures: []string{"BertForMaskedLM"}, VocabSize: 30522, HiddenSize: 768,
		NumHiddenLayers: 12, NumAttentionHeads: 12, IntermediateSize: 3072, HiddenAct: "gelu", LayerNormEps: 1e-12,
		MaxPositionEmbeddings: 512, TypeVocabSize: 2, PadTokenID: 0, HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1}
	got := *b
	got.Raw = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bert:\n got %+v\nwant %+v", got, want)
	}
	if b.Raw["position_embedding_type"] != "absolute" {
		t.Errorf("Raw lost extras: %v", b.Raw)
	}
	r, err := ParseConfig([]byte(robertaBaseConfig))
	if err != nil {
		t.Fatal(err)
	}
	if r.ModelType != "roberta" || r.PadTokenID != 1 || r.LayerNormEps != 1e-5 || r.MaxPositionEmbeddings != 514 || r.TypeVocabSize != 1 || r.VocabSize != 50265 {
		t.Errorf("roberta: %+v", r)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type":"bert"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.VocabSize != 30522 || c.HiddenSize != 768 || c.NumHiddenLayers != 12 || c.NumAttentionHeads != 12 ||
		c.IntermediateSize != 3072 || c.HiddenAct != "gelu" || c.LayerNormEps != 1e-12 || c.MaxPositionEmbeddings != 512 ||
		c.TypeVocabSize != 2 || c.PadTokenID != 0 || c.HiddenDropoutProb != 0.1 || c.AttentionProbsDropoutProb != 0.1 || c.NumLabels != 0 {
		t.Errorf("bert defaults: %+v", c)
	}
	r, err := ParseConfig([]byte(`{"model_type":"roberta","pad_token_id":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.PadTokenID != 1 {
		t.Errorf("roberta pad default %d", r.PadTokenID)
	}
	// model_type inferred from architectures in old configs.
	o, err := ParseConfig([]byte(`{"architectures":["RobertaForSequenceClassification"],"hidden_size":768.0}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.ModelType != "roberta" || o.HiddenSize != 768 {
		t.Errorf("inferred: %+v", o)
	}
}

func TestParseConfigLabels(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type":"bert","id2label":{"0":"neg","1":"pos","2":"mixed"},"label2id":{"neg":0,"pos":1,"mixed":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NumLabels != 3 || c.ID2Label[2] != "mixed" {
		t.Errorf("labels %d %v", c.NumLabels, c.ID2Label)
	}
	c, err = ParseConfig([]byte(`{"model_type":"bert","num_labels":6}`))
	if err != nil || c.NumLabels != 6 || c.ID2Label != nil {
		t.Errorf("num_labels: %v %+v", err, c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{"model_type":"distilbert"}`, `"distilbert"`},
		{`{"model_type":"gpt2","n_embd":768}`, `"gpt2"`},
		{`{"hidden_size":768}`, "model_type is missing"},
		{`{"model_type":"bert","hidden_size":770}`, "not a multiple"},
		{`{"model_type":"bert","hidden_act":"swish"}`, `"swish"`},
		{`{"model_type":"bert","num_hidden_layers":0}`, "num_hidden_layers must be positive"},
		{`{"model_type":"bert","vocab_size":-5}`, "vocab_size must be positive"},
		{`{"model_type":"bert","hidden_size":"768"}`, "hidden_size must be an integer"},
		{`{"model_type":"bert","hidden_size":768.5}`, "hidden_size must be an integer"},
		{`{"model_type":"bert","vocab_size":1e20}`, "int32 range"},
		{`{"model_type":"bert","hidden_act":7}`, "hidden_act must be a string"},
		{`{"model_type":"bert","layer_norm_eps":0}`, "layer_norm_eps"},
		{`{"model_type":"bert","hidden_dropout_prob":1.5}`, "hidden_dropout_prob"},
		{`{"model_type":"bert","pad_token_id":30522}`, "pad_token_id"},
		{`{"model_type":"bert","id2label":{"x":"a"}}`, `id2label key "x"`},
		{`{"model_type":"bert","id2label":{"0":"a","5":"b"}}`, "id2label ids"},
		{`{"model_type":"bert","id2label":{"0":1}}`, "not a string"},
		{`{"model_type":"bert","architectures":"Bert"}`, "architectures"},
		{`{"model_type":"bert"} {}`, "trailing"},
		{`[1]`, "not a JSON object"},
		{`null`, "not a JSON object"},
	}
	for _, c := range cases {
		_, err := ParseConfig([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %s", c.json, err, c.want)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "config.json")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestConfigSaveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.json")
	if err := os.WriteFile(src, []byte(robertaBaseConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	c.ID2Label = map[int]string{0: "ham", 1: "spam"}
	c.NumLabels = 2
	c.Architectures = []string{"RobertaForSequenceClassification"}
	c.HiddenDropoutProb = 0.2
	dst := filepath.Join(dir, "config.json")
	if err := c.Save(dst); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(dst)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m["bos_token_id"] != 0.0 || m["eos_token_id"] != 2.0 || m["layer_norm_eps"] != 1e-5 || m["hidden_dropout_prob"] != 0.2 {
		t.Errorf("saved: %v", m)
	}
	if !reflect.DeepEqual(m["id2label"], map[string]any{"0": "ham", "1": "spam"}) ||
		!reflect.DeepEqual(m["label2id"], map[string]any{"ham": 0.0, "spam": 1.0}) {
		t.Errorf("labels: %v %v", m["id2label"], m["label2id"])
	}
	if _, has := m["num_labels"]; has {
		t.Error("num_labels written although transformers derives it")
	}
	if !strings.HasPrefix(string(data), "{\n  \"architectures\": [") || !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("layout:\n%s", data)
	}
	back, err := LoadConfig(dst)
	if err != nil {
		t.Fatal(err)
	}
	back.Raw, c.Raw = nil, nil
	if !reflect.DeepEqual(back, c) {
		t.Errorf("reload:\n got %+v\nwant %+v", back, c)
	}
}

func TestConfigSaveGeneratedLabelsAndInvalid(t *testing.T) {
	dir := t.TempDir()
	c, _ := ParseConfig([]byte(`{"model_type":"bert"}`))
	c.NumLabels = 3
	if err := c.Save(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if back.NumLabels != 3 || back.ID2Label[2] != "LABEL_2" {
		t.Errorf("generated labels: %d %v", back.NumLabels, back.ID2Label)
	}
	c.HiddenAct = "tanh"
	if err := c.Save(filepath.Join(dir, "bad.json")); err == nil {
		t.Error("invalid config saved")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.json")); err == nil {
		t.Error("invalid config left a file")
	}
}
