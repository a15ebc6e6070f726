package pretrain

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/gpu"
	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/optim"
	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/tokenizer"
)

// Options configures a pretraining run.
type Options struct {
	Corpus      []string // folders of .txt / .txt.gz prose
	Heldout     string   // folder of held-out text (MLM loss and accuracy)
	DataDir     string   // optional: add the training splits of the classification tasks here
	SeqLen      int
	Batch       int
	Steps       int
	Warmup      int
	LR          float64
	WeightDecay float64
	ClipNorm    float64
	MaskProb    float64
	Seed        uint64
	LogEvery    int
	EvalEvery   int
	EvalSeqs    int
	SaveEvery   time.Duration // checkpoint interval (wall time)
	MaxTime     time.Duration // stop (after a checkpoint) once this much wall time has passed; 0 = none
	MaxTokens   int           // cap on training tokens read from the corpus
	StopAfter   int           // stop (after a checkpoint) at this step; 0 = run to Steps
	Out         string
	Log         io.Writer
	// GPU runs the steps on this device (forward, backward, AdamW); nil = CPU.
	GPU *cuda.Device `json:"-"`
	// GPUUpload, if set, replaces gpu.Upload(GPU, model) (tests run the GPU
	// path on the gpu package's host emulation with it).
	GPUUpload func(*model.Model) (*gpu.Model, error) `json:"-"`
}

// Defaults fills unset options.
func (o *Options) Defaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.SeqLen, 128)
	def(&o.Batch, 32)
	def(&o.Steps, 10000)
	def(&o.Warmup, o.Steps/20)
	def(&o.LogEvery, 20)
	def(&o.EvalEvery, 500)
	def(&o.EvalSeqs, 256)
	def(&o.MaxTokens, 30_000_000)
	if o.LR == 0 {
		o.LR = 5e-4
	}
	if o.WeightDecay == 0 {
		o.WeightDecay = 0.01
	}
	if o.ClipNorm == 0 {
		o.ClipNorm = 1
	}
	if o.MaskProb == 0 {
		o.MaskProb = 0.15
	}
	if o.SaveEvery == 0 {
		o.SaveEvery = 3 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// State is the resumable part of a run, saved as checkpoint/state.json.
type State struct {
	Step        int      `json:"step"`
	TokensSeen  int64    `json:"tokens_seen"`
	Seed        uint64   `json:"seed"`
	Seconds     float64  `json:"seconds"`
	NumParams   int      `json:"num_params"`
	ConfigHash  string   `json:"config_hash"`
	LastLoss    float64  `json:"last_loss"`
	LastEval    *Eval    `json:"last_eval,omitempty"`
	TrainSeqs   int      `json:"train_sequences"`
	DataSources []string `json:"data_sources"`
}

// Eval is a held-out measurement.
type Eval struct {
	Step     int     `json:"step"`
	Loss     float64 `json:"loss"`
	Accuracy float64 `json:"accuracy"`
	Masked   int     `json:"masked_tokens"`
}

// Trainer holds one pretraining run.
type Trainer struct {
	M       *model.Model
	Tok     *tokenizer.Tokenizer
	O       Options
	train   [][]int32
	heldout [][]int32
	grads   *model.Params
	mBuf    []float32
	vBuf    []float32
	opt     optim.AdamW
	st      State
	perm    map[int][]int32
	special map[int32]bool
	mask    int32
	decay   [][2]int // [lo,hi) ranges of P.Data that get weight decay
	gm      *gpu.Model
	gt      *gpu.Trainer // GPU steps (nil: CPU)
}

// New prepares data and state; it resumes from out/checkpoint when present.
func New(m *model.Model, tok *tokenizer.Tokenizer, o Options) (*Trainer, error) {
	o.Defaults()
	if o.SeqLen > m.Cfg.MaxSeqLen() || o.SeqLen < 8 {
		return nil, fmt.Errorf("sequence length %d outside 8..%d", o.SeqLen, m.Cfg.MaxSeqLen())
	}
	if !m.Cfg.HasMLM {
		return nil, fmt.Errorf("model config has no masked-LM head")
	}
	t := &Trainer{M: m, Tok: tok, O: o, perm: map[int][]int32{}, special: map[int32]bool{}}
	cls, sep, msk := tok.CLSID(), tok.SEPID(), tok.MaskID()
	for _, id := range []int32{cls, sep, tok.PadID(), msk, tok.UnkID()} {
		t.special[id] = true
	}
	t.mask = msk
	var err error
	var notes []string
	t.train, notes, err = t.loadSeqs("train", o.Corpus, o.DataDir, o.MaxTokens)
	if err != nil {
		return nil, err
	}
	if o.Heldout != "" {
		t.heldout, _, err = t.loadSeqs("heldout", []string{o.Heldout}, "", o.EvalSeqs*o.SeqLen)
		if err != nil {
			return nil, err
		}
		if len(t.heldout) > o.EvalSeqs {
			t.heldout = t.heldout[:o.EvalSeqs]
		}
	}
	if len(t.train) < o.Batch {
		return nil, fmt.Errorf("corpus gives %d sequences of %d tokens, fewer than one batch (%d)", len(t.train), o.SeqLen, o.Batch)
	}
	c := m.Cfg
	t.grads = m.P.Like(c)
	t.mBuf = make([]float32, len(m.P.Data))
	t.vBuf = make([]float32, len(m.P.Data))
	t.opt = optim.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-6}
	off := 0
	for _, nt := range m.P.Named(c) {
		n := len(nt.Data)
		if len(nt.Shape) > 1 { // no decay on biases and LayerNorm
			t.decay = append(t.decay, [2]int{off, off + n})
		}
		off += n
	}
	t.st = State{Seed: o.Seed, NumParams: len(m.P.Data), ConfigHash: configHash(c), TrainSeqs: len(t.train), DataSources: notes}
	if err := t.resume(); err != nil {
		return nil, err
	}
	if o.GPU != nil || o.GPUUpload != nil {
		if err := t.setupGPU(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// setupGPU uploads the (possibly resumed) weights and Adam moments.
func (t *Trainer) setupGPU() error {
	up := t.O.GPUUpload
	if up == nil {
		up = func(m *model.Model) (*gpu.Model, error) { return gpu.Upload(t.O.GPU, m) }
	}
	g, err := up(t.M)
	if err != nil {
		return err
	}
	B, T := t.O.Batch, t.O.SeqLen
	// Masked rows per batch are about MaskProb·B·T; larger batches of rows run in chunks.
	rows := min(B*T, int(2*t.O.MaskProb*float64(B*T))+64)
	tr, err := g.NewTrainer(gpu.TrainConfig{MaxB: B, T: T, Full: true, MaxRows: rows})
	if err != nil {
		g.Free()
		return err
	}
	if err := tr.LoadState(t.mBuf, t.vBuf); err != nil {
		tr.Free()
		g.Free()
		return err
	}
	t.gm, t.gt = g, tr
	return nil
}

// Close releases GPU memory (a no-op on the CPU).
func (t *Trainer) Close() {
	if t.gt != nil {
		t.gt.Free()
		t.gm.Free()
		t.gt, t.gm = nil, nil
	}
}

func configHash(c model.Config) string {
	return fmt.Sprintf("%s-v%d-h%d-l%d-a%d-i%d-p%d", c.Arch, c.Vocab, c.Hidden, c.Layers, c.Heads, c.Inter, c.MaxPos)
}

// dataFingerprint identifies what loadSeqs would read: the files (names and
// sizes), the task data folder, the tokenizer and the packing settings.
func (t *Trainer) dataFingerprint(name string, files []string, dataDir string, maxTokens int) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|T%d|max%d|seed%d|data %s|vocab %d|", name, t.O.SeqLen, maxTokens, t.O.Seed, dataDir, t.Tok.VocabSize())
	for _, id := range t.Tok.Tokenize("The quick brown fox jumps over the lazy dog; naïve café, 1,234.56!") {
		fmt.Fprintf(h, "%d,", id)
	}
	for _, f := range files {
		size := int64(-1)
		if st, err := os.Stat(f); err == nil {
			size = st.Size()
		}
		fmt.Fprintf(h, "|%s:%d", filepath.Base(f), size)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// loadSeqs tokenizes and packs text, caching the packed ids in out/data
// (reused only while the files, tokenizer and settings are the same).
func (t *Trainer) loadSeqs(name string, dirs []string, dataDir string, maxTokens int) ([][]int32, []string, error) {
	o := t.O
	cache := filepath.Join(o.Out, "data", fmt.Sprintf("%s-T%d-max%d.ids", name, o.SeqLen, maxTokens))
	notesPath := cache + ".json"
	files, err := ListTextFiles(dirs...)
	if err != nil {
		return nil, nil, err
	}
	fp := t.dataFingerprint(name, files, dataDir, maxTokens)
	if ids, err := readIDs(cache); err == nil {
		var meta struct {
			Fingerprint string   `json:"fingerprint"`
			Notes       []string `json:"notes"`
		}
		if b, err := os.ReadFile(notesPath); err == nil && json.Unmarshal(b, &meta) == nil && meta.Fingerprint == fp {
			return splitSeqs(ids, o.SeqLen), meta.Notes, nil
		}
		fmt.Fprintf(t.O.Log, "%s: cached token ids are for other files, tokenizer or settings; tokenizing again\n", cache)
	}
	// Visit files in a seeded order so a token cap samples every source.
	rng := rand.New(rand.NewPCG(o.Seed, 0xc0ffee))
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	var stream []int32
	var notes []string
	sep := t.Tok.SEPID()
	used := 0
	if dataDir != "" {
		// Task training splits, shuffled, capped at a fifth of the token budget
		// so that general prose dominates.
		texts, n, err := TaskTrainTexts(dataDir)
		if err != nil {
			return nil, nil, err
		}
		rng.Shuffle(len(texts), func(i, j int) { texts[i], texts[j] = texts[j], texts[i] })
		ids, err := tokenizeParagraphs(t.Tok, texts, sep)
		if err != nil {
			return nil, nil, err
		}
		if len(ids) > maxTokens/5 {
			ids = ids[:maxTokens/5]
		}
		stream = append(stream, ids...)
		notes = append(notes, n...)
		notes = append(notes, fmt.Sprintf("task text: %d tokens (capped at a fifth of the budget, %d)", len(ids), maxTokens/5))
	}
	for _, f := range files {
		if len(stream) >= maxTokens {
			break
		}
		lines, err := ReadLines(f)
		if err != nil {
			return nil, nil, err
		}
		ids, err := tokenizeParagraphs(t.Tok, lines, sep)
		if err != nil {
			return nil, nil, err
		}
		stream = append(stream, ids...)
		used++
		if used%20 == 0 {
			fmt.Fprintf(t.O.Log, "tokenizing %s: %d files, %d tokens\n", name, used, len(stream))
		}
	}
	if len(stream) > maxTokens {
		stream = stream[:maxTokens]
	}
	notes = append(notes, fmt.Sprintf("%d of %d files under %v", used, len(files), dirs))
	seqs := Pack(stream, o.SeqLen, t.Tok.CLSID(), sep)
	var flat []int32
	for _, s := range seqs {
		flat = append(flat, s...)
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return nil, nil, err
	}
	if err := writeIDs(cache, flat); err != nil {
		return nil, nil, err
	}
	b, _ := json.Marshal(map[string]any{"fingerprint": fp, "notes": notes})
	if err := report.WriteFileAtomic(notesPath, b); err != nil {
		return nil, nil, err
	}
	return seqs, notes, nil
}

func splitSeqs(flat []int32, T int) [][]int32 {
	var seqs [][]int32
	for lo := 0; lo+T <= len(flat); lo += T {
		seqs = append(seqs, flat[lo:lo+T])
	}
	return seqs
}

func writeIDs(path string, ids []int32) error {
	b := make([]byte, 4*len(ids))
	for i, v := range ids {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	return report.WriteFileAtomic(path, b)
}

func readIDs(path string) ([]int32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%s: truncated", path)
	}
	ids := make([]int32, len(b)/4)
	for i := range ids {
		ids[i] = int32(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return ids, nil
}

// sequence returns the i-th training sequence of the global order: a fresh
// seeded permutation every epoch, so the order depends only on (seed, i).
func (t *Trainer) sequence(i int) []int32 {
	n := len(t.train)
	epoch := i / n
	p, ok := t.perm[epoch]
	if !ok {
		p = make([]int32, n)
		for j := range p {
			p[j] = int32(j)
		}
		rng := rand.New(rand.NewPCG(t.O.Seed, uint64(epoch)+1))
		rng.Shuffle(n, func(a, b int) { p[a], p[b] = p[b], p[a] })
		t.perm = map[int][]int32{epoch: p}
	}
	return t.train[p[i%n]]
}

// maskBatch applies BERT dynamic masking: each non-special token is chosen
// with probability MaskProb; chosen tokens become [MASK] (80%), a random
// token (10%) or stay (10%). Returns the masked ids, the chosen rows and their labels.
func (t *Trainer) maskBatch(seqs [][]int32, rng *rand.Rand) ([]int32, []int32, []int32) {
	T := t.O.SeqLen
	V := t.M.Cfg.Vocab
	ids := make([]int32, 0, len(seqs)*T)
	var rows, labels []int32
	for s, seq := range seqs {
		for j, id := range seq {
			out := id
			if !t.special[id] && rng.Float64() < t.O.MaskProb {
				rows = append(rows, int32(s*T+j))
				labels = append(labels, id)
				switch r := rng.Float64(); {
				case r < 0.8:
					out = t.mask
				case r < 0.9:
					for {
						out = int32(rng.IntN(V))
						if !t.special[out] {
							break
						}
					}
				}
			}
			ids = append(ids, out)
		}
	}
	if len(rows) == 0 { // always train on at least one token
		rows, labels = append(rows, 1), append(labels, ids[1])
		ids[1] = t.mask
	}
	return ids, rows, labels
}

// mlmStep runs forward (and backward when g != nil) on one masked batch and
// returns the summed loss, correct predictions and masked-token count.
func (t *Trainer) mlmStep(ids, rows, labels []int32, B int, train bool, rng *rand.Rand, g *model.Params) (float64, int, error) {
	m := t.M
	T := t.O.SeqLen
	b := model.Batch{B: B, T: T, IDs: ids}
	if t.gt != nil {
		var seed uint64
		if train {
			seed = rng.Uint64()
		}
		if err := t.gt.Forward(b, train, seed); err != nil {
			return 0, 0, err
		}
		r, err := t.gt.MLM(rows, labels, 1/float32(len(rows)), g != nil)
		return r.Loss, r.Correct, err
	}
	return m.MLMStep(b, rows, labels, 1/float32(len(rows)), model.FwdOpts{Train: train, RNG: rng}, g)
}

// Evaluate measures held-out MLM loss and accuracy with fixed masks.
func (t *Trainer) Evaluate() (*Eval, error) {
	if len(t.heldout) == 0 {
		return nil, nil
	}
	var loss float64
	var correct, count int
	for lo := 0; lo < len(t.heldout); lo += t.O.Batch {
		seqs := t.heldout[lo:min(len(t.heldout), lo+t.O.Batch)]
		rng := rand.New(rand.NewPCG(t.O.Seed^0xe7a1, uint64(lo)))
		ids, rows, labels := t.maskBatch(seqs, rng)
		s, c, err := t.mlmStep(ids, rows, labels, len(seqs), false, nil, nil)
		if err != nil {
			return nil, err
		}
		loss += s
		correct += c
		count += len(rows)
	}
	return &Eval{Step: t.st.Step, Loss: loss / float64(count), Accuracy: float64(correct) / float64(count), Masked: count}, nil
}

// Run trains until Steps or MaxTime; it checkpoints on the way and at the end.
func (t *Trainer) Run() (*State, error) {
	o := t.O
	start := time.Now()
	lastSave := start
	baseSeconds := t.st.Seconds
	logf := func(format string, a ...any) { fmt.Fprintf(o.Log, format, a...) }
	metrics, err := os.OpenFile(filepath.Join(o.Out, "metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer metrics.Close()
	logf("pretraining %d params, %d train sequences of %d tokens, batch %d, from step %d to %d\n",
		len(t.M.P.Data), len(t.train), o.SeqLen, o.Batch, t.st.Step, o.Steps)
	tokStart := t.st.TokensSeen
	for t.st.Step < o.Steps {
		step := t.st.Step
		seqs := make([][]int32, o.Batch)
		for i := range seqs {
			seqs[i] = t.sequence(step*o.Batch + i)
		}
		rng := rand.New(rand.NewPCG(o.Seed, uint64(step)+1<<32))
		ids, rows, labels := t.maskBatch(seqs, rng)
		if t.gt == nil {
			clear(t.grads.Data)
		}
		sum, correct, err := t.mlmStep(ids, rows, labels, o.Batch, true, rng, t.grads)
		if err != nil {
			return nil, err
		}
		loss := sum / float64(len(rows))
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, fmt.Errorf("loss is %v at step %d; the last good checkpoint is in %s", loss, step, filepath.Join(o.Out, "checkpoint"))
		}
		lr := optim.Schedule{Kind: optim.Linear, LR: o.LR, Warmup: o.Warmup, Total: o.Steps}.At(step)
		var gnorm float64
		if t.gt != nil {
			if gnorm, err = t.gt.GradNorm(); err != nil {
				return nil, err
			}
			if err := t.gt.AdamWStep(step+1, lr, t.opt.Beta1, t.opt.Beta2, t.opt.Eps, o.WeightDecay,
				gpu.ClipScale(o.ClipNorm, gnorm), t.decay); err != nil {
				return nil, err
			}
			if err := t.gt.ZeroGrads(); err != nil {
				return nil, err
			}
		} else {
			gnorm = optim.ClipByGlobalNorm(o.ClipNorm, t.grads.Data)
			t.opt.Step = step
			t.opt.Begin()
			t.update(lr)
		}
		t.st.Step++
		t.st.TokensSeen += int64(o.Batch * o.SeqLen)
		t.st.LastLoss = loss
		t.st.Seconds = baseSeconds + time.Since(start).Seconds()
		if t.st.Step%o.LogEvery == 0 || t.st.Step == o.Steps {
			el := time.Since(start).Seconds()
			tps := float64(t.st.TokensSeen-tokStart) / el
			eta := time.Duration(float64(o.Steps-t.st.Step)*float64(o.Batch*o.SeqLen)/tps) * time.Second
			logf("step %d/%d loss %.4f acc %.3f lr %.2e gnorm %.2f %.0f tok/s eta %s\n", t.st.Step, o.Steps, loss,
				float64(correct)/float64(len(rows)), lr, gnorm, tps, eta.Round(time.Second))
			fmt.Fprintf(metrics, `{"step":%d,"loss":%s,"lr":%g,"tokens":%d,"tokens_per_s":%.1f}`+"\n", t.st.Step,
				strconv.FormatFloat(loss, 'g', 6, 64), lr, t.st.TokensSeen, tps)
		}
		if t.st.Step%o.EvalEvery == 0 || t.st.Step == o.Steps {
			ev, err := t.Evaluate()
			if err != nil {
				return nil, err
			}
			if ev != nil {
				t.st.LastEval = ev
				logf("eval step %d: held-out MLM loss %.4f accuracy %.4f (%d masked tokens)\n", ev.Step, ev.Loss, ev.Accuracy, ev.Masked)
				b, _ := json.Marshal(map[string]any{"eval": ev})
				metrics.Write(append(b, '\n'))
			}
		}
		timeUp := o.MaxTime > 0 && time.Since(start) >= o.MaxTime || o.StopAfter > 0 && t.st.Step >= o.StopAfter
		if time.Since(lastSave) >= o.SaveEvery || timeUp || t.st.Step == o.Steps {
			if err := t.save(); err != nil {
				return nil, err
			}
			lastSave = time.Now()
		}
		if timeUp && t.st.Step < o.Steps {
			logf("stopping at step %d (time or step budget); resume with the same command\n", t.st.Step)
			break
		}
	}
	return &t.st, nil
}

func (t *Trainer) update(lr float64) {
	p, g := t.M.P.Data, t.grads.Data
	var slots []optim.Slot
	add := func(lo, hi int, wd float64) {
		if lo < hi {
			slots = append(slots, optim.Slot{P: p[lo:hi], G: g[lo:hi], M: t.mBuf[lo:hi], V: t.vBuf[lo:hi], WD: wd})
		}
	}
	prev := 0
	for _, r := range t.decay {
		add(prev, r[0], 0)
		add(r[0], r[1], t.O.WeightDecay)
		prev = r[1]
	}
	add(prev, len(p), 0)
	t.opt.UpdateAll(slots, lr)
}

func (t *Trainer) ckptDir() string { return filepath.Join(t.O.Out, "checkpoint") }

// save writes params, Adam moments and state atomically.
func (t *Trainer) save() error {
	if t.gt != nil {
		if err := t.gt.SyncParams(t.mBuf, t.vBuf); err != nil {
			return err
		}
	}
	dir := t.ckptDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts := []hf.WTensor{
		{Name: "params", Shape: []int{len(t.M.P.Data)}, F32: t.M.P.Data},
		{Name: "adam_m", Shape: []int{len(t.mBuf)}, F32: t.mBuf},
		{Name: "adam_v", Shape: []int{len(t.vBuf)}, F32: t.vBuf},
	}
	if err := hf.WriteSafetensors(filepath.Join(dir, "state.safetensors"), ts, map[string]string{"step": strconv.Itoa(t.st.Step)}); err != nil {
		return err
	}
	return report.WriteJSON(filepath.Join(dir, "state.json"), t.st)
}

// resume loads out/checkpoint if present.
func (t *Trainer) resume() error {
	dir := t.ckptDir()
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, "state.json"), err)
	}
	if st.ConfigHash != t.st.ConfigHash || st.NumParams != t.st.NumParams {
		return fmt.Errorf("checkpoint in %s is for another model (%s, %d params); use a fresh --out", dir, st.ConfigHash, st.NumParams)
	}
	f, err := hf.ReadSafetensors(filepath.Join(dir, "state.safetensors"))
	if err != nil {
		return err
	}
	if f.Metadata["step"] != strconv.Itoa(st.Step) {
		return fmt.Errorf("checkpoint state.json (step %d) and state.safetensors (step %s) disagree", st.Step, f.Metadata["step"])
	}
	for name, dst := range map[string][]float32{"params": t.M.P.Data, "adam_m": t.mBuf, "adam_v": t.vBuf} {
		tn := f.Tensors[name]
		if tn == nil {
			return fmt.Errorf("checkpoint lacks %s", name)
		}
		v, err := tn.Float32()
		if err != nil || len(v) != len(dst) {
			return fmt.Errorf("checkpoint tensor %s unreadable or wrong size", name)
		}
		copy(dst, v)
	}
	st.DataSources = t.st.DataSources
	st.TrainSeqs = t.st.TrainSeqs
	t.st = st
	fmt.Fprintf(t.O.Log, "resumed from %s at step %d\n", dir, st.Step)
	return nil
}

// Export writes the model as a Hugging Face BertForMaskedLM folder with the tokenizer.
func (t *Trainer) Export(dir string, tokDir string, dtype string) error {
	if err := t.M.SaveHF(dir, []string{"BertForMaskedLM"}, dtype, nil); err != nil {
		return err
	}
	return CopyTokenizerFiles(tokDir, dir)
}

// CopyTokenizerFiles copies vocab.txt, tokenizer.json and tokenizer_config.json (those present).
func CopyTokenizerFiles(from, to string) error {
	for _, name := range []string{"vocab.txt", "tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if err := report.WriteFileAtomic(filepath.Join(to, name), b); err != nil {
			return err
		}
	}
	return nil
}
