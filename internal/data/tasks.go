package data

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// forLines calls fn for each non-blank line of s with its 1-based number; a trailing '\r'
// is removed.
func forLines(s string, fn func(line string, num int) error) error {
	num := 0
	for len(s) > 0 {
		num++
		var l string
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			l, s = s[:i], s[i+1:]
		} else {
			l, s = s, ""
		}
		l = strings.TrimSuffix(l, "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		if err := fn(l, num); err != nil {
			return err
		}
	}
	return nil
}

// findFile returns the first of dir/names that exists, or an error listing them.
func findFile(dir string, names ...string) (string, error) {
	for _, n := range names {
		p := filepath.Join(dir, n)
		if fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: missing file %s", dir, strings.Join(names, " or "))
}

// TREC ----------------------------------------------------------------------------------

// readTREC reads a TREC file: one "COARSE:fine question" per line, ISO-8859-1 (UTF-8 files
// are read as UTF-8). The label is the coarse part, or "COARSE:fine" when fine is set.
func readTREC(path string, fine bool) ([]rawExample, bool, error) {
	s, latin1, err := readText(path, true)
	if err != nil {
		return nil, false, err
	}
	var out []rawExample
	err = forLines(s, func(l string, num int) error {
		sp := strings.IndexAny(l, " \t")
		if sp < 0 {
			return fmt.Errorf("%s:%d: expected \"COARSE:fine question\", got %q", path, num, l)
		}
		lab := l[:sp]
		c := strings.IndexByte(lab, ':')
		if c <= 0 || c == len(lab)-1 {
			return fmt.Errorf("%s:%d: label %q is not of the form COARSE:fine", path, num, lab)
		}
		if !fine {
			lab = lab[:c]
		}
		out = append(out, rawExample{text: strings.TrimSpace(l[sp+1:]), label: lab, file: path, line: num})
		return nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s: no examples", path)
	}
	return out, latin1, err
}

// loadTREC reads train_5500.label and TREC_10.label. Class names are the (sorted) coarse
// labels ABBR DESC ENTY HUM LOC NUM, or the 50 "COARSE:fine" labels.
func loadTREC(dir string, fine bool) (*Dataset, error) {
	trainPath, err := findFile(dir, "train_5500.label")
	if err != nil {
		return nil, err
	}
	testPath, err := findFile(dir, "TREC_10.label")
	if err != nil {
		return nil, err
	}
	var sf splitFiles
	var notes []string
	for _, f := range []struct {
		path string
		dst  *[]rawExample
	}{{trainPath, &sf.train}, {testPath, &sf.test}} {
		rows, latin1, err := readTREC(f.path, fine)
		if err != nil {
			return nil, err
		}
		*f.dst = rows
		if latin1 {
			notes = append(notes, filepath.Base(f.path)+" decoded from ISO-8859-1")
		}
	}
	name, kind := "trec", "coarse"
	if fine {
		name, kind = "trec-fine", "fine"
	}
	ds, err := finish(name, sf, nil)
	if err != nil {
		return nil, err
	}
	ds.Notes = append([]string{fmt.Sprintf("%s: train %s (%d rows), test %s (%d rows), %s labels (%d classes)",
		name, filepath.Base(trainPath), len(sf.train), filepath.Base(testPath), len(sf.test), kind, len(ds.Classes))}, notes...)
	return ds, nil
}

// AG News -------------------------------------------------------------------------------

// agNewsClasses are the AG News class names when classes.txt is absent.
var agNewsClasses = []string{"World", "Sports", "Business", "Sci/Tech"}

// readAGNews reads an AG News CSV file (no header; "class","title","description"; class
// 1..K). The text is title and description joined by one space; backslash sequences are
// kept literally.
func readAGNews(path string, k int) ([]Example, error) {
	s, _, err := readText(path, false)
	if err != nil {
		return nil, err
	}
	recs, err := parseDelimited(s, ',', path)
	if err != nil {
		return nil, err
	}
	out := make([]Example, 0, len(recs))
	for _, r := range recs {
		if len(r.fields) != 3 {
			return nil, fmt.Errorf("%s:%d: %d fields, expected 3 (class, title, description)", path, r.line, len(r.fields))
		}
		v, err := strconv.Atoi(strings.TrimSpace(r.fields[0]))
		if err != nil || v < 1 || v > k {
			return nil, fmt.Errorf("%s:%d: class %q is not an integer in 1..%d", path, r.line, r.fields[0], k)
		}
		title, desc := strings.TrimSpace(r.fields[1]), strings.TrimSpace(r.fields[2])
		text := title
		if title != "" && desc != "" {
			text += " "
		}
		text += desc
		out = append(out, Example{Text: text, Label: v - 1})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no examples", path)
	}
	return out, nil
}

// loadAGNews reads AG News. With only test.csv present (the shared copy), row i (0-based) is
// test when i%5 == 0 and train otherwise (README convention); with train.csv present too,
// the official splits are used. Labels 1..4 become 0..3, named by classes.txt.
func loadAGNews(dir string) (*Dataset, error) {
	classes := agNewsClasses
	if cp := filepath.Join(dir, "classes.txt"); fileExists(cp) {
		s, _, err := readText(cp, false)
		if err != nil {
			return nil, err
		}
		var cs []string
		_ = forLines(s, func(l string, _ int) error { cs = append(cs, strings.TrimSpace(l)); return nil })
		if len(cs) < 2 {
			return nil, fmt.Errorf("%s: expected at least 2 class names, got %d", cp, len(cs))
		}
		classes = cs
	}
	testPath, err := findFile(dir, "test.csv", "test.csv.gz")
	if err != nil {
		return nil, err
	}
	test, err := readAGNews(testPath, len(classes))
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Name: "ag_news", Classes: append([]string(nil), classes...)}
	if trainPath, err := findFile(dir, "train.csv", "train.csv.gz"); err == nil {
		if ds.Train, err = readAGNews(trainPath, len(classes)); err != nil {
			return nil, err
		}
		ds.Test = test
		ds.Notes = append(ds.Notes, fmt.Sprintf("ag_news: official splits, train %d rows, test %d rows; text = title + \" \" + description",
			len(ds.Train), len(ds.Test)))
		return ds, nil
	}
	for i, e := range test {
		if i%5 == 0 {
			ds.Test = append(ds.Test, e)
		} else {
			ds.Train = append(ds.Train, e)
		}
	}
	ds.Notes = append(ds.Notes, fmt.Sprintf("ag_news (test-carved): from test.csv (%d rows), row i%%5==0 -> test (%d rows), others -> train (%d rows); text = title + \" \" + description",
		len(test), len(ds.Test), len(ds.Train)))
	return ds, nil
}

// IMDB, SST-2 ---------------------------------------------------------------------------

// nameBinary renames the classes "0","1" of a binary sentiment set to "neg","pos".
func nameBinary(ds *Dataset) error {
	if len(ds.Classes) != 2 || ds.Classes[0] != "0" || ds.Classes[1] != "1" {
		return fmt.Errorf("%s: expected labels 0 and 1 in train, got %s", ds.Name, strings.Join(ds.Classes, ", "))
	}
	ds.Classes = []string{"neg", "pos"}
	return nil
}

// loadIMDB reads train.tsv.gz and test.tsv.gz (header "label id rating orig_dir text").
// The review text is kept exactly as in the file, "<br />" tags included (as in the
// Hugging Face "imdb" data set); the tokenizer sees them.
func loadIMDB(dir string) (*Dataset, error) {
	trainPath, err := findFile(dir, "train.tsv.gz", "train.tsv")
	if err != nil {
		return nil, err
	}
	testPath, err := findFile(dir, "test.tsv.gz", "test.tsv")
	if err != nil {
		return nil, err
	}
	cols := columns{text: "text", label: "label"}
	var sf splitFiles
	if sf.train, err = readTable(trainPath, cols); err != nil {
		return nil, err
	}
	if sf.test, err = readTable(testPath, cols); err != nil {
		return nil, err
	}
	ds, err := finish("imdb", sf, []string{fmt.Sprintf("imdb: train %s (%d rows), test %s (%d rows); text kept as is (with <br /> tags)",
		filepath.Base(trainPath), len(sf.train), filepath.Base(testPath), len(sf.test))})
	if err != nil {
		return nil, err
	}
	return ds, nameBinary(ds)
}

// readSST2 reads a stsa.binary.* file: one "label text" per line.
func readSST2(path string) ([]rawExample, error) {
	s, _, err := readText(path, false)
	if err != nil {
		return nil, err
	}
	var out []rawExample
	err = forLines(s, func(l string, num int) error {
		sp := strings.IndexAny(l, " \t")
		if sp < 0 || (l[:sp] != "0" && l[:sp] != "1") {
			return fmt.Errorf("%s:%d: expected \"0 text\" or \"1 text\", got %q", path, num, l)
		}
		out = append(out, rawExample{text: strings.TrimSpace(l[sp+1:]), label: l[:sp], file: path, line: num})
		return nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s: no examples", path)
	}
	return out, err
}

// loadSST2 reads stsa.binary.train, .dev (the validation split) and .test.
func loadSST2(dir string) (*Dataset, error) {
	var sf splitFiles
	for _, f := range []struct {
		name string
		dst  *[]rawExample
	}{{"stsa.binary.train", &sf.train}, {"stsa.binary.dev", &sf.val}, {"stsa.binary.test", &sf.test}} {
		p, err := findFile(dir, f.name, f.name+".gz")
		if err != nil {
			return nil, err
		}
		if *f.dst, err = readSST2(p); err != nil {
			return nil, err
		}
	}
	ds, err := finish("sst2", sf, []string{fmt.Sprintf("sst2: train stsa.binary.train (%d rows), validation stsa.binary.dev (%d rows), test stsa.binary.test (%d rows)",
		len(sf.train), len(sf.val), len(sf.test))})
	if err != nil {
		return nil, err
	}
	return ds, nameBinary(ds)
}

// SpamAssassin --------------------------------------------------------------------------

// loadSpam reads all.tsv.gz (header "label group id text"; text is the raw e-mail, headers
// included, kept as is). There is no official split: TestFraction of the rows is carved as
// test with the fixed seed TestSeed, then validation is carved from the rest.
func loadSpam(dir string) (*Dataset, error) {
	p, err := findFile(dir, "all.tsv.gz", "all.tsv")
	if err != nil {
		return nil, err
	}
	rows, err := readTable(p, columns{text: "text", label: "label"})
	if err != nil {
		return nil, err
	}
	return finish("spamassassin", splitFiles{train: rows},
		[]string{fmt.Sprintf("spamassassin: %s (%d rows), no official split", filepath.Base(p), len(rows))})
}
