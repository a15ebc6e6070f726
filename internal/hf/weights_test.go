package hf

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeShard(t *testing.T, path string, names ...string) {
	t.Helper()
	var ws []WTensor
	for i, n := range names {
		ws = append(ws, WTensor{Name: n, Shape: []int{2}, F32: []float32{float32(i), float32(len(n))}})
	}
	if err := WriteSafetensors(path, ws, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

func writeText(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

const twoShardIndex = `{"metadata": {"total_size": 32},
 "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00001-of-00002.safetensors",
                "c.weight": "model-00002-of-00002.safetensors", "d.weight": "model-00002-of-00002.safetensors"}}`

func TestLoadWeightsSingle(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, filepath.Join(dir, "model.safetensors"), "x", "y")
	f, err := LoadWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Order, []string{"x", "y"}) {
		t.Errorf("order %v", f.Order)
	}
}

func TestLoadWeightsSharded(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "b.weight", "a.weight")
	writeShard(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), "c.weight", "d.weight")
	writeText(t, filepath.Join(dir, "model.safetensors.index.json"), twoShardIndex)
	f, err := LoadWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Order, []string{"a.weight", "b.weight", "c.weight", "d.weight"}) {
		t.Errorf("order %v", f.Order)
	}
	v, err := f.Tensors["d.weight"].Float32()
	if err != nil || !reflect.DeepEqual(v, []float32{1, 8}) {
		t.Errorf("d.weight = %v, %v", v, err)
	}
	if f.Metadata["total_size"] != "32" || f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
}

func TestLoadWeightsErrors(t *testing.T) {
	t.Run("missing shard", func(t *testing.T) {
		dir := t.TempDir()
		writeShard(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a.weight", "b.weight")
		writeText(t, filepath.Join(dir, "model.safetensors.index.json"), twoShardIndex)
		_, err := LoadWeights(dir)
		if err == nil || !strings.Contains(err.Error(), "model-00002-of-00002.safetensors is missing") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("duplicate key", func(t *testing.T) {
		dir := t.TempDir()
		writeShard(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a.weight", "b.weight", "c.weight")
		writeShard(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), "c.weight", "d.weight")
		writeText(t, filepath.Join(dir, "model.safetensors.index.json"), twoShardIndex)
		_, err := LoadWeights(dir)
		if err == nil || !strings.Contains(err.Error(), `"c.weight" is in both`) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("index lies", func(t *testing.T) {
		dir := t.TempDir()
		writeShard(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a.weight")
		writeShard(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), "c.weight", "d.weight", "b.weight")
		writeText(t, filepath.Join(dir, "model.safetensors.index.json"), twoShardIndex)
		_, err := LoadWeights(dir)
		if err == nil || !strings.Contains(err.Error(), `"b.weight"`) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("shard outside folder", func(t *testing.T) {
		dir := t.TempDir()
		writeText(t, filepath.Join(dir, "model.safetensors.index.json"), `{"weight_map":{"a":"../x.safetensors"}}`)
		_, err := LoadWeights(dir)
		if err == nil || !strings.Contains(err.Error(), "plain file name") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("bad index", func(t *testing.T) {
		dir := t.TempDir()
		writeText(t, filepath.Join(dir, "model.safetensors.index.json"), `{"weight_map":{}}`)
		if _, err := LoadWeights(dir); err == nil || !strings.Contains(err.Error(), "weight_map") {
			t.Errorf("got %v", err)
		}
		writeText(t, filepath.Join(dir, "model.safetensors.index.json"), `{"weight_map":`)
		if _, err := LoadWeights(dir); err == nil {
			t.Error("truncated index accepted")
		}
	})
	t.Run("corrupt shard", func(t *testing.T) {
		dir := t.TempDir()
		writeShard(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), "a.weight", "b.weight")
		writeText(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), "garbage")
		writeText(t, filepath.Join(dir, "model.safetensors.index.json"), twoShardIndex)
		_, err := LoadWeights(dir)
		if err == nil || !strings.Contains(err.Error(), "model-00002-of-00002.safetensors") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("pytorch only", func(t *testing.T) {
		dir := t.TempDir()
		writeText(t, filepath.Join(dir, "pytorch_model.bin"), "pickle")
		_, err := LoadWeights(dir)
		if err == nil || !strings.Contains(err.Error(), "safe_serialization=True") || !strings.Contains(err.Error(), "pytorch_model.bin") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("empty folder", func(t *testing.T) {
		_, err := LoadWeights(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no folder", func(t *testing.T) {
		if _, err := LoadWeights(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Error("missing folder accepted")
		}
	})
}
