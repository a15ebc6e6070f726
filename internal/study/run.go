package study

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/data"
	"github.com/adarank/adarank/internal/defaultmodel"
	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/tokenizer"
	"github.com/adarank/adarank/internal/train"
)

// Cell statuses.
const (
	StatusPending  = "pending"
	StatusPartial  = "partial" // a checkpoint, no summary: resumes
	StatusDone     = "done"
	StatusFailed   = "failed"   // error.txt: retried on the next run
	StatusConflict = "conflict" // cell.json made with other settings: refused
)

// Options controls Run.
type Options struct {
	OutDir   string
	Filter   *Filter   // nil: every cell
	DryRun   bool      // print the grid and the cost; write nothing
	MaxCells int       // train at most this many cells in this call (0: all)
	Log      io.Writer // progress lines (nil: none)
	Sweep    SweepFunc // nil: adarank.Sweep (CPU)
	Device   string    // the sweep's (and training's) device for the record ("": CPU)
	// Encoder, if set, makes the encoder backend of each cell's training
	// (the GPU); it returns a release function. nil: the CPU engine.
	Encoder func(m *model.Model, a *lora.Adapter, maxB, T int) (train.Encoder, func(), error)
	// Progress, if set, is called after every update of the running cell.
	Progress func(cell string, p train.Progress)

	stopAfterUpdates int // tests: interrupt the next trained cell after this many updates, as a kill would
}

// RunSummary counts what a run found and did.
type RunSummary struct {
	Cells     int     `json:"cells"`    // in the grid
	Selected  int     `json:"selected"` // passing the filter
	Done      int     `json:"done"`     // selected and finished before this call
	Trained   int     `json:"trained"`  // finished in this call
	Resumed   int     `json:"resumed"`  // of those, continued from a checkpoint
	Failed    int     `json:"failed"`
	Conflicts int     `json:"conflicts"`
	Updates   int     `json:"updates"`  // optimizer updates of the selected unfinished cells
	Examples  int     `json:"examples"` // training examples those updates see
	Estimate  float64 `json:"estimated_seconds"`
	Stopped   bool    `json:"stopped"` // MaxCells reached with cells left
}

// CellSpec is DIR/cells/<id>/cell.json: everything that shapes the run.
type CellSpec struct {
	Cell
	ModelPath   string            `json:"model_path"`
	ModelHash   string            `json:"weights_sha256"`
	TaskSpec    TaskSpec          `json:"task_spec"`
	Recipe      Setting           `json:"recipe"`
	MaxLen      int               `json:"max_len"` // effective (shrunk to the model)
	Alloc       *Allocation       `json:"allocation,omitempty"`
	Importance  string            `json:"importance,omitempty"` // cache key of the sweep used
	Ranks       map[string]string `json:"ranks"`
	RankSum     int               `json:"rank_sum"`
	LoRAParams  int               `json:"lora_params"`
	BiasParams  int               `json:"bias_params"`
	HeadParams  int               `json:"head_params"`
	Fingerprint string            `json:"fingerprint"`
}

// Allocation are the rank-allocation rules of the adarank and random sources.
type Allocation struct {
	Rounding string `json:"rounding"`
	MinRank  int    `json:"min_rank"`
	MaxRank  int    `json:"max_rank"`
	Joint    bool   `json:"joint"`
}

// fingerprint hashes the spec's inputs (not its derived counts, nor labels
// such as notes or a setting's module restriction).
func (s *CellSpec) fingerprint() string {
	recipe, task := s.Recipe, s.TaskSpec
	recipe.Modules, task.Note = nil, ""
	id := struct {
		Cell                 Cell
		Types                []string
		ModelPath, ModelHash string
		Task                 TaskSpec
		Recipe               Setting
		MaxLen               int
		Alloc                *Allocation
		Importance           string
		Ranks                map[string]string
	}{s.Cell, s.Types, s.ModelPath, s.ModelHash, task, recipe, s.MaxLen, s.Alloc, s.Importance, s.Ranks}
	b, _ := json.Marshal(id)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// IndexEntry is one line of DIR/cells.jsonl.
type IndexEntry struct {
	ID         string   `json:"id"`
	Model      string   `json:"model"`
	Task       string   `json:"task"`
	Setting    string   `json:"setting"`
	Modules    string   `json:"modules"`
	AvgRank    int      `json:"avg_rank"`
	Source     string   `json:"source"`
	Seed       uint64   `json:"seed"`
	Status     string   `json:"status"`
	Dir        string   `json:"dir"`
	Error      string   `json:"error,omitempty"`
	ValAcc     *float64 `json:"val_accuracy,omitempty"`
	TestAcc    *float64 `json:"test_accuracy,omitempty"`
	LoRAParams int      `json:"lora_params,omitempty"`
	RankSum    int      `json:"rank_sum,omitempty"`
	Steps      int      `json:"steps,omitempty"`
	Seconds    float64  `json:"seconds,omitempty"`
}

// cellSummary is the part of train's summary.json the study reads.
type cellSummary struct {
	Steps    int               `json:"steps"`
	Seconds  float64           `json:"seconds"`
	BestStep int               `json:"best_step"`
	Val      *train.Metrics    `json:"val"`
	Test     *train.Metrics    `json:"test"`
	TestLast *train.Metrics    `json:"test_last"`
	Params   train.ParamCounts `json:"parameters"`
	Ranks    map[string]string `json:"ranks"`
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// CellDir is the folder of a cell.
func CellDir(outDir, id string) string { return filepath.Join(outDir, "cells", id) }

// cellStatus reads a cell's state from its folder.
func cellStatus(dir string) (string, string) {
	switch {
	case exists(filepath.Join(dir, "summary.json")):
		return StatusDone, ""
	case exists(filepath.Join(dir, "conflict.txt")):
		b, _ := os.ReadFile(filepath.Join(dir, "conflict.txt"))
		return StatusConflict, strings.TrimSpace(string(b))
	case exists(filepath.Join(dir, "checkpoint", "state.safetensors")):
		return StatusPartial, ""
	case exists(filepath.Join(dir, "error.txt")):
		b, _ := os.ReadFile(filepath.Join(dir, "error.txt"))
		return StatusFailed, strings.TrimSpace(string(b))
	}
	return StatusPending, ""
}

// indexEntry describes a cell from its folder.
func indexEntry(outDir string, c *Cell) IndexEntry {
	dir := CellDir(outDir, c.ID)
	e := IndexEntry{ID: c.ID, Model: c.Model, Task: c.Task, Setting: c.Setting, Modules: c.Modules, AvgRank: c.AvgRank,
		Source: c.Source, Seed: c.Seed, Dir: filepath.Join("cells", c.ID)}
	e.Status, e.Error = cellStatus(dir)
	var spec CellSpec
	if readJSON(filepath.Join(dir, "cell.json"), &spec) == nil {
		e.LoRAParams, e.RankSum = spec.LoRAParams, spec.RankSum
	}
	if e.Status == StatusDone {
		var s cellSummary
		if err := readJSON(filepath.Join(dir, "summary.json"), &s); err != nil {
			e.Status, e.Error = StatusFailed, err.Error()
			return e
		}
		if s.Val != nil {
			e.ValAcc = &s.Val.Accuracy
		}
		if s.Test != nil {
			e.TestAcc = &s.Test.Accuracy
		}
		e.Steps, e.Seconds = s.Steps, s.Seconds
	}
	return e
}

// writeIndex rewrites DIR/cells.jsonl atomically.
func writeIndex(outDir string, entries []IndexEntry) error {
	var b strings.Builder
	for i := range entries {
		line, err := json.Marshal(&entries[i])
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return report.WriteFileAtomic(filepath.Join(outDir, "cells.jsonl"), []byte(b.String()))
}

// loadedModel is a model kept in memory across cells. Training may change
// it (trained biases alias the model's, dropout edits the config), so
// reset restores the pristine weights and config before every use.
type loadedModel struct {
	spec       *ModelSpec
	m          *model.Model
	tok        *tokenizer.Tokenizer
	hash       string
	cfg        model.Config
	pristine   []float32
	initStd    float64
	clsDrop    float64
	hasClsDrop bool
}

func (lm *loadedModel) reset() {
	copy(lm.m.P.Data, lm.pristine)
	lm.m.Cfg = lm.cfg
}

// loadModel opens the embedded model or a model folder.
func loadModel(spec *ModelSpec) (*loadedModel, error) {
	lm := &loadedModel{spec: spec, initStd: 0.02}
	var err error
	if spec.IsEmbedded() {
		if lm.m, lm.tok, err = defaultmodel.Load(); err != nil {
			return nil, err
		}
	} else {
		if lm.m, err = model.Load(spec.Path); err != nil {
			return nil, err
		}
		if lm.tok, err = tokenizer.Load(spec.Path); err != nil {
			return nil, err
		}
		// The head settings transformers takes from config.json.
		hc, err := hf.LoadConfig(filepath.Join(spec.Path, "config.json"))
		if err != nil {
			return nil, err
		}
		if v, ok := hc.Raw["initializer_range"]; ok {
			if _, e := fmt.Sscan(fmt.Sprint(v), &lm.initStd); e != nil || !(lm.initStd > 0) {
				return nil, fmt.Errorf("%s: initializer_range %v is not a positive number", spec.Path, v)
			}
		}
		if v, ok := hc.Raw["classifier_dropout"]; ok && v != nil {
			if _, e := fmt.Sscan(fmt.Sprint(v), &lm.clsDrop); e != nil {
				return nil, fmt.Errorf("%s: classifier_dropout %v is not a number", spec.Path, v)
			}
			lm.hasClsDrop = true
		}
	}
	if lm.tok.VocabSize() > lm.m.Cfg.Vocab {
		return nil, fmt.Errorf("model %s: tokenizer has %d tokens but the vocabulary is %d", spec.Name, lm.tok.VocabSize(), lm.m.Cfg.Vocab)
	}
	lm.cfg = lm.m.Cfg
	lm.hash = lm.m.Hash()
	lm.pristine = append([]float32(nil), lm.m.P.Data...)
	return lm, nil
}

// subset keeps at most n rows, a fixed-seed sample in the original order.
func subset(ex []data.Example, n int) []data.Example {
	if n <= 0 || n >= len(ex) {
		return ex
	}
	idx := rand.New(rand.NewPCG(1, 0x737562736574)).Perm(len(ex))[:n] // "subset"
	sort.Ints(idx)
	out := make([]data.Example, n)
	for i, j := range idx {
		out[i] = ex[j]
	}
	return out
}

// loadTask loads a task with the study's fixed validation carving and the
// validation/test limits.
func loadTask(t *TaskSpec) (*data.Dataset, error) {
	ds, err := data.LoadTask(t.Loader, t.Data, data.Options{})
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Name, err)
	}
	if t.MaxVal > 0 && len(ds.Val) > t.MaxVal {
		ds.Notes = append(ds.Notes, fmt.Sprintf("validation limited to a fixed-seed sample of %d of %d rows", t.MaxVal, len(ds.Val)))
		ds.Val = subset(ds.Val, t.MaxVal)
	}
	if t.MaxTest > 0 && len(ds.Test) > t.MaxTest {
		ds.Notes = append(ds.Notes, fmt.Sprintf("test limited to a fixed-seed sample of %d of %d rows", t.MaxTest, len(ds.Test)))
		ds.Test = subset(ds.Test, t.MaxTest)
	}
	return ds, nil
}

// runner holds the caches of one Run: the current model, data set,
// tokenized splits and sweeps.
type runner struct {
	cfg *Config
	o   Options
	log io.Writer

	lm      *loadedModel
	dsKey   string
	ds      *data.Dataset
	tokKey  string
	tokData *train.Data
	imps    map[string]*ImportanceFile
}

func (r *runner) model(spec *ModelSpec) (*loadedModel, error) {
	if r.lm != nil && r.lm.spec.Name == spec.Name {
		return r.lm, nil
	}
	r.lm, r.dsKey, r.ds, r.tokKey, r.tokData = nil, "", nil, "", nil // free the previous model's data
	fmt.Fprintf(r.log, "loading model %s\n", spec.Name)
	lm, err := loadModel(spec)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", spec.Name, err)
	}
	r.lm = lm
	return lm, nil
}

func (r *runner) dataset(t *TaskSpec) (*data.Dataset, error) {
	if r.dsKey == t.Name {
		return r.ds, nil
	}
	fmt.Fprintf(r.log, "loading task %s from %s\n", t.Name, t.Data)
	ds, err := loadTask(t)
	if err != nil {
		return nil, err
	}
	r.dsKey, r.ds, r.tokKey, r.tokData = t.Name, ds, "", nil
	return ds, nil
}

func (r *runner) tokenized(lm *loadedModel, t *TaskSpec, maxLen int) (*train.Data, error) {
	key := fmt.Sprintf("%s/%s/%d", lm.spec.Name, t.Name, maxLen)
	if r.tokKey == key {
		return r.tokData, nil
	}
	ds, err := r.dataset(t)
	if err != nil {
		return nil, err
	}
	d := &train.Data{Classes: ds.Classes}
	if d.Train, err = train.Tokenize(lm.tok, ds.Train, maxLen, "train"); err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Name, err)
	}
	if d.Val, err = train.Tokenize(lm.tok, ds.Val, maxLen, "validation"); err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Name, err)
	}
	if d.Test, err = train.Tokenize(lm.tok, ds.Test, maxLen, "test"); err != nil {
		return nil, fmt.Errorf("task %s: %w", t.Name, err)
	}
	r.tokKey, r.tokData = key, d
	return d, nil
}

// sweepMaxLen is the probe length of the sweep on a model.
func (w SweepConfig) sweepMaxLen(c model.Config) int {
	if w.MaxLen == 0 {
		return min(128, c.MaxSeqLen())
	}
	return min(w.MaxLen, c.MaxSeqLen())
}

// importance returns the cached sweep for a cell's model and task, running
// it when compute is set and it is not cached (nil, "", nil when not
// cached and compute is false).
func (r *runner) importance(lm *loadedModel, t *TaskSpec, compute bool) (*ImportanceFile, string, error) {
	w := r.cfg.Sweep
	pk := w.probeKey(t.Name)
	maxLen := w.sweepMaxLen(lm.m.Cfg)
	types := r.cfg.sweepTypes()
	key := importanceKey(lm.spec.Name, lm.hash, pk, types, w, maxLen)
	if f, ok := r.imps[key]; ok {
		return f, key, nil
	}
	path := filepath.Join(r.o.OutDir, "importance", key+".json")
	f, err := loadImportance(path)
	if err != nil {
		return nil, key, err
	}
	if f == nil && compute {
		var train []data.Example
		if w.Probes == "task" {
			ds, err := r.dataset(t)
			if err != nil {
				return nil, key, err
			}
			train = ds.Train
		}
		texts, desc, err := probeTexts(w, train, t.Name)
		if err != nil {
			return nil, key, err
		}
		sweep := r.o.Sweep
		if sweep == nil {
			sweep = adarank.Sweep
		}
		fmt.Fprintf(r.log, "importance sweep %s: %d types × %d layers × %d trials on %d probes\n", key, len(types),
			lm.m.Cfg.Layers, w.Trials, len(texts))
		if f, err = runSweep(path, key, lm, texts, desc, types, w, maxLen, sweep, r.o.Device); err != nil {
			return nil, key, err
		}
	}
	if f != nil {
		r.imps[key] = f
	}
	return f, key, nil
}

// spec builds a cell's specification; ranks are nil when the cell needs a
// sweep that is not cached and compute is false.
func (r *runner) spec(c *Cell, lm *loadedModel, compute bool) (*CellSpec, lora.Ranks, error) {
	s := &CellSpec{Cell: *c, ModelPath: c.model.Path, ModelHash: lm.hash, TaskSpec: *c.task, Recipe: *c.setting,
		MaxLen: min(c.setting.MaxLen, lm.m.Cfg.MaxSeqLen())}
	var imp map[string][]float64
	if c.Source != SourceUniform {
		w := r.cfg.Sweep
		s.Alloc = &Allocation{Rounding: w.Rounding, MinRank: w.MinRank, MaxRank: w.MaxRank, Joint: w.Joint}
	}
	if NeedsImportance(c.Source) {
		f, key, err := r.importance(lm, c.task, compute)
		if err != nil {
			return nil, nil, err
		}
		s.Importance = key
		if f == nil {
			return s, nil, nil
		}
		imp = f.ByType()
	}
	ranks, err := CellRanks(c, lm.m.Cfg.Layers, imp, r.cfg.Sweep)
	if err != nil {
		return nil, nil, err
	}
	s.Ranks = rankLists(ranks, c.Types)
	s.RankSum = RankSum(ranks)
	s.LoRAParams = LoRAParams(lm.m.Cfg, ranks)
	if c.setting.TrainBias {
		for l := range ranks {
			for t, v := range ranks[l] {
				if v > 0 {
					_, out := lm.m.Cfg.ModuleDims(model.ModuleTypes[t])
					s.BiasParams += out
				}
			}
		}
	}
	s.Fingerprint = s.fingerprint()
	return s, ranks, nil
}

// Run expands the grid and trains every selected cell not yet finished
// (or, with DryRun, prints the grid and its cost). It writes DIR/study.json,
// DIR/cells.jsonl and the cell folders. A failing cell is recorded
// (error.txt, status failed) and the run goes on; Run then returns an error
// naming the failures.
func Run(cfg *Config, o Options) (*RunSummary, error) {
	if o.OutDir == "" {
		return nil, fmt.Errorf("study: an output folder is required")
	}
	r := &runner{cfg: cfg, o: o, log: o.Log, imps: map[string]*ImportanceFile{}}
	if r.log == nil {
		r.log = io.Discard
	}
	cells := cfg.Expand()
	sum := &RunSummary{Cells: len(cells)}
	entries := make([]IndexEntry, len(cells))
	var sel []int
	for i := range cells {
		entries[i] = indexEntry(o.OutDir, &cells[i])
		if !o.Filter.Match(&cells[i]) {
			continue
		}
		sel = append(sel, i)
		if entries[i].Status == StatusDone {
			sum.Done++
		} else {
			st := cells[i].setting
			sum.Updates += st.Steps
			sum.Examples += st.Steps * st.Batch * st.GradAccum
		}
	}
	sum.Selected = len(sel)
	sum.Estimate = estimate(cells, entries, sel)
	if o.DryRun {
		return sum, r.dryRun(cells, entries, sel, sum)
	}
	if err := os.MkdirAll(filepath.Join(o.OutDir, "cells"), 0o755); err != nil {
		return nil, err
	}
	if err := writeConfig(filepath.Join(o.OutDir, "study.json"), cfg); err != nil {
		return nil, err
	}
	if err := writeIndex(o.OutDir, entries); err != nil {
		return nil, err
	}
	var failures []string
	pos := 0
	for _, i := range sel {
		c := &cells[i]
		pos++
		if entries[i].Status == StatusDone {
			// A finished cell must still match the configuration.
			if err := r.verify(c); err != nil {
				entries[i].Status, entries[i].Error = StatusConflict, err.Error()
				sum.Conflicts++
				failures = append(failures, c.ID+": "+err.Error())
				fmt.Fprintf(r.log, "%s: conflict: %v\n", c.ID, err)
			}
			continue
		}
		if o.MaxCells > 0 && sum.Trained+sum.Failed >= o.MaxCells {
			sum.Stopped = true
			break
		}
		resumed, err := r.runCell(c, &entries[i], pos, len(sel))
		if errors.Is(err, train.ErrStopped) {
			entries[i] = indexEntry(o.OutDir, c)
			writeIndex(o.OutDir, entries)
			return sum, err // interrupted (tests): as if killed
		}
		if err != nil {
			if entries[i].Status != StatusConflict {
				entries[i].Status = StatusFailed
				os.MkdirAll(CellDir(o.OutDir, c.ID), 0o755)
				report.WriteFileAtomic(filepath.Join(CellDir(o.OutDir, c.ID), "error.txt"), []byte(err.Error()+"\n"))
				sum.Failed++
			} else {
				sum.Conflicts++
			}
			entries[i].Error = err.Error()
			failures = append(failures, c.ID+": "+err.Error())
			fmt.Fprintf(r.log, "  %s: %v\n", entries[i].Status, err)
		} else {
			sum.Trained++
			if resumed {
				sum.Resumed++
			}
		}
		if err := writeIndex(o.OutDir, entries); err != nil {
			return sum, err
		}
	}
	if len(failures) > 0 {
		return sum, fmt.Errorf("study: %d cell(s) did not finish:\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	return sum, nil
}

// writeConfig records the configuration the folder was run with.
func writeConfig(path string, cfg *Config) error { return report.WriteJSON(path, cfg) }

// verify checks a finished cell's cell.json against the configuration.
func (r *runner) verify(c *Cell) error {
	lm, err := r.model(c.model)
	if err != nil {
		return err
	}
	spec, _, err := r.spec(c, lm, true)
	if err != nil {
		return err
	}
	dir := CellDir(r.o.OutDir, c.ID)
	var old CellSpec
	if err := readJSON(filepath.Join(dir, "cell.json"), &old); err != nil {
		return err
	}
	if old.Fingerprint != spec.Fingerprint {
		return fmt.Errorf("%s was made with other settings than this configuration's (it is left as it is); delete that folder to rerun the cell, or use another --out", dir)
	}
	return nil
}

// runCell trains one cell (fresh or resumed) and updates its index entry.
func (r *runner) runCell(c *Cell, e *IndexEntry, pos, total int) (bool, error) {
	lm, err := r.model(c.model)
	if err != nil {
		return false, err
	}
	spec, ranks, err := r.spec(c, lm, true)
	if err != nil {
		return false, err
	}
	dir := CellDir(r.o.OutDir, c.ID)
	var old CellSpec
	if err := readJSON(filepath.Join(dir, "cell.json"), &old); err == nil && old.Fingerprint != spec.Fingerprint {
		e.Status = StatusConflict
		msg := fmt.Sprintf("%s was made with other settings than this configuration's; delete that folder to rerun the cell, or use another --out", dir)
		report.WriteFileAtomic(filepath.Join(dir, "conflict.txt"), []byte(msg+"\n"))
		return false, errors.New(msg)
	}
	os.Remove(filepath.Join(dir, "conflict.txt"))
	d, err := r.tokenized(lm, c.task, spec.MaxLen)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	s := c.setting
	lm.reset()
	m := lm.m
	if s.Dropout >= 0 {
		m.Cfg.HiddenDrop, m.Cfg.AttnDrop = float32(s.Dropout), float32(s.Dropout)
	}
	hd := float64(m.Cfg.HiddenDrop)
	if lm.hasClsDrop {
		hd = lm.clsDrop
	}
	if s.HeadDropout >= 0 {
		hd = s.HeadDropout
	}
	a, err := lora.New(m.Cfg, ranks, lora.Options{Convention: s.LoRA, Alpha: s.Alpha, AlphaMode: s.AlphaMode}, s.Head, len(d.Classes))
	if err != nil {
		return false, err
	}
	a.Classes = d.Classes
	a.BaseHash = lm.hash
	a.Input = &lora.InputShape{MaxLen: spec.MaxLen, Pad: s.Pad, NoMask: s.NoMask}
	if s.TrainBias {
		a.AttachBias(m)
	}
	_, _, spec.HeadParams = a.NumParams()
	if err := report.WriteJSON(filepath.Join(dir, "cell.json"), spec); err != nil {
		return false, err
	}
	os.Remove(filepath.Join(dir, "error.txt"))
	resume := exists(filepath.Join(dir, "checkpoint", "state.safetensors"))
	modelName := c.model.Path
	if c.model.IsEmbedded() {
		modelName = defaultmodel.Name
	}
	ds := r.ds
	to := train.Options{Steps: s.Steps, Batch: s.Batch, Accum: s.GradAccum,
		Schedule: train.Schedule{Kind: s.Schedule, LR: s.LR, Warmup: s.Warmup, Total: s.Steps, DecaySteps: s.DecaySteps, DecayRate: s.DecayRate},
		Beta1:    s.Beta1, Beta2: s.Beta2, Eps: s.Eps, WeightDecay: s.WeightDecay, Loss: s.Loss,
		Shape:       train.Shape{MaxLen: spec.MaxLen, Pad: s.Pad, NoMask: s.NoMask},
		HeadDropout: float32(hd), HeadInitStd: float32(lm.initStd), Seed: c.Seed, EvalEvery: s.EvalEvery,
		EvalBatch: s.EvalBatch, OutDir: dir, Resume: resume, Settings: spec, ModelHash: lm.hash,
		StopAfter: r.o.stopAfterUpdates,
		Info: train.RunInfo{Model: modelName, ModelType: m.Cfg.Arch, Data: c.task.Data, Task: c.task.Loader,
			DataNotes: ds.Notes, Notes: []string{"adarank study cell " + c.ID}}}
	if r.o.Progress != nil {
		to.Progress = func(p train.Progress) { r.o.Progress(c.ID, p) }
	}
	verb := "training"
	if resume {
		verb = "resuming"
	}
	fmt.Fprintf(r.log, "[%d/%d] %s: %s (%d updates, rank sum %d, %d LoRA parameters)\n", pos, total, c.ID, verb,
		s.Steps, spec.RankSum, spec.LoRAParams)
	if r.o.Encoder != nil {
		eb := s.EvalBatch
		if eb == 0 {
			eb = s.Batch
		}
		enc, release, err := r.o.Encoder(m, a, max(s.Batch, eb), spec.MaxLen)
		if err != nil {
			lm.reset()
			return resume, err
		}
		defer release()
		to.Encoder = enc
		if r.o.Device != "" {
			to.Info.Notes = append(to.Info.Notes, "encoder on "+r.o.Device)
		}
	}
	res, err := train.Train(m, a, d, to)
	lm.reset() // trained biases alias the model's
	if err != nil {
		return resume, err
	}
	*e = indexEntry(r.o.OutDir, c)
	fmt.Fprintf(r.log, "  done: val %.4f test %.4f (step %d, %.1fs)\n", accOf(res.Val), accOf(res.Test), res.BestStep, res.Seconds)
	return resume, nil
}

func accOf(m *train.Metrics) float64 {
	if m == nil {
		return 0
	}
	return m.Accuracy
}

// estimate extrapolates the remaining time from finished cells: seconds per
// update in the same (model, task, setting), else the same (model,
// setting); 0 when no finished cell can be used.
func estimate(cells []Cell, entries []IndexEntry, sel []int) float64 {
	type acc struct{ sec, steps float64 }
	fine, coarse := map[string]*acc{}, map[string]*acc{}
	add := func(m map[string]*acc, k string, e *IndexEntry) {
		if m[k] == nil {
			m[k] = &acc{}
		}
		m[k].sec += e.Seconds
		m[k].steps += float64(e.Steps)
	}
	for i := range cells {
		e := &entries[i]
		if e.Status == StatusDone && e.Steps > 0 {
			add(fine, e.Model+"/"+e.Task+"/"+e.Setting, e)
			add(coarse, e.Model+"/"+e.Setting, e)
		}
	}
	total := 0.0
	for _, i := range sel {
		e := &entries[i]
		if e.Status == StatusDone {
			continue
		}
		a := fine[e.Model+"/"+e.Task+"/"+e.Setting]
		if a == nil {
			a = coarse[e.Model+"/"+e.Setting]
		}
		if a == nil {
			return 0
		}
		total += a.sec / a.steps * float64(cells[i].setting.Steps)
	}
	return total
}

// dryRun prints the selected cells with their status, updates and (where
// the ranks can be computed without a sweep, or the sweep is cached) rank
// sums and LoRA parameter counts.
func (r *runner) dryRun(cells []Cell, entries []IndexEntry, sel []int, sum *RunSummary) error {
	w := bufio.NewWriter(r.log)
	defer w.Flush()
	c := r.cfg
	fmt.Fprintf(w, "study %q: %d models × %d tasks × %d settings × %d module settings × %d average ranks × %d seeds × %d rank sources → %d cells",
		c.Name, len(c.Models), len(c.Tasks), len(c.Settings), len(c.Modules), len(c.AvgRanks), len(c.Seeds), len(c.Sources), len(cells))
	if len(cells) != len(c.Models)*len(c.Tasks)*len(c.Settings)*len(c.Modules)*len(c.AvgRanks)*len(c.Seeds)*len(c.Sources) {
		fmt.Fprintf(w, " (settings restricted to some module settings)")
	}
	fmt.Fprintf(w, "; %d selected\n", len(sel))
	tab := report.NewTable("cell", "status", "updates", "batch", "max-len", "rank sum", "LoRA params")
	missing := false
	for _, i := range sel {
		cl := &cells[i]
		lm, err := r.model(cl.model)
		if err != nil {
			return err
		}
		spec, _, err := r.spec(cl, lm, false)
		if err != nil {
			return err
		}
		rs, lp := "?", "?"
		if spec.Ranks != nil {
			rs, lp = fmt.Sprint(spec.RankSum), fmt.Sprint(spec.LoRAParams)
		} else {
			missing = true
		}
		st := cl.setting
		tab.Row(cl.ID, entries[i].Status, st.Steps, st.Batch*st.GradAccum, spec.MaxLen, rs, lp)
	}
	if err := tab.Write(w); err != nil {
		return err
	}
	if missing {
		fmt.Fprintln(w, "?: the importance sweep is not cached yet (it runs once per model and probe setting, before the first AdaRank cell);")
		fmt.Fprintln(w, "   under largest-remainder rounding every source spends exactly r × modules ranks, so the counts equal uniform's")
	}
	fmt.Fprintf(w, "to run: %d of %d selected cells (%d done), %d optimizer updates, %d training examples\n",
		sum.Selected-sum.Done, sum.Selected, sum.Done, sum.Updates, sum.Examples)
	if sum.Estimate > 0 {
		fmt.Fprintf(w, "estimated time: %s (from the measured speed of finished cells; evaluation included)\n",
			time.Duration(sum.Estimate*float64(time.Second)).Round(time.Second))
	} else if sum.Selected > sum.Done {
		fmt.Fprintln(w, "estimated time: unknown until a cell of each (model, setting) has finished (docs/study.md lists measured costs)")
	}
	return nil
}
