package tokenizer

import "unicode/utf8"

// wordPiece is HF's WordPiece model: greedy longest-match-first over each word, continuing
// pieces carry the prefix ("##"); a word with an unmatchable part, or longer than
// maxInputChars runes, becomes a single unk token.
type wordPiece struct {
	vocab         map[string]int32 // token -> id (all tokens, prefix included)
	cont          map[string]int32 // continuation tokens keyed without the prefix
	prefix        string
	unkID         int32
	unkToken      string
	maxInputChars int
	maxTokenBytes int // longest token in bytes (without prefix for cont), bounds the search
}

func newWordPiece(vocab map[string]int32, unk, prefix string, maxInputChars int) (*wordPiece, error) {
	unkID, ok := vocab[unk]
	if !ok {
		return nil, errorf("WordPiece unk token %q is not in the vocabulary", unk)
	}
	if maxInputChars <= 0 {
		maxInputChars = 100
	}
	wp := &wordPiece{vocab: vocab, cont: make(map[string]int32), prefix: prefix, unkID: unkID,
		unkToken: unk, maxInputChars: maxInputChars}
	for tok, id := range vocab {
		if len(tok) > wp.maxTokenBytes {
			wp.maxTokenBytes = len(tok)
		}
		if prefix != "" && len(tok) >= len(prefix) && tok[:len(prefix)] == prefix {
			wp.cont[tok[len(prefix):]] = id
		}
	}
	return wp, nil
}

// tokenize appends the pieces of one word to ids.
func (wp *wordPiece) tokenize(word string, ids []int32) []int32 {
	if word == "" {
		return ids
	}
	if utf8.RuneCountInString(word) > wp.maxInputChars {
		return append(ids, wp.unkID)
	}
	mark := len(ids)
	start := 0
	for start < len(word) {
		end := len(word)
		if end-start > wp.maxTokenBytes {
			// No token is longer; step back to a rune boundary at or below the bound.
			end = start + wp.maxTokenBytes
			for end > start && !utf8.RuneStart(word[end]) {
				end--
			}
		}
		found := int32(-1)
		for end > start {
			var id int32
			var ok bool
			if start == 0 {
				id, ok = wp.vocab[word[start:end]]
			} else if wp.prefix == "" {
				id, ok = wp.vocab[word[start:end]]
			} else {
				id, ok = wp.cont[word[start:end]]
			}
			if ok {
				found = id
				break
			}
			_, w := utf8.DecodeLastRuneInString(word[start:end])
			end -= w
		}
		if found < 0 {
			return append(ids[:mark], wp.unkID)
		}
		ids = append(ids, found)
		start = end
	}
	return ids
}
