package data

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFile writes content to dir/name, gzip-compressed when gz is set.
func writeFile(t *testing.T, dir, name, content string, gz bool) string {
	t.Helper()
	b := []byte(content)
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		b = buf.Bytes()
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rowsCSV builds a CSV with n rows "text i" whose labels cycle through labels.
func rowsCSV(n int, labels ...string) string {
	var sb strings.Builder
	sb.WriteString("id,text,label\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "%d,\"text, %d\",%s\n", i, i, labels[i%len(labels)])
	}
	return sb.String()
}

func TestGenericFormats(t *testing.T) {
	dir := t.TempDir()
	const n = 50
	var tsv, jsonl strings.Builder
	tsv.WriteString("label\ttext\n")
	for i := 0; i < n; i++ {
		lab := []string{"pos", "neg"}[i%2]
		fmt.Fprintf(&tsv, "%s\t\"text, %d\"\n", lab, i)
		fmt.Fprintf(&jsonl, "{\"text\": \"text, %d\", \"label\": %q, \"extra\": [1, 2]}\n", i, lab)
	}
	csv := rowsCSV(n, "pos", "neg")
	files := []string{
		writeFile(t, dir, "a.csv", csv, false),
		writeFile(t, dir, "b.csv.gz", csv, true),
		writeFile(t, dir, "c.csv", csv, true), // gzip detected by magic bytes, not by name
		writeFile(t, dir, "d.tsv", tsv.String(), false),
		writeFile(t, dir, "e.jsonl", jsonl.String(), false),
		writeFile(t, dir, "f.jsonl.gz", jsonl.String(), true),
		writeFile(t, dir, "g.csv", "\xef\xbb\xbf"+strings.ReplaceAll(csv, "\n", "\r\n"), false), // BOM, CRLF
	}
	var first *Dataset
	for _, f := range files {
		ds, err := LoadTask("", f, Options{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !reflect.DeepEqual(ds.Classes, []string{"neg", "pos"}) {
			t.Fatalf("%s: classes %v", f, ds.Classes)
		}
		// 50 rows: 10 carved as test (fixed seed), 4 of the 40 others as validation.
		if len(ds.Test) != 10 || len(ds.Val) != 4 || len(ds.Train) != 36 {
			t.Fatalf("%s: rows %d/%d/%d, want 36/4/10", f, len(ds.Train), len(ds.Val), len(ds.Test))
		}
		if first == nil {
			first = ds
			continue
		}
		if !reflect.DeepEqual(ds.Train, first.Train) || !reflect.DeepEqual(ds.Val, first.Val) || !reflect.DeepEqual(ds.Test, first.Test) {
			t.Errorf("%s: splits differ from %s", f, files[0])
		}
	}
	if first.Train[0].Text != "text, 0" && first.Val[0].Text != "text, 0" && first.Test[0].Text != "text, 0" {
		t.Error("row 0 lost")
	}
	if first.Name != "a" || len(first.Notes) != 3 {
		t.Errorf("name %q notes %q", first.Name, first.Notes)
	}
}

func TestGenericFolder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "train.csv", rowsCSV(20, "0", "1", "2"), false)
	writeFile(t, dir, "dev.csv.gz", rowsCSV(6, "2", "1"), true)
	writeFile(t, dir, "test.jsonl", `{"text":"q","label":1}`+"\n\n"+`{"text":"r","label":"2"}`+"\n", false)
	writeFile(t, dir, "README.md", "not data", false)
	ds, err := LoadTask("generic", dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ds.Classes, []string{"0", "1", "2"}) {
		t.Fatalf("classes %v", ds.Classes)
	}
	if len(ds.Train) != 20 || len(ds.Val) != 6 || len(ds.Test) != 2 {
		t.Fatalf("rows %d/%d/%d", len(ds.Train), len(ds.Val), len(ds.Test))
	}
	if ds.Train[4] != (Example{Text: "text, 4", Label: 1}) || ds.Val[0].Label != 2 {
		t.Errorf("rows %+v %+v", ds.Train[4], ds.Val[0])
	}
	if want := []Example{{Text: "q", Label: 1}, {Text: "r", Label: 2}}; !reflect.DeepEqual(ds.Test, want) {
		t.Errorf("test %+v", ds.Test)
	}
	// Without a test file the test split is carved from train.
	dir2 := t.TempDir()
	writeFile(t, dir2, "train.tsv", "text\tlabel\na\tx\nb\ty\nc\tx\nd\ty\ne\tx\n", false)
	ds2, err := LoadTask("", dir2, Options{ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds2.Test) != 1 || len(ds2.Train) != 4 || ds2.Val != nil {
		t.Errorf("rows %d/%d/%d", len(ds2.Train), len(ds2.Val), len(ds2.Test))
	}
}

func TestGenericLabelsAndColumns(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		labels  []string
		classes []string
		first   int // id of row 0's label
	}{
		{[]string{"1", "0"}, []string{"0", "1"}, 1},                     // integers 0..K-1 kept
		{[]string{"3", "1", "2", "4"}, []string{"1", "2", "3", "4"}, 2}, // integers in numeric order
		{[]string{"10", "9"}, []string{"9", "10"}, 1},                   // numeric, not string, order
		{[]string{"b", "a", "c"}, []string{"a", "b", "c"}, 1},           // names sorted
	}
	for _, c := range cases {
		p := writeFile(t, dir, "x.csv", rowsCSV(20, c.labels...), false)
		ds, err := LoadTask("", p, Options{ValFraction: -1})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ds.Classes, c.classes) {
			t.Errorf("labels %v: classes %v, want %v", c.labels, ds.Classes, c.classes)
		}
		row0 := append(append([]Example{}, ds.Train...), ds.Test...)
		for _, e := range row0 {
			if e.Text == "text, 0" && e.Label != c.first {
				t.Errorf("labels %v: row 0 has id %d, want %d", c.labels, e.Label, c.first)
			}
		}
	}
	// Named columns, a second text and case-insensitive header matching.
	p := writeFile(t, dir, "pair.tsv", "Sentence1\tsentence2\tY\na\tb\tyes\nc\td\tno\ne\tf\tyes\ng\th\tno\ni\tj\tyes\n", false)
	ds, err := LoadTask("", p, Options{TextCol: "sentence1", TextBCol: "sentence2", LabelCol: "y", ValFraction: -1})
	if err != nil {
		t.Fatal(err)
	}
	all := append(append([]Example{}, ds.Train...), ds.Test...)
	found := false
	for _, e := range all {
		if e.Text == "c" {
			found = e.TextB == "d" && e.Label == 0
		}
	}
	if !found || !reflect.DeepEqual(ds.Classes, []string{"no", "yes"}) {
		t.Errorf("pair rows %+v classes %v", all, ds.Classes)
	}
}

func TestGenericErrors(t *testing.T) {
	dir := t.TempDir()
	good := rowsCSV(10, "a", "b")
	cases := []struct {
		name, file, content string
		opt                 Options
		want                string
	}{
		{"no label column", "x.csv", good, Options{LabelCol: "category"}, `no column "category" in the header (columns: id, text, label)`},
		{"no text column", "x.csv", good, Options{TextCol: "body"}, `no column "body"`},
		{"wrong field count", "x.csv", "text,label\na,b\nc\n", Options{}, "x.csv:3: 1 fields, the header has 2"},
		{"empty file", "x.csv", "", Options{}, "empty file"},
		{"header only", "x.csv", "text,label\n", Options{}, "no data rows"},
		{"empty label", "x.csv", "text,label\na, \n", Options{}, "x.csv:2: empty label"},
		{"unclosed quote", "x.tsv", "text\tlabel\n\"a\tb\n", Options{}, "x.tsv:2: quoted field 1 is never closed"},
		{"unknown type", "x.txt", good, Options{}, "unknown file type"},
		{"bad json", "x.jsonl", "{\"text\":\"a\",\"label\":1}\n{oops\n", Options{}, "x.jsonl:2:"},
		{"json missing key", "x.jsonl", "{\"text\":\"a\",\"label\":1}\n{\"text\":\"b\"}\n", Options{}, `x.jsonl:2: no field "label"`},
		{"json float label", "x.jsonl", "{\"text\":\"a\",\"label\":1.5}\n", Options{}, "not an integer"},
		{"json text not string", "x.jsonl", "{\"text\":3,\"label\":1}\n", Options{}, `field "text" is not a string`},
		{"too few rows", "x.csv", "text,label\na,b\n", Options{}, "too few rows"},
	}
	for _, c := range cases {
		p := writeFile(t, dir, c.file, c.content, false)
		_, err := LoadTask("", p, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
		os.Remove(p)
	}
	if _, err := LoadTask("", filepath.Join(dir, "missing.csv"), Options{}); err == nil {
		t.Error("missing file: no error")
	}
	// A test label never seen in train.
	fd := t.TempDir()
	writeFile(t, fd, "train.csv", "text,label\na,x\nb,y\nc,x\n", false)
	writeFile(t, fd, "test.csv", "text,label\nd,x\ne,z\n", false)
	_, err := LoadTask("", fd, Options{})
	if err == nil || !strings.Contains(err.Error(), `test.csv:3: test label "z" is not a class of the training data (x, y)`) {
		t.Errorf("unseen test label: %v", err)
	}
	// Folder without train, or with two train files.
	empty := t.TempDir()
	if _, err := LoadTask("", empty, Options{}); err == nil || !strings.Contains(err.Error(), "no train.csv") {
		t.Errorf("folder without train: %v", err)
	}
	writeFile(t, fd, "train.tsv", "text\tlabel\na\tx\n", false)
	if _, err := LoadTask("", fd, Options{}); err == nil || !strings.Contains(err.Error(), "look like the train split") {
		t.Errorf("two train files: %v", err)
	}
}

func TestPermutationPinned(t *testing.T) {
	// Pinned so that a change of the carving (and of every reported split) is noticed.
	if got, want := permutation(10, 1), []int{1, 5, 4, 3, 8, 7, 6, 9, 2, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("permutation(10, 1) = %v, want %v", got, want)
	}
	rest, picked := carve([]Example{{Text: "0"}, {Text: "1"}, {Text: "2"}, {Text: "3"}, {Text: "4"}}, 2, 3)
	if len(rest) != 3 || len(picked) != 2 {
		t.Fatalf("carve sizes %d/%d", len(rest), len(picked))
	}
	seen := map[string]int{}
	for _, e := range append(rest, picked...) {
		seen[e.Text]++
	}
	if len(seen) != 5 {
		t.Errorf("carve lost or duplicated rows: %v", seen)
	}
}

func TestDecodeText(t *testing.T) {
	if s, bad := decodeText([]byte("caf\xe9"), true); s != "café" || !bad {
		t.Errorf("latin-1: %q %v", s, bad)
	}
	if s, bad := decodeText([]byte("café"), true); s != "café" || bad {
		t.Errorf("utf-8 kept: %q %v", s, bad)
	}
	if s, _ := decodeText([]byte("a\xffb"), false); s != "a\uFFFDb" {
		t.Errorf("invalid utf-8: %q", s)
	}
}
