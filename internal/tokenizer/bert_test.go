package tokenizer

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const bertDir = "../../../shared/tokenizers/bert-base-uncased"

// loadBert loads the real bert-base-uncased tokenizer from tokenizer.json and from vocab.txt.
func loadBert(t testing.TB) (fromJSON, fromVocab *Tokenizer) {
	t.Helper()
	if _, err := os.Stat(bertDir); err != nil {
		t.Skipf("shared bert-base-uncased tokenizer not available (%v)", err)
	}
	a, err := Load(bertDir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(bertDir, IgnoreTokenizerJSON())
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestBertBaseUncasedKnownIDs(t *testing.T) {
	tk, _ := loadBert(t)
	if tk.VocabSize() != 30522 || tk.PadID() != 0 || tk.UnkID() != 100 || tk.CLSID() != 101 ||
		tk.SEPID() != 102 || tk.MaskID() != 103 {
		t.Fatalf("vocab %d pad %d unk %d cls %d sep %d mask %d", tk.VocabSize(), tk.PadID(), tk.UnkID(),
			tk.CLSID(), tk.SEPID(), tk.MaskID())
	}
	e, err := tk.Encode("Hello, world!", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{101, 7592, 1010, 2088, 999, 102}; !slices.Equal(e.IDs, want) {
		t.Errorf("Hello, world! -> %v, want %v", e.IDs, want)
	}
	tokens := map[string][]string{
		// Greedy longest match with this vocabulary gives "##ffa" "##ble" (BERT's README example
		// "una ##ff ##able" used another vocabulary).
		"unaffable":                 {"una", "##ffa", "##ble"},
		"Héllo [MASK] wörld":        {"hello", "[MASK]", "world"},
		"中文 a\x00b":                 {"中", "文", "ab"},
		"I can't believe it's 2024": {"i", "can", "'", "t", "believe", "it", "'", "s", "202", "##4"},
	}
	for text, want := range tokens {
		e, err := tk.Encode(text, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Tokens[1 : len(e.Tokens)-1]; !reflect.DeepEqual(got, want) {
			t.Errorf("%q -> %q, want %q", text, got, want)
		}
	}
	// Format characters (zero-width space, BOM) are dropped before splitting into words.
	x, _ := tk.Encode("\u200bzero\ufeffwidth", Options{})
	y, _ := tk.Encode("zerowidth", Options{})
	if !slices.Equal(x.IDs, y.IDs) {
		t.Errorf("zero-width chars: %q vs %q", x.Tokens, y.Tokens)
	}
}

func TestBertJSONMatchesVocabTxt(t *testing.T) {
	a, b := loadBert(t)
	texts := []string{
		"Hello, world!", "The quick brown fox jumps over the lazy dog.", "Ünïcödé àccents and ÇEDILLA",
		"日本語のテキストと中文字符", "emoji 😀🎉 and symbols ©®™ ∑∫", "tabs\tand\nnewlines\r\nhere",
		"[CLS] already [SEP] there [MASK]", "supercalifragilisticexpialidocious antidisestablishmentarianism",
		strings.Repeat("x", 101), // longer than max_input_chars_per_word
		"", "   ", "e-mail me at someone@example.com, ok?", "İstanbul straße ﬁ ligature",
	}
	for _, s := range texts {
		ea, _ := a.EncodePair(s, s+" again", Options{MaxLen: 64, Truncate: true})
		eb, _ := b.EncodePair(s, s+" again", Options{MaxLen: 64, Truncate: true})
		if !reflect.DeepEqual(ea, eb) {
			t.Errorf("%q: tokenizer.json %v != vocab.txt %v", s, ea.IDs, eb.IDs)
		}
	}
}

func BenchmarkBertEncode(b *testing.B) {
	tk, _ := loadBert(b)
	text := "The quick brown fox jumps over the lazy dog; unaffable café owners don't like 2024's prices! "
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := tk.Encode(text, DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
