package nn

import (
	"math"
	"slices"
	"testing"
)

func TestLinear(t *testing.T) {
	for _, tc := range []struct {
		n, inF, outF int
		bias         bool
	}{{1, 1, 1, true}, {5, 7, 3, true}, {4, 9, 6, false}, {3, 16, 11, true}} {
		t.Run(shapeName("n%d_in%d_out%d_bias%v", tc.n, tc.inF, tc.outF, tc.bias), func(t *testing.T) {
			n, inF, outF := tc.n, tc.inF, tc.outF
			rng := newRNG(uint64(n*100 + inF))
			in, w := randVec(rng, n*inF, 1), randVec(rng, outF*inF, 1)
			var bias []float32
			if tc.bias {
				bias = randVec(rng, outF, 1)
			}
			out := randVec(rng, n*outF, 9) // garbage: forward must overwrite
			LinearForward(out, in, w, bias, n, inF, outF)
			in64, w64, b64 := f64(in), f64(w), f64(bias)
			assertClose(t, "out", out, refLinear(in64, w64, b64, n, inF, outF), 1e-6, 1e-5)

			dOut := randVec(rng, n*outF, 1)
			dIn, dInPre := prefilled(rng, n*inF)
			dW, dWPre := prefilled(rng, outF*inF)
			var dB, dBPre []float32
			if tc.bias {
				dB, dBPre = prefilled(rng, outF)
			}
			LinearBackward(dIn, dW, dB, dOut, in, w, n, inF, outF)
			loss := func() float64 { return dot64(refLinear(in64, w64, b64, n, inF, outF), f64(dOut)) }
			cases := []gradCase{{"dIn", in64, dIn, dInPre}, {"dW", w64, dW, dWPre}}
			if tc.bias {
				cases = append(cases, gradCase{"dBias", b64, dB, dBPre})
			}
			checkGrads(t, loss, cases...)

			// nil gradients are skipped, the others unaffected.
			dW2 := make([]float32, outF*inF)
			LinearBackward(nil, dW2, nil, dOut, in, w, n, inF, outF)
			for i := range dW2 {
				if d := math.Abs(float64(dW2[i]) - (float64(dW[i]) - float64(dWPre[i]))); d > 1e-5 {
					t.Fatalf("dW with nil dIn differs at %d by %g", i, d)
				}
			}
		})
	}
}

func TestLoRA(t *testing.T) {
	for _, tc := range []struct{ n, inF, outF, r int }{{1, 1, 1, 1}, {5, 7, 3, 2}, {4, 9, 6, 5}, {6, 12, 10, 8}} {
		t.Run(shapeName("n%d_in%d_out%d_r%d", tc.n, tc.inF, tc.outF, tc.r), func(t *testing.T) {
			n, inF, outF, r := tc.n, tc.inF, tc.outF, tc.r
			rng := newRNG(uint64(7*n + r))
			scale := float32(16) / float32(r)
			in := randVec(rng, n*inF, 1)
			a, b := randVec(rng, r*inF, 0.5), randVec(rng, outF*r, 0.5)
			base := randVec(rng, n*outF, 1)
			out := slices.Clone(base)
			tmp := randVec(rng, n*r, 9)
			LoRAForward(out, tmp, in, a, b, scale, n, inF, outF, r)
			in64, a64, b64, base64 := f64(in), f64(a), f64(b), f64(base)
			ref := func() []float64 { return refLoRA(base64, in64, a64, b64, float64(scale), n, inF, outF, r) }
			assertClose(t, "out", out, ref(), 1e-5, 1e-5)
			assertClose(t, "tmp", tmp, refLinear(in64, a64, nil, n, inF, r), 1e-6, 1e-5)

			dOut := randVec(rng, n*outF, 1)
			dIn, dInPre := prefilled(rng, n*inF)
			dA, dAPre := prefilled(rng, r*inF)
			dB, dBPre := prefilled(rng, outF*r)
			dTmp := randVec(rng, n*r, 9) // scratch: must be overwritten
			LoRABackward(dIn, dA, dB, dTmp, dOut, in, tmp, a, b, scale, n, inF, outF, r)
			loss := func() float64 { return dot64(ref(), f64(dOut)) }
			checkGrads(t, loss, gradCase{"dIn", in64, dIn, dInPre}, gradCase{"dA", a64, dA, dAPre}, gradCase{"dB", b64, dB, dBPre})
		})
	}
}

func TestLayerNorm(t *testing.T) {
	for _, tc := range []struct {
		n, c   int
		offset float64 // added to every input: tests the two-pass variance
		affine bool
	}{{1, 1, 0, true}, {4, 7, 0, true}, {3, 16, 0, false}, {5, 33, 100, true}, {2, 768, 0, true}} {
		t.Run(shapeName("n%d_c%d_off%g_aff%v", tc.n, tc.c, tc.offset, tc.affine), func(t *testing.T) {
			n, c := tc.n, tc.c
			const eps = 1e-12
			rng := newRNG(uint64(n*1000 + c))
			in := randVec(rng, n*c, 1)
			for i := range in {
				in[i] += float32(tc.offset)
			}
			var gamma, beta []float32
			if tc.affine {
				gamma, beta = randVec(rng, c, 1), randVec(rng, c, 1)
				for i := range gamma {
					gamma[i] += 1
				}
			}
			out := make([]float32, n*c)
			mean, rstd := make([]float32, n), make([]float32, n)
			LayerNormForward(out, mean, rstd, in, gamma, beta, n, c, eps)
			in64, g64, b64 := f64(in), f64(gamma), f64(beta)
			wantOut, wantMean, wantRstd := refLayerNorm(in64, g64, b64, n, c, eps)
			if c == 1 {
				// Variance 0 and eps 1e-12: rstd is 1e6, out = beta.
				assertClose(t, "out", out, wantOut, 1e-5, 1e-5)
				return
			}
			assertClose(t, "out", out, wantOut, 2e-6, 1e-5)
			assertClose(t, "mean", mean, wantMean, 1e-7, 1e-6)
			assertClose(t, "rstd", rstd, wantRstd, 1e-7, 1e-6)

			dOut := randVec(rng, n*c, 1)
			dIn, dInPre := prefilled(rng, n*c)
			var dG, dGPre, dB, dBPre []float32
			if tc.affine {
				dG, dGPre = prefilled(rng, c)
				dB, dBPre = prefilled(rng, c)
			}
			LayerNormBackward(dIn, dG, dB, dOut, in, gamma, mean, rstd, n, c)
			loss := func() float64 {
				o, _, _ := refLayerNorm(in64, g64, b64, n, c, eps)
				return dot64(o, f64(dOut))
			}
			if tc.offset != 0 {
				// Inputs near 100 carry only float32 precision (ulp 8e-6)
				// against a spread of 1: compare at a looser tolerance.
				want := fdGrad(loss, in64)
				got := make([]float64, len(want))
				for i := range got {
					got[i] = float64(dIn[i]) - float64(dInPre[i])
				}
				assertClose64(t, "dIn", got, want, 1e-3, 1e-2)
				checkGrads(t, loss, gradCase{"dGamma", g64, dG, dGPre}, gradCase{"dBeta", b64, dB, dBPre})
				return
			}
			cases := []gradCase{{"dIn", in64, dIn, dInPre}}
			if tc.affine {
				cases = append(cases, gradCase{"dGamma", g64, dG, dGPre}, gradCase{"dBeta", b64, dB, dBPre})
			}
			checkGrads(t, loss, cases...)
		})
	}
}

func TestActivations(t *testing.T) {
	rng := newRNG(3)
	const n = 257
	in := randVec(rng, n, 4)
	in[0], in[1], in[2] = 0.5, -7, 9 // tails included
	for _, a := range []Act{ActGelu, ActGeluTanh, ActRelu, ActTanh} {
		t.Run(a.String(), func(t *testing.T) {
			out := make([]float32, n)
			ActForward(a, out, in)
			in64 := f64(in)
			assertClose(t, "out", out, refAct(a, in64), 1e-7, 1e-6)
			dOut := randVec(rng, n, 1)
			dIn, pre := prefilled(rng, n)
			ActBackward(a, dIn, dOut, in, out)
			loss := func() float64 { return dot64(refAct(a, in64), f64(dOut)) }
			checkGrads(t, loss, gradCase{"dIn", in64, dIn, pre})
		})
	}
	// Known values: torch.nn.functional.gelu(1.0) and the tanh form.
	out := make([]float32, 2)
	GeluForward(out, []float32{1, -1})
	if math.Abs(float64(out[0])-0.8413447460685429) > 1e-7 || math.Abs(float64(out[1])+0.15865525393145707) > 1e-7 {
		t.Errorf("gelu(±1) = %v", out)
	}
	GeluTanhForward(out, []float32{1, -1})
	if math.Abs(float64(out[0])-0.8411919906082768) > 1e-7 {
		t.Errorf("gelu_tanh(1) = %v", out[0])
	}
}

func TestErf32(t *testing.T) {
	worst := 0.0
	for x := -12.0; x <= 12; x += 1.0 / 4096 {
		xf := float32(x)
		d := math.Abs(erf32(xf) - math.Erf(float64(xf)))
		worst = math.Max(worst, d)
		if erf32(-xf) != -erf32(xf) {
			t.Fatalf("erf32 not odd at %v", xf)
		}
	}
	if worst > 1.2e-7 {
		t.Errorf("erf32 max abs error %.3g, want ≤ 1.2e-7", worst)
	}
	if v := erf32(float32(math.Inf(1))); math.Abs(v-1) > 1e-7 {
		t.Errorf("erf32(+Inf) = %v", v)
	}
	if v := erf32(float32(math.NaN())); !math.IsNaN(v) {
		t.Errorf("erf32(NaN) = %v", v)
	}
}

func TestParseAct(t *testing.T) {
	for name, want := range map[string]Act{"gelu": ActGelu, "gelu_new": ActGeluTanh, "gelu_pytorch_tanh": ActGeluTanh, "relu": ActRelu, "tanh": ActTanh} {
		got, err := ParseAct(name)
		if err != nil || got != want {
			t.Errorf("ParseAct(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := ParseAct("swishy"); err == nil {
		t.Error("ParseAct accepted an unknown name")
	}
}

func TestAddScale(t *testing.T) {
	a := []float32{1, 2, 3}
	b := []float32{10, 20, 30}
	Add(a, a, b) // aliasing
	if !slices.Equal(a, []float32{11, 22, 33}) {
		t.Fatalf("Add = %v", a)
	}
	AddInto(b, a)
	if !slices.Equal(b, []float32{21, 42, 63}) {
		t.Fatalf("AddInto = %v", b)
	}
	Scale(b, 0.5)
	if !slices.Equal(b, []float32{10.5, 21, 31.5}) {
		t.Fatalf("Scale = %v", b)
	}
	Zero(b)
	if !slices.Equal(b, []float32{0, 0, 0}) {
		t.Fatalf("Zero = %v", b)
	}
}

func TestDropout(t *testing.T) {
	rng := newRNG(5)
	const n = 10000
	mask := make([]float32, n)
	FillDropoutMask(mask, 0, rng)
	for _, m := range mask {
		if m != 1 {
			t.Fatal("p=0 mask is not all ones")
		}
	}
	const p = 0.3
	FillDropoutMask(mask, p, newRNG(9))
	zeros := 0
	for _, m := range mask {
		switch m {
		case 0:
			zeros++
		case float32(1 / (1 - float32(p))):
		default:
			t.Fatalf("mask value %v", m)
		}
	}
	if f := float64(zeros) / n; math.Abs(f-p) > 0.02 {
		t.Errorf("dropped fraction %.3f, want ≈ %.1f", f, p)
	}
	again := make([]float32, n)
	FillDropoutMask(again, p, newRNG(9))
	if !slices.Equal(mask, again) {
		t.Error("same seed gave a different mask")
	}
	FillDropoutMask(again, 1, newRNG(9))
	for _, m := range again {
		if m != 0 {
			t.Fatal("p=1 mask is not all zeros")
		}
	}

	in := randVec(rng, n, 1)
	out := make([]float32, n)
	DropoutForward(out, in, mask)
	for i := range out {
		if out[i] != in[i]*mask[i] {
			t.Fatalf("out[%d] = %v", i, out[i])
		}
	}
	dOut := randVec(rng, 97, 1)
	dIn, pre := prefilled(rng, 97)
	DropoutBackward(dIn, dOut, mask)
	in64 := f64(in[:97])
	loss := func() float64 {
		s := 0.0
		for i, x := range in64 {
			s += x * float64(mask[i]) * float64(dOut[i])
		}
		return s
	}
	checkGrads(t, loss, gradCase{"dIn", in64, dIn, pre})
}

func TestEmbeddingAndGather(t *testing.T) {
	rng := newRNG(11)
	const rows, c = 6, 5
	table := randVec(rng, rows*c, 1)
	ids := []int32{3, 0, 3, 5, 3, 1, 0} // repeats accumulate
	out := randVec(rng, len(ids)*c, 9)
	EmbeddingForward(out, ids, table, c)
	for i, id := range ids {
		if !slices.Equal(out[i*c:i*c+c], table[int(id)*c:int(id)*c+c]) {
			t.Fatalf("row %d is not table row %d", i, id)
		}
	}
	dOut := randVec(rng, len(ids)*c, 1)
	dT, pre := prefilled(rng, rows*c)
	EmbeddingBackward(dT, ids, dOut, c)
	t64 := f64(table)
	loss := func() float64 {
		s := 0.0
		for i, id := range ids {
			for j := 0; j < c; j++ {
				s += t64[int(id)*c+j] * float64(dOut[i*c+j])
			}
		}
		return s
	}
	checkGrads(t, loss, gradCase{"dTable", t64, dT, pre})
	EmbeddingBackward(nil, ids, dOut, c) // nil: skipped

	// GatherRows picks the CLS row of each of 3 sequences of 4 tokens.
	in := randVec(rng, 12*c, 1)
	cls := []int32{0, 4, 8}
	g := make([]float32, 3*c)
	GatherRows(g, in, cls, c)
	for b := range 3 {
		if !slices.Equal(g[b*c:b*c+c], in[b*4*c:b*4*c+c]) {
			t.Fatalf("GatherRows row %d", b)
		}
	}
	dIn := make([]float32, 12*c)
	ScatterAddRows(dIn, g, cls, c)
	for i := range dIn {
		want := float32(0)
		if (i/c)%4 == 0 {
			want = in[i]
		}
		if dIn[i] != want {
			t.Fatalf("ScatterAddRows[%d] = %v, want %v", i, dIn[i], want)
		}
	}

	if err := CheckIDs(ids, rows); err != nil {
		t.Errorf("CheckIDs: %v", err)
	}
	if err := CheckIDs([]int32{1, 6}, rows); err == nil {
		t.Error("CheckIDs accepted id 6 of 6 rows")
	}
	if err := CheckIDs([]int32{-1}, rows); err == nil {
		t.Error("CheckIDs accepted id -1")
	}
}

func TestCrossEntropy(t *testing.T) {
	rng := newRNG(13)
	const n, classes = 6, 5
	logits := randVec(rng, n*classes, 3)
	logits[2*classes+1] = 80 // a confident row: loss must stay finite and exact
	logits[3*classes+4] = -90
	labels := []int32{0, 4, 2, 4, -100, 1}
	losses := randVec(rng, n, 9)
	probs := make([]float32, n*classes)
	CrossEntropyForward(losses, probs, logits, labels, n, classes)
	l64 := f64(logits)
	wantL, wantP := refCrossEntropy(l64, labels, n, classes)
	assertClose(t, "losses", losses, wantL, 1e-6, 1e-5)
	assertClose(t, "probs", probs, wantP, 1e-7, 1e-5)
	if losses[4] != 0 {
		t.Errorf("ignored row has loss %v", losses[4])
	}
	if CountLabels(labels) != 5 {
		t.Errorf("CountLabels = %d", CountLabels(labels))
	}

	sm := make([]float32, n*classes)
	SoftmaxForward(sm, logits, n, classes)
	assertClose(t, "SoftmaxForward", sm, wantP, 1e-7, 1e-5)

	scale := float32(1) / float32(CountLabels(labels))
	dL, pre := prefilled(rng, n*classes)
	CrossEntropyBackward(dL, probs, labels, n, classes, scale)
	loss := func() float64 {
		l, _ := refCrossEntropy(l64, labels, n, classes)
		s := 0.0
		for _, v := range l {
			s += v
		}
		return s * float64(scale)
	}
	checkGrads(t, loss, gradCase{"dLogits", l64, dL, pre})
	for j := 0; j < classes; j++ {
		if dL[4*classes+j] != pre[4*classes+j] {
			t.Fatal("ignored row received a gradient")
		}
	}
}
