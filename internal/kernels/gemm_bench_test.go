package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShape is one SGEMM of the encoder (BERT-base: hidden 768, FFN 3072,
// 1024 tokens a batch, 12 heads of 64 over 128 tokens, batch 8).
type benchShape struct {
	name           string
	transA, transB bool
	m, n, k, batch int
}

var benchShapes = []benchShape{
	{"768x768x768_NN", false, false, 768, 768, 768, 1},
	{"768x768x768_NT", false, true, 768, 768, 768, 1},
	{"1024x768x3072_NT", false, true, 1024, 768, 3072, 1},
	{"1024x3072x768_NT", false, true, 1024, 3072, 768, 1},
	{"1024x3072x768_NN", false, false, 1024, 3072, 768, 1},
	{"768x3072x1024_TN", true, false, 768, 3072, 1024, 1},
	{"96x128x128x64_NT", false, true, 128, 128, 64, 96},
	{"96x128x64x128_NN", false, false, 128, 64, 128, 96},
}

func benchGemm(b *testing.B, s benchShape) {
	r := rand.New(rand.NewPCG(1, 1))
	a := randSlice(r, s.m*s.k*s.batch)
	bb := randSlice(r, s.k*s.n*s.batch)
	c := make([]float32, s.m*s.n*s.batch)
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.batch == 1 {
			Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
		} else {
			GemmStrided(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, s.m*s.k, bb, ldb, s.k*s.n, 0, c, s.n, s.m*s.n, s.batch)
		}
	}
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(s.batch)
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkGemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchGemm(b, s) })
	}
}

// BenchmarkGemmImpl compares the implementations on one thread.
func BenchmarkGemmImpl(b *testing.B) {
	for _, im := range availableImpls() {
		for _, s := range benchShapes[:2] {
			b.Run(fmt.Sprintf("%s/%s", im.name, s.name), func(b *testing.B) {
				prev := SetMaxThreads(1)
				defer SetMaxThreads(prev)
				withImpl(im, func() { benchGemm(b, s) })
			})
		}
	}
}
