package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Config is the part of a BERT / RoBERTa config.json that adarank uses.
// Raw holds every key of the file as loaded, so Save keeps the extras.
type Config struct {
	ModelType                 string
	Architectures             []string
	VocabSize                 int
	HiddenSize                int
	NumHiddenLayers           int
	NumAttentionHeads         int
	IntermediateSize          int
	HiddenAct                 string
	LayerNormEps              float64
	MaxPositionEmbeddings     int
	TypeVocabSize             int
	PadTokenID                int
	HiddenDropoutProb         float64
	AttentionProbsDropoutProb float64
	NumLabels                 int // len(id2label), else num_labels, else 0
	ID2Label                  map[int]string
	Raw                       map[string]any
}

// LoadConfig reads and validates config.json. Missing keys take the
// defaults of transformers' BertConfig / RobertaConfig.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses and validates config.json contents.
func ParseConfig(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("config.json is not a JSON object: %w", err)
	}
	if raw == nil {
		return nil, errors.New("config.json is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("config.json: trailing data after the JSON object")
	}
	c := &Config{Raw: raw}
	g := getter{raw: raw}
	c.ModelType = g.str("model_type", "")
	if arch, ok := raw["architectures"]; ok && arch != nil {
		list, ok := arch.([]any)
		if !ok {
			return nil, errors.New("config.json: architectures is not a list")
		}
		for _, a := range list {
			s, ok := a.(string)
			if !ok {
				return nil, errors.New("config.json: architectures has a non-string entry")
			}
			c.Architectures = append(c.Architectures, s)
		}
	}
	if c.ModelType == "" && g.err == nil {
		// Old configs lack model_type; infer it from the class name.
		for _, a := range c.Architectures {
			switch {
			case strings.HasPrefix(a, "Roberta"):
				c.ModelType = "roberta"
			case strings.HasPrefix(a, "Bert"):
				c.ModelType = "bert"
			}
		}
		if c.ModelType == "" {
			return nil, errors.New("config.json: model_type is missing (want bert or roberta)")
		}
	}
	pad := 0
	if c.ModelType == "roberta" {
		pad = 1
	}
	c.VocabSize = g.int("vocab_size", 30522)
	c.HiddenSize = g.int("hidden_size", 768)
	c.NumHiddenLayers = g.int("num_hidden_layers", 12)
	c.NumAttentionHeads = g.int("num_attention_heads", 12)
	c.IntermediateSize = g.int("intermediate_size", 3072)
	c.HiddenAct = g.str("hidden_act", "gelu")
	c.LayerNormEps = g.float("layer_norm_eps", 1e-12)
	c.MaxPositionEmbeddings = g.int("max_position_embeddings", 512)
	c.TypeVocabSize = g.int("type_vocab_size", 2)
	c.PadTokenID = g.int("pad_token_id", pad)
	c.HiddenDropoutProb = g.float("hidden_dropout_prob", 0.1)
	c.AttentionProbsDropoutProb = g.float("attention_probs_dropout_prob", 0.1)
	c.NumLabels = g.int("num_labels", 0)
	if g.err != nil {
		return nil, g.err
	}
	if v, ok := raw["id2label"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("config.json: id2label is not an object")
		}
		c.ID2Label = make(map[int]string, len(m))
		for k, lv := range m {
			id, err := strconv.Atoi(k)
			if err != nil || id < 0 {
				return nil, fmt.Errorf("config.json: id2label key %q is not a non-negative integer", k)
			}
			s, ok := lv.(string)
			if !ok {
				return nil, fmt.Errorf("config.json: id2label[%q] is not a string", k)
			}
			c.ID2Label[id] = s
		}
		// transformers: id2label wins over num_labels.
		c.NumLabels = len(c.ID2Label)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks what the engine relies on.
func (c *Config) Validate() error {
	if c.ModelType != "bert" && c.ModelType != "roberta" {
		return fmt.Errorf("config.json: model_type %q is not supported (want bert or roberta)", c.ModelType)
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"intermediate_size", c.IntermediateSize},
		{"max_position_embeddings", c.MaxPositionEmbeddings}, {"type_vocab_size", c.TypeVocabSize}} {
		if v.n <= 0 {
			return fmt.Errorf("config.json: %s must be positive, got %d", v.name, v.n)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("config.json: hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	switch c.HiddenAct {
	case "gelu", "gelu_new", "gelu_python", "gelu_pytorch_tanh", "gelu_fast", "relu":
	default:
		return fmt.Errorf("config.json: hidden_act %q is not supported (want gelu, gelu_new, gelu_python, gelu_pytorch_tanh, gelu_fast or relu)", c.HiddenAct)
	}
	if !(c.LayerNormEps > 0) || math.IsInf(c.LayerNormEps, 0) {
		return fmt.Errorf("config.json: layer_norm_eps must be positive, got %g", c.LayerNormEps)
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		return fmt.Errorf("config.json: pad_token_id %d is outside the vocabulary (size %d)", c.PadTokenID, c.VocabSize)
	}
	for _, v := range []struct {
		name string
		p    float64
	}{{"hidden_dropout_prob", c.HiddenDropoutProb}, {"attention_probs_dropout_prob", c.AttentionProbsDropoutProb}} {
		if !(v.p >= 0 && v.p < 1) {
			return fmt.Errorf("config.json: %s must be in [0, 1), got %g", v.name, v.p)
		}
	}
	if c.NumLabels < 0 {
		return fmt.Errorf("config.json: num_labels must not be negative, got %d", c.NumLabels)
	}
	for id := range c.ID2Label {
		if id < 0 || id >= len(c.ID2Label) {
			return fmt.Errorf("config.json: id2label ids must be 0..%d, got %d", len(c.ID2Label)-1, id)
		}
	}
	if len(c.ID2Label) > 0 && c.NumLabels != len(c.ID2Label) {
		return fmt.Errorf("config.json: num_labels %d disagrees with id2label (%d labels)", c.NumLabels, len(c.ID2Label))
	}
	return nil
}

// Save writes the config atomically as Hugging Face-compatible JSON (keys
// sorted, 2-space indent, like transformers), keeping Raw's other keys.
func (c *Config) Save(path string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[string]any, len(c.Raw)+20)
	for k, v := range c.Raw {
		out[k] = v
	}
	out["model_type"] = c.ModelType
	if c.Architectures != nil {
		out["architectures"] = c.Architectures
	} else {
		delete(out, "architectures")
	}
	out["vocab_size"] = c.VocabSize
	out["hidden_size"] = c.HiddenSize
	out["num_hidden_layers"] = c.NumHiddenLayers
	out["num_attention_heads"] = c.NumAttentionHeads
	out["intermediate_size"] = c.IntermediateSize
	out["hidden_act"] = c.HiddenAct
	out["layer_norm_eps"] = c.LayerNormEps
	out["max_position_embeddings"] = c.MaxPositionEmbeddings
	out["type_vocab_size"] = c.TypeVocabSize
	out["pad_token_id"] = c.PadTokenID
	out["hidden_dropout_prob"] = c.HiddenDropoutProb
	out["attention_probs_dropout_prob"] = c.AttentionProbsDropoutProb
	// Labels: transformers stores id2label / label2id (num_labels is derived).
	labels := c.ID2Label
	if len(labels) == 0 && c.NumLabels > 0 {
		labels = make(map[int]string, c.NumLabels)
		for i := range c.NumLabels {
			labels[i] = "LABEL_" + strconv.Itoa(i)
		}
	}
	delete(out, "num_labels")
	if len(labels) == 0 {
		delete(out, "id2label")
		delete(out, "label2id")
	} else {
		ids := make([]int, 0, len(labels))
		for id := range labels {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		id2label := make(map[string]string, len(labels))
		label2id := make(map[string]int, len(labels))
		for _, id := range ids {
			id2label[strconv.Itoa(id)] = labels[id]
			if _, dup := label2id[labels[id]]; !dup {
				label2id[labels[id]] = id
			}
		}
		out["id2label"] = id2label
		out["label2id"] = label2id
		if _, had := c.Raw["num_labels"]; had {
			out["num_labels"] = len(labels)
		}
	}
	data, err := marshalSorted(out)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFileAtomic(path, data)
}

// marshalSorted encodes v with sorted keys, 2-space indent, no HTML
// escaping and a final newline.
func marshalSorted(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// getter reads typed values from a decoded JSON object (UseNumber), keeping
// the first error; null counts as missing.
type getter struct {
	raw map[string]any
	err error
}

func (g *getter) fail(key, want string, v any) {
	if g.err == nil {
		g.err = fmt.Errorf("config.json: %s must be %s, got %s", key, want, jsonKind(v))
	}
}

func (g *getter) int(key string, def int) int {
	v, ok := g.raw[key]
	if !ok || v == nil {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		g.fail(key, "an integer", v)
		return def
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil && i >= math.MinInt32 && i <= math.MaxInt32 {
		return int(i)
	}
	// Accept integral floats such as 768.0.
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		g.fail(key, "an integer in int32 range", v)
		return def
	}
	return int(f)
}

func (g *getter) float(key string, def float64) float64 {
	v, ok := g.raw[key]
	if !ok || v == nil {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		g.fail(key, "a number", v)
		return def
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		g.fail(key, "a finite number", v)
		return def
	}
	return f
}

func (g *getter) str(key, def string) string {
	v, ok := g.raw[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		g.fail(key, "a string", v)
		return def
	}
	return s
}

// jsonKind describes a decoded JSON value for error messages.
func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + string(x)
	case string:
		return strconv.Quote(x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
