package pretrain

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/tokenizer"
)

const tokDir = "../../testdata/reference/tokenizers/wordpiece-uncased"

// writeCorpus makes a small repetitive corpus that a tiny model can learn.
func writeCorpus(t *testing.T) (string, string) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	subj := []string{"the cat", "a dog", "the bird", "my friend", "the teacher"}
	verb := []string{"sat on", "looked at", "walked to", "found", "liked"}
	obj := []string{"the mat", "the house", "a tree", "the river", "the garden"}
	var b strings.Builder
	for i := 0; i < 400; i++ {
		k := rng.IntN(5)
		fmt.Fprintf(&b, "%s %s %s and then %s %s %s again.\n", subj[k], verb[k], obj[k], subj[k], verb[k], obj[k])
	}
	os.MkdirAll(filepath.Join(dir, "train"), 0o755)
	os.MkdirAll(filepath.Join(dir, "heldout"), 0o755)
	os.WriteFile(filepath.Join(dir, "train", "a.txt"), []byte(b.String()), 0o644)
	os.WriteFile(filepath.Join(dir, "heldout", "h.txt"), []byte(b.String()[:4000]), 0o644)
	return filepath.Join(dir, "train"), filepath.Join(dir, "heldout")
}

func tinyModel(t *testing.T, tok *tokenizer.Tokenizer) *model.Model {
	c := model.Config{Arch: "bert", Vocab: tok.VocabSize(), Hidden: 32, Layers: 2, Heads: 2, Inter: 64, MaxPos: 64,
		TypeVocab: 2, Act: "gelu", Eps: 1e-12, HasMLM: true, HiddenDrop: 0.1, AttnDrop: 0.1}
	m, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPretrainLearnsAndResumesBitExact(t *testing.T) {
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		t.Skip("reference tokenizer missing:", err)
	}
	train, held := writeCorpus(t)
	opts := func(out string, steps int) Options {
		return Options{Corpus: []string{train}, Heldout: held, SeqLen: 32, Batch: 8, Steps: steps, Warmup: 5,
			LR: 3e-3, Seed: 3, LogEvery: 10, EvalEvery: 1000, EvalSeqs: 16, Out: out}
	}
	// Uninterrupted 60 steps.
	outA := t.TempDir()
	mA := tinyModel(t, tok)
	tr, err := New(mA, tok, opts(outA, 60))
	if err != nil {
		t.Fatal(err)
	}
	before, err := tr.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(); err != nil {
		t.Fatal(err)
	}
	after, _ := tr.Evaluate()
	if !(after.Loss < before.Loss-0.5) {
		t.Errorf("held-out loss did not drop: %.3f -> %.3f", before.Loss, after.Loss)
	}
	// Interrupted at 25, resumed to 60 with a fresh process state.
	outB := t.TempDir()
	oB := opts(outB, 60)
	oB.StopAfter = 25
	trB, _ := New(tinyModel(t, tok), tok, oB)
	if _, err := trB.Run(); err != nil {
		t.Fatal(err)
	}
	mB := tinyModel(t, tok)
	trB2, err := New(mB, tok, opts(outB, 60))
	if err != nil {
		t.Fatal(err)
	}
	if trB2.st.Step != 25 {
		t.Fatalf("resumed at step %d, want 25", trB2.st.Step)
	}
	if _, err := trB2.Run(); err != nil {
		t.Fatal(err)
	}
	if mA.Hash() != mB.Hash() {
		t.Fatal("resumed run differs from the uninterrupted one")
	}
	// Export loads back as a Hugging Face folder with an MLM head.
	exp := filepath.Join(outA, "model")
	if err := tr.Export(exp, tokDir, "F32"); err != nil {
		t.Fatal(err)
	}
	m2, err := model.Load(exp)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Hash() != mA.Hash() || !m2.Cfg.HasMLM {
		t.Fatal("exported model differs")
	}
	if _, err := tokenizer.Load(exp); err != nil {
		t.Fatal(err)
	}
}

func TestMaskingProportions(t *testing.T) {
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		t.Skip("reference tokenizer missing:", err)
	}
	tr := &Trainer{Tok: tok, O: Options{SeqLen: 100, MaskProb: 0.15}, special: map[int32]bool{tok.CLSID(): true, tok.SEPID(): true}, mask: tok.MaskID()}
	tr.M = tinyModel(t, tok)
	seq := make([]int32, 100)
	for i := range seq {
		seq[i] = int32(1000 + i%50)
	}
	seq[0], seq[99] = tok.CLSID(), tok.SEPID()
	seqs := make([][]int32, 200)
	for i := range seqs {
		seqs[i] = seq
	}
	ids, rows, labels := tr.maskBatch(seqs, rand.New(rand.NewPCG(1, 2)))
	frac := float64(len(rows)) / float64(200*98)
	if frac < 0.14 || frac > 0.16 {
		t.Errorf("masked fraction %.3f, want about 0.15", frac)
	}
	var masked, kept int
	for i, r := range rows {
		switch ids[r] {
		case tok.MaskID():
			masked++
		case labels[i]:
			kept++
		}
		if r%100 == 0 || r%100 == 99 {
			t.Fatal("a special token was masked")
		}
	}
	if f := float64(masked) / float64(len(rows)); f < 0.77 || f > 0.83 {
		t.Errorf("[MASK] share %.3f, want about 0.8", f)
	}
	if f := float64(kept) / float64(len(rows)); f < 0.08 || f > 0.125 {
		t.Errorf("kept share %.3f, want about 0.1 (plus random hits)", f)
	}
}

// The packed-id cache in out/data is reused for the same corpus and
// tokenized again when the corpus changes.
func TestDataCacheFollowsCorpus(t *testing.T) {
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		t.Skip("reference tokenizer missing:", err)
	}
	train, _ := writeCorpus(t)
	out := t.TempDir()
	o := Options{Corpus: []string{train}, SeqLen: 32, Batch: 4, Steps: 1, Seed: 3, Out: out}
	count := func() int {
		tr, err := New(tinyModel(t, tok), tok, o)
		if err != nil {
			t.Fatal(err)
		}
		return len(tr.train)
	}
	n1 := count()
	if n2 := count(); n2 != n1 {
		t.Fatalf("same corpus: %d then %d sequences", n1, n2)
	}
	b, _ := os.ReadFile(filepath.Join(train, "a.txt"))
	os.WriteFile(filepath.Join(train, "b.txt"), b, 0o644)
	if n3 := count(); n3 <= n1 {
		t.Fatalf("corpus doubled but the cache gave %d sequences (was %d)", n3, n1)
	}
}
