package nn

import (
	"fmt"
	"math"
)

const (
	invSqrt2    = 0.70710678118654752440 // 1/√2
	invSqrt2Pi  = 0.39894228040143267794 // 1/√(2π)
	sqrt2OverPi = 0.79788456080286535588 // √(2/π), the "gelu_new" constant
	geluCubic   = 0.044715
)

// erf32 is erf for float32 arguments: the odd/even rational approximation
// on [-4, 4] used by Eigen and XLA for float32 erf, evaluated in float64.
// Max absolute error vs math.Erf is ~1e-7 (tested), at about a fifth of
// math.Erf's cost. Beyond |x| = 4 float32 erf is ±1 to within 2e-8.
func erf32(xf float32) float64 {
	x := float64(xf)
	if x > 4 {
		x = 4
	} else if x < -4 {
		x = -4
	}
	x2 := x * x
	p := x2*-2.72614225801306e-10 + 2.77068142495902e-08
	p = x2*p + -2.10102402082508e-06
	p = x2*p + -5.69250639462346e-05
	p = x2*p + -7.34990630326855e-04
	p = x2*p + -2.95459980854025e-03
	p = x2*p + -1.60960333262415e-02
	p = x * p
	q := x2*-1.45660718464996e-05 + -2.13374055278905e-04
	q = x2*q + -1.68282697438203e-03
	q = x2*q + -7.37332916720468e-03
	q = x2*q + -1.42647390514189e-02
	return p / q
}

// GeluForward computes the exact GELU, out = x·Φ(x) = 0.5·x·(1 + erf(x/√2))
// (torch "gelu"), over len(out) elements.
func GeluForward(out, in []float32) {
	need("GeluForward", "in", in, len(out))
	parallelFor(len(out), 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := in[i]
			out[i] = float32(0.5 * float64(x) * (1 + erf32(x*invSqrt2)))
		}
	})
}

// GeluBackward accumulates dIn += dOut·(Φ(x) + x·φ(x)) over len(dIn) elements.
func GeluBackward(dIn, dOut, in []float32) {
	n := len(dIn)
	need("GeluBackward", "dOut", dOut, n)
	need("GeluBackward", "in", in, n)
	parallelFor(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(in[i])
			cdf := 0.5 * (1 + erf32(in[i]*invSqrt2))
			pdf := invSqrt2Pi * math.Exp(-0.5*x*x)
			dIn[i] += dOut[i] * float32(cdf+x*pdf)
		}
	})
}

// GeluTanhForward computes the tanh approximation of GELU
// (HF "gelu_new" / "gelu_pytorch_tanh"):
// out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), over len(out) elements.
func GeluTanhForward(out, in []float32) {
	need("GeluTanhForward", "in", in, len(out))
	parallelFor(len(out), 32, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(in[i])
			t := math.Tanh(sqrt2OverPi * (x + geluCubic*x*x*x))
			out[i] = float32(0.5 * x * (1 + t))
		}
	})
}

// GeluTanhBackward accumulates dIn += dOut·d(GeluTanh)/dx over len(dIn) elements.
func GeluTanhBackward(dIn, dOut, in []float32) {
	n := len(dIn)
	need("GeluTanhBackward", "dOut", dOut, n)
	need("GeluTanhBackward", "in", in, n)
	parallelFor(n, 32, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(in[i])
			t := math.Tanh(sqrt2OverPi * (x + geluCubic*x*x*x))
			sech2 := 1 - t*t
			g := 0.5*(1+t) + 0.5*x*sech2*sqrt2OverPi*(1+3*geluCubic*x*x)
			dIn[i] += dOut[i] * float32(g)
		}
	})
}

// ReluForward computes out = max(x, 0) over len(out) elements.
func ReluForward(out, in []float32) {
	need("ReluForward", "in", in, len(out))
	parallelFor(len(out), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if x := in[i]; x > 0 {
				out[i] = x
			} else {
				out[i] = 0
			}
		}
	})
}

// ReluBackward accumulates dIn += dOut where x > 0, over len(dIn) elements.
func ReluBackward(dIn, dOut, in []float32) {
	n := len(dIn)
	need("ReluBackward", "dOut", dOut, n)
	need("ReluBackward", "in", in, n)
	parallelFor(n, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if in[i] > 0 {
				dIn[i] += dOut[i]
			}
		}
	})
}

// TanhForward computes out = tanh(x) over len(out) elements.
func TanhForward(out, in []float32) {
	need("TanhForward", "in", in, len(out))
	parallelFor(len(out), 32, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = float32(math.Tanh(float64(in[i])))
		}
	})
}

// TanhBackward accumulates dIn += dOut·(1 − out²) over len(dIn) elements,
// using the forward output.
func TanhBackward(dIn, dOut, out []float32) {
	n := len(dIn)
	need("TanhBackward", "dOut", dOut, n)
	need("TanhBackward", "out", out, n)
	parallelFor(n, 2, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y := out[i]
			dIn[i] += dOut[i] * (1 - y*y)
		}
	})
}

// Act names an element-wise activation, as chosen by a config's hidden_act.
type Act uint8

// The supported activations.
const (
	ActGelu     Act = iota // exact erf GELU
	ActGeluTanh            // tanh-approximated GELU
	ActRelu
	ActTanh
)

// ParseAct maps a Hugging Face hidden_act name to an Act.
func ParseAct(name string) (Act, error) {
	switch name {
	case "gelu", "gelu_python":
		return ActGelu, nil
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return ActGeluTanh, nil
	case "relu":
		return ActRelu, nil
	case "tanh":
		return ActTanh, nil
	}
	return 0, fmt.Errorf("unsupported activation %q (want gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu or tanh)", name)
}

// String returns the canonical Hugging Face name of a.
func (a Act) String() string {
	switch a {
	case ActGelu:
		return "gelu"
	case ActGeluTanh:
		return "gelu_new"
	case ActRelu:
		return "relu"
	case ActTanh:
		return "tanh"
	}
	return fmt.Sprintf("Act(%d)", uint8(a))
}

// ActForward applies activation a: out = a(in) over len(out) elements.
func ActForward(a Act, out, in []float32) {
	switch a {
	case ActGelu:
		GeluForward(out, in)
	case ActGeluTanh:
		GeluTanhForward(out, in)
	case ActRelu:
		ReluForward(out, in)
	case ActTanh:
		TanhForward(out, in)
	default:
		panic("nn.ActForward: unknown activation " + a.String())
	}
}

// ActBackward accumulates dIn += dOut·a'(in) over len(dIn) elements. in is
// the forward input and out the forward output (tanh uses out, the rest in).
func ActBackward(a Act, dIn, dOut, in, out []float32) {
	switch a {
	case ActGelu:
		GeluBackward(dIn, dOut, in)
	case ActGeluTanh:
		GeluTanhBackward(dIn, dOut, in)
	case ActRelu:
		ReluBackward(dIn, dOut, in)
	case ActTanh:
		TanhBackward(dIn, dOut, out)
	default:
		panic("nn.ActBackward: unknown activation " + a.String())
	}
}
