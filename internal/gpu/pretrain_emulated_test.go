package gpu_test

import (
	"fmt"
	"github.com/adarank/adarank/internal/backend/host"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/gpu"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/pretrain"
	"github.com/adarank/adarank/internal/tokenizer"
)

const tokDir = "../../testdata/reference/tokenizers/wordpiece-uncased"

func corpus(t *testing.T) string {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	subj := []string{"the cat", "a dog", "the bird", "my friend"}
	obj := []string{"the mat", "the house", "a tree", "the river"}
	var b strings.Builder
	for i := 0; i < 120; i++ {
		k := rng.IntN(4)
		fmt.Fprintf(&b, "%s sat on %s and then %s sat on %s again.\n", subj[k], obj[k], subj[k], obj[k])
	}
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte(b.String()), 0o644)
	return dir
}

func tinyMLM(t *testing.T, tok *tokenizer.Tokenizer, dropout float32) *model.Model {
	c := model.Config{Arch: "bert", Vocab: tok.VocabSize(), Hidden: 16, Layers: 2, Heads: 2, Inter: 32, MaxPos: 40,
		TypeVocab: 2, Act: "gelu", Eps: 1e-12, HasMLM: true, HiddenDrop: dropout, AttnDrop: dropout}
	m, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func losses(t *testing.T, out string) []float64 {
	b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var ls []float64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var step int
		var l float64
		if n, _ := fmt.Sscanf(line, `{"step":%d,"loss":%g`, &step, &l); n == 2 {
			ls = append(ls, l)
		}
	}
	return ls
}

// `pretrain` with its steps on the (emulated) GPU: without dropout it
// follows the CPU run (same data, masks and updates, to float32 rounding),
// and with dropout a run stopped and resumed from its checkpoint ends with
// the weights of an uninterrupted run.
func TestPretrainOnEmulatedGPU(t *testing.T) {
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		t.Skip("reference tokenizer missing:", err)
	}
	dir := corpus(t)
	opts := func(out string, steps int, onGPU bool) pretrain.Options {
		o := pretrain.Options{Corpus: []string{dir}, SeqLen: 16, Batch: 4, Steps: steps, Warmup: 2, LR: 3e-3, Seed: 5,
			LogEvery: 1, EvalEvery: 1000, Out: out}
		if onGPU {
			o.GPUUpload = func(m *model.Model) (*gpu.Model, error) { return gpu.Upload(host.New(), m) }
		}
		return o
	}
	run := func(m *model.Model, o pretrain.Options) *model.Model {
		tr, err := pretrain.New(m, tok, o)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if _, err := tr.Run(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// No dropout: GPU path == CPU path.
	cpuOut, gpuOut := t.TempDir(), t.TempDir()
	run(tinyMLM(t, tok, 0), opts(cpuOut, 6, false))
	run(tinyMLM(t, tok, 0), opts(gpuOut, 6, true))
	lc, lg := losses(t, cpuOut), losses(t, gpuOut)
	if len(lc) != 6 || len(lg) != 6 {
		t.Fatalf("losses logged: CPU %d, GPU %d", len(lc), len(lg))
	}
	for i := range lc {
		if math.Abs(lc[i]-lg[i]) > 1e-3*math.Abs(lc[i]) {
			t.Errorf("step %d: loss %.6f on the GPU path, %.6f on the CPU", i+1, lg[i], lc[i])
		}
	}
	// With dropout: stop after 3 steps, resume in a new trainer, compare.
	full := run(tinyMLM(t, tok, 0.1), opts(t.TempDir(), 6, true))
	out := t.TempDir()
	o := opts(out, 6, true)
	o.StopAfter = 3
	run(tinyMLM(t, tok, 0.1), o)
	if n := len(losses(t, out)); n != 3 {
		t.Fatalf("stopped run logged %d steps, want 3", n)
	}
	resumed := run(tinyMLM(t, tok, 0.1), opts(out, 6, true))
	if n := len(losses(t, out)); n != 6 { // 3 more, not 6 from scratch
		t.Fatalf("after resuming, %d steps logged, want 6", n)
	}
	for i := range full.P.Data {
		if full.P.Data[i] != resumed.P.Data[i] {
			t.Fatalf("parameter %d: %v uninterrupted, %v after resuming", i, full.P.Data[i], resumed.P.Data[i])
		}
	}
}
