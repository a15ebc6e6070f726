package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LoadWeights loads the weights of a Hugging Face model folder:
// model.safetensors, or model.safetensors.index.json and its shards (merged
// into one File, in shard-name order).
func LoadWeights(dir string) (*File, error) {
	single := filepath.Join(dir, "model.safetensors")
	if exists(single) {
		return ReadSafetensors(single)
	}
	index := filepath.Join(dir, "model.safetensors.index.json")
	if exists(index) {
		return loadSharded(dir, index)
	}
	for _, name := range []string{"pytorch_model.bin", "pytorch_model.bin.index.json"} {
		if exists(filepath.Join(dir, name)) {
			return nil, fmt.Errorf("%s: only %s found, and adarank reads safetensors only; convert it once with Python: "+
				"from transformers import AutoModel; AutoModel.from_pretrained(%q).save_pretrained(%q, safe_serialization=True) "+
				"(use the checkpoint's own class, e.g. AutoModelForSequenceClassification, to keep a trained head)",
				dir, name, dir, dir)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s: no model.safetensors or model.safetensors.index.json in the folder", dir)
}

func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// shardIndex is model.safetensors.index.json.
type shardIndex struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

func loadSharded(dir, index string) (*File, error) {
	raw, err := os.ReadFile(index)
	if err != nil {
		return nil, err
	}
	var idx shardIndex
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", index, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: weight_map is missing or empty", index)
	}
	// Which tensors each shard should hold.
	want := map[string][]string{}
	for name, shard := range idx.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) {
			return nil, fmt.Errorf("%s: tensor %q: shard %q is not a plain file name in the folder", index, name, shard)
		}
		want[shard] = append(want[shard], name)
	}
	shards := make([]string, 0, len(want))
	for s := range want {
		shards = append(shards, s)
	}
	sort.Strings(shards)

	out := &File{Tensors: map[string]*Tensor{}, Metadata: map[string]string{}}
	from := map[string]string{} // tensor -> shard it came from
	for _, s := range shards {
		path := filepath.Join(dir, s)
		f, err := ReadSafetensors(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%s: shard %s is missing (%d tensors listed in it)", index, s, len(want[s]))
			}
			return nil, err
		}
		for _, name := range want[s] {
			if f.Tensors[name] == nil {
				return nil, fmt.Errorf("%s: index puts tensor %q in %s, which does not contain it", index, name, s)
			}
		}
		for _, name := range f.Order {
			if prev, dup := from[name]; dup {
				return nil, fmt.Errorf("%s: tensor %q is in both %s and %s", dir, name, prev, s)
			}
			from[name] = s
			out.Tensors[name] = f.Tensors[name]
			out.Order = append(out.Order, name)
		}
		for k, v := range f.Metadata {
			if _, ok := out.Metadata[k]; !ok {
				out.Metadata[k] = v
			}
		}
	}
	// The index's own metadata (e.g. total_size) as strings.
	for k, v := range idx.Metadata {
		if s, ok := v.(string); ok {
			out.Metadata[k] = s
		} else if b, err := json.Marshal(v); err == nil {
			out.Metadata[k] = string(b)
		}
	}
	return out, nil
}
