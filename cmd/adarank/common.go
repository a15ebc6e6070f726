package main

import (
	"fmt"

	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/tokenizer"
)

// openModel loads a model folder and its tokenizer.
func openModel(dir string) (*model.Model, *tokenizer.Tokenizer, error) {
	if dir == "" {
		return nil, nil, fmt.Errorf("--model is required (a Hugging Face model folder)")
	}
	m, err := model.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	if tok.VocabSize() > m.Cfg.Vocab {
		return nil, nil, fmt.Errorf("%s: tokenizer has %d tokens but the model's vocabulary is %d", dir, tok.VocabSize(), m.Cfg.Vocab)
	}
	return m, tok, nil
}

// makeBatch tokenizes texts into a padded batch.
func makeBatch(tok *tokenizer.Tokenizer, texts []string, opt tokenizer.Options) (model.Batch, []tokenizer.Encoding, error) {
	encs, err := tok.EncodeBatch(texts, opt)
	if err != nil {
		return model.Batch{}, nil, err
	}
	B := len(encs)
	T := 0
	for _, e := range encs {
		T = max(T, len(e.IDs))
	}
	b := model.Batch{B: B, T: T, IDs: make([]int32, B*T), TypeIDs: make([]int32, B*T), Mask: make([]int32, B*T)}
	pad := tok.PadID()
	for i, e := range encs {
		for t := 0; t < T; t++ {
			j := i*T + t
			if t < len(e.IDs) {
				b.IDs[j] = e.IDs[t]
				b.TypeIDs[j] = e.TypeIDs[t]
				b.Mask[j] = e.AttentionMask[t]
			} else {
				b.IDs[j] = pad
			}
		}
	}
	// Report unpadded ids per text.
	for i := range encs {
		n := 0
		for _, m := range encs[i].AttentionMask {
			if m != 0 {
				n++
			}
		}
		encs[i].IDs = encs[i].IDs[:n]
	}
	return b, encs, nil
}

// openModelOrDefault loads dir, or the embedded default model when dir is empty.
func openModelOrDefault(dir string) (*model.Model, *tokenizer.Tokenizer, error) {
	if dir == "" {
		return openDefaultModel()
	}
	return openModel(dir)
}
