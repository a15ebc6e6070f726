package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/toydata"
)

const loraBase = "../../testdata/reference/lora/lora-bert/base"

// writeToyData writes a generic TSV data set whose label is signalled by a word.
func writeToyData(t *testing.T, dir string) {
	t.Helper()
	if err := toydata.WriteTSV(dir, 120, 30); err != nil {
		t.Fatal(err)
	}
}

func runCmd(t *testing.T, f func(args []string, stdout, stderr *strings.Builder) error, args ...string) (string, error) {
	t.Helper()
	var out, errb strings.Builder
	err := f(args, &out, &errb)
	return out.String() + errb.String(), err
}

func trainCmd(args []string, o, e *strings.Builder) error { return trainMain(args, o, e) }
func evalCmd(args []string, o, e *strings.Builder) error  { return evalMain(args, o, e) }
func mergeCmd(args []string, o, e *strings.Builder) error { return mergeMain(args, o, e) }

func TestTrainEvalMergeCLI(t *testing.T) {
	needFixture(t, loraBase)
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	os.Mkdir(dataDir, 0o755)
	writeToyData(t, dataDir)
	out := filepath.Join(tmp, "run")
	args := []string{"--model", loraBase, "--data", dataDir, "--modules", "query,value", "--ranks", "uniform:4",
		"--steps", "30", "--batch", "8", "--lr", "5e-3", "--eval-every", "10", "--max-len", "24", "--out", out, "--quiet"}
	text, err := runCmd(t, trainCmd, args...)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, text)
	}
	if !strings.Contains(text, "selected") || !strings.Contains(text, "classifier is not used") {
		t.Errorf("train output:\n%s", text)
	}
	var sum struct {
		Test     *struct{ Accuracy float64 } `json:"test"`
		Classes  []string                    `json:"classes"`
		Settings map[string]string           `json:"settings"`
		PEFT     bool                        `json:"peft_compatible"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "summary.json"))
	if err := json.Unmarshal(b, &sum); err != nil || sum.Test == nil || !sum.PEFT || strings.Join(sum.Classes, ",") != "neg,neu,pos" || sum.Settings["seed"] != "1" {
		t.Fatalf("summary.json: %v %s", err, b)
	}
	// A finished run is not overwritten; --resume of a finished run just re-reports.
	if _, err := runCmd(t, trainCmd, args...); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("second run into the same folder: %v", err)
	}
	if text, err := runCmd(t, trainCmd, append(args, "--resume")...); err != nil {
		t.Errorf("resume of a finished run: %v\n%s", err, text)
	}
	// eval on the data set gives the summary's test accuracy.
	text, err = runCmd(t, evalCmd, "--model", loraBase, "--adapter", out, "--data", dataDir, "--max-len", "24", "--json")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, text)
	}
	var res map[string]struct{ Accuracy float64 }
	if err := json.Unmarshal([]byte(text[:strings.LastIndex(text, "}")+1]), &res); err != nil || res["test"].Accuracy != sum.Test.Accuracy {
		t.Errorf("eval accuracy %v (err %v), summary %v", res["test"].Accuracy, err, sum.Test.Accuracy)
	}
	// eval --inputs-out, then merge: the merged checkpoint gives the same logits.
	texts := filepath.Join(tmp, "texts.txt")
	os.WriteFile(texts, []byte("the apple river\nquiet village of water farms and old children\nhouse\n"), 0o644)
	inputs := filepath.Join(tmp, "inputs.safetensors")
	if text, err := runCmd(t, evalCmd, "--model", loraBase, "--adapter", out, "--text", texts, "--inputs-out", inputs); err != nil {
		t.Fatalf("eval --inputs-out: %v\n%s", err, text)
	}
	f, err := hf.ReadSafetensors(inputs)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"input_ids", "attention_mask", "token_type_ids", "logits"} {
		if f.Tensors[k] == nil {
			t.Fatalf("inputs file lacks %s", k)
		}
	}
	if s := f.Tensors["logits"].Shape; s[0] != 3 || s[1] != 3 {
		t.Errorf("logits shape %v", s)
	}
	merged := filepath.Join(tmp, "merged")
	if text, err := runCmd(t, mergeCmd, "--model", loraBase, "--adapter", out, "--out", merged); err != nil {
		t.Fatalf("merge: %v\n%s", err, text)
	}
	for _, name := range []string{"config.json", "model.safetensors", "vocab.txt", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(merged, name)); err != nil {
			t.Error(err)
		}
	}
	hc, _ := hf.LoadConfig(filepath.Join(merged, "config.json"))
	if hc == nil || hc.ID2Label[2] != "pos" || hc.Architectures[0] != "BertForSequenceClassification" {
		t.Errorf("merged config: %+v", hc)
	}
	// The merged folder is itself a base whose own classifier is used by a
	// PEFT-style load without modules_to_save: compare logits through eval.
	mm, err := model.Load(merged)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := model.NewHead(model.HeadHF, "bert", mm.Cfg.Hidden, 3)
	copy(h.W2, mm.Extra["classifier.weight"].Data)
	copy(h.B2, mm.Extra["classifier.bias"].Data)
	ids, _ := f.Tensors["input_ids"].Int64()
	mask, _ := f.Tensors["attention_mask"].Int64()
	bt := model.Batch{B: 3, T: f.Tensors["input_ids"].Shape[1]}
	for i := range ids {
		bt.IDs = append(bt.IDs, int32(ids[i]))
		bt.Mask = append(bt.Mask, int32(mask[i]))
	}
	ws := mm.NewWorkspace(bt.B, bt.T, false, nil)
	mm.Encode(ws, bt, nil, model.FwdOpts{})
	got := h.Forward(mm.Pool(ws), bt.B, false, 0, nil).Logits
	want, _ := f.Tensors["logits"].Float32()
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-4 {
			t.Fatalf("merged logits %v, adapter logits %v", got, want)
		}
	}
}

func TestTrainBadInput(t *testing.T) {
	needFixture(t, loraBase)
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	os.Mkdir(dataDir, 0o755)
	writeToyData(t, dataDir)
	m, err := model.Load(loraBase)
	if err != nil {
		t.Fatal(err)
	}
	// A ranks.json as predict writes it, for another model size.
	rep := PredictReport{ModelType: "bert", Layers: 12, Modules: []ModuleResult{{Type: "value", Layer: 0, Rank: 4}}}
	other := filepath.Join(tmp, "other.json")
	report.WriteJSON(other, rep)
	// One for this model but only the key module.
	rep = PredictReport{ModelType: "bert", Layers: 2, WeightsHash: m.Hash(),
		Modules: []ModuleResult{{Type: "key", Layer: 0, Rank: 4}, {Type: "key", Layer: 1, Rank: 2}}}
	keyOnly := filepath.Join(tmp, "key.json")
	report.WriteJSON(keyOnly, rep)
	base := []string{"--model", loraBase, "--data", dataDir, "--steps", "2", "--batch", "4", "--quiet"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ranks", "value=4,0", "--modules", "value"}, "must be positive"},
		{[]string{"--ranks", other}, "12-layer"},
		{[]string{"--ranks", keyOnly, "--modules", "value"}, "no ranks for module type value"},
		{[]string{"--ranks", filepath.Join(tmp, "missing.json")}, "no such file"},
		{[]string{"--ranks", "uniform:4", "--lora", "lorax"}, "convention"},
		{[]string{"--ranks", "uniform:4", "--max-len", "4096"}, "exceeds"},
		{[]string{"--data", filepath.Join(tmp, "nothing")}, "no such file"},
	} {
		args := append(append(append([]string{}, base...), c.args...), "--out", filepath.Join(tmp, "out"+fmt.Sprint(len(c.want))))
		if text, err := runCmd(t, trainCmd, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q\n%s", c.args, err, c.want, text)
		}
	}
	// A ranks.json for this model works (and keeps rank-0 modules out).
	rep.Modules[1].Rank = 0
	report.WriteJSON(keyOnly, rep)
	out := filepath.Join(tmp, "ok")
	if text, err := runCmd(t, trainCmd, append(base, "--ranks", keyOnly, "--out", out, "--eval-every", "0")...); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	cfg, err := hf.LoadAdapterConfig(filepath.Join(out, lora.PEFTConfig))
	if err != nil || len(cfg.RankPattern) != 1 || cfg.RankPattern["layer.0.attention.self.key"] != 4 {
		t.Errorf("adapter config %+v %v", cfg, err)
	}
	// Labels outside the class set are reported with file and line.
	os.WriteFile(filepath.Join(dataDir, "test.tsv"), []byte("text\tlabel\nsome text\tmaybe\n"), 0o644)
	if _, err := runCmd(t, trainCmd, append(base, "--out", filepath.Join(tmp, "o2"))...); err == nil || !strings.Contains(err.Error(), "maybe") {
		t.Errorf("unknown test label: %v", err)
	}
}

// --preset reference: faithful LoRA, paper head, trained biases, summed
// loss, padded to the (shrunk) max length without a mask; saved in
// adarank's format, which merge refuses.
func TestTrainPresetReference(t *testing.T) {
	needFixture(t, loraBase)
	tmp := t.TempDir()
	writeToyData(t, tmp)
	out := filepath.Join(tmp, "run")
	text, err := runCmd(t, trainCmd, "--model", loraBase, "--data", tmp, "--preset", "reference", "--steps", "3", "--batch", "8",
		"--ranks", "2,3", "--out", out, "--quiet")
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if _, err := os.Stat(filepath.Join(out, lora.PEFTConfig)); err == nil {
		t.Error("a paper-head adapter has adapter_config.json")
	}
	var sum struct {
		Settings   map[string]string `json:"settings"`
		WhyNotPEFT string            `json:"why_not_peft"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "summary.json"))
	json.Unmarshal(b, &sum)
	s := sum.Settings
	if s["lora"] != "faithful" || s["head"] != "paper" || s["loss"] != "sum" || s["max-len"] != "64" || s["no-attention-mask"] != "true" ||
		s["train-bias"] != "true" || s["steps"] != "3" || !strings.Contains(sum.WhyNotPEFT, "paper head") {
		t.Errorf("settings %v, why %q", s, sum.WhyNotPEFT)
	}
	if _, err := runCmd(t, mergeCmd, "--model", loraBase, "--adapter", out, "--out", filepath.Join(tmp, "m")); err == nil ||
		!strings.Contains(err.Error(), "paper head") {
		t.Errorf("merge of a paper-head adapter: %v", err)
	}
	// eval feeds inputs as in training (padded to 64, no mask) by default.
	text, err = runCmd(t, evalCmd, "--model", loraBase, "--adapter", out, "--data", tmp, "--json")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, text)
	}
	var res map[string]struct{ Loss float64 }
	var sum2 struct{ Test struct{ Loss float64 } }
	json.Unmarshal(b, &sum2)
	if err := json.Unmarshal([]byte(text[:strings.LastIndex(text, "}")+1]), &res); err != nil || res["test"].Loss != sum2.Test.Loss {
		t.Errorf("eval test loss %v (err %v), summary %v", res["test"].Loss, err, sum2.Test.Loss)
	}
}
