package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/adarank/adarank/internal/hf"
)

// HFConfig converts the config back to a config.json.
func (c Config) HFConfig(architectures []string) *hf.Config {
	act := c.Act
	return &hf.Config{
		ModelType: c.Arch, Architectures: architectures, VocabSize: c.Vocab, HiddenSize: c.Hidden,
		NumHiddenLayers: c.Layers, NumAttentionHeads: c.Heads, IntermediateSize: c.Inter, HiddenAct: act,
		LayerNormEps: float64(c.Eps), MaxPositionEmbeddings: c.MaxPos, TypeVocabSize: c.TypeVocab,
		PadTokenID: c.PadID, HiddenDropoutProb: float64(c.HiddenDrop), AttentionProbsDropoutProb: float64(c.AttnDrop),
		NumLabels: c.NumLabels, ID2Label: c.ID2Label, Raw: map[string]any{},
	}
}

// Tensors returns the encoder's parameters under their checkpoint names
// (with the architecture prefix, as transformers saves *ForMaskedLM /
// *ForSequenceClassification models). dtype is F32, BF16 or F16.
func (m *Model) Tensors(dtype string) []hf.WTensor {
	c := m.Cfg
	var out []hf.WTensor
	for _, t := range m.P.Named(c) {
		name := t.Name
		if !strings.HasPrefix(name, "cls.") && !strings.HasPrefix(name, "lm_head.") {
			name = c.Arch + "." + name
		}
		out = append(out, hf.WTensor{Name: name, Shape: t.Shape, F32: t.Data, DType: dtype})
	}
	return out
}

// SaveHF writes config.json and model.safetensors into dir (created if
// needed). extra tensors (e.g. a classifier) are added as given.
func (m *Model) SaveHF(dir string, architectures []string, dtype string, extra []hf.WTensor) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := m.Cfg.HFConfig(architectures).Save(filepath.Join(dir, "config.json")); err != nil {
		return err
	}
	ts := append(m.Tensors(dtype), extra...)
	if err := hf.WriteSafetensors(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("writing weights: %w", err)
	}
	return nil
}
