package metrics

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

// Hand-computed case: pred [0 0 1 1 2], gold [0 1 1 1 0], 4 classes (class 3 absent).
var (
	hPred = []int{0, 0, 1, 1, 2}
	hGold = []int{0, 1, 1, 1, 0}
)

func TestAccuracy(t *testing.T) {
	if got := Accuracy(hPred, hGold); !near(got, 0.6) {
		t.Errorf("accuracy %v, want 0.6", got)
	}
	if got := Accuracy(nil, nil); got != 0 {
		t.Errorf("empty accuracy %v", got)
	}
}

func TestConfusion(t *testing.T) {
	want := [][]int{{1, 0, 1, 0}, {1, 2, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}}
	if got := Confusion(hPred, hGold, 4); !reflect.DeepEqual(got, want) {
		t.Errorf("confusion %v, want %v", got, want)
	}
}

func TestMacroF1(t *testing.T) {
	// F1: class 0 = 2/(2+1+1) = 0.5, class 1 = 4/(4+0+1) = 0.8, class 2 (only predicted) = 0;
	// class 3 is in neither and is left out (scikit-learn labels = union of gold and pred).
	if got := MacroF1(hPred, hGold, 4); !near(got, 1.3/3) {
		t.Errorf("macro-F1 %v, want %v", got, 1.3/3)
	}
	if got := MacroF1([]int{1, 1, 0}, []int{1, 1, 0}, 3); !near(got, 1) {
		t.Errorf("perfect macro-F1 %v", got)
	}
	// Everything predicted as class 0 on a balanced binary set: F1 = [2/3, 0] -> 1/3.
	if got := MacroF1([]int{0, 0, 0, 0}, []int{0, 0, 1, 1}, 2); !near(got, 1.0/3) {
		t.Errorf("degenerate macro-F1 %v, want 1/3", got)
	}
	if got := MacroF1(nil, nil, 3); got != 0 {
		t.Errorf("empty macro-F1 %v", got)
	}
}

func TestROCAUCBinary(t *testing.T) {
	gold := []int{0, 0, 1, 1}
	p1 := []float32{0.1, 0.4, 0.35, 0.8}
	var col, probs, logits [][]float32
	for _, p := range p1 {
		col = append(col, []float32{p})
		probs = append(probs, []float32{1 - p, p})
		logits = append(logits, []float32{0.3, 0.3 + float32(math.Log(float64(p/(1-p))))})
	}
	for name, s := range map[string][][]float32{"one column": col, "probabilities": probs, "logits": logits} {
		got, err := ROCAUC(s, gold)
		if err != nil || !near(got, 0.75) {
			t.Errorf("%s: AUC %v (%v), want 0.75", name, got, err)
		}
	}
	// Ties count one half: pairs (0.5>0.2)=1, (0.5=0.5)=0.5, 0.9 beats both = 2 -> 3.5/4.
	tie := [][]float32{{0.2}, {0.5}, {0.5}, {0.9}}
	if got, err := ROCAUC(tie, []int{0, 0, 1, 1}); err != nil || !near(got, 0.875) {
		t.Errorf("ties: AUC %v (%v), want 0.875", got, err)
	}
	allTied := [][]float32{{0.5, 0.5}, {0.5, 0.5}, {0.5, 0.5}}
	if got, err := ROCAUC(allTied, []int{0, 1, 1}); err != nil || !near(got, 0.5) {
		t.Errorf("all tied: AUC %v (%v), want 0.5", got, err)
	}
	// Huge logit gaps must not be rounded into ties (softmax would give 1.0 for both).
	big := [][]float32{{0, 40}, {0, 50}, {0, 45}}
	if got, err := ROCAUC(big, []int{0, 1, 0}); err != nil || !near(got, 1) {
		t.Errorf("large logits: AUC %v (%v), want 1", got, err)
	}
}

func TestROCAUCMulticlass(t *testing.T) {
	// One-vs-rest by hand: class 0 = 5/6, class 1 = 4.5/6 (one tie), class 2 = 4/4.
	probs := [][]float32{{0.7, 0.2, 0.1}, {0.2, 0.5, 0.3}, {0.1, 0.3, 0.6}, {0.3, 0.4, 0.3}, {0.5, 0.3, 0.2}}
	gold := []int{0, 1, 2, 0, 1}
	want := (5.0/6 + 0.75 + 1) / 3
	if got, err := ROCAUC(probs, gold); err != nil || !near(got, want) {
		t.Errorf("AUC %v (%v), want %v", got, err, want)
	}
	// Logits are ranked by their softmax: 0.958333 (ranking the raw logits would give 0.791667).
	logits := [][]float32{{2, 1, 0.5}, {0.5, 2.5, -1}, {3, 2.8, 2.9}, {-1, 0, 1.5}, {1, -2, 0}, {0, 0.3, 0.2}}
	gold = []int{0, 1, 2, 2, 0, 1}
	if got, err := ROCAUC(logits, gold); err != nil || !near(got, 23.0/24) {
		t.Errorf("logits: AUC %v (%v), want %v", got, err, 23.0/24)
	}
	// A class absent from gold is left out of the average: classes 0 and 1 only.
	if got, err := ROCAUC(probs[:2], []int{0, 1}); err != nil || !near(got, 1) {
		t.Errorf("absent class: AUC %v (%v), want 1", got, err)
	}
}

func TestROCAUCErrors(t *testing.T) {
	cases := []struct {
		name   string
		scores [][]float32
		gold   []int
		want   string
	}{
		{"one class", [][]float32{{0.2, 0.8}, {0.6, 0.4}}, []int{1, 1}, "only one class"},
		{"length", [][]float32{{0.2, 0.8}}, []int{1, 0}, "1 score rows for 2 labels"},
		{"ragged", [][]float32{{0.2, 0.8}, {1}}, []int{1, 0}, "row 1 has 1 values"},
		{"nan", [][]float32{{0.2, float32(math.NaN())}, {0.5, 0.5}}, []int{1, 0}, "non-finite"},
		{"label range", [][]float32{{0.2, 0.8}, {0.5, 0.5}}, []int{2, 0}, "label 2 of row 0"},
		{"empty", nil, nil, "no examples"},
	}
	for _, c := range cases {
		_, err := ROCAUC(c.scores, c.gold)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

func TestEvaluate(t *testing.T) {
	scores := [][]float32{{0.9, 0.1}, {0.6, 0.4}, {0.35, 0.65}, {0.2, 0.8}, {0.5, 0.5}}
	gold := []int{0, 1, 1, 1, 0}
	r := Evaluate(scores, gold, 2)
	// pred = [0 0 1 1 0] (tie -> class 0): accuracy 4/5; F1 class 0 = 4/5, class 1 = 4/5.
	// AUC of p1 [.1 .4 .65 .8 .5] for positives {.4 .65 .8} vs {.1 .5}: (1 + 2 + 2)/6.
	if !near(r.Accuracy, 0.8) || !near(r.MacroF1, 0.8) || !near(r.ROCAUC, 5.0/6) || r.N != 5 {
		t.Errorf("report %+v", r)
	}
	if want := [][]int{{2, 0}, {1, 2}}; !reflect.DeepEqual(r.Confusion, want) {
		t.Errorf("confusion %v, want %v", r.Confusion, want)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip %+v (%v) from %s", back, err, b)
	}

	// A single gold class: AUC undefined -> NaN, written as null.
	one := Evaluate(scores[:2], []int{0, 0}, 2)
	if !math.IsNaN(one.ROCAUC) || !near(one.Accuracy, 1) {
		t.Errorf("single-class report %+v", one)
	}
	b, err = json.Marshal(one)
	if err != nil || !strings.Contains(string(b), `"ROCAUC":null`) {
		t.Fatalf("JSON of undefined AUC: %s (%v)", b, err)
	}
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(back.ROCAUC) || back.N != 2 {
		t.Errorf("null AUC read back as %+v (%v)", back, err)
	}
}

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		row  []float32
		want int
	}{{[]float32{1, 3, 3}, 1}, {[]float32{-1, -2}, 0}, {[]float32{nan, 1, 0}, 1}, {[]float32{0, nan, 2}, 2}, {[]float32{5}, 0}} {
		if got := Argmax(c.row); got != c.want {
			t.Errorf("Argmax(%v) = %d, want %d", c.row, got, c.want)
		}
	}
}

func TestPanicsOnMisuse(t *testing.T) {
	for name, f := range map[string]func(){
		"length":     func() { Accuracy([]int{1}, nil) },
		"range":      func() { Confusion([]int{3}, []int{0}, 2) },
		"score rows": func() { Evaluate([][]float32{{1, 2, 3}}, []int{0}, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
