package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestCmpRowA(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes[6:] {
		a := randSlice(r, s.m*s.k*s.batch)
		bb := randSlice(r, s.k*s.n*s.batch)
		c := make([]float32, s.m*s.n*s.batch)
		lda, ldb := s.k, s.n
		if s.transB {
			ldb = s.k
		}
		run := func() time.Duration {
			t0 := time.Now()
			for it := 0; it < 5; it++ {
				for i := 0; i < s.batch; i++ {
					Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a[i*s.m*s.k:], lda, bb[i*s.k*s.n:], ldb, 0, c[i*s.m*s.n:], s.n)
				}
			}
			return time.Since(t0)
		}
		prev := SetMaxThreads(1)
		best := [2]time.Duration{1 << 62, 1 << 62}
		save := avx512Impl.kernelRowA
		for rep := 0; rep < 40; rep++ {
			for v := 0; v < 2; v++ {
				if v == 0 {
					avx512Impl.kernelRowA = save
				} else {
					avx512Impl.kernelRowA = nil
				}
				best[v] = min(best[v], run())
			}
		}
		avx512Impl.kernelRowA = save
		SetMaxThreads(prev)
		fl := 2 * float64(s.m*s.n*s.k*s.batch) * 5
		fmt.Printf("%s rowA %.1f packed %.1f GFLOP/s\n", s.name, fl/best[0].Seconds()/1e9, fl/best[1].Seconds()/1e9)
	}
}
