package adarank

// Importance-to-rank allocation (AdaRank step 2, reference doc §(a) Step 2 / §(b) B3).
//
// Two rounding rules are offered:
//
//   - floor: the reference rule, bit-faithful to the TensorFlow notebook,
//     rank_i = floor(float32(B/Σd) * d_i) with B = AvgRank*N, all in float32.
//     No minimum and no maximum rank unless the caller sets MinRank/MaxRank
//     explicitly (then the floored ranks are clamped afterwards, which may
//     break the budget). Σ rank <= B; rank 0 is possible.
//
//   - largest-remainder (the default): spends exactly B = round(AvgRank*N)
//     ranks. Each module gets the quota q_i = clamp(λ·d_i, MinRank, MaxRank),
//     with λ chosen so that Σ q_i = B (water-filling: λ = B/Σd when no bound
//     binds). Every module receives floor(q_i) and the B - Σ floor(q_i) left
//     over go, one each, to the largest fractional parts; ties go to the
//     larger importance, then to the lower index. A more important module
//     never receives a smaller rank than a less important one.
//
// In AllocOptions MinRank = 0 and MaxRank = 0 mean "no bound". The CLI applies
// its default --min-rank 1 to largest-remainder only.

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Rounding selects how scaled importances become integer ranks.
type Rounding string

const (
	// RoundFloor is the reference rule: floor in float32, no redistribution.
	RoundFloor Rounding = "floor"
	// RoundLargestRemainder spends the whole budget (Hamilton's method).
	RoundLargestRemainder Rounding = "largest-remainder"
)

// ParseRounding accepts "floor" or "largest-remainder" ("" means the default,
// largest-remainder).
func ParseRounding(s string) (Rounding, error) {
	switch Rounding(s) {
	case "", RoundLargestRemainder:
		return RoundLargestRemainder, nil
	case RoundFloor:
		return RoundFloor, nil
	}
	return "", fmt.Errorf("unknown rounding %q (want floor or largest-remainder)", s)
}

// AllocOptions configures Allocate.
type AllocOptions struct {
	AvgRank  float64  // target average rank r̄ (> 0)
	Rounding Rounding // "" = largest-remainder
	MinRank  int      // 0 = no minimum
	MaxRank  int      // 0 = no maximum
	N        int      // budget divisor: B = AvgRank*N; 0 = len(imp)
}

// validate checks the importances and options shared by both rounding rules
// and returns the budget divisor N.
func validate(imp []float64, opt AllocOptions) (int, error) {
	if len(imp) == 0 {
		return 0, fmt.Errorf("no importances")
	}
	sum := 0.0
	for i, d := range imp {
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return 0, fmt.Errorf("importance %d is %v", i, d)
		}
		if d < 0 {
			return 0, fmt.Errorf("importance %d is negative (%g)", i, d)
		}
		sum += d
	}
	if sum == 0 {
		return 0, fmt.Errorf("all importances are zero")
	}
	if math.IsNaN(opt.AvgRank) || math.IsInf(opt.AvgRank, 0) || opt.AvgRank <= 0 {
		return 0, fmt.Errorf("average rank must be a positive number, got %v", opt.AvgRank)
	}
	if opt.N < 0 {
		return 0, fmt.Errorf("budget divisor N must be >= 0, got %d", opt.N)
	}
	if opt.MinRank < 0 || opt.MaxRank < 0 {
		return 0, fmt.Errorf("min/max rank must be >= 0 (0 = no bound), got %d/%d", opt.MinRank, opt.MaxRank)
	}
	if opt.MaxRank > 0 && opt.MinRank > opt.MaxRank {
		return 0, fmt.Errorf("min rank %d exceeds max rank %d", opt.MinRank, opt.MaxRank)
	}
	n := opt.N
	if n == 0 {
		n = len(imp)
	}
	return n, nil
}

// Allocate turns importances into integer ranks (see the file comment).
func Allocate(imp []float64, opt AllocOptions) ([]int, error) {
	rounding, err := ParseRounding(string(opt.Rounding))
	if err != nil {
		return nil, err
	}
	n, err := validate(imp, opt)
	if err != nil {
		return nil, err
	}
	if rounding == RoundFloor {
		scaled := floorScaled(imp, opt.AvgRank, n)
		ranks := make([]int, len(imp))
		for i, s := range scaled {
			r := int(math.Floor(float64(s)))
			if opt.MinRank > 0 && r < opt.MinRank {
				r = opt.MinRank
			}
			if opt.MaxRank > 0 && r > opt.MaxRank {
				r = opt.MaxRank
			}
			ranks[i] = r
		}
		return ranks, nil
	}
	return largestRemainder(imp, opt, n)
}

// FloorScaled returns the reference's scaled importances before the floor,
// float32(AvgRank*N) / Σd * d_i computed in float32 like the TF notebook
// (n = 0 means len(imp)).
func FloorScaled(imp []float64, avgRank float64, n int) ([]float32, error) {
	n, err := validate(imp, AllocOptions{AvgRank: avgRank, N: n})
	if err != nil {
		return nil, err
	}
	return floorScaled(imp, avgRank, n), nil
}

func floorScaled(imp []float64, avgRank float64, n int) []float32 {
	var sum float32
	for _, d := range imp {
		sum += float32(d)
	}
	factor := float32(avgRank*float64(n)) / sum // (r̄·N / Σd) first, as in the notebook
	out := make([]float32, len(imp))
	for i, d := range imp {
		out[i] = factor * float32(d)
	}
	return out
}

// clampQuota bounds x to [lo, hi]; hi <= 0 means no upper bound.
func clampQuota(x float64, lo, hi int) float64 {
	if x < float64(lo) {
		return float64(lo)
	}
	if hi > 0 && x > float64(hi) {
		return float64(hi)
	}
	return x
}

func largestRemainder(imp []float64, opt AllocOptions, n int) ([]int, error) {
	exact := opt.AvgRank * float64(n)
	budget := int(math.Round(exact))
	if budget < 1 {
		return nil, fmt.Errorf("budget round(%g*%d) = %d: nothing to allocate", opt.AvgRank, n, budget)
	}
	lo, hi := opt.MinRank, opt.MaxRank
	m := len(imp)
	if lo*m > budget {
		return nil, fmt.Errorf("min rank %d for %d modules needs %d ranks, budget is %d", lo, m, lo*m, budget)
	}
	if hi > 0 {
		// A zero-importance module stays at the minimum, so it cannot absorb budget.
		most := 0
		for _, d := range imp {
			if d > 0 {
				most += hi
			} else {
				most += lo
			}
		}
		if most < budget {
			return nil, fmt.Errorf("max rank %d cannot spend budget %d over %d modules (at most %d)", hi, budget, m, most)
		}
	}

	// Water-filling: find λ with Σ clamp(λ d_i, lo, hi) = budget. The sum is
	// continuous and non-decreasing in λ; bisect, then recompute λ exactly from
	// the set of modules left unclamped.
	total := func(lambda float64) float64 {
		s := 0.0
		for _, d := range imp {
			s += clampQuota(lambda*d, lo, hi)
		}
		return s
	}
	sum := 0.0
	for _, d := range imp {
		sum += d
	}
	lambda := float64(budget) / sum
	if total(lambda) != float64(budget) {
		a, b := 0.0, lambda
		for total(b) < float64(budget) {
			b *= 2
		}
		for range 200 {
			mid := 0.5 * (a + b)
			if mid <= a || mid >= b {
				break
			}
			if total(mid) < float64(budget) {
				a = mid
			} else {
				b = mid
			}
		}
		lambda = b
		// Refine: with the clamped sets fixed, λ = (budget - clamped) / Σ free d.
		fixed, free := 0.0, 0.0
		for _, d := range imp {
			q := lambda * d
			if q <= float64(lo) || (hi > 0 && q >= float64(hi)) {
				fixed += clampQuota(q, lo, hi)
			} else {
				free += d
			}
		}
		if free > 0 {
			refined := (float64(budget) - fixed) / free
			if refined > 0 && math.Abs(total(refined)-float64(budget)) <= math.Abs(total(lambda)-float64(budget)) {
				lambda = refined
			}
		}
	}

	ranks := make([]int, m)
	frac := make([]float64, m)
	spent := 0
	for i, d := range imp {
		q := clampQuota(lambda*d, lo, hi)
		f := math.Floor(q)
		ranks[i] = int(f)
		frac[i] = q - f
		spent += ranks[i]
	}
	left := budget - spent
	if left < 0 {
		return nil, fmt.Errorf("internal error: floors overspend the budget (%d > %d)", spent, budget)
	}
	// Hand out the remainder: largest fraction, then larger importance, then
	// lower index. Modules at the maximum are not eligible.
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(x, y int) bool {
		i, j := order[x], order[y]
		if frac[i] != frac[j] {
			return frac[i] > frac[j]
		}
		if imp[i] != imp[j] {
			return imp[i] > imp[j]
		}
		return i < j
	})
	for _, i := range order {
		if left == 0 {
			break
		}
		if hi > 0 && ranks[i] >= hi {
			continue
		}
		if imp[i] == 0 && ranks[i] >= lo {
			continue // a zero-importance module never grows past the minimum
		}
		ranks[i]++
		left--
	}
	if left != 0 {
		return nil, fmt.Errorf("internal error: %d ranks left unallocated", left)
	}
	return ranks, nil
}

// PerType allocates ranks for importances grouped by module type
// (groups[t][layer]). With joint = false every group is allocated on its own
// with budget AvgRank*len(group); with joint = true all groups are
// concatenated and allocated together with budget AvgRank*Σlen (ranks then
// move between types, as in the reference "all modules" cells). opt.N must be
// 0: the divisor follows from the grouping. The result has the same shape.
func PerType(groups [][]float64, opt AllocOptions, joint bool) ([][]int, error) {
	if opt.N != 0 {
		return nil, fmt.Errorf("PerType derives N from the groups; leave AllocOptions.N at 0 (got %d)", opt.N)
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("no module types")
	}
	out := make([][]int, len(groups))
	if !joint {
		for t, g := range groups {
			r, err := Allocate(g, opt)
			if err != nil {
				return nil, fmt.Errorf("module type %d: %w", t, err)
			}
			out[t] = r
		}
		return out, nil
	}
	var all []float64
	for t, g := range groups {
		if len(g) == 0 {
			return nil, fmt.Errorf("module type %d has no importances", t)
		}
		all = append(all, g...)
	}
	r, err := Allocate(all, opt)
	if err != nil {
		return nil, err
	}
	off := 0
	for t, g := range groups {
		out[t] = r[off : off+len(g) : off+len(g)]
		off += len(g)
	}
	return out, nil
}

// FormatRanks joins ranks with commas, the reference's string form.
func FormatRanks(ranks []int) string {
	var b strings.Builder
	for i, r := range ranks {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", r)
	}
	return b.String()
}
