// Package kernels holds the CPU compute kernels: matrix products and the
// vectorised element-wise loops the encoder spends its time in.
//
// Gemm is a BLIS-style blocked SGEMM: op(B) is packed in kc×nb blocks that
// stay in L2, op(A) in mb×kc blocks shared by the threads, and a register
// micro-kernel (Go assembly, AVX-512 or AVX2+FMA, chosen at run time; a
// portable Go kernel elsewhere) computes mr×nr tiles of C. Threads split the
// columns (or rows) of C, never k, and k is cut into blocks of a fixed size,
// so every C element is the same sequence of float32 operations whatever the
// thread count: results are bit-identical for 1 or N threads.
package kernels

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

//go:generate sh -c "cd _gen && go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go -pkg kernels"

// Gemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices, where
// op(A) is m×k and op(B) is k×n. With transA, A is stored k×m (lda ≥ m);
// with transB, B is stored n×k (ldb ≥ k). beta == 0 overwrites C (NaNs in C
// are not propagated). Invalid sizes or too-short slices are programming
// errors and panic with a message naming the argument.
//
// Accuracy: each C element is a float32 sum of k products accumulated in
// order, in blocks of 384 (with FMA on the assembly paths); the error is that
// of plain float32 dot products, |err| ≲ k·2⁻²⁴·Σ|a·b|.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := gemmArgs{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
	g.check("Gemm")
	if m == 0 || n == 0 {
		return
	}
	im := activeImpl()
	g.run(im, threadsFor(m, n, k))
}

// GemmStrided runs batch independent Gemms; matrix i of A starts at i*strideA,
// and likewise for B and C. The C matrices must not overlap (A and B may:
// a stride of 0 reuses one matrix). Small matrices are spread over the
// threads one whole matrix each; results match Gemm called in a loop, bit
// for bit.
func GemmStrided(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	if batch < 0 || strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("kernels: GemmStrided: negative batch %d or stride (%d, %d, %d)", batch, strideA, strideB, strideC))
	}
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	// Check the last matrix of each operand fits (the others then do too).
	last := batch - 1
	g := gemmArgs{transA, transB, m, n, k, alpha, nil, lda, nil, ldb, beta, nil, ldc}
	g.a = tail(a, last*strideA, "A")
	g.b = tail(b, last*strideB, "B")
	g.c = tail(c, last*strideC, "C")
	g.check("GemmStrided")
	im := activeImpl()
	one := func(i int) {
		gi := gemmArgs{transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc}
		gi.run(im, 1)
	}
	nt := min(maxThreads(), batch)
	work := m * n * k
	// One matrix per goroutine when the batch splits evenly enough or the
	// matrices are too small to split; otherwise each matrix uses all threads.
	if nt <= 1 || (batch%nt != 0 && batch < 4*nt && work >= 1<<21) {
		for i := 0; i < batch; i++ {
			gi := gemmArgs{transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc}
			gi.run(im, threadsFor(m, n, k))
		}
		return
	}
	// Hand out matrices dynamically: each is computed by one goroutine.
	var next atomic.Int64
	parallel(nt, func(int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= batch {
				return
			}
			one(i)
		}
	})
}

func tail(s []float32, off int, name string) []float32 {
	if off > len(s) {
		panic(fmt.Sprintf("kernels: GemmStrided: %s has %d elements, batch needs offset %d", name, len(s), off))
	}
	return s[off:]
}

// maxThreadsSetting is the SetMaxThreads value (0: GOMAXPROCS).
var maxThreadsSetting atomic.Int32

// SetMaxThreads caps the goroutines one Gemm call uses (n <= 0: GOMAXPROCS,
// the default) and returns the previous cap. Results do not depend on it.
func SetMaxThreads(n int) int {
	if n < 0 {
		n = 0
	}
	return int(maxThreadsSetting.Swap(int32(n)))
}

func maxThreads() int {
	n := int(maxThreadsSetting.Load())
	if p := runtime.GOMAXPROCS(0); n <= 0 || n > 4*p {
		if n <= 0 {
			n = p
		} else {
			n = 4 * p
		}
	}
	return n
}

// threadsFor picks the thread count for one product: small ones run on the
// calling goroutine (starting goroutines costs more than they save).
func threadsFor(m, n, k int) int {
	t := maxThreads()
	if t <= 1 {
		return 1
	}
	// Waking a parked thread costs several µs: below ~2M multiply-adds
	// (~40 µs on one core) a second thread does not pay; above, give each
	// thread at least 1M.
	work := float64(m) * float64(n) * float64(k)
	if work < 1<<21 {
		return 1
	}
	return max(1, min(t, int(work/(1<<20))))
}

type gemmArgs struct {
	transA, transB bool
	m, n, k        int
	alpha          float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	beta           float32
	c              []float32
	ldc            int
}

// check panics with a clear message if the arguments cannot describe
// matrices inside the given slices.
func (g *gemmArgs) check(fn string) {
	if g.m < 0 || g.n < 0 || g.k < 0 {
		panic(fmt.Sprintf("kernels: %s: negative size m=%d n=%d k=%d", fn, g.m, g.n, g.k))
	}
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	need := func(name string, s []float32, rows, cols, ld int) {
		if ld < max(cols, 1) {
			panic(fmt.Sprintf("kernels: %s: ld%s=%d < %d", fn, name, ld, max(cols, 1)))
		}
		if rows > 0 && cols > 0 && len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("kernels: %s: %s has %d elements, %dx%d with ld %d needs %d", fn, name, len(s), rows, cols, ld, (rows-1)*ld+cols))
		}
	}
	if g.m > 0 && g.n > 0 {
		need("a", g.a, ar, ac, g.lda)
		need("b", g.b, br, bc, g.ldb)
	}
	need("c", g.c, g.m, g.n, g.ldc)
}

// scaleC does C = beta*C (beta == 0 stores zeros).
func (g *gemmArgs) scaleC() {
	for i := 0; i < g.m; i++ {
		row := g.c[i*g.ldc : i*g.ldc+g.n]
		if g.beta == 0 {
			clear(row)
		} else if g.beta != 1 {
			for j := range row {
				row[j] *= g.beta
			}
		}
	}
}
