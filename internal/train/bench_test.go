package train

import (
	"math/rand/v2"
	"testing"

	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
)

// stepper builds a Stepper with LoRA rank r on query and value and B
// random full-length examples of T tokens.
func stepper(tb testing.TB, c model.Config, r, B, T int, lr float64) (*Stepper, []Example) {
	tb.Helper()
	m, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		tb.Fatal(err)
	}
	ranks, err := lora.ParseRanks(string(rune('0'+r)), []string{model.Query, model.Value}, c.Layers)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := lora.New(c, ranks, lora.Options{Convention: lora.Standard, Alpha: 16, AlphaMode: lora.AlphaFix}, model.HeadHF, 2)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := NewStepper(m, a, Options{Steps: 1 << 20, Batch: B, Schedule: Schedule{Kind: Constant, LR: lr},
		Shape: Shape{MaxLen: T, Pad: PadMax}, HeadDropout: 0.1, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ex := make([]Example, B)
	for i := range ex {
		ids := make([]int32, T)
		for j := range ids {
			ids[j] = int32(5 + rng.IntN(c.Vocab-5))
		}
		ex[i] = Example{IDs: ids, Label: i % 2}
	}
	return st, ex
}

// BenchmarkTrainStep is one LoRA update of a BERT-base-shaped model: batch
// 8 × 128, r = 8 on query and value, dropout 0.1 (see bench/train_step.sh
// for the comparison with PyTorch).
func BenchmarkTrainStep(b *testing.B) {
	c := model.BertBase()
	c.HiddenDrop, c.AttnDrop = 0.1, 0.1
	st, ex := stepper(b, c, 8, 8, 128, 1e-4)
	if _, err := st.Step(ex); err != nil { // warm-up: workspace allocation
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := st.Step(ex); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(8*128*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// Repeated updates on one batch drive its loss down.
func TestStepperLearns(t *testing.T) {
	c := tinyConfig("bert")
	c.HiddenDrop, c.AttnDrop = 0, 0
	st, ex := stepper(t, c, 2, 4, 8, 3e-2)
	first, err := st.Step(ex)
	if err != nil {
		t.Fatal(err)
	}
	var last float64
	for i := 0; i < 30; i++ {
		if last, err = st.Step(ex); err != nil {
			t.Fatal(err)
		}
	}
	if !(last < 0.5*first) {
		t.Errorf("loss %v after 30 updates, %v at the first", last, first)
	}
	ex[0].Label = 5
	if _, err := st.Step(ex); err == nil {
		t.Error("label outside the classes accepted")
	}
}
