package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/pretrain"
	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/tokenizer"
)

func init() {
	register("pretrain", "pretrain a BERT-style encoder with masked language modelling", pretrainMain)
}

// readModelConfig reads a (possibly partial) config.json; vocab_size comes
// from the tokenizer when absent.
func readModelConfig(path string, vocab int) (model.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return model.Config{}, err
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return model.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if _, ok := raw["model_type"]; !ok {
		raw["model_type"] = "bert"
	}
	if v, ok := raw["vocab_size"]; !ok || v == float64(0) {
		raw["vocab_size"] = vocab
	}
	b, _ = json.Marshal(raw)
	hc, err := hf.ParseConfig(b)
	if err != nil {
		return model.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	c, err := model.FromHF(hc)
	if err != nil {
		return model.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	if c.Vocab < vocab {
		return model.Config{}, fmt.Errorf("%s: vocab_size %d is smaller than the tokenizer's %d tokens", path, c.Vocab, vocab)
	}
	c.HasMLM = true
	c.HasPooler = false
	return c, nil
}

func pretrainMain(args []string) error {
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	corpus := fs.String("corpus", "", "comma-separated folders of .txt/.txt.gz prose (required)")
	heldout := fs.String("heldout", "", "folder of held-out text for MLM loss and accuracy")
	dataDir := fs.String("data", "", "also train on the training splits of the classification tasks in this folder (never test splits)")
	cfgPath := fs.String("config", "", "model config JSON (hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, max_position_embeddings; required)")
	tokDir := fs.String("tokenizer", "", "tokenizer folder (vocab.txt / tokenizer.json; required)")
	out := fs.String("out", "", "output folder: checkpoint/, metrics.jsonl and model/ (required)")
	steps := fs.Int("steps", 10000, "optimizer steps (0: write the randomly initialised model to --out/model and exit, a baseline)")
	batch := fs.Int("batch", 32, "sequences per step")
	seqLen := fs.Int("seq-len", 128, "tokens per packed sequence")
	lr := fs.Float64("lr", 5e-4, "peak learning rate")
	warmup := fs.Int("warmup", 0, "warm-up steps (default 5% of --steps)")
	seed := fs.Uint64("seed", 1, "seed for initialisation, data order, masking and dropout")
	maxTokens := fs.Int("max-tokens", 30_000_000, "cap on corpus tokens read")
	maxMin := fs.Float64("max-minutes", 0, "stop after this many minutes (checkpointed; rerun the same command to continue)")
	saveMin := fs.Float64("save-every-min", 3, "checkpoint interval in minutes")
	evalEvery := fs.Int("eval-every", 500, "held-out evaluation interval in steps")
	dtype := fs.String("dtype", "F32", "storage type of the exported weights: F32, BF16 or F16")
	initDir := fs.String("init", "", "start from the weights of this model folder instead of random initialisation")
	device := fs.String("device", "cpu", deviceUsage)
	precision := fs.String("precision", "fp32", precisionUsage)
	evalOnly := fs.Bool("eval-only", false, "only measure held-out MLM loss and accuracy (with --init) and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*corpus == "" && *steps != 0 && !*evalOnly) || *cfgPath == "" || *tokDir == "" || *out == "" {
		return fmt.Errorf("--corpus, --config, --tokenizer and --out are required")
	}
	if *evalOnly {
		if *heldout == "" {
			return fmt.Errorf("--eval-only needs --heldout")
		}
		if *corpus == "" {
			*corpus = *heldout // only the held-out text is measured; the trainer still wants a corpus
		}
	}
	dev, err := openDevice(*device, *precision) // before any slow work: a missing GPU fails at once
	if err != nil {
		return err
	}
	if dev != nil {
		defer dev.Close()
	}
	tok, err := tokenizer.Load(*tokDir)
	if err != nil {
		return err
	}
	cfg, err := readModelConfig(*cfgPath, tok.VocabSize())
	if err != nil {
		return err
	}
	var m *model.Model
	if *initDir != "" {
		if m, err = model.Load(*initDir); err != nil {
			return err
		}
		if m.Cfg.Vocab != cfg.Vocab || m.Cfg.Hidden != cfg.Hidden || m.Cfg.Layers != cfg.Layers || !m.Cfg.HasMLM {
			return fmt.Errorf("--init %s does not match --config (or has no MLM head)", *initDir)
		}
	} else if m, err = model.NewRandom(cfg, *seed, 0.02); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if *steps == 0 {
		dir := filepath.Join(*out, "model")
		if err := m.SaveHF(dir, []string{"BertForMaskedLM"}, *dtype, nil); err != nil {
			return err
		}
		if err := pretrain.CopyTokenizerFiles(*tokDir, dir); err != nil {
			return err
		}
		fmt.Printf("wrote %s (random initialisation, seed %d)\n", dir, *seed)
		return nil
	}
	o := pretrain.Options{Corpus: strings.Split(*corpus, ","), Heldout: *heldout, DataDir: *dataDir, SeqLen: *seqLen,
		Batch: *batch, Steps: *steps, Warmup: *warmup, LR: *lr, Seed: *seed, MaxTokens: *maxTokens,
		MaxTime: time.Duration(*maxMin * float64(time.Minute)), SaveEvery: time.Duration(*saveMin * float64(time.Minute)),
		EvalEvery: *evalEvery, Out: *out, Log: os.Stderr}
	if dev != nil {
		o.GPU = dev
		fmt.Fprintf(os.Stderr, "pretraining on %s\n", deviceName(dev))
	}
	tr, err := pretrain.New(m, tok, o)
	if err != nil {
		return err
	}
	defer tr.Close()
	if *evalOnly {
		ev, err := tr.Evaluate()
		if err != nil {
			return err
		}
		if ev == nil {
			return fmt.Errorf("--eval-only needs --heldout")
		}
		fmt.Printf("held-out MLM loss %.4f accuracy %.4f (%d masked tokens, seed %d)\n", ev.Loss, ev.Accuracy, ev.Masked, *seed)
		return nil
	}
	st, err := tr.Run()
	if err != nil {
		return err
	}
	// The model is exported at every stop; training.json says how far it got.
	dir := filepath.Join(*out, "model")
	if err := tr.Export(dir, *tokDir, *dtype); err != nil {
		return err
	}
	if err := report.WriteJSON(filepath.Join(dir, "training.json"), map[string]any{"state": st, "options": tr.O, "config": cfg, "device": deviceLabel(dev)}); err != nil {
		return err
	}
	fmt.Printf("wrote %s (step %d of %d, %d tokens seen)\n", dir, st.Step, *steps, st.TokensSeen)
	if st.Step < *steps {
		fmt.Printf("stopped early; run the same command again to continue from the checkpoint\n")
	}
	return nil
}
