//go:build !purego

package kernels

import "testing"

// BenchmarkKernel512 times the AVX-512 micro-kernel alone (B block in L2).
func BenchmarkKernel512(b *testing.B) {
	kc := 384
	a := make([]float32, 14*kc)
	bb := make([]float32, 32*kc*15)
	c := make([]float32, 14*32*15)
	for i := 0; i < b.N; i++ {
		for j := 0; j < 15; j++ {
			kernelAVX512(14, 32, kc, a, 14, bb[j*32*kc:], 32, c[j*32:], 32*15, 1, 1)
		}
	}
	b.ReportMetric(2*14*32*float64(kc)*15*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkAttentionOneThread runs the batched attention shapes on one
// thread (for profiling the small-matrix path).
func BenchmarkAttentionOneThread(b *testing.B) {
	for _, s := range benchShapes[6:] {
		b.Run(s.name, func(b *testing.B) {
			prev := SetMaxThreads(1)
			defer SetMaxThreads(prev)
			benchGemm(b, s)
		})
	}
}

// BenchmarkPackA times packing a 768×768 row-major A into 14-row panels.
func BenchmarkPackA(b *testing.B) {
	const m, k = 768, 768
	a := make([]float32, m*k)
	dst := make([]float32, (m+13)/14*14*k)
	g := gemmArgs{m: m, k: k, a: a, lda: k}
	for i := 0; i < b.N; i++ {
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			for q := 0; q*14 < m; q++ {
				off := pc*((m+13)/14*14) + q*14*kc
				g.packA(dst[off:off+14*kc], q*14, min(14, m-q*14), pc, kc, 14)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(m*k), "ns/elem")
}
