// Package data loads text-classification data sets (TREC, AG News, IMDB, SST-2,
// SpamAssassin and generic CSV/TSV/JSONL files) into train/validation/test splits.
//
// Conventions (see ../shared/data/README.md):
//   - files may be plain or gzip-compressed (detected by the magic bytes, not the name);
//   - integer labels carried by a file are kept (AG News 1..4 become 0..3); otherwise label
//     ids follow the sorted order of the class names;
//   - a validation split is carved from train with a fixed seed where the data set has none;
//     the test split is never used for it;
//   - data sets without any split (SpamAssassin, a single generic file) get a test split of
//     TestFraction carved with the fixed seed TestSeed, independent of Options.Seed, so that
//     every run of the project tests on the same rows.
package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Example is one labelled text (TextB is the optional second text of a pair).
type Example struct {
	Text, TextB string
	Label       int
}

// Dataset holds the three splits of a data set.
type Dataset struct {
	Name    string
	Classes []string // label id -> class name
	Train   []Example
	Val     []Example
	Test    []Example
	Notes   []string // how the splits were made, for reports
}

// Options controls loading. Zero values select the defaults.
type Options struct {
	// ValFraction of train carved as validation where the data set has no validation split:
	// 0 means 0.1; a negative value means no validation split.
	ValFraction float64
	// Seed of the validation carving; 0 means 1.
	Seed uint64
	// Column names of the generic loader: TextCol defaults to "text", LabelCol to "label";
	// TextBCol (second text of a pair) is optional. Ignored by the named tasks.
	TextCol, LabelCol, TextBCol string
	// Fine selects the 50 fine TREC labels for task "trec" (same as task "trec-fine").
	Fine bool
}

const (
	// TestFraction of the rows carved as test where a data set has no test split.
	TestFraction = 0.2
	// TestSeed is the fixed seed of that carving.
	TestSeed uint64 = 1
)

// TaskNames lists the tasks LoadTask knows.
func TaskNames() []string {
	return []string{"trec", "trec-fine", "ag_news", "imdb", "sst2", "spamassassin", "generic"}
}

// LoadTask loads a data set. task is one of TaskNames (or "" for generic); path is the
// folder of the data set, or for generic a file (.csv, .tsv, .jsonl, optionally .gz) or a
// folder holding train.* and test.* files (and optionally validation.*, val.* or dev.*).
func LoadTask(task, path string, opt Options) (*Dataset, error) {
	if opt.ValFraction == 0 {
		opt.ValFraction = 0.1
	}
	if opt.ValFraction >= 1 || math.IsNaN(opt.ValFraction) {
		return nil, fmt.Errorf("data: validation fraction %v must be below 1", opt.ValFraction)
	}
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	if opt.TextCol == "" {
		opt.TextCol = "text"
	}
	if opt.LabelCol == "" {
		opt.LabelCol = "label"
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	var ds *Dataset
	var err error
	switch normTask(task) {
	case "trec":
		ds, err = loadTREC(path, opt.Fine)
	case "trec-fine":
		ds, err = loadTREC(path, true)
	case "ag_news":
		ds, err = loadAGNews(path)
	case "imdb":
		ds, err = loadIMDB(path)
	case "sst2":
		ds, err = loadSST2(path)
	case "spamassassin":
		ds, err = loadSpam(path)
	case "generic":
		ds, err = loadGeneric(path, opt)
	default:
		return nil, fmt.Errorf("data: unknown task %q (known: %s)", task, strings.Join(TaskNames(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	if ds.Val == nil && opt.ValFraction > 0 {
		if err := ds.carveVal(opt.ValFraction, opt.Seed); err != nil {
			return nil, fmt.Errorf("data: %v", err)
		}
	}
	if len(ds.Train) == 0 || len(ds.Test) == 0 {
		return nil, fmt.Errorf("data: %s: empty split (train %d, test %d rows)", ds.Name, len(ds.Train), len(ds.Test))
	}
	return ds, nil
}

// normTask maps a task name and its common spellings to the canonical name.
func normTask(task string) string {
	t := strings.ToLower(strings.TrimSpace(task))
	switch t {
	case "", "generic", "csv", "tsv", "jsonl":
		return "generic"
	case "trec", "trec6", "trec-6":
		return "trec"
	case "trec-fine", "trec_fine", "trec50", "trec-50":
		return "trec-fine"
	case "ag_news", "ag-news", "agnews":
		return "ag_news"
	case "sst2", "sst-2", "sst_2":
		return "sst2"
	case "spamassassin", "spam":
		return "spamassassin"
	}
	return t
}

// ClassCounts returns the number of examples of each of the k classes.
func ClassCounts(ex []Example, k int) []int {
	c := make([]int, k)
	for _, e := range ex {
		if e.Label >= 0 && e.Label < k {
			c[e.Label]++
		}
	}
	return c
}

// carveVal moves a ValFraction of train (chosen with seed) to Val and records it in Notes.
func (ds *Dataset) carveVal(frac float64, seed uint64) error {
	n := len(ds.Train)
	k := int(math.Round(frac * float64(n)))
	if k == 0 && n >= 2 {
		k = 1
	}
	if k >= n {
		return fmt.Errorf("%s: too few training rows (%d) to carve a validation split", ds.Name, n)
	}
	ds.Train, ds.Val = carve(ds.Train, k, seed)
	ds.Notes = append(ds.Notes, fmt.Sprintf("validation: %.4g%% of train (%d rows) carved with seed %d; train keeps %d rows",
		100*frac, k, seed, len(ds.Train)))
	return nil
}

// carve picks k of the examples by a seeded Fisher-Yates shuffle and returns the others and the
// picked ones, both in their original order.
func carve(ex []Example, k int, seed uint64) (rest, picked []Example) {
	perm := permutation(len(ex), seed)
	take := make([]bool, len(ex))
	for _, i := range perm[:k] {
		take[i] = true
	}
	rest = make([]Example, 0, len(ex)-k)
	picked = make([]Example, 0, k)
	for i, e := range ex {
		if take[i] {
			picked = append(picked, e)
		} else {
			rest = append(rest, e)
		}
	}
	return rest, picked
}

// permutation returns a permutation of 0..n-1 from a PCG seeded with seed. It uses only the
// PCG stream (whose algorithm is fixed) and its own bounded draw, so it does not depend on
// the Go version's rand.Shuffle implementation.
func permutation(n int, seed uint64) []int {
	src := rand.NewPCG(seed, 0x6164617261)
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(uniform(src, uint64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// uniform returns an unbiased draw in [0, n) (n > 0) by rejection sampling.
func uniform(src *rand.PCG, n uint64) uint64 {
	lim := -n % n // 2^64 mod n: draws below it would bias the modulo
	for {
		x := src.Uint64()
		if x >= lim {
			return x % n
		}
	}
}

// rawExample is an example before its label is mapped to an id; file and line locate it
// for error messages.
type rawExample struct {
	text, textB, label string
	file               string
	line               int
}

// labelSet maps class names to ids.
type labelSet struct {
	classes []string
	index   map[string]int
}

// inferLabels decides the classes from the labels seen in train. When every label is an
// integer and they are exactly 0..K-1, the integers are the ids. Otherwise ids follow the
// sorted class names (numeric order when all labels are integers, e.g. 1..4 -> 0..3).
func inferLabels(train []rawExample) labelSet {
	seen := map[string]bool{}
	var names []string
	for _, r := range train {
		if !seen[r.label] {
			seen[r.label] = true
			names = append(names, r.label)
		}
	}
	ints := make(map[string]int, len(names))
	allInt := true
	for _, s := range names {
		v, err := strconv.Atoi(s)
		if err != nil {
			allInt = false
			break
		}
		ints[s] = v
	}
	if allInt {
		sort.Slice(names, func(a, b int) bool { return ints[names[a]] < ints[names[b]] })
		dense := true
		for i, s := range names {
			if ints[s] != i {
				dense = false
				break
			}
		}
		if dense {
			// Keep the integers; normalise spellings such as "01" to "1".
			ls := labelSet{index: map[string]int{}}
			for i, s := range names {
				ls.classes = append(ls.classes, strconv.Itoa(i))
				ls.index[s] = i
				ls.index[strconv.Itoa(i)] = i
			}
			return ls
		}
	} else {
		sort.Strings(names)
	}
	ls := labelSet{classes: names, index: map[string]int{}}
	for i, s := range names {
		ls.index[s] = i
	}
	return ls
}

// apply maps raw labels to ids; a label outside the set is an error naming file:line.
func (ls labelSet) apply(raw []rawExample, split string) ([]Example, error) {
	out := make([]Example, len(raw))
	for i, r := range raw {
		id, ok := ls.index[r.label]
		if !ok {
			if v, err := strconv.Atoi(r.label); err == nil {
				// Integer spellings such as "01" of a known integer class.
				id, ok = ls.index[strconv.Itoa(v)]
			}
		}
		if !ok {
			return nil, fmt.Errorf("%s:%d: %s label %q is not a class of the training data (%s)",
				r.file, r.line, split, r.label, strings.Join(ls.classes, ", "))
		}
		out[i] = Example{Text: r.text, TextB: r.textB, Label: id}
	}
	return out, nil
}

// splitFiles holds the examples of each split of a data set before label mapping.
type splitFiles struct {
	train, val, test []rawExample
}

// finish maps labels of all splits with the classes inferred from train and carves a test
// split (TestFraction, TestSeed) when there is none.
func finish(name string, sf splitFiles, notes []string) (*Dataset, error) {
	if len(sf.train) == 0 {
		return nil, fmt.Errorf("%s: no training examples", name)
	}
	ls := inferLabels(sf.train)
	ds := &Dataset{Name: name, Classes: ls.classes, Notes: notes}
	var err error
	if ds.Train, err = ls.apply(sf.train, "train"); err != nil {
		return nil, err
	}
	if sf.val != nil {
		if ds.Val, err = ls.apply(sf.val, "validation"); err != nil {
			return nil, err
		}
	}
	if sf.test != nil {
		if ds.Test, err = ls.apply(sf.test, "test"); err != nil {
			return nil, err
		}
	} else {
		if err := ds.carveTest(); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// carveTest moves TestFraction of Train (seed TestSeed) to Test.
func (ds *Dataset) carveTest() error {
	n := len(ds.Train)
	k := int(math.Round(TestFraction * float64(n)))
	if k == 0 || k >= n {
		return fmt.Errorf("%s: too few rows (%d) to carve a test split", ds.Name, n)
	}
	ds.Train, ds.Test = carve(ds.Train, k, TestSeed)
	ds.Notes = append(ds.Notes, fmt.Sprintf("test: no test split; %.4g%% of all %d rows (%d rows) carved with fixed seed %d",
		100*TestFraction, n, k, TestSeed))
	return nil
}

// baseName is the data-set name used for a generic path.
func baseName(path string) string {
	b := filepath.Base(filepath.Clean(path))
	for _, ext := range []string{".gz", ".csv", ".tsv", ".tab", ".jsonl", ".ndjson"} {
		b = strings.TrimSuffix(b, ext)
	}
	return b
}
