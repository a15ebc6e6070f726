package train

import (
	"fmt"
	"math"

	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/metrics"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/nn"
)

// Example is one tokenized, labelled text (no padding).
type Example struct {
	IDs     []int32
	TypeIDs []int32 // nil = all zero
	Label   int
}

// Padding modes.
const (
	PadLongest = "longest" // to the longest sequence of the batch, rounded up to a multiple of 16 (≤ MaxLen)
	PadMax     = "max"     // always to MaxLen (the reference pads to max_length)
)

// Shape controls how examples become batches.
type Shape struct {
	MaxLen int    // longest allowed sequence and the PadMax length
	Pad    string // longest | max
	NoMask bool   // pass no attention mask (padding tokens are attended, as in the reference code)
}

// Validate checks the shape against the model.
func (s Shape) Validate(c model.Config) error {
	if s.MaxLen < 2 || s.MaxLen > c.MaxSeqLen() {
		return fmt.Errorf("max length %d outside 2..%d (the model's position table)", s.MaxLen, c.MaxSeqLen())
	}
	if s.Pad != PadLongest && s.Pad != PadMax {
		return fmt.Errorf("unknown padding %q (want longest or max)", s.Pad)
	}
	return nil
}

// padLen is the padded length of a batch whose longest sequence has n tokens.
// Without an attention mask padding changes the result, so it is not rounded.
func (s Shape) padLen(n int) int {
	if s.Pad == PadMax {
		return s.MaxLen
	}
	if s.NoMask {
		return n
	}
	return min(s.MaxLen, (n+15)/16*16)
}

// batcher builds padded batches in reusable buffers.
type batcher struct {
	shape  Shape
	padID  int32
	ids    []int32
	types  []int32
	mask   []int32
	labels []int32
}

// make pads the examples into one batch.
func (bt *batcher) make(ex []*Example) (model.Batch, []int32) {
	n := 0
	for _, e := range ex {
		n = max(n, len(e.IDs))
	}
	B, T := len(ex), bt.shape.padLen(n)
	grow := func(buf []int32, k int) []int32 {
		if cap(buf) < k {
			return make([]int32, k)
		}
		return buf[:k]
	}
	bt.ids, bt.types, bt.mask = grow(bt.ids, B*T), grow(bt.types, B*T), grow(bt.mask, B*T)
	bt.labels = grow(bt.labels, B)
	for i, e := range ex {
		row := i * T
		for t := 0; t < T; t++ {
			if t < len(e.IDs) {
				bt.ids[row+t] = e.IDs[t]
				bt.mask[row+t] = 1
				bt.types[row+t] = 0
				if e.TypeIDs != nil {
					bt.types[row+t] = e.TypeIDs[t]
				}
			} else {
				bt.ids[row+t], bt.mask[row+t], bt.types[row+t] = bt.padID, 0, 0
			}
		}
		bt.labels[i] = int32(e.Label)
	}
	b := model.Batch{B: B, T: T, IDs: bt.ids, TypeIDs: bt.types, Mask: bt.mask}
	if bt.shape.NoMask {
		b.Mask = nil
	}
	return b, bt.labels
}

// wsCache keeps the most recently used workspaces (one per batch shape).
type wsCache struct {
	train bool
	keep  int
	list  []*model.Workspace // most recent first
}

func (c *wsCache) get(m *model.Model, ad *model.Adapters, B, T int) *model.Workspace {
	for i, ws := range c.list {
		if ws.Fits(B, T, c.train) {
			copy(c.list[1:i+1], c.list[:i])
			c.list[0] = ws
			return ws
		}
	}
	ws := m.NewWorkspace(B, T, c.train, ad)
	c.list = append([]*model.Workspace{ws}, c.list...)
	if len(c.list) > c.keep {
		c.list = c.list[:c.keep]
	}
	return ws
}

// Evaluator computes logits and metrics of an adapter on examples.
type Evaluator struct {
	M     *model.Model
	A     *lora.Adapter
	Shape Shape
	Batch int
	Enc   Encoder // nil: the CPU engine
	ws    wsCache
	bt    batcher
}

// NewEvaluator returns an evaluator with batches of `batch` examples.
func NewEvaluator(m *model.Model, a *lora.Adapter, s Shape, batch int) (*Evaluator, error) {
	if err := s.Validate(m.Cfg); err != nil {
		return nil, err
	}
	if batch < 1 {
		return nil, fmt.Errorf("evaluation batch must be at least 1, got %d", batch)
	}
	return &Evaluator{M: m, A: a, Shape: s, Batch: batch, ws: wsCache{keep: 2},
		bt: batcher{shape: s, padID: int32(m.Cfg.PadID)}}, nil
}

// Logits runs the model in inference mode (no dropout) on a padded batch.
func Logits(m *model.Model, a *lora.Adapter, ws *model.Workspace, b model.Batch) []float32 {
	m.Encode(ws, b, a.Ad, model.FwdOpts{})
	var x []float32
	if a.Head.UsesPooler() {
		x = m.Pool(ws)
	} else {
		x = m.CLS(ws)
	}
	return a.Head.Forward(x, b.B, false, 0, nil).Logits
}

// Logits returns the logits [len(ex), C] of the examples, in order.
func (e *Evaluator) Logits(ex []Example) ([]float32, error) {
	C := e.A.Head.C
	out := make([]float32, 0, len(ex)*C)
	ptrs := make([]*Example, 0, e.Batch)
	for lo := 0; lo < len(ex); lo += e.Batch {
		ptrs = ptrs[:0]
		for i := lo; i < min(lo+e.Batch, len(ex)); i++ {
			ptrs = append(ptrs, &ex[i])
		}
		b, _ := e.bt.make(ptrs)
		if err := e.M.Validate(b); err != nil {
			return nil, fmt.Errorf("examples %d..%d: %w", lo, lo+len(ptrs)-1, err)
		}
		if e.Enc != nil {
			x, err := e.Enc.Encode(b, e.A.Head.UsesPooler(), false, 0)
			if err != nil {
				return nil, err
			}
			out = append(out, e.A.Head.Forward(x, b.B, false, 0, nil).Logits...)
			continue
		}
		ws := e.ws.get(e.M, e.A.Ad, b.B, b.T)
		out = append(out, Logits(e.M, e.A, ws, b)...)
	}
	return out, nil
}

// Metrics is one evaluation, with lower-case JSON names.
type Metrics struct {
	Accuracy  float64  `json:"accuracy"`
	MacroF1   float64  `json:"macro_f1"`
	ROCAUC    *float64 `json:"roc_auc"` // null where undefined (one class present)
	Loss      float64  `json:"loss"`    // mean cross-entropy
	N         int      `json:"n"`
	Confusion [][]int  `json:"confusion"` // [gold][predicted]
}

// Evaluate returns the metrics of the examples (nil for none).
func (e *Evaluator) Evaluate(ex []Example) (*Metrics, error) {
	if len(ex) == 0 {
		return nil, nil
	}
	logits, err := e.Logits(ex)
	if err != nil {
		return nil, err
	}
	return MetricsOf(logits, ex, e.A.Head.C), nil
}

// MetricsOf scores logits [n,C] against the examples' labels; ROC-AUC uses
// the softmax probabilities.
func MetricsOf(logits []float32, ex []Example, C int) *Metrics {
	n := len(ex)
	probs := make([]float32, n*C)
	losses := make([]float32, n)
	labels := make([]int32, n)
	gold := make([]int, n)
	for i, e := range ex {
		labels[i], gold[i] = int32(e.Label), e.Label
	}
	nn.CrossEntropyForward(losses, probs, logits, labels, n, C)
	scores := make([][]float32, n)
	var loss float64
	for i := range scores {
		scores[i] = probs[i*C : (i+1)*C]
		loss += float64(losses[i])
	}
	r := metrics.Evaluate(scores, gold, C)
	out := &Metrics{Accuracy: r.Accuracy, MacroF1: r.MacroF1, Loss: loss / float64(n), N: n, Confusion: r.Confusion}
	if !math.IsNaN(r.ROCAUC) && !math.IsInf(r.ROCAUC, 0) {
		v := r.ROCAUC
		out.ROCAUC = &v
	}
	return out
}
