package nn

import "github.com/adarank/adarank/internal/kernels"

// LinearForward computes out[n,outF] = in[n,inF] · w[outF,inF]ᵀ + bias[outF].
// bias may be nil.
func LinearForward(out, in, w, bias []float32, n, inF, outF int) {
	need("LinearForward", "out", out, n*outF)
	need("LinearForward", "in", in, n*inF)
	need("LinearForward", "w", w, outF*inF)
	needOpt("LinearForward", "bias", bias, outF)
	if n == 0 || outF == 0 {
		return
	}
	kernels.Gemm(false, true, n, outF, inF, 1, in, inF, w, inF, 0, out, outF)
	if bias != nil {
		addBiasRows(out, bias, n, outF)
	}
}

// addBiasRows adds bias[c] to each of the n rows of out[n,c].
func addBiasRows(out, bias []float32, n, c int) {
	parallelFor(n, c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := out[i*c : i*c+c]
			for j, b := range bias[:c] {
				row[j] += b
			}
		}
	})
}

// LinearBackward accumulates the gradients of LinearForward:
// dIn[n,inF] += dOut·w ; dW[outF,inF] += dOutᵀ·in ; dBias[outF] += Σ_rows dOut.
// Any of dIn, dW, dBias may be nil.
func LinearBackward(dIn, dW, dBias, dOut, in, w []float32, n, inF, outF int) {
	need("LinearBackward", "dOut", dOut, n*outF)
	needOpt("LinearBackward", "dIn", dIn, n*inF)
	needOpt("LinearBackward", "dW", dW, outF*inF)
	needOpt("LinearBackward", "dBias", dBias, outF)
	if n == 0 || outF == 0 {
		return // dOut is empty: every gradient term is zero
	}
	if dIn != nil && inF > 0 {
		need("LinearBackward", "w", w, outF*inF)
		kernels.Gemm(false, false, n, inF, outF, 1, dOut, outF, w, inF, 1, dIn, inF)
	}
	if dW != nil && inF > 0 && outF > 0 {
		need("LinearBackward", "in", in, n*inF)
		kernels.Gemm(true, false, outF, inF, n, 1, dOut, outF, in, inF, 1, dW, inF)
	}
	if dBias != nil {
		sumRows(dBias, dOut, n, outF)
	}
}

// sumRows computes dst[c] += Σ_i src[i,c] over n rows. Columns are split
// across goroutines and each column is summed in row order, so the result
// does not depend on the split.
func sumRows(dst, src []float32, n, c int) {
	parallelFor(c, n, func(lo, hi int) {
		acc := make([]float32, hi-lo)
		for i := 0; i < n; i++ {
			row := src[i*c+lo : i*c+hi]
			for j, v := range row {
				acc[j] += v
			}
		}
		for j, v := range acc {
			dst[lo+j] += v
		}
	})
}

// LoRAForward adds a LoRA path to an existing output:
// tmp[n,r] = in·Aᵀ (A is [r,inF]); out[n,outF] += scale · tmp·Bᵀ (B is [outF,r]).
// tmp is saved for LoRABackward.
func LoRAForward(out, tmp, in, a, b []float32, scale float32, n, inF, outF, r int) {
	need("LoRAForward", "out", out, n*outF)
	need("LoRAForward", "tmp", tmp, n*r)
	need("LoRAForward", "in", in, n*inF)
	need("LoRAForward", "a", a, r*inF)
	need("LoRAForward", "b", b, outF*r)
	if n == 0 || r == 0 {
		return
	}
	kernels.Gemm(false, true, n, r, inF, 1, in, inF, a, inF, 0, tmp, r)
	if outF > 0 {
		kernels.Gemm(false, true, n, outF, r, scale, tmp, r, b, r, 1, out, outF)
	}
}

// LoRABackward accumulates the gradients of LoRAForward:
// dB += scale·dOutᵀ·tmp ; dTmp = scale·dOut·B (scratch [n,r], overwritten) ;
// dA += dTmpᵀ·in ; dIn += dTmp·A. Any of dIn, dA, dB may be nil; dTmp is
// needed only when dA or dIn is given.
func LoRABackward(dIn, dA, dB, dTmp, dOut, in, tmp, a, b []float32, scale float32, n, inF, outF, r int) {
	need("LoRABackward", "dOut", dOut, n*outF)
	needOpt("LoRABackward", "dIn", dIn, n*inF)
	needOpt("LoRABackward", "dA", dA, r*inF)
	needOpt("LoRABackward", "dB", dB, outF*r)
	if n == 0 || r == 0 {
		return
	}
	if dB != nil && outF > 0 {
		need("LoRABackward", "tmp", tmp, n*r)
		kernels.Gemm(true, false, outF, r, n, scale, dOut, outF, tmp, r, 1, dB, r)
	}
	if dA == nil && dIn == nil {
		return
	}
	need("LoRABackward", "dTmp", dTmp, n*r)
	need("LoRABackward", "b", b, outF*r)
	if outF > 0 {
		kernels.Gemm(false, false, n, r, outF, scale, dOut, outF, b, r, 0, dTmp, r)
	} else {
		clear(dTmp[:n*r])
	}
	if inF == 0 {
		return
	}
	if dA != nil {
		need("LoRABackward", "in", in, n*inF)
		kernels.Gemm(true, false, r, inF, n, 1, dTmp, r, in, inF, 1, dA, inF)
	}
	if dIn != nil {
		need("LoRABackward", "a", a, r*inF)
		kernels.Gemm(false, false, n, inF, r, 1, dTmp, r, a, inF, 1, dIn, inF)
	}
}
