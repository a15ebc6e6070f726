package hf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// rawFile builds a safetensors file from a header string and a data buffer.
func rawFile(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func f32Bytes(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// Byte-exact outputs of the reference Rust implementation's own tests.
func TestEncodeMatchesReference(t *testing.T) {
	got, err := EncodeSafetensors([]WTensor{{Name: "attn.0", Shape: []int{1, 2, 3}, F32: []float32{0, 1, 2, 3, 4, 5}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := rawFile(`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`, f32Bytes(0, 1, 2, 3, 4, 5))
	if !bytes.Equal(got, want) {
		t.Errorf("attn.0:\n got %q\nwant %q", got, want)
	}

	got, err = EncodeSafetensors([]WTensor{{Name: "attn0", Shape: []int{1, 1, 2, 3}, F32: []float32{0, 1, 2, 3, 4, 5}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = rawFile(`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `, f32Bytes(0, 1, 2, 3, 4, 5))
	if !bytes.Equal(got, want) {
		t.Errorf("attn0 (padded):\n got %q\nwant %q", got, want)
	}

	got, _ = EncodeSafetensors(nil, nil)
	if want := []byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '}; !bytes.Equal(got, want) {
		t.Errorf("empty: got %v want %v", got, want)
	}
	got, _ = EncodeSafetensors(nil, map[string]string{"framework": "pt"})
	if want := rawFile(`{"__metadata__":{"framework":"pt"}}     `, nil); !bytes.Equal(got, want) {
		t.Errorf("empty+metadata: got %q want %q", got, want)
	}
}

func TestWriterOrderAndEscaping(t *testing.T) {
	got, err := EncodeSafetensors([]WTensor{
		{Name: "b", Shape: []int{1}, F32: []float32{1}},
		{Name: "a", Shape: []int{1}, F32: []float32{1}, DType: "F16"},
		{Name: "c", Shape: []int{1}, I64: []int64{1}},
		{Name: "a2", Shape: []int{1}, F32: []float32{1}},
		{Name: "q\"\\\n\x01<é", Shape: []int{}, I64: []int64{1}, DType: "U8"},
	}, map[string]string{"z": "1", "a": "2"})
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(got)
	hdr := string(got[8 : 8+n])
	want := `{"__metadata__":{"a":"2","z":"1"},"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},` +
		`"a2":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},` +
		`"a":{"dtype":"F16","shape":[1],"data_offsets":[16,18]},"q\"\\\n\u0001<é":{"dtype":"U8","shape":[],"data_offsets":[18,19]}}`
	if strings.TrimRight(hdr, " ") != want {
		t.Errorf("header\n got %s\nwant %s", hdr, want)
	}
	if n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	f, err := ParseSafetensors(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Order, []string{"c", "a2", "b", "a", "q\"\\\n\x01<é"}) {
		t.Errorf("order %q", f.Order)
	}
	if !reflect.DeepEqual(f.Metadata, map[string]string{"a": "2", "z": "1"}) {
		t.Errorf("metadata %v", f.Metadata)
	}
}

func TestRoundTripAllDtypes(t *testing.T) {
	floats := []float32{0, 1, -2.5, 3.140625, 65504, float32(math.Inf(-1)), 1e-3, -0.125}
	ints := []int64{0, 1, -1, 127, -128, 42, 100, -7}
	uints := []int64{0, 1, 255, 7, 3, 200, 0, 9}
	bools := []int64{0, 1, 1, 0, 1, 0, 0, 1}
	ws := []WTensor{
		{Name: "f32", Shape: []int{2, 4}, F32: floats},
		{Name: "f16", Shape: []int{2, 4}, F32: floats, DType: "F16"},
		{Name: "bf16", Shape: []int{8}, F32: []float32{0, 1, -2.5, 3.140625, 65536, float32(math.Inf(1)), 0.5, -0.125}, DType: "BF16"},
		{Name: "f64", Shape: []int{4, 2}, F32: floats, DType: "F64"},
		{Name: "i64", Shape: []int{8}, I64: []int64{math.MinInt64, math.MaxInt64, 0, 1, -1, 5, 6, 7}},
		{Name: "i32", Shape: []int{8}, I64: []int64{math.MinInt32, math.MaxInt32, 0, 1, -1, 5, 6, 7}, DType: "I32"},
		{Name: "u32", Shape: []int{8}, I64: []int64{math.MaxUint32, 0, 1, 2, 3, 4, 5, 6}, DType: "U32"},
		{Name: "i16", Shape: []int{8}, I64: []int64{math.MinInt16, math.MaxInt16, 0, 1, -1, 5, 6, 7}, DType: "I16"},
		{Name: "u16", Shape: []int{8}, I64: []int64{math.MaxUint16, 0, 1, 2, 3, 4, 5, 6}, DType: "U16"},
		{Name: "i8", Shape: []int{8}, I64: ints, DType: "I8"},
		{Name: "u8", Shape: []int{2, 2, 2}, I64: uints, DType: "U8"},
		{Name: "bool", Shape: []int{8}, I64: bools, DType: "BOOL"},
		{Name: "scalar", Shape: []int{}, F32: []float32{7}},
		{Name: "empty", Shape: []int{0, 3}, F32: []float32{}},
		{Name: "empty_i", Shape: []int{3, 0}, I64: []int64{}},
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	meta := map[string]string{"format": "pt"}
	if err := WriteSafetensors(path, ws, meta); err != nil {
		t.Fatal(err)
	}
	enc, err := EncodeSafetensors(ws, meta)
	if err != nil {
		t.Fatal(err)
	}
	disk, _ := os.ReadFile(path)
	if !bytes.Equal(disk, enc) {
		t.Fatal("WriteSafetensors and EncodeSafetensors differ")
	}
	f, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(ws) || len(f.Order) != len(ws) {
		t.Fatalf("got %d tensors, want %d", len(f.Tensors), len(ws))
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	for _, w := range ws {
		got := f.Tensors[w.Name]
		if got == nil {
			t.Fatalf("missing %s", w.Name)
		}
		dt := w.DType
		if dt == "" {
			dt = map[bool]string{true: "I64", false: "F32"}[w.I64 != nil]
		}
		if got.DType != dt || !reflect.DeepEqual(got.Shape, w.Shape) && !(len(got.Shape) == 0 && len(w.Shape) == 0) {
			t.Errorf("%s: dtype %s shape %v, want %s %v", w.Name, got.DType, got.Shape, dt, w.Shape)
		}
		if got.NumElements()*dtypeSize[dt] != len(got.Data) {
			t.Errorf("%s: %d elements but %d bytes", w.Name, got.NumElements(), len(got.Data))
		}
		if w.I64 != nil {
			v, err := got.Int64()
			if err != nil {
				t.Fatalf("%s: %v", w.Name, err)
			}
			if len(v) != len(w.I64) || (len(v) > 0 && !reflect.DeepEqual(v, w.I64)) {
				t.Errorf("%s: %v, want %v", w.Name, v, w.I64)
			}
			if _, err := got.Float32(); err == nil {
				t.Errorf("%s: Float32 on an integer tensor did not fail", w.Name)
			}
			continue
		}
		v, err := got.Float32()
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		if len(v) != len(w.F32) {
			t.Fatalf("%s: %d values, want %d", w.Name, len(v), len(w.F32))
		}
		for i := range v {
			want := w.F32[i]
			switch dt { // values chosen to be exact in each type except 1e-3
			case "F16":
				want = F16ToF32(F32ToF16(want))
			case "BF16":
				want = BF16ToF32(F32ToBF16(want))
			}
			if v[i] != want {
				t.Errorf("%s[%d] = %g, want %g", w.Name, i, v[i], want)
			}
		}
		if _, err := got.Int64(); err == nil {
			t.Errorf("%s: Int64 on a float tensor did not fail", w.Name)
		}
	}
	// F16 of 1e-3 is the nearest half, 0.0010004043579101562.
	v, _ := f.Tensors["f16"].Float32()
	if v[6] != 0.0010004043579101562 {
		t.Errorf("f16 1e-3 = %.17g", v[6])
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestTensorConversionErrors(t *testing.T) {
	bad := &Tensor{Name: "x", DType: "BOOL", Shape: []int{1}, Data: []byte{2}}
	if _, err := bad.Int64(); err == nil || !strings.Contains(err.Error(), "BOOL") {
		t.Errorf("BOOL 2: %v", err)
	}
	u64 := &Tensor{Name: "x", DType: "U64", Shape: []int{1}, Data: []byte{0, 0, 0, 0, 0, 0, 0, 0x80}}
	if _, err := u64.Int64(); err == nil {
		t.Error("U64 2^63 accepted")
	}
	short := &Tensor{Name: "x", DType: "F32", Shape: []int{2}, Data: make([]byte, 4)}
	if _, err := short.Float32(); err == nil {
		t.Error("short data accepted")
	}
	f8 := &Tensor{Name: "x", DType: "F8_E4M3", Shape: []int{1}, Data: []byte{1}}
	if _, err := f8.Float32(); err == nil {
		t.Error("F8 accepted by Float32")
	}
	unk := &Tensor{Name: "x", DType: "Q4", Shape: []int{1}, Data: []byte{1}}
	if _, err := unk.Float32(); err == nil {
		t.Error("unknown dtype accepted")
	}
}

func TestParseErrors(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	if _, err := ParseSafetensors(rawFile(ok, make([]byte, 8))); err != nil {
		t.Fatalf("valid file rejected: %v", err)
	}
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	long := rawFile(ok, make([]byte, 8))
	binary.LittleEndian.PutUint64(long, uint64(len(long)))
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"too short", []byte{1, 2, 3}, "too short"},
		{"header past file", long, "exceeds the file size"},
		{"header huge", huge, "exceeds the"},
		{"not json", rawFile(`{"a":`, nil), "not a valid JSON object"},
		{"not object", rawFile(`[1,2]`, nil), "not a valid JSON object"},
		{"trailing", rawFile(`{} x`, nil), "trailing data"},
		{"bad utf8", rawFile("{\"\xff\":1}", nil), "UTF-8"},
		{"duplicate key", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), "duplicate key"},
		{"unknown dtype", rawFile(`{"a":{"dtype":"F12","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)), "unknown dtype"},
		{"missing dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)), "missing dtype"},
		{"missing offsets", rawFile(`{"a":{"dtype":"U8","shape":[1]}}`, make([]byte, 1)), "missing data_offsets"},
		{"size mismatch", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "needs 12 bytes"},
		{"offsets out of range", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4)), "past the end"},
		{"begin after end", rawFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, make([]byte, 4)), "after end"},
		{"overlap", rawFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, make([]byte, 6)), "overlaps"},
		{"gap", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}`, make([]byte, 6)), "gap"},
		{"not starting at 0", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, make([]byte, 4)), "gap"},
		{"trailing data bytes", rawFile(ok, make([]byte, 12)), "data buffer has 12"},
		{"shape overflow", rawFile(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "overflows"},
		{"bytes overflow", rawFile(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}`, nil), "overflows"},
		{"dim too big", rawFile(`{"a":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,0]}}`, nil), "overflows"},
		{"negative dim", rawFile(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), "negative"},
		{"fractional dim", rawFile(`{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}}`, nil), "non-negative integer"},
		{"negative offset", rawFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[-1,0]}}`, nil), "negative"},
		{"three offsets", rawFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0,0]}}`, nil), "want 2"},
		{"shape not array", rawFile(`{"a":{"dtype":"U8","shape":3,"data_offsets":[0,0]}}`, nil), "shape is not an array"},
		{"shape string", rawFile(`{"a":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}`, make([]byte, 1)), "not a number"},
		{"entry not object", rawFile(`{"a":5}`, nil), "not a JSON object"},
		{"metadata not strings", rawFile(`{"__metadata__":{"a":1}}`, nil), "not a string"},
		{"metadata dup", rawFile(`{"__metadata__":{"a":"1","a":"2"}}`, nil), "duplicate key"},
	}
	for _, c := range cases {
		_, err := ParseSafetensors(c.data)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
}

func TestParseZeroSizedAndUnordered(t *testing.T) {
	// Entries in any header order; zero-sized tensors share offsets.
	h := `{"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"z":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},` +
		`"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"y":{"dtype":"I64","shape":[3,0],"data_offsets":[2,2]}}`
	f, err := ParseSafetensors(rawFile(h, []byte{1, 2, 3, 4}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Order, []string{"a", "y", "z", "b"}) {
		t.Errorf("order %v", f.Order)
	}
	v, _ := f.Tensors["b"].Int64()
	if !reflect.DeepEqual(v, []int64{3, 4}) {
		t.Errorf("b = %v", v)
	}
	// Data is capped so an append cannot overwrite the next tensor.
	if cap(f.Tensors["a"].Data) != 2 {
		t.Errorf("cap %d", cap(f.Tensors["a"].Data))
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := []struct {
		name string
		ts   []WTensor
		want string
	}{
		{"dup", []WTensor{{Name: "a", Shape: []int{1}, F32: []float32{1}}, {Name: "a", Shape: []int{1}, F32: []float32{1}}}, "duplicate"},
		{"count", []WTensor{{Name: "a", Shape: []int{2, 2}, F32: []float32{1}}}, "needs 4 values"},
		{"negative", []WTensor{{Name: "a", Shape: []int{-1}, F32: nil}}, "negative"},
		{"overflow", []WTensor{{Name: "a", Shape: []int{1 << 40, 1 << 40}, F32: nil}}, "overflows"},
		{"dtype", []WTensor{{Name: "a", Shape: []int{1}, F32: []float32{1}, DType: "F8_E4M3"}}, "cannot write"},
		{"range", []WTensor{{Name: "a", Shape: []int{1}, I64: []int64{256}, DType: "U8"}}, "does not fit"},
		{"bool", []WTensor{{Name: "a", Shape: []int{1}, I64: []int64{2}, DType: "BOOL"}}, "does not fit"},
		{"float for int", []WTensor{{Name: "a", Shape: []int{1}, F32: []float32{1}, DType: "I32"}}, "takes I64"},
		{"int for float", []WTensor{{Name: "a", Shape: []int{1}, I64: []int64{1}, DType: "F16"}}, "takes F32"},
		{"reserved", []WTensor{{Name: "__metadata__", Shape: []int{1}, F32: []float32{1}}}, "__metadata__"},
		{"utf8", []WTensor{{Name: "\xff", Shape: []int{1}, F32: []float32{1}}}, "UTF-8"},
	}
	for _, c := range cases {
		_, err := EncodeSafetensors(c.ts, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	// A failed write leaves nothing behind.
	dir := t.TempDir()
	if err := WriteSafetensors(filepath.Join(dir, "x.safetensors"), cases[0].ts, nil); err == nil {
		t.Error("WriteSafetensors accepted duplicate names")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left after a failed write: %v", entries)
	}
}

func TestReadSafetensorsMissing(t *testing.T) {
	if _, err := ReadSafetensors(filepath.Join(t.TempDir(), "none.safetensors")); err == nil {
		t.Error("missing file accepted")
	}
}
