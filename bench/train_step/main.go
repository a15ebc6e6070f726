// Command train_step times one LoRA training update (forward, backward to the
// lowest adapted layer, AdamW) of a BERT-base-shaped model with random
// weights: batch 8 × 128 tokens, LoRA r = 8 on query and value (standard
// convention, alpha 16), the hf head on the pooled output, dropout 0.1, mean
// cross-entropy. Prints the median seconds per update, tokens/s and peak RSS.
// bench/train_step_torch.py runs the same update in PyTorch.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/train"
)

func main() {
	batch := flag.Int("batch", 8, "sequences per update")
	seq := flag.Int("seq", 128, "tokens per sequence")
	rank := flag.Int("rank", 8, "LoRA rank on query and value")
	reps := flag.Int("reps", 5, "timed updates (after one warm-up)")
	layers := flag.Int("layers", 12, "encoder layers")
	flag.Parse()
	if err := run(*batch, *seq, *rank, *reps, *layers); err != nil {
		fmt.Fprintln(os.Stderr, "train_step:", err)
		os.Exit(1)
	}
}

func run(B, T, rank, reps, layers int) error {
	c := model.BertBase()
	c.Layers = layers
	c.HiddenDrop, c.AttnDrop = 0.1, 0.1
	m, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		return err
	}
	r, err := lora.ParseRanks(fmt.Sprint(rank), []string{model.Query, model.Value}, c.Layers)
	if err != nil {
		return err
	}
	a, err := lora.New(c, r, lora.Options{Convention: lora.Standard, Alpha: 16, AlphaMode: lora.AlphaFix}, model.HeadHF, 2)
	if err != nil {
		return err
	}
	o := train.Options{Steps: reps + 1, Batch: B, Schedule: train.Schedule{Kind: train.Constant, LR: 1e-4},
		Shape: train.Shape{MaxLen: T, Pad: train.PadMax}, HeadDropout: 0.1, Seed: 1}
	st, err := train.NewStepper(m, a, o)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ex := make([]train.Example, B)
	for i := range ex {
		ids := make([]int32, T)
		for j := range ids {
			ids[j] = int32(1000 + rng.IntN(20000))
		}
		ex[i] = train.Example{IDs: ids, Label: i % 2}
	}
	var times []float64
	for i := 0; i <= reps; i++ {
		t0 := time.Now()
		if _, err := st.Step(ex); err != nil {
			return err
		}
		if i > 0 { // the first update is a warm-up (allocations)
			times = append(times, time.Since(t0).Seconds())
		}
	}
	sort.Float64s(times)
	med := times[len(times)/2]
	fmt.Printf("adarank train step: batch %dx%d, %d layers, LoRA r=%d on query+value, GOMAXPROCS %d: median %.3fs, %.0f tokens/s, peak RSS %s\n",
		B, T, layers, rank, runtime.GOMAXPROCS(0), med, float64(B*T)/med, peakRSS())
	return nil
}

// peakRSS reads VmHWM from /proc/self/status.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
