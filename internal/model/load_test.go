package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyModel copies a fixture model folder so a test can break it.
func copyModel(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Skip("fixture missing:", err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
	}
	return dst
}

func editConfig(t *testing.T, dir string, f func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b, _ := os.ReadFile(p)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, _ = json.Marshal(m)
	os.WriteFile(p, b, 0o644)
}

func TestLoadErrors(t *testing.T) {
	src := filepath.Join(refDir, "models", "bert-pretraining")
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   string
	}{
		{"missing config", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "config.json")) }, "config.json"},
		{"missing weights", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "model.safetensors")) }, "safetensors"},
		{"only pytorch_model.bin", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "model.safetensors"))
			os.WriteFile(filepath.Join(d, "pytorch_model.bin"), []byte("x"), 0o644)
		}, "safe_serialization"},
		{"truncated weights", func(t *testing.T, d string) {
			p := filepath.Join(d, "model.safetensors")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, ""},
		{"header longer than file", func(t *testing.T, d string) {
			os.WriteFile(filepath.Join(d, "model.safetensors"), []byte{0xff, 0xff, 0, 0, 0, 0, 0, 0, '{'}, 0o644)
		}, ""},
		{"unknown model_type", func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["model_type"] = "gpt2" })
		}, "gpt2"},
		{"shape disagrees with config", func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["intermediate_size"] = 65 })
		}, "shape"},
		{"fewer layers in weights", func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["num_hidden_layers"] = 5 })
		}, "missing tensor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyModel(t, src)
			tc.break_(t, dir)
			_, err := Load(dir)
			if err == nil {
				t.Fatal("loaded a broken model")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestValidateBatch(t *testing.T) {
	c := tinyConfig("bert")
	m, _ := NewRandom(c, 1, 0.02)
	for _, b := range []Batch{
		{B: 1, T: 3, IDs: []int32{1, 2}},
		{B: 1, T: 2, IDs: []int32{1, int32(c.Vocab)}},
		{B: 1, T: 2, IDs: []int32{1, -1}},
		{B: 1, T: c.MaxPos + 1, IDs: make([]int32, c.MaxPos+1)},
		{B: 1, T: 2, IDs: []int32{1, 2}, TypeIDs: []int32{0, 2}},
	} {
		if err := m.Validate(b); err == nil {
			t.Errorf("batch %+v accepted", b)
		}
	}
}
