package cuda

// Host-side reference semantics, for emulating a device in tests of code
// built on this package (no GPU needed).

// NewHostModule parses src into a Module whose functions carry their
// signatures but no device code. Launching them needs an emulator that
// dispatches on Function.Sig.Name.
func NewHostModule(src string) (*Module, error) {
	sigs, err := ParseKernels(src)
	if err != nil {
		return nil, err
	}
	m := &Module{sigs: sigs, funcs: map[string]*Function{}}
	for name, sig := range sigs {
		m.funcs[name] = &Function{Sig: sig}
	}
	return m, nil
}

// RunHost executes the column-major call on host memory in which device
// address p is mem[p/4], as cublasSgemm(StridedBatched) would (float64
// accumulation). batch is 1 for a plain SGEMM.
func (g ColGemm) RunHost(mem []float32, alpha, beta float32, batch int) {
	for bi := 0; bi < batch; bi++ {
		a := int(g.A)/4 + bi*g.StrideA
		b := int(g.B)/4 + bi*g.StrideB
		c := int(g.C)/4 + bi*g.StrideC
		for j := 0; j < g.N; j++ {
			for i := 0; i < g.M; i++ {
				var s float64
				for l := 0; l < g.K; l++ {
					var x, y float32
					if g.TransA {
						x = mem[a+l+i*g.LDA] // op(A)[i,l] = A[l,i]
					} else {
						x = mem[a+i+l*g.LDA]
					}
					if g.TransB {
						y = mem[b+j+l*g.LDB]
					} else {
						y = mem[b+l+j*g.LDB]
					}
					s += float64(x) * float64(y)
				}
				p := c + i + j*g.LDC
				if beta == 0 {
					mem[p] = alpha * float32(s) // beta 0: C is not read (may hold NaN)
				} else {
					mem[p] = alpha*float32(s) + beta*mem[p]
				}
			}
		}
	}
}

// CheckRowMajor validates the sizes of a row-major GEMM as Gemm does.
func CheckRowMajor(tA, tB bool, M, N, K, lda, ldb, ldc int) error {
	return checkRowMajor(tA, tB, M, N, K, lda, ldb, ldc)
}
