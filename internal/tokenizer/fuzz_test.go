package tokenizer

import (
	"testing"
)

// checkEncoding asserts the invariants every encoding must satisfy.
func checkEncoding(t *testing.T, tk *Tokenizer, e Encoding, opt Options) {
	t.Helper()
	n := len(e.IDs)
	if len(e.TypeIDs) != n || len(e.AttentionMask) != n || len(e.SpecialMask) != n || len(e.Tokens) != n {
		t.Fatalf("ragged encoding: %d ids, %d types, %d mask, %d special, %d tokens",
			n, len(e.TypeIDs), len(e.AttentionMask), len(e.SpecialMask), len(e.Tokens))
	}
	for _, id := range e.IDs {
		if id < 0 || int(id) >= tk.VocabSize() {
			t.Fatalf("id %d out of range [0, %d)", id, tk.VocabSize())
		}
	}
	if opt.MaxLen > 0 && opt.Truncate && n > max(opt.MaxLen, opt.PadTo) {
		t.Fatalf("%d ids > MaxLen %d", n, opt.MaxLen)
	}
}

func FuzzLoadTokenizerJSON(f *testing.F) {
	f.Add(tinyWordPieceJSON(f))
	data, err := tinyBPE(f, true).MarshalTokenizerJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]},"pre_tokenizer":{"type":"ByteLevel"}}`))
	f.Add([]byte(`{"model":{"vocab":{"[UNK]":0,"x":1},"max_input_chars_per_word":1},"added_tokens":[{"id":5,"content":"xx","lstrip":true,"single_word":true}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := FromTokenizerJSON(data)
		if err != nil {
			return
		}
		opt := Options{MaxLen: 12, Truncate: true, PadTo: 3}
		for _, s := range []string{"", "a b", "[CLS] hello, World!", "xx ab\xff 中 <mask>"} {
			e, err := tk.EncodePair(s, s, opt)
			if err != nil {
				continue // e.g. no pad token
			}
			checkEncoding(t, tk, e, opt)
			_ = tk.Decode(e.IDs)
		}
		if _, err := tk.MarshalTokenizerJSON(); err != nil {
			t.Fatalf("loaded tokenizer cannot be saved: %v", err)
		}
	})
}

func FuzzEncode(f *testing.F) {
	for _, s := range []string{"Hello, world!", "unaffable café", "中文 😀 \x00\t\n", "'s 're  \u00a0 x", "[MASK]<mask>", "\xff\xfe"} {
		f.Add(s, "pair text")
	}
	wp, bp := tinyWordPiece(f), tinyBPE(f, true)
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, tk := range []*Tokenizer{wp, bp} {
			for _, opt := range []Options{{}, {MaxLen: 7, Truncate: true}, {MaxLen: 5, Truncate: true, PadTo: 9}} {
				e, err := tk.Encode(a, opt)
				if err != nil {
					t.Fatal(err)
				}
				checkEncoding(t, tk, e, opt)
				e, err = tk.EncodePair(a, b, opt)
				if err != nil {
					t.Fatal(err)
				}
				checkEncoding(t, tk, e, opt)
			}
			_ = tk.Decode(tk.Tokenize(a))
		}
	})
}
