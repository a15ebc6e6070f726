package nn

import "math"

// LayerNormForward normalises each of the n rows of in[n,c] over its c
// elements: out = (x − mean)·rstd·gamma + beta, with rstd = 1/sqrt(var + eps)
// and the population variance, as torch.nn.LayerNorm. mean[n] and rstd[n] are
// saved for the backward pass. Mean and variance use two passes with float64
// accumulators (no E[x²]−E[x]² cancellation). gamma and beta may be nil
// (no affine transform).
func LayerNormForward(out, mean, rstd, in, gamma, beta []float32, n, c int, eps float32) {
	need("LayerNormForward", "out", out, n*c)
	need("LayerNormForward", "mean", mean, n)
	need("LayerNormForward", "rstd", rstd, n)
	need("LayerNormForward", "in", in, n*c)
	needOpt("LayerNormForward", "gamma", gamma, c)
	needOpt("LayerNormForward", "beta", beta, c)
	if c == 0 {
		return
	}
	parallelFor(n, 4*c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := in[i*c : i*c+c]
			o := out[i*c : i*c+c]
			var s float64
			for _, v := range x {
				s += float64(v)
			}
			m := float32(s / float64(c))
			var ss float64
			for _, v := range x {
				d := float64(v - m)
				ss += d * d
			}
			rs := float32(1 / math.Sqrt(ss/float64(c)+float64(eps)))
			mean[i], rstd[i] = m, rs
			switch {
			case gamma != nil && beta != nil:
				for j, v := range x {
					o[j] = (v-m)*rs*gamma[j] + beta[j]
				}
			case gamma != nil:
				for j, v := range x {
					o[j] = (v - m) * rs * gamma[j]
				}
			default:
				for j, v := range x {
					o[j] = (v - m) * rs
				}
				if beta != nil {
					for j := range o {
						o[j] += beta[j]
					}
				}
			}
		}
	})
}

// LayerNormBackward accumulates the gradients of LayerNormForward, using the
// saved mean and rstd. Any of dIn, dGamma, dBeta may be nil; gamma nil means
// the forward had no scale.
func LayerNormBackward(dIn, dGamma, dBeta, dOut, in, gamma, mean, rstd []float32, n, c int) {
	need("LayerNormBackward", "dOut", dOut, n*c)
	need("LayerNormBackward", "in", in, n*c)
	need("LayerNormBackward", "mean", mean, n)
	need("LayerNormBackward", "rstd", rstd, n)
	needOpt("LayerNormBackward", "gamma", gamma, c)
	needOpt("LayerNormBackward", "dIn", dIn, n*c)
	needOpt("LayerNormBackward", "dGamma", dGamma, c)
	needOpt("LayerNormBackward", "dBeta", dBeta, c)
	if c == 0 || n == 0 {
		return
	}
	if dIn != nil {
		// dx = rstd·(dn − mean(dn) − x̂·mean(dn·x̂)), dn = dOut·gamma, x̂ = normalised x.
		parallelFor(n, 8*c, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				x := in[i*c : i*c+c]
				dy := dOut[i*c : i*c+c]
				dx := dIn[i*c : i*c+c]
				m, rs := mean[i], rstd[i]
				var sdn, sdnx float64
				for j, v := range x {
					dn := dy[j]
					if gamma != nil {
						dn *= gamma[j]
					}
					xh := (v - m) * rs
					sdn += float64(dn)
					sdnx += float64(dn * xh)
				}
				mdn := float32(sdn / float64(c))
				mdnx := float32(sdnx / float64(c))
				for j, v := range x {
					dn := dy[j]
					if gamma != nil {
						dn *= gamma[j]
					}
					xh := (v - m) * rs
					dx[j] += (dn - mdn - xh*mdnx) * rs
				}
			}
		})
	}
	if dGamma == nil && dBeta == nil {
		return
	}
	// Sums over rows: split columns, sum each column in row order.
	parallelFor(c, 2*n, func(lo, hi int) {
		var accG, accB []float32
		if dGamma != nil {
			accG = make([]float32, hi-lo)
		}
		if dBeta != nil {
			accB = make([]float32, hi-lo)
		}
		for i := 0; i < n; i++ {
			x := in[i*c+lo : i*c+hi]
			dy := dOut[i*c+lo : i*c+hi]
			m, rs := mean[i], rstd[i]
			if accG != nil {
				for j, v := range x {
					accG[j] += dy[j] * ((v - m) * rs)
				}
			}
			if accB != nil {
				for j, g := range dy {
					accB[j] += g
				}
			}
		}
		for j := range hi - lo {
			if accG != nil {
				dGamma[lo+j] += accG[j]
			}
			if accB != nil {
				dBeta[lo+j] += accB[j]
			}
		}
	})
}
