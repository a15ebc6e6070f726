// Command gpucheck runs on the GPU host (see tools/gpu/parity_and_bench.sh):
// it checks the CUDA backend against the CPU engine (forward outputs, sweep
// importances with the same noise, training gradients in fp32, tf32 and
// bf16, and LoRA gradients against the PyTorch fixtures), times the AdaRank
// sweep on a BERT-base-shaped model, and times a LoRA fine-tuning step and a
// full (pretraining) step. Results go to stdout and, one JSON object per
// line, to -json.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/gpu"
	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/model"
)

var (
	profileOps *bool
	jsonOut    *os.File
	failed     bool
)

func record(v map[string]any) {
	if jsonOut != nil {
		b, _ := json.Marshal(v)
		fmt.Fprintln(jsonOut, string(b))
	}
}

func main() {
	ordinal := flag.Int("device", 0, "GPU ordinal")
	jsonPath := flag.String("json", "", "write results as JSON lines to this file")
	refDir := flag.String("ref", "testdata/reference/models", "reference model folders")
	smallTrials := flag.Int("small-trials", 5, "trials per module, 9-probe timing")
	bigTrials := flag.Int("big-trials", 1, "trials per module, 256×128 timing (the time per module-trial is what matters)")
	bigProbes := flag.Int("big-probes", 256, "probes in the large timing case")
	cpuTime := flag.Bool("cpu", true, "also time the CPU sweep (1 trial) on the 9-probe case")
	skipParity := flag.Bool("skip-parity", false, "timings only")
	resources := flag.Bool("resources", true, "print ptxas's register / spill report of the training kernels")
	loraRef := flag.String("lora-ref", "testdata/reference/lora", "PEFT fixture folders (adapter, base, PyTorch gradients)")
	skipTrain := flag.Bool("skip-train", false, "skip every training check and timing")
	trainParityOn := flag.Bool("train-parity", true, "training gradients: GPU vs CPU engine and vs the PyTorch fixtures")
	trainBench := flag.Bool("train-bench", true, "time a LoRA fine-tuning step (BERT-base, 32x128, r=8 on query,value)")
	profileOps = flag.Bool("profile", true, "after the LoRA-step timing, per-op GPU time of the step (CUDA events around every operation)")
	pretrainBench := flag.Bool("pretrain-bench", true, "time a full-training MLM step (6x384 and BERT-base)")
	trainSteps := flag.Int("train-steps", 20, "timed training steps per precision (after -train-warmup)")
	trainWarmup := flag.Int("train-warmup", 3, "untimed training steps per precision")
	trainPrecs := flag.String("train-precisions", "fp32,tf32,bf16,bf16-native", "GEMM precisions of the training checks and timings (bf16-native: experimental bf16-input GEMMs)")
	flag.Parse()
	precs := parseList(*trainPrecs)
	for _, p := range precs {
		if p != "fp32" && p != "tf32" && p != "bf16" && p != "bf16-native" {
			fatal(fmt.Errorf("-train-precisions: unknown precision %q (want fp32, tf32, bf16, bf16-native)", p))
		}
	}
	if *trainSteps < 1 || *trainWarmup < 0 {
		fatal(fmt.Errorf("-train-steps must be at least 1 and -train-warmup at least 0"))
	}
	if *jsonPath != "" {
		f, err := os.Create(*jsonPath)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		jsonOut = f
	}
	d, err := cuda.Open(*ordinal)
	if err != nil {
		fatal(err)
	}
	defer d.Close()
	fmt.Println(d)
	fmt.Println("libraries:", strings.Join(d.Libraries(), ", "), "| GOMAXPROCS", runtime.GOMAXPROCS(0))
	record(map[string]any{"kind": "device", "device": d.String(), "name": d.Name, "gomaxprocs": runtime.GOMAXPROCS(0),
		"date": time.Now().UTC().Format(time.RFC3339)})
	errorPaths(d)
	if *resources {
		// Registers, spills and shared memory of every training kernel (BERT-base width).
		if log, err := gpu.KernelResources(d, 768); err != nil {
			fmt.Println("kernel resources:", err)
		} else {
			fmt.Printf("== ptxas report, training kernels, H = 768, %d threads per LayerNorm row ==\n%s\n", gpu.LNThreads, log)
		}
	}
	if !*skipParity {
		forwardParity(d, *refDir)
		sweepParity(d, *refDir)
		if !*skipTrain && *trainParityOn {
			trainParity(d, *refDir, *loraRef, precs)
		}
	}
	timings(d, *smallTrials, *bigTrials, *bigProbes, *cpuTime)
	if !*skipTrain && (*trainBench || *pretrainBench) {
		peaks := gemmPeaks(d, precs)
		if *trainBench {
			loraStepBench(d, *trainSteps, *trainWarmup, precs, peaks)
		}
		if *pretrainBench {
			pretrainStepBench(d, *trainSteps, *trainWarmup, precs, peaks)
		}
	}
	if failed {
		fmt.Println("gpucheck: SOME CHECKS FAILED")
		os.Exit(1)
	}
	fmt.Println("gpucheck: all checks passed")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gpucheck:", err)
	os.Exit(1)
}

func check(ok bool, format string, a ...any) {
	status := "ok  "
	if !ok {
		status = "FAIL"
		failed = true
	}
	fmt.Printf("%s %s\n", status, fmt.Sprintf(format, a...))
}

// errorPaths checks that a compile error shows NVRTC's log and that an
// impossible allocation names the tensor.
func errorPaths(d *cuda.Device) {
	_, err := d.Compile("bad.cu", `extern "C" __global__ void bad(float* x) { x[0] = undefined_name; }`)
	check(err != nil && strings.Contains(err.Error(), "undefined_name"), "NVRTC error shows the log: %v", firstLine(err))
	_, err = d.AllocF32("a test tensor of 4 TiB", 1<<40)
	check(err != nil && strings.Contains(err.Error(), "a test tensor") && strings.Contains(err.Error(), "smaller batch"),
		"out-of-memory error names the tensor: %v", firstLine(err))
}

func firstLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		if math.IsNaN(float64(got[i])) {
			return math.Inf(1)
		}
		num = math.Max(num, math.Abs(float64(got[i])-float64(want[i])))
		den = math.Max(den, math.Abs(float64(want[i])))
	}
	return num / math.Max(den, 1e-30)
}

func maskedRows(x []float32, mask []int32, H int) []float32 {
	var out []float32
	for i, m := range mask {
		if mask == nil || m != 0 {
			out = append(out, x[i*H:(i+1)*H]...)
		}
	}
	return out
}

func cpuForward(m *model.Model, b model.Batch) (hidden, pooled []float32) {
	ws := m.NewWorkspace(b.B, b.T, false, nil)
	m.Encode(ws, b, nil, model.FwdOpts{})
	return append([]float32(nil), ws.Hidden()...), append([]float32(nil), m.Pool(ws)...)
}

// tolerances by precision: float32 accumulation-order differences, and
// TF32's 10-bit mantissa inputs.
func fwdTol(tf32 bool) float64 {
	if tf32 {
		return 2e-2
	}
	return 1e-4
}

// refItem is a reference model with its fixture batch and expected outputs.
type refItem struct {
	name string
	m    *model.Model
	b    model.Batch
	exp  *hf.File
}

// refModels loads every reference model folder under refDir (a failed
// load is a failed check).
func refModels(refDir string) []refItem {
	var items []refItem
	dirs, _ := filepath.Glob(filepath.Join(refDir, "*"))
	sort.Strings(dirs)
	for _, dir := range dirs {
		m, err := model.Load(dir)
		if err != nil {
			check(false, "load %s: %v", dir, err)
			continue
		}
		exp, err := hf.ReadSafetensors(filepath.Join(dir, "expected.safetensors"))
		if err != nil {
			check(false, "read %s: %v", dir, err)
			continue
		}
		items = append(items, refItem{filepath.Base(dir), m, fixtureBatch(exp), exp})
	}
	return items
}

func forwardParity(d *cuda.Device, refDir string) {
	fmt.Println("\n== forward: GPU vs CPU engine (max |Δ| / max |ref|) ==")
	items := refModels(refDir)
	base := bertBase(12)
	items = append(items, refItem{"random bert-base 8x128", base, randomBatch(base, 8, 128, 7), nil},
		refItem{"random bert-base 2x300", base, randomBatch(base, 2, 300, 8), nil}) // tf32: attn_tc over three key tiles
	for _, tf32 := range []bool{false, true} {
		if err := d.SetTF32(tf32); err != nil {
			fatal(err)
		}
		prec := precName(tf32)
		for _, it := range items {
			g, err := gpu.Upload(d, it.m)
			if err != nil {
				fatal(err)
			}
			out, err := g.Forward(it.b)
			g.Free()
			if err != nil {
				check(false, "%s %s: %v", it.name, prec, err)
				continue
			}
			hidden, pooled := cpuForward(it.m, it.b)
			H := it.m.Cfg.Hidden
			eh := relErr(maskedRows(out.Hidden, it.b.Mask, H), maskedRows(hidden, it.b.Mask, H))
			ep := relErr(out.Pooled, pooled)
			line := fmt.Sprintf("%-24s %-4s hidden %.2e  pooled %.2e", it.name, prec, eh, ep)
			rec := map[string]any{"kind": "forward", "model": it.name, "precision": prec, "hidden_rel": eh, "pooled_rel": ep}
			if it.exp != nil && it.exp.Tensors["last_hidden_state"] != nil {
				want, _ := it.exp.Tensors["last_hidden_state"].Float32()
				et := relErr(maskedRows(out.Hidden, it.b.Mask, H), maskedRows(want, it.b.Mask, H))
				line += fmt.Sprintf("  (vs transformers %.2e)", et)
				rec["vs_transformers"] = et
			}
			record(rec)
			tol := fwdTol(tf32)
			check(eh <= tol && ep <= tol, "%s (tol %.0e)", line, tol)
		}
	}
	d.SetTF32(false)
}

func precName(tf32 bool) string {
	if tf32 {
		return "tf32"
	}
	return "fp32"
}

func fixtureBatch(f *hf.File) model.Batch {
	b, err := model.BatchFromFile(f)
	if err != nil {
		fatal(err)
	}
	return b
}

func bertBase(layers int) *model.Model {
	c := model.Config{Arch: "bert", Vocab: 30522, Hidden: 768, Layers: layers, Heads: 12, Inter: 3072, MaxPos: 512,
		TypeVocab: 2, Act: "gelu", Eps: 1e-12, HasPooler: true}
	m, err := model.NewRandom(c, 1, 0.02)
	if err != nil {
		fatal(err)
	}
	return m
}

// randomBatch has ragged lengths (padded), as bench/sweep.
func randomBatch(m *model.Model, B, T int, seed uint64) model.Batch {
	rng := rand.New(rand.NewPCG(seed, 4))
	b := model.Batch{B: B, T: T, IDs: make([]int32, B*T), Mask: make([]int32, B*T)}
	for s := 0; s < B; s++ {
		n := T - rng.IntN(T/2)
		for t := 0; t < T; t++ {
			if t < n {
				b.IDs[s*T+t] = int32(1000 + rng.IntN(min(20000, m.Cfg.Vocab-1000)))
				b.Mask[s*T+t] = 1
			} else {
				b.IDs[s*T+t] = int32(m.Cfg.PadID)
			}
		}
	}
	return b
}

func sweepParity(d *cuda.Device, refDir string) {
	fmt.Println("\n== sweep importances: GPU vs CPU, same noise (max rel diff over every trial) ==")
	c := model.Config{Arch: "bert", Vocab: 2000, Hidden: 256, Layers: 4, Heads: 4, Inter: 1024, MaxPos: 128,
		TypeVocab: 2, Act: "gelu", Eps: 1e-12, HasPooler: true}
	small, err := model.NewRandom(c, 5, 0.05)
	if err != nil {
		fatal(err)
	}
	type item struct {
		name string
		m    *model.Model
		b    model.Batch
	}
	items := []item{{"random 4x256", small, randomBatch(small, 9, 40, 3)}}
	if m, err := model.Load(filepath.Join(refDir, "bert-pretraining")); err == nil {
		exp, err := hf.ReadSafetensors(filepath.Join(refDir, "bert-pretraining", "expected.safetensors"))
		if err == nil {
			items = append(items, item{"bert-pretraining", m, fixtureBatch(exp)})
		}
	}
	for _, it := range items {
		for _, against := range []string{adarank.AgainstCopies, adarank.AgainstReference, "copies/philox", "copies/no-fused"} {
			noise, label := adarank.NoisePCG, adarank.NoisePCG
			switch against {
			case "copies/philox": // Philox noise drawn by the GPU against the same generator on the CPU
				against, noise, label = adarank.AgainstCopies, adarank.NoisePhilox, adarank.NoisePhilox
			case "copies/no-fused": // tf32 without the fused attention kernel
				gpu.NoFusedAttention = true
				against, label = adarank.AgainstCopies, "pcg, no-fused"
			}
			o := adarank.SweepOptions{Modules: model.ModuleTypes, Trials: 3, NoiseScale: 1, BiasNoise: true,
				Against: against, Seed: 42, Noise: noise}
			want, err := adarank.Sweep(it.m, it.b, o)
			if err != nil {
				fatal(err)
			}
			for _, tf32 := range []bool{false, true} {
				d.SetTF32(tf32)
				got, err := gpu.Sweep(d, it.m, it.b, o)
				if err != nil {
					check(false, "sweep %s: %v", it.name, err)
					continue
				}
				var maxRel float64
				for i := range want {
					for k := range want[i].Trials {
						maxRel = math.Max(maxRel, math.Abs(got[i].Trials[k]-want[i].Trials[k])/math.Abs(want[i].Trials[k]))
					}
				}
				same := sameOrder(got, want, it.m.Cfg.Layers)
				tol := 1e-3
				if tf32 {
					tol = 5e-2
				}
				record(map[string]any{"kind": "sweep_parity", "model": it.name, "against": against, "noise": label, "precision": precName(tf32),
					"max_rel": maxRel, "same_order": same})
				check(maxRel <= tol && (same || tf32), "%-18s %-9s %-15s %-4s max rel diff %.2e, per-type ranking identical: %v (tol %.0e)",
					it.name, against, label, precName(tf32), maxRel, same, tol)
			}
			gpu.NoFusedAttention = false
		}
	}
	d.SetTF32(false)
}

// sameOrder reports whether, per module type, the layers sort the same way by mean importance.
func sameOrder(a, b []adarank.Importance, L int) bool {
	for lo := 0; lo < len(a); lo += L {
		ia, ib := order(a[lo:lo+L]), order(b[lo:lo+L])
		for i := range ia {
			if ia[i] != ib[i] {
				return false
			}
		}
	}
	return true
}

func order(x []adarank.Importance) []int {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return x[idx[i]].Mean < x[idx[j]].Mean })
	return idx
}

func timings(d *cuda.Device, smallTrials, bigTrials, bigProbes int, cpu bool) {
	fmt.Println("\n== sweep timing: BERT-base shape, query,key,value,attn-out x 12 layers, 2 copies ==")
	m := bertBase(12)
	mods := []string{model.Query, model.Key, model.Value, model.AttnOut}
	g, err := gpu.Upload(d, m)
	if err != nil {
		fatal(err)
	}
	defer g.Free()
	cases := []struct {
		name   string
		B, T   int
		trials int
	}{{"9x40", 9, 40, smallTrials}, {fmt.Sprintf("%dx128", bigProbes), bigProbes, 128, bigTrials}}
	for _, cs := range cases {
		b := randomBatch(m, cs.B, cs.T, 3)
		tokens := 0
		for _, v := range b.Mask {
			tokens += int(v)
		}
		o := adarank.SweepOptions{Modules: mods, Trials: cs.trials, NoiseScale: 1, BiasNoise: true, Seed: 1}
		nt, err := gpu.NoiseTime(m, o)
		if err != nil {
			fatal(err)
		}
		moduleTrials := len(mods) * 12 * cs.trials
		fmt.Printf("%s (%d real tokens): noise generation alone %.3fs on %d threads\n", cs.name, tokens, nt.Seconds(), runtime.GOMAXPROCS(0))
		record(map[string]any{"kind": "noise", "case": cs.name, "seconds": nt.Seconds(), "module_trials": moduleTrials})
		// Variants: the optimisations one by one (plain = CPU chunking, full last layer).
		type variant struct {
			name                                  string
			buckets, clsTop, reuse, fused, philox bool
		}
		// philox: the noise drawn on the GPU (--rng philox) instead of on the CPU;
		// no-reuse: the perturbed layer in full for every copy (gpu.NoLayerReuse);
		// no-fused: attention through cuBLAS GEMMs and separate kernels (gpu.NoFusedAttention).
		variants := []variant{{"", true, true, true, true, false}, {"philox", true, true, true, true, true},
			{"no-reuse", true, true, false, true, false}, {"no-fused", true, true, true, false, false}}
		if cs.B > 16 {
			variants = append(variants, variant{"plain", false, false, false, false, false}, variant{"+buckets", true, false, false, false, false},
				variant{"+buckets+cls", true, true, false, false, false})
		}
		for _, tf32 := range []bool{false, true} {
			d.SetTF32(tf32)
			for _, v := range variants {
				if v.name != "" && !v.philox && !tf32 {
					continue // variants timed in tf32 only, to save device time
				}
				gpu.NoLengthBuckets, gpu.FullLastLayer = !v.buckets, !v.clsTop
				gpu.NoLayerReuse, gpu.NoFusedAttention = !v.reuse, !v.fused
				o := o
				if v.philox {
					o.Noise = adarank.NoisePhilox
				}
				// Warm-up: one module, one trial (kernels are compiled at Upload).
				w := o
				w.Modules, w.Trials = []string{model.Value}, 1
				if _, err := g.Sweep(b, w); err != nil {
					fatal(err)
				}
				free, total, _ := d.MemInfo()
				start := time.Now()
				imps, err := g.Sweep(b, o)
				if err != nil {
					fatal(err)
				}
				if err := d.Sync(); err != nil {
					fatal(err)
				}
				sec := time.Since(start).Seconds()
				per := sec / float64(moduleTrials)
				impl := "adarank-cuda"
				if v.name != "" {
					impl += " " + v.name
				}
				fmt.Printf("%-8s %-4s %-22s %d module-trials: %.3fs (%.2f ms per module-trial; x5 trials = %.2fs); device memory in use before %.1f GiB of %.1f\n",
					cs.name, precName(tf32), impl, moduleTrials, sec, 1e3*per, per*48*5, float64(total-free)/(1<<30), float64(total)/(1<<30))
				record(map[string]any{"kind": "time", "impl": impl, "case": cs.name, "precision": precName(tf32),
					"seconds": sec, "module_trials": moduleTrials, "per_module_trial": per, "first_importance": imps[0].Mean})
			}
			gpu.NoLengthBuckets, gpu.FullLastLayer, gpu.NoLayerReuse, gpu.NoFusedAttention = false, false, false, false
		}
		if *profileOps && cs.B > 16 {
			// Per-op GPU time of the large case: one trial of every module, fp32 and tf32.
			prof := gpu.NewProfiler(d)
			gp, err := gpu.UploadProfiled(d, m, prof)
			if err != nil {
				fatal(err)
			}
			p1 := o
			p1.Trials = 1
			for _, tf32 := range []bool{false, true} {
				d.SetTF32(tf32)
				if err := prof.Reset(); err != nil {
					fatal(err)
				}
				if _, err := gp.Sweep(b, p1); err != nil {
					fatal(err)
				}
				n := len(mods) * 12
				fmt.Printf("\nper-op GPU time, sweep %s %s, per module-trial (%d profiled):\n", cs.name, precName(tf32), n)
				if err := prof.Report(os.Stdout, n, 0); err != nil {
					fatal(err)
				}
				st, _ := prof.Stats()
				for _, op := range st {
					record(map[string]any{"kind": "op_profile", "case": "sweep " + cs.name, "precision": precName(tf32), "op": op.Name,
						"calls_per_step": float64(op.Calls) / float64(n), "ms_per_step": op.Ms / float64(n)})
				}
			}
			gp.Free()
			prof.Free()
		}
		d.SetTF32(false)
		if cpu && cs.B <= 16 {
			o1 := o
			o1.Trials = 1
			start := time.Now()
			if _, err := adarank.Sweep(m, b, o1); err != nil {
				fatal(err)
			}
			sec := time.Since(start).Seconds()
			per := sec / float64(len(mods)*12)
			fmt.Printf("%-8s CPU sweep (1 trial, %d threads): %.2fs (%.1f ms per module-trial)\n", cs.name, runtime.GOMAXPROCS(0), sec, 1e3*per)
			record(map[string]any{"kind": "time", "impl": "adarank-cpu", "case": cs.name, "precision": "fp32",
				"seconds": sec, "module_trials": len(mods) * 12, "per_module_trial": per})
		}
	}
}
