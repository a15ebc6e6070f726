package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/cuda"
)

func TestOpenDeviceFlags(t *testing.T) {
	if d, err := openDevice("cpu", "fp32"); d != nil || err != nil {
		t.Errorf("cpu: %v %v", d, err)
	}
	for _, bad := range [][2]string{{"gpu", "fp32"}, {"cuda:x", "fp32"}, {"cuda:-1", "fp32"}, {"cpu", "tf32"},
		{"cuda", "fp16"}, {"cuda", "bf16"}} {
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
