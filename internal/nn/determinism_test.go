package nn

import (
	"math"
	"runtime"
	"testing"
)

// runAllOps runs every forward and backward op on fixed inputs and returns
// all outputs, for bit-exact comparison across thread counts.
func runAllOps() [][]float32 {
	rng := newRNG(42)
	const B, T, C, nh, F, r, classes = 3, 17, 24, 4, 40, 5, 7
	n := B * T
	var res [][]float32
	keep := func(x ...[]float32) { res = append(res, x...) }

	in := randVec(rng, n*C, 1)
	w, bias := randVec(rng, F*C, 0.2), randVec(rng, F, 0.2)
	lin := make([]float32, n*F)
	LinearForward(lin, in, w, bias, n, C, F)
	a, b := randVec(rng, r*C, 0.2), randVec(rng, F*r, 0.2)
	tmp := make([]float32, n*r)
	LoRAForward(lin, tmp, in, a, b, 2, n, C, F, r)
	dLin := randVec(rng, n*F, 1)
	dIn, dW, dB := make([]float32, n*C), make([]float32, F*C), make([]float32, F)
	LinearBackward(dIn, dW, dB, dLin, in, w, n, C, F)
	dA, dBl, dTmp := make([]float32, r*C), make([]float32, F*r), make([]float32, n*r)
	LoRABackward(dIn, dA, dBl, dTmp, dLin, in, tmp, a, b, 2, n, C, F, r)
	keep(lin, tmp, dIn, dW, dB, dA, dBl)

	gamma, beta := randVec(rng, C, 1), randVec(rng, C, 1)
	ln, mean, rstd := make([]float32, n*C), make([]float32, n), make([]float32, n)
	LayerNormForward(ln, mean, rstd, in, gamma, beta, n, C, 1e-12)
	dLnIn, dG, dBe := make([]float32, n*C), make([]float32, C), make([]float32, C)
	LayerNormBackward(dLnIn, dG, dBe, in, in, gamma, mean, rstd, n, C)
	keep(ln, mean, rstd, dLnIn, dG, dBe)

	for _, act := range []Act{ActGelu, ActGeluTanh, ActRelu, ActTanh} {
		o, d := make([]float32, n*F), make([]float32, n*F)
		ActForward(act, o, lin)
		ActBackward(act, d, dLin, lin, o)
		keep(o, d)
	}

	q, k, v := randVec(rng, n*C, 1), randVec(rng, n*C, 1), randVec(rng, n*C, 1)
	mask := make([]float32, n)
	for t := T - 4; t < T; t++ {
		mask[T+t] = -1e9
	}
	NH := B * nh * T * T
	drop := make([]float32, NH)
	FillDropoutMask(drop, 0.1, rng)
	att, attDrop, out := make([]float32, NH), make([]float32, NH), make([]float32, n*C)
	AttentionForward(out, att, attDrop, q, k, v, mask, drop, B, T, C, nh)
	dQ, dK, dV, dAtt := make([]float32, n*C), make([]float32, n*C), make([]float32, n*C), make([]float32, NH)
	AttentionBackward(dQ, dK, dV, dAtt, in, q, k, v, att, attDrop, drop, B, T, C, nh)
	keep(att, attDrop, out, dQ, dK, dV)

	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(rng.IntN(9))
	}
	table := randVec(rng, 9*C, 1)
	emb, dTable := make([]float32, n*C), make([]float32, 9*C)
	EmbeddingForward(emb, ids, table, C)
	EmbeddingBackward(dTable, ids, in, C)
	keep(emb, dTable)

	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(rng.IntN(classes+1)) - 1
	}
	logits := randVec(rng, n*classes, 3)
	losses, probs, dLogits := make([]float32, n), make([]float32, n*classes), make([]float32, n*classes)
	CrossEntropyForward(losses, probs, logits, labels, n, classes)
	CrossEntropyBackward(dLogits, probs, labels, n, classes, 0.1)
	keep(losses, probs, dLogits)

	sum := make([]float32, n*C)
	Add(sum, in, q)
	AddInto(sum, k)
	DropoutForward(sum, sum, drop[:len(sum)])
	keep(sum)
	return res
}

func TestDeterministicAcrossThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer func(v int) { minParallelWork = v }(minParallelWork)
	minParallelWork = 1 // force the parallel paths on these small shapes

	runtime.GOMAXPROCS(1)
	want := runAllOps()
	for _, procs := range []int{2, 3, 7} {
		runtime.GOMAXPROCS(procs)
		got := runAllOps()
		for i := range want {
			for j := range want[i] {
				if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
					t.Fatalf("GOMAXPROCS=%d: output %d element %d = %v, want %v (bit-identical)", procs, i, j, got[i][j], want[i][j])
				}
			}
		}
	}
}

func TestParallelForCoversRange(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer func(v int) { minParallelWork = v }(minParallelWork)
	minParallelWork = 1
	for _, procs := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 2, 5, 17, 100} {
			hits := make([]int32, n)
			parallelFor(n, 1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					hits[i]++ // disjoint chunks: no race
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("procs %d n %d: item %d visited %d times", procs, n, i, h)
				}
			}
		}
	}
}
