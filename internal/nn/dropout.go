package nn

import "math/rand/v2"

// DropoutForward computes out = in·mask over len(out) elements, where mask
// holds 0 or 1/(1−p) (see FillDropoutMask). out may alias in.
func DropoutForward(out, in, mask []float32) {
	n := len(out)
	need("DropoutForward", "in", in, n)
	need("DropoutForward", "mask", mask, n)
	parallelFor(n, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = in[i] * mask[i]
		}
	})
}

// DropoutBackward accumulates dIn += dOut·mask over len(dIn) elements.
func DropoutBackward(dIn, dOut, mask []float32) {
	n := len(dIn)
	need("DropoutBackward", "dOut", dOut, n)
	need("DropoutBackward", "mask", mask, n)
	parallelFor(n, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dIn[i] += dOut[i] * mask[i]
		}
	})
}

// FillDropoutMask draws an inverted-dropout mask: each element is 0 with
// probability p and 1/(1−p) otherwise, one rng.Float32 draw per element in
// order. p ≤ 0 gives all ones (and draws nothing); p ≥ 1 gives all zeros.
func FillDropoutMask(mask []float32, p float32, rng *rand.Rand) {
	switch {
	case p <= 0:
		for i := range mask {
			mask[i] = 1
		}
		return
	case p >= 1:
		clear(mask)
		return
	}
	keep := 1 / (1 - p)
	for i := range mask {
		if rng.Float32() < p {
			mask[i] = 0
		} else {
			mask[i] = keep
		}
	}
}
