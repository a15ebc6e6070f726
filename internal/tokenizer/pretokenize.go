package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// preTokenizer splits normalized text into words for the model (HF "pre_tokenizer").
// Words are appended to dst; each word is a substring of s or a new string.
type preTokenizer interface {
	split(s string, dst []string) []string
}

// bertPreTokenizer is HF's BertPreTokenizer: split on whitespace (removed), then isolate
// every punctuation character.
type bertPreTokenizer struct{}

func (bertPreTokenizer) split(s string, dst []string) []string {
	start := -1 // start of the current run of word characters, -1 if none
	for i, r := range s {
		switch {
		case isWhitespace(r):
			if start >= 0 {
				dst = append(dst, s[start:i])
				start = -1
			}
		case isBertPunct(r):
			if start >= 0 {
				dst = append(dst, s[start:i])
				start = -1
			}
			dst = append(dst, s[i:i+utf8.RuneLen(r)])
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		dst = append(dst, s[start:])
	}
	return dst
}

// whitespaceSplit is HF's WhitespaceSplit: split on whitespace only.
type whitespaceSplit struct{}

func (whitespaceSplit) split(s string, dst []string) []string {
	start := -1
	for i, r := range s {
		if isWhitespace(r) {
			if start >= 0 {
				dst = append(dst, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, s[start:])
	}
	return dst
}

// byteLevel is HF's ByteLevel pre-tokenizer: optional prefix space, the GPT-2 split, then
// every byte of each piece is mapped to its printable stand-in rune (bytesToUnicode).
type byteLevel struct {
	addPrefixSpace bool
	useRegex       bool
}

func (b byteLevel) split(s string, dst []string) []string {
	if s == "" {
		return dst
	}
	if b.addPrefixSpace && s[0] != ' ' {
		s = " " + s
	}
	if !b.useRegex {
		return append(dst, byteLevelEncode(s))
	}
	for len(s) > 0 {
		n := gpt2Next(s)
		dst = append(dst, byteLevelEncode(s[:n]))
		s = s[n:]
	}
	return dst
}

// byteToRune is GPT-2's bytes_to_unicode table: printable bytes map to themselves, the
// others to U+0100 onwards in byte order.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := make(map[rune]byte, 256)
	n := rune(0)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			b2r[b] = rune(b)
		} else {
			b2r[b] = 256 + n
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// byteLevelEncode maps every byte of s to its bytesToUnicode rune.
func byteLevelEncode(s string) string {
	out := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = byteToRune[s[i]]
	}
	return string(out)
}

// Rune classes of the GPT-2 pattern
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (Oniguruma's \s is the White_Space property).
const (
	clsSpace = iota
	clsLetter
	clsNumber
	clsOther
)

func gpt2Class(r rune) int {
	switch {
	case isWhitespace(r):
		return clsSpace
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	}
	return clsOther
}

// runOf returns the byte length of the longest prefix of s whose runes are all of class c.
func runOf(s string, c int) int {
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if gpt2Class(r) != c {
			break
		}
		i += w
	}
	return i
}

// gpt2Next returns the byte length of the first match of the GPT-2 pattern in s (which is
// non-empty); matches tile the whole string, so this is also where the next one starts.
// Alternatives are tried in the pattern's order, like a backtracking regex engine.
func gpt2Next(s string) int {
	// 's|'t|'re|'ve|'m|'ll|'d
	if s[0] == '\'' && len(s) >= 2 {
		switch s[1] {
		case 's', 't', 'm', 'd':
			return 2
		}
		if len(s) >= 3 {
			switch s[1:3] {
			case "re", "ve", "ll":
				return 3
			}
		}
	}
	r, w := utf8.DecodeRuneInString(s)
	c := gpt2Class(r)
	// " ?X+" for X in letters, numbers, others: an optional single ASCII space, then a run.
	if r == ' ' && len(s) > 1 {
		r2, w2 := utf8.DecodeRuneInString(s[1:])
		if c2 := gpt2Class(r2); c2 != clsSpace {
			return 1 + w2 + runOf(s[1+w2:], c2)
		}
	}
	if c != clsSpace {
		return w + runOf(s[w:], c)
	}
	// \s+(?!\S): the whitespace run, minus its last rune when a non-space follows.
	n := runOf(s, clsSpace)
	if n == len(s) {
		return n
	}
	_, lastW := utf8.DecodeLastRuneInString(s[:n])
	if n-lastW > 0 {
		return n - lastW
	}
	// \s+ (a single whitespace rune before a non-space)
	return n
}
