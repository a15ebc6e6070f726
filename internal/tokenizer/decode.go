package tokenizer

import "strings"

type decKind int

const (
	decJoin      decKind = iota // join tokens with spaces
	decWordPiece                // HF WordPiece decoder
	decByteLevel                // HF ByteLevel decoder
)

type decoderKind struct {
	kind    decKind
	prefix  string
	cleanup bool
}

// Decode turns ids back into text, skipping special tokens and unknown ids.
func (t *Tokenizer) Decode(ids []int32) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if i, ok := t.addedByID[id]; ok && t.added[i].Special {
			continue
		}
		if tok := t.IDToken(id); tok != "" {
			toks = append(toks, tok)
		}
	}
	switch t.decoder.kind {
	case decWordPiece:
		var b strings.Builder
		for i, tok := range toks {
			if i > 0 {
				if t.decoder.prefix != "" && strings.HasPrefix(tok, t.decoder.prefix) {
					tok = tok[len(t.decoder.prefix):]
				} else {
					tok = " " + tok
				}
			}
			if t.decoder.cleanup {
				tok = cleanupDecoded(tok)
			}
			b.WriteString(tok)
		}
		return b.String()
	case decByteLevel:
		var buf []byte
		for _, tok := range toks {
			start := len(buf)
			ok := true
			for _, r := range tok {
				b, known := runeToByte[r]
				if !known {
					ok = false
					break
				}
				buf = append(buf, b)
			}
			if !ok { // not a byte-level token (e.g. an added token): keep its text
				buf = append(buf[:start], tok...)
			}
		}
		return strings.ToValidUTF8(string(buf), "\uFFFD")
	}
	return strings.Join(toks, " ")
}

// cleanupPairs are HF's decoder clean-ups of tokenization spaces, applied in this order.
var cleanupPairs = [][2]string{{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}}

func cleanupDecoded(s string) string {
	for _, p := range cleanupPairs {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}
