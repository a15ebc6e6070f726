package data

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// columns names the columns (or JSON keys) a table is read from; textB may be empty.
type columns struct {
	text, textB, label string
}

// tableFormat tells how a file is parsed from its name (a ".gz" suffix is ignored):
// ".csv" -> ',', ".tsv"/".tab" -> '\t', ".jsonl"/".ndjson" -> JSON lines (sep 0).
func tableFormat(path string) (sep byte, ok bool) {
	name := strings.TrimSuffix(strings.ToLower(filepath.Base(path)), ".gz")
	switch filepath.Ext(name) {
	case ".csv":
		return ',', true
	case ".tsv", ".tab":
		return '\t', true
	case ".jsonl", ".ndjson":
		return 0, true
	}
	return 0, false
}

// readTable reads labelled rows from a CSV/TSV file with a header row or from a JSON-lines
// file with one object per line.
func readTable(path string, cols columns) ([]rawExample, error) {
	sep, ok := tableFormat(path)
	if !ok {
		return nil, fmt.Errorf("%s: unknown file type (expected .csv, .tsv, .jsonl, optionally .gz)", path)
	}
	s, _, err := readText(path, false)
	if err != nil {
		return nil, err
	}
	var out []rawExample
	if sep == 0 {
		out, err = readJSONL(s, path, cols)
	} else {
		out, err = readDelimitedTable(s, sep, path, cols)
	}
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s: no data rows", path)
	}
	return out, err
}

// findColumn returns the index of name in header (exact match first, then a unique
// case-insensitive one).
func findColumn(header []string, name, path string) (int, error) {
	for i, h := range header {
		if h == name {
			return i, nil
		}
	}
	idx := -1
	for i, h := range header {
		if strings.EqualFold(h, name) {
			if idx >= 0 {
				return 0, fmt.Errorf("%s: column %q matches several header names", path, name)
			}
			idx = i
		}
	}
	if idx < 0 {
		return 0, fmt.Errorf("%s: no column %q in the header (columns: %s)", path, name, strings.Join(header, ", "))
	}
	return idx, nil
}

// readDelimitedTable reads a CSV/TSV text whose first record is the header.
func readDelimitedTable(s string, sep byte, path string, cols columns) ([]rawExample, error) {
	recs, err := parseDelimited(s, sep, path)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	header := make([]string, len(recs[0].fields))
	for i, h := range recs[0].fields {
		header[i] = strings.TrimSpace(h)
	}
	ti, err := findColumn(header, cols.text, path)
	if err != nil {
		return nil, err
	}
	li, err := findColumn(header, cols.label, path)
	if err != nil {
		return nil, err
	}
	bi := -1
	if cols.textB != "" {
		if bi, err = findColumn(header, cols.textB, path); err != nil {
			return nil, err
		}
	}
	out := make([]rawExample, 0, len(recs)-1)
	for _, r := range recs[1:] {
		if len(r.fields) != len(header) {
			return nil, fmt.Errorf("%s:%d: %d fields, the header has %d", path, r.line, len(r.fields), len(header))
		}
		lab := strings.TrimSpace(r.fields[li])
		if lab == "" {
			return nil, fmt.Errorf("%s:%d: empty label", path, r.line)
		}
		e := rawExample{text: r.fields[ti], label: lab, file: path, line: r.line}
		if bi >= 0 {
			e.textB = r.fields[bi]
		}
		out = append(out, e)
	}
	return out, nil
}

// readJSONL reads one JSON object per non-blank line. Text fields must be strings; the label
// may be a string, an integer or a boolean.
func readJSONL(s, path string, cols columns) ([]rawExample, error) {
	var out []rawExample
	err := forLines(s, func(l string, num int) error {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			return fmt.Errorf("%s:%d: %v", path, num, err)
		}
		if dec.More() {
			return fmt.Errorf("%s:%d: more than one JSON value on the line", path, num)
		}
		if obj == nil {
			return fmt.Errorf("%s:%d: expected a JSON object", path, num)
		}
		str := func(key string) (string, error) {
			v, ok := obj[key]
			if !ok {
				return "", fmt.Errorf("%s:%d: no field %q", path, num, key)
			}
			t, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("%s:%d: field %q is not a string", path, num, key)
			}
			return t, nil
		}
		e := rawExample{file: path, line: num}
		var err error
		if e.text, err = str(cols.text); err != nil {
			return err
		}
		if cols.textB != "" {
			if e.textB, err = str(cols.textB); err != nil {
				return err
			}
		}
		switch v := obj[cols.label].(type) {
		case string:
			e.label = strings.TrimSpace(v)
		case json.Number:
			if _, err := strconv.ParseInt(v.String(), 10, 64); err != nil {
				return fmt.Errorf("%s:%d: label %s is a number but not an integer", path, num, v)
			}
			e.label = v.String()
		case bool:
			e.label = strconv.FormatBool(v)
		case nil:
			if _, ok := obj[cols.label]; !ok {
				return fmt.Errorf("%s:%d: no field %q", path, num, cols.label)
			}
			return fmt.Errorf("%s:%d: label is null", path, num)
		default:
			return fmt.Errorf("%s:%d: label field %q must be a string, an integer or a boolean", path, num, cols.label)
		}
		if e.label == "" {
			return fmt.Errorf("%s:%d: empty label", path, num)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// splitRole maps a file's base name (before the first '.') to its split.
func splitRole(base string) string {
	stem := strings.ToLower(base)
	if i := strings.IndexByte(stem, '.'); i >= 0 {
		stem = stem[:i]
	}
	switch stem {
	case "train":
		return "train"
	case "test":
		return "test"
	case "validation", "val", "valid", "dev":
		return "val"
	}
	return ""
}

// loadGeneric reads a single file or a folder with train.*, test.* and optionally
// validation.*/val.*/valid.*/dev.* files. A single file, or a folder without a test file,
// gets a test split carved with the fixed TestSeed; validation is carved later if absent.
func loadGeneric(path string, opt Options) (*Dataset, error) {
	cols := columns{text: opt.TextCol, textB: opt.TextBCol, label: opt.LabelCol}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	name := baseName(path)
	if !st.IsDir() {
		rows, err := readTable(path, cols)
		if err != nil {
			return nil, err
		}
		return finish(name, splitFiles{train: rows},
			[]string{fmt.Sprintf("%s: single file %s (%d rows)", name, filepath.Base(path), len(rows))})
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		role := splitRole(e.Name())
		if _, ok := tableFormat(e.Name()); !ok || role == "" {
			continue
		}
		if prev, dup := files[role]; dup {
			return nil, fmt.Errorf("%s: both %s and %s look like the %s split", path, filepath.Base(prev), e.Name(), role)
		}
		files[role] = filepath.Join(path, e.Name())
	}
	if files["train"] == "" {
		return nil, fmt.Errorf("%s: no train.csv, train.tsv or train.jsonl file (optionally .gz)", path)
	}
	var sf splitFiles
	var parts []string
	for _, role := range []string{"train", "val", "test"} {
		p := files[role]
		if p == "" {
			continue
		}
		rows, err := readTable(p, cols)
		if err != nil {
			return nil, err
		}
		switch role {
		case "train":
			sf.train = rows
		case "val":
			sf.val = rows
		case "test":
			sf.test = rows
		}
		label := role
		if role == "val" {
			label = "validation"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%d rows)", label, filepath.Base(p), len(rows)))
	}
	return finish(name, sf, []string{name + ": " + strings.Join(parts, ", ")})
}
