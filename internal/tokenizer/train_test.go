package tokenizer

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// trainCorpus is a small synthetic corpus with a few very frequent words.
func trainCorpus() []string {
	base := []string{
		"Tokenization splits text into pieces.",
		"The tokenizer learns frequent pieces from text.",
		"Frequent words become single tokens, rare words split into pieces.",
		"Café owners serve crème brûlée; 東京 is a city.",
	}
	var out []string
	for i := 0; i < 40; i++ {
		out = append(out, base...)
	}
	return append(out, "zyzzyva appears once")
}

func TestTrainWordPiece(t *testing.T) {
	corpus := trainCorpus()
	small, err := TrainWordPiece(slices.Values(corpus), 120, true)
	if err != nil {
		t.Fatal(err)
	}
	if small.VocabSize() != 120 {
		t.Errorf("vocab size %d, want 120", small.VocabSize())
	}
	// With room to spare, merging stops when no pair is seen twice (min frequency 2).
	tk, err := TrainWordPiece(slices.Values(corpus), 1000, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := tk.VocabSize(); n <= 120 || n >= 1000 {
		t.Errorf("vocab size %d, want between 120 and 1000", n)
	}
	for i, s := range trainSpecials {
		if id, ok := tk.TokenID(s); !ok || id != int32(i) {
			t.Errorf("special %s has id %d (ok=%v), want %d", s, id, ok, i)
		}
	}
	if tk.PadID() != 0 || tk.CLSID() != 2 || tk.SEPID() != 3 || tk.MaskID() != 4 || tk.UnkID() != 1 {
		t.Errorf("special ids pad %d unk %d cls %d sep %d mask %d", tk.PadID(), tk.UnkID(), tk.CLSID(), tk.SEPID(), tk.MaskID())
	}
	// Frequent words become whole tokens; text of the corpus never needs [UNK].
	for _, w := range []string{"pieces", "text", "tokenization"} {
		if ids := tk.Tokenize(w); len(ids) != 1 {
			t.Errorf("%q -> %d pieces %v, want 1", w, len(ids), ids)
		}
	}
	for _, s := range corpus {
		if slices.Contains(tk.Tokenize(s), tk.UnkID()) {
			t.Errorf("%q has [UNK]", s)
		}
	}
	// Continuation pieces use the "##" prefix.
	e, _ := tk.Encode("zyzzyva", Options{})
	if len(e.Tokens) < 4 || e.Tokens[2][:2] != "##" {
		t.Errorf("rare word tokens %q", e.Tokens)
	}
	// Deterministic: the same corpus gives the same tokenizer.json.
	again, err := TrainWordPiece(slices.Values(corpus), 1000, true)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tk.MarshalTokenizerJSON()
	b, _ := again.MarshalTokenizerJSON()
	if !bytes.Equal(a, b) {
		t.Error("two trainings on the same corpus differ")
	}
	// Saved files load back to the same tokenizer.
	dir := t.TempDir()
	if err := tk.SaveTokenizerJSON(filepath.Join(dir, "tokenizer.json")); err != nil {
		t.Fatal(err)
	}
	if err := tk.SaveVocabTxt(filepath.Join(dir, "vocab.txt")); err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]LoadOption{nil, {IgnoreTokenizerJSON()}} {
		back, err := Load(dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range corpus[:4] {
			x, _ := tk.EncodePair(s, s, Options{})
			y, _ := back.EncodePair(s, s, Options{})
			if !slices.Equal(x.IDs, y.IDs) || !slices.Equal(x.TypeIDs, y.TypeIDs) {
				t.Errorf("reloaded (%d opts) %q: %v vs %v", len(opts), s, y.IDs, x.IDs)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("save left %d files (temp files?)", len(entries))
	}
}

func TestTrainWordPieceCased(t *testing.T) {
	tk, err := TrainWordPiece(slices.Values(trainCorpus()), 100, false)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(tk.Tokenize("The"), tk.Tokenize("the")) {
		t.Error("cased tokenizer maps The and the to the same ids")
	}
	if _, err := TrainWordPiece(slices.Values([]string{"x"}), 3, true); err == nil {
		t.Error("a vocabulary smaller than the special tokens should fail")
	}
}
