// Package nn holds one forward and one backward function per layer op of the
// encoder, llm.c style: plain functions on flat row-major []float32 buffers,
// no tensors and no autograd.
//
// Conventions (shared by every function here):
//   - A linear weight is [out, in] as Hugging Face stores it: y = x·Wᵀ + b.
//   - Backward functions ADD into gradient buffers; the caller zeroes them.
//     A nil gradient buffer means "not needed" and is skipped.
//   - Sizes come in as explicit ints; buffers may be longer than needed.
//     A buffer that is too short is a programming error and panics with a
//     message naming the function and the buffer.
//   - Row loops run on up to GOMAXPROCS goroutines. Work is split by rows (or,
//     for sums over rows, by columns), never by reductions, so every result is
//     bit-identical whatever the number of goroutines.
package nn

import (
	"fmt"
	"runtime"
	"sync"
)

// minParallelWork is the rough count of scalar operations below which a loop
// stays on the calling goroutine (starting goroutines costs microseconds).
// Tests lower it to force the parallel paths on small shapes.
var minParallelWork = 1 << 15

// parallelFor calls fn on contiguous chunks [lo, hi) covering [0, n), using
// up to GOMAXPROCS goroutines. work is the approximate cost of one item and
// decides how many goroutines are worth starting. fn must treat each item
// independently of the chunk it sits in.
func parallelFor(n, work int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if work < 1 {
		work = 1
	}
	workers := runtime.GOMAXPROCS(0)
	if w := n * work / minParallelWork; w < workers {
		workers = w
	}
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	fn(0, min(chunk, n))
	wg.Wait()
}

// need panics with a clear message when buf is shorter than n elements.
// A nil buf passes only when n is 0; optional buffers are checked by callers.
func need(fn, name string, buf []float32, n int) {
	if len(buf) < n {
		panic(fmt.Sprintf("nn.%s: %s has %d elements, need %d", fn, name, len(buf), n))
	}
}

// needOpt is need for optional (nil-able) buffers.
func needOpt(fn, name string, buf []float32, n int) {
	if buf != nil {
		need(fn, name, buf, n)
	}
}

// Zero sets every element of buf to 0 (handy for gradient buffers).
func Zero(buf []float32) {
	clear(buf)
}

// Add computes out = a + b over len(out) elements; out may alias a or b.
func Add(out, a, b []float32) {
	n := len(out)
	need("Add", "a", a, n)
	need("Add", "b", b, n)
	parallelFor(n, 1, func(lo, hi int) {
		o, x, y := out[lo:hi], a[lo:hi], b[lo:hi]
		for i := range o {
			o[i] = x[i] + y[i]
		}
	})
}

// AddInto computes dst += src over len(dst) elements.
func AddInto(dst, src []float32) {
	n := len(dst)
	need("AddInto", "src", src, n)
	parallelFor(n, 1, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += s[i]
		}
	})
}

// Scale computes buf *= s over len(buf) elements.
func Scale(buf []float32, s float32) {
	parallelFor(len(buf), 1, func(lo, hi int) {
		b := buf[lo:hi]
		for i := range b {
			b[i] *= s
		}
	})
}
