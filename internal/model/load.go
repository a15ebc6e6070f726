package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/adarank/adarank/internal/hf"
)

// Model is a loaded encoder.
type Model struct {
	Cfg Config
	P   *Params
	// Extra holds checkpoint tensors the encoder does not use (e.g. a
	// sequence-classification head), by canonical name.
	Extra map[string]ExtraTensor
	// Notes says what was ignored or converted while loading.
	Notes []string
}

// ExtraTensor is a checkpoint tensor outside the encoder.
type ExtraTensor struct {
	Shape []int
	Data  []float32
}

// Load reads a Hugging Face model folder (config.json + safetensors).
func Load(dir string) (*Model, error) {
	hc, err := hf.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	cfg, err := FromHF(hc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	cfg.SourceModel = dir
	f, err := hf.LoadWeights(dir)
	if err != nil {
		return nil, err
	}
	ts := make(map[string]*hf.Tensor, len(f.Tensors))
	for name, t := range f.Tensors {
		ts[name] = t
	}
	return FromTensors(cfg, ts)
}

// CanonicalName strips the architecture prefix and maps legacy LayerNorm
// names (gamma/beta) to weight/bias.
func CanonicalName(arch, name string) string {
	for _, p := range []string{arch + ".", "bert.", "roberta."} {
		if strings.HasPrefix(name, p) {
			name = name[len(p):]
			break
		}
	}
	if strings.HasSuffix(name, ".gamma") {
		name = strings.TrimSuffix(name, ".gamma") + ".weight"
	} else if strings.HasSuffix(name, ".beta") {
		name = strings.TrimSuffix(name, ".beta") + ".bias"
	}
	return name
}

// FromTensors builds a model from named checkpoint tensors.
func FromTensors(cfg Config, raw map[string]*hf.Tensor) (*Model, error) {
	ts := make(map[string]*hf.Tensor, len(raw))
	orig := make(map[string]string, len(raw))
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := CanonicalName(cfg.Arch, n)
		if prev, dup := orig[c]; dup {
			return nil, fmt.Errorf("weights: %q and %q both map to %q", prev, n, c)
		}
		ts[c] = raw[n]
		orig[c] = n
	}
	cfg.HasPooler = ts["pooler.dense.weight"] != nil
	cfg.HasMLM = ts[mlmPrefix(cfg)+"dense.weight"] != nil
	tied := true
	if cfg.HasMLM {
		if d := ts[mlmDecoderName(cfg)]; d != nil {
			tied = false
		}
	}
	m := &Model{Cfg: cfg, P: NewParams(cfg, tied), Extra: map[string]ExtraTensor{}}
	used := map[string]bool{}
	for _, s := range m.P.specs(cfg) {
		t := ts[s.name]
		if t == nil {
			if s.name == mlmBiasName(cfg) && ts[strings.TrimSuffix(mlmDecoderName(cfg), "weight")+"bias"] != nil {
				t = ts[strings.TrimSuffix(mlmDecoderName(cfg), "weight")+"bias"]
			} else {
				return nil, fmt.Errorf("weights: missing tensor %q", s.name)
			}
		}
		used[s.name] = true
		if !sameShape(t.Shape, s.shape) {
			return nil, fmt.Errorf("weights: %s has shape %v, config.json implies %v", orig[s.name], t.Shape, s.shape)
		}
		v, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("weights: %s: %w", orig[s.name], err)
		}
		copy(*s.dst, v)
	}
	if cfg.HasMLM && !tied {
		// A stored decoder equal to the embeddings is just tying written out.
		if equalF32(m.P.MLMDecoder, m.P.WordEmb) {
			m.Notes = append(m.Notes, "MLM decoder weight equals the word embeddings (tied)")
		}
	}
	for _, c := range sortedKeys(ts) {
		if used[c] {
			continue
		}
		switch {
		case c == "embeddings.position_ids" || strings.HasSuffix(c, ".position_ids"):
			continue
		case strings.HasPrefix(c, "cls.predictions.decoder.bias") || c == "lm_head.decoder.bias":
			continue // same tensor as the MLM bias in HF checkpoints
		}
		v, err := ts[c].Float32()
		if err != nil {
			m.Notes = append(m.Notes, fmt.Sprintf("ignored %s (%v)", orig[c], err))
			continue
		}
		m.Extra[c] = ExtraTensor{Shape: append([]int(nil), ts[c].Shape...), Data: v}
		m.Notes = append(m.Notes, fmt.Sprintf("tensor %s is not part of the encoder (kept for heads)", orig[c]))
	}
	return m, nil
}

// Hash is a SHA-256 of the config sizes and every parameter's bits, to tie
// reports to exact weights.
func (m *Model) Hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s/%d/%d/%d/%d/%d\n", m.Cfg.Arch, m.Cfg.Vocab, m.Cfg.Hidden, m.Cfg.Layers, m.Cfg.Heads, m.Cfg.Inter)
	buf := make([]byte, 4*4096)
	d := m.P.Data
	for len(d) > 0 {
		n := min(len(d), 4096)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(d[i]))
		}
		h.Write(buf[:4*n])
		d = d[n:]
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// LoadBytes builds a model from the bytes of config.json and one
// model.safetensors (e.g. files embedded in the binary).
func LoadBytes(configJSON, safetensors []byte, source string) (*Model, error) {
	hc, err := hf.ParseConfig(configJSON)
	if err != nil {
		return nil, err
	}
	cfg, err := FromHF(hc)
	if err != nil {
		return nil, err
	}
	cfg.SourceModel = source
	f, err := hf.ParseSafetensors(safetensors)
	if err != nil {
		return nil, err
	}
	return FromTensors(cfg, f.Tensors)
}
