package train_test

import (
	"math/rand/v2"
	"testing"

	"github.com/adarank/adarank/internal/defaultmodel"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/train"
)

// freeEncoder stands in for a GPU encoder that takes no time: what is left
// of a training step is the host's part (batching, head, loss, AdamW).
type freeEncoder struct{ H int }

func (e freeEncoder) Encode(b model.Batch, pooled, train bool, seed uint64) ([]float32, error) {
	x := make([]float32, b.B*e.H)
	for i := range x {
		x[i] = float32(i%7) * 0.01
	}
	return x, nil
}

func (freeEncoder) Backward([]float32, bool, model.Grads) error { return nil }

// BenchmarkHostPartOfGPUStep: the host's share of one `adarank train
// --device cuda` update on the embedded 6×384 model, batch 32 × 128, r = 8 on
// query and value (ns/op is per update; the run's save at the end included).
//
//	go test ./internal/train -run xxx -bench HostPart -benchtime 200x
func BenchmarkHostPartOfGPUStep(b *testing.B) {
	m, _, err := defaultmodel.Load()
	if err != nil {
		b.Skip(err)
	}
	for _, head := range []string{"paper", "hf"} {
		b.Run(head, func(b *testing.B) {
			ranks := "query=8,8,8,8,8,8;value=8,8,8,8,8,8"
			r, err := lora.ParseRanks(ranks, []string{model.Query, model.Value}, m.Cfg.Layers)
			if err != nil {
				b.Fatal(err)
			}
			a, err := lora.New(m.Cfg, r, lora.Options{Convention: lora.Standard, Alpha: 16, AlphaMode: lora.AlphaFix}, head, 2)
			if err != nil {
				b.Fatal(err)
			}
			a.Classes = []string{"x", "y"}
			rng := rand.New(rand.NewPCG(1, 2))
			ex := make([]train.Example, 2048)
			for i := range ex {
				ids := make([]int32, 126)
				for j := range ids {
					ids[j] = int32(1000 + rng.IntN(5000))
				}
				ex[i] = train.Example{IDs: ids, Label: i % 2}
			}
			d := &train.Data{Train: ex, Val: ex[:32], Test: ex[:32], Classes: a.Classes}
			o := train.Options{Steps: b.N, Batch: 32, Schedule: train.Schedule{Kind: train.Constant, LR: 1e-3},
				Shape: train.Shape{MaxLen: 128, Pad: train.PadMax}, Seed: 7, OutDir: b.TempDir(), Encoder: freeEncoder{m.Cfg.Hidden}}
			b.ResetTimer()
			if _, err := train.Train(m, a, d, o); err != nil {
				b.Fatal(err)
			}
		})
	}
}
