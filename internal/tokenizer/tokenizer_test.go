package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// tinyWordPieceJSON is a small BERT-style tokenizer.json used by several tests.
func tinyWordPieceJSON(t testing.TB) []byte {
	t.Helper()
	toks := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", ".", "?", "a", "b", "c",
		"hello", "world", "una", "##ff", "##able", "##ffa", "##ble", "un", "##a", "cafe", "中", "the", "##s"}
	vocab := map[string]int{}
	for i, s := range toks {
		vocab[s] = i
	}
	added := []map[string]any{}
	for i, s := range toks[:5] {
		added = append(added, map[string]any{"id": i, "content": s, "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true})
	}
	doc := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": added,
		"normalizer":    map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": nil, "lowercase": true},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single": []any{map[string]any{"SpecialToken": map[string]any{"id": "[CLS]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 0}}},
			"pair": []any{map[string]any{"SpecialToken": map[string]any{"id": "[CLS]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 1}}},
			"special_tokens": map[string]any{
				"[CLS]": map[string]any{"id": "[CLS]", "ids": []int{2}, "tokens": []string{"[CLS]"}},
				"[SEP]": map[string]any{"id": "[SEP]", "ids": []int{3}, "tokens": []string{"[SEP]"}}}},
		"decoder": map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 10, "vocab": vocab},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func tinyWordPiece(t testing.TB) *Tokenizer {
	t.Helper()
	tk, err := FromTokenizerJSON(tinyWordPieceJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// tinyBPE is a RoBERTa-style byte-level BPE tokenizer: all 256 byte symbols, a few merges.
func tinyBPE(t testing.TB, addPrefixSpace bool) *Tokenizer {
	t.Helper()
	vocab := map[string]int{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
	var syms []string
	for b := 0; b < 256; b++ {
		syms = append(syms, string(byteToRune[b]))
	}
	slices.Sort(syms)
	for _, s := range syms {
		vocab[s] = len(vocab)
	}
	merges := [][2]string{{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"l", "o"}, {"l", "lo"}, {"he", "llo"},
		{"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"}, {"l", "d"}, {"Ġwor", "ld"}, {"e", "l"}}
	var mergeLines []string
	for _, m := range merges {
		if _, ok := vocab[m[0]+m[1]]; !ok {
			vocab[m[0]+m[1]] = len(vocab)
		}
		mergeLines = append(mergeLines, m[0]+" "+m[1])
	}
	vocab["<mask>"] = len(vocab)
	vj, _ := json.Marshal(vocab)
	c := DefaultBPEConfig()
	c.AddPrefixSpace = addPrefixSpace
	tk, err := FromVocabMerges(vj, []byte("#version: 0.2\n"+strings.Join(mergeLines, "\n")+"\n"), c)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestBertNormalizer(t *testing.T) {
	lower := &bertNormalizer{cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true}
	cased := &bertNormalizer{cleanText: true, handleChineseChars: true}
	lowerKeepAccents := &bertNormalizer{cleanText: true, handleChineseChars: true, lowercase: true}
	cases := []struct {
		n        *bertNormalizer
		in, want string
	}{
		{lower, "Héllo WÖRLD", "hello world"},
		{cased, "Héllo WÖRLD", "Héllo WÖRLD"},
		{lower, "a\x00b\uFFFDc\u200Bd", "abcd"},            // NUL, U+FFFD and a Cf char are dropped
		{lower, "a\tb\nc\rd\u00A0e\u3000f", "a b c d e f"}, // whitespace becomes a plain space
		{lower, "a\u0085b", "ab"},                          // NEL is a control char first
		{lower, "中文abc", " 中  文 abc"},
		{lower, "\uE000x\uE001", "x\uE001"}, // the crate lists only the ends of private-use ranges
		{lowerKeepAccents, "İ", "i\u0307"},  // Rust's full lower-case mapping
		{lower, "İ", "i"},
		{lower, "Å\u212B", "aa"}, // Angstrom sign decomposes to A + ring
		{lower, "ΣΑΣ", "σασ"},    // no final-sigma rule per char
	}
	for _, c := range cases {
		if got := c.n.normalize(c.in); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestBertPreTokenizer(t *testing.T) {
	cases := map[string][]string{
		"Hello, world!!":   {"Hello", ",", "world", "!", "!"},
		"  a\tb  ":         {"a", "b"},
		"¿Qué? «sí» — no":  {"¿", "Qué", "?", "«", "sí", "»", "—", "no"},
		"$5+3=8 ^_^ `x`~|": {"$", "5", "+", "3", "=", "8", "^", "_", "^", "`", "x", "`", "~", "|"},
		"e-mail@host.com":  {"e", "-", "mail", "@", "host", ".", "com"},
		"":                 nil,
		"日本\u00A0語":        {"日本", "語"},
		"emoji😀ok":         {"emoji😀ok"}, // symbols (So) are not punctuation
	}
	for in, want := range cases {
		got := bertPreTokenizer{}.split(in, nil)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("split(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGPT2Split(t *testing.T) {
	bl := byteLevel{useRegex: true}
	cases := map[string][]string{ // the first four come from HF's own byte_level.rs tests
		"Hello my friend, how is your day going?": {"Hello", "Ġmy", "Ġfriend", ",", "Ġhow", "Ġis", "Ġyour", "Ġday", "Ġgoing", "?"},
		"Hello there\nHello there":                {"Hello", "Ġthere", "Ċ", "Hello", "Ġthere"},
		"Hello there       dear":                  {"Hello", "Ġthere", "ĠĠĠĠĠĠ", "Ġdear"},
		"i⭢j":                                     {"i", "âŃ¢", "j"},
		"I'm can't 'S' 'll":                       {"I", "'m", "Ġcan", "'t", "Ġ'", "S", "'", "Ġ'", "ll"},
		" \tword  ":                               {"Ġ", "ĉ", "word", "ĠĠ"},
		"abc123 456!?":                            {"abc", "123", "Ġ456", "!?"},
		"x\u00A0y":                                {"x", "Âł", "y"},
	}
	for in, want := range cases {
		got := bl.split(in, nil)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("split(%q) = %q, want %q", in, got, want)
		}
	}
	// Prefix space is added only when the text does not start with a space.
	pre := byteLevel{useRegex: true, addPrefixSpace: true}
	if got := pre.split("Hi", nil); !reflect.DeepEqual(got, []string{"ĠHi"}) {
		t.Errorf("prefix space: got %q", got)
	}
	if got := pre.split(" Hi", nil); !reflect.DeepEqual(got, []string{"ĠHi"}) {
		t.Errorf("prefix space on spaced text: got %q", got)
	}
}

func TestWordPieceGreedy(t *testing.T) {
	tk := tinyWordPiece(t)
	check := func(text string, want ...string) {
		t.Helper()
		e, err := tk.Encode(text, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(append([]string{"[CLS]"}, want...), "[SEP]")
		if !reflect.DeepEqual(e.Tokens, want) {
			t.Errorf("Encode(%q) tokens = %q, want %q", text, e.Tokens, want)
		}
	}
	check("unaffable", "una", "##ffa", "##ble") // longest match first, not the "best" split
	check("Hello, World!", "hello", ",", "world", "!")
	check("helloxyz", "[UNK]")    // one unmatchable piece makes the whole word [UNK]
	check("aaaaaaaaaaa", "[UNK]") // 11 chars > max_input_chars_per_word (10)
	check("una", "una")           // exact word
	check("Café [MASK] 中", "cafe", "[MASK]", "中")
	check("[mask]", "[UNK]", "[UNK]", "[UNK]") // special tokens match raw text only
	check("")
}

func TestBPEEncode(t *testing.T) {
	tk := tinyBPE(t, false)
	e, err := tk.Encode("hello the world", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"<s>", "hello", "Ġthe", "Ġworld", "</s>"}
	if !reflect.DeepEqual(e.Tokens, want) {
		t.Errorf("tokens = %q, want %q", e.Tokens, want)
	}
	// "helo": merges by rank: (h,e)=1 before (e,l)=12, then (l,o)=3 -> "he" "lo".
	e, _ = tk.Encode("helo", Options{})
	if want := []string{"<s>", "he", "lo", "</s>"}; !reflect.DeepEqual(e.Tokens, want) {
		t.Errorf("tokens = %q, want %q", e.Tokens, want)
	}
	// Pairs: <s> A </s></s> B </s>, all type ids 0 (RobertaProcessing).
	e, _ = tk.EncodePair("the", "hello", Options{})
	if want := []string{"<s>", "t", "he", "</s>", "</s>", "hello", "</s>"}; !reflect.DeepEqual(e.Tokens, want) {
		t.Errorf("pair tokens = %q, want %q", e.Tokens, want)
	}
	if !slices.Equal(e.TypeIDs, make([]int32, len(e.IDs))) {
		t.Errorf("pair type ids = %v, want all zero", e.TypeIDs)
	}
	// <mask> strips the space on its left (lstrip).
	e, _ = tk.Encode("the <mask> world", Options{})
	if want := []string{"<s>", "t", "he", "<mask>", "Ġworld", "</s>"}; !reflect.DeepEqual(e.Tokens, want) {
		t.Errorf("mask tokens = %q, want %q", e.Tokens, want)
	}
	// add_prefix_space applies to each piece between added tokens.
	tp := tinyBPE(t, true)
	e, _ = tp.Encode("the<mask>the", Options{})
	if want := []string{"<s>", "Ġthe", "<mask>", "Ġthe", "</s>"}; !reflect.DeepEqual(e.Tokens, want) {
		t.Errorf("prefix-space tokens = %q, want %q", e.Tokens, want)
	}
	// Every byte is representable: emoji and invalid UTF-8 never produce unknown ids.
	e, _ = tk.Encode("😀\xff", Options{})
	if got := tk.Decode(e.IDs); got != "😀\uFFFD" {
		t.Errorf("decode = %q", got)
	}
}

func TestTruncateLongestFirst(t *testing.T) {
	// HF's own table (tokenizers/src/utils/truncation.rs) for max_length 7.
	lens := []int{0, 2, 4, 8}
	want := [][][2]int{
		{{0, 0}, {0, 2}, {0, 4}, {0, 7}},
		{{2, 0}, {2, 2}, {2, 4}, {2, 5}},
		{{4, 0}, {4, 2}, {3, 4}, {3, 4}},
		{{7, 0}, {5, 2}, {4, 3}, {3, 4}},
	}
	for i, n1 := range lens {
		for j, n2 := range lens {
			a, b := truncateLongestFirst(make([]int32, n1), make([]int32, n2), true, 7)
			if got := [2]int{len(a), len(b)}; got != want[i][j] {
				t.Errorf("lengths %d,%d -> %v, want %v", n1, n2, got, want[i][j])
			}
		}
	}
}

func TestEncodeOptions(t *testing.T) {
	tk := tinyWordPiece(t)
	e, err := tk.EncodePair("hello world", "the cafe", Options{MaxLen: 6, Truncate: true, PadTo: 8})
	if err != nil {
		t.Fatal(err)
	}
	// Budget 6-3 = 3 for 2+2 tokens: HF's longest_first keeps 1 of A and 2 of B.
	wantIDs := []int32{2, 12, 3, 23, 21, 3, 0, 0} // [CLS] hello [SEP] the cafe [SEP] pad pad
	if !slices.Equal(e.IDs, wantIDs) || !e.Truncated {
		t.Fatalf("ids = %v truncated=%v, want %v", e.IDs, e.Truncated, wantIDs)
	}
	if want := []int32{0, 0, 0, 1, 1, 1, 0, 0}; !slices.Equal(e.TypeIDs, want) {
		t.Errorf("type ids = %v, want %v", e.TypeIDs, want)
	}
	if want := []int32{1, 1, 1, 1, 1, 1, 0, 0}; !slices.Equal(e.AttentionMask, want) {
		t.Errorf("attention = %v, want %v", e.AttentionMask, want)
	}
	if want := []int32{1, 0, 1, 0, 0, 1, 1, 1}; !slices.Equal(e.SpecialMask, want) {
		t.Errorf("special mask = %v, want %v", e.SpecialMask, want)
	}
	// Without truncation a long text is an error.
	_, err = tk.Encode("a b c d e", Options{MaxLen: 4})
	if !errors.Is(err, ErrTooLong) {
		t.Errorf("want ErrTooLong, got %v", err)
	}
	if _, err := tk.Encode("a", Options{MaxLen: 1, Truncate: true}); err == nil {
		t.Error("MaxLen below the special-token count should fail")
	}
	// Batches pad to the longest encoding.
	batch, err := tk.EncodeBatch([]string{"a", "a b c", ""}, Options{MaxLen: 4, Truncate: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]int32{{2, 9, 3, 0}, {2, 9, 10, 3}, {2, 3, 0, 0}} {
		if !slices.Equal(batch[i].IDs, want) {
			t.Errorf("batch[%d] = %v, want %v", i, batch[i].IDs, want)
		}
	}
	if _, err := tk.EncodePairBatch([]string{"a"}, nil, Options{}); err == nil {
		t.Error("mismatched pair batch should fail")
	}
}

func TestAddedTokenMatching(t *testing.T) {
	// Cases from HF's added_vocabulary.rs tests (lstrip/rstrip/single_word).
	mk := func(toks ...AddedToken) *addedMatcher {
		var pats []string
		for _, a := range toks {
			pats = append(pats, a.Content)
		}
		return newAddedMatcher(toks, pats)
	}
	show := func(ps []piece) []string {
		var out []string
		for _, p := range ps {
			if p.tok >= 0 {
				out = append(out, "<"+p.text+">")
			} else {
				out = append(out, p.text)
			}
		}
		return out
	}
	m := mk(AddedToken{ID: 0, Content: "<mask>", SingleWord: true})
	got := show(m.split("<mask> my name <mask> a<mask> <mask>ony <mask>", nil))
	want := []string{"<<mask>>", " my name ", "<<mask>>", " a<mask> <mask>ony ", "<<mask>>"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("single_word: %q, want %q", got, want)
	}
	m = mk(AddedToken{ID: 0, Content: "<mask>", SingleWord: true, LStrip: true, RStrip: true})
	got = show(m.split("hi <mask> there\t<mask>\t<mask>\u2000", nil))
	want = []string{"hi", "< <mask> >", "there", "<\t<mask>\t>", "<<mask>\u2000>"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("strip: %q, want %q", got, want)
	}
	m = mk(AddedToken{ID: 0, Content: "ab"}, AddedToken{ID: 1, Content: "abc"}, AddedToken{ID: 2, Content: "bcd"})
	got = show(m.split("xabcdabx", nil))
	want = []string{"x", "<abc>", "d", "<ab>", "x"} // leftmost, then longest
	if !reflect.DeepEqual(got, want) {
		t.Errorf("leftmost-longest: %q, want %q", got, want)
	}
}

func TestDecode(t *testing.T) {
	tk := tinyWordPiece(t)
	e, _ := tk.Encode("Hello, world! unaffable", Options{})
	if got, want := tk.Decode(e.IDs), "hello, world! unaffable"; got != want {
		t.Errorf("Decode = %q, want %q", got, want)
	}
	bp := tinyBPE(t, false)
	e, _ = bp.Encode("hello  the world\n", Options{})
	if got, want := bp.Decode(e.IDs), "hello  the world\n"; got != want {
		t.Errorf("BPE Decode = %q, want %q", got, want)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	texts := []string{"Hello, world! unaffable", "Café [MASK] 中 the", "xyz", ""}
	for _, tk := range []*Tokenizer{tinyWordPiece(t), tinyBPE(t, true)} {
		path := filepath.Join(dir, "tokenizer.json")
		if err := tk.SaveTokenizerJSON(path); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromTokenizerJSON(data)
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		for _, s := range texts {
			a, _ := tk.EncodePair(s, s, Options{})
			b, _ := back.EncodePair(s, s, Options{})
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s %q: saved tokenizer gives %v, original %v", tk.ModelType(), s, b.IDs, a.IDs)
			}
		}
	}
	wp := tinyWordPiece(t)
	vpath := filepath.Join(dir, "vocab.txt")
	if err := wp.SaveVocabTxt(vpath); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir, IgnoreTokenizerJSON())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range texts {
		a, _ := wp.Encode(s, Options{})
		b, _ := back.Encode(s, Options{})
		if !slices.Equal(a.IDs, b.IDs) {
			t.Errorf("vocab.txt round trip %q: %v vs %v", s, b.IDs, a.IDs)
		}
	}
	if err := tinyBPE(t, false).SaveVocabTxt(vpath); err == nil {
		t.Error("SaveVocabTxt on BPE should fail")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing folder should fail")
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no tokenizer.json") {
		t.Errorf("empty folder: %v", err)
	}
	bad := map[string]string{
		"not json":      `{"model": `,
		"no model":      `{"added_tokens": []}`,
		"unknown model": `{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`,
		"bad vocab":     `{"model": {"type": "WordPiece", "vocab": {"a": -1}}}`,
		"no unk":        `{"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"a": 0}}}`,
		"bad merge":     `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}`,
		"normalizer":    `{"normalizer": {"type": "Precompiled"}, "model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}}`,
		"template":      `{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[X]", "type_id": 0}}], "special_tokens": {}}, "model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}}`,
	}
	for name, js := range bad {
		if _, err := FromTokenizerJSON([]byte(js)); err == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("malformed tokenizer_config.json: %v", err)
	}
}

func TestTokenizerConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tinyWordPieceJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `{"do_lower_case": false, "model_max_length": 128, "tokenizer_class": "BertTokenizer"}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := tk.Encode("Hello hello", Options{})
	if want := []string{"[CLS]", "[UNK]", "hello", "[SEP]"}; !reflect.DeepEqual(e.Tokens, want) {
		t.Errorf("cased tokens = %q, want %q", e.Tokens, want)
	}
	if tk.ModelMaxLength() != 128 {
		t.Errorf("ModelMaxLength = %d", tk.ModelMaxLength())
	}
	tk, err = Load(dir, WithLowercase(true))
	if err != nil {
		t.Fatal(err)
	}
	e, _ = tk.Encode("Hello", Options{})
	if want := []string{"[CLS]", "hello", "[SEP]"}; !reflect.DeepEqual(e.Tokens, want) {
		t.Errorf("WithLowercase tokens = %q, want %q", e.Tokens, want)
	}
}
