// Package model is the BERT / RoBERTa encoder: parameters in one contiguous
// buffer, an explicit forward and backward pass built from internal/nn ops,
// LoRA adapters on the linear modules, and the task heads.
package model

import (
	"fmt"

	"github.com/adarank/adarank/internal/hf"
)

// Config is what the engine needs of a checkpoint's config.json.
type Config struct {
	Arch        string // "bert" or "roberta"
	Vocab       int
	Hidden      int
	Layers      int
	Heads       int
	Inter       int
	MaxPos      int
	TypeVocab   int
	PadID       int
	Act         string // gelu | gelu_new | relu
	Eps         float32
	HasPooler   bool
	HasMLM      bool
	HiddenDrop  float32
	AttnDrop    float32
	NumLabels   int
	ID2Label    map[int]string
	SourceModel string // folder or name the weights came from
}

// FromHF converts a parsed config.json.
func FromHF(c *hf.Config) (Config, error) {
	cfg := Config{
		Arch:       c.ModelType,
		Vocab:      c.VocabSize,
		Hidden:     c.HiddenSize,
		Layers:     c.NumHiddenLayers,
		Heads:      c.NumAttentionHeads,
		Inter:      c.IntermediateSize,
		MaxPos:     c.MaxPositionEmbeddings,
		TypeVocab:  c.TypeVocabSize,
		PadID:      c.PadTokenID,
		Act:        c.HiddenAct,
		Eps:        float32(c.LayerNormEps),
		HiddenDrop: float32(c.HiddenDropoutProb),
		AttnDrop:   float32(c.AttentionProbsDropoutProb),
		NumLabels:  c.NumLabels,
		ID2Label:   c.ID2Label,
	}
	switch cfg.Act {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		cfg.Act = "gelu_new"
	case "gelu", "gelu_python":
		cfg.Act = "gelu"
	}
	return cfg, cfg.Validate()
}

// Validate checks sizes so that later indexing cannot go out of range.
func (c Config) Validate() error {
	if c.Arch != "bert" && c.Arch != "roberta" {
		return fmt.Errorf("unsupported model_type %q (want bert or roberta)", c.Arch)
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"vocab_size", c.Vocab}, {"hidden_size", c.Hidden}, {"num_hidden_layers", c.Layers},
		{"num_attention_heads", c.Heads}, {"intermediate_size", c.Inter},
		{"max_position_embeddings", c.MaxPos}, {"type_vocab_size", c.TypeVocab}} {
		if v.n <= 0 {
			return fmt.Errorf("config: %s must be positive, got %d", v.name, v.n)
		}
	}
	if c.Hidden%c.Heads != 0 {
		return fmt.Errorf("config: hidden_size %d is not a multiple of num_attention_heads %d", c.Hidden, c.Heads)
	}
	if c.PadID < 0 || c.PadID >= c.Vocab {
		return fmt.Errorf("config: pad_token_id %d outside the vocabulary (%d)", c.PadID, c.Vocab)
	}
	switch c.Act {
	case "gelu", "gelu_new", "relu":
	default:
		return fmt.Errorf("config: unsupported hidden_act %q", c.Act)
	}
	if c.Arch == "roberta" && c.MaxPos <= c.PadID+1 {
		return fmt.Errorf("config: max_position_embeddings %d too small for RoBERTa positions past pad id %d", c.MaxPos, c.PadID)
	}
	return nil
}

// MaxSeqLen is the longest token sequence the position table allows.
func (c Config) MaxSeqLen() int {
	if c.Arch == "roberta" {
		return c.MaxPos - c.PadID - 1
	}
	return c.MaxPos
}

// HeadSize is the per-head width.
func (c Config) HeadSize() int { return c.Hidden / c.Heads }

// BertBase is the bert-base shape (12 layers, 768 hidden, 12 heads, 30522
// tokens) with a pooler, for benchmarks on random weights.
func BertBase() Config {
	return Config{Arch: "bert", Vocab: 30522, Hidden: 768, Layers: 12, Heads: 12, Inter: 3072, MaxPos: 512,
		TypeVocab: 2, Act: "gelu", Eps: 1e-12, HasPooler: true}
}
