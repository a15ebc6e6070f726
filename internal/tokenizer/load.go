package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// maxTokenID bounds ids read from files so that a corrupt file cannot make us allocate
// absurd tables.
const maxTokenID = 1 << 24

// LoadOption changes how Load reads a tokenizer folder.
type LoadOption func(*loadSettings)

type loadSettings struct {
	ignoreJSON bool
	lowercase  *bool
}

// IgnoreTokenizerJSON makes Load use vocab.txt or vocab.json+merges.txt even when a
// tokenizer.json is present.
func IgnoreTokenizerJSON() LoadOption { return func(s *loadSettings) { s.ignoreJSON = true } }

// WithLowercase forces lower-casing on (true) or off (false), overriding
// tokenizer_config.json's do_lower_case.
func WithLowercase(v bool) LoadOption { return func(s *loadSettings) { s.lowercase = &v } }

// hfConfig is what we use from tokenizer_config.json and special_tokens_map.json.
type hfConfig struct {
	lowercase      *bool // do_lower_case / lowercase
	stripAccents   *bool
	hasStrip       bool  // strip_accents key present (null means "follow lowercase")
	chinese        *bool // tokenize_chinese_chars
	addPrefixSpace *bool
	tokens         map[string]string // role ("cls_token", ...) -> token
	added          []AddedToken      // added_tokens_decoder
	modelMaxLength int
}

// Load reads a tokenizer folder: tokenizer.json if present, else vocab.txt (WordPiece),
// else vocab.json + merges.txt (byte-level BPE). tokenizer_config.json and
// special_tokens_map.json are used when present (do_lower_case, strip_accents,
// tokenize_chinese_chars, add_prefix_space, special tokens, model_max_length), as
// transformers' BertTokenizerFast/RobertaTokenizerFast do.
func Load(dir string, opts ...LoadOption) (*Tokenizer, error) {
	var st loadSettings
	for _, o := range opts {
		o(&st)
	}
	cfg, err := readHFConfig(dir)
	if err != nil {
		return nil, err
	}
	if st.lowercase != nil {
		cfg.lowercase = st.lowercase
	}
	exists := func(name string) bool {
		fi, err := os.Stat(filepath.Join(dir, name))
		return err == nil && !fi.IsDir()
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, errorf("tokenizer folder: %v", err)
	} else if !fi.IsDir() {
		return nil, errorf("%s is not a folder", dir)
	}
	switch {
	case !st.ignoreJSON && exists("tokenizer.json"):
		data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			return nil, errorf("%v", err)
		}
		t, err := fromTokenizerJSON(data, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer.json"), err)
		}
		return t, nil
	case exists("vocab.txt"):
		data, err := os.ReadFile(filepath.Join(dir, "vocab.txt"))
		if err != nil {
			return nil, errorf("%v", err)
		}
		t, err := fromVocabTxt(data, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "vocab.txt"), err)
		}
		return t, nil
	case exists("vocab.json") && exists("merges.txt"):
		vocab, err := os.ReadFile(filepath.Join(dir, "vocab.json"))
		if err != nil {
			return nil, errorf("%v", err)
		}
		merges, err := os.ReadFile(filepath.Join(dir, "merges.txt"))
		if err != nil {
			return nil, errorf("%v", err)
		}
		t, err := fromVocabMerges(vocab, merges, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		return t, nil
	}
	return nil, errorf("%s has no tokenizer.json, vocab.txt or vocab.json+merges.txt", dir)
}

// FromTokenizerJSON builds a tokenizer from the contents of an HF tokenizer.json.
func FromTokenizerJSON(data []byte) (*Tokenizer, error) {
	return fromTokenizerJSON(data, &hfConfig{})
}

// WordPieceConfig configures a WordPiece tokenizer built from a vocab.txt.
type WordPieceConfig struct {
	Lowercase          bool
	StripAccents       *bool // nil: same as Lowercase (HF's default)
	HandleChineseChars bool

	// Special tokens ("[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]" by default).
	UnkToken, SepToken, PadToken, ClsToken, MaskToken string
}

// DefaultWordPieceConfig is bert-base-uncased's setup.
func DefaultWordPieceConfig() WordPieceConfig {
	return WordPieceConfig{Lowercase: true, HandleChineseChars: true, UnkToken: "[UNK]", SepToken: "[SEP]",
		PadToken: "[PAD]", ClsToken: "[CLS]", MaskToken: "[MASK]"}
}

// FromVocabTxt builds a BERT WordPiece tokenizer from the contents of a vocab.txt.
func FromVocabTxt(data []byte, c WordPieceConfig) (*Tokenizer, error) {
	cfg := &hfConfig{lowercase: &c.Lowercase, stripAccents: c.StripAccents, hasStrip: true, chinese: &c.HandleChineseChars,
		tokens: map[string]string{"unk_token": c.UnkToken, "sep_token": c.SepToken, "pad_token": c.PadToken,
			"cls_token": c.ClsToken, "mask_token": c.MaskToken}}
	return fromVocabTxt(data, cfg)
}

// BPEConfig configures a byte-level BPE tokenizer built from vocab.json + merges.txt.
type BPEConfig struct {
	AddPrefixSpace bool
	Lowercase      bool

	// Special tokens ("<s>", "</s>", "<unk>", "<pad>", "<mask>" by default).
	BosToken, EosToken, UnkToken, PadToken, MaskToken string
}

// DefaultBPEConfig is roberta-base's setup.
func DefaultBPEConfig() BPEConfig {
	return BPEConfig{BosToken: "<s>", EosToken: "</s>", UnkToken: "<unk>", PadToken: "<pad>", MaskToken: "<mask>"}
}

// FromVocabMerges builds a RoBERTa-style byte-level BPE tokenizer from the contents of a
// vocab.json and a merges.txt.
func FromVocabMerges(vocabJSON, merges []byte, c BPEConfig) (*Tokenizer, error) {
	cfg := &hfConfig{lowercase: &c.Lowercase, addPrefixSpace: &c.AddPrefixSpace,
		tokens: map[string]string{"bos_token": c.BosToken, "eos_token": c.EosToken, "cls_token": c.BosToken,
			"sep_token": c.EosToken, "unk_token": c.UnkToken, "pad_token": c.PadToken, "mask_token": c.MaskToken}}
	return fromVocabMerges(vocabJSON, merges, cfg)
}

// readHFConfig reads tokenizer_config.json and special_tokens_map.json when present.
func readHFConfig(dir string) (*hfConfig, error) {
	cfg := &hfConfig{tokens: map[string]string{}}
	for _, name := range []string{"special_tokens_map.json", "tokenizer_config.json"} {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, errorf("%v", err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, errorf("%s: malformed JSON: %v", path, err)
		}
		if err := cfg.merge(m); err != nil {
			return nil, errorf("%s: %v", path, err)
		}
	}
	return cfg, nil
}

func (cfg *hfConfig) merge(m map[string]json.RawMessage) error {
	getBool := func(key string) (*bool, bool, error) {
		raw, ok := m[key]
		if !ok {
			return nil, false, nil
		}
		if string(bytes.TrimSpace(raw)) == "null" {
			return nil, true, nil
		}
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, true, fmt.Errorf("%s must be true, false or null", key)
		}
		return &v, true, nil
	}
	var err error
	var present bool
	if v, ok, e := getBool("lowercase"); e != nil {
		return e
	} else if ok && v != nil {
		cfg.lowercase = v
	}
	if v, ok, e := getBool("do_lower_case"); e != nil {
		return e
	} else if ok && v != nil {
		cfg.lowercase = v
	}
	var strip *bool
	if strip, present, err = getBool("strip_accents"); err != nil {
		return err
	} else if present {
		cfg.stripAccents, cfg.hasStrip = strip, true
	}
	if v, ok, e := getBool("tokenize_chinese_chars"); e != nil {
		return e
	} else if ok && v != nil {
		cfg.chinese = v
	}
	if v, ok, e := getBool("add_prefix_space"); e != nil {
		return e
	} else if ok && v != nil {
		cfg.addPrefixSpace = v
	}
	for _, role := range []string{"unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "bos_token", "eos_token"} {
		raw, ok := m[role]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		tok, err := tokenContent(raw)
		if err != nil {
			return fmt.Errorf("%s: %v", role, err)
		}
		cfg.tokens[role] = tok
	}
	if raw, ok := m["model_max_length"]; ok {
		var f float64
		if json.Unmarshal(raw, &f) == nil && f > 0 && f < 1<<31 && f == math.Trunc(f) {
			cfg.modelMaxLength = int(f)
		}
	}
	if raw, ok := m["added_tokens_decoder"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		var dec map[string]jsonAddedToken
		if err := json.Unmarshal(raw, &dec); err != nil {
			return fmt.Errorf("added_tokens_decoder: %v", err)
		}
		cfg.added = cfg.added[:0]
		for key, at := range dec {
			var id int64
			if _, err := fmt.Sscan(key, &id); err != nil || id < 0 || id >= maxTokenID {
				return fmt.Errorf("added_tokens_decoder: bad id %q", key)
			}
			at.ID = &id
			tok, err := at.toAdded()
			if err != nil {
				return fmt.Errorf("added_tokens_decoder: %v", err)
			}
			cfg.added = append(cfg.added, tok)
		}
		sort.Slice(cfg.added, func(i, j int) bool { return cfg.added[i].ID < cfg.added[j].ID })
	}
	return nil
}

// tokenContent reads a special token written as a string or as {"content": ...}.
func tokenContent(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", errors.New("expected a string or an object with \"content\"")
	}
	return *obj.Content, nil
}

// ---- tokenizer.json ----

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
	if err := t.setAdded(added); err != nil {
		return nil, err
	}
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
		// transformers' BertTokenizerFast rebuilds the normalizer from tokenizer_config.json's
		// do_lower_case / strip_accents / tokenize_chinese_chars when they are given.
		if cfg.lowercase != nil {
			n.lowercase = *cfg.lowercase
			strip = cfg.stripAccents
			if cfg.chinese != nil {
				n.handleChineseChars = *cfg.chinese
			}
		} else if cfg.hasStrip {
			strip = cfg.stripAccents
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

// setAdded installs the added tokens and builds the matchers (needs t.norm set).
func (t *Tokenizer) setAdded(added []AddedToken) error {
	t.added = added
	t.addedByID = make(map[int32]int, len(added))
	t.addedByStr = make(map[string]int32, len(added))
	var rawToks, normToks []AddedToken
	var rawPats, normPats []string
	for i, a := range added {
		if a.Content == "" {
			continue
		}
		t.addedByID[a.ID] = i
		t.addedByStr[a.Content] = a.ID
		if a.Normalized {
			p := a.Content
			if t.norm != nil {
				p = t.norm.normalize(p)
			}
			normToks, normPats = append(normToks, a), append(normPats, p)
		} else {
			rawToks, rawPats = append(rawToks, a), append(rawPats, a.Content)
		}
	}
	t.rawMatch = newAddedMatcher(rawToks, rawPats)
	t.normMatch = newAddedMatcher(normToks, normPats)
	return nil
}

// finishSetup builds the id table and finds the special token ids.
func (t *Tokenizer) finishSetup(cfg *hfConfig) {
	var vocab map[string]int32
	if t.modelType == WordPiece {
		vocab = t.wp.vocab
	} else {
		vocab = t.bpe.vocab
	}
	n := int32(0)
	for _, id := range vocab {
		n = max(n, id+1)
	}
	for _, a := range t.added {
		n = max(n, a.ID+1)
	}
	t.idToToken = make([]string, n)
	for tok, id := range vocab {
		// Several tokens with one id: keep the smallest so that the result is deterministic.
		if cur := t.idToToken[id]; cur == "" || tok < cur {
			t.idToToken[id] = tok
		}
	}
	for _, a := range t.added {
		if a.Content != "" {
			t.idToToken[a.ID] = a.Content
		}
	}
	t.modelMaxLength = cfg.modelMaxLength
	find := func(role string, candidates ...string) int32 {
		if tok, ok := cfg.tokens[role]; ok {
			if id, ok := t.TokenID(tok); ok {
				return id
			}
		}
		for _, c := range candidates {
			if id, ok := t.TokenID(c); ok {
				return id
			}
		}
		return -1
	}
	if t.modelType == WordPiece {
		t.special = specialIDs{
			pad:  find("pad_token", "[PAD]", "<pad>"),
			unk:  find("unk_token", t.wp.unkToken),
			cls:  find("cls_token", "[CLS]", "<s>"),
			sep:  find("sep_token", "[SEP]", "</s>"),
			mask: find("mask_token", "[MASK]", "<mask>"),
		}
	} else {
		unk := []string{"<unk>", "[UNK]"}
		if t.bpe.unkToken != "" {
			unk = append([]string{t.bpe.unkToken}, unk...)
		}
		t.special = specialIDs{
			pad:  find("pad_token", "<pad>", "[PAD]"),
			unk:  find("unk_token", unk...),
			cls:  find("cls_token", "<s>", "[CLS]"),
			sep:  find("sep_token", "</s>", "[SEP]"),
			mask: find("mask_token", "<mask>", "[MASK]"),
		}
	}
}

// ---- vocab.txt (WordPiece) ----

func fromVocabTxt(data []byte, cfg *hfConfig) (*Tokenizer, error) {
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return nil, errorf("vocab.txt is empty")
	}
	lines := strings.Split(text, "\n")
	if len(lines) >= maxTokenID {
		return nil, errorf("vocab.txt has too many lines (%d)", len(lines))
	}
	vocab := make(map[string]int32, len(lines))
	for i, l := range lines {
		vocab[strings.TrimSuffix(l, "\r")] = int32(i) // a repeated token keeps its last line, as in HF
	}
	tokenOr := func(role, def string) string {
		if tok, ok := cfg.tokens[role]; ok && tok != "" {
			return tok
		}
		return def
	}
	unk := tokenOr("unk_token", "[UNK]")
	wp, err := newWordPiece(vocab, unk, "##", 100)
	if err != nil {
		return nil, err
	}
	lower := true
	if cfg.lowercase != nil {
		lower = *cfg.lowercase
	}
	n := &bertNormalizer{cleanText: true, handleChineseChars: true, lowercase: lower, stripAccents: lower}
	if cfg.chinese != nil {
		n.handleChineseChars = *cfg.chinese
	}
	if cfg.stripAccents != nil {
		n.stripAccents = *cfg.stripAccents
	}
	t := &Tokenizer{modelType: WordPiece, wp: wp, norm: n, pre: bertPreTokenizer{},
		decoder: decoderKind{kind: decWordPiece, prefix: "##", cleanup: true}}
	specials := []string{tokenOr("pad_token", "[PAD]"), unk, tokenOr("cls_token", "[CLS]"),
		tokenOr("sep_token", "[SEP]"), tokenOr("mask_token", "[MASK]")}
	added, err := defaultAdded(cfg, specials, vocab, nil)
	if err != nil {
		return nil, err
	}
	if err := t.setAdded(added); err != nil {
		return nil, err
	}
	cls, okC := t.TokenID(tokenOr("cls_token", "[CLS]"))
	sep, okS := t.TokenID(tokenOr("sep_token", "[SEP]"))
	if !okC || !okS {
		return nil, errorf("vocab.txt lacks the [CLS] or [SEP] token")
	}
	t.post = bertTemplate(cls, sep)
	t.finishSetup(cfg)
	return t, nil
}

// defaultAdded returns tokenizer_config.json's added_tokens_decoder if it has one, else
// the given special tokens (those present in vocab), as transformers registers them.
func defaultAdded(cfg *hfConfig, specials []string, vocab map[string]int32, lstrip map[string]bool) ([]AddedToken, error) {
	if len(cfg.added) > 0 {
		return append([]AddedToken(nil), cfg.added...), nil
	}
	var out []AddedToken
	seen := map[string]bool{}
	for _, s := range specials {
		id, ok := vocab[s]
		if !ok || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, AddedToken{ID: id, Content: s, Special: true, LStrip: lstrip[s]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ---- vocab.json + merges.txt (byte-level BPE, RoBERTa style) ----

func fromVocabMerges(vocabJSON, mergesTxt []byte, cfg *hfConfig) (*Tokenizer, error) {
	vocab, err := parseVocabMap(vocabJSON)
	if err != nil {
		return nil, errorf("vocab.json: %v", err)
	}
	var merges [][2]string
	for i, line := range strings.Split(string(mergesTxt), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.HasPrefix(line, "#version") || line == "" {
			continue
		}
		parts := strings.Split(line, " ")
		if len(parts) != 2 {
			return nil, errorf("merges.txt line %d (%q) is not two tokens separated by one space", i+1, line)
		}
		merges = append(merges, [2]string{parts[0], parts[1]})
	}
	m, err := newBPE(vocab, merges, "", "", "", false, false, false)
	if err != nil {
		return nil, err
	}
	tokenOr := func(role, def string) string {
		if tok, ok := cfg.tokens[role]; ok && tok != "" {
			return tok
		}
		return def
	}
	prefix := false
	if cfg.addPrefixSpace != nil {
		prefix = *cfg.addPrefixSpace
	}
	t := &Tokenizer{modelType: BPE, bpe: m, pre: byteLevel{addPrefixSpace: prefix, useRegex: true},
		decoder: decoderKind{kind: decByteLevel}}
	if cfg.lowercase != nil && *cfg.lowercase {
		t.norm = lowercaseNormalizer{}
	}
	mask := tokenOr("mask_token", "<mask>")
	specials := []string{tokenOr("bos_token", "<s>"), tokenOr("pad_token", "<pad>"), tokenOr("eos_token", "</s>"),
		tokenOr("unk_token", "<unk>"), tokenOr("cls_token", "<s>"), tokenOr("sep_token", "</s>"), mask}
	added, err := defaultAdded(cfg, specials, vocab, map[string]bool{mask: true})
	if err != nil {
		return nil, err
	}
	if err := t.setAdded(added); err != nil {
		return nil, err
	}
	cls, okC := t.TokenID(tokenOr("cls_token", "<s>"))
	sep, okS := t.TokenID(tokenOr("sep_token", "</s>"))
	if !okC || !okS {
		return nil, errorf("vocab.json lacks the <s> or </s> token")
	}
	t.post = robertaTemplate(cls, sep)
	t.finishSetup(cfg)
	return t, nil
}
