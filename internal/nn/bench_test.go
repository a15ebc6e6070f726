package nn

import "testing"

// BERT-base shapes: B=8 sequences of T=128 tokens, C=768, 12 heads.
const bB, bT, bC, bNH = 8, 128, 768, 12

type attnBench struct {
	q, k, v, mask, out, att, attDrop, drop, dQ, dK, dV, dAtt, dOut []float32
}

func newAttnBench(dropout bool) *attnBench {
	rng := newRNG(1)
	n, NH := bB*bT*bC, bB*bNH*bT*bT
	s := &attnBench{
		q: randVec(rng, n, 1), k: randVec(rng, n, 1), v: randVec(rng, n, 1),
		mask: make([]float32, bB*bT), out: make([]float32, n), att: make([]float32, NH),
		dQ: make([]float32, n), dK: make([]float32, n), dV: make([]float32, n),
		dAtt: make([]float32, NH), dOut: randVec(rng, n, 1),
	}
	for i := range s.mask {
		if i%bT >= 100 { // some padding
			s.mask[i] = -1e9
		}
	}
	if dropout {
		s.drop, s.attDrop = make([]float32, NH), make([]float32, NH)
		FillDropoutMask(s.drop, 0.1, rng)
	}
	return s
}

func benchAttention(b *testing.B, dropout, backward bool) {
	s := newAttnBench(dropout)
	AttentionForward(s.out, s.att, s.attDrop, s.q, s.k, s.v, s.mask, s.drop, bB, bT, bC, bNH)
	b.ResetTimer()
	for b.Loop() {
		if backward {
			AttentionBackward(s.dQ, s.dK, s.dV, s.dAtt, s.dOut, s.q, s.k, s.v, s.att, s.attDrop, s.drop, bB, bT, bC, bNH)
		} else {
			AttentionForward(s.out, s.att, s.attDrop, s.q, s.k, s.v, s.mask, s.drop, bB, bT, bC, bNH)
		}
	}
}

func BenchmarkAttentionForward(b *testing.B)         { benchAttention(b, false, false) }
func BenchmarkAttentionForwardDropout(b *testing.B)  { benchAttention(b, true, false) }
func BenchmarkAttentionBackward(b *testing.B)        { benchAttention(b, false, true) }
func BenchmarkAttentionBackwardDropout(b *testing.B) { benchAttention(b, true, true) }

func BenchmarkLayerNormForward(b *testing.B) {
	rng := newRNG(2)
	n := bB * bT
	in, gamma, beta := randVec(rng, n*bC, 1), randVec(rng, bC, 1), randVec(rng, bC, 1)
	out, mean, rstd := make([]float32, n*bC), make([]float32, n), make([]float32, n)
	b.SetBytes(int64(8 * n * bC))
	for b.Loop() {
		LayerNormForward(out, mean, rstd, in, gamma, beta, n, bC, 1e-12)
	}
}

func BenchmarkLayerNormBackward(b *testing.B) {
	rng := newRNG(3)
	n := bB * bT
	in, gamma, beta := randVec(rng, n*bC, 1), randVec(rng, bC, 1), randVec(rng, bC, 1)
	out, mean, rstd := make([]float32, n*bC), make([]float32, n), make([]float32, n)
	LayerNormForward(out, mean, rstd, in, gamma, beta, n, bC, 1e-12)
	dOut := randVec(rng, n*bC, 1)
	dIn, dG, dB := make([]float32, n*bC), make([]float32, bC), make([]float32, bC)
	b.SetBytes(int64(12 * n * bC))
	for b.Loop() {
		LayerNormBackward(dIn, dG, dB, dOut, in, gamma, mean, rstd, n, bC)
	}
}

func BenchmarkGelu(b *testing.B) {
	rng := newRNG(4)
	n := bB * bT * 4 * bC
	in, out := randVec(rng, n, 3), make([]float32, n)
	b.SetBytes(int64(8 * n))
	for b.Loop() {
		GeluForward(out, in)
	}
}
