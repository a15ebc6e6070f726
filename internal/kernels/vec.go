package kernels

import (
	"fmt"
	"math"
)

// Vector primitives. On amd64 with AVX2+FMA the bulk of each loop runs in
// assembly (8-wide, four accumulators for the reductions); elsewhere, or
// with the purego build tag, in Go. Reductions (Dot, Sum) add in a fixed
// lane order that depends only on the length and the path, never on timing.
//
// Accuracy of the assembly element-wise functions, measured against
// float64 math on dense grids (see vec_test.go):
//   - Exp: relative error ≤ 1e-7 (about 1 ulp; Cephes expf). Inputs above 88
//     saturate at exp(88) ≈ 1.65e38; inputs below -87.33 (results under the
//     smallest normal float32) and NaN give 0.
//   - Tanh: relative and absolute error ≤ 3e-7 (rational approximation on
//     ±7.9, ±1 beyond).
//   - GeluErf: error ≤ 3e-7·max(1, |x|) (erf by a rational approximation on
//     ±4, ±1 beyond).
//   - GeluErfBackward: GELU'(x) with absolute error ≤ 2.5e-7.
// The Go fallbacks round float64 math.Exp/Tanh/Erf to float32.

// Assembly bodies, set by the amd64 init when the CPU has AVX2+FMA. Each
// handles a prefix whose length is a multiple of its block size.
var (
	dotAsm     func(x, y *float32, n int) float32
	sumAsm     func(x *float32, n int) float32
	maxAsm     func(x *float32, n int) float32
	axpyAsm    func(alpha float32, x, y *float32, n int)
	scaleAsm   func(alpha float32, x *float32, n int)
	expAsm     func(dst, src *float32, n int, sub float32) float32
	tanhAsm    func(dst, src *float32, n int)
	geluErfAsm func(dst, src *float32, n int)
	geluBwdAsm func(dx, x, dy *float32, n int)
)

// vecAsm switches the assembly vector paths (tests turn it off to check
// the Go fallbacks).
var vecAsm = true

func sameLen(fn string, a, b []float32) {
	if len(a) != len(b) {
		panic(fmt.Sprintf("kernels: %s: lengths differ (%d, %d)", fn, len(a), len(b)))
	}
}

// Dot returns Σ x[i]·y[i]; x and y must have the same length.
func Dot(x, y []float32) float32 {
	sameLen("Dot", x, y)
	var s float32
	i := 0
	if vecAsm && dotAsm != nil && len(x) >= 32 {
		i = len(x) &^ 31
		s = dotAsm(&x[0], &y[0], i)
	}
	for ; i < len(x); i++ {
		s += x[i] * y[i]
	}
	return s
}

// Sum returns Σ x[i].
func Sum(x []float32) float32 {
	var s float32
	i := 0
	if vecAsm && sumAsm != nil && len(x) >= 32 {
		i = len(x) &^ 31
		s = sumAsm(&x[0], i)
	}
	for ; i < len(x); i++ {
		s += x[i]
	}
	return s
}

// Max returns the largest element of x (-Inf for an empty x).
func Max(x []float32) float32 {
	m := float32(math.Inf(-1))
	i := 0
	if vecAsm && maxAsm != nil && len(x) >= 32 {
		i = len(x) &^ 31
		m = maxAsm(&x[0], i)
	}
	for ; i < len(x); i++ {
		if x[i] > m {
			m = x[i]
		}
	}
	return m
}

// Axpy does y[i] += alpha·x[i]; x and y must have the same length.
func Axpy(alpha float32, x, y []float32) {
	sameLen("Axpy", x, y)
	i := 0
	if vecAsm && axpyAsm != nil && len(x) >= 32 {
		i = len(x) &^ 31
		axpyAsm(alpha, &x[0], &y[0], i)
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}

// Scale does x[i] *= alpha.
func Scale(alpha float32, x []float32) {
	i := 0
	if vecAsm && scaleAsm != nil && len(x) >= 32 {
		i = len(x) &^ 31
		scaleAsm(alpha, &x[0], i)
	}
	for ; i < len(x); i++ {
		x[i] *= alpha
	}
}

// mapTail runs an 8-wide assembly map over the last n%8 elements through a
// padded copy.
func mapTail(dst, src []float32, pad float32, f func(d, s *float32)) {
	var buf [8]float32
	for i := range buf {
		buf[i] = pad
	}
	copy(buf[:], src)
	f(&buf[0], &buf[0])
	copy(dst, buf[:len(src)])
}

// expSub sets dst[i] = exp(src[i]-sub) and returns Σ dst[i].
func expSub(dst, src []float32, sub float32) float32 {
	if !vecAsm || expAsm == nil {
		var s float32
		for i, v := range src {
			e := float32(math.Exp(float64(v - sub)))
			dst[i] = e
			s += e
		}
		return s
	}
	var s float32
	n := len(src) &^ 7
	if n > 0 {
		s = expAsm(&dst[0], &src[0], n, sub)
	}
	if n < len(src) {
		mapTail(dst[n:], src[n:], float32(math.Inf(-1)), func(d, x *float32) { s += expAsm(d, x, 8, sub) })
	}
	return s
}

// Exp sets dst[i] = exp(src[i]); dst and src must have the same length and
// may be the same slice.
func Exp(dst, src []float32) {
	sameLen("Exp", dst, src)
	expSub(dst, src, 0)
}

// SoftmaxRow replaces x by softmax(x) = exp(x-max)/Σexp(x-max). A row of
// all -Inf (nothing to attend to) becomes NaN, as in PyTorch.
func SoftmaxRow(x []float32) {
	if len(x) == 0 {
		return
	}
	m := Max(x)
	if math.IsInf(float64(m), -1) || m != m {
		for i := range x {
			x[i] = float32(math.NaN())
		}
		return
	}
	s := expSub(x, x, m)
	Scale(1/s, x)
}

// Tanh sets dst[i] = tanh(src[i]) (same length; may alias).
func Tanh(dst, src []float32) {
	sameLen("Tanh", dst, src)
	if !vecAsm || tanhAsm == nil {
		for i, v := range src {
			dst[i] = float32(math.Tanh(float64(v)))
		}
		return
	}
	n := len(src) &^ 7
	if n > 0 {
		tanhAsm(&dst[0], &src[0], n)
	}
	if n < len(src) {
		mapTail(dst[n:], src[n:], 0, func(d, x *float32) { tanhAsm(d, x, 8) })
	}
}

// GeluErf sets dst[i] = x/2·(1+erf(x/√2)) for x = src[i], the exact GELU
// of BERT (same length; may alias).
func GeluErf(dst, src []float32) {
	sameLen("GeluErf", dst, src)
	if !vecAsm || geluErfAsm == nil {
		for i, v := range src {
			x := float64(v)
			dst[i] = float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
		}
		return
	}
	n := len(src) &^ 7
	if n > 0 {
		geluErfAsm(&dst[0], &src[0], n)
	}
	if n < len(src) {
		mapTail(dst[n:], src[n:], 0, func(d, x *float32) { geluErfAsm(d, x, 8) })
	}
}

// GeluErfBackward adds the gradient of GeluErf: dx[i] += dy[i]·GELU'(x[i]),
// GELU'(x) = Φ(x) + x·φ(x). All three slices must have the same length.
func GeluErfBackward(dx, x, dy []float32) {
	sameLen("GeluErfBackward", dx, x)
	sameLen("GeluErfBackward", dx, dy)
	i := 0
	if vecAsm && geluBwdAsm != nil && len(x) >= 8 {
		i = len(x) &^ 7
		geluBwdAsm(&dx[0], &x[0], &dy[0], i)
	}
	if i < len(x) && vecAsm && geluBwdAsm != nil {
		var bx, bdx, bdy [8]float32
		n := copy(bx[:], x[i:])
		copy(bdx[:], dx[i:])
		copy(bdy[:], dy[i:])
		geluBwdAsm(&bdx[0], &bx[0], &bdy[0], 8)
		copy(dx[i:], bdx[:n])
		return
	}
	for ; i < len(x); i++ {
		v := float64(x[i])
		g := 0.5*(1+math.Erf(v/math.Sqrt2)) + v*math.Exp(-0.5*v*v)/math.Sqrt(2*math.Pi)
		dx[i] += dy[i] * float32(g)
	}
}
