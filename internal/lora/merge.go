package lora

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/kernels"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/safefile"
)

// Merge folds the adapter into the model's weights in place:
// W += scale·B·A for every adapted module (as PEFT's merge computes it,
// B·A first then the scale) and trained biases replace the base's.
func (a *Adapter) Merge(m *model.Model) error {
	if len(a.Ranks) != m.Cfg.Layers || a.Arch != m.Cfg.Arch {
		return fmt.Errorf("merge: adapter is for a %d-layer %s model, the base is a %d-layer %s", len(a.Ranks), a.Arch, m.Cfg.Layers, m.Cfg.Arch)
	}
	var err error
	a.Ad.Each(func(l int, typ string, lr *model.LoRA) {
		w, _, out, in, _ := m.P.Layers[l].Linear(typ)
		if len(lr.A) != lr.R*in || len(lr.B) != out*lr.R {
			err = fmt.Errorf("merge: %s layer %d: adapter shapes do not fit the base", typ, l)
			return
		}
		delta := make([]float32, out*in)
		kernels.Gemm(false, false, out, in, lr.R, 1, lr.B, lr.R, lr.A, in, 0, delta, in)
		for i, d := range delta {
			w[i] += d * lr.Scale
		}
	})
	if err != nil {
		return err
	}
	a.ApplyBias(m)
	return nil
}

// tokenizerFiles are copied from the base folder into a merged checkpoint.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
	"vocab.json", "merges.txt", "added_tokens.json"}

// WriteMerged writes a full Hugging Face sequence-classification checkpoint
// to outDir: config.json (the base's, with architectures
// Bert/RobertaForSequenceClassification and the adapter's labels),
// model.safetensors (encoder with the LoRA update merged, pooler for BERT,
// classifier) and the base's tokenizer files. It merges into m (which is
// modified). Only the hf head has a transformers class. With mergeLoRA
// false the encoder stays the base's: a base with
// the adapter's labels and classifier, for PeftModel.from_pretrained when
// the original checkpoint has another num_labels.
func WriteMerged(outDir, baseDir string, m *model.Model, a *Adapter, mergeLoRA bool) error {
	if a.Head.Kind != model.HeadHF {
		return fmt.Errorf("merge: the %s head has no transformers class; only --head hf adapters can be merged into a checkpoint", a.Head.Kind)
	}
	c := m.Cfg
	if c.Arch == "bert" && !c.HasPooler {
		return fmt.Errorf("merge: the base has no pooler, which BertForSequenceClassification needs (transformers would initialise it randomly)")
	}
	hc, err := hf.LoadConfig(filepath.Join(baseDir, "config.json"))
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if mergeLoRA {
		if err := a.Merge(m); err != nil {
			return err
		}
	}
	if abs(outDir) == abs(baseDir) {
		return fmt.Errorf("merge: --out must differ from the base model folder")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	var ts []hf.WTensor
	for _, t := range m.P.Named(c) {
		n := t.Name
		switch {
		case strings.HasPrefix(n, "cls.") || strings.HasPrefix(n, "lm_head."):
			continue // MLM head: not part of a sequence classifier
		case strings.HasPrefix(n, "pooler.") && c.Arch == "roberta":
			continue // RobertaForSequenceClassification has no pooler
		}
		ts = append(ts, hf.WTensor{Name: c.Arch + "." + n, Shape: t.Shape, F32: t.Data})
	}
	for _, t := range a.Tensors() {
		if n, ok := strings.CutPrefix(t.Name, peftPrefix+"classifier."); ok {
			t.Name = "classifier." + n
			ts = append(ts, t)
		}
	}
	if err := writeTensors(filepath.Join(outDir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	if c.Arch == "roberta" {
		hc.Architectures = []string{"RobertaForSequenceClassification"}
	} else {
		hc.Architectures = []string{"BertForSequenceClassification"}
	}
	names := a.classNames()
	hc.ID2Label = make(map[int]string, len(names))
	for i, n := range names {
		hc.ID2Label[i] = n
	}
	hc.NumLabels = len(names)
	for _, k := range []string{"torch_dtype", "dtype"} {
		if _, ok := hc.Raw[k]; ok {
			hc.Raw[k] = "float32"
		}
	}
	if err := hc.Save(filepath.Join(outDir, "config.json")); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	for _, f := range tokenizerFiles {
		if err := copyFile(filepath.Join(baseDir, f), filepath.Join(outDir, f)); err != nil {
			return err
		}
	}
	return nil
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	return a
}

// copyFile copies src to dst atomically; a missing src is skipped.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	defer in.Close()
	if err := safefile.WriteWith(dst, func(f *os.File) error {
		_, err := io.Copy(f, in)
		return err
	}); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return nil
}
