package data

import (
	"fmt"
	"strings"
)

// record is one row of a delimited file and the 1-based line on which it starts.
type record struct {
	line   int
	fields []string
}

// parseDelimited splits CSV/TSV text into records. The dialect is RFC 4180 with a chosen
// separator byte:
//   - a field that starts with '"' is quoted: it runs to the next lone '"', a doubled '""'
//     inside it is one '"', and separators, tabs, '\r' and newlines inside it are kept as is;
//     after the closing quote only the separator, a line end or the end of input may follow;
//   - an unquoted field runs to the next separator or line end; quotes inside it are literal;
//   - records end at '\n' or "\r\n" (the '\r' is dropped); empty lines are skipped;
//   - backslashes have no special meaning anywhere.
//
// name is used in error messages ("name:line: ...").
func parseDelimited(s string, sep byte, name string) ([]record, error) {
	if sep == '"' || sep == '\n' || sep == '\r' {
		return nil, fmt.Errorf("%s: invalid separator %q", name, sep)
	}
	var out []record
	line := 1
	i := 0
	n := len(s)
	for i < n {
		// Skip empty lines between records.
		if s[i] == '\n' {
			line++
			i++
			continue
		}
		if s[i] == '\r' && i+1 < n && s[i+1] == '\n' {
			line++
			i += 2
			continue
		}
		rec := record{line: line}
		for {
			if i < n && s[i] == '"' {
				// Quoted field.
				start := line
				i++
				var sb strings.Builder
				closed := false
				for i < n {
					j := strings.IndexByte(s[i:], '"')
					if j < 0 {
						break
					}
					chunk := s[i : i+j]
					line += strings.Count(chunk, "\n")
					sb.WriteString(chunk)
					i += j + 1
					if i < n && s[i] == '"' {
						sb.WriteByte('"')
						i++
						continue
					}
					closed = true
					break
				}
				if !closed {
					return nil, fmt.Errorf("%s:%d: quoted field %d is never closed", name, start, len(rec.fields)+1)
				}
				rec.fields = append(rec.fields, sb.String())
				switch {
				case i >= n:
				case s[i] == sep, s[i] == '\n':
				case s[i] == '\r' && (i+1 == n || s[i+1] == '\n'):
				default:
					return nil, fmt.Errorf("%s:%d: unexpected %q after the closing quote of field %d", name, line, s[i], len(rec.fields))
				}
			} else {
				// Unquoted field: up to the separator or the line end.
				j := i
				for j < n && s[j] != sep && s[j] != '\n' {
					j++
				}
				f := s[i:j]
				if j < n && s[j] == '\n' {
					f = strings.TrimSuffix(f, "\r")
				}
				rec.fields = append(rec.fields, f)
				i = j
			}
			// i is at a separator, a line end or the end of input.
			if i < n && s[i] == sep {
				i++
				continue
			}
			if i < n && s[i] == '\r' {
				i++ // "\r\n" or a final '\r' after a quoted field
			}
			if i < n && s[i] == '\n' {
				line++
				i++
			}
			break
		}
		out = append(out, rec)
	}
	return out, nil
}
