// Command sweep times the AdaRank perturbation sweep on a BERT-base-shaped
// model with random weights, with the layer-input cache and without it.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/model"
)

func main() {
	probes := flag.Int("probes", 9, "probe sequences")
	seq := flag.Int("seq", 40, "tokens per probe")
	trials := flag.Int("trials", 1, "trials per module")
	modules := flag.String("modules", "value", "module types")
	layers := flag.Int("layers", 12, "encoder layers")
	flag.Parse()
	c := model.BertBase()
	c.Layers = *layers
	m, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	B, T := *probes, *seq
	rng := rand.New(rand.NewPCG(3, 4))
	b := model.Batch{B: B, T: T, IDs: make([]int32, B*T), Mask: make([]int32, B*T)}
	for s := 0; s < B; s++ {
		n := T - rng.IntN(T/2) // ragged lengths, padded
		for t := 0; t < T; t++ {
			if t < n {
				b.IDs[s*T+t] = int32(1000 + rng.IntN(20000))
				b.Mask[s*T+t] = 1
			}
		}
	}
	o := adarank.SweepOptions{Modules: strings.Split(*modules, ","), Trials: *trials, NoiseScale: 1, BiasNoise: true, Seed: 1}
	time1 := func(noCache bool) (time.Duration, []adarank.Importance) {
		o.NoCache = noCache
		t0 := time.Now()
		r, err := adarank.Sweep(m, b, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return time.Since(t0), r
	}
	fast, rf := time1(false)
	slow, rs := time1(true)
	var maxDiff float64
	for i := range rf {
		d := rf[i].Mean - rs[i].Mean
		if d < 0 {
			d = -d
		}
		maxDiff = max(maxDiff, d)
	}
	n := len(rf) * *trials
	fmt.Printf("sweep %s x %d layers x %d trials x 2 copies, %d probes x %d tokens, GOMAXPROCS %d: cached %.2fs (%.3fs/module-trial), no-cache %.2fs, speed-up %.2fx, max |Δimportance| %.2g\n",
		*modules, *layers, *trials, B, T, runtime.GOMAXPROCS(0), fast.Seconds(), fast.Seconds()/float64(n), slow.Seconds(),
		slow.Seconds()/fast.Seconds(), maxDiff)
}
