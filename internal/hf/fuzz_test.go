package hf

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseSafetensors checks that any input either parses into a
// consistent File or returns an error, never panics, and that what parses
// re-encodes to the same values.
func FuzzParseSafetensors(f *testing.F) {
	valid, err := EncodeSafetensors([]WTensor{
		{Name: "w", Shape: []int{2, 2}, F32: []float32{1, -2, 3.5, 0}},
		{Name: "h", Shape: []int{3}, F32: []float32{1, 2, 3}, DType: "F16"},
		{Name: "ids", Shape: []int{2}, I64: []int64{7, -1}},
		{Name: "m", Shape: []int{1}, I64: []int64{1}, DType: "BOOL"},
	}, map[string]string{"format": "pt"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(rawFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, make([]byte, 6)))
	f.Add(rawFile(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseSafetensors(data)
		if err != nil {
			return
		}
		if len(file.Order) != len(file.Tensors) {
			t.Fatalf("%d names in Order, %d tensors", len(file.Order), len(file.Tensors))
		}
		var ws []WTensor
		for _, name := range file.Order {
			tn := file.Tensors[name]
			if tn == nil || tn.Name != name {
				t.Fatalf("Order has %q but Tensors does not", name)
			}
			if tn.NumElements()*dtypeSize[tn.DType] != len(tn.Data) {
				t.Fatalf("%s: %d elements of %s in %d bytes", name, tn.NumElements(), tn.DType, len(tn.Data))
			}
			fv, ferr := tn.Float32()
			iv, ierr := tn.Int64()
			switch {
			case tn.DType == "F32" && ferr == nil:
				ws = append(ws, WTensor{Name: name, Shape: tn.Shape, F32: fv})
			case tn.DType != "U64" && hasIntRange(tn.DType) && ierr == nil:
				ws = append(ws, WTensor{Name: name, Shape: tn.Shape, I64: iv, DType: tn.DType})
			}
		}
		// Exactly representable tensors survive a write/read round trip.
		enc, err := EncodeSafetensors(ws, file.Metadata)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := ParseSafetensors(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		for _, w := range ws {
			if !bytes.Equal(back.Tensors[w.Name].Data, file.Tensors[w.Name].Data) {
				t.Fatalf("%s changed in the round trip", w.Name)
			}
		}
	})
}

// TestFuzzSeeds checks the stored seed corpus: valid_* files parse, the
// others are rejected.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParseSafetensors")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 5 {
		t.Fatalf("only %d seeds", len(entries))
	}
	for _, e := range entries {
		text, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(strings.TrimSpace(string(text)), "\n", 2)
		if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
			!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
			t.Fatalf("%s: not a fuzz corpus file", e.Name())
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		_, err = ParseSafetensors([]byte(s))
		if valid := strings.HasPrefix(e.Name(), "valid_") || e.Name() == "empty"; valid != (err == nil) {
			t.Errorf("%s: parse error %v", e.Name(), err)
		}
	}
}
