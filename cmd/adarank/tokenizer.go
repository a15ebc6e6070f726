package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/pretrain"
	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/tokenizer"
)

func init() {
	register("tokenizer", "tokenizer tools: 'tokenizer train' learns a WordPiece vocabulary", tokenizerMain)
}

func tokenizerMain(args []string) error {
	if len(args) == 0 || args[0] != "train" {
		return fmt.Errorf("usage: adarank tokenizer train --corpus DIR --vocab-size N --out DIR")
	}
	fs := flag.NewFlagSet("tokenizer train", flag.ContinueOnError)
	corpus := fs.String("corpus", "", "comma-separated folders of .txt/.txt.gz text (required)")
	vocab := fs.Int("vocab-size", 16000, "vocabulary size including special tokens")
	out := fs.String("out", "", "output folder for vocab.txt and tokenizer.json (required)")
	cased := fs.Bool("cased", false, "keep case and accents (default: uncased, accents stripped)")
	maxLines := fs.Int("max-lines", 400_000, "read at most this many paragraphs (spread over all files)")
	minFreq := fs.Int("min-frequency", 2, "pairs seen fewer times are never merged")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *corpus == "" || *out == "" {
		return fmt.Errorf("--corpus and --out are required")
	}
	if *vocab < 100 {
		return fmt.Errorf("--vocab-size %d is too small (at least 100)", *vocab)
	}
	files, err := pretrain.ListTextFiles(strings.Split(*corpus, ",")...)
	if err != nil {
		return err
	}
	// Take an even share of paragraphs from every file.
	per := max(1, *maxLines/len(files))
	var lines []string
	for _, f := range files {
		ls, err := pretrain.ReadLines(f)
		if err != nil {
			return err
		}
		if len(ls) > per {
			ls = ls[:per]
		}
		lines = append(lines, ls...)
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "training a %d-token WordPiece vocabulary on %d paragraphs from %d files\n", *vocab, len(lines), len(files))
	seq := func(yield func(string) bool) {
		for _, l := range lines {
			if !yield(l) {
				return
			}
		}
	}
	tok, err := tokenizer.TrainWordPieceWith(seq, *vocab, !*cased, tokenizer.TrainOptions{MinFrequency: *minFreq})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := tok.SaveVocabTxt(filepath.Join(*out, "vocab.txt")); err != nil {
		return err
	}
	if err := tok.SaveTokenizerJSON(filepath.Join(*out, "tokenizer.json")); err != nil {
		return err
	}
	cfg := map[string]any{"tokenizer_class": "BertTokenizer", "do_lower_case": !*cased, "strip_accents": nil,
		"model_max_length": 512, "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
		"cls_token": "[CLS]", "mask_token": "[MASK]"}
	if *cased {
		cfg["strip_accents"] = false
	}
	if err := report.WriteJSON(filepath.Join(*out, "tokenizer_config.json"), cfg); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d tokens, %.1fs)\n", *out, tok.VocabSize(), time.Since(start).Seconds())
	return nil
}
