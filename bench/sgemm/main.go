// Command sgemm times kernels.Gemm / kernels.GemmStrided on the shapes given
// as arguments ("name:tA:tB:m:n:k:batch", tA/tB are N or T) and prints one
// line per shape, "adarank <name> <GFLOP/s>", the rate of a timed loop of at
// least -min seconds after one warm-up call. Run by ../gemm_openblas.sh.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"time"

	"github.com/adarank/adarank/internal/kernels"
)

func main() {
	minSec := flag.Float64("min", 0.3, "seconds per measurement")
	threads := flag.Int("threads", 2, "threads (GOMAXPROCS)")
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	for _, arg := range flag.Args() {
		var name string
		var ta, tb rune
		var m, n, k, batch int
		if _, err := fmt.Sscanf(replaceColons(arg), "%s %c %c %d %d %d %d", &name, &ta, &tb, &m, &n, &k, &batch); err != nil {
			fmt.Fprintf(os.Stderr, "sgemm: bad shape %q: %v\n", arg, err)
			os.Exit(2)
		}
		fmt.Printf("adarank %s %.2f\n", name, measure(ta == 'T', tb == 'T', m, n, k, batch, *minSec))
	}
}

func replaceColons(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == ':' {
			b[i] = ' '
		}
	}
	return string(b)
}

func measure(tA, tB bool, m, n, k, batch int, minSec float64) float64 {
	r := rand.New(rand.NewPCG(1, 1))
	a := make([]float32, m*k*batch)
	b := make([]float32, k*n*batch)
	c := make([]float32, m*n*batch)
	for i := range a {
		a[i] = r.Float32() - 0.5
	}
	for i := range b {
		b[i] = r.Float32() - 0.5
	}
	lda, ldb := k, n
	if tA {
		lda = m
	}
	if tB {
		ldb = k
	}
	call := func() {
		if batch == 1 {
			kernels.Gemm(tA, tB, m, n, k, 1, a, lda, b, ldb, 0, c, n)
		} else {
			kernels.GemmStrided(tA, tB, m, n, k, 1, a, lda, m*k, b, ldb, k*n, 0, c, n, m*n, batch)
		}
	}
	call()
	iters := 0
	t0 := time.Now()
	var el time.Duration
	for {
		call()
		iters++
		if el = time.Since(t0); el.Seconds() >= minSec {
			break
		}
	}
	return 2 * float64(m) * float64(n) * float64(k) * float64(batch) * float64(iters) / el.Seconds() / 1e9
}
