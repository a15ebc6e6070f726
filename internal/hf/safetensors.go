package hf

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxHeaderSize is the reference implementation's limit on the JSON header.
const maxHeaderSize = 100_000_000

// dtypeSize is the element size in bytes of every dtype the reference
// implementation knows.
var dtypeSize = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"F64": 8, "I64": 8, "U64": 8,
}

// dtypeRank is the reference Dtype enum order (increasing alignment); the
// writer puts higher ranks first.
var dtypeRank = map[string]int{
	"BOOL": 0, "U8": 1, "I8": 2, "F8_E5M2": 3, "F8_E4M3": 4, "I16": 5, "U16": 6,
	"F16": 7, "BF16": 8, "I32": 9, "U32": 10, "F32": 11, "F64": 12, "I64": 13, "U64": 14,
}

// Tensor is one tensor of a safetensors file. Data is the raw little-endian
// bytes (a view into the file buffer; do not modify).
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte
}

// File is a parsed safetensors file.
type File struct {
	Tensors  map[string]*Tensor
	Order    []string // tensor names in data-offset order
	Metadata map[string]string
}

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// checkLen verifies that Data holds exactly NumElements elements of size sz.
func (t *Tensor) checkLen(sz int) (int, error) {
	n := t.NumElements()
	if n < 0 || len(t.Data)%sz != 0 || len(t.Data)/sz != n {
		return 0, fmt.Errorf("tensor %s: %d bytes of %s do not match shape %v", t.Name, len(t.Data), t.DType, t.Shape)
	}
	return n, nil
}

// Float32 returns the values as float32, upcasting F16, BF16 and
// downcasting F64.
func (t *Tensor) Float32() ([]float32, error) {
	sz, ok := dtypeSize[t.DType]
	if !ok {
		return nil, fmt.Errorf("tensor %s: unknown dtype %q", t.Name, t.DType)
	}
	n, err := t.checkLen(sz)
	if err != nil {
		return nil, err
	}
	d := t.Data
	out := make([]float32, n)
	switch t.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = BF16ToF32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %s: dtype %s is not a floating-point type", t.Name, t.DType)
	}
	return out, nil
}

// Int64 returns the values of an integer or BOOL tensor as int64.
func (t *Tensor) Int64() ([]int64, error) {
	sz, ok := dtypeSize[t.DType]
	if !ok {
		return nil, fmt.Errorf("tensor %s: unknown dtype %q", t.Name, t.DType)
	}
	n, err := t.checkLen(sz)
	if err != nil {
		return nil, err
	}
	d := t.Data
	out := make([]int64, n)
	switch t.DType {
	case "I64":
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(d[8*i:]))
		}
	case "U64":
		for i := range out {
			v := binary.LittleEndian.Uint64(d[8*i:])
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("tensor %s: U64 value %d does not fit in int64", t.Name, v)
			}
			out[i] = int64(v)
		}
	case "I32":
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(d[4*i:])))
		}
	case "U32":
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case "I16":
		for i := range out {
			out[i] = int64(int16(binary.LittleEndian.Uint16(d[2*i:])))
		}
	case "U16":
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case "I8":
		for i := range out {
			out[i] = int64(int8(d[i]))
		}
	case "U8":
		for i := range out {
			out[i] = int64(d[i])
		}
	case "BOOL":
		for i := range out {
			if d[i] > 1 {
				return nil, fmt.Errorf("tensor %s: BOOL byte %d is neither 0 nor 1", t.Name, d[i])
			}
			out[i] = int64(d[i])
		}
	default:
		return nil, fmt.Errorf("tensor %s: dtype %s is not an integer type", t.Name, t.DType)
	}
	return out, nil
}

// ReadSafetensors reads and validates a .safetensors file (one read; the
// tensors' Data are views into that buffer).
func ReadSafetensors(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := ParseSafetensors(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// tensorEntry is a header entry before validation against the buffer.
type tensorEntry struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

// ParseSafetensors parses a whole safetensors file held in memory: an 8-byte
// little-endian header length, a JSON header (tensor entries and optional
// "__metadata__"), then the data buffer, which the tensors' byte ranges must
// tile exactly (the reference implementation's rule).
func ParseSafetensors(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("safetensors: file is %d bytes, too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeaderSize {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte limit", n, maxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the file size (%d bytes after the length)", n, len(data)-8)
	}
	hdr := data[8 : 8+n]
	buf := data[8+n:]
	if !utf8.Valid(hdr) {
		return nil, errors.New("safetensors: header is not valid UTF-8")
	}
	top, err := parseObject(hdr)
	if err != nil {
		return nil, fmt.Errorf("safetensors: header is not a valid JSON object: %w", err)
	}
	f := &File{Tensors: make(map[string]*Tensor, len(top))}
	entries := make([]tensorEntry, 0, len(top))
	for _, kv := range top {
		if kv.key == "__metadata__" {
			if f.Metadata, err = parseMetadata(kv.val); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__: %w", err)
			}
			continue
		}
		e, err := parseTensorEntry(kv.key, kv.val)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", kv.key, err)
		}
		entries = append(entries, e)
	}
	// Sort by range (ties by name, for zero-sized tensors) and check that the
	// ranges tile the data buffer with no gap and no overlap.
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.begin != b.begin {
			return a.begin < b.begin
		}
		if a.end != b.end {
			return a.end < b.end
		}
		return a.name < b.name
	})
	var pos uint64
	for _, e := range entries {
		if e.begin < pos {
			return nil, fmt.Errorf("safetensors: tensor %q: data range [%d, %d) overlaps the previous tensor (which ends at %d)", e.name, e.begin, e.end, pos)
		}
		if e.begin > pos {
			return nil, fmt.Errorf("safetensors: tensor %q: data range [%d, %d) leaves a gap after offset %d (ranges must be contiguous)", e.name, e.begin, e.end, pos)
		}
		if e.end > uint64(len(buf)) {
			return nil, fmt.Errorf("safetensors: tensor %q: data range [%d, %d) is past the end of the %d-byte data buffer", e.name, e.begin, e.end, len(buf))
		}
		pos = e.end
		t := &Tensor{Name: e.name, DType: e.dtype, Shape: e.shape, Data: buf[e.begin:e.end:e.end]}
		f.Tensors[e.name] = t
		f.Order = append(f.Order, e.name)
	}
	if pos != uint64(len(buf)) {
		return nil, fmt.Errorf("safetensors: tensors cover %d bytes but the data buffer has %d", pos, len(buf))
	}
	return f, nil
}

// parseTensorEntry decodes {"dtype": ..., "shape": [...], "data_offsets": [b, e]}
// and checks it on its own (dtype known, sizes consistent, no overflow).
func parseTensorEntry(name string, raw []byte) (tensorEntry, error) {
	e := tensorEntry{name: name}
	obj, err := parseObject(raw)
	if err != nil {
		return e, err
	}
	var haveDtype, haveShape, haveOffsets bool
	var shape, offsets []uint64
	for _, kv := range obj {
		switch kv.key {
		case "dtype":
			if err := json.Unmarshal(kv.val, &e.dtype); err != nil {
				return e, errors.New("dtype is not a string")
			}
			haveDtype = true
		case "shape":
			if shape, err = parseUintArray(kv.val, "shape"); err != nil {
				return e, err
			}
			haveShape = true
		case "data_offsets":
			if offsets, err = parseUintArray(kv.val, "data_offsets"); err != nil {
				return e, err
			}
			haveOffsets = true
		}
	}
	switch {
	case !haveDtype:
		return e, errors.New("missing dtype")
	case !haveShape:
		return e, errors.New("missing shape")
	case !haveOffsets:
		return e, errors.New("missing data_offsets")
	}
	size, ok := dtypeSize[e.dtype]
	if !ok {
		return e, fmt.Errorf("unknown dtype %q", e.dtype)
	}
	if len(offsets) != 2 {
		return e, fmt.Errorf("data_offsets has %d values, want 2", len(offsets))
	}
	e.begin, e.end = offsets[0], offsets[1]
	if e.begin > e.end {
		return e, fmt.Errorf("data_offsets begin %d is after end %d", e.begin, e.end)
	}
	// Element count and byte size with overflow checks.
	count := uint64(1)
	e.shape = make([]int, len(shape))
	for i, d := range shape {
		hi, lo := bits.Mul64(count, d)
		if hi != 0 || lo > math.MaxInt64 {
			return e, fmt.Errorf("shape %v overflows", shape)
		}
		count = lo
		e.shape[i] = int(d)
	}
	hi, nbytes := bits.Mul64(count, uint64(size))
	if hi != 0 || nbytes > math.MaxInt64 {
		return e, fmt.Errorf("shape %v of %s overflows", shape, e.dtype)
	}
	if nbytes != e.end-e.begin {
		return e, fmt.Errorf("shape %v of %s needs %d bytes but data_offsets [%d, %d) hold %d", shape, e.dtype, nbytes, e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}

// parseUintArray decodes a JSON array of non-negative integers.
func parseUintArray(raw []byte, what string) ([]uint64, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var vals []any
	if err := dec.Decode(&vals); err != nil || vals == nil {
		return nil, fmt.Errorf("%s is not an array", what)
	}
	out := make([]uint64, len(vals))
	for i, v := range vals {
		num, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s[%d] is not a number", what, i)
		}
		s := string(num)
		if strings.HasPrefix(s, "-") {
			return nil, fmt.Errorf("%s[%d] is negative (%s)", what, i, s)
		}
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, fmt.Errorf("%s[%d] = %s overflows", what, i, s)
			}
			return nil, fmt.Errorf("%s[%d] = %s is not a non-negative integer", what, i, s)
		}
		out[i] = u
	}
	return out, nil
}

// parseMetadata decodes the "__metadata__" object (string values only).
func parseMetadata(raw []byte) (map[string]string, error) {
	obj, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(obj))
	for _, kv := range obj {
		var s string
		if err := json.Unmarshal(kv.val, &s); err != nil {
			return nil, fmt.Errorf("value of %q is not a string", kv.key)
		}
		m[kv.key] = s
	}
	return m, nil
}

type keyVal struct {
	key string
	val json.RawMessage
}

// parseObject decodes one JSON object into its members in file order,
// rejecting duplicate keys and anything but whitespace after it.
func parseObject(raw []byte) ([]keyVal, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []keyVal
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		out = append(out, keyVal{key, val})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, err
	}
	for _, c := range raw[dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return nil, errors.New("trailing data after the JSON object")
		}
	}
	return out, nil
}

// Float32s returns the values of the named floating-point tensor.
func (f *File) Float32s(name string) ([]float32, error) {
	t := f.Tensors[name]
	if t == nil {
		return nil, fmt.Errorf("no tensor %s", name)
	}
	return t.Float32()
}

// Int32s returns the values of the named integer tensor as int32 (token
// ids, masks) and its shape.
func (f *File) Int32s(name string) ([]int32, []int, error) {
	t := f.Tensors[name]
	if t == nil {
		return nil, nil, fmt.Errorf("no tensor %s", name)
	}
	v, err := t.Int64()
	if err != nil {
		return nil, nil, err
	}
	out := make([]int32, len(v))
	for i, x := range v {
		if x < math.MinInt32 || x > math.MaxInt32 {
			return nil, nil, fmt.Errorf("tensor %s: value %d does not fit in int32", name, x)
		}
		out[i] = int32(x)
	}
	return out, t.Shape, nil
}
