package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/hf"
)

const fixtureModel = "../../testdata/reference/models/bert-pretraining"

func needFixture(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Skip("reference fixture missing:", dir)
	}
}

// encode output must match transformers' pooler output and ids for the fixture texts.
func TestEncodeMatchesFixture(t *testing.T) {
	needFixture(t, fixtureModel)
	var texts struct {
		MaxLength int      `json:"max_length"`
		Texts     []string `json:"texts"`
	}
	b, err := os.ReadFile(filepath.Join(fixtureModel, "texts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &texts); err != nil {
		t.Fatal(err)
	}
	exp, err := hf.ReadSafetensors(filepath.Join(fixtureModel, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := exp.Tensors["input_ids"].Int64()
	mask, _ := exp.Tensors["attention_mask"].Int64()
	pooled, _ := exp.Tensors["pooler_output"].Float32()
	T := exp.Tensors["input_ids"].Shape[1]
	H := exp.Tensors["pooler_output"].Shape[1]
	var out bytes.Buffer
	in := strings.NewReader(strings.Join(texts.Texts, "\n") + "\n")
	if err := encodeMain([]string{"--model", fixtureModel, "--max-len", "48", "--batch", "3"}, in, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(texts.Texts) {
		t.Fatalf("%d output lines for %d texts", len(lines), len(texts.Texts))
	}
	for i, line := range lines {
		var r struct {
			Text     string    `json:"text"`
			InputIDs []int64   `json:"input_ids"`
			Pooled   []float64 `json:"pooled"`
			CLS      []float64 `json:"cls"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if r.Text != texts.Texts[i] || len(r.Pooled) != H || len(r.CLS) != H {
			t.Fatalf("line %d: text or sizes wrong", i)
		}
		var want []int64
		for j := 0; j < T; j++ {
			if mask[i*T+j] != 0 {
				want = append(want, ids[i*T+j])
			}
		}
		if len(want) != len(r.InputIDs) {
			t.Fatalf("text %d: ids %v, want %v", i, r.InputIDs, want)
		}
		for j := range want {
			if want[j] != r.InputIDs[j] {
				t.Fatalf("text %d: ids %v, want %v", i, r.InputIDs, want)
			}
		}
		for j := 0; j < H; j++ {
			if d := math.Abs(r.Pooled[j] - float64(pooled[i*H+j])); d > 1e-4 {
				t.Fatalf("text %d: pooled[%d] %v vs %v", i, j, r.Pooled[j], pooled[i*H+j])
			}
		}
	}
}

func TestPredictWritesOutputs(t *testing.T) {
	needFixture(t, fixtureModel)
	dir := t.TempDir()
	var out bytes.Buffer
	err := predictMain([]string{"--model", fixtureModel, "--modules", "query,value", "--avg-rank", "4", "--trials", "2",
		"--seed", "5", "--out", dir, "--quiet"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ranks query", "ranks value", "seed 5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	var rep PredictReport
	b, err := os.ReadFile(filepath.Join(dir, "ranks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Settings.Seed != 5 || len(rep.Modules) != 2*3 || rep.WeightsHash == "" {
		t.Fatalf("ranks.json: seed %d, %d modules, hash %q", rep.Settings.Seed, len(rep.Modules), rep.WeightsHash)
	}
	if rep.Modules[0].Name != "bert.encoder.layer.0.attention.self.query" {
		t.Errorf("module name %q", rep.Modules[0].Name)
	}
	for typ, sum := range rep.Budget {
		if sum != 4*3 {
			t.Errorf("%s: budget %d, want exactly 12 with largest-remainder", typ, sum)
		}
	}
	var pat map[string]int
	b, _ = os.ReadFile(filepath.Join(dir, "rank_pattern.json"))
	if err := json.Unmarshal(b, &pat); err != nil || len(pat) == 0 {
		t.Fatalf("rank_pattern.json: %v %v", err, pat)
	}
	if _, err := os.Stat(filepath.Join(dir, "importance.svg")); err != nil {
		t.Fatal(err)
	}
	// Same seed, same result.
	var out2 bytes.Buffer
	dir2 := t.TempDir()
	if err := predictMain([]string{"--model", fixtureModel, "--modules", "query,value", "--avg-rank", "4", "--trials", "2",
		"--seed", "5", "--out", dir2, "--quiet", "--json"}, &out2); err != nil {
		t.Fatal(err)
	}
	var rep2 PredictReport
	if err := json.Unmarshal(out2.Bytes(), &rep2); err != nil {
		t.Fatal(err)
	}
	for i := range rep.Modules {
		if rep.Modules[i].Importance != rep2.Modules[i].Importance || rep.Modules[i].Rank != rep2.Modules[i].Rank {
			t.Fatalf("module %d differs between identical runs", i)
		}
	}
}

func TestPredictBadInput(t *testing.T) {
	needFixture(t, fixtureModel)
	empty := filepath.Join(t.TempDir(), "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--modules", "ffn"}, "unknown module type"},
		{[]string{"--avg-rank", "0"}, "--avg-rank"},
		{[]string{"--trials", "0"}, "--trials"},
		{[]string{"--probe", empty}, "no probe texts"},
		{[]string{"--output", "mlm"}, "masked-LM"},
		{[]string{"--rounding", "ceil"}, "rounding"},
		{[]string{"--probe-task", "trec"}, "--data"},
	} {
		args := append([]string{"--model", fixtureModel, "--quiet"}, tc.args...)
		if strings.Contains(tc.want, "masked-LM") {
			args[1] = "../../testdata/reference/models/bert-legacy"
		}
		err := predictMain(args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
	if err := predictMain([]string{"--model", t.TempDir(), "--quiet"}, &bytes.Buffer{}); err == nil {
		t.Error("a folder without config.json loaded")
	}
}

func TestEncodeBadInput(t *testing.T) {
	needFixture(t, fixtureModel)
	long := strings.Repeat("word ", 100) + "\n"
	err := encodeMain([]string{"--model", fixtureModel, "--max-len", "16", "--no-truncate"}, strings.NewReader(long), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "16") {
		t.Errorf("--no-truncate with a long text: %v", err)
	}
	var out bytes.Buffer
	if err := encodeMain([]string{"--model", fixtureModel, "--max-len", "16"}, strings.NewReader(long), &out); err != nil {
		t.Fatalf("truncation by default failed: %v", err)
	}
	if err := encodeMain([]string{"--model", fixtureModel, "--max-len", "100000"}, strings.NewReader(long), &out); err == nil {
		t.Error("--max-len beyond the position table accepted")
	}
	if err := encodeMain([]string{"--model", fixtureModel, "--batch", "0"}, strings.NewReader(long), &out); err == nil {
		t.Error("--batch 0 accepted")
	}
	if err := encodeMain([]string{}, strings.NewReader(long), &out); err == nil {
		t.Error("no --model accepted")
	}
}
