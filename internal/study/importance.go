package study

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/data"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/tokenizer"
)

// SweepFunc measures module importances (adarank.Sweep on the CPU; a GPU
// implementation with the same signature can be passed in).
type SweepFunc func(m *model.Model, probes model.Batch, o adarank.SweepOptions) ([]adarank.Importance, error)

// ImportanceFile is a cached sweep, DIR/importance/<Key>.json.
type ImportanceFile struct {
	Tool      string             `json:"tool"`
	Created   string             `json:"created"`
	Key       string             `json:"key"`
	Model     string             `json:"model"`
	ModelHash string             `json:"weights_sha256"`
	Probes    string             `json:"probes"` // description
	NumProbes int                `json:"num_probes"`
	MaxLen    int                `json:"max_len"`
	Types     []string           `json:"types"`
	Layers    int                `json:"layers"`
	Sweep     SweepConfig        `json:"sweep"`
	Modules   []ModuleImportance `json:"modules"`
	Seconds   float64            `json:"seconds"`
	Device    string             `json:"device,omitempty"`
}

// ModuleImportance is one module's disagreement.
type ModuleImportance struct {
	Type   string    `json:"type"`
	Layer  int       `json:"layer"`
	Mean   float64   `json:"importance"`
	Std    float64   `json:"std"`
	Trials []float64 `json:"trials"`
}

// ByType returns the mean importances per type, by layer.
func (f *ImportanceFile) ByType() map[string][]float64 {
	out := map[string][]float64{}
	for _, m := range f.Modules {
		g := out[m.Type]
		for len(g) <= m.Layer {
			g = append(g, 0)
		}
		g[m.Layer] = m.Mean
		out[m.Type] = g
	}
	return out
}

// probeKey names the probe setting of a sweep for a task: "reference",
// "task-<name>" or "file-<base>".
func (w SweepConfig) probeKey(task string) string {
	switch {
	case w.Probes == "task":
		return "task-" + task
	case strings.HasPrefix(w.Probes, "file:"):
		return "file-" + sanitize(filepath.Base(strings.TrimPrefix(w.Probes, "file:")))
	}
	return "reference"
}

// sweepTypes is the union of the module types of the study's module
// settings, in model.ModuleTypes order: one sweep per (model, probes) covers
// every module setting.
func (c *Config) sweepTypes() []string {
	use := map[string]bool{}
	for _, m := range c.Modules {
		types, _ := ModuleTypes(m)
		for _, t := range types {
			use[t] = true
		}
	}
	var out []string
	for _, t := range model.ModuleTypes {
		if use[t] {
			out = append(out, t)
		}
	}
	return out
}

// importanceKey is the cache file stem: model, probe setting and a hash of
// everything that shapes the importances (weights, types, sweep settings).
func importanceKey(modelName, modelHash, probeKey string, types []string, w SweepConfig, maxLen int) string {
	id := struct {
		Hash                    string
		Types                   []string
		Trials                  int
		Seed                    uint64
		Noise                   float64
		NoBias                  bool
		Against, Output, Probes string
		ProbeN, MaxLen          int
		ProbeKey                string
	}{modelHash, types, w.Trials, w.Seed, w.NoiseScale, w.NoBiasNoise, w.Against, w.Output, w.Probes, w.ProbeN, maxLen, probeKey}
	b, _ := json.Marshal(id)
	h := sha256.Sum256(b)
	return fmt.Sprintf("%s.%s.%s", modelName, probeKey, hex.EncodeToString(h[:])[:12])
}

// probeTexts returns the probe texts of a sweep and their description.
// Task probes are a seeded sample of the task's training split (the
// formula of `adarank predict --probe-task`), never validation or test.
func probeTexts(w SweepConfig, train []data.Example, task string) ([]string, string, error) {
	switch {
	case w.Probes == "reference":
		return adarank.DefaultProbes, "reference-notebook-9", nil
	case w.Probes == "task":
		return adarank.SampleProbes(train, task, w.ProbeN, w.Seed)
	}
	file := strings.TrimPrefix(w.Probes, "file:")
	texts, err := adarank.ReadProbeFile(file)
	if err != nil {
		return nil, "", err
	}
	return texts, "file:" + file, nil
}

// probeBatch tokenizes texts into one padded batch.
func probeBatch(tok *tokenizer.Tokenizer, texts []string, maxLen int) (model.Batch, error) {
	encs, err := tok.EncodeBatch(texts, tokenizer.Options{MaxLen: maxLen, Truncate: true})
	if err != nil {
		return model.Batch{}, err
	}
	B, T := len(encs), 0
	for _, e := range encs {
		T = max(T, len(e.IDs))
	}
	b := model.Batch{B: B, T: T, IDs: make([]int32, B*T), TypeIDs: make([]int32, B*T), Mask: make([]int32, B*T)}
	pad := tok.PadID()
	for i, e := range encs {
		for t := 0; t < T; t++ {
			j := i*T + t
			if t < len(e.IDs) {
				b.IDs[j], b.TypeIDs[j], b.Mask[j] = e.IDs[t], e.TypeIDs[t], e.AttentionMask[t]
			} else {
				b.IDs[j] = pad
			}
		}
	}
	return b, nil
}

// loadImportance reads a cached sweep (nil, nil when absent).
func loadImportance(path string) (*ImportanceFile, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f ImportanceFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// runSweep measures the importances of types on m with the probes and
// writes the cache file.
func runSweep(path, key string, lm *loadedModel, texts []string, desc string, types []string, w SweepConfig,
	maxLen int, sweep SweepFunc, device string) (*ImportanceFile, error) {
	b, err := probeBatch(lm.tok, texts, maxLen)
	if err != nil {
		return nil, fmt.Errorf("probes: %w", err)
	}
	o := adarank.SweepOptions{Modules: types, Trials: w.Trials, NoiseScale: w.NoiseScale, BiasNoise: !w.NoBiasNoise,
		Against: w.Against, Output: w.Output, Seed: w.Seed}
	lm.reset()
	start := time.Now()
	imps, err := sweep(lm.m, b, o)
	if err != nil {
		return nil, fmt.Errorf("importance sweep of %s: %w", lm.spec.Name, err)
	}
	f := &ImportanceFile{Tool: "adarank study", Created: time.Now().UTC().Format(time.RFC3339), Key: key,
		Model: lm.spec.Name, ModelHash: lm.hash, Probes: desc, NumProbes: len(texts), MaxLen: maxLen, Types: types,
		Layers: lm.m.Cfg.Layers, Sweep: w, Seconds: time.Since(start).Seconds(), Device: device}
	for _, imp := range imps {
		f.Modules = append(f.Modules, ModuleImportance{Type: imp.Type, Layer: imp.Layer, Mean: imp.Mean, Std: imp.Std, Trials: imp.Trials})
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := report.WriteJSON(path, f); err != nil {
		return nil, err
	}
	return f, nil
}
