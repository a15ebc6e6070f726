// Package hf reads and writes the Hugging Face file formats adarank needs:
// a model's config.json, safetensors weight files (single or sharded), and
// PEFT LoRA adapter_config.json files.
//
// Everything here parses untrusted files: malformed input yields an error
// that names the file and the problem, never a panic.
package hf

import (
	"os"

	"github.com/adarank/adarank/internal/safefile"
)

// writeFileAtomic and writeAtomic write through internal/safefile.
func writeFileAtomic(path string, data []byte) error { return safefile.Write(path, data) }

func writeAtomic(path string, write func(f *os.File) error) error {
	return safefile.WriteWith(path, write)
}
