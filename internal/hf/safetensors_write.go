package hf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sort"
	"strconv"
	"unicode/utf8"
)

// WTensor is a tensor to write. Float dtypes (F32 default, F16, BF16, F64)
// take their values from F32; integer dtypes (I64 default when I64 is set,
// I32, I16, I8, U8, U16, U32, BOOL) from I64, range-checked.
type WTensor struct {
	Name  string
	Shape []int
	F32   []float32
	DType string
	I64   []int64
}

// wplan is a validated tensor with its place in the data buffer.
type wplan struct {
	t      *WTensor
	dtype  string
	nelem  int
	offset int
}

// isFloatDtype reports whether a writable dtype takes its values from F32.
func isFloatDtype(dt string) bool {
	return dt == "F32" || dt == "F16" || dt == "BF16" || dt == "F64"
}

// intRange is the value range of each writable integer dtype.
var intRange = map[string][2]int64{
	"I64": {math.MinInt64, math.MaxInt64}, "I32": {math.MinInt32, math.MaxInt32},
	"I16": {math.MinInt16, math.MaxInt16}, "I8": {math.MinInt8, math.MaxInt8},
	"U32": {0, math.MaxUint32}, "U16": {0, math.MaxUint16}, "U8": {0, math.MaxUint8},
	"BOOL": {0, 1},
}

// hasIntRange reports whether dt is a writable integer dtype.
func hasIntRange(dt string) bool {
	_, ok := intRange[dt]
	return ok
}

// planSafetensors validates the tensors, orders them like the reference
// writer (descending dtype alignment, then name) and builds the padded header.
func planSafetensors(tensors []WTensor, metadata map[string]string) ([]wplan, []byte, int, error) {
	plans := make([]wplan, len(tensors))
	seen := make(map[string]bool, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		if t.Name == "__metadata__" {
			return nil, nil, 0, errors.New("safetensors: a tensor cannot be named __metadata__")
		}
		if !utf8.ValidString(t.Name) {
			return nil, nil, 0, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", t.Name)
		}
		if seen[t.Name] {
			return nil, nil, 0, fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		dt := t.DType
		if dt == "" {
			dt = "F32"
			if t.I64 != nil && t.F32 == nil {
				dt = "I64"
			}
		}
		n := uint64(1)
		for _, d := range t.Shape {
			if d < 0 {
				return nil, nil, 0, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			hi, lo := bits.Mul64(n, uint64(d))
			if hi != 0 || lo > math.MaxInt64/8 {
				return nil, nil, 0, fmt.Errorf("safetensors: tensor %q: shape %v overflows", t.Name, t.Shape)
			}
			n = lo
		}
		var have int
		switch {
		case isFloatDtype(dt):
			if t.I64 != nil {
				return nil, nil, 0, fmt.Errorf("safetensors: tensor %q: dtype %s takes F32 values, got I64", t.Name, dt)
			}
			have = len(t.F32)
		case hasIntRange(dt):
			if t.F32 != nil {
				return nil, nil, 0, fmt.Errorf("safetensors: tensor %q: dtype %s takes I64 values, got F32", t.Name, dt)
			}
			have = len(t.I64)
			r := intRange[dt]
			for _, v := range t.I64 {
				if v < r[0] || v > r[1] {
					return nil, nil, 0, fmt.Errorf("safetensors: tensor %q: value %d does not fit in %s", t.Name, v, dt)
				}
			}
		default:
			return nil, nil, 0, fmt.Errorf("safetensors: tensor %q: cannot write dtype %q", t.Name, dt)
		}
		if uint64(have) != n {
			return nil, nil, 0, fmt.Errorf("safetensors: tensor %q: shape %v needs %d values, got %d", t.Name, t.Shape, n, have)
		}
		plans[i] = wplan{t: t, dtype: dt, nelem: int(n)}
	}
	sort.Slice(plans, func(i, j int) bool {
		ri, rj := dtypeRank[plans[i].dtype], dtypeRank[plans[j].dtype]
		if ri != rj {
			return ri > rj
		}
		return plans[i].t.Name < plans[j].t.Name
	})

	// Header JSON, byte-compatible with serde_json's compact output.
	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, nil, 0, fmt.Errorf("safetensors: metadata %q is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		h.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, metadata[k])
		}
		h.WriteByte('}')
		first = false
	}
	offset := 0
	for i := range plans {
		p := &plans[i]
		p.offset = offset
		end := offset + p.nelem*dtypeSize[p.dtype]
		if end < offset {
			return nil, nil, 0, errors.New("safetensors: total data size overflows")
		}
		if !first {
			h.WriteByte(',')
		}
		first = false
		writeJSONString(&h, p.t.Name)
		h.WriteString(`:{"dtype":"`)
		h.WriteString(p.dtype)
		h.WriteString(`","shape":[`)
		for j, d := range p.t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		h.WriteString(`],"data_offsets":[`)
		h.WriteString(strconv.Itoa(offset))
		h.WriteByte(',')
		h.WriteString(strconv.Itoa(end))
		h.WriteString("]}")
		offset = end
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ') // the reference pads the header to 8 bytes with spaces
	}
	return plans, h.Bytes(), offset, nil
}

// writeJSONString writes s as a JSON string the way serde_json does: only
// '"', '\\' and control characters are escaped.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// writeSafetensors streams the planned file to w.
func writeSafetensors(w io.Writer, plans []wplan, header []byte) error {
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	var chunk [8 * 1024]byte
	for _, p := range plans {
		sz := dtypeSize[p.dtype]
		per := len(chunk) / sz
		for start := 0; start < p.nelem; start += per {
			end := min(start+per, p.nelem)
			out := chunk[:(end-start)*sz]
			encodeValues(out, p, start, end)
			if _, err := w.Write(out); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodeValues converts elements [start, end) of a planned tensor to bytes.
func encodeValues(out []byte, p wplan, start, end int) {
	le := binary.LittleEndian
	switch p.dtype {
	case "F32":
		for i, v := range p.t.F32[start:end] {
			le.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case "F16":
		for i, v := range p.t.F32[start:end] {
			le.PutUint16(out[2*i:], F32ToF16(v))
		}
	case "BF16":
		for i, v := range p.t.F32[start:end] {
			le.PutUint16(out[2*i:], F32ToBF16(v))
		}
	case "F64":
		for i, v := range p.t.F32[start:end] {
			le.PutUint64(out[8*i:], math.Float64bits(float64(v)))
		}
	case "I64":
		for i, v := range p.t.I64[start:end] {
			le.PutUint64(out[8*i:], uint64(v))
		}
	case "I32", "U32":
		for i, v := range p.t.I64[start:end] {
			le.PutUint32(out[4*i:], uint32(v))
		}
	case "I16", "U16":
		for i, v := range p.t.I64[start:end] {
			le.PutUint16(out[2*i:], uint16(v))
		}
	case "I8", "U8", "BOOL":
		for i, v := range p.t.I64[start:end] {
			out[i] = byte(v)
		}
	}
}

// EncodeSafetensors returns the safetensors file for the tensors. A nil
// metadata map writes no "__metadata__" entry.
func EncodeSafetensors(tensors []WTensor, metadata map[string]string) ([]byte, error) {
	plans, header, size, err := planSafetensors(tensors, metadata)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(8 + len(header) + size)
	if err := writeSafetensors(&b, plans, header); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteSafetensors writes the tensors to path atomically (temp file + rename).
func WriteSafetensors(path string, tensors []WTensor, metadata map[string]string) error {
	plans, header, _, err := planSafetensors(tensors, metadata)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeAtomic(path, func(f *os.File) error {
		w := bufio.NewWriterSize(f, 1<<20)
		if err := writeSafetensors(w, plans, header); err != nil {
			return err
		}
		return w.Flush()
	})
}
