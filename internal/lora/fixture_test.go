package lora

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/nn"
)

const fixtureDir = "../../testdata/reference/lora"

func fixtureTensor(t *testing.T, f *hf.File, name string) []float32 {
	t.Helper()
	v, err := f.Float32s(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPEFTFixture loads adapters saved by PEFT (tools/reference/make_fixtures.py)
// onto their base models: logits within 1e-4 and the loss must match
// transformers + PEFT, and the gradients of every LoRA factor and of the
// classifier (eval mode, mean cross-entropy) within 1e-3 relative.
func TestPEFTFixture(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(fixtureDir, "*"))
	if len(dirs) == 0 {
		t.Skip("no PEFT fixtures in testdata/reference/lora (run tools/reference/make_fixtures.py)")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := model.Load(filepath.Join(dir, "base"))
			if err != nil {
				t.Fatal(err)
			}
			a, err := Load(filepath.Join(dir, "adapter"), m)
			if err != nil {
				t.Fatal(err)
			}
			exp, err := hf.ReadSafetensors(filepath.Join(dir, "expected.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := model.BatchFromFile(exp)
			if err != nil {
				t.Fatal(err)
			}
			labels, _, err := exp.Int32s("labels")
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Validate(b); err != nil {
				t.Fatal(err)
			}
			// Forward on a training workspace in eval mode (no dropout), then backward.
			ws := m.NewWorkspace(b.B, b.T, true, a.Ad)
			opt := model.FwdOpts{}
			m.Encode(ws, b, a.Ad, opt)
			var x []float32
			if a.Head.UsesPooler() {
				x = m.Pool(ws)
			} else {
				x = m.CLS(ws)
			}
			acts := a.Head.Forward(x, b.B, false, 0, nil)
			want := fixtureTensor(t, exp, "logits")
			if e := maxRel(acts.Logits, want); e > 1e-4 {
				t.Errorf("logits rel err %.3g > 1e-4", e)
			}
			C := a.Head.C
			losses := make([]float32, b.B)
			probs := make([]float32, b.B*C)
			nn.CrossEntropyForward(losses, probs, acts.Logits, labels, b.B, C)
			var loss float64
			for _, l := range losses {
				loss += float64(l)
			}
			loss /= float64(b.B)
			if wl := float64(fixtureTensor(t, exp, "loss")[0]); abs64(loss-wl) > 1e-4*max(1, abs64(wl)) {
				t.Errorf("loss %.6f, transformers %.6f", loss, wl)
			}
			gAd, gHead := a.Ad.Like(), a.Head.Like()
			dLogits := make([]float32, b.B*C)
			nn.CrossEntropyBackward(dLogits, probs, labels, b.B, C, 1/float32(b.B))
			dX := a.Head.Backward(acts, dLogits, gHead)
			H := m.Cfg.Hidden
			dHidden := make([]float32, b.B*b.T*H)
			g := model.Grads{Adapters: gAd}
			if a.Head.UsesPooler() {
				m.PoolBackward(ws, dHidden, dX, g)
			} else {
				for s := 0; s < b.B; s++ {
					nn.AddInto(dHidden[s*b.T*H:s*b.T*H+H], dX[s*H:(s+1)*H])
				}
			}
			m.Backward(ws, dHidden, a.Ad, g, opt)
			// Our gradient of each saved tensor, by its saved name.
			saved := 0
			ours := map[string][]float32{}
			gAd.Each(func(l int, typ string, gl *model.LoRA) {
				ours[loraKey(m.Cfg.Arch, typ, l, "A")] = gl.A
				ours[loraKey(m.Cfg.Arch, typ, l, "B")] = gl.B
			})
			w1, b1, w2, b2 := headKeys(model.HeadHF, m.Cfg.Arch)
			ours[w2], ours[b2] = gHead.W2, gHead.B2
			if gHead.W1 != nil {
				ours[w1], ours[b1] = gHead.W1, gHead.B1
			}
			worst := 0.0
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
				e := maxRel(got, fixtureTensor(t, exp, name))
				worst = max(worst, e)
				if e > 1e-3 {
					t.Errorf("gradient of %s: rel err %.3g > 1e-3", key, e)
				}
			}
			t.Logf("%d gradients, largest rel err %.3g", saved, worst)
			if saved != len(ours) {
				t.Errorf("fixture has %d gradients, the adapter %d trainable tensors", saved, len(ours))
			}
			// Re-saving in adarank's PEFT layout keeps every key PEFT wrote.
			out := t.TempDir()
			if err := a.Save(out); err != nil {
				t.Fatal(err)
			}
			orig, _ := hf.ReadSafetensors(filepath.Join(dir, "adapter", TensorFile))
			ours2, _ := hf.ReadSafetensors(filepath.Join(out, TensorFile))
			for name, tn := range orig.Tensors {
				o := ours2.Tensors[name]
				if o == nil || !sameInts(o.Shape, tn.Shape) {
					t.Errorf("re-saved adapter lacks %s %v", name, tn.Shape)
				}
			}
			if len(ours2.Tensors) != len(orig.Tensors) {
				t.Errorf("re-saved adapter has %d tensors, PEFT's %d", len(ours2.Tensors), len(orig.Tensors))
			}
			if _, err := os.Stat(filepath.Join(out, PEFTConfig)); err != nil {
				t.Error(err)
			}
			// And it loads back to the same logits.
			a2, err := Load(out, m)
			if err != nil {
				t.Fatal(err)
			}
			if e := maxRel(logits(m, a2, b), acts.Logits); e > 1e-6 {
				t.Errorf("re-saved adapter logits rel err %.3g", e)
			}
		})
	}
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
