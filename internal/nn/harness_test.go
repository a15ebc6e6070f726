package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// This file is the float64 test harness: naive float64 reference forwards,
// central finite differences of them, and tolerant comparisons.

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// randVec returns n float32 values uniform in [-scale, scale).
func randVec(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((2*rng.Float64() - 1) * scale)
	}
	return v
}

// f64 converts exactly to float64 (the reference reads the same values).
func f64(x []float32) []float64 {
	if x == nil {
		return nil
	}
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func dot64(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// prefilled returns a random gradient buffer and a copy of its initial
// values, so tests also check that backward functions add, not overwrite.
func prefilled(rng *rand.Rand, n int) (got, pre []float32) {
	pre = randVec(rng, n, 0.5)
	return slices.Clone(pre), pre
}

// fdGrad returns the central-difference gradient of loss with respect to
// every element of x, which loss reads and which is perturbed in place.
func fdGrad(loss func() float64, x []float64) []float64 {
	g := make([]float64, len(x))
	for i, x0 := range x {
		h := 1e-5 * math.Max(1, math.Abs(x0))
		x[i] = x0 + h
		lp := loss()
		x[i] = x0 - h
		lm := loss()
		x[i] = x0
		g[i] = (lp - lm) / (2 * h)
	}
	return g
}

// gradCase pairs a float64 input of the reference with the float32 gradient
// the backward pass accumulated for it (on top of pre, which may be nil).
type gradCase struct {
	name string
	x    []float64
	got  []float32
	pre  []float32
}

// checkGrads compares each backward gradient with finite differences of loss.
func checkGrads(t *testing.T, loss func() float64, cases ...gradCase) {
	t.Helper()
	for _, c := range cases {
		want := fdGrad(loss, c.x)
		got := make([]float64, len(want))
		for i := range got {
			got[i] = float64(c.got[i])
			if c.pre != nil {
				got[i] -= float64(c.pre[i])
			}
		}
		assertClose64(t, c.name, got, want, 2e-4, 2e-3)
	}
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// assertClose64 requires |got−want| ≤ atol·max(1, max|want|) + rtol·|want|
// elementwise, and that want is not trivially all zero unless got is too.
func assertClose64(t *testing.T, name string, got, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", name, len(got), len(want))
	}
	scale := math.Max(1, maxAbs(want))
	bad := 0
	for i := range want {
		d := math.Abs(got[i] - want[i])
		if !(d <= atol*scale+rtol*math.Abs(want[i])) {
			if bad < 5 {
				t.Errorf("%s[%d] = %.9g, want %.9g (diff %.3g)", name, i, got[i], want[i], d)
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d elements off", name, bad, len(want))
	}
}

func assertClose(t *testing.T, name string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	assertClose64(t, name, f64(got), want, atol, rtol)
}

func assertNoNaN(t *testing.T, name string, x []float32) {
	t.Helper()
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("%s[%d] = %v", name, i, v)
		}
	}
}

// --- float64 reference forwards -------------------------------------------

func refLinear(in, w, bias []float64, n, inF, outF int) []float64 {
	out := make([]float64, n*outF)
	for i := 0; i < n; i++ {
		for o := 0; o < outF; o++ {
			s := 0.0
			if bias != nil {
				s = bias[o]
			}
			for j := 0; j < inF; j++ {
				s += in[i*inF+j] * w[o*inF+j]
			}
			out[i*outF+o] = s
		}
	}
	return out
}

// refLoRA returns base + scale·(in·Aᵀ)·Bᵀ.
func refLoRA(base, in, a, b []float64, scale float64, n, inF, outF, r int) []float64 {
	tmp := refLinear(in, a, nil, n, inF, r)
	up := refLinear(tmp, b, nil, n, r, outF)
	out := make([]float64, n*outF)
	for i := range out {
		out[i] = base[i] + scale*up[i]
	}
	return out
}

func refLayerNorm(in, gamma, beta []float64, n, c int, eps float64) (out, mean, rstd []float64) {
	out = make([]float64, n*c)
	mean = make([]float64, n)
	rstd = make([]float64, n)
	for i := 0; i < n; i++ {
		x := in[i*c : i*c+c]
		m := 0.0
		for _, v := range x {
			m += v
		}
		m /= float64(c)
		vr := 0.0
		for _, v := range x {
			vr += (v - m) * (v - m)
		}
		vr /= float64(c)
		rs := 1 / math.Sqrt(vr+eps)
		mean[i], rstd[i] = m, rs
		for j, v := range x {
			y := (v - m) * rs
			if gamma != nil {
				y *= gamma[j]
			}
			if beta != nil {
				y += beta[j]
			}
			out[i*c+j] = y
		}
	}
	return out, mean, rstd
}

func refAct(a Act, x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		switch a {
		case ActGelu:
			y[i] = 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
		case ActGeluTanh:
			y[i] = 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
		case ActRelu:
			y[i] = math.Max(v, 0)
		case ActTanh:
			y[i] = math.Tanh(v)
		}
	}
	return y
}

// refAttention is attention with explicit loops: returns out [B*T,C] and
// att [B,nh,T,T] (before dropout).
func refAttention(q, k, v, mask, drop []float64, B, T, C, nh int) (out, att []float64) {
	hs := C / nh
	out = make([]float64, B*T*C)
	att = make([]float64, B*nh*T*T)
	scale := 1 / math.Sqrt(float64(hs))
	for b := 0; b < B; b++ {
		for h := 0; h < nh; h++ {
			for t1 := 0; t1 < T; t1++ {
				row := att[((b*nh+h)*T+t1)*T:][:T]
				mx := math.Inf(-1)
				for t2 := 0; t2 < T; t2++ {
					s := 0.0
					for d := 0; d < hs; d++ {
						s += q[(b*T+t1)*C+h*hs+d] * k[(b*T+t2)*C+h*hs+d]
					}
					s *= scale
					if mask != nil {
						s += mask[b*T+t2]
					}
					row[t2] = s
					mx = math.Max(mx, s)
				}
				sum := 0.0
				for t2 := range row {
					row[t2] = math.Exp(row[t2] - mx)
					sum += row[t2]
				}
				for t2 := range row {
					row[t2] /= sum
				}
				for d := 0; d < hs; d++ {
					s := 0.0
					for t2 := 0; t2 < T; t2++ {
						p := row[t2]
						if drop != nil {
							p *= drop[((b*nh+h)*T+t1)*T+t2]
						}
						s += p * v[(b*T+t2)*C+h*hs+d]
					}
					out[(b*T+t1)*C+h*hs+d] = s
				}
			}
		}
	}
	return out, att
}

func refCrossEntropy(logits []float64, labels []int32, n, classes int) (losses, probs []float64) {
	losses = make([]float64, n)
	probs = make([]float64, n*classes)
	for i := 0; i < n; i++ {
		x := logits[i*classes : i*classes+classes]
		mx := math.Inf(-1)
		for _, v := range x {
			mx = math.Max(mx, v)
		}
		sum := 0.0
		for _, v := range x {
			sum += math.Exp(v - mx)
		}
		for j, v := range x {
			probs[i*classes+j] = math.Exp(v-mx) / sum
		}
		if y := labels[i]; y >= 0 {
			losses[i] = math.Log(sum) + mx - x[y]
		}
	}
	return losses, probs
}

// shapeName formats test-case names.
func shapeName(format string, args ...any) string { return fmt.Sprintf(format, args...) }
