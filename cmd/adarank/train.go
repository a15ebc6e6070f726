package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/adarank/adarank/internal/data"
	"github.com/adarank/adarank/internal/gpu"
	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/train"
)

func init() {
	register("train", "LoRA fine-tune a classifier with per-module ranks", func(args []string) error {
		return trainMain(args, os.Stdout, os.Stderr)
	})
}

// referencePreset are the AdaRank reference code's training settings (see
// docs: ../shared/docs/adarank-reference.md §(d)); --preset reference
// applies those not given explicitly.
var referencePreset = map[string]string{
	"lora": "faithful", "head": "paper", "train-bias": "true", "loss": "sum", "schedule": "staircase",
	"lr": "1e-3", "decay-steps": "1000", "decay-rate": "0.8", "adam-eps": "1e-7", "max-len": "512", "pad": "max",
	"no-attention-mask": "true", "batch": "256", "steps": "500", "eval-every": "100", "seed": "21",
}

// trainFlags are the flags shared by train and eval for data and batching.
type dataFlags struct {
	task, dataPath, textCol, labelCol, textBCol *string
	valFrac                                     *float64
}

func addDataFlags(fs *flag.FlagSet) dataFlags {
	return dataFlags{
		task:     fs.String("task", "", "task: "+strings.Join(data.TaskNames(), ", ")+" (empty: generic CSV/TSV/JSONL with --text-col/--label-col)"),
		dataPath: fs.String("data", "", "data folder of the task, or a generic file / folder with train and test files"),
		textCol:  fs.String("text-col", "text", "text column (generic data)"),
		labelCol: fs.String("label-col", "label", "label column (generic data)"),
		textBCol: fs.String("text-b-col", "", "optional second-text column for sentence pairs (generic data)"),
		valFrac:  fs.Float64("val-fraction", 0.1, "fraction of train carved (fixed seed) as validation where the data has none; negative: none"),
	}
}

func (f dataFlags) load() (*data.Dataset, error) {
	if *f.dataPath == "" {
		return nil, fmt.Errorf("--data is required (a data folder or file)")
	}
	return data.LoadTask(*f.task, *f.dataPath, data.Options{ValFraction: *f.valFrac, TextCol: *f.textCol,
		LabelCol: *f.labelCol, TextBCol: *f.textBCol})
}

// modelConfigExtras reads the head settings transformers takes from config.json.
func modelConfigExtras(dir string) (initStd float64, classifierDrop float64, hasClassifierDrop bool, err error) {
	hc, err := hf.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return 0, 0, false, err
	}
	initStd = 0.02
	if v, ok := hc.Raw["initializer_range"]; ok {
		if _, e := fmt.Sscan(fmt.Sprint(v), &initStd); e != nil || !(initStd > 0) {
			return 0, 0, false, fmt.Errorf("%s: initializer_range %v is not a positive number", dir, v)
		}
	}
	if v, ok := hc.Raw["classifier_dropout"]; ok && v != nil {
		if _, e := fmt.Sscan(fmt.Sprint(v), &classifierDrop); e != nil {
			return 0, 0, false, fmt.Errorf("%s: classifier_dropout %v is not a number", dir, v)
		}
		hasClassifierDrop = true
	}
	return initStd, classifierDrop, hasClassifierDrop, nil
}

// resolveRanks turns --ranks (a spec or a ranks.json path) and --modules into ranks.
func resolveRanks(spec, modules string, m *model.Model, hash string) (lora.Ranks, []string, []string, error) {
	var types []string
	if modules != "" {
		var err error
		if types, err = parseModules(modules); err != nil {
			return nil, nil, nil, err
		}
	}
	if st, err := os.Stat(spec); err == nil && !st.IsDir() || strings.HasSuffix(spec, ".json") {
		fr, err := lora.LoadRanksFile(spec, m.Cfg, hash, types)
		if err != nil {
			return nil, nil, nil, err
		}
		return fr.Ranks, fr.Types, fr.Notes, nil
	}
	if types == nil {
		types = []string{model.Value}
	}
	r, err := lora.ParseRanks(spec, types, m.Cfg.Layers)
	return r, types, nil, err
}

func trainMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "Hugging Face model folder (required)")
	df := addDataFlags(fs)
	modules := fs.String("modules", "", "module types: comma list of query,key,value,attn-out,ffn-in,ffn-out, all or all-linear (default: those of a --ranks file, else value)")
	ranks := fs.String("ranks", "uniform:8", "ranks: a ranks.json from 'adarank predict', uniform:R, one comma list per layer, or TYPE=list;TYPE=list")
	conv := fs.String("lora", lora.Standard, "LoRA convention: standard (PEFT: A kaiming-uniform, B = 0, scale alpha/r) or faithful (reference: A, B Glorot, scale 1)")
	alpha := fs.Float64("alpha", lora.DefaultAlpha, "lora_alpha (standard; PEFT's default is 8)")
	alphaMode := fs.String("alpha-mode", lora.AlphaFix, "fixed (alpha for every module, scale alpha/r_i) or ratio (alpha_i = r_i·alpha/mean r: equal scale; written as alpha_pattern)")
	trainBias := fs.Bool("train-bias", false, "also train the adapted modules' biases (as the reference code does; not PEFT-compatible)")
	head := fs.String("head", model.HeadHF, "head: hf (the architecture's sequence-classification head, initialised fresh as transformers does for a new task even if the checkpoint has one; PEFT-compatible) or paper (pooled -> Dense(H, gelu) -> Dense(C), Keras init)")
	steps := fs.Int("steps", 500, "optimizer updates")
	batch := fs.Int("batch", 32, "examples per micro-batch")
	accum := fs.Int("grad-accum", 1, "micro-batches per update (update = batch × grad-accum examples)")
	lr := fs.Float64("lr", 1e-3, "peak learning rate")
	sched := fs.String("schedule", train.Linear, "constant, linear (warm-up then decay to 0) or staircase (lr·rate^floor(step/decay-steps))")
	warmup := fs.Int("warmup", 0, "warm-up updates (linear from 0)")
	decaySteps := fs.Int("decay-steps", 1000, "staircase period")
	decayRate := fs.Float64("decay-rate", 0.8, "staircase factor")
	beta1 := fs.Float64("adam-beta1", 0.9, "AdamW beta1")
	beta2 := fs.Float64("adam-beta2", 0.999, "AdamW beta2")
	eps := fs.Float64("adam-eps", 1e-8, "AdamW epsilon")
	wd := fs.Float64("weight-decay", 0, "decoupled weight decay on LoRA and head weight matrices")
	loss := fs.String("loss", train.LossMean, "mean or sum (the reference sums) over the examples of an update")
	maxLen := fs.Int("max-len", 128, "maximum tokens per example (longer texts are truncated; the default shrinks to the model's maximum)")
	pad := fs.String("pad", train.PadLongest, "longest (per batch, rounded up to 16) or max (always --max-len)")
	noMask := fs.Bool("no-attention-mask", false, "attend to padding tokens (the reference code passes no mask)")
	dropout := fs.Float64("dropout", -1, "hidden and attention dropout (-1: the model's config)")
	headDrop := fs.Float64("head-dropout", -1, "dropout before the hf head (-1: classifier_dropout, else hidden dropout, as transformers)")
	seed := fs.Uint64("seed", 1, "seed of initialisation, dropout and data order")
	evalEvery := fs.Int("eval-every", 100, "evaluate on validation (and checkpoint) every N updates; 0: only after the last")
	saveEvery := fs.Int("save-every", 0, "also checkpoint every N updates (0: only at evaluations)")
	evalBatch := fs.Int("eval-batch", 0, "examples per evaluation batch (0: --batch)")
	out := fs.String("out", "", "output folder (adapter, last/, checkpoint/, metrics.jsonl, summary.json; required)")
	resume := fs.Bool("resume", false, "continue the run in --out from its checkpoint (same flags)")
	device := fs.String("device", "cpu", deviceUsage+" (the encoder's forward and backward; head and optimizer stay on the CPU)")
	precision := fs.String("precision", "fp32", precisionUsage)
	preset := fs.String("preset", "", "reference: the AdaRank reference code's settings (faithful LoRA, paper head, summed loss, staircase lr 1e-3, batch 256, max-len 512 padded, no mask) for flags not given")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: adarank train --model DIR --task NAME --data PATH --ranks SPEC|ranks.json --out DIR [flags]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	userSet := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { userSet[f.Name] = true })
	switch *preset {
	case "":
	case "reference":
		for k, v := range referencePreset {
			if !userSet[k] {
				if err := fs.Set(k, v); err != nil {
					return err
				}
			}
		}
	default:
		return fmt.Errorf("unknown --preset %q (want reference)", *preset)
	}
	if *out == "" {
		return fmt.Errorf("--out is required")
	}
	dev, err := openDevice(*device, *precision) // before any slow work: a missing GPU fails at once
	if err != nil {
		return err
	}
	if dev != nil {
		defer dev.Close()
	}
	m, tok, err := openModel(*modelDir)
	if err != nil {
		return err
	}
	initStd, clsDrop, hasClsDrop, err := modelConfigExtras(*modelDir)
	if err != nil {
		return err
	}
	if *maxLen > m.Cfg.MaxSeqLen() {
		// The default (and the preset's 512) shrink to a smaller model's position table.
		if userSet["max-len"] {
			return fmt.Errorf("--max-len %d exceeds the model's maximum %d", *maxLen, m.Cfg.MaxSeqLen())
		}
		*maxLen = m.Cfg.MaxSeqLen()
	}
	if *dropout >= 0 {
		if *dropout >= 1 {
			return fmt.Errorf("--dropout must be below 1, got %v", *dropout)
		}
		m.Cfg.HiddenDrop, m.Cfg.AttnDrop = float32(*dropout), float32(*dropout)
	}
	hd := float64(m.Cfg.HiddenDrop)
	if hasClsDrop {
		hd = clsDrop
	}
	if *headDrop >= 0 {
		hd = *headDrop
	}
	hash := m.Hash()
	r, types, notes, err := resolveRanks(*ranks, *modules, m, hash)
	if err != nil {
		return err
	}
	ds, err := df.load()
	if err != nil {
		return err
	}
	a, err := lora.New(m.Cfg, r, lora.Options{Convention: *conv, Alpha: *alpha, AlphaMode: *alphaMode}, *head, len(ds.Classes))
	if err != nil {
		return err
	}
	a.Classes = ds.Classes
	a.BaseHash = hash
	a.Input = &lora.InputShape{MaxLen: *maxLen, Pad: *pad, NoMask: *noMask}
	if *trainBias {
		a.AttachBias(m)
	}
	if *head == model.HeadHF {
		if _, ok := m.Extra["classifier.weight"]; ok {
			notes = append(notes, "the checkpoint's classifier is not used: the hf head is initialised fresh for the new task")
		} else if _, ok := m.Extra["classifier.out_proj.weight"]; ok {
			notes = append(notes, "the checkpoint's classifier is not used: the hf head is initialised fresh for the new task")
		}
	}
	d := &train.Data{Classes: ds.Classes}
	if d.Train, err = train.Tokenize(tok, ds.Train, *maxLen, "train"); err != nil {
		return err
	}
	if d.Val, err = train.Tokenize(tok, ds.Val, *maxLen, "validation"); err != nil {
		return err
	}
	if d.Test, err = train.Tokenize(tok, ds.Test, *maxLen, "test"); err != nil {
		return err
	}
	settings := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { settings[f.Name] = f.Value.String() })
	settings["modules"] = strings.Join(types, ",")
	o := train.Options{Steps: *steps, Batch: *batch, Accum: *accum,
		Schedule: train.Schedule{Kind: *sched, LR: *lr, Warmup: *warmup, Total: *steps, DecaySteps: *decaySteps, DecayRate: *decayRate},
		Beta1:    *beta1, Beta2: *beta2, Eps: *eps, WeightDecay: *wd, Loss: *loss,
		Shape:       train.Shape{MaxLen: *maxLen, Pad: *pad, NoMask: *noMask},
		HeadDropout: float32(hd), HeadInitStd: float32(initStd), Seed: *seed, EvalEvery: *evalEvery, SaveEvery: *saveEvery,
		EvalBatch: *evalBatch, OutDir: *out, Resume: *resume, Settings: settings, ModelHash: hash,
		Info: train.RunInfo{Model: *modelDir, ModelType: m.Cfg.Arch, Data: *df.dataPath, Task: *df.task, DataNotes: ds.Notes, Notes: notes}}
	for _, n := range notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	if ok, why := a.PEFTCompatible(); !ok {
		fmt.Fprintln(stderr, "note: the adapter is saved in adarank's format, not PEFT's:", why)
	}
	bar := newProgress(*steps, "training", *quiet)
	o.Progress = func(p train.Progress) {
		bar.Describe(fmt.Sprintf("loss %.4f  lr %.2e  %.1f ex/s", p.Loss, p.LR, p.ExamplesPerSec))
		bar.Set(p.Step)
	}
	if dev != nil {
		maxB := max(*batch, *evalBatch)
		enc, err := gpu.NewLoRAEncoder(dev, m, a.Ad, a.Bias, maxB, o.Shape.MaxLen)
		if err != nil {
			return err
		}
		defer enc.Free()
		o.Encoder = enc
		o.Info.Notes = append(o.Info.Notes, "encoder on "+deviceName(dev))
		fmt.Fprintf(stderr, "encoder on %s; head and optimizer on the CPU\n", deviceName(dev))
	}
	res, err := train.Train(m, a, d, o)
	bar.Finish()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	tab := report.NewTable("adapter", "step", "split", "accuracy", "macro-F1", "ROC-AUC", "n")
	row := func(name string, step int, split string, mt *train.Metrics) {
		if mt == nil {
			return
		}
		auc := "n/a"
		if mt.ROCAUC != nil {
			auc = fmt.Sprintf("%.4f", *mt.ROCAUC)
		}
		tab.Row(name, step, split, fmt.Sprintf("%.4f", mt.Accuracy), fmt.Sprintf("%.4f", mt.MacroF1), auc, mt.N)
	}
	row("selected", res.BestStep, "val", res.Val)
	row("selected", res.BestStep, "test", res.Test)
	row("last", res.Steps, "test", res.TestLast)
	if err := tab.Write(w); err != nil {
		return err
	}
	lo, bi, he := a.NumParams()
	fmt.Fprintf(w, "trainable parameters: %d LoRA + %d bias + %d head; %.1fs\n", lo, bi, he, res.Seconds)
	fmt.Fprintf(w, "wrote %s (selected adapter), %s, %s, %s\n", *out, filepath.Join(*out, "last"),
		filepath.Join(*out, "metrics.jsonl"), filepath.Join(*out, "summary.json"))
	return w.Flush()
}
