package data

import (
	"reflect"
	"strings"
	"testing"
)

func fieldsOf(recs []record) [][]string {
	out := make([][]string, len(recs))
	for i, r := range recs {
		out[i] = r.fields
	}
	return out
}

func TestParseDelimited(t *testing.T) {
	cases := []struct {
		name, in string
		sep      byte
		want     [][]string
		lines    []int
	}{
		{"plain", "a,b,c\n1,2,3\n", ',', [][]string{{"a", "b", "c"}, {"1", "2", "3"}}, []int{1, 2}},
		{"no final newline", "a,b\n1,2", ',', [][]string{{"a", "b"}, {"1", "2"}}, []int{1, 2}},
		{"crlf", "a,b\r\n1,2\r\n", ',', [][]string{{"a", "b"}, {"1", "2"}}, []int{1, 2}},
		{"empty fields", ",\n,x,\n", ',', [][]string{{"", ""}, {"", "x", ""}}, []int{1, 2}},
		{"blank lines skipped", "\na\n\r\n\nb\n", ',', [][]string{{"a"}, {"b"}}, []int{2, 5}},
		{"quoted with doubled quotes", `"x ""y"" z",2` + "\n", ',', [][]string{{`x "y" z`, "2"}}, []int{1}},
		{"quoted separator and newlines", "\"a,b\nc\r\nd\",e\nf,g\n", ',', [][]string{{"a,b\nc\r\nd", "e"}, {"f", "g"}}, []int{1, 4}},
		{"backslashes literal", `"a\nb\""",c` + "\n", ',', [][]string{{`a\nb\"`, "c"}}, []int{1}},
		{"quote inside unquoted field", "ab\"c,d\n", ',', [][]string{{`ab"c`, "d"}}, []int{1}},
		{"empty quoted", `"",""` + "\n\"\"\n", ',', [][]string{{"", ""}, {""}}, []int{1, 2}},
		{"tsv with tab in quotes", "l\tt\n1\t\"a\tb\"\n", '\t', [][]string{{"l", "t"}, {"1", "a\tb"}}, []int{1, 2}},
		{"quoted then crlf", "\"a\"\r\n\"b\"\r", ',', [][]string{{"a"}, {"b"}}, []int{1, 2}},
		{"lone cr kept in unquoted", "a\rb,c\n", ',', [][]string{{"a\rb", "c"}}, []int{1}},
	}
	for _, c := range cases {
		recs, err := parseDelimited(c.in, c.sep, "f")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := fieldsOf(recs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
		var lines []int
		for _, r := range recs {
			lines = append(lines, r.line)
		}
		if !reflect.DeepEqual(lines, c.lines) {
			t.Errorf("%s: lines %v, want %v", c.name, lines, c.lines)
		}
	}
}

func TestParseDelimitedErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a,b\n1,\"open\nstill open", "f:2: quoted field 2 is never closed"},
		{"a\n\"x\"y,z\n", "f:2: unexpected 'y' after the closing quote of field 1"},
	}
	for _, c := range cases {
		_, err := parseDelimited(c.in, ',', "f")
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}
	if _, err := parseDelimited("a", '"', "f"); err == nil {
		t.Error("quote separator accepted")
	}
}

func TestFormatRoundTrip(t *testing.T) {
	recs := [][]string{{"a", "b,c", "d\"e"}, {""}, {"", ""}, {"x\r\ny", "\t"}}
	for _, sep := range []byte{',', '\t'} {
		got, err := parseDelimited(formatDelimited(recs, sep), sep, "f")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fieldsOf(got), recs) {
			t.Errorf("sep %q: round trip %q", sep, fieldsOf(got))
		}
	}
}

// FuzzParseDelimited checks that the parser never panics, that line numbers increase, and
// that whatever it accepts survives a format/parse round trip.
func FuzzParseDelimited(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "\"x\"\"y\",z\r\n", "\"open", "a\"b\t\"c\td\"\n", "\n\r\n\"\"\n", "\"a\"b", "x\r"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, comma bool) {
		sep := byte('\t')
		if comma {
			sep = ','
		}
		recs, err := parseDelimited(s, sep, "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		prev := 0
		for _, r := range recs {
			if r.line <= prev || len(r.fields) == 0 {
				t.Fatalf("bad record %+v after line %d", r, prev)
			}
			prev = r.line
		}
		want := fieldsOf(recs)
		again, err := parseDelimited(formatDelimited(want, sep), sep, "fuzz")
		if err != nil {
			t.Fatalf("formatted output does not parse: %v", err)
		}
		if got := fieldsOf(again); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip: got %q, want %q", got, want)
		}
	})
}

// formatDelimited writes records in the dialect parseDelimited reads; fields are quoted only
// when they must be.
func formatDelimited(recs [][]string, sep byte) string {
	var sb strings.Builder
	for _, r := range recs {
		for k, f := range r {
			if k > 0 {
				sb.WriteByte(sep)
			}
			need := f == "" && len(r) == 1 || strings.ContainsAny(f, "\"\n\r") || strings.IndexByte(f, sep) >= 0
			if !need {
				sb.WriteString(f)
				continue
			}
			sb.WriteByte('"')
			sb.WriteString(strings.ReplaceAll(f, `"`, `""`))
			sb.WriteByte('"')
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
