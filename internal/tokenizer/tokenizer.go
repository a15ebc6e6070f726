// Package tokenizer implements the Hugging Face WordPiece (BERT) and byte-level BPE
// (RoBERTa/GPT-2) tokenizers with the same ids as the HF `tokenizers` library, loaded from
// tokenizer.json, vocab.txt or vocab.json + merges.txt.
//
// Encoding follows HF's pipeline: added (special) tokens are cut out of the raw text, the
// rest is normalized, pre-tokenized into words and run through the model; the sequence is
// truncated, the post-processor adds special tokens ([CLS] A [SEP], <s> A </s>, ...) and
// the result is optionally padded.
package tokenizer

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
)

func errorf(format string, args ...any) error {
	return fmt.Errorf("tokenizer: "+format, args...)
}

// ModelType names the tokenization model.
type ModelType string

const (
	WordPiece ModelType = "WordPiece"
	BPE       ModelType = "BPE"
)

// Tokenizer turns text into model inputs. It is safe for concurrent use.
type Tokenizer struct {
	modelType ModelType
	wp        *wordPiece // set when modelType == WordPiece
	bpe       *bpe       // set when modelType == BPE

	norm    normalizer   // nil: none
	pre     preTokenizer // nil: the whole piece is one word
	post    *template    // nil: no special tokens
	decoder decoderKind

	added      []AddedToken  // in tokenizer.json order
	addedByID  map[int32]int // id -> index in added
	addedByStr map[string]int32
	rawMatch   *addedMatcher // tokens with Normalized == false, matched on raw text
	normMatch  *addedMatcher // tokens with Normalized == true, matched on normalized text

	idToToken []string // model vocabulary and added tokens by id ("" for holes)

	special        specialIDs
	modelMaxLength int
}

type specialIDs struct{ pad, unk, cls, sep, mask int32 }

// Options control one Encode call.
type Options struct {
	// MaxLen is the maximum length including special tokens; 0 means no limit.
	MaxLen int
	// Truncate cuts sequences longer than MaxLen (pairs: HF "longest_first"). When false, a
	// sequence longer than MaxLen is an error.
	Truncate bool
	// PadTo pads every encoding to at least this length with the pad token; 0: no padding
	// (EncodeBatch still pads to the longest encoding of the batch).
	PadTo int
}

// DefaultOptions truncates to 512 tokens and does not pad.
func DefaultOptions() Options { return Options{MaxLen: 512, Truncate: true} }

// Encoding is the tokenized form of one text or text pair.
type Encoding struct {
	IDs           []int32
	TypeIDs       []int32 // segment ids (0 for A, 1 for B in BERT pairs)
	AttentionMask []int32 // 1 for real tokens, 0 for padding
	SpecialMask   []int32 // 1 for special and pad tokens (never masked by MLM), 0 otherwise
	Tokens        []string
	Truncated     bool // tokens were cut to fit MaxLen
}

// Len is the number of positions, padding included.
func (e *Encoding) Len() int { return len(e.IDs) }

// ModelType reports WordPiece or BPE.
func (t *Tokenizer) ModelType() ModelType { return t.modelType }

// VocabSize is the size an embedding table needs: the largest id + 1, added tokens included.
func (t *Tokenizer) VocabSize() int { return len(t.idToToken) }

// TokenID returns the id of a token (added tokens first, then the model vocabulary).
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	if id, ok := t.addedByStr[tok]; ok {
		return id, true
	}
	switch t.modelType {
	case WordPiece:
		id, ok := t.wp.vocab[tok]
		return id, ok
	case BPE:
		id, ok := t.bpe.vocab[tok]
		return id, ok
	}
	return -1, false
}

// IDToken returns the token string of an id, or "" if the id is unknown.
func (t *Tokenizer) IDToken(id int32) string {
	if id < 0 || int(id) >= len(t.idToToken) {
		return ""
	}
	return t.idToToken[id]
}

// PadID, UnkID, CLSID, SEPID and MaskID return the special token ids, or -1 when the
// tokenizer has no such token. For BPE tokenizers they are <pad>, <unk>, <s>, </s>, <mask>.
func (t *Tokenizer) PadID() int32  { return t.special.pad }
func (t *Tokenizer) UnkID() int32  { return t.special.unk }
func (t *Tokenizer) CLSID() int32  { return t.special.cls }
func (t *Tokenizer) SEPID() int32  { return t.special.sep }
func (t *Tokenizer) MaskID() int32 { return t.special.mask }

// ModelMaxLength is tokenizer_config.json's model_max_length, or 0 when unknown.
func (t *Tokenizer) ModelMaxLength() int { return t.modelMaxLength }

// AddedTokens returns a copy of the added (special) tokens.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added...) }

// NumSpecialTokens is how many special tokens the post-processor adds to a single text
// (pair=false) or a pair (pair=true).
func (t *Tokenizer) NumSpecialTokens(pair bool) int {
	if t.post == nil {
		return 0
	}
	return t.post.numAdded(pair)
}

// Tokenize returns the ids of text without special tokens, truncation or padding.
func (t *Tokenizer) Tokenize(text string) []int32 {
	return t.encodeSeq(text, nil)
}

// encodeSeq runs the HF pipeline on one text up to the model: added tokens on raw text,
// normalizer, added tokens on normalized text, pre-tokenizer, model.
func (t *Tokenizer) encodeSeq(text string, ids []int32) []int32 {
	text = strings.ToValidUTF8(text, "\uFFFD")
	var raw, sub []piece
	var words []string
	raw = t.rawMatch.split(text, raw)
	for _, p := range raw {
		if p.tok >= 0 {
			ids = append(ids, p.tok)
			continue
		}
		s := p.text
		if t.norm != nil {
			s = t.norm.normalize(s)
		}
		if s == "" {
			continue
		}
		sub = t.normMatch.split(s, sub[:0])
		for _, q := range sub {
			if q.tok >= 0 {
				ids = append(ids, q.tok)
				continue
			}
			if q.text == "" {
				continue
			}
			words = words[:0]
			if t.pre != nil {
				words = t.pre.split(q.text, words)
			} else {
				words = append(words, q.text)
			}
			for _, w := range words {
				if t.modelType == WordPiece {
					ids = t.wp.tokenize(w, ids)
				} else {
					ids = t.bpe.tokenize(w, ids)
				}
			}
		}
	}
	return ids
}

// Encode tokenizes one text and adds the special tokens.
func (t *Tokenizer) Encode(text string, opt Options) (Encoding, error) {
	if err := checkOptions(opt); err != nil {
		return Encoding{}, err
	}
	a := t.encodeSeq(text, nil)
	return t.finish(a, nil, false, opt, opt.PadTo)
}

// EncodePair tokenizes a text pair (e.g. premise and hypothesis) with special tokens;
// truncation is HF's "longest_first".
func (t *Tokenizer) EncodePair(a, b string, opt Options) (Encoding, error) {
	if err := checkOptions(opt); err != nil {
		return Encoding{}, err
	}
	ia := t.encodeSeq(a, nil)
	ib := t.encodeSeq(b, nil)
	return t.finish(ia, ib, true, opt, opt.PadTo)
}

// EncodeBatch encodes texts in parallel and pads them to the longest encoding (and to at
// least opt.PadTo). The result does not depend on the number of threads.
func (t *Tokenizer) EncodeBatch(texts []string, opt Options) ([]Encoding, error) {
	return t.encodeBatch(len(texts), func(i int) (Encoding, error) {
		return t.Encode(texts[i], Options{MaxLen: opt.MaxLen, Truncate: opt.Truncate})
	}, opt)
}

// EncodePairBatch is EncodeBatch for text pairs; as and bs must have the same length.
func (t *Tokenizer) EncodePairBatch(as, bs []string, opt Options) ([]Encoding, error) {
	if len(as) != len(bs) {
		return nil, errorf("EncodePairBatch: %d first texts but %d second texts", len(as), len(bs))
	}
	return t.encodeBatch(len(as), func(i int) (Encoding, error) {
		return t.EncodePair(as[i], bs[i], Options{MaxLen: opt.MaxLen, Truncate: opt.Truncate})
	}, opt)
}

func (t *Tokenizer) encodeBatch(n int, enc func(i int) (Encoding, error), opt Options) ([]Encoding, error) {
	if err := checkOptions(opt); err != nil {
		return nil, err
	}
	out := make([]Encoding, n)
	errs := make([]error, n)
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				out[i], errs[i] = enc(i)
			}
		}(w)
	}
	wg.Wait()
	longest := opt.PadTo
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("text %d: %w", i, err)
		}
		if out[i].Len() > longest {
			longest = out[i].Len()
		}
	}
	for i := range out {
		if err := t.pad(&out[i], longest); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func checkOptions(opt Options) error {
	if opt.MaxLen < 0 || opt.PadTo < 0 {
		return errorf("MaxLen (%d) and PadTo (%d) must not be negative", opt.MaxLen, opt.PadTo)
	}
	return nil
}

// ErrTooLong is returned (wrapped) when truncation is off and a text does not fit MaxLen.
var ErrTooLong = errors.New("sequence longer than the maximum length")

// finish truncates, adds special tokens and pads.
func (t *Tokenizer) finish(a, b []int32, pair bool, opt Options, padTo int) (Encoding, error) {
	nAdded := t.NumSpecialTokens(pair)
	truncated := false
	if opt.MaxLen > 0 {
		total := len(a) + len(b) + nAdded
		if total > opt.MaxLen {
			if !opt.Truncate {
				return Encoding{}, fmt.Errorf("tokenizer: %w: %d tokens (with %d special) > %d; enable truncation or raise the maximum length",
					ErrTooLong, total, nAdded, opt.MaxLen)
			}
			if opt.MaxLen < nAdded {
				return Encoding{}, errorf("maximum length %d is smaller than the %d special tokens", opt.MaxLen, nAdded)
			}
			a, b = truncateLongestFirst(a, b, pair, opt.MaxLen-nAdded)
			truncated = true
		}
	}
	var e Encoding
	if t.post != nil {
		e = t.post.apply(t, a, b, pair)
	} else {
		e = plainEncoding(t, a, b, pair)
	}
	e.Truncated = truncated
	if err := t.pad(&e, padTo); err != nil {
		return Encoding{}, err
	}
	return e, nil
}

// truncateLongestFirst is HF's LongestFirst truncation to maxLen tokens (right side).
func truncateLongestFirst(a, b []int32, pair bool, maxLen int) ([]int32, []int32) {
	if !pair {
		if len(a) > maxLen {
			a = a[:maxLen]
		}
		return a, b
	}
	if len(a)+len(b) <= maxLen {
		return a, b
	}
	n1, n2 := len(a), len(b)
	swap := n1 > n2
	if swap {
		n1, n2 = n2, n1
	}
	if n1 > maxLen {
		n2 = n1
	} else {
		n2 = max(n1, maxLen-n1)
	}
	if n1+n2 > maxLen {
		n1 = maxLen / 2
		n2 = n1 + maxLen%2
	}
	if swap {
		n1, n2 = n2, n1
	}
	return a[:min(n1, len(a))], b[:min(n2, len(b))]
}

// plainEncoding joins A (type 0) and B (type 1) without special tokens.
func plainEncoding(t *Tokenizer, a, b []int32, pair bool) Encoding {
	n := len(a) + len(b)
	e := Encoding{IDs: make([]int32, 0, n), TypeIDs: make([]int32, 0, n)}
	e.IDs = append(append(e.IDs, a...), b...)
	for range a {
		e.TypeIDs = append(e.TypeIDs, 0)
	}
	for range b {
		e.TypeIDs = append(e.TypeIDs, 1)
	}
	fillDerived(t, &e, nil)
	return e
}

// fillDerived sets AttentionMask (all ones), SpecialMask and Tokens.
func fillDerived(t *Tokenizer, e *Encoding, special []bool) {
	n := len(e.IDs)
	e.AttentionMask = make([]int32, n)
	e.SpecialMask = make([]int32, n)
	e.Tokens = make([]string, n)
	for i, id := range e.IDs {
		e.AttentionMask[i] = 1
		if special != nil && special[i] {
			e.SpecialMask[i] = 1
		}
		e.Tokens[i] = t.IDToken(id)
	}
}

// pad right-pads e to length n with the pad token (type 0, attention 0).
func (t *Tokenizer) pad(e *Encoding, n int) error {
	if e.Len() >= n {
		return nil
	}
	if t.special.pad < 0 {
		return errorf("cannot pad: the tokenizer has no pad token")
	}
	tok := t.IDToken(t.special.pad)
	for e.Len() < n {
		e.IDs = append(e.IDs, t.special.pad)
		e.TypeIDs = append(e.TypeIDs, 0)
		e.AttentionMask = append(e.AttentionMask, 0)
		e.SpecialMask = append(e.SpecialMask, 1)
		e.Tokens = append(e.Tokens, tok)
	}
	return nil
}

// template is a post-processor (HF TemplateProcessing; BertProcessing and
// RobertaProcessing are expressed as templates).
type template struct {
	single, pair []tmplPiece
	// allZeroTypes forces every type id to 0 (RobertaProcessing).
	allZeroTypes bool
}

type tmplPiece struct {
	seq    int     // 0: sequence A, 1: sequence B, -1: special token(s)
	ids    []int32 // special token ids
	typeID int32
}

func (tp *template) numAdded(pair bool) int {
	pieces := tp.single
	if pair {
		pieces = tp.pair
	}
	n := 0
	for _, p := range pieces {
		if p.seq < 0 {
			n += len(p.ids)
		}
	}
	return n
}

func (tp *template) apply(t *Tokenizer, a, b []int32, pair bool) Encoding {
	pieces := tp.single
	if pair {
		pieces = tp.pair
	}
	var e Encoding
	var special []bool
	for _, p := range pieces {
		var ids []int32
		switch p.seq {
		case 0:
			ids = a
		case 1:
			ids = b
		default:
			ids = p.ids
		}
		typeID := p.typeID
		if tp.allZeroTypes {
			typeID = 0
		}
		for _, id := range ids {
			e.IDs = append(e.IDs, id)
			e.TypeIDs = append(e.TypeIDs, typeID)
			special = append(special, p.seq < 0)
		}
	}
	fillDerived(t, &e, special)
	return e
}
