package gpu

import (
	"github.com/adarank/adarank/internal/backend/host"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/model"
)

func testModel(t *testing.T, arch, act string, pooler bool) *model.Model {
	t.Helper()
	c := model.Config{Arch: arch, Vocab: 60, Hidden: 16, Layers: 3, Heads: 4, Inter: 40, MaxPos: 40, TypeVocab: 2,
		Act: act, Eps: 1e-12, HasPooler: pooler}
	if arch == "roberta" {
		c.PadID, c.TypeVocab = 1, 1
	}
	m, err := model.NewRandom(c, 3, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range m.P.Data { // non-trivial biases and LayerNorms
		m.P.Data[i] += float32(rng.NormFloat64()) * 0.05
	}
	return m
}

func testBatch(m *model.Model, B, T int, seed uint64) model.Batch {
	rng := rand.New(rand.NewPCG(seed, 8))
	b := model.Batch{B: B, T: T, IDs: make([]int32, B*T), Mask: make([]int32, B*T), TypeIDs: make([]int32, B*T)}
	for s := 0; s < B; s++ {
		n := T - s%3 // ragged, padded
		for t := 0; t < T; t++ {
			if t < n {
				b.IDs[s*T+t] = int32(2 + rng.IntN(m.Cfg.Vocab-2))
				b.Mask[s*T+t] = 1
				if m.Cfg.TypeVocab > 1 && t > n/2 {
					b.TypeIDs[s*T+t] = 1
				}
			} else {
				b.IDs[s*T+t] = int32(m.Cfg.PadID)
			}
		}
	}
	return b
}

// relErr is max|got−want| / max|want|.
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

func cpuForward(m *model.Model, b model.Batch) (hidden, cls, pooled []float32) {
	ws := m.NewWorkspace(b.B, b.T, false, nil)
	m.Encode(ws, b, nil, model.FwdOpts{})
	hidden = append([]float32(nil), ws.Hidden()...)
	cls = m.CLS(ws)
	pooled = append([]float32(nil), m.Pool(ws)...)
	return
}

// forwardKernels are the kernels every default forward launches.
var forwardKernels = []string{"embed_ln", "bias_res_ln", "bias_act", "bias_permute", "unpermute", "softmax_mask", "gather_cls"}

// checkForward runs m's forward on the emulated GPU, compares hidden states,
// CLS and pooled output with the CPU engine, checks that every kernel in
// kernels was launched and returns the launch counts.
func checkForward(t *testing.T, name string, m *model.Model, b model.Batch, tol float64, kernels []string) map[string]int {
	return checkForwardPrec(t, name, "", m, b, tol, kernels)
}

// checkForwardPrec is checkForward with the emulated device in precision
// prec (which selects the kernels; the emulation computes in float32).
func checkForwardPrec(t *testing.T, name, prec string, m *model.Model, b model.Batch, tol float64, kernels []string) map[string]int {
	t.Helper()
	d := host.New()
	d.Prec = prec
	g, err := Upload(d, m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Forward(b)
	if err != nil {
		t.Fatal(err)
	}
	hidden, cls, pooled := cpuForward(m, b)
	for _, c := range []struct {
		what      string
		got, want []float32
	}{{"hidden", out.Hidden, hidden}, {"cls", out.CLS, cls}, {"pooled", out.Pooled, pooled}} {
		e := relErr(c.got, c.want)
		t.Logf("%s: %s rel err %.3g", name, c.what, e)
		if !(e <= tol) {
			t.Errorf("%s: %s rel err %.3g > %.1g", name, c.what, e, tol)
		}
	}
	for _, k := range kernels {
		if d.Launches[k] == 0 {
			t.Errorf("%s: kernel %s never launched", name, k)
		}
	}
	return d.Launches
}

// The GPU forward's orchestration (offsets, permutes, batched GEMM strides,
// masks, RoBERTa positions), run through the host emulation, equals the CPU
// encoder.
func TestForwardMatchesCPU(t *testing.T) {
	for _, tc := range []struct {
		arch, act string
		pooler    bool
	}{{"bert", "gelu", true}, {"bert", "gelu_new", false}, {"roberta", "gelu", false}, {"bert", "relu", true}} {
		m := testModel(t, tc.arch, tc.act, tc.pooler)
		checkForward(t, tc.arch+"/"+tc.act, m, testBatch(m, 3, 7, 1), 2e-5, forwardKernels)
	}
}

// Sequences longer than one key tile take attn_tc_tiled (the kernel's
// tiling itself is checked on the GPU, where gpucheck runs 300 tokens).
func TestFusedAttentionLongSequences(t *testing.T) {
	c := model.Config{Arch: "bert", Vocab: 60, Hidden: 16, Layers: 1, Heads: 2, Inter: 24, MaxPos: 140, TypeVocab: 2,
		Act: "gelu", Eps: 1e-12, HasPooler: true}
	m, err := model.NewRandom(c, 4, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	b := testBatch(m, 2, 133, 1)
	launches := checkForwardPrec(t, "bert 2x133 tf32", "tf32", m, b, 2e-5, []string{"attn_tc_tiled"})
	if launches["attn_tc"] != 0 {
		t.Errorf("attn_tc launched for 133 keys")
	}
}

// In tf32 and bf16, attention runs in the fused attn_tc kernel: no bias,
// permute, softmax or unpermute passes; the same outputs (emulated in
// float32). fp32 and heads the kernel is not compiled for keep the GEMMs.
func TestFusedAttentionForward(t *testing.T) {
	for _, tc := range []struct {
		arch, prec string
		heads      int
		fused      bool
	}{{"bert", "tf32", 2, true}, {"roberta", "bf16", 2, true}, {"bert", "fp32", 2, false}, {"bert", "bf16-native", 2, false},
		{"bert", "tf32", 4, false}} { // head size 8, or 4 (not a multiple of 8)
		m := testModel(t, tc.arch, "gelu", true)
		m.Cfg.Heads = tc.heads
		name := tc.arch + "/" + tc.prec
		b := testBatch(m, 3, 7, 1)
		b.Mask[2*7+5], b.Mask[2*7+6] = 0, 0
		var launches map[string]int
		if tc.fused {
			launches = checkForwardPrec(t, name, tc.prec, m, b, 2e-5, []string{"attn_tc", "embed_ln", "bias_res_ln", "bias_act", "gather_cls"})
			for _, k := range []string{"bias_permute", "softmax_mask", "unpermute"} {
				if launches[k] != 0 {
					t.Errorf("%s: %s launched %d times", name, k, launches[k])
				}
			}
		} else {
			launches = checkForwardPrec(t, name, tc.prec, m, b, 2e-5, forwardKernels)
			if launches["attn_tc"] != 0 {
				t.Errorf("%s: attn_tc launched", name)
			}
		}
	}
}

// The reference checkpoints (as transformers computed them) run through the
// emulated GPU path agree with the CPU engine.
func TestForwardReferenceModels(t *testing.T) {
	dirs, _ := filepath.Glob("../../testdata/reference/models/*")
	if len(dirs) == 0 {
		t.Skip("no reference fixtures in testdata/reference/models")
	}
	for _, dir := range dirs {
		m, err := model.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		f, err := hf.ReadSafetensors(filepath.Join(dir, "expected.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		b := fixtureBatch(t, f)
		checkForward(t, filepath.Base(dir), m, b, 2e-5, forwardKernels)
	}
}

func fixtureBatch(t *testing.T, f *hf.File) model.Batch {
	t.Helper()
	b, err := model.BatchFromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameImportances(t *testing.T, what string, got, want []adarank.Importance, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d vs %d results", what, len(got), len(want))
	}
	for i := range want {
		if got[i].Type != want[i].Type || got[i].Layer != want[i].Layer || len(got[i].Trials) != len(want[i].Trials) {
			t.Fatalf("%s: result %d is %s/%d (%d trials), want %s/%d (%d trials)", what, i, got[i].Type, got[i].Layer,
				len(got[i].Trials), want[i].Type, want[i].Layer, len(want[i].Trials))
		}
		for k := range want[i].Trials {
			g, w := got[i].Trials[k], want[i].Trials[k]
			if !(math.Abs(g-w) <= tol*math.Abs(w)) {
				t.Errorf("%s: %s layer %d trial %d: %.8g vs CPU %.8g", what, want[i].Type, want[i].Layer, k, g, w)
			}
		}
		if !(math.Abs(got[i].Std-want[i].Std) <= tol*math.Abs(want[i].Mean)+1e-12) {
			t.Errorf("%s: %s layer %d std %.6g vs %.6g", what, want[i].Type, want[i].Layer, got[i].Std, want[i].Std)
		}
	}
}

// The GPU sweep (emulated) gives the CPU sweep's importances: the same noise
// streams, the same caching and stacking, the same reduction.
func TestSweepMatchesCPU(t *testing.T) {
	for _, tc := range []struct {
		arch, against, output string
		maxTokens             int
		bias                  bool
	}{
		{"bert", adarank.AgainstCopies, adarank.OutputPooled, 0, true},
		{"bert", adarank.AgainstReference, adarank.OutputCLS, 0, false},
		{"roberta", adarank.AgainstCopies, adarank.OutputCLS, 2 * 7 * 2, true}, // chunks of 2 probes, the last of 1
		{"roberta", adarank.AgainstReference, adarank.OutputPooled, 7, true},   // one probe per chunk
	} {
		m := testModel(t, tc.arch, "gelu", tc.arch == "bert")
		if tc.arch == "bert" {
			m.Cfg.Heads = 2 // head size 8, which the fused attention takes
		}
		probes := testBatch(m, 5, 7, 2)
		o := adarank.SweepOptions{Modules: model.ModuleTypes, Trials: 2, NoiseScale: 0.7, BiasNoise: tc.bias,
			Against: tc.against, Output: tc.output, Seed: 11, MaxTokens: tc.maxTokens}
		want, err := adarank.Sweep(m, probes, o)
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		o.Progress = func(done, total int) { calls++ }
		got, err := Sweep(host.New(), m, probes, o)
		if err != nil {
			t.Fatal(err)
		}
		name := tc.arch + "/" + tc.against + "/" + tc.output
		sameImportances(t, name, got, want, 1e-4)
		// The unoptimised paths (benchmark switches) agree too, and so does
		// the fused attention of the tf32 mode (emulated in float32), with
		// and without the perturbed layer's reuse.
		po := o
		po.Progress = nil
		for _, v := range []struct {
			name, prec string
			set        func(on bool)
		}{
			{"unoptimised", "", func(on bool) { NoLengthBuckets, FullLastLayer, NoLayerReuse = on, on, on }},
			{"full last layer", "", func(on bool) { FullLastLayer = on }},
			{"fused attention", "tf32", func(on bool) {}},
			{"fused attention, no reuse, full last layer", "tf32", func(on bool) { NoLayerReuse, FullLastLayer = on, on }},
		} {
			v.set(true)
			hd := host.New()
			hd.Prec = v.prec
			res, err := Sweep(hd, m, probes, po)
			v.set(false)
			if err != nil {
				t.Fatal(err)
			}
			sameImportances(t, name+" ("+v.name+")", res, want, 1e-4)
			if fused := hd.Launches["attn_tc"] > 0; fused != (v.prec == "tf32" && tc.arch == "bert") || (fused && hd.Launches["softmax_mask"] != 0) {
				t.Errorf("%s (%s): attn_tc %d launches, softmax_mask %d", name, v.name, hd.Launches["attn_tc"], hd.Launches["softmax_mask"])
			}
		}
		if calls != len(model.ModuleTypes)*m.Cfg.Layers*o.Trials {
			t.Errorf("%s: progress called %d times", name, calls)
		}
		// A different seed must change the result (the noise is really used).
		o.Seed = 12
		other, err := Sweep(host.New(), m, probes, o)
		if err != nil {
			t.Fatal(err)
		}
		if other[0].Trials[0] == got[0].Trials[0] {
			t.Errorf("%s: seed does not change the importances", name)
		}
	}
}

// With Philox noise (drawn by the perturb_philox kernel, nothing uploaded)
// the GPU sweep equals the CPU sweep with the same generator, and differs
// from the PCG streams.
func TestSweepPhiloxMatchesCPU(t *testing.T) {
	for _, bias := range []bool{true, false} {
		m := testModel(t, "bert", "gelu", true)
		probes := testBatch(m, 4, 7, 2)
		o := adarank.SweepOptions{Modules: model.ModuleTypes, Trials: 2, NoiseScale: 0.7, BiasNoise: bias, Seed: 11,
			Noise: adarank.NoisePhilox}
		want, err := adarank.Sweep(m, probes, o)
		if err != nil {
			t.Fatal(err)
		}
		hd := host.New()
		got, err := Sweep(hd, m, probes, o)
		if err != nil {
			t.Fatal(err)
		}
		sameImportances(t, "philox", got, want, 1e-4)
		if n := hd.Launches["perturb_philox"]; n == 0 {
			t.Errorf("perturb_philox never launched")
		}
		o.Noise = adarank.NoisePCG
		pcg, err := adarank.Sweep(m, probes, o)
		if err != nil {
			t.Fatal(err)
		}
		if pcg[0].Trials[0] == want[0].Trials[0] {
			t.Errorf("philox and pcg noise give the same importance")
		}
	}
}

func TestSweepRejectsCPUOnlyOptions(t *testing.T) {
	m := testModel(t, "bert", "gelu", true)
	probes := testBatch(m, 2, 5, 1)
	base := adarank.SweepOptions{Modules: []string{model.Value}, Trials: 1, NoiseScale: 1, Seed: 1}
	for _, mod := range []func(*adarank.SweepOptions){
		func(o *adarank.SweepOptions) { o.Cumulative, o.Against = true, adarank.AgainstReference },
		func(o *adarank.SweepOptions) { o.NoCache = true },
		func(o *adarank.SweepOptions) { o.Output = adarank.OutputMLM },
		func(o *adarank.SweepOptions) { o.Trials = 0 },
	} {
		o := base
		mod(&o)
		if _, err := Sweep(host.New(), m, probes, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// Every kernel in the source is one the Go code launches, and the source is
// well formed for the signature parser.
func TestKernelSource(t *testing.T) {
	sigs, err := cuda.ParseKernels(kernelSource)
	if err != nil {
		t.Fatal(err)
	}
	k, err := loadKernels(host.New(), 64, 4, LNThreads)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 9 || k.absdiffSum == nil || k.embedLN == nil || k.perturbPhilox == nil {
		t.Errorf("kernels: %d in source", len(sigs))
	}
	for _, banned := range []string{"#include", "printf"} {
		if strings.Contains(kernelSource, banned) {
			t.Errorf("kernel source contains %q (NVRTC runs without headers)", banned)
		}
	}
}

// On a machine without a GPU, Sweep through the real device fails at Open:
// this only checks that the public entry points exist and fail cleanly.
func TestOpenFailsCleanly(t *testing.T) {
	if os.Getenv("ADARANK_TEST_CUDA") == "1" {
		t.Skip("GPU host: the parity command covers the device")
	}
	if d, err := cuda.Open(0); err == nil {
		d.Close()
		t.Skip("a GPU is present")
	}
}

func TestPlanChunks(t *testing.T) {
	T := 6
	lens := []int{6, 2, 0, 4, 3, 6, 1} // 0 = no real token
	b := model.Batch{B: len(lens), T: T, IDs: make([]int32, len(lens)*T), Mask: make([]int32, len(lens)*T)}
	for s, n := range lens {
		for t := 0; t < T; t++ {
			b.IDs[s*T+t] = int32(100*s + t)
			if t < n {
				b.Mask[s*T+t] = 1
			}
		}
	}
	defer func(v int) { minChunkTokens = v }(minChunkTokens)
	for _, tc := range []struct{ minTok, maxTok int }{{1, 100}, {8, 100}, {100, 100}, {100, 12}} {
		minChunkTokens = tc.minTok
		plan := planChunks(b, tc.maxTok)
		seen := map[int32]bool{}
		prevT := 0
		for _, p := range plan {
			if p.T < prevT {
				t.Errorf("%+v: chunks not in length order", tc)
			}
			prevT = p.T
			if p.B > 1 && p.B*p.T > tc.maxTok {
				t.Errorf("%+v: chunk %dx%d over the token bound", tc, p.B, p.T)
			}
			for k := 0; k < p.B; k++ {
				s := int(p.IDs[k*p.T] / 100)
				seen[int32(s)] = true
				want := max(lens[s], 1)
				if lens[s] == 0 {
					want = T
				}
				if want > p.T {
					t.Errorf("%+v: probe %d (length %d) cut to %d", tc, s, want, p.T)
				}
				for j := 0; j < p.T; j++ {
					if p.IDs[k*p.T+j] != int32(100*s+j) || p.Mask[k*p.T+j] != b.Mask[s*T+j] {
						t.Fatalf("%+v: probe %d token %d copied wrongly", tc, s, j)
					}
				}
			}
		}
		if len(seen) != len(lens) {
			t.Errorf("%+v: %d of %d probes planned", tc, len(seen), len(lens))
		}
	}
	minChunkTokens = 1
	if plan := planChunks(b, 100); len(plan) != len(lens) {
		t.Errorf("minChunkTokens 1: %d chunks, want one per probe", len(plan))
	}
	minChunkTokens = 1000
	if plan := planChunks(b, 1000); len(plan) != 1 || plan[0].T != T {
		t.Errorf("one big chunk expected, got %d", len(plan))
	}
}

// Length-bucketed chunks (several, with different lengths, and a probe with
// no real token) still give the CPU importances.
func TestSweepBucketedMatchesCPU(t *testing.T) {
	defer func(v int) { minChunkTokens = v }(minChunkTokens)
	minChunkTokens = 10
	m := testModel(t, "roberta", "gelu_new", false)
	probes := testBatch(m, 7, 9, 4)
	for t := 0; t < 9; t++ { // probe 2: shorter; probe 5: no real token
		probes.Mask[2*9+t] = int32(btoi(t < 3))
		probes.Mask[5*9+t] = 0
	}
	o := adarank.SweepOptions{Modules: []string{model.Query, model.AttnOut, model.FFNOut}, Trials: 2, NoiseScale: 1,
		BiasNoise: true, Output: adarank.OutputCLS, Seed: 3}
	want, err := adarank.Sweep(m, probes, o)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(planChunks(probes, DefaultMaxTokens/2)); n < 3 {
		t.Fatalf("only %d chunks planned", n)
	}
	got, err := Sweep(host.New(), m, probes, o)
	if err != nil {
		t.Fatal(err)
	}
	sameImportances(t, "bucketed", got, want, 1e-4)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Stopping the noise source part-way (an error in the sweep) must not hang,
// and the copies it hands out come in sweep order.
func TestNoiseSourceOrderAndStop(t *testing.T) {
	w := make([]float32, 50)
	for i := range w {
		w[i] = float32(i)
	}
	b := []float32{1, -2, 3, 0, 5}
	mods := []moduleRef{{typ: model.Query, w: w, b: b}, {typ: model.Value, layer: 1, w: w, b: b}, {typ: model.Key, layer: 2, w: w, b: b}}
	alloc := func(name string, n int) (*cuda.HostBuffer, error) {
		return &cuda.HostBuffer{F32: make([]float32, n)}, nil
	}
	src, err := newNoiseSource(mods, 3, 2, 0.5, true, 9, len(w), len(b), alloc)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for j := src.next(); j != nil; j = src.next() {
		m := mods[n/6]
		if j.typ != m.typ || j.layer != m.layer || j.tr != n%6/2 || j.copyIdx != n%2 {
			t.Fatalf("job %d is %s/%d/%d/%d", n, j.typ, j.layer, j.tr, j.copyIdx)
		}
		if j.outW[3] == w[3] || j.outB[0] == b[0] {
			t.Errorf("job %d: no noise drawn", n)
		}
		src.release(j)
		n++
	}
	src.stop()
	if n != 18 {
		t.Errorf("%d jobs, want 18", n)
	}
	for k := 0; k < 3; k++ { // stop after taking k jobs, holding them
		src, err := newNoiseSource(mods, 50, 2, 0.5, false, 9, len(w), len(b), alloc)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < k; i++ {
			src.next()
		}
		src.stop()
		src.stop() // idempotent
	}
}
