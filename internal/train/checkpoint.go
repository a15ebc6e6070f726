package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/report"
)

const (
	checkpointDir  = "checkpoint"
	checkpointFile = "state.safetensors"
	stateKey       = "adarank_train_state"
)

// writeTensors is hf.WriteSafetensors; tests replace it to simulate failed writes.
var writeTensors = hf.WriteSafetensors

// settings fingerprints everything that shapes the run, so that a resume
// with other flags, weights or data is refused instead of silently mixing.
func (r *runner) settings() map[string]string {
	o, a := r.o, r.a
	hash := o.ModelHash
	if hash == "" {
		hash = r.m.Hash()
	}
	s := map[string]string{
		"model_sha256": hash,
		"model_type":   a.Arch,
		"convention":   a.Convention,
		"alpha":        fmt.Sprint(a.Alpha),
		"alpha_mode":   a.AlphaMode,
		"train_bias":   fmt.Sprint(a.Bias != nil),
		"head":         a.Head.Kind,
		"classes":      strconv.Itoa(a.Head.C),
		"steps":        strconv.Itoa(o.Steps),
		"batch":        strconv.Itoa(o.Batch),
		"accum":        strconv.Itoa(o.Accum),
		"schedule":     fmt.Sprintf("%+v", o.Schedule),
		"adam":         fmt.Sprint(o.Beta1, o.Beta2, o.Eps, o.WeightDecay),
		"loss":         o.Loss,
		"shape":        fmt.Sprintf("%+v", o.Shape),
		"dropout":      fmt.Sprint(r.m.Cfg.HiddenDrop, r.m.Cfg.AttnDrop, o.HeadDropout),
		"head_init":    fmt.Sprint(o.HeadInitStd),
		"seed":         strconv.FormatUint(o.Seed, 10),
		"eval_every":   strconv.Itoa(o.EvalEvery),
		"data":         dataHash(r.d),
	}
	for _, typ := range model.ModuleTypes {
		if a.Ranks.List(typ) != "" {
			s["ranks."+typ] = a.Ranks.List(typ)
		}
	}
	return s
}

// dataHash is an FNV-64 of every split's tokens and labels.
func dataHash(d *Data) string {
	h := fnv.New64a()
	var buf [4]byte
	put := func(v int32) {
		buf[0], buf[1], buf[2], buf[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		h.Write(buf[:])
	}
	for _, split := range [][]Example{d.Train, d.Val, d.Test} {
		put(int32(len(split)))
		for _, e := range split {
			put(int32(e.Label))
			put(int32(len(e.IDs)))
			for i, id := range e.IDs {
				put(id)
				if e.TypeIDs != nil {
					put(e.TypeIDs[i])
				}
			}
		}
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

func (r *runner) saveCheckpoint() error {
	st := r.st
	st.Seconds += time.Since(r.start).Seconds()
	var err error
	if st.DropRNG, err = r.dropSrc.MarshalBinary(); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	if st.DataRNG, err = r.dataSrc.MarshalBinary(); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	js, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	ts := make([]hf.WTensor, 0, 4*len(r.ps)+1)
	off := 0
	for _, p := range r.ps {
		n := len(p.w)
		ts = append(ts,
			hf.WTensor{Name: "param." + p.name, Shape: p.shape, F32: p.w},
			hf.WTensor{Name: "adam_m." + p.name, Shape: p.shape, F32: r.opt.m[off : off+n]},
			hf.WTensor{Name: "adam_v." + p.name, Shape: p.shape, F32: r.opt.v[off : off+n]},
			hf.WTensor{Name: "best." + p.name, Shape: p.shape, F32: r.best[off : off+n]})
		off += n
	}
	perm := make([]int64, len(st.Perm))
	for i, v := range st.Perm {
		perm[i] = int64(v)
	}
	ts = append(ts, hf.WTensor{Name: "data_perm", Shape: []int{len(perm)}, I64: perm})
	meta := map[string]string{stateKey: string(js), "adam_t": strconv.Itoa(r.opt.opt.Step)}
	path := filepath.Join(r.o.OutDir, checkpointDir, checkpointFile)
	if err := writeTensors(path, ts, meta); err != nil {
		return fmt.Errorf("train: checkpoint at step %d not written (the previous one is intact): %w", st.Step, err)
	}
	return nil
}

// readState parses the state of a checkpoint file.
func readState(f *hf.File, path string) (state, error) {
	var st state
	js, ok := f.Metadata[stateKey]
	if !ok {
		return st, fmt.Errorf("train: %s is not an adarank training checkpoint", path)
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		return st, fmt.Errorf("train: %s: bad state: %v", path, err)
	}
	return st, nil
}

// peekCheckpoint reads only the state of a checkpoint.
func peekCheckpoint(path string) (state, error) {
	f, err := hf.ReadSafetensors(path)
	if err != nil {
		return state{}, err
	}
	return readState(f, path)
}

func (r *runner) loadCheckpoint(path string, settings map[string]string) error {
	f, err := hf.ReadSafetensors(path)
	if err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	st, err := readState(f, path)
	if err != nil {
		return err
	}
	var diff []string
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if st.Settings[k] != settings[k] {
			diff = append(diff, fmt.Sprintf("%s: checkpoint %q, now %q", k, st.Settings[k], settings[k]))
		}
	}
	if len(st.Settings) != len(settings) && len(diff) == 0 {
		diff = append(diff, "different set of settings")
	}
	if len(diff) > 0 {
		return fmt.Errorf("train: resume: %s was written with other settings, model or data:\n  %s", path, strings.Join(diff, "\n  "))
	}
	if st.Step > r.o.Steps {
		return fmt.Errorf("train: resume: checkpoint is at step %d, beyond --steps %d", st.Step, r.o.Steps)
	}
	get := func(name string, dst []float32) error {
		t := f.Tensors[name]
		if t == nil {
			return fmt.Errorf("train: resume: %s lacks %s", path, name)
		}
		v, err := t.Float32()
		if err != nil || len(v) != len(dst) {
			return fmt.Errorf("train: resume: %s: bad tensor %s", path, name)
		}
		copy(dst, v)
		return nil
	}
	off := 0
	for _, p := range r.ps {
		n := len(p.w)
		for _, x := range []struct {
			pre string
			dst []float32
		}{{"param.", p.w}, {"adam_m.", r.opt.m[off : off+n]}, {"adam_v.", r.opt.v[off : off+n]}, {"best.", r.best[off : off+n]}} {
			if err := get(x.pre+p.name, x.dst); err != nil {
				return err
			}
		}
		off += n
	}
	if r.opt.opt.Step, err = strconv.Atoi(f.Metadata["adam_t"]); err != nil || r.opt.opt.Step != st.Step {
		return fmt.Errorf("train: resume: %s: Adam step %q does not match step %d", path, f.Metadata["adam_t"], st.Step)
	}
	pt := f.Tensors["data_perm"]
	if pt == nil {
		return fmt.Errorf("train: resume: %s lacks data_perm", path)
	}
	perm, err := pt.Int64()
	if err != nil || len(perm) != len(r.d.Train) || st.Pos < 0 || st.Pos > len(perm) {
		return fmt.Errorf("train: resume: %s: data position does not fit %d training examples", path, len(r.d.Train))
	}
	st.Perm = make([]int, len(perm))
	for i, v := range perm {
		if v < 0 || int(v) >= len(perm) {
			return fmt.Errorf("train: resume: %s: bad data permutation", path)
		}
		st.Perm[i] = int(v)
	}
	r.dropSrc, r.dataSrc = &rand.PCG{}, &rand.PCG{}
	if err := r.dropSrc.UnmarshalBinary(st.DropRNG); err != nil {
		return fmt.Errorf("train: resume: %s: dropout RNG: %v", path, err)
	}
	if err := r.dataSrc.UnmarshalBinary(st.DataRNG); err != nil {
		return fmt.Errorf("train: resume: %s: data RNG: %v", path, err)
	}
	r.dropRNG = rand.New(r.dropSrc)
	r.st = st
	return nil
}

// writeMetrics rewrites metrics.jsonl from the evaluation history (so a
// resumed run never duplicates lines).
func (r *runner) writeMetrics() error {
	var b bytes.Buffer
	for _, rec := range r.st.History {
		line, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("train: metrics: %w", err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return report.WriteFileAtomic(filepath.Join(r.o.OutDir, "metrics.jsonl"), b.Bytes())
}

// Summary is summary.json.
type Summary struct {
	Tool       string            `json:"tool"`
	Created    string            `json:"created"`
	Run        RunInfo           `json:"run"`
	Settings   any               `json:"settings"`
	Seed       uint64            `json:"seed"`
	Classes    []string          `json:"classes"`
	Examples   map[string]int    `json:"examples"` // per split
	Params     ParamCounts       `json:"parameters"`
	Ranks      map[string]string `json:"ranks"`
	Steps      int               `json:"steps"`
	Epochs     float64           `json:"epochs"`
	Seconds    float64           `json:"seconds"`
	BestStep   int               `json:"best_step"`
	Val        *Metrics          `json:"val"`       // validation metrics of the selected adapter
	Test       *Metrics          `json:"test"`      // test metrics of the adapter selected on validation
	TestLast   *Metrics          `json:"test_last"` // test metrics after the last update
	Selection  string            `json:"selection"`
	PEFT       bool              `json:"peft_compatible"`
	WhyNotPEFT string            `json:"why_not_peft,omitempty"`
	Files      map[string]string `json:"files"`
}

// ParamCounts are parameter counts.
type ParamCounts struct {
	LoRA      int `json:"lora"`
	Bias      int `json:"bias"`
	Head      int `json:"head"`
	Trainable int `json:"trainable"`
	Base      int `json:"base"`
}

func (r *runner) writeSummary(res *Result) error {
	a := r.a
	lo, bi, he := a.NumParams()
	ok, why := a.PEFTCompatible()
	s := Summary{Tool: "adarank train", Created: time.Now().UTC().Format(time.RFC3339), Run: r.o.Info, Settings: r.o.Settings,
		Seed: r.o.Seed, Classes: r.d.Classes,
		Examples: map[string]int{"train": len(r.d.Train), "val": len(r.d.Val), "test": len(r.d.Test)},
		Params:   ParamCounts{LoRA: lo, Bias: bi, Head: he, Trainable: lo + bi + he, Base: len(r.m.P.Data)},
		Ranks:    map[string]string{}, Steps: res.Steps, Epochs: r.epoch(), Seconds: res.Seconds, BestStep: res.BestStep,
		Val: res.Val, Test: res.Test, TestLast: res.TestLast, PEFT: ok, WhyNotPEFT: why,
		Files: map[string]string{"adapter": ".", "last": "last", "checkpoint": checkpointDir + "/" + checkpointFile,
			"metrics": "metrics.jsonl"}}
	if len(r.d.Val) > 0 {
		s.Selection = "best validation accuracy (first of equals), evaluated every " + strconv.Itoa(r.o.EvalEvery) + " steps and after the last"
	} else {
		s.Selection = "no validation split: the adapter after the last update"
	}
	for _, typ := range a.Ranks.Types() {
		s.Ranks[typ] = a.Ranks.List(typ)
	}
	if err := report.WriteJSON(filepath.Join(r.o.OutDir, "summary.json"), s); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}
