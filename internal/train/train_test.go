package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
)

func tinyConfig(arch string) model.Config {
	c := model.Config{Arch: arch, Vocab: 40, Hidden: 16, Layers: 2, Heads: 2, Inter: 32, MaxPos: 32, TypeVocab: 2,
		PadID: 0, Act: "gelu", Eps: 1e-12, HasPooler: true, HiddenDrop: 0.1, AttnDrop: 0.1}
	if arch == "roberta" {
		c.PadID, c.TypeVocab, c.HasPooler = 1, 1, false
	}
	return c
}

func tinyModel(t testing.TB, arch string) *model.Model {
	t.Helper()
	m, err := model.NewRandom(tinyConfig(arch), 3, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	m.Cfg.SourceModel = "tiny-" + arch
	return m
}

// synthetic is a 3-class task: the label is which of the tokens 2, 3, 4
// occurs in a sequence of random tokens 5..39 (a learnable signal).
func synthetic(n int, seed uint64) []Example {
	rng := rand.New(rand.NewPCG(seed, 2))
	out := make([]Example, n)
	for i := range out {
		L := 3 + rng.IntN(8)
		ids := make([]int32, L)
		for j := range ids {
			ids[j] = int32(5 + rng.IntN(35))
		}
		lab := rng.IntN(3)
		ids[1+rng.IntN(L-1)] = int32(2 + lab)
		out[i] = Example{IDs: ids, Label: lab}
	}
	return out
}

func tinyData() *Data {
	return &Data{Train: synthetic(96, 1), Val: synthetic(30, 2), Test: synthetic(30, 3), Classes: []string{"x", "y", "z"}}
}

func largerData() *Data {
	return &Data{Train: synthetic(300, 1), Val: synthetic(100, 2), Test: synthetic(100, 3), Classes: []string{"x", "y", "z"}}
}

func newAdapter(t testing.TB, m *model.Model, conv, head string, bias bool) *lora.Adapter {
	t.Helper()
	r, err := lora.ParseRanks("query=2,4;value=4,2", []string{model.Query, model.Value}, 2)
	if err != nil {
		t.Fatal(err)
	}
	a, err := lora.New(m.Cfg, r, lora.Options{Convention: conv, Alpha: 8, AlphaMode: lora.AlphaFix}, head, 3)
	if err != nil {
		t.Fatal(err)
	}
	a.Classes = []string{"x", "y", "z"}
	if bias {
		a.AttachBias(m)
	}
	return a
}

func baseOptions(out string) Options {
	return Options{Steps: 12, Batch: 8, Accum: 2, Schedule: Schedule{Kind: Staircase, LR: 5e-3, Warmup: 2, DecaySteps: 4, DecayRate: 0.8},
		WeightDecay: 0.01, Loss: LossMean, Shape: Shape{MaxLen: 16, Pad: PadLongest}, HeadDropout: 0.1, Seed: 7,
		EvalEvery: 4, SaveEvery: 3, OutDir: out}
}

func TestSchedule(t *testing.T) {
	lin := Schedule{Kind: Linear, LR: 1, Warmup: 2, Total: 6}
	st := Schedule{Kind: Staircase, LR: 1e-3, DecaySteps: 200, DecayRate: 0.8, Total: 500}
	con := Schedule{Kind: Constant, LR: 0.5, Warmup: 4, Total: 10}
	for _, c := range []struct {
		s    Schedule
		step int
		want float64
	}{
		{lin, 0, 0}, {lin, 1, 0.5}, {lin, 2, 1}, {lin, 4, 0.5}, {lin, 5, 0.25},
		{st, 0, 1e-3}, {st, 199, 1e-3}, {st, 200, 8e-4}, {st, 499, 6.4e-4},
		{con, 0, 0}, {con, 2, 0.25}, {con, 4, 0.5}, {con, 9, 0.5},
	} {
		if got := c.s.At(c.step); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s step %d: lr %v, want %v", c.s.Kind, c.step, got, c.want)
		}
	}
	for _, bad := range []Schedule{{Kind: "cosine", LR: 1, Total: 5}, {Kind: Constant, LR: 0, Total: 5},
		{Kind: Staircase, LR: 1, Total: 5}, {Kind: Linear, LR: 1, Warmup: 9, Total: 5}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestAdamW checks two updates against PyTorch's AdamW formula computed in float64.
func TestAdamW(t *testing.T) {
	w := []float32{1, -2}
	g := []float32{0.5, -0.25}
	b := []float32{0.3}
	gb := []float32{0.1}
	ps := []param{{w: w, g: g, decay: true}, {w: b, g: gb}}
	o := newAdamW(3, 0.9, 0.999, 1e-8, 0.1)
	ref := func(w0, g0 float64, decay bool, steps int, lr float64) float64 {
		m, v := 0.0, 0.0
		for s := 1; s <= steps; s++ {
			if decay {
				w0 *= 1 - lr*0.1
			}
			m = 0.9*m + 0.1*g0
			v = 0.999*v + 0.001*g0*g0
			den := math.Sqrt(v)/math.Sqrt(1-math.Pow(0.999, float64(s))) + 1e-8
			w0 -= lr / (1 - math.Pow(0.9, float64(s))) * m / den
		}
		return w0
	}
	o.step(ps, 0.01)
	o.step(ps, 0.01)
	for i, c := range []struct {
		got  float32
		want float64
	}{{w[0], ref(1, 0.5, true, 2, 0.01)}, {w[1], ref(-2, -0.25, true, 2, 0.01)}, {b[0], ref(0.3, 0.1, false, 2, 0.01)}} {
		if math.Abs(float64(c.got)-c.want) > 1e-6 {
			t.Errorf("param %d: %v, want %v", i, c.got, c.want)
		}
	}
}

// TestMicroStepGradients checks the glue of one training step (head,
// cross-entropy with its scale, pooler, encoder backward, bias gradients)
// against a central difference of the loss along a random direction.
func TestMicroStepGradients(t *testing.T) {
	for _, tc := range []struct {
		arch, conv, head string
		bias             bool
	}{{"bert", lora.Faithful, model.HeadPaper, true}, {"roberta", lora.Standard, model.HeadHF, false}, {"bert", lora.Standard, model.HeadHF, true}} {
		t.Run(tc.arch+"/"+tc.head, func(t *testing.T) {
			m := tinyModel(t, tc.arch)
			m.Cfg.HiddenDrop, m.Cfg.AttnDrop = 0, 0
			a := newAdapter(t, m, tc.conv, tc.head, tc.bias)
			rng := rand.New(rand.NewPCG(5, 5))
			a.Init(rng)
			a.InitHead(rng, 0.3)
			a.Ad.Each(func(_ int, _ string, l *model.LoRA) { // B = 0 would hide A's gradient
				for i := range l.B {
					l.B[i] = float32(rng.NormFloat64()) * 0.3
				}
			})
			o := baseOptions(t.TempDir())
			o.HeadDropout = 0
			o.Defaults()
			r := &runner{m: m, a: a, d: tinyData(), o: o, ws: wsCache{train: true, keep: 2}, bt: batcher{shape: o.Shape, padID: int32(m.Cfg.PadID)}}
			r.setupParams()
			r.dropRNG = rand.New(rand.NewPCG(1, 1))
			ex := []*Example{&r.d.Train[0], &r.d.Train[1], &r.d.Train[2]}
			const scale = 0.5
			loss0, _ := r.microStep(ex, scale)
			dirs := make([][]float32, len(r.ps))
			var analytic float64
			for i, p := range r.ps {
				dirs[i] = make([]float32, len(p.w))
				for j := range p.w {
					dirs[i][j] = float32(rng.NormFloat64())
					analytic += float64(dirs[i][j]) * float64(p.g[j])
				}
			}
			move := func(s float32) {
				for i, p := range r.ps {
					for j := range p.w {
						p.w[j] += s * dirs[i][j]
					}
				}
			}
			lossAt := func() float64 {
				for _, p := range r.ps {
					clear(p.g)
				}
				l, err := r.microStep(ex, scale)
				if err != nil {
					t.Fatal(err)
				}
				return l * scale
			}
			const h = 1e-3
			move(h)
			lp := lossAt()
			move(-2 * h)
			lm := lossAt()
			move(h)
			numeric := (lp - lm) / (2 * h)
			if rel := math.Abs(numeric-analytic) / math.Max(math.Abs(numeric), 1e-3); rel > 2e-2 || loss0 <= 0 {
				t.Errorf("directional derivative: analytic %.6g numeric %.6g (rel %.2g), loss %v", analytic, numeric, rel, loss0)
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTrainLearns(t *testing.T) {
	m := tinyModel(t, "bert")
	a := newAdapter(t, m, lora.Standard, model.HeadHF, false)
	out := t.TempDir()
	o := baseOptions(out)
	o.Steps, o.Accum, o.EvalEvery, o.SaveEvery = 400, 1, 100, 0
	o.Schedule = Schedule{Kind: Linear, LR: 2e-2, Warmup: 10}
	o.WeightDecay = 0
	var last Progress
	o.Progress = func(p Progress) { last = p }
	res, err := Train(m, a, largerData(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Test == nil || res.Test.Accuracy < 0.8 || res.Val.Accuracy < 0.8 {
		t.Fatalf("did not learn the synthetic task: val %+v test %+v", res.Val, res.Test)
	}
	if last.Step != 400 || last.ExamplesPerSec <= 0 || res.History[0].TrainLoss < res.History[3].TrainLoss {
		t.Errorf("progress %+v, history %+v", last, res.History)
	}
	var sum map[string]any
	if err := json.Unmarshal(readFile(t, filepath.Join(out, "summary.json")), &sum); err != nil {
		t.Fatal(err)
	}
	test, _ := sum["test"].(map[string]any)
	if _, ok := test["accuracy"].(float64); !ok {
		t.Errorf("summary.json lacks test.accuracy: %v", sum["test"])
	}
	if lines := bytes.Count(readFile(t, filepath.Join(out, "metrics.jsonl")), []byte("\n")); lines != 4 {
		t.Errorf("metrics.jsonl has %d lines, want 4", lines)
	}
	for _, f := range []string{lora.TensorFile, lora.PEFTConfig, lora.MetaFile, "last/" + lora.TensorFile, "checkpoint/state.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// The selected adapter reloads and reproduces the reported test accuracy.
	a2, err := lora.Load(out, tinyModel(t, "bert"))
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := NewEvaluator(m, a2, o.Shape, 7)
	got, err := ev.Evaluate(largerData().Test)
	if err != nil || got.Accuracy != res.Test.Accuracy {
		t.Errorf("reloaded adapter accuracy %v (err %v), summary %v", got.Accuracy, err, res.Test.Accuracy)
	}
}

// TestResumeBitIdentical kills a run mid-way, resumes it and compares the
// adapters byte for byte with an uninterrupted run.
func TestResumeBitIdentical(t *testing.T) {
	for _, tc := range []struct {
		name, arch, conv, head string
		bias                   bool
		stopAfter              int
	}{
		{"standard-hf", "bert", lora.Standard, model.HeadHF, false, 7},
		{"faithful-paper-bias", "roberta", lora.Faithful, model.HeadPaper, true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(out string, stop int, resume bool) error {
				m := tinyModel(t, tc.arch)
				a := newAdapter(t, m, tc.conv, tc.head, tc.bias)
				o := baseOptions(out)
				o.StopAfter, o.Resume = stop, resume
				_, err := Train(m, a, tinyData(), o)
				return err
			}
			full, cut := t.TempDir(), t.TempDir()
			if err := run(full, 0, false); err != nil {
				t.Fatal(err)
			}
			if err := run(cut, tc.stopAfter, false); !errors.Is(err, ErrStopped) {
				t.Fatalf("stopped run: %v", err)
			}
			st, err := peekCheckpoint(filepath.Join(cut, checkpointDir, checkpointFile))
			if err != nil || st.Step >= tc.stopAfter {
				t.Fatalf("checkpoint after the kill: step %d, %v", st.Step, err)
			}
			if err := run(cut, 0, true); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{lora.TensorFile, "last/" + lora.TensorFile, lora.MetaFile, "metrics.jsonl"} {
				if !bytes.Equal(readFile(t, filepath.Join(full, f)), readFile(t, filepath.Join(cut, f))) {
					t.Errorf("%s differs between the uninterrupted and the resumed run", f)
				}
			}
			// The adapter actually trained.
			f, _ := hf.ReadSafetensors(filepath.Join(full, "last", lora.TensorFile))
			if len(f.Tensors) == 0 {
				t.Fatal("empty adapter")
			}
		})
	}
}

func TestNaNStopsAndKeepsCheckpoint(t *testing.T) {
	m := tinyModel(t, "bert")
	a := newAdapter(t, m, lora.Standard, model.HeadHF, false)
	out := t.TempDir()
	o := baseOptions(out)
	o.SaveEvery, o.EvalEvery = 2, 0
	beforeUpdate = func(step int) {
		if step == 5 {
			m.P.Layers[1].VB[0] = float32(math.NaN())
		}
	}
	defer func() { beforeUpdate = nil }()
	_, err := Train(m, a, tinyData(), o)
	if err == nil || !strings.Contains(err.Error(), "at step 5") || !strings.Contains(err.Error(), "step 4") {
		t.Fatalf("error %v, want one naming step 5 and the checkpoint of step 4", err)
	}
	st, err := peekCheckpoint(filepath.Join(out, checkpointDir, checkpointFile))
	if err != nil || st.Step != 4 {
		t.Errorf("checkpoint step %d, %v; want 4", st.Step, err)
	}
}

func TestFailedCheckpointWrite(t *testing.T) {
	m := tinyModel(t, "bert")
	a := newAdapter(t, m, lora.Standard, model.HeadHF, false)
	out := t.TempDir()
	o := baseOptions(out)
	o.SaveEvery, o.EvalEvery = 2, 0
	calls := 0
	writeTensors = func(path string, ts []hf.WTensor, meta map[string]string) error {
		calls++
		if calls == 2 {
			// Write a partial temp file, as a full disk would, then fail.
			os.WriteFile(path+".tmp-partial", []byte("xx"), 0o644)
			os.Remove(path + ".tmp-partial")
			return errors.New("no space left on device")
		}
		return hf.WriteSafetensors(path, ts, meta)
	}
	defer func() { writeTensors = hf.WriteSafetensors }()
	_, err := Train(m, a, tinyData(), o)
	if err == nil || !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), "step 4") {
		t.Fatalf("error %v", err)
	}
	st, err := peekCheckpoint(filepath.Join(out, checkpointDir, checkpointFile))
	if err != nil || st.Step != 2 {
		t.Errorf("checkpoint step %d, %v; want the intact one of step 2", st.Step, err)
	}
	entries, _ := os.ReadDir(filepath.Join(out, checkpointDir))
	if len(entries) != 1 {
		t.Errorf("checkpoint folder holds %d files, want 1", len(entries))
	}
}

func TestBadInput(t *testing.T) {
	m := tinyModel(t, "bert")
	a := newAdapter(t, m, lora.Standard, model.HeadHF, false)
	check := func(name string, d *Data, o Options, want string) {
		t.Helper()
		_, err := Train(m, a, d, o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, want)
		}
	}
	d := tinyData()
	d.Val[3].Label = 3
	check("label outside", d, baseOptions(t.TempDir()), "validation example 3: label 3 outside the 3 classes")
	check("empty train", &Data{Test: synthetic(3, 1)}, baseOptions(t.TempDir()), "no training examples")
	d = tinyData()
	d.Train[0].IDs = make([]int32, 20)
	check("too long", d, baseOptions(t.TempDir()), "exceed the maximum length")
	d = tinyData()
	d.Train[1].IDs[0] = 99
	check("bad id", d, baseOptions(t.TempDir()), "outside the vocabulary")
	o := baseOptions(t.TempDir())
	o.Resume = true
	check("resume without checkpoint", tinyData(), o, "no checkpoint")
	o = baseOptions(t.TempDir())
	o.Loss = "max"
	check("bad loss", tinyData(), o, "loss reduction")
	o = baseOptions(t.TempDir())
	o.Shape.MaxLen = 100
	check("max len", tinyData(), o, "position table")
	// An existing run is not overwritten, and a resume with other settings is refused.
	out := t.TempDir()
	o = baseOptions(out)
	o.Steps, o.EvalEvery = 2, 1
	if _, err := Train(tinyModel(t, "bert"), newAdapter(t, m, lora.Standard, model.HeadHF, false), tinyData(), o); err != nil {
		t.Fatal(err)
	}
	check("existing run", tinyData(), o, "already holds a run")
	o.Resume, o.Batch = true, 4
	check("other settings", tinyData(), o, "batch")
}

// A learning rate that overflows the parameters stops the run at that step.
func TestOverflowingUpdateStops(t *testing.T) {
	m := tinyModel(t, "bert")
	a := newAdapter(t, m, lora.Standard, model.HeadHF, false)
	o := baseOptions(t.TempDir())
	o.Schedule = Schedule{Kind: Constant, LR: 3e38}
	_, err := Train(m, a, tinyData(), o)
	if err == nil || !strings.Contains(err.Error(), "at step 1") || !strings.Contains(err.Error(), "NaN or Inf after the update") {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(o.OutDir, lora.TensorFile)); err == nil {
		t.Error("an adapter was saved from a broken run")
	}
}
