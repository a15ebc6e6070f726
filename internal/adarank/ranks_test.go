package adarank

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Notebook importances (reference doc §(c) C1) and the superseded vectors (C3).
var (
	impQuery = []float64{0.083476424, 0.1386449, 0.15169092, 0.15550506, 0.19022527, 0.23578437, 0.26204735, 0.2828268, 0.31076545, 0.32095137, 0.3350768, 0.3348988}
	impKey   = []float64{0.033799376, 0.076967776, 0.13152294, 0.16135047, 0.2009354, 0.23468475, 0.2515475, 0.28742248, 0.32996643, 0.33730012, 0.33189198, 0.33563563}
	impValue = []float64{0.1067335, 0.2673352, 0.5113052, 0.64961135, 0.66023976, 0.6209688, 0.59066254, 0.61314476, 0.6017301, 0.72589016, 0.72327375, 0.570347}
	impDense = []float64{0.33768645, 0.46251282, 0.50760823, 0.5119684, 0.55298114, 0.59392816, 0.5549153, 0.59454644, 0.57808244, 0.59831434, 0.5870656, 0.4229684}

	impKeyOld   = []float64{0.24639809, 0.26325554, 0.23876426, 0.23999164, 0.27572364, 0.27560118, 0.258705, 0.2741065, 0.2712388, 0.27132052, 0.27131975, 0.27131975}
	impDenseOld = []float64{0.3140601, 0.38075718, 0.37752995, 0.37574968, 0.3209025, 0.32092157, 0.30064198, 0.37931755, 0.36589435, 0.32185915, 0.3673533, 0.35489583}
)

func floorRanks(t *testing.T, imp []float64, avg float64, n int) string {
	t.Helper()
	r, err := Allocate(imp, AllocOptions{AvgRank: avg, Rounding: RoundFloor, N: n})
	if err != nil {
		t.Fatal(err)
	}
	return FormatRanks(r)
}

// Every verified or derived list of the reference doc §(g), per module.
func TestFloorGoldenPerModule(t *testing.T) {
	cases := []struct {
		name string
		imp  []float64
		avg  float64
		want string
	}{
		{"#1 value r8", impValue, 8, "1,3,7,9,9,8,8,8,8,10,10,8"},
		{"#2 query r8", impQuery, 8, "2,4,5,5,6,8,8,9,10,10,11,11"},
		{"#3 key r8", impKey, 8, "1,2,4,5,7,8,8,10,11,11,11,11"},
		{"#4 dense r8", impDense, 8, "5,7,7,7,8,9,8,9,8,9,8,6"},
		{"#5 query r4", impQuery, 4, "1,2,2,2,3,4,4,4,5,5,5,5"},
		{"#6 key r4", impKey, 4, "0,1,2,2,3,4,4,5,5,5,5,5"},
		{"#6 value r4", impValue, 4, "0,1,3,4,4,4,4,4,4,5,5,4"},
		{"#6 dense r4", impDense, 4, "2,3,3,3,4,4,4,4,4,4,4,3"},
		{"#7 query r16", impQuery, 16, "5,9,10,10,13,16,17,19,21,21,22,22"},
		{"#8 value r16", impValue, 16, "3,7,14,18,19,17,17,17,17,20,20,16"},
		{"#9 key(old) r16", impKeyOld, 16, "14,16,14,14,16,16,15,16,16,16,16,16"},
		{"#10 dense(old) r16", impDenseOld, 16, "14,17,17,17,14,14,13,17,16,14,16,16"},
		{"#11 key r16", impKey, 16, "2,5,9,11,14,16,17,20,23,23,23,23"},
		{"#11 dense r16", impDense, 16, "10,14,15,15,16,18,16,18,17,18,17,12"},
	}
	for _, c := range cases {
		if got := floorRanks(t, c.imp, c.avg, 0); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

// All-modules lists (§(g) #12, #13, #14, #15): N = 48 joint allocation.
func TestFloorGoldenJoint(t *testing.T) {
	cases := []struct {
		name   string
		groups [][]float64
		avg    float64
		want   []string
		sum    int
	}{
		{"#12 current r8", [][]float64{impQuery, impKey, impValue, impDense}, 8, []string{
			"1,2,3,3,3,4,5,5,6,6,6,6", "0,1,2,3,4,4,5,5,6,7,6,6",
			"2,5,10,13,13,12,12,12,12,15,15,11", "7,9,10,10,11,12,11,12,12,12,12,8"}, 357},
		{"#13 old key/dense r8", [][]float64{impQuery, impKeyOld, impValue, impDenseOld}, 8, []string{
			"1,3,3,3,4,5,5,6,7,7,7,7", "5,6,5,5,6,6,5,6,6,6,6,6",
			"2,6,11,14,15,14,13,14,13,16,16,13", "7,8,8,8,7,7,6,8,8,7,8,8"}, 363},
		{"#14 old key/dense r16", [][]float64{impQuery, impKeyOld, impValue, impDenseOld}, 16, []string{
			"3,6,6,7,8,10,11,12,14,14,15,15", "11,12,10,10,12,12,11,12,12,12,12,12",
			"4,12,23,29,30,28,27,28,27,33,33,26", "14,17,17,17,14,14,13,17,16,14,16,16"}, 744},
		{"#15 current r16", [][]float64{impQuery, impKey, impValue, impDense}, 16, []string{
			"3,5,6,6,7,9,10,11,12,13,13,13", "1,3,5,6,8,9,10,11,13,14,13,13",
			"4,11,21,27,27,25,24,25,25,30,30,23", "14,19,21,21,23,24,23,24,24,24,24,17"}, 744},
	}
	for _, c := range cases {
		got, err := PerType(c.groups, AllocOptions{AvgRank: c.avg, Rounding: RoundFloor}, true)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for i := range got {
			if s := FormatRanks(got[i]); s != c.want[i] {
				t.Errorf("%s type %d: got %s, want %s", c.name, i, s, c.want[i])
			}
			for _, r := range got[i] {
				sum += r
			}
		}
		if sum != c.sum {
			t.Errorf("%s: sum %d, want %d", c.name, sum, c.sum)
		}
	}
}

// Doc §(c) C4: float32 scaled values before the floor, r̄ = 8, N = 12.
func TestFloorScaledC4(t *testing.T) {
	cases := []struct {
		imp  []float64
		want []float64
	}{
		{impQuery, []float64{2.8601, 4.7503, 5.1973, 5.3280, 6.5176, 8.0786, 8.9784, 9.6904, 10.6476, 10.9966, 11.4806, 11.4745}},
		{impKey, []float64{1.1960, 2.7235, 4.6539, 5.7094, 7.1101, 8.3043, 8.9010, 10.1704, 11.6758, 11.9353, 11.7439, 11.8764}},
		{impValue, []float64{1.5428, 3.8644, 7.3910, 9.3902, 9.5439, 8.9762, 8.5381, 8.8631, 8.6981, 10.4928, 10.4550, 8.2444}},
		{impDense, []float64{5.1436, 7.0449, 7.7318, 7.7982, 8.4229, 9.0466, 8.4524, 9.0561, 8.8053, 9.1134, 8.9421, 6.4426}},
	}
	for ci, c := range cases {
		got, err := FloorScaled(c.imp, 8, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if d := math.Abs(float64(got[i]) - c.want[i]); d > 1e-4 {
				t.Errorf("case %d layer %d: scaled %.6f, want %.4f", ci, i, got[i], c.want[i])
			}
		}
	}
}

// predict_rank.py divides by n_layers, not len(d): N overrides the divisor.
func TestFloorExplicitN(t *testing.T) {
	// Half the vector with N = 12 gets twice the per-module share of N = 6.
	a, err := Allocate(impValue[:6], AllocOptions{AvgRank: 4, Rounding: RoundFloor, N: 12})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Allocate(impValue[:6], AllocOptions{AvgRank: 8, Rounding: RoundFloor})
	if err != nil {
		t.Fatal(err)
	}
	if FormatRanks(a) != FormatRanks(b) {
		t.Errorf("N=12,r=4 gives %v; N=6,r=8 gives %v", a, b)
	}
}

func TestFloorExplicitClamp(t *testing.T) {
	r, err := Allocate(impKey, AllocOptions{AvgRank: 4, Rounding: RoundFloor, MinRank: 1, MaxRank: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := FormatRanks(r), "1,1,2,2,3,4,4,4,4,4,4,4"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func sumInts(r []int) int {
	s := 0
	for _, x := range r {
		s += x
	}
	return s
}

// Largest remainder spends the budget exactly; on the notebook vectors it
// adds the ranks that floor leaves unspent to the largest fractions.
func TestLargestRemainderGolden(t *testing.T) {
	cases := []struct {
		imp  []float64
		avg  float64
		min  int
		want string
	}{
		// value r8: floor gives 89, fractions .5428 .8644 .3910 .3902 .5439 .9762 .5381 .8631 .6981 .4928 .4550 .2444
		// -> +1 for .9762(5) .8644(1) .8631(7) .6981(8) .5439(4) .5428(0) .5381(6)
		{impValue, 8, 1, "2,4,7,9,10,9,9,9,9,10,10,8"},
		// key r4, min 1: layer 0 quota 0.598 is raised to 1.
		{impKey, 4, 1, "1,1,2,3,4,4,4,5,6,6,6,6"},
		{impKey, 4, 0, "1,1,2,3,4,4,4,5,6,6,6,6"},
	}
	for _, c := range cases {
		r, err := Allocate(c.imp, AllocOptions{AvgRank: c.avg, MinRank: c.min})
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatRanks(r); got != c.want {
			t.Errorf("avg %g min %d: got %s, want %s", c.avg, c.min, got, c.want)
		}
		if s := sumInts(r); s != int(c.avg)*len(c.imp) {
			t.Errorf("sum %d, want %d", s, int(c.avg)*len(c.imp))
		}
	}
}

func TestLargestRemainderTies(t *testing.T) {
	// Equal quotas 8/3 each: 2 remainders go to the two lowest indices.
	r, err := Allocate([]float64{1, 1, 1}, AllocOptions{AvgRank: 8.0 / 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatRanks(r); got != "3,3,2" {
		t.Errorf("ties: got %s, want 3,3,2", got)
	}
	// Uniform importances give the uniform rank.
	r, err = Allocate([]float64{0.3, 0.3, 0.3, 0.3}, AllocOptions{AvgRank: 8})
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatRanks(r); got != "8,8,8,8" {
		t.Errorf("uniform: got %s", got)
	}
}

func TestLargestRemainderBounds(t *testing.T) {
	// Max rank binds: the surplus of the capped module flows to the others
	// in proportion to their importance.
	r, err := Allocate([]float64{10, 1, 1, 2}, AllocOptions{AvgRank: 4, MinRank: 1, MaxRank: 6})
	if err != nil {
		t.Fatal(err)
	}
	// Exact expectation: after capping module 0 at 6, λ = 10/4 gives
	// 2.5, 2.5, 5.0 -> floors 2,2,5, one rank left, tie between modules 1 and 2
	// (same importance) -> lower index.
	if got := FormatRanks(r); got != "6,3,2,5" {
		t.Errorf("bounds: got %s, want 6,3,2,5", got)
	}

	// Min rank binds: small modules are raised, the rest shrink.
	r, err = Allocate([]float64{0, 0.001, 1, 1}, AllocOptions{AvgRank: 2, MinRank: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatRanks(r); got != "1,1,3,3" {
		t.Errorf("min: got %s, want 1,1,3,3", got)
	}
}

func TestAllocateErrors(t *testing.T) {
	cases := []struct {
		name string
		imp  []float64
		opt  AllocOptions
		msg  string
	}{
		{"empty", nil, AllocOptions{AvgRank: 8}, "no importances"},
		{"nan", []float64{1, math.NaN()}, AllocOptions{AvgRank: 8}, "NaN"},
		{"inf", []float64{1, math.Inf(1)}, AllocOptions{AvgRank: 8}, "Inf"},
		{"negative", []float64{1, -0.5}, AllocOptions{AvgRank: 8}, "negative"},
		{"zero", []float64{0, 0}, AllocOptions{AvgRank: 8}, "all importances are zero"},
		{"avg0", []float64{1}, AllocOptions{AvgRank: 0}, "average rank"},
		{"avgneg", []float64{1}, AllocOptions{AvgRank: -1, Rounding: RoundFloor}, "average rank"},
		{"rounding", []float64{1}, AllocOptions{AvgRank: 1, Rounding: "ceil"}, "unknown rounding"},
		{"minmax", []float64{1}, AllocOptions{AvgRank: 1, MinRank: 3, MaxRank: 2}, "exceeds max"},
		{"min too big", []float64{1, 2, 3}, AllocOptions{AvgRank: 2, MinRank: 3}, "min rank 3 for 3 modules needs 9"},
		{"max too small", []float64{1, 2, 3}, AllocOptions{AvgRank: 4, MaxRank: 3}, "max rank 3 cannot spend budget 12"},
		{"budget 0", []float64{1, 2, 3}, AllocOptions{AvgRank: 0.1}, "nothing to allocate"},
		{"negative N", []float64{1}, AllocOptions{AvgRank: 1, N: -2}, "N must be"},
	}
	for _, c := range cases {
		_, err := Allocate(c.imp, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got error %v, want one containing %q", c.name, err, c.msg)
		}
	}
}

// Property test: budget spent, bounds respected, ranks monotone in importance.
func TestLargestRemainderProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	checked := 0
	for trial := range 3000 {
		n := 1 + rng.IntN(60)
		imp := make([]float64, n)
		for i := range imp {
			switch rng.IntN(6) {
			case 0:
				imp[i] = 0
			case 1:
				imp[i] = float64(rng.IntN(4)) // many exact ties
			default:
				imp[i] = rng.Float64() * math.Pow(10, float64(rng.IntN(5)-2))
			}
		}
		imp[rng.IntN(n)] += 0.5 // not all zero
		avg := []float64{0.5, 1, 2, 4, 8, 16, 2.5, 7.25}[rng.IntN(8)]
		minR := rng.IntN(3)
		maxR := 0
		if rng.IntN(2) == 0 {
			maxR = minR + rng.IntN(20)
		}
		opt := AllocOptions{AvgRank: avg, MinRank: minR, MaxRank: maxR}
		r, err := Allocate(imp, opt)
		budget := int(math.Round(avg * float64(n)))
		if err != nil {
			// Only infeasible budgets may fail.
			pos := 0
			for _, d := range imp {
				if d > 0 {
					pos++
				}
			}
			infeasible := budget < 1 || minR*n > budget || (maxR > 0 && pos*maxR+(n-pos)*minR < budget)
			if !infeasible {
				t.Fatalf("trial %d: unexpected error %v (imp %v opt %+v)", trial, err, imp, opt)
			}
			continue
		}
		checked++
		if s := sumInts(r); s != budget {
			t.Fatalf("trial %d: sum %d, want %d (imp %v opt %+v -> %v)", trial, s, budget, imp, opt, r)
		}
		for i := range r {
			if r[i] < minR || (maxR > 0 && r[i] > maxR) {
				t.Fatalf("trial %d: rank %d out of [%d,%d]", trial, r[i], minR, maxR)
			}
			for j := range r {
				if imp[i] > imp[j] && r[i] < r[j] {
					t.Fatalf("trial %d: imp %g > %g but rank %d < %d", trial, imp[i], imp[j], r[i], r[j])
				}
			}
		}
		// Without bounds binding every rank is within 1 of its exact quota.
		if minR == 0 && maxR == 0 {
			sum := 0.0
			for _, d := range imp {
				sum += d
			}
			for i, d := range imp {
				q := float64(budget) * d / sum
				if math.Abs(float64(r[i])-q) >= 1 {
					t.Fatalf("trial %d: rank %d too far from quota %g", trial, r[i], q)
				}
			}
		}
	}
	if checked < 1500 {
		t.Fatalf("only %d of 3000 random cases were feasible", checked)
	}
	t.Logf("%d feasible cases checked", checked)
}

func TestPerTypeSeparate(t *testing.T) {
	got, err := PerType([][]float64{impQuery, impValue[:4]}, AllocOptions{AvgRank: 8, Rounding: RoundFloor}, false)
	if err != nil {
		t.Fatal(err)
	}
	if s := FormatRanks(got[0]); s != "2,4,5,5,6,8,8,9,10,10,11,11" {
		t.Errorf("query: %s", s)
	}
	if len(got[1]) != 4 || sumInts(got[1]) > 32 {
		t.Errorf("value[:4]: %v", got[1])
	}
	// Largest remainder: every type spends its own budget.
	got, err = PerType([][]float64{impQuery, impKey, impValue, impDense}, AllocOptions{AvgRank: 8, MinRank: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if s := sumInts(got[i]); s != 96 {
			t.Errorf("type %d sum %d, want 96", i, s)
		}
	}
	if _, err := PerType(nil, AllocOptions{AvgRank: 8}, true); err == nil {
		t.Error("no groups: want an error")
	}
	if _, err := PerType([][]float64{impQuery}, AllocOptions{AvgRank: 8, N: 3}, true); err == nil {
		t.Error("N set: want an error")
	}
	if _, err := PerType([][]float64{impQuery, {}}, AllocOptions{AvgRank: 8}, true); err == nil {
		t.Error("empty group: want an error")
	}
}

func TestParseRounding(t *testing.T) {
	for s, want := range map[string]Rounding{"": RoundLargestRemainder, "floor": RoundFloor, "largest-remainder": RoundLargestRemainder} {
		got, err := ParseRounding(s)
		if err != nil || got != want {
			t.Errorf("ParseRounding(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseRounding("round"); err == nil {
		t.Error("want an error for an unknown rounding")
	}
}
