package tokenizer

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a piece of text before pre-tokenization (HF "normalizer").
type normalizer interface {
	normalize(s string) string
}

// bertNormalizer is HF's BertNormalizer. Steps run in HF's order: clean text, pad CJK
// ideographs with spaces, strip accents (NFD, drop Mn), lowercase.
type bertNormalizer struct {
	cleanText          bool
	handleChineseChars bool
	stripAccents       bool // already resolved: HF's null means "same as lowercase"
	lowercase          bool
}

func (n *bertNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	rs := make([]rune, 0, len(s)+8)
	for _, r := range s {
		if n.cleanText {
			if r == 0 || r == utf8.RuneError || isBertControl(r) {
				continue
			}
			if isWhitespace(r) {
				r = ' '
			}
		}
		if n.handleChineseChars && isChineseChar(r) {
			rs = append(rs, ' ', r, ' ')
			continue
		}
		rs = append(rs, r)
	}
	if n.stripAccents {
		rs = stripAccentRunes(rs)
	}
	if n.lowercase {
		out := make([]rune, 0, len(rs))
		for _, r := range rs {
			out = appendLower(out, r)
		}
		rs = out
	}
	return string(rs)
}

// stripAccentRunes applies NFD and drops non-spacing marks.
func stripAccentRunes(rs []rune) []rune {
	d := norm.NFD.String(string(rs))
	out := rs[:0]
	for _, r := range d {
		if !isNonspacingMark(r) {
			out = append(out, r)
		}
	}
	return out
}

// lowercaseNormalizer is HF's "Lowercase" normalizer.
type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		out = appendLower(out, r)
	}
	return string(out)
}

// stripAccentsNormalizer is HF's "StripAccents" normalizer (drops Mn marks, no NFD).
type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !isNonspacingMark(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unicodeNormalizer is one of HF's NFC/NFD/NFKC/NFKD normalizers.
type unicodeNormalizer struct {
	name string // "NFD", "NFC", "NFKD" or "NFKC"
	form norm.Form
}

func (u unicodeNormalizer) normalize(s string) string { return u.form.String(s) }

// sequenceNormalizer applies normalizers in order (HF "Sequence").
type sequenceNormalizer []normalizer

func (q sequenceNormalizer) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}
