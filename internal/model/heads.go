package model

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/adarank/adarank/internal/nn"
)

// Head kinds.
const (
	HeadPaper = "paper" // pooled -> Dense(H, gelu) -> Dense(C) (the reference code)
	HeadHF    = "hf"    // the architecture's own sequence-classification head
)

// Head is a classification head with its parameters in one buffer.
// paper: W1 [H,H], B1 [H], W2 [C,H], B2 [C] on the pooled output.
// hf/bert: W2 [C,H], B2 on dropout(pooled).
// hf/roberta: W1 [H,H], B1 (dense + tanh), W2 [C,H], B2 (out_proj) on dropout(h_CLS).
type Head struct {
	Kind, Arch string
	H, C       int
	Data       []float32
	W1, B1     []float32
	W2, B2     []float32
}

// NewHead allocates a zeroed head.
func NewHead(kind, arch string, H, C int) (*Head, error) {
	if C < 2 {
		return nil, fmt.Errorf("head: need at least 2 classes, got %d", C)
	}
	h := &Head{Kind: kind, Arch: arch, H: H, C: C}
	two := kind == HeadPaper || (kind == HeadHF && arch == "roberta")
	if kind != HeadPaper && kind != HeadHF {
		return nil, fmt.Errorf("head: unknown kind %q (want paper or hf)", kind)
	}
	n := C*H + C
	if two {
		n += H*H + H
	}
	h.Data = make([]float32, n)
	off := 0
	take := func(k int) []float32 { s := h.Data[off : off+k : off+k]; off += k; return s }
	if two {
		h.W1, h.B1 = take(H*H), take(H)
	}
	h.W2, h.B2 = take(C*H), take(C)
	return h, nil
}

// Like allocates a zeroed head of the same shape (for gradients).
func (h *Head) Like() *Head { g, _ := NewHead(h.Kind, h.Arch, h.H, h.C); return g }

// InitKeras initialises kernels Glorot-uniform and biases zero (Keras defaults, the reference code).
func (h *Head) InitKeras(rng *rand.Rand) {
	glorot := func(w []float32, out, in int) {
		lim := sqrt32(6 / float32(in+out))
		for i := range w {
			w[i] = (rng.Float32()*2 - 1) * lim
		}
	}
	if h.W1 != nil {
		glorot(h.W1, h.H, h.H)
		clear(h.B1)
	}
	glorot(h.W2, h.C, h.H)
	clear(h.B2)
}

// InitHF initialises like transformers' BERT _init_weights: normal(0, std), bias zero.
func (h *Head) InitHF(rng *rand.Rand, std float32) {
	for _, w := range [][]float32{h.W1, h.W2} {
		for i := range w {
			w[i] = float32(rng.NormFloat64()) * std
		}
	}
	clear(h.B1)
	clear(h.B2)
}

// HeadActs holds a head's activations for backward.
type HeadActs struct {
	B           int
	in          []float32 // head input [B,H] (pooled or CLS) after dropout
	inMask      []float32
	z1, a1      []float32
	a1Mask      []float32
	Logits      []float32 // [B,C]
	dIn, dA1    []float32
	dZ1         []float32
	inputIsPool bool
	usedInDrop  bool
	usedMidDrop bool
	dropP       float32
}

// UsesPooler reports whether the head reads the pooler output (else the CLS hidden state).
func (h *Head) UsesPooler() bool { return !(h.Kind == HeadHF && h.Arch == "roberta") }

// Forward computes logits from x [B,H] (pooled or CLS per UsesPooler).
// Dropout (hf heads only, as transformers) applies when train.
func (h *Head) Forward(x []float32, B int, train bool, p float32, rng *rand.Rand) *HeadActs {
	H, C := h.H, h.C
	a := &HeadActs{B: B, in: append([]float32(nil), x...), Logits: make([]float32, B*C), dropP: p}
	drop := train && p > 0 && h.Kind == HeadHF
	if drop {
		a.inMask = make([]float32, B*H)
		nn.FillDropoutMask(a.inMask, p, rng)
		nn.DropoutForward(a.in, a.in, a.inMask)
		a.usedInDrop = true
	}
	x2 := a.in
	if h.W1 != nil {
		a.z1 = make([]float32, B*H)
		a.a1 = make([]float32, B*H)
		nn.LinearForward(a.z1, a.in, h.W1, h.B1, B, H, H)
		if h.Kind == HeadPaper {
			nn.GeluForward(a.a1, a.z1)
		} else {
			nn.TanhForward(a.a1, a.z1)
		}
		if drop {
			a.a1Mask = make([]float32, B*H)
			nn.FillDropoutMask(a.a1Mask, p, rng)
			nn.DropoutForward(a.a1, a.a1, a.a1Mask)
			a.usedMidDrop = true
		}
		x2 = a.a1
	}
	nn.LinearForward(a.Logits, x2, h.W2, h.B2, B, H, C)
	return a
}

// Backward adds head gradients into g and returns dX [B,H] (gradient on the
// head's input before dropout).
func (h *Head) Backward(a *HeadActs, dLogits []float32, g *Head) []float32 {
	H, C, B := h.H, h.C, a.B
	dX := make([]float32, B*H)
	if h.W1 == nil {
		nn.LinearBackward(dX, g.W2, g.B2, dLogits, a.in, h.W2, B, H, C)
	} else {
		dA1 := make([]float32, B*H)
		nn.LinearBackward(dA1, g.W2, g.B2, dLogits, a.a1, h.W2, B, H, C)
		if a.usedMidDrop {
			nn.DropoutForward(dA1, dA1, a.a1Mask) // d = d·mask, in place
		}
		dZ1 := make([]float32, B*H)
		if h.Kind == HeadPaper {
			nn.GeluBackward(dZ1, dA1, a.z1)
		} else {
			// tanh backward uses the output before dropout: recompute it.
			t := make([]float32, B*H)
			nn.TanhForward(t, a.z1)
			nn.TanhBackward(dZ1, dA1, t)
		}
		nn.LinearBackward(dX, g.W1, g.B1, dZ1, a.in, h.W1, B, H, H)
	}
	if a.usedInDrop {
		nn.DropoutForward(dX, dX, a.inMask)
	}
	return dX
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
