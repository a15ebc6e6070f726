package gpu

import (
	"github.com/adarank/adarank/internal/backend/host"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/nn"
)

const peftFixtureDir = "../../testdata/reference/lora"

// peftFixtureBatch reads a PEFT fixture's batch and labels (token_type_ids optional).
func peftFixtureBatch(t *testing.T, f *hf.File) (model.Batch, []int32) {
	t.Helper()
	b, err := model.BatchFromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	labels, _, err := f.Int32s("labels")
	if err != nil {
		t.Fatal(err)
	}
	return b, labels
}

// TestPEFTFixtureTrainer runs the PEFT fixtures (adapters saved by PEFT on
// tiny BERT / RoBERTa bases, with transformers' loss and gradients) through
// the emulated GPU trainer: encoder forward and backward on the "device",
// the classifier head on the host as in train. Every LoRA-factor and head
// gradient must match PyTorch's within 1e-3 relative (the tolerance of
// internal/lora's TestPEFTFixture), as must the loss.
func TestPEFTFixtureTrainer(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(peftFixtureDir, "*"))
	if len(dirs) == 0 {
		t.Skip("no PEFT fixtures in testdata/reference/lora (run tools/reference/make_fixtures.py)")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := model.Load(filepath.Join(dir, "base"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := lora.Load(filepath.Join(dir, "adapter"), m)
			if err != nil {
				t.Fatal(err)
			}
			exp, err := hf.ReadSafetensors(filepath.Join(dir, "expected.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			b, labels := peftFixtureBatch(t, exp)
			d := host.New()
			g, err := Upload(d, m)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := g.NewTrainer(TrainConfig{MaxB: b.B, T: b.T, Adapters: a.Ad})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Free()
			// Eval mode (no dropout), as the fixture.
			if err := tr.Forward(b, false, 0); err != nil {
				t.Fatal(err)
			}
			pooled := a.Head.UsesPooler()
			x, err := tr.HeadInput(pooled)
			if err != nil {
				t.Fatal(err)
			}
			acts := a.Head.Forward(x, b.B, false, 0, nil)
			if e := relErr(acts.Logits, peftFixtureF32(t, exp, "logits")); !(e <= 1e-4) {
				t.Errorf("logits rel err %.3g > 1e-4", e)
			}
			C := a.Head.C
			losses, probs := make([]float32, b.B), make([]float32, b.B*C)
			nn.CrossEntropyForward(losses, probs, acts.Logits, labels, b.B, C)
			var loss float64
			for _, l := range losses {
				loss += float64(l)
			}
			loss /= float64(b.B)
			if wl := float64(peftFixtureF32(t, exp, "loss")[0]); !(math.Abs(loss-wl) <= 1e-4*max(1, math.Abs(wl))) {
				t.Errorf("loss %.6f, transformers %.6f", loss, wl)
			}
			gAd, gHead := a.Ad.Like(), a.Head.Like()
			dLogits := make([]float32, b.B*C)
			nn.CrossEntropyBackward(dLogits, probs, labels, b.B, C, 1/float32(b.B))
			dX := a.Head.Backward(acts, dLogits, gHead)
			if err := tr.ZeroGrads(); err != nil {
				t.Fatal(err)
			}
			if err := tr.BackwardHead(dX, pooled); err != nil {
				t.Fatal(err)
			}
			if err := tr.AddGrads(model.Grads{Adapters: gAd}); err != nil {
				t.Fatal(err)
			}
			// Our gradients under their saved (PEFT) names: the adapter's own
			// naming applied to an adapter made of the gradients.
			ga := &lora.Adapter{Arch: a.Arch, Ad: gAd, Head: gHead}
			ours := map[string][]float32{}
			for _, wt := range ga.Tensors() {
				ours[wt.Name] = wt.F32
			}
			saved, worst := 0, 0.0
			for _, name := range exp.Order {
				key, ok := strings.CutPrefix(name, "grad.")
				if !ok {
					continue
				}
				saved++
				got := ours[key]
				if got == nil {
					t.Errorf("no gradient for %s", key)
					continue
				}
				e := relErr(got, peftFixtureF32(t, exp, name))
				worst = max(worst, e)
				if !(e <= 1e-3) {
					t.Errorf("gradient of %s: rel err %.3g > 1e-3", key, e)
				}
			}
			t.Logf("%d gradients, largest rel err %.3g", saved, worst)
			if saved != len(ours) || saved == 0 {
				t.Errorf("fixture has %d gradients, the adapter %d trainable tensors", saved, len(ours))
			}
			// The backward pass stops at the lowest adapted layer.
			if got, want := tr.lowest(), a.Ad.Lowest(); got != want {
				t.Errorf("backward stops at layer %d, lowest adapter is in layer %d", got, want)
			}
		})
	}
}

func peftFixtureF32(t *testing.T, f *hf.File, name string) []float32 {
	t.Helper()
	v, err := f.Float32s(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
