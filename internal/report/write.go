// Package report writes CLI tables, JSON reports and SVG plots.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/adarank/adarank/internal/safefile"
)

// WriteFileAtomic writes data atomically (see internal/safefile).
func WriteFileAtomic(path string, data []byte) error { return safefile.Write(path, data) }

// MarshalJSON encodes v as two-space indented JSON with a trailing newline,
// without HTML escaping (so "<" stays "<").
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil { // Encode appends the newline
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteJSON writes v as indented JSON (MarshalJSON) to path atomically.
func WriteJSON(path string, v any) error {
	data, err := MarshalJSON(v)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return WriteFileAtomic(path, data)
}
