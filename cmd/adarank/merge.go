package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
)

func init() {
	register("merge", "merge a LoRA adapter into a full Hugging Face classification checkpoint", func(args []string) error {
		return mergeMain(args, os.Stdout, os.Stderr)
	})
}

// mergeMain implements `adarank merge`: W += scale·B·A for every adapted
// module, trained biases and the classifier included, written as a folder
// that transformers' AutoModelForSequenceClassification loads.
func mergeMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "base model folder (required)")
	adapterDir := fs.String("adapter", "", "adapter folder, --head hf (required)")
	out := fs.String("out", "", "output folder for config.json, model.safetensors and the tokenizer files (required)")
	baseOnly := fs.Bool("base-only", false, "do not merge the LoRA update: write the base with the adapter's labels and classifier "+
		"(a --base for PEFT when the original checkpoint has another num_labels)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: adarank merge --model DIR --adapter DIR --out DIR")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || *modelDir == "" || *adapterDir == "" {
		return fmt.Errorf("--model, --adapter and --out are required")
	}
	m, err := model.Load(*modelDir)
	if err != nil {
		return err
	}
	a, err := lora.Load(*adapterDir, m)
	if err != nil {
		return err
	}
	for _, n := range a.Notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	if err := lora.WriteMerged(*out, *modelDir, m, a, !*baseOnly); err != nil {
		return err
	}
	what := fmt.Sprintf("%d LoRA modules merged", a.Ranks.NumAdapted())
	if *baseOnly {
		what = "base encoder (LoRA not merged)"
	}
	_, err = fmt.Fprintf(stdout, "wrote %s: %s, %d-class %s classifier\n", *out, what, a.Head.C, m.Cfg.Arch)
	return err
}
