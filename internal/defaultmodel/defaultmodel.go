// Package defaultmodel embeds adarank's own pretrained encoder (see
// docs/model-card.md) so that the CLI works with no --model.
package defaultmodel

import (
	"fmt"

	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/tokenizer"
)

// Name identifies the embedded model in reports.
const Name = "embedded:adarank-bert-6x384"

// Load returns the embedded model and its tokenizer.
func Load() (*model.Model, *tokenizer.Tokenizer, error) {
	if !embedded {
		return nil, nil, fmt.Errorf("this binary was built with -tags noembed: pass --model DIR")
	}
	cfg, err := files.ReadFile("model/config.json")
	if err != nil {
		return nil, nil, err
	}
	w, err := files.ReadFile("model/model.safetensors")
	if err != nil {
		return nil, nil, err
	}
	m, err := model.LoadBytes(cfg, w, Name)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded model: %w", err)
	}
	tj, err := files.ReadFile("model/tokenizer.json")
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.FromTokenizerJSON(tj)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded tokenizer: %w", err)
	}
	return m, tok, nil
}
