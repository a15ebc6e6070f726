// Command forward times the encoder forward pass (inference) of a
// BERT-base-shaped model with random weights: median tokens/s over
// repeated runs, and peak resident memory.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/model"
)

func main() {
	batch := flag.Int("batch", 8, "sequences per batch")
	seq := flag.Int("seq", 128, "tokens per sequence")
	reps := flag.Int("reps", 5, "timed repetitions (after one warm-up)")
	layers := flag.Int("layers", 12, "encoder layers")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the timed runs to this file")
	flag.Parse()
	c := model.BertBase()
	c.Layers = *layers
	m, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	B, T := *batch, *seq
	rng := rand.New(rand.NewPCG(1, 2))
	b := model.Batch{B: B, T: T, IDs: make([]int32, B*T), Mask: make([]int32, B*T)}
	for i := range b.IDs {
		b.IDs[i] = int32(1000 + rng.IntN(20000))
		b.Mask[i] = 1
	}
	ws := m.NewWorkspace(B, T, false, nil)
	run := func() time.Duration {
		t0 := time.Now()
		m.Encode(ws, b, nil, model.FwdOpts{})
		m.Pool(ws)
		return time.Since(t0)
	}
	run() // warm-up
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	var times []float64
	for i := 0; i < *reps; i++ {
		times = append(times, run().Seconds())
	}
	sort.Float64s(times)
	med := times[len(times)/2]
	fmt.Printf("adarank forward: batch %dx%d, %d layers, GOMAXPROCS %d: median %.3fs, %.0f tokens/s, peak RSS %s\n",
		B, T, *layers, runtime.GOMAXPROCS(0), med, float64(B*T)/med, peakRSS())
}

// peakRSS reads VmHWM from /proc/self/status.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "n/a"
}
