package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// AddedToken is a token matched in the text before the model runs (HF added_tokens), e.g.
// "[MASK]" or "<s>". Special tokens are skipped by Decode.
type AddedToken struct {
	ID         int32
	Content    string
	Special    bool
	SingleWord bool // only match when not inside a word
	LStrip     bool // also swallow whitespace on the left
	RStrip     bool // also swallow whitespace on the right
	Normalized bool // match against normalized text (else against the raw text)
}

// addedMatcher finds added tokens in text the way HF's AddedVocabulary does: leftmost,
// then longest match (Aho-Corasick LeftmostLongest), non-overlapping.
type addedMatcher struct {
	pats    []string // pattern per token (normalized content for normalized tokens)
	toks    []AddedToken
	byFirst [256][]int // pattern indices by first byte
}

func newAddedMatcher(toks []AddedToken, pats []string) *addedMatcher {
	m := &addedMatcher{toks: toks, pats: pats}
	for i, p := range pats {
		if p == "" {
			continue
		}
		m.byFirst[p[0]] = append(m.byFirst[p[0]], i)
	}
	return m
}

// piece is a part of the input: either a matched added token (tok >= 0) or plain text.
type piece struct {
	text string
	tok  int32 // added token id, or -1
}

// split cuts s into plain pieces and added-token pieces (HF find_matches).
func (m *addedMatcher) split(s string, dst []piece) []piece {
	if m == nil || len(m.pats) == 0 {
		return append(dst, piece{text: s, tok: -1})
	}
	startOffset := 0
	for i := 0; i < len(s); {
		best := -1
		for _, p := range m.byFirst[s[i]] {
			if strings.HasPrefix(s[i:], m.pats[p]) && (best < 0 || len(m.pats[p]) > len(m.pats[best])) {
				best = p
			}
		}
		if best < 0 {
			i++
			continue
		}
		start, stop := i, i+len(m.pats[best])
		tok := m.toks[best]
		i = stop // the automaton resumes after the raw match even when it is discarded
		if tok.SingleWord {
			startOK := start == 0 || !endsWithWordChar(s[:start])
			stopOK := stop == len(s) || !startsWithWordChar(s[stop:])
			if !startOK || !stopOK {
				continue
			}
		}
		if tok.LStrip {
			ns := trailingSpaceStart(s[:start])
			if ns < startOffset {
				ns = startOffset
			}
			start = ns
		}
		if tok.RStrip {
			stop += leadingSpaceLen(s[stop:])
		}
		if startOffset < start {
			dst = append(dst, piece{text: s[startOffset:start], tok: -1})
		}
		dst = append(dst, piece{text: s[start:stop], tok: tok.ID})
		startOffset = stop
		if i < stop {
			i = stop
		}
	}
	if startOffset < len(s) {
		dst = append(dst, piece{text: s[startOffset:], tok: -1})
	}
	return dst
}

func endsWithWordChar(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordChar(r)
}

func startsWithWordChar(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordChar(r)
}

// trailingSpaceStart returns where the trailing whitespace of s begins.
func trailingSpaceStart(s string) int {
	i := len(s)
	for i > 0 {
		r, w := utf8.DecodeLastRuneInString(s[:i])
		if !isWhitespace(r) {
			break
		}
		i -= w
	}
	return i
}

// leadingSpaceLen returns the byte length of the leading whitespace of s.
func leadingSpaceLen(s string) int {
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		if !isWhitespace(r) {
			break
		}
		i += w
	}
	return i
}
