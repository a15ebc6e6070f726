// Package metrics computes classification metrics: accuracy, macro-F1, ROC-AUC and the
// confusion matrix, with scikit-learn semantics.
//
// Labels and predictions are class ids in [0, numClasses). Mismatched lengths or ids out of
// range are programming errors and panic; ROCAUC, whose scores may come from outside,
// returns errors instead.
package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Accuracy returns the fraction of pred equal to gold (0 for empty input).
func Accuracy(pred, gold []int) float64 {
	checkLen(pred, gold)
	if len(gold) == 0 {
		return 0
	}
	ok := 0
	for i := range gold {
		if pred[i] == gold[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(gold))
}

// Confusion returns the numClasses x numClasses matrix whose [g][p] entry counts examples
// of gold class g predicted as p (scikit-learn's layout: rows gold, columns predicted).
func Confusion(pred, gold []int, numClasses int) [][]int {
	checkLen(pred, gold)
	m := make([][]int, numClasses)
	for i := range m {
		m[i] = make([]int, numClasses)
	}
	for i := range gold {
		g, p := gold[i], pred[i]
		if g < 0 || g >= numClasses || p < 0 || p >= numClasses {
			panic(fmt.Sprintf("metrics: label %d or prediction %d outside [0, %d)", g, p, numClasses))
		}
		m[g][p]++
	}
	return m
}

// MacroF1 is the unweighted mean of the per-class F1 = 2TP/(2TP+FP+FN) over the classes
// present in gold or pred, as scikit-learn's f1_score(average="macro", zero_division=0):
// a class only predicted, or only in gold, has F1 0; classes absent from both are ignored.
// Empty input gives 0.
func MacroF1(pred, gold []int, numClasses int) float64 {
	m := Confusion(pred, gold, numClasses)
	sum, present := 0.0, 0
	for c := 0; c < numClasses; c++ {
		tp := m[c][c]
		fn, fp := -tp, -tp
		for k := 0; k < numClasses; k++ {
			fn += m[c][k]
			fp += m[k][c]
		}
		if tp+fn+fp == 0 {
			continue
		}
		present++
		sum += 2 * float64(tp) / float64(2*tp+fp+fn)
	}
	if present == 0 {
		return 0
	}
	return sum / float64(present)
}

// ROCAUC returns the area under the ROC curve of scores [n][C] against gold.
//
// When every row is non-negative and sums to 1 (within 1e-3) the scores are probabilities;
// otherwise they are logits and are ranked by their log-softmax (the same order as the
// softmax probabilities, without rounding large logit gaps into ties). With C = 1 the single
// column is the score of class 1; with C = 2 the AUC is that of the class-1 probability (for
// logits, z1 - z0); for C > 2 it is the one-vs-rest AUC averaged over the classes that have
// both positives and negatives in gold. Ties count one half (Mann-Whitney statistic with
// average ranks), as scikit-learn's roc_auc_score.
func ROCAUC(scores [][]float32, gold []int) (float64, error) {
	n := len(gold)
	if len(scores) != n {
		return 0, fmt.Errorf("metrics: %d score rows for %d labels", len(scores), n)
	}
	if n == 0 {
		return 0, fmt.Errorf("metrics: ROC-AUC of no examples")
	}
	c := len(scores[0])
	if c == 0 {
		return 0, fmt.Errorf("metrics: score rows are empty")
	}
	isProb := true
	for i, row := range scores {
		if len(row) != c {
			return 0, fmt.Errorf("metrics: score row %d has %d values, row 0 has %d", i, len(row), c)
		}
		sum := 0.0
		for _, v := range row {
			x := float64(v)
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return 0, fmt.Errorf("metrics: score row %d holds the non-finite value %v", i, v)
			}
			isProb = isProb && x >= 0
			sum += x
		}
		isProb = isProb && math.Abs(sum-1) <= 1e-3
	}
	numClasses := max(c, 2)
	for i, g := range gold {
		if g < 0 || g >= numClasses {
			return 0, fmt.Errorf("metrics: label %d of row %d outside [0, %d)", g, i, numClasses)
		}
	}
	col := make([]float64, n)
	pos := make([]bool, n)
	if c <= 2 {
		for i, row := range scores {
			switch {
			case c == 1 || isProb:
				col[i] = float64(row[c-1])
			default:
				col[i] = float64(row[1]) - float64(row[0])
			}
			pos[i] = gold[i] == 1
		}
		auc, ok := binaryAUC(col, pos)
		if !ok {
			return 0, fmt.Errorf("metrics: ROC-AUC is undefined when gold holds only one class")
		}
		return auc, nil
	}
	// Per-row log-sum-exp for logits.
	lse := make([]float64, n)
	if !isProb {
		for i, row := range scores {
			mx := math.Inf(-1)
			for _, v := range row {
				mx = max(mx, float64(v))
			}
			s := 0.0
			for _, v := range row {
				s += math.Exp(float64(v) - mx)
			}
			lse[i] = mx + math.Log(s)
		}
	}
	sum, used := 0.0, 0
	for k := 0; k < c; k++ {
		for i, row := range scores {
			col[i] = float64(row[k]) - lse[i]
			pos[i] = gold[i] == k
		}
		if auc, ok := binaryAUC(col, pos); ok {
			sum += auc
			used++
		}
	}
	if used == 0 {
		return 0, fmt.Errorf("metrics: ROC-AUC is undefined when gold holds only one class")
	}
	return sum / float64(used), nil
}

// binaryAUC is the Mann-Whitney AUC of score for the positives against the negatives, with
// tied scores given their average rank. ok is false when either group is empty.
func binaryAUC(score []float64, pos []bool) (auc float64, ok bool) {
	n := len(score)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	nPos := 0
	rankSum := 0.0 // sum of the (1-based, tie-averaged) ranks of the positives
	for i := 0; i < n; {
		j := i
		for j < n && score[idx[j]] == score[idx[i]] {
			j++
		}
		avg := float64(i+1+j) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if pos[idx[k]] {
				nPos++
				rankSum += avg
			}
		}
		i = j
	}
	nNeg := n - nPos
	if nPos == 0 || nNeg == 0 {
		return 0, false
	}
	u := rankSum - float64(nPos)*float64(nPos+1)/2
	return u / (float64(nPos) * float64(nNeg)), true
}

// Report gathers the metrics of one evaluation. ROCAUC is NaN where it is undefined (gold
// holds a single class); it is written as null in JSON.
type Report struct {
	Accuracy, MacroF1, ROCAUC float64
	Confusion                 [][]int
	N                         int
}

// Evaluate computes a Report from scores [n][numClasses] (probabilities or logits) with
// pred = argmax (the lowest class id on ties).
func Evaluate(scores [][]float32, gold []int, numClasses int) Report {
	if len(scores) != len(gold) {
		panic(fmt.Sprintf("metrics: %d score rows for %d labels", len(scores), len(gold)))
	}
	pred := make([]int, len(scores))
	for i, row := range scores {
		if len(row) != numClasses {
			panic(fmt.Sprintf("metrics: score row %d has %d values, want %d", i, len(row), numClasses))
		}
		pred[i] = Argmax(row)
	}
	r := Report{
		Accuracy:  Accuracy(pred, gold),
		MacroF1:   MacroF1(pred, gold, numClasses),
		Confusion: Confusion(pred, gold, numClasses),
		N:         len(gold),
	}
	auc, err := ROCAUC(scores, gold)
	if err != nil {
		auc = math.NaN()
	}
	r.ROCAUC = auc
	return r
}

// Argmax returns the index of the largest value (the first one on ties; NaN never wins).
func Argmax(row []float32) int {
	best := 0
	for i := 1; i < len(row); i++ {
		if row[i] > row[best] || row[best] != row[best] {
			best = i
		}
	}
	return best
}

// reportJSON is Report's JSON form: the default field names, null for an undefined metric.
type reportJSON struct {
	Accuracy, MacroF1, ROCAUC *float64
	Confusion                 [][]int
	N                         int
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes NaN metrics as null (encoding/json cannot write NaN).
func (r Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(reportJSON{finite(r.Accuracy), finite(r.MacroF1), finite(r.ROCAUC), r.Confusion, r.N})
}

// UnmarshalJSON reads null metrics back as NaN.
func (r *Report) UnmarshalJSON(b []byte) error {
	var j reportJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Report{orNaN(j.Accuracy), orNaN(j.MacroF1), orNaN(j.ROCAUC), j.Confusion, j.N}
	return nil
}

func checkLen(pred, gold []int) {
	if len(pred) != len(gold) {
		panic(fmt.Sprintf("metrics: %d predictions for %d labels", len(pred), len(gold)))
	}
}
