package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/cuda"
)

func TestOpenDeviceFlags(t *testing.T) {
	if d, err := openDevice("cpu", "fp32"); d != nil || err != nil {
		t.Errorf("cpu: %v %v", d, err)
	}
	for _, bad := range [][2]string{{"gpu", "fp32"}, {"cuda:x", "fp32"}, {"cuda:-1", "fp32"}, {"cpu", "tf32"},
		{"cuda", "fp16"}, {"cpu", "bf16"}} {
		if _, err := openDevice(bad[0], bad[1]); err == nil {
			t.Errorf("--device %s --precision %s accepted", bad[0], bad[1])
		}
	}
}

// On a machine without a GPU, --device cuda fails with one clear line and
// --device auto runs on the CPU.
func TestDeviceCudaWithoutGPU(t *testing.T) {
	needFixture(t, fixtureModel)
	if d, err := cuda.Open(0); err == nil {
		d.Close()
		t.Skip("a GPU is present")
	}
	in := "a short text\n"
	var out bytes.Buffer
	err := encodeMain([]string{"--model", fixtureModel, "--device", "cuda"}, strings.NewReader(in), &out)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--device cuda") {
		t.Fatalf("--device cuda without a GPU: %v", err)
	}
	err = predictMain([]string{"--model", fixtureModel, "--device", "cuda:1", "--trials", "1", "--out", "", "--quiet"}, &out)
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("predict --device cuda:1 without a GPU: %v", err)
	}
	out.Reset()
	if err := encodeMain([]string{"--model", fixtureModel, "--device", "auto"}, strings.NewReader(in), &out); err != nil {
		t.Fatalf("--device auto: %v", err)
	}
	if !strings.Contains(out.String(), `"pooled"`) {
		t.Errorf("--device auto wrote %q", out.String())
	}
}

// train and pretrain with --device cuda and no GPU fail at once with one
// line, before reading data, and leave no run behind.
func TestTrainPretrainCudaWithoutGPU(t *testing.T) {
	needFixture(t, loraBase)
	if d, err := cuda.Open(0); err == nil {
		d.Close()
		t.Skip("a GPU is present")
	}
	tmp := t.TempDir()
	out := filepath.Join(tmp, "run")
	_, err := runCmd(t, trainCmd, "--model", loraBase, "--task", "trec", "--data", filepath.Join(tmp, "missing"),
		"--device", "cuda", "--precision", "bf16", "--out", out, "--quiet")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--device cuda") {
		t.Fatalf("train --device cuda without a GPU: %v", err)
	}
	if _, statErr := os.Stat(out); statErr == nil {
		t.Errorf("train --device cuda left %s behind", out)
	}
	cfg := filepath.Join(tmp, "model.json")
	os.WriteFile(cfg, []byte(`{"hidden_size":32,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":64}`), 0o644)
	err = pretrainMain([]string{"--corpus", tmp, "--config", cfg, "--tokenizer", loraBase, "--out", filepath.Join(tmp, "pt"),
		"--device", "cuda:0", "--steps", "5"})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--device cuda:0") {
		t.Fatalf("pretrain --device cuda:0 without a GPU: %v", err)
	}
	_, err = runCmd(t, evalCmd, "--model", loraBase, "--adapter", filepath.Join(tmp, "none"), "--task", "trec",
		"--data", filepath.Join(tmp, "missing"), "--device", "cuda")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "--device cuda") {
		t.Fatalf("eval --device cuda without a GPU: %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(tmp, "pt")); statErr == nil {
		t.Errorf("pretrain --device cuda:0 left its --out behind")
	}
}
