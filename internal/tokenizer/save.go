package tokenizer

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/adarank/adarank/internal/safefile"
)

// writeFileAtomic writes data atomically (see internal/safefile).
func writeFileAtomic(path string, data []byte) error {
	if err := safefile.Write(path, data); err != nil {
		return errorf("%v", err)
	}
	return nil
}

// modelVocab returns the model vocabulary (added tokens not included).
func (t *Tokenizer) modelVocab() map[string]int32 {
	if t.modelType == WordPiece {
		return t.wp.vocab
	}
	return t.bpe.vocab
}

// SaveVocabTxt writes a WordPiece vocabulary as vocab.txt (one token per line, id order).
func (t *Tokenizer) SaveVocabTxt(path string) error {
	if t.modelType != WordPiece {
		return errorf("SaveVocabTxt needs a WordPiece tokenizer, not %s", t.modelType)
	}
	n := int32(0)
	for _, id := range t.wp.vocab {
		n = max(n, id+1)
	}
	toks := make([]string, n)
	have := make([]bool, n)
	for tok, id := range t.wp.vocab {
		if !have[id] || tok < toks[id] {
			toks[id], have[id] = tok, true
		}
	}
	var b strings.Builder
	for id, tok := range toks {
		if !have[id] {
			return errorf("SaveVocabTxt: id %d has no token; vocab.txt needs contiguous ids", id)
		}
		if strings.ContainsAny(tok, "\n\r") {
			return errorf("SaveVocabTxt: token %q contains a line break", tok)
		}
		b.WriteString(tok)
		b.WriteByte('\n')
	}
	return writeFileAtomic(path, []byte(b.String()))
}

// SaveTokenizerJSON writes an HF tokenizer.json that HF `tokenizers` (and this package) can
// load; truncation and padding are null.
func (t *Tokenizer) SaveTokenizerJSON(path string) error {
	data, err := t.MarshalTokenizerJSON()
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

// MarshalTokenizerJSON returns the tokenizer.json form of t (indented like HF writes it).
func (t *Tokenizer) MarshalTokenizerJSON() ([]byte, error) {
	var b bytes.Buffer
	put := func(key string, v any) error {
		kb, _ := json.Marshal(key)
		b.Write(kb)
		b.WriteByte(':')
		if raw, ok := v.(json.RawMessage); ok {
			b.Write(raw)
		} else {
			vb, err := json.Marshal(v)
			if err != nil {
				return errorf("marshal %s: %v", key, err)
			}
			b.Write(vb)
		}
		return nil
	}
	type addedJSON struct {
		ID         int32  `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	}
	added := make([]addedJSON, 0, len(t.added))
	for _, a := range t.added {
		added = append(added, addedJSON{a.ID, a.Content, a.SingleWord, a.LStrip, a.RStrip, a.Normalized, a.Special})
	}
	sort.SliceStable(added, func(i, j int) bool { return added[i].ID < added[j].ID })
	norm, err := normalizerJSON(t.norm)
	if err != nil {
		return nil, err
	}
	pre, err := preTokenizerJSON(t.pre)
	if err != nil {
		return nil, err
	}
	b.WriteByte('{')
	steps := []struct {
		key string
		v   any
	}{
		{"version", "1.0"}, {"truncation", nil}, {"padding", nil}, {"added_tokens", added},
		{"normalizer", norm}, {"pre_tokenizer", pre}, {"post_processor", t.templateJSON()},
		{"decoder", t.decoderJSON()}, {"model", t.modelJSON()},
	}
	for i, s := range steps {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := put(s.key, s.v); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return nil, errorf("tokenizer.json: %v", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func normalizerJSON(n normalizer) (any, error) {
	switch n := n.(type) {
	case nil:
		return nil, nil
	case *bertNormalizer:
		return map[string]any{"type": "BertNormalizer", "clean_text": n.cleanText,
			"handle_chinese_chars": n.handleChineseChars, "strip_accents": n.stripAccents, "lowercase": n.lowercase}, nil
	case lowercaseNormalizer:
		return map[string]any{"type": "Lowercase"}, nil
	case stripAccentsNormalizer:
		return map[string]any{"type": "StripAccents"}, nil
	case unicodeNormalizer:
		return map[string]any{"type": n.name}, nil
	case sequenceNormalizer:
		var subs []any
		for _, s := range n {
			j, err := normalizerJSON(s)
			if err != nil {
				return nil, err
			}
			subs = append(subs, j)
		}
		return map[string]any{"type": "Sequence", "normalizers": subs}, nil
	}
	return nil, errorf("cannot save normalizer %T", n)
}

func preTokenizerJSON(p preTokenizer) (any, error) {
	switch p := p.(type) {
	case nil:
		return nil, nil
	case bertPreTokenizer:
		return map[string]any{"type": "BertPreTokenizer"}, nil
	case whitespaceSplit:
		return map[string]any{"type": "WhitespaceSplit"}, nil
	case byteLevel:
		return map[string]any{"type": "ByteLevel", "add_prefix_space": p.addPrefixSpace, "trim_offsets": true, "use_regex": p.useRegex}, nil
	case sequencePreTokenizer:
		var subs []any
		for _, s := range p {
			j, err := preTokenizerJSON(s)
			if err != nil {
				return nil, err
			}
			subs = append(subs, j)
		}
		return map[string]any{"type": "Sequence", "pretokenizers": subs}, nil
	}
	return nil, errorf("cannot save pre-tokenizer %T", p)
}

func (t *Tokenizer) templateJSON() any {
	if t.post == nil {
		return nil
	}
	type stJSON struct {
		ID     string   `json:"id"`
		IDs    []int32  `json:"ids"`
		Tokens []string `json:"tokens"`
	}
	specials := map[string]stJSON{}
	conv := func(pieces []tmplPiece) []any {
		var out []any
		for _, p := range pieces {
			typeID := p.typeID
			if t.post.allZeroTypes {
				typeID = 0
			}
			if p.seq >= 0 {
				out = append(out, map[string]any{"Sequence": map[string]any{"id": string(rune('A' + p.seq)), "type_id": typeID}})
				continue
			}
			for _, id := range p.ids {
				name := t.IDToken(id)
				specials[name] = stJSON{ID: name, IDs: []int32{id}, Tokens: []string{name}}
				out = append(out, map[string]any{"SpecialToken": map[string]any{"id": name, "type_id": typeID}})
			}
		}
		return out
	}
	single, pair := conv(t.post.single), conv(t.post.pair)
	return map[string]any{"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials}
}

func (t *Tokenizer) decoderJSON() any {
	switch t.decoder.kind {
	case decWordPiece:
		return map[string]any{"type": "WordPiece", "prefix": t.decoder.prefix, "cleanup": t.decoder.cleanup}
	case decByteLevel:
		return map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}
	}
	return nil
}

// orderedVocab writes a token->id JSON object in id order (then token order).
func orderedVocab(vocab map[string]int32) json.RawMessage {
	toks := make([]string, 0, len(vocab))
	for tok := range vocab {
		toks = append(toks, tok)
	}
	sort.Slice(toks, func(i, j int) bool {
		if vocab[toks[i]] != vocab[toks[j]] {
			return vocab[toks[i]] < vocab[toks[j]]
		}
		return toks[i] < toks[j]
	})
	var b bytes.Buffer
	b.WriteByte('{')
	for i, tok := range toks {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(tok)
		b.Write(kb)
		b.WriteByte(':')
		vb, _ := json.Marshal(vocab[tok])
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (t *Tokenizer) modelJSON() json.RawMessage {
	var m map[string]any
	if t.modelType == WordPiece {
		m = map[string]any{"type": "WordPiece", "unk_token": t.wp.unkToken, "continuing_subword_prefix": t.wp.prefix,
			"max_input_chars_per_word": t.wp.maxInputChars, "vocab": orderedVocab(t.wp.vocab)}
	} else {
		nullable := func(s string) any {
			if s == "" {
				return nil
			}
			return s
		}
		merges := t.bpe.mergeList
		if merges == nil {
			merges = [][2]string{}
		}
		m = map[string]any{"type": "BPE", "dropout": nil, "unk_token": nullable(t.bpe.unkToken),
			"continuing_subword_prefix": nullable(t.bpe.contPrefix), "end_of_word_suffix": nullable(t.bpe.endSuffix),
			"fuse_unk": t.bpe.fuseUnk, "byte_fallback": t.bpe.byteFallback, "ignore_merges": t.bpe.ignoreMerges,
			"vocab": orderedVocab(t.bpe.vocab), "merges": merges}
	}
	// Keep "type" first and the big vocab last for readability.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		switch k {
		case "type":
			return 0
		case "vocab":
			return 2
		case "merges":
			return 3
		}
		return 1
	}
	sort.Slice(keys, func(i, j int) bool {
		if rank(keys[i]) != rank(keys[j]) {
			return rank(keys[i]) < rank(keys[j])
		}
		return keys[i] < keys[j]
	})
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		if raw, ok := m[k].(json.RawMessage); ok {
			b.Write(raw)
		} else {
			vb, _ := json.Marshal(m[k])
			b.Write(vb)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}
