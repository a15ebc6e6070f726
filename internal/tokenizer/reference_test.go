package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

// Reference fixtures written by tools/reference/make_fixtures.py with HF transformers'
// fast tokenizers (see tools/reference/README.md).
const (
	refCasesPath = "../../testdata/reference/tokenizers/cases.json"
	repoRoot     = "../.." // "dir" fields in cases.json are relative to the repository root
)

type refEncoding struct {
	InputIDs      []int32 `json:"input_ids"`
	TokenTypeIDs  []int32 `json:"token_type_ids"`
	AttentionMask []int32 `json:"attention_mask"`
}

type refTokenizer struct {
	Dir         string        `json:"dir"`
	Single      []refEncoding `json:"single"`
	SingleTrunc []refEncoding `json:"single_trunc"`
	PairTrunc   []refEncoding `json:"pair_trunc"`
	BatchPadded struct {
		InputIDs      [][]int32 `json:"input_ids"`
		TokenTypeIDs  [][]int32 `json:"token_type_ids"`
		AttentionMask [][]int32 `json:"attention_mask"`
	} `json:"batch_padded"`
}

type refCases struct {
	MaxLength  int                     `json:"max_length"`
	Texts      []string                `json:"texts"`
	Pairs      [][2]string             `json:"pairs"`
	Tokenizers map[string]refTokenizer `json:"tokenizers"`
}

// compareReference loads every tokenizer of the cases twice (tokenizer.json and the vocab
// files) and returns one line per disagreement with the reference and the number of
// encodings compared.
func compareReference(c *refCases, root string) (bad []string, compared int, err error) {
	names := make([]string, 0, len(c.Tokenizers))
	for name := range c.Tokenizers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ref := c.Tokenizers[name]
		dir := filepath.Join(root, ref.Dir)
		viaJSON, err := Load(dir)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		viaVocab, err := Load(dir, IgnoreTokenizerJSON())
		if err != nil {
			return nil, 0, fmt.Errorf("%s (vocab files): %w", name, err)
		}
		for _, v := range []struct {
			how string
			tk  *Tokenizer
		}{{"tokenizer.json", viaJSON}, {"vocab files", viaVocab}} {
			report := func(kind string, i int, input string, got Encoding, want refEncoding) {
				compared++
				if !slices.Equal(got.IDs, want.InputIDs) {
					bad = append(bad, fmt.Sprintf("%s/%s %s[%d] %q:\n  ids  %v\n  want %v", name, v.how, kind, i, input, got.IDs, want.InputIDs))
					return
				}
				if want.TokenTypeIDs != nil && !slices.Equal(got.TypeIDs, want.TokenTypeIDs) {
					bad = append(bad, fmt.Sprintf("%s/%s %s[%d] %q: type ids %v, want %v", name, v.how, kind, i, input, got.TypeIDs, want.TokenTypeIDs))
				}
				if want.AttentionMask != nil && !slices.Equal(got.AttentionMask, want.AttentionMask) {
					bad = append(bad, fmt.Sprintf("%s/%s %s[%d] %q: attention %v, want %v", name, v.how, kind, i, input, got.AttentionMask, want.AttentionMask))
				}
			}
			trunc := Options{MaxLen: c.MaxLength, Truncate: true}
			for i, want := range ref.Single {
				if i >= len(c.Texts) {
					return nil, 0, fmt.Errorf("%s: more single cases than texts", name)
				}
				e, err := v.tk.Encode(c.Texts[i], Options{})
				if err != nil {
					return nil, 0, err
				}
				report("single", i, c.Texts[i], e, want)
			}
			for i, want := range ref.SingleTrunc {
				if i >= len(c.Texts) {
					return nil, 0, fmt.Errorf("%s: more single_trunc cases than texts", name)
				}
				e, err := v.tk.Encode(c.Texts[i], trunc)
				if err != nil {
					return nil, 0, err
				}
				report("single_trunc", i, c.Texts[i], e, want)
			}
			for i, want := range ref.PairTrunc {
				if i >= len(c.Pairs) {
					return nil, 0, fmt.Errorf("%s: more pair_trunc cases than pairs", name)
				}
				e, err := v.tk.EncodePair(c.Pairs[i][0], c.Pairs[i][1], trunc)
				if err != nil {
					return nil, 0, err
				}
				report("pair_trunc", i, c.Pairs[i][0]+" || "+c.Pairs[i][1], e, want)
			}
			if bp := ref.BatchPadded; bp.InputIDs != nil {
				batch, err := v.tk.EncodeBatch(c.Texts, trunc)
				if err != nil {
					return nil, 0, err
				}
				if len(batch) != len(bp.InputIDs) {
					bad = append(bad, fmt.Sprintf("%s/%s batch_padded: %d rows, want %d", name, v.how, len(batch), len(bp.InputIDs)))
					continue
				}
				for i := range batch {
					want := refEncoding{InputIDs: bp.InputIDs[i]}
					if bp.TokenTypeIDs != nil {
						want.TokenTypeIDs = bp.TokenTypeIDs[i]
					}
					if bp.AttentionMask != nil {
						want.AttentionMask = bp.AttentionMask[i]
					}
					report("batch_padded", i, c.Texts[i], batch[i], want)
				}
			}
		}
	}
	return bad, compared, nil
}

func readRefCases(path string) (*refCases, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c refCases
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func TestReferenceFixtures(t *testing.T) {
	c, err := readRefCases(refCasesPath)
	if os.IsNotExist(err) {
		t.Skipf("%s not generated yet (tools/reference/make_fixtures.py)", refCasesPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	for name, ref := range c.Tokenizers {
		if _, err := os.Stat(filepath.Join(repoRoot, ref.Dir)); err != nil {
			t.Skipf("tokenizer %s: %v", name, err)
		}
	}
	bad, compared, err := compareReference(c, repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if compared == 0 {
		t.Fatal("cases.json has no encodings to compare")
	}
	t.Logf("%d encodings compared, %d mismatches", compared, len(bad))
	for i, b := range bad {
		if i == 30 {
			t.Errorf("... and %d more mismatches", len(bad)-30)
			break
		}
		t.Error(b)
	}
}

// TestReferenceHarness checks compareReference itself on a tiny hand-made cases.json for
// bert-base-uncased (ids verified by hand against its vocab.txt).
func TestReferenceHarness(t *testing.T) {
	if _, err := os.Stat(filepath.Join(repoRoot, "../shared/tokenizers/bert-base-uncased")); err != nil {
		t.Skipf("shared bert-base-uncased tokenizer not available (%v)", err)
	}
	cases := `{"max_length": 5,
	  "texts": ["Hello, world!", "hello"],
	  "pairs": [["Hello, world!", "hello"]],
	  "tokenizers": {"bert-base-uncased": {"dir": "../shared/tokenizers/bert-base-uncased",
	    "single": [{"input_ids": [101, 7592, 1010, 2088, 999, 102], "token_type_ids": [0,0,0,0,0,0], "attention_mask": [1,1,1,1,1,1]},
	               {"input_ids": [101, 7592, 102], "token_type_ids": [0,0,0], "attention_mask": [1,1,1]}],
	    "single_trunc": [{"input_ids": [101, 7592, 1010, 2088, 102], "token_type_ids": [0,0,0,0,0], "attention_mask": [1,1,1,1,1]},
	                     {"input_ids": [101, 7592, 102], "token_type_ids": [0,0,0], "attention_mask": [1,1,1]}],
	    "pair_trunc": [{"input_ids": [101, 7592, 102, 7592, 102], "token_type_ids": [0,0,0,1,1], "attention_mask": [1,1,1,1,1]}],
	    "batch_padded": {"input_ids": [[101, 7592, 1010, 2088, 102], [101, 7592, 102, 0, 0]],
	                     "token_type_ids": [[0,0,0,0,0], [0,0,0,0,0]],
	                     "attention_mask": [[1,1,1,1,1], [1,1,1,0,0]]}}}}`
	path := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(path, []byte(cases), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := readRefCases(path)
	if err != nil {
		t.Fatal(err)
	}
	bad, compared, err := compareReference(c, repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if compared != 2*(2+2+1+2) {
		t.Errorf("compared %d encodings, want 14", compared)
	}
	if len(bad) != 0 {
		t.Fatalf("unexpected mismatches:\n%v", bad)
	}
	// A corrupted expectation must be reported (once per loading route).
	ref := c.Tokenizers["bert-base-uncased"]
	ref.PairTrunc[0].TokenTypeIDs = []int32{0, 0, 0, 0, 1}
	c.Tokenizers["bert-base-uncased"] = ref
	bad, _, err = compareReference(c, repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 2 {
		t.Fatalf("want 2 mismatches for a corrupted case, got %d: %v", len(bad), bad)
	}
}
