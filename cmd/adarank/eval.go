package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/adarank/adarank/internal/gpu"
	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/tokenizer"
	"github.com/adarank/adarank/internal/train"
)

func init() {
	register("eval", "evaluate a saved adapter on a data set, or write its logits for texts", func(args []string) error {
		return evalMain(args, os.Stdout, os.Stderr)
	})
}

// openAdapter loads a base model with its tokenizer and an adapter folder
// (adarank's or PEFT's format); trained biases are applied to the model.
func openAdapter(modelDir, adapterDir string, stderr io.Writer) (*model.Model, *tokenizer.Tokenizer, *lora.Adapter, error) {
	if adapterDir == "" {
		return nil, nil, nil, fmt.Errorf("--adapter is required (a folder written by 'adarank train' or PEFT)")
	}
	m, tok, err := openModel(modelDir)
	if err != nil {
		return nil, nil, nil, err
	}
	a, err := lora.Load(adapterDir, m)
	if err != nil {
		return nil, nil, nil, err
	}
	if a.BaseHash != "" && a.BaseHash != m.Hash() {
		fmt.Fprintf(stderr, "warning: %s was trained on other base weights (sha256 %.12s…) than %s (%.12s…)\n",
			adapterDir, a.BaseHash, modelDir, m.Hash())
	}
	for _, n := range a.Notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	a.ApplyBias(m)
	return m, tok, a, nil
}

func evalMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "base model folder (required)")
	adapterDir := fs.String("adapter", "", "adapter folder (required)")
	df := addDataFlags(fs)
	split := fs.String("split", "test", "split(s) to evaluate: comma list of train, val, test")
	textFile := fs.String("text", "", "instead of a data set: a file of texts, one per line, whose logits are written")
	inputsOut := fs.String("inputs-out", "", "with --text: write input_ids, attention_mask, token_type_ids and logits to this safetensors file (for tools/reference/check_peft_export.py)")
	maxLen := fs.Int("max-len", 128, "maximum tokens per text, longer texts are truncated (default: as in training)")
	batch := fs.Int("batch", 32, "examples per batch")
	pad := fs.String("pad", train.PadLongest, "longest or max (default: as in training)")
	noMask := fs.Bool("no-attention-mask", false, "attend to padding tokens (default: as in training)")
	asJSON := fs.Bool("json", false, "print metrics as JSON")
	device := fs.String("device", "cpu", deviceUsage+" (data sets; --text always runs on the CPU)")
	precision := fs.String("precision", "fp32", precisionUsage)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: adarank eval --model DIR --adapter DIR (--task NAME --data PATH [--split test] | --text FILE [--inputs-out FILE])")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*textFile == "") == (*df.dataPath == "") {
		return fmt.Errorf("give either --data (with --task) or --text")
	}
	if *inputsOut != "" && *textFile == "" {
		return fmt.Errorf("--inputs-out needs --text")
	}
	dev, err := openDevice(*device, *precision)
	if err != nil {
		return err
	}
	if dev != nil {
		defer dev.Close()
	}
	m, tok, a, err := openAdapter(*modelDir, *adapterDir, stderr)
	if err != nil {
		return err
	}
	// Feed inputs as in training unless told otherwise.
	if in := a.Input; in != nil {
		if !flagSet(fs, "max-len") {
			*maxLen = in.MaxLen
		}
		if !flagSet(fs, "pad") {
			*pad = in.Pad
		}
		if !flagSet(fs, "no-attention-mask") {
			*noMask = in.NoMask
		}
	}
	if *maxLen > m.Cfg.MaxSeqLen() && !flagSet(fs, "max-len") {
		*maxLen = m.Cfg.MaxSeqLen()
	}
	shape := train.Shape{MaxLen: *maxLen, Pad: *pad, NoMask: *noMask}
	if err := shape.Validate(m.Cfg); err != nil {
		return err
	}
	if *textFile != "" {
		return evalTexts(m, tok, a, *textFile, *inputsOut, shape, *batch, stdout)
	}
	ds, err := df.load()
	if err != nil {
		return err
	}
	if len(ds.Classes) != a.Head.C {
		return fmt.Errorf("the data has %d classes, the adapter's head %d", len(ds.Classes), a.Head.C)
	}
	ev, err := train.NewEvaluator(m, a, shape, *batch)
	if err != nil {
		return err
	}
	if dev != nil {
		enc, err := gpu.NewLoRAEncoder(dev, m, a.Ad, nil, *batch, shape.MaxLen)
		if err != nil {
			return err
		}
		defer enc.Free()
		ev.Enc = enc
	}
	results := map[string]*train.Metrics{}
	var order []string
	for _, s := range strings.Split(*split, ",") {
		s = strings.TrimSpace(s)
		var src []train.Example
		switch s {
		case "train":
			src, err = train.Tokenize(tok, ds.Train, *maxLen, s)
		case "val", "validation":
			s = "val"
			src, err = train.Tokenize(tok, ds.Val, *maxLen, s)
		case "test":
			src, err = train.Tokenize(tok, ds.Test, *maxLen, s)
		default:
			return fmt.Errorf("unknown split %q (want train, val or test)", s)
		}
		if err != nil {
			return err
		}
		if len(src) == 0 {
			return fmt.Errorf("the %s split is empty", s)
		}
		if results[s], err = ev.Evaluate(src); err != nil {
			return err
		}
		order = append(order, s)
	}
	if *asJSON {
		b, _ := json.MarshalIndent(results, "", "  ")
		_, err := fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	w := bufio.NewWriter(stdout)
	tab := report.NewTable("split", "accuracy", "macro-F1", "ROC-AUC", "loss", "n")
	for _, s := range order {
		r := results[s]
		auc := "n/a"
		if r.ROCAUC != nil {
			auc = fmt.Sprintf("%.4f", *r.ROCAUC)
		}
		tab.Row(s, fmt.Sprintf("%.4f", r.Accuracy), fmt.Sprintf("%.4f", r.MacroF1), auc, fmt.Sprintf("%.4f", r.Loss), r.N)
	}
	if err := tab.Write(w); err != nil {
		return err
	}
	for _, s := range order {
		fmt.Fprintf(w, "confusion (%s, rows gold, columns predicted; classes %s):\n", s, strings.Join(ds.Classes, " "))
		for _, row := range results[s].Confusion {
			fmt.Fprintln(w, " ", strings.Trim(fmt.Sprint(row), "[]"))
		}
	}
	return w.Flush()
}

// readLines reads non-empty lines of a text file.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no texts", path)
	}
	return out, nil
}

// evalTexts computes logits for the lines of a file. All texts are padded
// to the longest one (a single shape, as check_peft_export.py feeds them);
// without --inputs-out one JSON object per text goes to stdout.
func evalTexts(m *model.Model, tok *tokenizer.Tokenizer, a *lora.Adapter, path, outPath string, shape train.Shape, batch int, stdout io.Writer) error {
	texts, err := readLines(path)
	if err != nil {
		return err
	}
	if batch < 1 {
		return fmt.Errorf("--batch must be at least 1")
	}
	encs := make([]train.Example, len(texts))
	T := 0
	for i, t := range texts {
		e, err := tok.Encode(t, tokenizer.Options{MaxLen: shape.MaxLen, Truncate: true})
		if err != nil {
			return fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		encs[i] = train.Example{IDs: e.IDs, TypeIDs: e.TypeIDs}
		T = max(T, len(e.IDs))
	}
	if shape.Pad == train.PadMax {
		T = shape.MaxLen
	}
	N, C := len(texts), a.Head.C
	ids, types, mask := make([]int64, N*T), make([]int64, N*T), make([]int64, N*T)
	for i, e := range encs {
		for t := 0; t < T; t++ {
			j := i*T + t
			if t < len(e.IDs) {
				ids[j], mask[j] = int64(e.IDs[t]), 1
				if e.TypeIDs != nil {
					types[j] = int64(e.TypeIDs[t])
				}
			} else {
				ids[j] = int64(m.Cfg.PadID)
				if shape.NoMask {
					mask[j] = 1 // attended, as in training without a mask
				}
			}
		}
	}
	logits := make([]float32, 0, N*C)
	var ws *model.Workspace
	for lo := 0; lo < N; lo += batch {
		hi := min(lo+batch, N)
		b := model.Batch{B: hi - lo, T: T, IDs: make([]int32, (hi-lo)*T), TypeIDs: make([]int32, (hi-lo)*T), Mask: make([]int32, (hi-lo)*T)}
		for k := range b.IDs {
			b.IDs[k], b.TypeIDs[k], b.Mask[k] = int32(ids[lo*T+k]), int32(types[lo*T+k]), int32(mask[lo*T+k])
		}
		if err := m.Validate(b); err != nil {
			return err
		}
		if !ws.Fits(b.B, b.T, false) {
			ws = m.NewWorkspace(b.B, b.T, false, a.Ad)
		}
		logits = append(logits, train.Logits(m, a, ws, b)...)
	}
	if outPath != "" {
		ts := []hf.WTensor{
			{Name: "input_ids", Shape: []int{N, T}, I64: ids},
			{Name: "attention_mask", Shape: []int{N, T}, I64: mask},
			{Name: "token_type_ids", Shape: []int{N, T}, I64: types},
			{Name: "logits", Shape: []int{N, C}, F32: logits},
		}
		if dir := filepath.Dir(outPath); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		if err := hf.WriteSafetensors(outPath, ts, map[string]string{"format": "pt"}); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "wrote %s: %d texts × %d tokens, logits [%d, %d]\n", outPath, N, T, N, C)
		return err
	}
	w := bufio.NewWriter(stdout)
	names := a.Classes
	for i, t := range texts {
		row := logits[i*C : (i+1)*C]
		best := 0
		for c := range row {
			if row[c] > row[best] {
				best = c
			}
		}
		label := strconv.Itoa(best)
		if best < len(names) {
			label = names[best]
		}
		b, _ := json.Marshal(struct {
			Text   string    `json:"text"`
			Logits []float32 `json:"logits"`
			Label  string    `json:"label"`
		}{t, row, label})
		w.Write(b)
		w.WriteByte('\n')
	}
	return w.Flush()
}
