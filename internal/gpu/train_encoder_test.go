package gpu

import (
	"github.com/adarank/adarank/internal/backend/host"
	"math/rand/v2"
	"testing"

	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/train"
)

func syntheticExamples(n int, seed uint64) []train.Example {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]train.Example, n)
	for i := range out {
		L := 3 + rng.IntN(8)
		ids := make([]int32, L)
		for j := range ids {
			ids[j] = int32(5 + rng.IntN(35))
		}
		lab := rng.IntN(3)
		ids[1+rng.IntN(L-1)] = int32(2 + lab)
		out[i] = train.Example{IDs: ids, Label: lab}
	}
	return out
}

// A whole train.Train run with the encoder on the emulated GPU (adapters,
// trained biases, pooler head, evaluation) follows the CPU run: without
// dropout the two compute the same function, so the adapters and metrics
// agree to float32 rounding.
func TestTrainWithGPUEncoderMatchesCPU(t *testing.T) {
	for _, head := range []string{"paper", "hf"} {
		run := func(gpuEnc bool) (*train.Result, *lora.Adapter) {
			m := testModel(t, "bert", "gelu", true)
			r, err := lora.ParseRanks("query=2,4,1;value=4,2,3", []string{model.Query, model.Value}, m.Cfg.Layers)
			if err != nil {
				t.Fatal(err)
			}
			a, err := lora.New(m.Cfg, r, lora.Options{Convention: lora.Standard, Alpha: 8, AlphaMode: lora.AlphaFix}, head, 3)
			if err != nil {
				t.Fatal(err)
			}
			a.Classes = []string{"x", "y", "z"}
			a.AttachBias(m)
			d := &train.Data{Train: syntheticExamples(64, 1), Val: syntheticExamples(20, 2), Test: syntheticExamples(20, 3), Classes: a.Classes}
			o := train.Options{Steps: 6, Batch: 8, Accum: 2, Schedule: train.Schedule{Kind: train.Constant, LR: 5e-3},
				WeightDecay: 0.01, Shape: train.Shape{MaxLen: 16, Pad: train.PadLongest}, Seed: 7, EvalEvery: 3, OutDir: t.TempDir()}
			if gpuEnc {
				enc, err := NewLoRAEncoder(host.New(), m, a.Ad, a.Bias, 8, 16)
				if err != nil {
					t.Fatal(err)
				}
				o.Encoder = enc
			}
			res, err := train.Train(m, a, d, o)
			if err != nil {
				t.Fatal(err)
			}
			return res, a
		}
		cpuRes, cpuA := run(false)
		gpuRes, gpuA := run(true)
		if cpuRes.Test.Accuracy != gpuRes.Test.Accuracy || cpuRes.BestStep != gpuRes.BestStep {
			t.Errorf("%s head: test accuracy %v / best step %d on the GPU path, %v / %d on the CPU", head,
				gpuRes.Test.Accuracy, gpuRes.BestStep, cpuRes.Test.Accuracy, cpuRes.BestStep)
		}
		if d := gpuRes.Test.Loss - cpuRes.Test.Loss; d > 1e-4 || d < -1e-4 {
			t.Errorf("%s head: test loss %v vs %v", head, gpuRes.Test.Loss, cpuRes.Test.Loss)
		}
		cpuA.Ad.Each(func(l int, typ string, w *model.LoRA) {
			g := gpuA.Ad.Get(l, typ)
			if e := relErr(g.B, w.B); !(e < 1e-3) {
				t.Errorf("%s head: layer %d %s lora_B rel err %.3g", head, l, typ, e)
			}
		})
	}
}
