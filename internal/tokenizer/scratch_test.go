package tokenizer

import "testing"

func TestScratch(t *testing.T) {
	a, err := Load("../../../shared/tokenizers/bert-base-uncased")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("../../../shared/tokenizers/bert-base-uncased", IgnoreTokenizerJSON())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Hello, world!", "unaffable", "Héllo [MASK] 中文 a\u0000b", "I can't believe it's 2024!!"} {
		ea, _ := a.Encode(s, DefaultOptions())
		eb, _ := b.Encode(s, DefaultOptions())
		t.Logf("%q -> %v %v | %v", s, ea.IDs, ea.Tokens, eb.IDs)
	}
	t.Log(a.VocabSize(), a.PadID(), a.CLSID(), a.SEPID(), a.MaskID(), a.UnkID())
}
