package data

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// readAll returns the bytes of a file, gunzipped when the file starts with the gzip magic
// bytes (whatever its name), with a leading UTF-8 byte-order mark removed.
func readAll(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b := raw
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		b, err = io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %v", path, err)
		}
	}
	return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), nil
}

// decodeText turns file bytes into a UTF-8 string. Valid UTF-8 is kept as is. Otherwise the
// bytes are decoded as ISO-8859-1 when latin1 is set (TREC), or invalid sequences are replaced
// by U+FFFD. The returned flag says whether the bytes were not valid UTF-8.
func decodeText(b []byte, latin1 bool) (string, bool) {
	if utf8.Valid(b) {
		return string(b), false
	}
	if latin1 {
		// ISO-8859-1 maps byte value v to code point v.
		var sb strings.Builder
		sb.Grow(len(b) + len(b)/16)
		for _, c := range b {
			if c < utf8.RuneSelf {
				sb.WriteByte(c)
			} else {
				sb.WriteRune(rune(c))
			}
		}
		return sb.String(), true
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), true
}

// readText reads a file (plain or gzip) and decodes it to UTF-8 (see decodeText).
func readText(path string, latin1 bool) (string, bool, error) {
	b, err := readAll(path)
	if err != nil {
		return "", false, err
	}
	s, bad := decodeText(b, latin1)
	return s, bad, nil
}

// fileExists reports whether path names an existing regular file.
func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
