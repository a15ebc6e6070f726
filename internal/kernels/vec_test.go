package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

func withVec(asm bool, f func()) {
	old := vecAsm
	vecAsm = asm
	defer func() { vecAsm = old }()
	f()
}

var vecLens = []int{0, 1, 7, 8, 31, 32, 33, 100, 257, 1000}

func TestVectorReductions(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, asm := range []bool{true, false} {
		for _, n := range vecLens {
			x, y := randSlice(r, n), randSlice(r, n)
			var dot, sum, abs float64
			mx := math.Inf(-1)
			for i := range x {
				dot += float64(x[i]) * float64(y[i])
				sum += float64(x[i])
				abs += math.Abs(float64(x[i])) * (1 + math.Abs(float64(y[i])))
				mx = math.Max(mx, float64(x[i]))
			}
			tol := float64(n+2) * 6e-8 * abs
			withVec(asm, func() {
				if got := Dot(x, y); math.Abs(float64(got)-dot) > tol {
					t.Errorf("asm=%v n=%d: Dot = %v, want %v", asm, n, got, dot)
				}
				if got := Sum(x); math.Abs(float64(got)-sum) > tol {
					t.Errorf("asm=%v n=%d: Sum = %v, want %v", asm, n, got, sum)
				}
				if got := Max(x); float64(got) != mx {
					t.Errorf("asm=%v n=%d: Max = %v, want %v", asm, n, got, mx)
				}
				y2 := append([]float32(nil), y...)
				Axpy(-1.5, x, y2)
				for i := range y2 {
					if want := y[i] + -1.5*x[i]; math.Abs(float64(y2[i]-want)) > 1e-6*(1+math.Abs(float64(want))) {
						t.Fatalf("asm=%v n=%d: Axpy[%d] = %v, want %v", asm, n, i, y2[i], want)
					}
				}
				x2 := append([]float32(nil), x...)
				Scale(0.3, x2)
				for i := range x2 {
					if x2[i] != 0.3*x[i] {
						t.Fatalf("asm=%v n=%d: Scale[%d] = %v, want %v", asm, n, i, x2[i], 0.3*x[i])
					}
				}
			})
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Dot of different lengths did not panic")
		}
	}()
	Dot(make([]float32, 3), make([]float32, 4))
}

// maxErr runs f over a dense grid of [lo, hi] (plus tails of odd lengths)
// and returns the largest error against want, absolute or relative.
func maxErr(f func(dst, src []float32), want func(float64) float64, lo, hi float64, relative bool) float64 {
	const n = 20001
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*float64(i)/(n-1))
	}
	y := make([]float32, n)
	f(y, x)
	worst := 0.0
	for i := range x {
		w := want(float64(x[i]))
		e := math.Abs(float64(y[i]) - w)
		if relative {
			e /= math.Abs(w)
		}
		if !(e <= worst) {
			worst = e // NaN counts as the worst
		}
	}
	return worst
}

func TestVectorMaps(t *testing.T) {
	gelu := func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	for _, asm := range []bool{true, false} {
		withVec(asm, func() {
			if e := maxErr(Exp, math.Exp, -87, 88, true); e > 1.5e-7 {
				t.Errorf("asm=%v: Exp max relative error %.3g", asm, e)
			}
			if e := maxErr(Tanh, math.Tanh, -12, 12, false); e > 3e-7 {
				t.Errorf("asm=%v: Tanh max absolute error %.3g", asm, e)
			}
			if e := maxErr(Tanh, math.Tanh, 1e-6, 12, true); e > 3e-7 {
				t.Errorf("asm=%v: Tanh max relative error %.3g", asm, e)
			}
			// GELU error relative to max(1, |x|).
			scaled := func(d, s []float32) {
				GeluErf(d, s)
				for i := range d {
					d[i] /= float32(math.Max(1, math.Abs(float64(s[i]))))
				}
			}
			if e := maxErr(scaled, func(x float64) float64 { return gelu(x) / math.Max(1, math.Abs(x)) }, -30, 30, false); e > 3e-7 {
				t.Errorf("asm=%v: GeluErf max error %.3g·max(1,|x|)", asm, e)
			}
			// GELU': dx starts at 0 and dy = 1, so dx ends as the derivative.
			grad := func(d, s []float32) {
				ones := make([]float32, len(s))
				for i := range d {
					d[i], ones[i] = 0, 1
				}
				GeluErfBackward(d, s, ones)
			}
			dgelu := func(x float64) float64 {
				return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
			}
			if e := maxErr(grad, dgelu, -30, 30, false); e > 2.5e-7 {
				t.Errorf("asm=%v: GeluErfBackward max absolute error %.3g", asm, e)
			}
			// Saturation and underflow.
			v := []float32{-1000, -88, float32(math.Inf(-1)), 0, 1}
			Exp(v, v)
			if v[0] != 0 || v[1] > 1e-37 || v[2] != 0 || v[3] != 1 || math.Abs(float64(v[4])-math.E) > 1e-6 {
				t.Errorf("asm=%v: Exp special values %v", asm, v)
			}
		})
	}
}

func TestSoftmaxRow(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, asm := range []bool{true, false} {
		for _, n := range vecLens[1:] {
			x := randSlice(r, n)
			for i := range x {
				x[i] *= 10
			}
			if n > 3 {
				x[2] = float32(math.Inf(-1)) // masked position
			}
			mx := math.Inf(-1)
			for _, v := range x {
				mx = math.Max(mx, float64(v))
			}
			var s float64
			for _, v := range x {
				s += math.Exp(float64(v) - mx)
			}
			y := append([]float32(nil), x...)
			withVec(asm, func() { SoftmaxRow(y) })
			var tot float64
			for i := range y {
				want := math.Exp(float64(x[i])-mx) / s
				if math.Abs(float64(y[i])-want) > 1e-6*want+1e-12 {
					t.Fatalf("asm=%v n=%d: softmax[%d] = %v, want %v", asm, n, i, y[i], want)
				}
				tot += float64(y[i])
			}
			if math.Abs(tot-1) > 1e-5 {
				t.Fatalf("asm=%v n=%d: softmax sums to %v", asm, n, tot)
			}
			if n > 3 && y[2] != 0 {
				t.Fatalf("asm=%v: masked position got %v", asm, y[2])
			}
		}
		all := []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}
		withVec(asm, func() { SoftmaxRow(all) })
		if !math.IsNaN(float64(all[0])) {
			t.Errorf("asm=%v: all -Inf row gave %v", asm, all)
		}
	}
}

func BenchmarkVector(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := randSlice(r, 3072), randSlice(r, 3072)
	ops := []struct {
		name string
		f    func()
	}{
		{"Dot", func() { Dot(x, y) }},
		{"Axpy", func() { Axpy(0.5, x, y) }},
		{"Exp", func() { Exp(y, x) }},
		{"Tanh", func() { Tanh(y, x) }},
		{"GeluErf", func() { GeluErf(y, x) }},
		{"GeluErfBackward", func() { GeluErfBackward(y, x, x) }},
		{"SoftmaxRow128", func() {
			for i := 0; i < len(x); i += 128 {
				copy(y[i:i+128], x[i:i+128])
				SoftmaxRow(y[i : i+128])
			}
		}},
	}
	for _, asm := range []bool{true, false} {
		for _, op := range ops {
			name := op.name + "/go"
			if asm {
				name = op.name + "/asm"
			}
			b.Run(name, func(b *testing.B) {
				withVec(asm, func() {
					for i := 0; i < b.N; i++ {
						op.f()
					}
				})
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(x)), "ns/elem")
			})
		}
	}
}
