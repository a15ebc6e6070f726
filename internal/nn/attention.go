package nn

import (
	"math"

	"github.com/adarank/adarank/internal/kernels"
)

// AttentionForward is the multi-head self-attention core (no projections).
// q, k, v, out are [B*T, C] with C = nh·hs; head h uses columns h·hs..h·hs+hs.
// For every sequence b and head h:
//
//	att[b,h,t1,t2] = softmax_t2( q[b,t1,h]·k[b,t2,h] / √hs + maskAdd[b·T+t2] )
//	out[b,t1,h]    = Σ_t2 attUsed[b,h,t1,t2] · v[b,t2,h]
//
// maskAdd is a [B*T] additive key mask (0 keeps, a large negative such as
// -1e9 or -MaxFloat32 drops) or nil. It is added as given, so a fully masked
// row comes out uniform over the keys, as in Hugging Face. att [B,nh,T,T]
// keeps the probabilities for the backward pass. dropMask is nil (no dropout)
// or [B,nh,T,T] of 0 or 1/(1−p); then attDrop [B,nh,T,T] receives att·dropMask
// and attUsed = attDrop, otherwise attUsed = att and attDrop may be nil.
func AttentionForward(out, att, attDrop, q, k, v, maskAdd, dropMask []float32, B, T, C, nh int) {
	hs := headSize("AttentionForward", C, nh)
	need("AttentionForward", "out", out, B*T*C)
	need("AttentionForward", "att", att, B*nh*T*T)
	need("AttentionForward", "q", q, B*T*C)
	need("AttentionForward", "k", k, B*T*C)
	need("AttentionForward", "v", v, B*T*C)
	needOpt("AttentionForward", "maskAdd", maskAdd, B*T)
	if dropMask != nil {
		need("AttentionForward", "dropMask", dropMask, B*nh*T*T)
		need("AttentionForward", "attDrop", attDrop, B*nh*T*T)
	}
	if B == 0 || T == 0 || C == 0 {
		return
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	TT := T * T
	// One (sequence, head) pair per item; pairs write disjoint memory.
	parallelFor(B*nh, 2*TT*hs+8*TT, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/nh, bh%nh
			off := b*T*C + h*hs // first element of head h of sequence b
			a := att[bh*TT : bh*TT+TT]
			kernels.Gemm(false, true, T, T, hs, scale, q[off:], C, k[off:], C, 0, a, T)
			var m []float32
			if maskAdd != nil {
				m = maskAdd[b*T : b*T+T]
			}
			for t := 0; t < T; t++ {
				softmaxRow(a[t*T:t*T+T], m)
			}
			used := a
			if dropMask != nil {
				used = attDrop[bh*TT : bh*TT+TT]
				dm := dropMask[bh*TT : bh*TT+TT]
				for i, p := range a {
					used[i] = p * dm[i]
				}
			}
			kernels.Gemm(false, false, T, hs, T, 1, used, T, v[off:], C, 0, out[off:], C)
		}
	})
}

// AttentionBackward accumulates the gradients of AttentionForward into dQ,
// dK, dV (each [B*T, C], any may be nil). dAtt is scratch [B,nh,T,T]
// (overwritten); att, attDrop and dropMask are what the forward used.
func AttentionBackward(dQ, dK, dV, dAtt, dOut, q, k, v, att, attDrop, dropMask []float32, B, T, C, nh int) {
	hs := headSize("AttentionBackward", C, nh)
	need("AttentionBackward", "dOut", dOut, B*T*C)
	need("AttentionBackward", "att", att, B*nh*T*T)
	needOpt("AttentionBackward", "dQ", dQ, B*T*C)
	needOpt("AttentionBackward", "dK", dK, B*T*C)
	needOpt("AttentionBackward", "dV", dV, B*T*C)
	if dQ != nil || dK != nil {
		need("AttentionBackward", "dAtt", dAtt, B*nh*T*T)
		need("AttentionBackward", "v", v, B*T*C)
	}
	if dQ != nil {
		need("AttentionBackward", "k", k, B*T*C)
	}
	if dK != nil {
		need("AttentionBackward", "q", q, B*T*C)
	}
	if dropMask != nil {
		need("AttentionBackward", "dropMask", dropMask, B*nh*T*T)
		need("AttentionBackward", "attDrop", attDrop, B*nh*T*T)
	}
	if B == 0 || T == 0 || C == 0 {
		return
	}
	scale := float32(1 / math.Sqrt(float64(hs)))
	TT := T * T
	parallelFor(B*nh, 4*TT*hs+8*TT, func(lo, hi int) {
		for bh := lo; bh < hi; bh++ {
			b, h := bh/nh, bh%nh
			off := b*T*C + h*hs
			a := att[bh*TT : bh*TT+TT]
			used := a
			if dropMask != nil {
				used = attDrop[bh*TT : bh*TT+TT]
			}
			// dV += attUsedᵀ · dOut
			if dV != nil {
				kernels.Gemm(true, false, T, hs, T, 1, used, T, dOut[off:], C, 1, dV[off:], C)
			}
			if dQ == nil && dK == nil {
				continue
			}
			// dAttUsed = dOut · vᵀ, then through the dropout mask to dAtt.
			da := dAtt[bh*TT : bh*TT+TT]
			kernels.Gemm(false, true, T, T, hs, 1, dOut[off:], C, v[off:], C, 0, da, T)
			if dropMask != nil {
				dm := dropMask[bh*TT : bh*TT+TT]
				for i := range da {
					da[i] *= dm[i]
				}
			}
			// Softmax backward in place: dPre = att ⊙ (dAtt − Σ_t dAtt·att).
			for t := 0; t < T; t++ {
				softmaxRowBackward(da[t*T:t*T+T], a[t*T:t*T+T])
			}
			// Scores were scale·q·kᵀ: dQ += scale·dPre·k ; dK += scale·dPreᵀ·q.
			if dQ != nil {
				kernels.Gemm(false, false, T, hs, T, scale, da, T, k[off:], C, 1, dQ[off:], C)
			}
			if dK != nil {
				kernels.Gemm(true, false, T, hs, T, scale, da, T, q[off:], C, 1, dK[off:], C)
			}
		}
	})
}

// headSize returns C/nh and panics when the heads do not tile C.
func headSize(fn string, C, nh int) int {
	if nh <= 0 || C%nh != 0 {
		panic("nn." + fn + ": C must be a positive multiple of nh")
	}
	return C / nh
}

// softmaxRow replaces row by softmax(row + mask) (mask may be nil), max-
// subtracted. A row whose every entry is −Inf becomes uniform instead of NaN.
func softmaxRow(row, mask []float32) {
	if mask != nil {
		for j := range row {
			row[j] += mask[j]
		}
	}
	mx := float32(math.Inf(-1))
	for _, x := range row {
		if x > mx {
			mx = x
		}
	}
	if math.IsInf(float64(mx), -1) {
		u := 1 / float32(len(row))
		for j := range row {
			row[j] = u
		}
		return
	}
	var sum float64
	for j, x := range row {
		e := float32(math.Exp(float64(x - mx)))
		row[j] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for j := range row {
		row[j] *= inv
	}
}

// softmaxRowBackward turns d (the gradient w.r.t. the probabilities p) into
// the gradient w.r.t. the softmax input, in place: d = p ⊙ (d − Σ d·p).
func softmaxRowBackward(d, p []float32) {
	var s float64
	for j, x := range d {
		s += float64(x * p[j])
	}
	sf := float32(s)
	for j, x := range d {
		d[j] = p[j] * (x - sf)
	}
}
