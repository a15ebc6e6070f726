package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Parsing of HF tokenizer.json components.

type jsonAddedToken struct {
	ID         *int64  `json:"id"`
	Content    *string `json:"content"`
	SingleWord bool    `json:"single_word"`
	LStrip     bool    `json:"lstrip"`
	RStrip     bool    `json:"rstrip"`
	Normalized *bool   `json:"normalized"`
	Special    bool    `json:"special"`
}

func (a jsonAddedToken) toAdded() (AddedToken, error) {
	if a.ID == nil || a.Content == nil {
		return AddedToken{}, errors.New("added token needs \"id\" and \"content\"")
	}
	if *a.ID < 0 || *a.ID >= maxTokenID {
		return AddedToken{}, fmt.Errorf("added token id %d out of range", *a.ID)
	}
	normalized := !a.Special // HF's default
	if a.Normalized != nil {
		normalized = *a.Normalized
	}
	return AddedToken{ID: int32(*a.ID), Content: *a.Content, Special: a.Special, SingleWord: a.SingleWord,
		LStrip: a.LStrip, RStrip: a.RStrip, Normalized: normalized}, nil
}

type jsonTokenizer struct {
	AddedTokens   []jsonAddedToken `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Decoder       json.RawMessage  `json:"decoder"`
	Model         json.RawMessage  `json:"model"`
}

type jsonModel struct {
	Type          string          `json:"type"`
	Vocab         json.RawMessage `json:"vocab"`
	Merges        json.RawMessage `json:"merges"`
	UnkToken      *string         `json:"unk_token"`
	ContPrefix    *string         `json:"continuing_subword_prefix"`
	EndSuffix     *string         `json:"end_of_word_suffix"`
	MaxInputChars *int            `json:"max_input_chars_per_word"`
	FuseUnk       bool            `json:"fuse_unk"`
	ByteFallback  bool            `json:"byte_fallback"`
	IgnoreMerges  bool            `json:"ignore_merges"`
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// typeOf reads the "type" field of a component.
func typeOf(raw json.RawMessage) (string, error) {
	var h struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", err
	}
	return h.Type, nil
}

func fromTokenizerJSON(data []byte, cfg *hfConfig) (*Tokenizer, error) {
	var tj jsonTokenizer
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, errorf("malformed tokenizer.json: %v", err)
	}
	if isNull(tj.Model) {
		return nil, errorf("tokenizer.json has no model")
	}
	t := &Tokenizer{}
	var jm jsonModel
	if err := json.Unmarshal(tj.Model, &jm); err != nil {
		return nil, errorf("model: %v", err)
	}
	if jm.Type == "" { // older files omit the tag; HF tells the models apart by their fields
		switch {
		case !isNull(jm.Merges):
			jm.Type = "BPE"
		case jm.MaxInputChars != nil || jm.ContPrefix != nil:
			jm.Type = "WordPiece"
		}
	}
	vocab, err := parseVocabMap(jm.Vocab)
	if err != nil && (jm.Type == "WordPiece" || jm.Type == "BPE") {
		return nil, errorf("model vocab: %v", err)
	}
	switch jm.Type {
	case "WordPiece":
		unk, prefix, maxChars := "[UNK]", "##", 100
		if jm.UnkToken != nil {
			unk = *jm.UnkToken
		}
		if jm.ContPrefix != nil {
			prefix = *jm.ContPrefix
		}
		if jm.MaxInputChars != nil {
			maxChars = *jm.MaxInputChars
		}
		if t.wp, err = newWordPiece(vocab, unk, prefix, maxChars); err != nil {
			return nil, err
		}
		t.modelType = WordPiece
	case "BPE":
		merges, err := parseJSONMerges(jm.Merges)
		if err != nil {
			return nil, err
		}
		var unk, prefix, suffix string
		if jm.UnkToken != nil {
			unk = *jm.UnkToken
		}
		if jm.ContPrefix != nil {
			prefix = *jm.ContPrefix
		}
		if jm.EndSuffix != nil {
			suffix = *jm.EndSuffix
		}
		if t.bpe, err = newBPE(vocab, merges, unk, prefix, suffix, jm.FuseUnk, jm.ByteFallback, jm.IgnoreMerges); err != nil {
			return nil, err
		}
		t.modelType = BPE
	case "":
		return nil, errorf("model has no type and is neither WordPiece nor BPE")
	default:
		return nil, errorf("unsupported model type %q (want WordPiece or BPE)", jm.Type)
	}

	if t.norm, err = parseNormalizer(tj.Normalizer, cfg); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(tj.PreTokenizer, cfg); err != nil {
		return nil, err
	}
	if t.decoder, err = parseDecoder(tj.Decoder); err != nil {
		return nil, err
	}
	added := make([]AddedToken, 0, len(tj.AddedTokens))
	for _, a := range tj.AddedTokens {
		tok, err := a.toAdded()
		if err != nil {
			return nil, errorf("added_tokens: %v", err)
		}
		added = append(added, tok)
	}
	t.setAdded(added)
	if t.post, err = parsePostProcessor(tj.PostProcessor, t); err != nil {
		return nil, err
	}
	t.finishSetup(cfg)
	if err := t.checkTemplateIDs(); err != nil {
		return nil, err
	}
	return t, nil
}

// checkTemplateIDs rejects post-processors that add ids the vocabulary does not have.
func (t *Tokenizer) checkTemplateIDs() error {
	if t.post == nil {
		return nil
	}
	for _, pieces := range [][]tmplPiece{t.post.single, t.post.pair} {
		for _, p := range pieces {
			for _, id := range p.ids {
				if t.IDToken(id) == "" {
					return errorf("post_processor adds id %d, which is not in the vocabulary", id)
				}
			}
		}
	}
	return nil
}

func parseVocabMap(raw json.RawMessage) (map[string]int32, error) {
	if isNull(raw) {
		return nil, errors.New("missing vocab")
	}
	var m map[string]int64
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("vocab must map tokens to ids: %v", err)
	}
	out := make(map[string]int32, len(m))
	for tok, id := range m {
		if id < 0 || id >= maxTokenID {
			return nil, fmt.Errorf("token %q has id %d, out of range", tok, id)
		}
		out[tok] = int32(id)
	}
	return out, nil
}

// parseJSONMerges accepts both merges formats: ["a b", ...] and [["a", "b"], ...].
func parseJSONMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errorf("model merges must be a list: %v", err)
	}
	out := make([][2]string, 0, len(items))
	for i, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			parts := strings.Split(s, " ")
			if len(parts) != 2 {
				return nil, errorf("merge %d (%q) is not two tokens separated by one space", i+1, s)
			}
			out = append(out, [2]string{parts[0], parts[1]})
			continue
		}
		var pr []string
		if err := json.Unmarshal(it, &pr); err != nil || len(pr) != 2 {
			return nil, errorf("merge %d is neither \"a b\" nor [\"a\", \"b\"]", i+1)
		}
		out = append(out, [2]string{pr[0], pr[1]})
	}
	return out, nil
}

func parseNormalizer(raw json.RawMessage, cfg *hfConfig) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := typeOf(raw)
	if err != nil {
		return nil, errorf("normalizer: %v", err)
	}
	switch typ {
	case "BertNormalizer":
		var j struct {
			CleanText          *bool `json:"clean_text"`
			HandleChineseChars *bool `json:"handle_chinese_chars"`
			StripAccents       *bool `json:"strip_accents"`
			Lowercase          *bool `json:"lowercase"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, errorf("BertNormalizer: %v", err)
		}
		n := &bertNormalizer{cleanText: true, handleChineseChars: true, lowercase: true}
		if j.CleanText != nil {
			n.cleanText = *j.CleanText
		}
		if j.HandleChineseChars != nil {
			n.handleChineseChars = *j.HandleChineseChars
		}
		if j.Lowercase != nil {
			n.lowercase = *j.Lowercase
		}
		strip := j.StripAccents
		// Given do_lower_case, transformers' BertTokenizerFast rebuilds the normalizer with it,
		// strip_accents (default null) and tokenize_chinese_chars (default true).
		if cfg.lowercase != nil {
			n.lowercase = *cfg.lowercase
			strip = cfg.stripAccents
			n.handleChineseChars = cfg.chinese == nil || *cfg.chinese
		}
		n.stripAccents = n.lowercase
		if strip != nil {
			n.stripAccents = *strip
		}
		return n, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "NFD":
		return unicodeNormalizer{"NFD", norm.NFD}, nil
	case "NFC":
		return unicodeNormalizer{"NFC", norm.NFC}, nil
	case "NFKD":
		return unicodeNormalizer{"NFKD", norm.NFKD}, nil
	case "NFKC":
		return unicodeNormalizer{"NFKC", norm.NFKC}, nil
	case "Sequence":
		var j struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, errorf("normalizer Sequence: %v", err)
		}
		var seq sequenceNormalizer
		for _, sub := range j.Normalizers {
			n, err := parseNormalizer(sub, &hfConfig{})
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	}
	return nil, errorf("unsupported normalizer type %q", typ)
}

func parsePreTokenizer(raw json.RawMessage, cfg *hfConfig) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := typeOf(raw)
	if err != nil {
		return nil, errorf("pre_tokenizer: %v", err)
	}
	switch typ {
	case "BertPreTokenizer":
		return bertPreTokenizer{}, nil
	case "WhitespaceSplit":
		return whitespaceSplit{}, nil
	case "ByteLevel":
		var j struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, errorf("ByteLevel: %v", err)
		}
		b := byteLevel{addPrefixSpace: true, useRegex: true}
		if j.AddPrefixSpace != nil {
			b.addPrefixSpace = *j.AddPrefixSpace
		}
		if cfg.addPrefixSpace != nil { // RobertaTokenizerFast applies tokenizer_config.json's value
			b.addPrefixSpace = *cfg.addPrefixSpace
		}
		if j.UseRegex != nil {
			b.useRegex = *j.UseRegex
		}
		return b, nil
	case "Sequence":
		var j struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, errorf("pre_tokenizer Sequence: %v", err)
		}
		var seq sequencePreTokenizer
		for _, sub := range j.PreTokenizers {
			p, err := parsePreTokenizer(sub, cfg)
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	}
	return nil, errorf("unsupported pre_tokenizer type %q", typ)
}

// sequencePreTokenizer applies pre-tokenizers in turn, each to every word of the previous.
type sequencePreTokenizer []preTokenizer

func (q sequencePreTokenizer) split(s string, dst []string) []string {
	words := []string{s}
	for _, p := range q {
		var next []string
		for _, w := range words {
			next = p.split(w, next)
		}
		words = next
	}
	return append(dst, words...)
}

func parseDecoder(raw json.RawMessage) (decoderKind, error) {
	if isNull(raw) {
		return decoderKind{}, nil
	}
	typ, err := typeOf(raw)
	if err != nil {
		return decoderKind{}, errorf("decoder: %v", err)
	}
	switch typ {
	case "WordPiece":
		var j struct {
			Prefix  *string `json:"prefix"`
			Cleanup *bool   `json:"cleanup"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return decoderKind{}, errorf("WordPiece decoder: %v", err)
		}
		d := decoderKind{kind: decWordPiece, prefix: "##", cleanup: true}
		if j.Prefix != nil {
			d.prefix = *j.Prefix
		}
		if j.Cleanup != nil {
			d.cleanup = *j.Cleanup
		}
		return d, nil
	case "ByteLevel":
		return decoderKind{kind: decByteLevel}, nil
	}
	return decoderKind{}, nil // other decoders only matter for Decode: fall back to joining tokens
}

func parsePostProcessor(raw json.RawMessage, t *Tokenizer) (*template, error) {
	if isNull(raw) {
		return nil, nil
	}
	typ, err := typeOf(raw)
	if err != nil {
		return nil, errorf("post_processor: %v", err)
	}
	pairTok := func(raw json.RawMessage, what string) (int32, error) {
		var pr []json.RawMessage
		if err := json.Unmarshal(raw, &pr); err != nil || len(pr) != 2 {
			return 0, errorf("%s %s must be [token, id]", typ, what)
		}
		var id int64
		if err := json.Unmarshal(pr[1], &id); err != nil || id < 0 || id >= maxTokenID {
			return 0, errorf("%s %s has a bad id", typ, what)
		}
		return int32(id), nil
	}
	switch typ {
	case "BertProcessing", "RobertaProcessing":
		var j struct {
			Sep json.RawMessage `json:"sep"`
			Cls json.RawMessage `json:"cls"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, errorf("%s: %v", typ, err)
		}
		sep, err := pairTok(j.Sep, "sep")
		if err != nil {
			return nil, err
		}
		cls, err := pairTok(j.Cls, "cls")
		if err != nil {
			return nil, err
		}
		if typ == "BertProcessing" {
			return bertTemplate(cls, sep), nil
		}
		return robertaTemplate(cls, sep), nil
	case "TemplateProcessing":
		return parseTemplate(raw)
	case "ByteLevel":
		return nil, nil // offsets only
	case "Sequence":
		var j struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, errorf("post_processor Sequence: %v", err)
		}
		var found *template
		for _, sub := range j.Processors {
			tp, err := parsePostProcessor(sub, t)
			if err != nil {
				return nil, err
			}
			if tp != nil {
				if found != nil {
					return nil, errorf("post_processor Sequence with more than one token-adding processor is not supported")
				}
				found = tp
			}
		}
		return found, nil
	}
	return nil, errorf("unsupported post_processor type %q", typ)
}

func bertTemplate(cls, sep int32) *template {
	return &template{
		single: []tmplPiece{{seq: -1, ids: []int32{cls}}, {seq: 0}, {seq: -1, ids: []int32{sep}}},
		pair: []tmplPiece{{seq: -1, ids: []int32{cls}}, {seq: 0}, {seq: -1, ids: []int32{sep}},
			{seq: 1, typeID: 1}, {seq: -1, ids: []int32{sep}, typeID: 1}},
	}
}

func robertaTemplate(cls, sep int32) *template {
	return &template{
		single: []tmplPiece{{seq: -1, ids: []int32{cls}}, {seq: 0}, {seq: -1, ids: []int32{sep}}},
		pair: []tmplPiece{{seq: -1, ids: []int32{cls}}, {seq: 0}, {seq: -1, ids: []int32{sep, sep}},
			{seq: 1}, {seq: -1, ids: []int32{sep}}},
		allZeroTypes: true,
	}
}

func parseTemplate(raw json.RawMessage) (*template, error) {
	var j struct {
		Single        []map[string]json.RawMessage `json:"single"`
		Pair          []map[string]json.RawMessage `json:"pair"`
		SpecialTokens map[string]struct {
			ID  string  `json:"id"`
			IDs []int64 `json:"ids"`
		} `json:"special_tokens"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, errorf("TemplateProcessing: %v", err)
	}
	conv := func(items []map[string]json.RawMessage, what string) ([]tmplPiece, error) {
		var out []tmplPiece
		for _, it := range items {
			if len(it) != 1 {
				return nil, errorf("TemplateProcessing %s: each piece must be {\"SpecialToken\": ...} or {\"Sequence\": ...}", what)
			}
			for kind, body := range it {
				var b struct {
					ID     string `json:"id"`
					TypeID int64  `json:"type_id"`
				}
				if err := json.Unmarshal(body, &b); err != nil {
					return nil, errorf("TemplateProcessing %s: %v", what, err)
				}
				if b.TypeID < 0 || b.TypeID > 1<<16 {
					return nil, errorf("TemplateProcessing %s: bad type_id %d", what, b.TypeID)
				}
				p := tmplPiece{typeID: int32(b.TypeID)}
				switch kind {
				case "Sequence":
					switch b.ID {
					case "A":
						p.seq = 0
					case "B":
						p.seq = 1
					default:
						return nil, errorf("TemplateProcessing %s: sequence id %q is not A or B", what, b.ID)
					}
				case "SpecialToken":
					st, ok := j.SpecialTokens[b.ID]
					if !ok {
						return nil, errorf("TemplateProcessing %s: special token %q is not in special_tokens", what, b.ID)
					}
					p.seq = -1
					for _, id := range st.IDs {
						if id < 0 || id >= maxTokenID {
							return nil, errorf("TemplateProcessing: special token %q has a bad id", b.ID)
						}
						p.ids = append(p.ids, int32(id))
					}
				default:
					return nil, errorf("TemplateProcessing %s: unknown piece %q", what, kind)
				}
				out = append(out, p)
			}
		}
		return out, nil
	}
	single, err := conv(j.Single, "single")
	if err != nil {
		return nil, err
	}
	pair, err := conv(j.Pair, "pair")
	if err != nil {
		return nil, err
	}
	if len(pair) == 0 { // HF defaults the pair template to "$A $B"-like use of single + B
		pair = append(append([]tmplPiece(nil), single...), tmplPiece{seq: 1, typeID: 1})
	}
	return &template{single: single, pair: pair}, nil
}
