package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/adarank/adarank/internal/cuda"
)

const deviceUsage = "compute device: cpu, cuda, cuda:N (GPU N) or auto (the GPU when one is usable, else the CPU)"
const precisionUsage = "GPU matrix-product precision: fp32, tf32 (tensor cores, about 1e-3 relative error) or bf16 (cuBLAS bf16-compute mode on fp32 storage and master weights; measured like tf32 on an H100, see docs/cuda.md)"

// openDevice opens the device a --device / --precision pair names. It
// returns nil for the CPU. "auto" falls back to the CPU (with a note on
// stderr) when no GPU is usable; "cuda" fails with one clear line.
func openDevice(spec, precision string) (*cuda.Device, error) {
	switch precision {
	case "fp32", "", "tf32", "bf16":
	default:
		return nil, fmt.Errorf("unknown --precision %q (want fp32, tf32 or bf16)", precision)
	}
	lowered := precision == "tf32" || precision == "bf16"
	ordinal := 0
	switch {
	case spec == "cpu" || spec == "":
		if lowered {
			return nil, fmt.Errorf("--precision %s needs --device cuda", precision)
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
			note := ""
			if lowered {
				note = fmt.Sprintf(" in fp32 (--precision %s needs a GPU)", precision)
			}
			fmt.Fprintf(os.Stderr, "adarank: no usable GPU, running on the CPU%s (%v)\n", note, err)
			return nil, nil
		}
		return nil, fmt.Errorf("--device %s: %w", spec, err)
	}
	if err := d.SetPrecision(precision); err != nil {
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
	return fmt.Sprintf("cuda:%d %s (%s)", d.Ordinal, d.Name, d.Precision())
}

// deviceLabel is deviceName, or "cpu" for the CPU.
func deviceLabel(d *cuda.Device) string {
	if d == nil {
		return "cpu"
	}
	return deviceName(d)
}
