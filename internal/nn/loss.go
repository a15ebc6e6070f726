package nn

import "math"

// CrossEntropyForward computes a softmax over classes for each of the n rows
// of logits[n,classes]: probs[n,classes] (saved for backward) and
// losses[i] = −log probs[i,labels[i]], computed as logsumexp − logit so that
// it stays finite. Rows with labels[i] < 0 are ignored (loss 0, probs still
// filled), as Hugging Face's −100 for MLM. Labels must be < classes.
func CrossEntropyForward(losses, probs, logits []float32, labels []int32, n, classes int) {
	need("CrossEntropyForward", "losses", losses, n)
	need("CrossEntropyForward", "probs", probs, n*classes)
	need("CrossEntropyForward", "logits", logits, n*classes)
	if len(labels) < n {
		panic("nn.CrossEntropyForward: labels shorter than n")
	}
	parallelFor(n, 16*classes, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := logits[i*classes : i*classes+classes]
			p := probs[i*classes : i*classes+classes]
			mx := float32(math.Inf(-1))
			for _, v := range x {
				if v > mx {
					mx = v
				}
			}
			var sum float64
			for j, v := range x {
				e := math.Exp(float64(v - mx))
				p[j] = float32(e)
				sum += e
			}
			inv := float32(1 / sum)
			for j := range p {
				p[j] *= inv
			}
			if y := labels[i]; y >= 0 {
				losses[i] = float32(math.Log(sum) - float64(x[y]-mx))
			} else {
				losses[i] = 0
			}
		}
	})
}

// CrossEntropyBackward accumulates dLogits[i,:] += scale·(probs[i,:] − onehot(labels[i]))
// for each row with labels[i] ≥ 0; scale is e.g. 1/count for a mean, 1 for a sum.
func CrossEntropyBackward(dLogits, probs []float32, labels []int32, n, classes int, scale float32) {
	if dLogits == nil {
		return
	}
	need("CrossEntropyBackward", "dLogits", dLogits, n*classes)
	need("CrossEntropyBackward", "probs", probs, n*classes)
	if len(labels) < n {
		panic("nn.CrossEntropyBackward: labels shorter than n")
	}
	parallelFor(n, classes, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y := labels[i]
			if y < 0 {
				continue
			}
			d := dLogits[i*classes : i*classes+classes]
			p := probs[i*classes : i*classes+classes]
			for j, v := range p {
				if j == int(y) {
					v -= 1 // exact for v ≥ 0.5
				}
				d[j] += scale * v
			}
		}
	})
}

// CountLabels returns the number of rows with labels[i] ≥ 0 (the divisor of
// a mean cross-entropy that ignores −100 labels).
func CountLabels(labels []int32) int {
	c := 0
	for _, y := range labels {
		if y >= 0 {
			c++
		}
	}
	return c
}

// SoftmaxForward writes probs[i,:] = softmax(logits[i,:]) for n rows of
// classes values (inference: class probabilities without labels).
// probs may alias logits.
func SoftmaxForward(probs, logits []float32, n, classes int) {
	need("SoftmaxForward", "probs", probs, n*classes)
	need("SoftmaxForward", "logits", logits, n*classes)
	parallelFor(n, 16*classes, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p := probs[i*classes : i*classes+classes]
			copy(p, logits[i*classes:i*classes+classes])
			softmaxRow(p, nil)
		}
	})
}
