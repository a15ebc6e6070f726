package study

// Statistics for paired comparisons over seeds, written out explicitly:
// mean and sample standard deviation, Student's t interval and two-sided
// p-value (regularised incomplete beta), the exact sign test, the Wilcoxon
// signed-rank test (exact for n ≤ 20 non-zero differences, with mid-ranks
// for ties; normal approximation above) and Spearman's rank correlation
// (exact permutation p-value for n ≤ 8).

import (
	"math"
	"sort"
)

// MeanStd returns the mean and the sample standard deviation (n-1 in the
// denominator) of x. The std is NaN for fewer than two values; both are NaN
// for none.
func MeanStd(x []float64) (mean, sd float64) {
	n := len(x)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	var s float64
	for _, v := range x {
		s += v
	}
	mean = s / float64(n)
	if n < 2 {
		return mean, math.NaN()
	}
	var q float64
	for _, v := range x {
		q += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(q / float64(n-1))
}

// betacf evaluates the continued fraction of the incomplete beta function
// (modified Lentz's method, Numerical Recipes §6.4).
func betacf(a, b, x float64) float64 {
	const tiny = 1e-300
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 1000; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return h
}

// RegIncBeta is the regularised incomplete beta function I_x(a, b).
func RegIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betacf(a, b, x) / a
	}
	return 1 - front*betacf(b, a, 1-x)/b
}

// StudentTCDF is P(T ≤ t) for Student's t with df degrees of freedom.
func StudentTCDF(t, df float64) float64 {
	if math.IsInf(t, 1) {
		return 1
	}
	if math.IsInf(t, -1) {
		return 0
	}
	tail := 0.5 * RegIncBeta(df/2, 0.5, df/(df+t*t)) // P(T > |t|)
	if t > 0 {
		return 1 - tail
	}
	return tail
}

// StudentTQuantile returns t with P(T ≤ t) = p (0 < p < 1), by bisection.
func StudentTQuantile(p, df float64) float64 {
	if !(p > 0 && p < 1) || !(df > 0) {
		return math.NaN()
	}
	if p == 0.5 {
		return 0
	}
	if p < 0.5 {
		return -StudentTQuantile(1-p, df)
	}
	lo, hi := 0.0, 1.0
	for StudentTCDF(hi, df) < p {
		hi *= 2
		if hi > 1e12 {
			return math.Inf(1)
		}
	}
	for range 200 {
		mid := 0.5 * (lo + hi)
		if mid <= lo || mid >= hi {
			break
		}
		if StudentTCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return 0.5 * (lo + hi)
}

// TResult is a one-sample t analysis of paired differences.
type TResult struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	// Lo and Hi bound the 95% interval of the mean; P is the two-sided
	// p-value of "mean = 0". All NaN (null in JSON) for n < 2; for zero
	// spread the interval is the point and P is 1 (mean 0) or 0.
	Lo float64 `json:"ci95_lo"`
	Hi float64 `json:"ci95_hi"`
	P  float64 `json:"p"`
}

// TTest computes the mean, the 95% t-interval and the two-sided p-value of d.
func TTest(d []float64) TResult {
	r := TResult{N: len(d), Lo: math.NaN(), Hi: math.NaN(), P: math.NaN()}
	r.Mean, r.SD = MeanStd(d)
	if r.N < 2 {
		return r
	}
	df := float64(r.N - 1)
	se := r.SD / math.Sqrt(float64(r.N))
	if se == 0 {
		r.Lo, r.Hi = r.Mean, r.Mean
		r.P = 1
		if r.Mean != 0 {
			r.P = 0
		}
		return r
	}
	h := StudentTQuantile(0.975, df) * se
	r.Lo, r.Hi = r.Mean-h, r.Mean+h
	r.P = 2 * StudentTCDF(-math.Abs(r.Mean/se), df)
	return r
}

// binomLowerTail is P(X ≤ k) for X ~ Binomial(n, 1/2).
func binomLowerTail(n, k int) float64 {
	if k < 0 {
		return 0
	}
	s, c := 0.0, 1.0 // c = C(n, i)
	for i := 0; i <= k && i <= n; i++ {
		s += c
		c = c * float64(n-i) / float64(i+1)
	}
	return s / math.Pow(2, float64(n))
}

// SignResult is the exact two-sided sign test of paired differences (zero
// differences are dropped).
type SignResult struct {
	Pos  int     `json:"positive"`
	Neg  int     `json:"negative"`
	Ties int     `json:"zero"`
	P    float64 `json:"p"` // 1 when every difference is zero
}

// SignTest counts signs and computes p = min(1, 2·P(X ≤ min(pos, neg))).
func SignTest(d []float64) SignResult {
	var r SignResult
	for _, v := range d {
		switch {
		case v > 0:
			r.Pos++
		case v < 0:
			r.Neg++
		default:
			r.Ties++
		}
	}
	n := r.Pos + r.Neg
	r.P = math.Min(1, 2*binomLowerTail(n, min(r.Pos, r.Neg)))
	return r
}

// WilcoxonResult is the Wilcoxon signed-rank test of paired differences.
type WilcoxonResult struct {
	N      int     `json:"n"` // non-zero differences
	WPlus  float64 `json:"w_plus"`
	WMinus float64 `json:"w_minus"`
	P      float64 `json:"p"` // two-sided; 1 with no non-zero difference
	Exact  bool    `json:"exact"`
}

// midRanks ranks x ascending (1-based), giving tied values their average rank.
func midRanks(x []float64) []float64 {
	n := len(x)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, n)
	for i := 0; i < n; {
		j := i
		for j+1 < n && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// Wilcoxon drops zero differences, ranks |d| with mid-ranks for ties and
// sums the ranks of the positive differences (W+). For n ≤ 20 the p-value is
// exact: the null distribution of W+ (every sign equally likely, the tied
// ranks as observed) is enumerated by dynamic programming over doubled ranks.
// Above 20 it uses the normal approximation with tie and continuity
// corrections. p = min(1, 2·min(P(W+ ≤ w), P(W+ ≥ w))).
func Wilcoxon(d []float64) WilcoxonResult {
	var nz []float64
	for _, v := range d {
		if v != 0 {
			nz = append(nz, v)
		}
	}
	r := WilcoxonResult{N: len(nz), P: 1, Exact: true}
	if r.N == 0 {
		return r
	}
	abs := make([]float64, r.N)
	for i, v := range nz {
		abs[i] = math.Abs(v)
	}
	ranks := midRanks(abs)
	for i, v := range nz {
		if v > 0 {
			r.WPlus += ranks[i]
		} else {
			r.WMinus += ranks[i]
		}
	}
	if r.N <= 20 {
		// Doubled ranks are integers (mid-ranks are multiples of 1/2).
		total := 0
		dr := make([]int, r.N)
		for i, v := range ranks {
			dr[i] = int(math.Round(2 * v))
			total += dr[i]
		}
		count := make([]float64, total+1)
		count[0] = 1
		for _, v := range dr {
			for s := total; s >= v; s-- {
				count[s] += count[s-v]
			}
		}
		w := int(math.Round(2 * r.WPlus))
		var le, ge, all float64
		for s, c := range count {
			all += c
			if s <= w {
				le += c
			}
			if s >= w {
				ge += c
			}
		}
		r.P = math.Min(1, 2*math.Min(le, ge)/all)
		return r
	}
	r.Exact = false
	n := float64(r.N)
	mu := n * (n + 1) / 4
	// Tie correction: subtract Σ(t³ - t)/48 over groups of tied |d|.
	tie := 0.0
	sorted := append([]float64(nil), abs...)
	sort.Float64s(sorted)
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[i] {
			j++
		}
		t := float64(j - i + 1)
		tie += t*t*t - t
		i = j + 1
	}
	sigma := math.Sqrt(n*(n+1)*(2*n+1)/24 - tie/48)
	if sigma == 0 {
		return r
	}
	z := (math.Abs(r.WPlus-mu) - 0.5) / sigma
	if z < 0 {
		z = 0
	}
	r.P = math.Min(1, math.Erfc(z/math.Sqrt2))
	return r
}

// SpearmanResult is Spearman's rank correlation with a two-sided p-value.
type SpearmanResult struct {
	N     int     `json:"n"`
	Rho   float64 `json:"rho"` // NaN when either variable is constant or n < 2
	P     float64 `json:"p"`
	Exact bool    `json:"exact"` // p from all n! permutations (n ≤ 8); else the t approximation
}

// pearson is the correlation of x and y (NaN when either is constant).
func pearson(x, y []float64) float64 {
	mx, _ := MeanStd(x)
	my, _ := MeanStd(y)
	var sxy, sxx, syy float64
	for i := range x {
		a, b := x[i]-mx, y[i]-my
		sxy += a * b
		sxx += a * a
		syy += b * b
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Spearman correlates the mid-ranks of x and y. For n ≤ 8 the p-value counts
// the permutations of y whose |rho| is at least the observed one.
func Spearman(x, y []float64) SpearmanResult {
	n := len(x)
	r := SpearmanResult{N: n, Rho: math.NaN(), P: math.NaN()}
	if n != len(y) || n < 2 {
		return r
	}
	rx, ry := midRanks(x), midRanks(y)
	r.Rho = pearson(rx, ry)
	if math.IsNaN(r.Rho) {
		return r
	}
	if n <= 8 {
		r.Exact = true
		obs := math.Abs(r.Rho) - 1e-12
		perm := append([]float64(nil), ry...)
		hit, all := 0, 0
		permute(perm, 0, func(p []float64) {
			all++
			if math.Abs(pearson(rx, p)) >= obs {
				hit++
			}
		})
		r.P = float64(hit) / float64(all)
		return r
	}
	if math.Abs(r.Rho) >= 1 {
		r.P = 0
		return r
	}
	t := r.Rho * math.Sqrt(float64(n-2)/(1-r.Rho*r.Rho))
	r.P = 2 * StudentTCDF(-math.Abs(t), float64(n-2))
	return r
}

// permute calls f with every permutation of p[k:] (Heap-free recursive swaps).
func permute(p []float64, k int, f func([]float64)) {
	if k == len(p) {
		f(p)
		return
	}
	for i := k; i < len(p); i++ {
		p[k], p[i] = p[i], p[k]
		permute(p, k+1, f)
		p[k], p[i] = p[i], p[k]
	}
}

// MinExactP is the smallest two-sided p-value the exact sign and Wilcoxon
// tests can give with n non-zero differences: 2/2^n.
func MinExactP(n int) float64 {
	if n < 1 {
		return 1
	}
	return math.Min(1, 2/math.Pow(2, float64(n)))
}
