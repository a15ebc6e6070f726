package defaultmodel

import (
	"testing"

	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/tokenizer"
)

func TestEmbeddedModelLoadsAndRuns(t *testing.T) {
	m, tok, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if m.Cfg.Layers < 6 || m.Cfg.Hidden < 384 || !m.Cfg.HasMLM {
		t.Fatalf("embedded model is %d layers x %d hidden (MLM %v)", m.Cfg.Layers, m.Cfg.Hidden, m.Cfg.HasMLM)
	}
	if tok.VocabSize() != m.Cfg.Vocab {
		t.Fatalf("tokenizer %d tokens, model %d", tok.VocabSize(), m.Cfg.Vocab)
	}
	e, err := tok.Encode("The album went straight to number one.", tokenizer.Options{MaxLen: m.Cfg.MaxSeqLen(), Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range e.IDs {
		if id == tok.UnkID() {
			t.Fatalf("common English words map to [UNK]: %v", e.Tokens)
		}
	}
	b := model.Batch{B: 1, T: len(e.IDs), IDs: e.IDs, TypeIDs: e.TypeIDs, Mask: e.AttentionMask}
	ws := m.NewWorkspace(1, b.T, false, nil)
	m.Encode(ws, b, nil, model.FwdOpts{})
	logits, err := m.MLMLogits(ws, nil)
	if err != nil || len(logits) != b.T*m.Cfg.Vocab {
		t.Fatalf("MLM logits: %v (%d values)", err, len(logits))
	}
}
