package data

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sharedData is the read-only data folder (repo-root-relative ../shared/data).
const sharedData = "../../../shared/data"

// needShared skips the test when the shared data folder (or one data set in it) is absent.
func needShared(t *testing.T, sub string) string {
	t.Helper()
	p := filepath.Join(sharedData, sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data %s not available: %v", p, err)
	}
	return p
}

func mustLoad(t *testing.T, task, sub string, opt Options) *Dataset {
	t.Helper()
	ds, err := LoadTask(task, needShared(t, sub), opt)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func addCounts(a, b []int) []int {
	out := make([]int, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

// checkCarve checks that carving kept every row once and that train and val are disjoint
// subsequences of the uncarved train split.
func checkCarve(t *testing.T, all, train, val []Example) {
	t.Helper()
	if len(train)+len(val) != len(all) {
		t.Fatalf("train %d + val %d != %d", len(train), len(val), len(all))
	}
	i, j := 0, 0
	for _, e := range all {
		switch {
		case i < len(train) && train[i] == e:
			i++
		case j < len(val) && val[j] == e:
			j++
		default:
			t.Fatalf("carved splits are not an order-preserving partition of train (at %q)", e.Text)
		}
	}
}

func TestTREC(t *testing.T) {
	all := mustLoad(t, "trec", "trec", Options{ValFraction: -1})
	if want := []string{"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}; !reflect.DeepEqual(all.Classes, want) {
		t.Fatalf("classes %v, want %v", all.Classes, want)
	}
	if len(all.Train) != 5452 || len(all.Test) != 500 || all.Val != nil {
		t.Fatalf("rows train %d val %d test %d, want 5452/0/500", len(all.Train), len(all.Val), len(all.Test))
	}
	if got, want := ClassCounts(all.Train, 6), []int{86, 1162, 1250, 1223, 835, 896}; !reflect.DeepEqual(got, want) {
		t.Errorf("train class counts %v, want %v", got, want)
	}
	if got, want := ClassCounts(all.Test, 6), []int{9, 138, 94, 65, 81, 113}; !reflect.DeepEqual(got, want) {
		t.Errorf("test class counts %v, want %v", got, want)
	}
	if e := all.Train[0]; e.Text != "How did serfdom develop in and then leave Russia ?" || e.Label != 1 {
		t.Errorf("first train row %+v", e)
	}
	if e := all.Test[0]; e.Text != "How far is it from Denver to Aspen ?" || e.Label != 5 {
		t.Errorf("first test row %+v", e)
	}
	// Line 66 holds the one non-ASCII byte, 0xF0, which is U+00F0 in ISO-8859-1.
	if e := all.Train[65]; e.Text != "Which city has the oldest relationship as a sister\u00f0city with Los Angeles ?" {
		t.Errorf("ISO-8859-1 row decoded as %q", e.Text)
	}

	// Default options: 10% validation carved with seed 1, deterministic.
	ds := mustLoad(t, "trec", "trec", Options{})
	if len(ds.Val) != 545 || len(ds.Train) != 4907 {
		t.Fatalf("carved train %d val %d, want 4907/545", len(ds.Train), len(ds.Val))
	}
	checkCarve(t, all.Train, ds.Train, ds.Val)
	if !reflect.DeepEqual(ds.Test, all.Test) {
		t.Error("validation carving changed the test split")
	}
	again := mustLoad(t, "trec", "trec", Options{Seed: 1, ValFraction: 0.1})
	if !reflect.DeepEqual(ds, again) {
		t.Error("loading twice with the same seed differs")
	}
	other := mustLoad(t, "trec", "trec", Options{Seed: 2})
	if reflect.DeepEqual(other.Val, ds.Val) || len(other.Val) != 545 {
		t.Error("seed 2 gave the same validation split as seed 1")
	}
	if len(ds.Notes) == 0 || !strings.Contains(strings.Join(ds.Notes, "\n"), "seed 1") {
		t.Errorf("notes do not describe the carving: %q", ds.Notes)
	}
}

func TestTRECFine(t *testing.T) {
	ds := mustLoad(t, "trec-fine", "trec", Options{ValFraction: -1})
	viaOpt := mustLoad(t, "trec", "trec", Options{ValFraction: -1, Fine: true})
	if !reflect.DeepEqual(ds, viaOpt) {
		t.Error(`task "trec-fine" and Options.Fine differ`)
	}
	if len(ds.Classes) != 50 || ds.Classes[0] != "ABBR:abb" || ds.Classes[49] != "NUM:weight" {
		t.Fatalf("fine classes: %d, first %q last %q", len(ds.Classes), ds.Classes[0], ds.Classes[len(ds.Classes)-1])
	}
	if len(ds.Train) != 5452 || len(ds.Test) != 500 {
		t.Fatalf("rows %d/%d", len(ds.Train), len(ds.Test))
	}
	if c := ds.Classes[ds.Train[0].Label]; c != "DESC:manner" {
		t.Errorf("first train label %q, want DESC:manner", c)
	}
	if c := ds.Classes[ds.Test[0].Label]; c != "NUM:dist" {
		t.Errorf("first test label %q, want NUM:dist", c)
	}
}

func TestAGNews(t *testing.T) {
	ds := mustLoad(t, "ag_news", "ag_news", Options{ValFraction: -1})
	if want := []string{"World", "Sports", "Business", "Sci/Tech"}; !reflect.DeepEqual(ds.Classes, want) {
		t.Fatalf("classes %v", ds.Classes)
	}
	if len(ds.Train) != 6080 || len(ds.Test) != 1520 {
		t.Fatalf("rows train %d test %d, want 6080/1520", len(ds.Train), len(ds.Test))
	}
	if got, want := ClassCounts(ds.Test, 4), []int{357, 382, 401, 380}; !reflect.DeepEqual(got, want) {
		t.Errorf("test class counts %v, want %v", got, want)
	}
	if got, want := ClassCounts(ds.Train, 4), []int{1543, 1518, 1499, 1520}; !reflect.DeepEqual(got, want) {
		t.Errorf("train class counts %v, want %v", got, want)
	}
	// Row 0 (class 3, Business) is test; row 1 is the first train row and holds literal backslashes.
	if e := ds.Test[0]; e.Label != 2 || e.Text != "Fears for T N pension after talks Unions representing workers at Turner   Newall say they are 'disappointed' after talks with stricken parent firm Federal Mogul." {
		t.Errorf("first test row %+v", e)
	}
	if e := ds.Train[0]; e.Label != 3 || !strings.HasPrefix(e.Text, "The Race is On: Second Private Team Sets Launch Date for Human Spaceflight (SPACE.com) SPACE.com - TORONTO, Canada -- A second\\team of") {
		t.Errorf("first train row %+v", e)
	}
	def := mustLoad(t, "ag-news", "ag_news", Options{})
	if len(def.Train) != 5472 || len(def.Val) != 608 || !reflect.DeepEqual(def.Test, ds.Test) {
		t.Errorf("carved train %d val %d (want 5472/608), test unchanged %v", len(def.Train), len(def.Val), reflect.DeepEqual(def.Test, ds.Test))
	}
	checkCarve(t, ds.Train, def.Train, def.Val)
}

func TestSST2(t *testing.T) {
	ds := mustLoad(t, "sst2", "sst2", Options{})
	if !reflect.DeepEqual(ds.Classes, []string{"neg", "pos"}) {
		t.Fatalf("classes %v", ds.Classes)
	}
	if len(ds.Train) != 6920 || len(ds.Val) != 872 || len(ds.Test) != 1821 {
		t.Fatalf("rows %d/%d/%d, want 6920/872/1821", len(ds.Train), len(ds.Val), len(ds.Test))
	}
	for _, c := range []struct {
		name string
		ex   []Example
		want []int
	}{{"train", ds.Train, []int{3310, 3610}}, {"dev", ds.Val, []int{428, 444}}, {"test", ds.Test, []int{912, 909}}} {
		if got := ClassCounts(c.ex, 2); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s class counts %v, want %v", c.name, got, c.want)
		}
	}
	if e := ds.Train[0]; e.Label != 1 || e.Text != "a stirring , funny and finally transporting re-imagining of beauty and the beast and 1930s horror films" {
		t.Errorf("first train row %+v", e)
	}
	if e := ds.Val[0]; e.Label != 0 || e.Text != "one long string of cliches ." {
		t.Errorf("first dev row %+v", e)
	}
}

// TestIMDB reads the 25 MB of gzip once (about a second).
func TestIMDB(t *testing.T) {
	ds := mustLoad(t, "imdb", "imdb", Options{ValFraction: -1})
	if !reflect.DeepEqual(ds.Classes, []string{"neg", "pos"}) {
		t.Fatalf("classes %v", ds.Classes)
	}
	if len(ds.Train) != 25000 || len(ds.Test) != 25000 {
		t.Fatalf("rows %d/%d", len(ds.Train), len(ds.Test))
	}
	if got := ClassCounts(ds.Train, 2); !reflect.DeepEqual(got, []int{12500, 12500}) {
		t.Errorf("train class counts %v", got)
	}
	if got := ClassCounts(ds.Test, 2); !reflect.DeepEqual(got, []int{12500, 12500}) {
		t.Errorf("test class counts %v", got)
	}
	if e := ds.Train[0]; e.Label != 0 || !strings.HasPrefix(e.Text, "Story of a man who has unnatural feelings for a pig.") ||
		!strings.HasSuffix(e.Text, "Future stars Sally Kirkland and Frederic Forrest can be seen briefly.") {
		t.Errorf("first train row %+v", e)
	}
	// Row 3 is CSV-quoted with doubled quotes inside; <br /> tags are kept.
	if e := ds.Train[2]; !strings.HasPrefix(e.Text, `I saw the capsule comment said "great acting."`) {
		t.Errorf("quoted row decoded as %.60q", e.Text)
	}
	if !strings.Contains(ds.Train[1].Text, "so what?<br /><br />Equally annoying") {
		t.Error("<br /> tags not kept as is")
	}
	tabs := 0
	for _, e := range ds.Train {
		if strings.Contains(e.Text, "\t") {
			tabs++
		}
	}
	if tabs != 12 {
		t.Errorf("%d train reviews contain a tab, want 12", tabs)
	}
}

func TestSpamAssassin(t *testing.T) {
	ds := mustLoad(t, "spamassassin", "spamassassin", Options{})
	if !reflect.DeepEqual(ds.Classes, []string{"ham", "spam"}) {
		t.Fatalf("classes %v", ds.Classes)
	}
	total := addCounts(addCounts(ClassCounts(ds.Train, 2), ClassCounts(ds.Val, 2)), ClassCounts(ds.Test, 2))
	if !reflect.DeepEqual(total, []int{4150, 1896}) {
		t.Errorf("class counts over all splits %v, want [4150 1896]", total)
	}
	if len(ds.Test) != 1209 || len(ds.Val) != 484 || len(ds.Train) != 4353 {
		t.Errorf("rows train %d val %d test %d, want 4353/484/1209", len(ds.Train), len(ds.Val), len(ds.Test))
	}
	// The test split is carved with the fixed TestSeed: a different validation seed keeps it.
	other := mustLoad(t, "spam", "spamassassin", Options{Seed: 7})
	if !reflect.DeepEqual(other.Test, ds.Test) {
		t.Error("the validation seed changed the carved test split")
	}
	if reflect.DeepEqual(other.Val, ds.Val) {
		t.Error("seed 7 gave the same validation split as seed 1")
	}
	for _, e := range append(append([]Example{}, ds.Train...), ds.Test...) {
		if !strings.Contains(e.Text, "\n") {
			t.Fatalf("an e-mail lost its line breaks: %.80q", e.Text)
		}
	}
}

func TestTaskErrors(t *testing.T) {
	dir := needShared(t, "trec")
	if _, err := LoadTask("nope", dir, Options{}); err == nil || !strings.Contains(err.Error(), "unknown task") {
		t.Errorf("unknown task: %v", err)
	}
	if _, err := LoadTask("sst2", dir, Options{}); err == nil || !strings.Contains(err.Error(), "stsa.binary.train") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadTask("trec", filepath.Join(dir, "missing"), Options{}); err == nil {
		t.Error("missing folder: no error")
	}
	if _, err := LoadTask("trec", dir, Options{ValFraction: 1}); err == nil {
		t.Error("validation fraction 1: no error")
	}
}
