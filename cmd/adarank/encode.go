package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/adarank/adarank/internal/gpu"
	"github.com/adarank/adarank/internal/hf"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/tokenizer"
)

func init() {
	register("encode", "encode text lines from stdin to JSON lines (ids, pooled, cls)", func(args []string) error {
		return encodeMain(args, os.Stdin, os.Stdout)
	})
}

func encodeMain(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("encode", flag.ContinueOnError)
	modelDir := fs.String("model", "", "Hugging Face model folder (config.json, model.safetensors, tokenizer files)")
	maxLen := fs.Int("max-len", 0, "maximum tokens per text including special tokens (0 = the model's maximum)")
	batch := fs.Int("batch", 16, "texts per forward batch")
	noTrunc := fs.Bool("no-truncate", false, "fail on texts longer than --max-len instead of truncating them")
	dump := fs.String("dump", "", "also write all inputs and outputs of the whole input (one padded batch) to this safetensors file (for parity checks)")
	device := fs.String("device", "cpu", deviceUsage+" (--dump always runs on the CPU)")
	precision := fs.String("precision", "fp32", precisionUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *batch < 1 {
		return fmt.Errorf("--batch must be at least 1")
	}
	m, tok, err := openModel(*modelDir)
	if err != nil {
		return err
	}
	limit := m.Cfg.MaxSeqLen()
	if *maxLen < 0 || *maxLen > limit {
		return fmt.Errorf("--max-len %d outside 1..%d (the model's position table)", *maxLen, limit)
	}
	if *maxLen == 0 {
		*maxLen = limit
	}
	opt := tokenizer.Options{MaxLen: *maxLen, Truncate: !*noTrunc}
	run := cpuEncoder(m)
	dev, err := openDevice(*device, *precision)
	if err != nil {
		return err
	}
	if dev != nil {
		defer dev.Close()
		g, err := gpu.Upload(dev, m)
		if err != nil {
			return err
		}
		defer g.Free()
		run = func(b model.Batch) ([]float32, []float32, error) {
			o, err := g.Forward(b)
			if err != nil {
				return nil, nil, err
			}
			return o.Pooled, o.CLS, nil
		}
	}
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriterSize(stdout, 1<<20)
	defer out.Flush()
	var texts []string
	line := 0
	flush := func() error {
		if len(texts) == 0 {
			return nil
		}
		if err := encodeBatch(m, tok, texts, opt, out, run); err != nil {
			return fmt.Errorf("lines %d-%d: %w", line-len(texts)+1, line, err)
		}
		texts = texts[:0]
		return nil
	}
	var all []string
	for in.Scan() {
		line++
		texts = append(texts, in.Text())
		if *dump != "" {
			all = append(all, in.Text())
		}
		if len(texts) == *batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	if *dump != "" {
		if err := dumpOutputs(m, tok, all, opt, *dump); err != nil {
			return err
		}
	}
	return out.Flush()
}

// dumpOutputs writes ids, mask, type ids and every output of one padded batch.
func dumpOutputs(m *model.Model, tok *tokenizer.Tokenizer, texts []string, opt tokenizer.Options, path string) error {
	if len(texts) == 0 {
		return fmt.Errorf("--dump: no input texts")
	}
	b, _, err := makeBatch(tok, texts, opt)
	if err != nil {
		return err
	}
	if err := m.Validate(b); err != nil {
		return err
	}
	ws := m.NewWorkspace(b.B, b.T, false, nil)
	m.Encode(ws, b, nil, model.FwdOpts{})
	H := m.Cfg.Hidden
	i64 := func(x []int32) []int64 {
		o := make([]int64, len(x))
		for i, v := range x {
			o[i] = int64(v)
		}
		return o
	}
	ts := []hf.WTensor{
		{Name: "input_ids", Shape: []int{b.B, b.T}, I64: i64(b.IDs), DType: "I64"},
		{Name: "attention_mask", Shape: []int{b.B, b.T}, I64: i64(b.Mask), DType: "I64"},
		{Name: "token_type_ids", Shape: []int{b.B, b.T}, I64: i64(b.TypeIDs), DType: "I64"},
		{Name: "last_hidden_state", Shape: []int{b.B, b.T, H}, F32: append([]float32(nil), ws.Hidden()...)},
		{Name: "cls", Shape: []int{b.B, H}, F32: m.CLS(ws)},
	}
	if m.Cfg.HasPooler {
		ts = append(ts, hf.WTensor{Name: "pooler_output", Shape: []int{b.B, H}, F32: append([]float32(nil), m.Pool(ws)...)})
	}
	if m.Cfg.HasMLM {
		logits, err := m.MLMLogits(ws, nil)
		if err != nil {
			return err
		}
		ts = append(ts, hf.WTensor{Name: "mlm_logits", Shape: []int{b.B, b.T, m.Cfg.Vocab}, F32: logits})
	}
	return hf.WriteSafetensors(path, ts, map[string]string{"tool": "adarank encode --dump"})
}

// encoder runs a batch and returns its pooled and CLS outputs [B, H].
type encoder func(b model.Batch) (pooled, cls []float32, err error)

// cpuEncoder runs the encoder on the CPU.
func cpuEncoder(m *model.Model) encoder {
	return func(b model.Batch) ([]float32, []float32, error) {
		ws := m.NewWorkspace(b.B, b.T, false, nil)
		m.Encode(ws, b, nil, model.FwdOpts{})
		pooled := m.Pool(ws)
		return pooled, m.CLS(ws), nil
	}
}

// encodeBatch tokenizes, runs the encoder and writes one JSON object per text.
func encodeBatch(m *model.Model, tok *tokenizer.Tokenizer, texts []string, opt tokenizer.Options, w *bufio.Writer, run encoder) error {
	b, encs, err := makeBatch(tok, texts, opt)
	if err != nil {
		return err
	}
	if err := m.Validate(b); err != nil {
		return err
	}
	pooled, cls, err := run(b)
	if err != nil {
		return err
	}
	H := m.Cfg.Hidden
	buf := make([]byte, 0, 64*H)
	for i, t := range texts {
		buf = buf[:0]
		buf = append(buf, `{"text":`...)
		buf = strconv.AppendQuote(buf, t)
		buf = append(buf, `,"input_ids":[`...)
		for j, id := range encs[i].IDs {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, int64(id), 10)
		}
		buf = append(buf, `],"pooled":`...)
		buf = appendFloats(buf, pooled[i*H:(i+1)*H])
		buf = append(buf, `,"cls":`...)
		buf = appendFloats(buf, cls[i*H:(i+1)*H])
		buf = append(buf, "}\n"...)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func appendFloats(buf []byte, x []float32) []byte {
	buf = append(buf, '[')
	for i, v := range x {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendFloat(buf, float64(v), 'g', -1, 32)
	}
	return append(buf, ']')
}

// parseFlags parses a subcommand's flags; -h prints usage and exits 0.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

var errUsage = errors.New("invalid flags (see -h)")
