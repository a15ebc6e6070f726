package study

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestMeanStd(t *testing.T) {
	m, s := MeanStd([]float64{1, 2, 3, 4, 5})
	if m != 3 || !near(s, math.Sqrt(2.5), 1e-15) {
		t.Errorf("MeanStd = %v, %v; want 3, sqrt(2.5)", m, s)
	}
	if m, s := MeanStd([]float64{7}); m != 7 || !math.IsNaN(s) {
		t.Errorf("one value: %v, %v", m, s)
	}
	if m, _ := MeanStd(nil); !math.IsNaN(m) {
		t.Errorf("no value: mean %v", m)
	}
}

// Quantiles t(0.975, df) from standard tables.
func TestStudentTQuantile(t *testing.T) {
	for _, c := range []struct{ df, want float64 }{
		{1, 12.706204736}, {2, 4.302652730}, {4, 2.776445105}, {9, 2.262157163},
		{10, 2.228138852}, {29, 2.045229642}, {100, 1.983971519},
	} {
		if got := StudentTQuantile(0.975, c.df); !near(got, c.want, 1e-7) {
			t.Errorf("t(0.975, %v) = %.9f, want %.9f", c.df, got, c.want)
		}
	}
	if got := StudentTQuantile(0.025, 4); !near(got, -2.776445105, 1e-7) {
		t.Errorf("t(0.025, 4) = %v", got)
	}
	// P(T ≤ 1) with 1 df is 3/4 (Cauchy).
	if got := StudentTCDF(1, 1); !near(got, 0.75, 1e-12) {
		t.Errorf("Cauchy CDF(1) = %v", got)
	}
	// I_0.5(2, 3) = 11/16 (hand: Σ_{j=2}^{4} C(4,j)/16).
	if got := RegIncBeta(2, 3, 0.5); !near(got, 11.0/16, 1e-12) {
		t.Errorf("I_0.5(2,3) = %v", got)
	}
}

func TestTTest(t *testing.T) {
	// d = 1..5: mean 3, sd √2.5, se √0.5, half-width 2.776445105·0.707106781 = 1.963243.
	r := TTest([]float64{1, 2, 3, 4, 5})
	h := 2.776445105 * math.Sqrt(0.5)
	if r.N != 5 || r.Mean != 3 || !near(r.Lo, 3-h, 1e-7) || !near(r.Hi, 3+h, 1e-7) {
		t.Errorf("TTest(1..5) = %+v, want [%v, %v]", r, 3-h, 3+h)
	}
	// t = 3/√0.5 = 4.2426 with 4 df: two-sided p = 0.013236 (tables).
	if !near(r.P, 0.0132356, 1e-6) {
		t.Errorf("p = %v, want 0.0132356", r.P)
	}
	if r := TTest([]float64{0.5}); !math.IsNaN(r.Lo) || !math.IsNaN(r.P) {
		t.Errorf("n=1 must give no interval: %+v", r)
	}
	if r := TTest([]float64{0, 0, 0}); r.Lo != 0 || r.Hi != 0 || r.P != 1 {
		t.Errorf("all zero: %+v", r)
	}
	if r := TTest([]float64{0.01, 0.01}); r.Lo != 0.01 || r.P != 0 {
		t.Errorf("constant non-zero: %+v", r)
	}
}

func TestSignTest(t *testing.T) {
	// 5 positive of 5: p = 2·(1/32).
	if r := SignTest([]float64{1, 2, 3, 4, 5}); r.Pos != 5 || r.Neg != 0 || !near(r.P, 0.0625, 1e-15) {
		t.Errorf("5/5: %+v", r)
	}
	// 3 positive, 1 negative, 1 zero: n = 4, P(X ≤ 1) = 5/16, p = 10/16.
	if r := SignTest([]float64{1, 1, 1, -1, 0}); r.Pos != 3 || r.Neg != 1 || r.Ties != 1 || !near(r.P, 0.625, 1e-15) {
		t.Errorf("3/1/1: %+v", r)
	}
	// Balanced: p = 1 (capped).
	if r := SignTest([]float64{1, -1}); r.P != 1 {
		t.Errorf("1/1: %+v", r)
	}
	if r := SignTest([]float64{0, 0}); r.P != 1 || r.Ties != 2 {
		t.Errorf("all zero: %+v", r)
	}
	// 10 of 10 positive: 2/1024.
	if r := SignTest([]float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}); !near(r.P, 2.0/1024, 1e-15) {
		t.Errorf("10/10: %+v", r)
	}
}

func TestWilcoxon(t *testing.T) {
	// All positive, n = 5: W+ = 15, P(W+ ≥ 15) = 1/32, p = 0.0625; the zero is dropped.
	r := Wilcoxon([]float64{0, 1, 2, 3, 4, 5})
	if r.N != 5 || r.WPlus != 15 || r.WMinus != 0 || !near(r.P, 0.0625, 1e-15) || !r.Exact {
		t.Errorf("1..5: %+v", r)
	}
	// d = 1,-2,3,4,5: W- = 2; subsets of {1..5} with sum ≤ 2: {}, {1}, {2} → 3/32, p = 6/32.
	r = Wilcoxon([]float64{1, -2, 3, 4, 5})
	if r.WPlus != 13 || r.WMinus != 2 || !near(r.P, 6.0/32, 1e-15) {
		t.Errorf("1,-2,3,4,5: %+v", r)
	}
	// Ties: |d| = 1,1,2,3 get ranks 1.5,1.5,3,4; W+ = 7, W- = 3. Doubled ranks
	// {3,3,6,8}: 5 of the 16 sign patterns reach a doubled W+ ≥ 14, so p = 10/16.
	r = Wilcoxon([]float64{1, 1, -2, 3})
	if r.WPlus != 7 || r.WMinus != 3 || !near(r.P, 0.625, 1e-15) {
		t.Errorf("tied: %+v", r)
	}
	// Symmetric: W+ = W- → p = 1.
	if r := Wilcoxon([]float64{1, -1}); r.P != 1 || r.WPlus != 1.5 {
		t.Errorf("1,-1: %+v", r)
	}
	if r := Wilcoxon([]float64{0, 0}); r.N != 0 || r.P != 1 {
		t.Errorf("all zero: %+v", r)
	}
	// n = 8 all positive: 2/256.
	if r := Wilcoxon([]float64{1, 2, 3, 4, 5, 6, 7, 8}); !near(r.P, 2.0/256, 1e-15) {
		t.Errorf("8 positive: %+v", r)
	}
	// n = 25 (normal approximation): 1..25 with the two smallest negative:
	// W- = 3, mu = 162.5, sigma = √(25·26·51/24) = 37.165, z = (159.5-0.5)/37.165 = 4.2782.
	var d []float64
	for i := 1; i <= 25; i++ {
		d = append(d, float64(i))
	}
	d[0], d[1] = -1, -2
	r = Wilcoxon(d)
	z := (162.5 - 3 - 0.5) / math.Sqrt(25*26*51/24.0)
	if r.Exact || r.WMinus != 3 || !near(r.P, math.Erfc(z/math.Sqrt2), 1e-12) || r.P > 1e-4 {
		t.Errorf("n=25: %+v (z %v)", r, z)
	}
}

func TestSpearman(t *testing.T) {
	// One adjacent swap of 4: Σd² = 2, rho = 1 - 6·2/(4·15) = 0.8. Permutations
	// with |rho| ≥ 0.8: identity and 3 adjacent swaps, and their reverses: 8/24.
	r := Spearman([]float64{1, 2, 3, 4}, []float64{10, 30, 20, 40})
	if !near(r.Rho, 0.8, 1e-12) || !near(r.P, 1.0/3, 1e-12) || !r.Exact {
		t.Errorf("swap: %+v", r)
	}
	r = Spearman([]float64{0.1, 0.2, 0.3, 0.4}, []float64{4, 3, 2, 1})
	if !near(r.Rho, -1, 1e-12) || !near(r.P, 2.0/24, 1e-12) {
		t.Errorf("reversed: %+v", r)
	}
	// Ties in x: ranks 1.5, 1.5, 3; y ranks 1, 2, 3 → Pearson of ranks = √3/2.
	r = Spearman([]float64{5, 5, 7}, []float64{1, 2, 3})
	if !near(r.Rho, math.Sqrt(3)/2, 1e-12) {
		t.Errorf("ties: %+v", r)
	}
	if r := Spearman([]float64{1, 1, 1}, []float64{1, 2, 3}); !math.IsNaN(r.Rho) {
		t.Errorf("constant x: %+v", r)
	}
	// n = 10 perfectly monotone: t-approximation, p = 0.
	var x, y []float64
	for i := 0; i < 10; i++ {
		x, y = append(x, float64(i)), append(y, float64(i*i))
	}
	if r := Spearman(x, y); r.Exact || r.Rho != 1 || r.P != 0 {
		t.Errorf("n=10 monotone: %+v", r)
	}
}

func TestMinExactP(t *testing.T) {
	if MinExactP(5) != 0.0625 || MinExactP(6) != 0.03125 || MinExactP(0) != 1 {
		t.Errorf("MinExactP: %v %v %v", MinExactP(5), MinExactP(6), MinExactP(0))
	}
}
