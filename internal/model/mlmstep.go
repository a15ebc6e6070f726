package model

import "github.com/adarank/adarank/internal/nn"

// MLMStep runs the encoder and the masked-LM head on b and the
// cross-entropy of the given rows (indices into the B·T positions) against
// labels; with g set it also runs the backward pass, adding the gradients of
// scale × the summed loss into g. It returns the summed loss and how many
// rows were predicted right (argmax, first of equals).
func (m *Model) MLMStep(b Batch, rows, labels []int32, scale float32, opt FwdOpts, g *Params) (float64, int, error) {
	ws := m.NewWorkspace(b.B, b.T, g != nil, nil)
	m.Encode(ws, b, nil, opt)
	a, err := m.MLMForward(ws, rows)
	if err != nil {
		return 0, 0, err
	}
	n, V := len(rows), m.Cfg.Vocab
	losses := make([]float32, n)
	probs := make([]float32, n*V)
	nn.CrossEntropyForward(losses, probs, a.Logits, labels, n, V)
	var sum float64
	correct := 0
	for i, l := range losses {
		sum += float64(l)
		row := probs[i*V : (i+1)*V]
		best := 0
		for k := range row {
			if row[k] > row[best] {
				best = k
			}
		}
		if int32(best) == labels[i] {
			correct++
		}
	}
	if g != nil {
		dLogits := make([]float32, n*V)
		nn.CrossEntropyBackward(dLogits, probs, labels, n, V, scale)
		dHidden := make([]float32, b.B*b.T*m.Cfg.Hidden)
		m.MLMBackward(a, dLogits, dHidden, Grads{Base: g})
		m.Backward(ws, dHidden, nil, Grads{Base: g}, opt)
	}
	return sum, correct, nil
}
