package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Table is a small aligned text table for CLI output. A column whose data
// cells are all numbers (or empty) is right-aligned, any other is
// left-aligned; the header follows its column's alignment.
type Table struct {
	header []string
	rows   [][]string
}

// NewTable starts a table with the given column names.
func NewTable(header ...string) *Table {
	return &Table{header: header}
}

// Row appends a row. Values are formatted with FormatCell; missing cells are
// empty, extra cells are an error at Write time.
func (t *Table) Row(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = FormatCell(c)
	}
	t.rows = append(t.rows, row)
}

// FormatCell formats one value: floats with 6 significant digits (%.6g),
// everything else with fmt.Sprint.
func FormatCell(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', 6, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', 6, 32)
	}
	return fmt.Sprint(v)
}

func isNumber(s string) bool {
	s = strings.TrimSuffix(s, "%")
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// Write prints the header, a dashed rule and the rows, columns separated by
// two spaces, without trailing spaces.
func (t *Table) Write(w io.Writer) error {
	ncol := len(t.header)
	for i, r := range t.rows {
		if len(r) > ncol {
			return fmt.Errorf("table row %d has %d cells, header has %d", i, len(r), ncol)
		}
	}
	width := make([]int, ncol)
	right := make([]bool, ncol)
	for c := range ncol {
		width[c] = utf8.RuneCountInString(t.header[c])
		numeric, seen := true, false
		for _, r := range t.rows {
			if c >= len(r) || r[c] == "" {
				continue
			}
			seen = true
			numeric = numeric && isNumber(r[c])
			width[c] = max(width[c], utf8.RuneCountInString(r[c]))
		}
		right[c] = numeric && seen
	}
	var b strings.Builder
	line := func(cells []string) {
		var l strings.Builder
		for c := range ncol {
			s := ""
			if c < len(cells) {
				s = cells[c]
			}
			pad := strings.Repeat(" ", width[c]-utf8.RuneCountInString(s))
			if c > 0 {
				l.WriteString("  ")
			}
			if right[c] {
				l.WriteString(pad + s)
			} else {
				l.WriteString(s + pad)
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(t.header)
	rule := make([]string, ncol)
	for c := range ncol {
		rule[c] = strings.Repeat("-", width[c])
	}
	line(rule)
	for _, r := range t.rows {
		line(r)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
