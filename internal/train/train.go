// Package train fine-tunes LoRA adapters and a classification head on a
// frozen encoder: AdamW with decoupled weight decay, constant / linear /
// staircase schedules, mean or summed cross-entropy, gradient accumulation,
// dropout, evaluation on validation every N steps with the best adapter kept,
// atomic checkpoints and bit-exact resume.
//
// Determinism: Options.Seed derives one PCG stream per purpose (adapter and
// head initialisation, dropout masks, data order). Their states, the data
// permutation and position, the Adam moments and the parameters go into the
// checkpoint, so a resumed run continues exactly where the interrupted one
// was (bit for bit on the same CPU build).
//
// Batches: --batch examples per micro-batch, Accum micro-batches per
// optimizer step. The training stream visits the training set in a fresh
// random order every epoch and never drops or shortens a batch; an epoch
// boundary may fall inside a batch.
//
// Padding: each batch is padded to its longest sequence rounded up to a
// multiple of 16 (PadLongest; with an attention mask the padding does not
// change the result, and few distinct shapes mean few workspace
// reallocations), or always to MaxLen (PadMax, the reference code's
// max_length padding, which matters when no attention mask is used). One
// training workspace is kept per batch shape in use.
package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/nn"
)

// Loss reductions.
const (
	LossMean = "mean" // mean over the examples of an optimizer step (transformers)
	LossSum  = "sum"  // sum over the examples (the reference code)
)

// Options configures a training run.
type Options struct {
	Steps             int // optimizer updates
	Batch             int // examples per micro-batch
	Accum             int // micro-batches per update (gradient accumulation)
	Schedule          Schedule
	Beta1, Beta2, Eps float64
	WeightDecay       float64 // decoupled, on weight matrices only (not biases)
	Loss              string  // mean | sum
	Shape             Shape
	HeadDropout       float32 // dropout before the hf head's layers (transformers: classifier_dropout or hidden_dropout_prob)
	HeadInitStd       float32 // std of the hf head's normal init (initializer_range)
	Seed              uint64
	EvalEvery         int // evaluate on validation every N updates (0: only after the last)
	SaveEvery         int // checkpoint every N updates (besides every evaluation; 0: only at evaluations)
	EvalBatch         int // examples per evaluation batch (0: Batch)
	OutDir            string
	Resume            bool
	Progress          func(Progress)
	Settings          any     // recorded in summary.json (e.g. the command-line flags)
	Info              RunInfo // model and data description for summary.json
	ModelHash         string  // sha256 of the base weights (computed when empty)
	StopAfter         int     // tests: return ErrStopped after this many updates in this call, as if killed (0: never)
	// Encoder runs the encoder (forward and backward) elsewhere, e.g. on a
	// GPU; nil = the CPU engine. The head and the optimizer stay on the host.
	Encoder Encoder
}

// Encoder runs the encoder part of training and evaluation outside the CPU
// engine. Implementations read the adapters' (and trained biases') current
// host values at every Encode.
type Encoder interface {
	// Encode runs the encoder with the adapters on b and returns the head
	// input [B,H]: the pooler output when pooled, else the CLS states. With
	// train, dropout is on, its masks drawn from seed.
	Encode(b model.Batch, pooled, train bool, seed uint64) ([]float32, error)
	// Backward propagates dX, the gradient on the last Encode's output, and
	// adds the adapter and bias gradients into g.
	Backward(dX []float32, pooled bool, g model.Grads) error
}

// RunInfo describes the run for summary.json.
type RunInfo struct {
	Model     string   `json:"model"`
	ModelType string   `json:"model_type"`
	Data      string   `json:"data,omitempty"`
	Task      string   `json:"task,omitempty"`
	DataNotes []string `json:"data_notes,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}

// Progress is reported after every update.
type Progress struct {
	Step, Steps    int
	Loss           float64 // mean per-example loss of this update
	LR             float64
	ExamplesPerSec float64
	Epoch          float64
}

// Data holds the tokenized splits. Val may be empty (the last adapter is then the selected one).
type Data struct {
	Train, Val, Test []Example
	Classes          []string
}

// ErrStopped is returned when Options.StopAfter ends a run early.
var ErrStopped = errors.New("train: stopped early (StopAfter)")

// Defaults fills zero fields with the defaults.
func (o *Options) Defaults() {
	if o.Accum == 0 {
		o.Accum = 1
	}
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.999
	}
	if o.Eps == 0 {
		o.Eps = 1e-8
	}
	if o.Loss == "" {
		o.Loss = LossMean
	}
	if o.Schedule.Kind == "" {
		o.Schedule.Kind = Constant
	}
	if o.Schedule.Total == 0 {
		o.Schedule.Total = o.Steps
	}
	if o.Shape.Pad == "" {
		o.Shape.Pad = PadLongest
	}
	if o.EvalBatch == 0 {
		o.EvalBatch = o.Batch
	}
	if o.HeadInitStd == 0 {
		o.HeadInitStd = 0.02
	}
}

func (o *Options) validate(m *model.Model) error {
	switch {
	case o.Steps < 1:
		return fmt.Errorf("steps must be at least 1, got %d", o.Steps)
	case o.Batch < 1:
		return fmt.Errorf("batch must be at least 1, got %d", o.Batch)
	case o.Accum < 1:
		return fmt.Errorf("gradient accumulation must be at least 1, got %d", o.Accum)
	case o.EvalEvery < 0 || o.SaveEvery < 0:
		return fmt.Errorf("eval-every and save-every must not be negative")
	case o.EvalBatch < 1:
		return fmt.Errorf("evaluation batch must be at least 1, got %d", o.EvalBatch)
	case !(o.Beta1 >= 0 && o.Beta1 < 1 && o.Beta2 >= 0 && o.Beta2 < 1):
		return fmt.Errorf("Adam betas must be in [0, 1), got %v, %v", o.Beta1, o.Beta2)
	case !(o.Eps > 0):
		return fmt.Errorf("Adam epsilon must be positive, got %v", o.Eps)
	case !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0):
		return fmt.Errorf("weight decay must be >= 0, got %v", o.WeightDecay)
	case o.Loss != LossMean && o.Loss != LossSum:
		return fmt.Errorf("unknown loss reduction %q (want mean or sum)", o.Loss)
	case !(o.HeadDropout >= 0 && o.HeadDropout < 1):
		return fmt.Errorf("head dropout must be in [0, 1), got %v", o.HeadDropout)
	case o.OutDir == "":
		return fmt.Errorf("an output folder is required")
	}
	if o.Schedule.Total != o.Steps {
		return fmt.Errorf("schedule total %d differs from steps %d", o.Schedule.Total, o.Steps)
	}
	if err := o.Schedule.Validate(); err != nil {
		return err
	}
	return o.Shape.Validate(m.Cfg)
}

// checkExamples validates labels and token ids of a split.
func checkExamples(split string, ex []Example, c model.Config, classes, maxLen int) error {
	for i, e := range ex {
		if e.Label < 0 || e.Label >= classes {
			return fmt.Errorf("%s example %d: label %d outside the %d classes", split, i, e.Label, classes)
		}
		if len(e.IDs) == 0 {
			return fmt.Errorf("%s example %d: no tokens", split, i)
		}
		if len(e.IDs) > maxLen {
			return fmt.Errorf("%s example %d: %d tokens exceed the maximum length %d", split, i, len(e.IDs), maxLen)
		}
		if e.TypeIDs != nil && len(e.TypeIDs) != len(e.IDs) {
			return fmt.Errorf("%s example %d: %d token type ids for %d tokens", split, i, len(e.TypeIDs), len(e.IDs))
		}
		for j, id := range e.IDs {
			if id < 0 || int(id) >= c.Vocab {
				return fmt.Errorf("%s example %d: token id %d outside the vocabulary (%d)", split, i, id, c.Vocab)
			}
			if e.TypeIDs != nil && (e.TypeIDs[j] < 0 || int(e.TypeIDs[j]) >= c.TypeVocab) {
				return fmt.Errorf("%s example %d: token type id %d outside type_vocab_size %d", split, i, e.TypeIDs[j], c.TypeVocab)
			}
		}
	}
	return nil
}

// Seed streams: one PCG per purpose.
const (
	streamInit    = 0x696e6974 // "init"
	streamDropout = 0x64726f70 // "drop"
	streamData    = 0x64617461 // "data"
)

// runner is the state of one training run.
type runner struct {
	m     *model.Model
	a     *lora.Adapter
	d     *Data
	o     Options
	ps    []param
	opt   *adamW
	gAd   *model.Adapters
	gHead *model.Head
	gBias [][6][]float32
	ws    wsCache
	bt    batcher
	batch []*Example
	dHid  []float32
	ev    *Evaluator

	dropSrc, dataSrc *rand.PCG
	dropRNG          *rand.Rand
	st               state
	best             []float32 // parameter values of the best adapter
	start            time.Time
	startStep        int
}

// state is what a checkpoint holds besides tensors.
type state struct {
	Step     int               `json:"step"`
	Epoch    int               `json:"epoch"`    // completed passes over the training set
	Pos      int               `json:"position"` // next index into the permutation
	Perm     []int             `json:"-"`        // saved as a tensor
	BestStep int               `json:"best_step"`
	BestAcc  float64           `json:"best_accuracy"`
	HaveBest bool              `json:"have_best"`
	LossSum  float64           `json:"loss_sum"` // since the last evaluation
	LossN    int               `json:"loss_n"`
	Examples int               `json:"examples"` // seen so far
	Seconds  float64           `json:"seconds"`  // training time of earlier processes
	History  []EvalRecord      `json:"history"`
	DropRNG  []byte            `json:"dropout_rng"`
	DataRNG  []byte            `json:"data_rng"`
	Settings map[string]string `json:"settings"`
}

// EvalRecord is one line of metrics.jsonl.
type EvalRecord struct {
	Step      int      `json:"step"`
	Epoch     float64  `json:"epoch"`
	Examples  int      `json:"examples"`
	LR        float64  `json:"lr"`
	TrainLoss float64  `json:"train_loss"` // mean per-example loss since the previous evaluation
	Val       *Metrics `json:"val"`
	Best      bool     `json:"best"`
}

// Result is what Train returns (also written to summary.json).
type Result struct {
	Steps    int
	BestStep int
	Val      *Metrics // validation metrics of the selected adapter
	Test     *Metrics // test metrics of the selected adapter
	TestLast *Metrics // test metrics after the last update
	History  []EvalRecord
	Seconds  float64
}

// Train runs the training loop on adapter a (freshly initialised from the
// seed, or restored from OutDir/checkpoint with Resume) and writes to
// OutDir: the selected adapter (best validation accuracy) at the top level,
// last/ (the adapter after the last update), checkpoint/, metrics.jsonl and
// summary.json.
func Train(m *model.Model, a *lora.Adapter, d *Data, o Options) (*Result, error) {
	o.Defaults()
	if err := o.validate(m); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	C := a.Head.C
	if len(d.Train) == 0 {
		return nil, fmt.Errorf("train: no training examples")
	}
	for _, s := range []struct {
		name string
		ex   []Example
	}{{"train", d.Train}, {"validation", d.Val}, {"test", d.Test}} {
		if err := checkExamples(s.name, s.ex, m.Cfg, C, o.Shape.MaxLen); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	if len(d.Classes) != 0 && len(d.Classes) != C {
		return nil, fmt.Errorf("train: %d class names for a %d-class head", len(d.Classes), C)
	}
	// One training workspace at a time: a BERT-base one holds gigabytes.
	r := &runner{m: m, a: a, d: d, o: o, ws: wsCache{train: true, keep: 1},
		bt: batcher{shape: o.Shape, padID: int32(m.Cfg.PadID)}}
	var err error
	if r.ev, err = NewEvaluator(m, a, o.Shape, o.EvalBatch); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	r.ev.Enc = o.Encoder
	r.setupParams()
	settings := r.settings()
	ckpt := filepath.Join(o.OutDir, checkpointDir, checkpointFile)
	_, statErr := os.Stat(ckpt)
	switch {
	case o.Resume && statErr != nil:
		return nil, fmt.Errorf("train: --resume: no checkpoint at %s", ckpt)
	case !o.Resume && statErr == nil:
		return nil, fmt.Errorf("train: %s already holds a run (%s); pass --resume to continue it or choose another output folder", o.OutDir, ckpt)
	}
	if err := os.MkdirAll(filepath.Join(o.OutDir, checkpointDir), 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if o.Resume {
		if err := r.loadCheckpoint(ckpt, settings); err != nil {
			return nil, err
		}
	} else {
		r.fresh(settings)
	}
	if err := r.loop(); err != nil {
		return nil, err
	}
	return r.finish()
}

// setupParams lists the trainable tensors and allocates gradients and Adam.
func (r *runner) setupParams() {
	a := r.a
	r.gAd = a.Ad.Like()
	r.gHead = a.Head.Like()
	a.Ad.Each(func(l int, typ string, lr *model.LoRA) {
		g := r.gAd.Get(l, typ)
		name := model.HFName(a.Arch, typ, l)
		in, out := len(lr.A)/lr.R, len(lr.B)/lr.R
		r.ps = append(r.ps,
			param{name: name + ".lora_A", shape: []int{lr.R, in}, w: lr.A, g: g.A, decay: true},
			param{name: name + ".lora_B", shape: []int{out, lr.R}, w: lr.B, g: g.B, decay: true})
	})
	if a.Bias != nil {
		r.gBias = make([][6][]float32, len(a.Bias))
		for l := range a.Bias {
			for t, b := range a.Bias[l] {
				if b == nil {
					continue
				}
				r.gBias[l][t] = make([]float32, len(b))
				r.ps = append(r.ps, param{name: model.HFName(a.Arch, model.ModuleTypes[t], l) + ".bias", shape: []int{len(b)},
					w: b, g: r.gBias[l][t]})
			}
		}
	}
	h, g := a.Head, r.gHead
	if h.W1 != nil {
		r.ps = append(r.ps, param{name: "head.W1", shape: []int{h.H, h.H}, w: h.W1, g: g.W1, decay: true},
			param{name: "head.B1", shape: []int{h.H}, w: h.B1, g: g.B1})
	}
	r.ps = append(r.ps, param{name: "head.W2", shape: []int{h.C, h.H}, w: h.W2, g: g.W2, decay: true},
		param{name: "head.B2", shape: []int{h.C}, w: h.B2, g: g.B2})
	n := 0
	for _, p := range r.ps {
		n += len(p.w)
	}
	r.opt = newAdamW(n, r.o.Beta1, r.o.Beta2, r.o.Eps, r.o.WeightDecay)
	r.best = make([]float32, n)
}

// fresh initialises a new run from the seed.
func (r *runner) fresh(settings map[string]string) {
	initRNG := rand.New(rand.NewPCG(r.o.Seed, streamInit))
	r.a.Init(initRNG)
	r.a.InitHead(initRNG, r.o.HeadInitStd)
	r.dropSrc = rand.NewPCG(r.o.Seed, streamDropout)
	r.dataSrc = rand.NewPCG(r.o.Seed, streamData)
	r.dropRNG = rand.New(r.dropSrc)
	r.st = state{Settings: settings}
	r.st.Perm = permutation(len(r.d.Train), r.dataSrc)
	r.snapshotBest() // until the first evaluation the initial adapter is "best"
}

// permutation is a Fisher-Yates shuffle of 0..n-1 drawn from src with its
// own bounded draw, so the order depends only on the PCG stream (whose
// algorithm is fixed), not on the Go version's rand.Rand methods.
func permutation(n int, src *rand.PCG) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(uniform(src, uint64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// uniform returns an unbiased draw in [0, n) (n > 0) by rejection sampling.
func uniform(src *rand.PCG, n uint64) uint64 {
	lim := -n % n // 2^64 mod n: draws below it would bias the modulo
	for {
		if x := src.Uint64(); x >= lim {
			return x % n
		}
	}
}

// nextBatch takes the next Batch examples of the shuffled stream.
func (r *runner) nextBatch() []*Example {
	r.batch = r.batch[:0]
	for len(r.batch) < r.o.Batch {
		if r.st.Pos == len(r.st.Perm) {
			r.st.Epoch++
			r.st.Pos = 0
			r.st.Perm = permutation(len(r.d.Train), r.dataSrc)
		}
		r.batch = append(r.batch, &r.d.Train[r.st.Perm[r.st.Pos]])
		r.st.Pos++
	}
	return r.batch
}

// beforeUpdate is a test hook called before each update with its 1-based number.
var beforeUpdate func(step int)

func (r *runner) loop() error {
	o := r.o
	r.start = time.Now()
	r.startStep = r.st.Step
	perUpdate := o.Batch * o.Accum
	scale := float32(1)
	if o.Loss == LossMean {
		scale = 1 / float32(perUpdate)
	}
	for r.st.Step < o.Steps {
		if beforeUpdate != nil {
			beforeUpdate(r.st.Step + 1)
		}
		lr := o.Schedule.At(r.st.Step)
		var loss float64
		for k := 0; k < o.Accum; k++ {
			l, err := r.microStep(r.nextBatch(), scale)
			if err != nil {
				return err
			}
			loss += l
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return r.nanError(fmt.Sprintf("loss is %v", loss))
		}
		r.opt.step(r.ps, lr)
		for _, p := range r.ps {
			clear(p.g)
		}
		if name := r.nonFinite(); name != "" {
			return r.nanError(fmt.Sprintf("%s is NaN or Inf after the update", name))
		}
		r.st.Step++
		r.st.Examples += perUpdate
		r.st.LossSum += loss
		r.st.LossN += perUpdate
		if o.Progress != nil {
			el := time.Since(r.start).Seconds()
			o.Progress(Progress{Step: r.st.Step, Steps: o.Steps, Loss: loss / float64(perUpdate), LR: lr,
				ExamplesPerSec: float64((r.st.Step-r.startStep)*perUpdate) / math.Max(el, 1e-9), Epoch: r.epoch()})
		}
		evalNow := r.st.Step == o.Steps || o.EvalEvery > 0 && r.st.Step%o.EvalEvery == 0
		if evalNow {
			if err := r.evaluate(lr); err != nil {
				return err
			}
		}
		if evalNow || o.SaveEvery > 0 && r.st.Step%o.SaveEvery == 0 {
			if err := r.saveCheckpoint(); err != nil {
				return err
			}
		}
		if o.StopAfter > 0 && r.st.Step-r.startStep >= o.StopAfter && r.st.Step < o.Steps {
			return ErrStopped
		}
	}
	return nil
}

func (r *runner) epoch() float64 {
	return float64(r.st.Epoch) + float64(r.st.Pos)/float64(len(r.st.Perm))
}

// nonFinite names the first parameter tensor holding NaN or Inf ("" if none).
func (r *runner) nonFinite() string {
	for _, p := range r.ps {
		for _, v := range p.w {
			if v-v != 0 { // NaN or ±Inf
				return p.name
			}
		}
	}
	return ""
}

func (r *runner) nanError(what string) error {
	dir := filepath.Join(r.o.OutDir, checkpointDir)
	last := "no checkpoint was written yet"
	if st, err := peekCheckpoint(filepath.Join(dir, checkpointFile)); err == nil {
		last = fmt.Sprintf("the last good checkpoint (step %d) is kept in %s", st.Step, dir)
	}
	return fmt.Errorf("train: %s at step %d; stopped, nothing saved for this step (%s); try a lower learning rate", what, r.st.Step+1, last)
}

// microStep runs forward and backward on one micro-batch, adding gradients
// scaled by `scale`; it returns the summed loss of its examples.
func (r *runner) microStep(ex []*Example, scale float32) (float64, error) {
	m, a := r.m, r.a
	b, labels := r.bt.make(ex)
	pooled := a.Head.UsesPooler()
	var ws *model.Workspace
	opt := model.FwdOpts{Train: true, RNG: r.dropRNG}
	var x []float32
	if enc := r.o.Encoder; enc != nil {
		var err error
		if x, err = enc.Encode(b, pooled, true, r.dropRNG.Uint64()); err != nil {
			return 0, fmt.Errorf("train: %w", err)
		}
	} else {
		ws = r.ws.get(m, a.Ad, b.B, b.T)
		m.Encode(ws, b, a.Ad, opt)
		if pooled {
			x = m.Pool(ws)
		} else {
			x = m.CLS(ws)
		}
	}
	acts := a.Head.Forward(x, b.B, true, r.o.HeadDropout, r.dropRNG)
	C := a.Head.C
	losses := make([]float32, b.B)
	probs := make([]float32, b.B*C)
	nn.CrossEntropyForward(losses, probs, acts.Logits, labels, b.B, C)
	var loss float64
	for _, l := range losses {
		loss += float64(l)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, nil
	}
	dLogits := make([]float32, b.B*C)
	nn.CrossEntropyBackward(dLogits, probs, labels, b.B, C, scale)
	dX := a.Head.Backward(acts, dLogits, r.gHead)
	g := model.Grads{Adapters: r.gAd, Bias: r.gBias}
	if enc := r.o.Encoder; enc != nil {
		if err := enc.Backward(dX, pooled, g); err != nil {
			return 0, fmt.Errorf("train: %w", err)
		}
		return loss, nil
	}
	H := m.Cfg.Hidden
	if len(r.dHid) != b.B*b.T*H {
		r.dHid = make([]float32, b.B*b.T*H)
	} else {
		clear(r.dHid)
	}
	if pooled {
		m.PoolBackward(ws, r.dHid, dX, g)
	} else {
		for s := 0; s < b.B; s++ {
			nn.AddInto(r.dHid[s*b.T*H:s*b.T*H+H], dX[s*H:(s+1)*H])
		}
	}
	m.Backward(ws, r.dHid, a.Ad, g, opt)
	return loss, nil
}

// snapshotBest copies the current parameters as the best adapter.
func (r *runner) snapshotBest() {
	off := 0
	for _, p := range r.ps {
		copy(r.best[off:], p.w)
		off += len(p.w)
	}
}

// withParams runs f with the parameters temporarily set to vals.
func (r *runner) withParams(vals []float32, f func() error) error {
	cur := make([]float32, len(vals))
	off := 0
	for _, p := range r.ps {
		copy(cur[off:], p.w)
		copy(p.w, vals[off:off+len(p.w)])
		off += len(p.w)
	}
	err := f()
	off = 0
	for _, p := range r.ps {
		copy(p.w, cur[off:off+len(p.w)])
		off += len(p.w)
	}
	return err
}

// evaluate scores validation, records metrics.jsonl and keeps the best adapter.
func (r *runner) evaluate(lr float64) error {
	rec := EvalRecord{Step: r.st.Step, Epoch: r.epoch(), Examples: r.st.Examples, LR: lr}
	if r.st.LossN > 0 {
		rec.TrainLoss = r.st.LossSum / float64(r.st.LossN)
	}
	r.st.LossSum, r.st.LossN = 0, 0
	val, err := r.ev.Evaluate(r.d.Val)
	if err != nil {
		return fmt.Errorf("train: validation: %w", err)
	}
	rec.Val = val
	// Best by validation accuracy (the first of equals); without validation, the latest.
	if val == nil || !r.st.HaveBest || val.Accuracy > r.st.BestAcc {
		rec.Best = true
		r.st.HaveBest, r.st.BestStep = true, r.st.Step
		if val != nil {
			r.st.BestAcc = val.Accuracy
		}
		r.snapshotBest()
		if err := r.a.Save(r.o.OutDir); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	r.st.History = append(r.st.History, rec)
	return r.writeMetrics()
}

// finish evaluates the selected and the last adapter on test and writes
// last/ and summary.json.
func (r *runner) finish() (*Result, error) {
	res := &Result{Steps: r.st.Step, BestStep: r.st.BestStep, History: r.st.History,
		Seconds: r.st.Seconds + time.Since(r.start).Seconds()}
	if err := r.a.Save(filepath.Join(r.o.OutDir, "last")); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var err error
	if res.TestLast, err = r.ev.Evaluate(r.d.Test); err != nil {
		return nil, fmt.Errorf("train: test: %w", err)
	}
	err = r.withParams(r.best, func() error {
		var e error
		if res.Test, e = r.ev.Evaluate(r.d.Test); e != nil {
			return e
		}
		if res.Val, e = r.ev.Evaluate(r.d.Val); e != nil {
			return e
		}
		return r.a.Save(r.o.OutDir) // the selected adapter (rewritten: same bytes)
	})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if err := r.writeSummary(res); err != nil {
		return nil, err
	}
	return res, nil
}

// Stepper runs single training updates outside Train, without files or
// evaluation (benchmarks, experiments). The adapter is initialised from
// Options.Seed as Train does.
type Stepper struct{ r *runner }

// NewStepper prepares updates of adapter a on model m.
func NewStepper(m *model.Model, a *lora.Adapter, o Options) (*Stepper, error) {
	o.Defaults()
	if o.OutDir == "" {
		o.OutDir = "-" // unused
	}
	if err := o.validate(m); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	r := &runner{m: m, a: a, d: &Data{}, o: o, ws: wsCache{train: true, keep: 2},
		bt: batcher{shape: o.Shape, padID: int32(m.Cfg.PadID)}}
	r.setupParams()
	initRNG := rand.New(rand.NewPCG(o.Seed, streamInit))
	a.Init(initRNG)
	a.InitHead(initRNG, o.HeadInitStd)
	r.dropSrc = rand.NewPCG(o.Seed, streamDropout)
	r.dropRNG = rand.New(r.dropSrc)
	return &Stepper{r: r}, nil
}

// Step runs forward and backward on the examples (one micro-batch) and one
// AdamW update at the schedule's rate for the current step; it returns the
// mean per-example loss.
func (s *Stepper) Step(ex []Example) (float64, error) {
	r := s.r
	if err := checkExamples("step", ex, r.m.Cfg, r.a.Head.C, r.o.Shape.MaxLen); err != nil {
		return 0, err
	}
	ptrs := make([]*Example, len(ex))
	for i := range ex {
		ptrs[i] = &ex[i]
	}
	scale := float32(1)
	if r.o.Loss == LossMean {
		scale = 1 / float32(len(ex))
	}
	loss, err := r.microStep(ptrs, scale)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("train: loss is %v at step %d", loss, r.st.Step+1)
	}
	r.opt.step(r.ps, r.o.Schedule.At(r.st.Step))
	for _, p := range r.ps {
		clear(p.g)
	}
	r.st.Step++
	return loss / float64(len(ex)), nil
}
