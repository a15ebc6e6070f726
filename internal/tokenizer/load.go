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
	stripAccents   *bool // nil: follow lowercase
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
	cfg := &hfConfig{lowercase: &c.Lowercase, stripAccents: c.StripAccents, chinese: &c.HandleChineseChars,
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
	if v, ok, e := getBool("strip_accents"); e != nil {
		return e
	} else if ok {
		cfg.stripAccents = v
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

// setAdded installs the added tokens and builds the matchers (needs t.norm set).
func (t *Tokenizer) setAdded(added []AddedToken) {
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
	added := defaultAdded(cfg, specials, vocab, nil)
	t.setAdded(added)
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
func defaultAdded(cfg *hfConfig, specials []string, vocab map[string]int32, lstrip map[string]bool) []AddedToken {
	if len(cfg.added) > 0 {
		return append([]AddedToken(nil), cfg.added...)
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
	return out
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
	added := defaultAdded(cfg, specials, vocab, map[string]bool{mask: true})
	t.setAdded(added)
	cls, okC := t.TokenID(tokenOr("cls_token", "<s>"))
	sep, okS := t.TokenID(tokenOr("sep_token", "</s>"))
	if !okC || !okS {
		return nil, errorf("vocab.json lacks the <s> or </s> token")
	}
	t.post = robertaTemplate(cls, sep)
	t.finishSetup(cfg)
	return t, nil
}
