package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/adarank/adarank/internal/cuda"
)

const deviceUsage = "compute device: cpu, cuda, cuda:N (GPU N) or auto (the GPU when one is usable, else the CPU)"
const precisionUsage = "GPU matrix-product precision: fp32, or tf32 (tensor cores, about 1e-3 relative error)"

// openDevice opens the device a --device / --precision pair names. It
// returns nil for the CPU. "auto" falls back to the CPU (with a note on
// stderr) when no GPU is usable; "cuda" fails with one clear line.
func openDevice(spec, precision string) (*cuda.Device, error) {
	tf32 := false
	switch precision {
	case "fp32", "":
	case "tf32":
		tf32 = true
	case "bf16":
		return nil, fmt.Errorf("--precision bf16 is not implemented yet (use fp32 or tf32)")
	default:
		return nil, fmt.Errorf("unknown --precision %q (want fp32 or tf32)", precision)
	}
	ordinal := 0
	switch {
	case spec == "cpu" || spec == "":
		if tf32 {
			return nil, fmt.Errorf("--precision tf32 needs --device cuda")
		}
		return nil, nil
	case spec == "auto":
	case spec == "cuda":
	case strings.HasPrefix(spec, "cuda:"):
		n, err := strconv.Atoi(spec[len("cuda:"):])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad --device %q (want cuda:N with N a GPU number)", spec)
		}
		ordinal = n
	default:
		return nil, fmt.Errorf("unknown --device %q (want cpu, cuda, cuda:N or auto)", spec)
	}
	d, err := cuda.Open(ordinal)
	if err != nil {
		if spec == "auto" {
			fmt.Fprintf(os.Stderr, "adarank: no usable GPU, running on the CPU (%v)\n", err)
			return nil, nil
		}
		return nil, fmt.Errorf("--device %s: %w", spec, err)
	}
	if err := d.SetTF32(tf32); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// deviceName describes the device for reports ("" for the CPU).
func deviceName(d *cuda.Device) string {
	if d == nil {
		return ""
	}
	p := "fp32"
	if d.TF32() {
		p = "tf32"
	}
	return fmt.Sprintf("cuda:%d %s (%s)", d.Ordinal, d.Name, p)
}
