package tokenizer

import (
	"iter"
	"sort"
)

// TrainOptions tune TrainWordPieceWith; the zero value of a field means its default.
type TrainOptions struct {
	MinFrequency  int // pairs seen fewer times are never merged (default 2, as BertWordPieceTokenizer)
	LimitAlphabet int // keep at most this many initial characters, most frequent first (default 1000)
}

// trainSpecials are the special tokens of a trained BERT tokenizer, ids 0..4.
var trainSpecials = []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}

// TrainWordPiece learns a BERT WordPiece vocabulary of at most vocabSize tokens from texts,
// approximating HF's BertWordPieceTokenizer.train (WordPieceTrainer = BPE merges with "##"
// continuation pieces): [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4, then the alphabet,
// the "##" forms of characters, and merged pieces. The result is deterministic (HF's order
// among equal counts depends on hash maps, so ids differ from HF's but the method is the same).
func TrainWordPiece(texts iter.Seq[string], vocabSize int, lowercase bool) (*Tokenizer, error) {
	return TrainWordPieceWith(texts, vocabSize, lowercase, TrainOptions{})
}

// TrainWordPieceWith is TrainWordPiece with explicit options.
func TrainWordPieceWith(texts iter.Seq[string], vocabSize int, lowercase bool, opt TrainOptions) (*Tokenizer, error) {
	if vocabSize < len(trainSpecials)+1 || vocabSize >= maxTokenID {
		return nil, errorf("TrainWordPiece: vocabulary size %d out of range", vocabSize)
	}
	if opt.MinFrequency <= 0 {
		opt.MinFrequency = 2
	}
	if opt.LimitAlphabet <= 0 {
		opt.LimitAlphabet = 1000
	}
	const prefix = "##"
	nrm := &bertNormalizer{cleanText: true, handleChineseChars: true, stripAccents: lowercase, lowercase: lowercase}

	// 1. Word counts over normalized, pre-tokenized text.
	counts := map[string]int64{}
	var words []string
	for text := range texts {
		words = bertPreTokenizer{}.split(nrm.normalize(text), words[:0])
		for _, w := range words {
			counts[w]++
		}
	}
	wordList := make([]string, 0, len(counts))
	for w := range counts {
		wordList = append(wordList, w)
	}
	sort.Strings(wordList)

	// 2. Vocabulary: special tokens, then the alphabet in code-point order.
	vocab := map[string]int32{}
	var idToTok []string
	addTok := func(s string) int32 {
		if id, ok := vocab[s]; ok {
			return id
		}
		id := int32(len(idToTok))
		vocab[s] = id
		idToTok = append(idToTok, s)
		return id
	}
	for _, s := range trainSpecials {
		addTok(s)
	}
	charCount := map[rune]int64{}
	for _, w := range wordList {
		for _, r := range w {
			charCount[r] += counts[w]
		}
	}
	alphabet := make([]rune, 0, len(charCount))
	for r := range charCount {
		alphabet = append(alphabet, r)
	}
	sort.Slice(alphabet, func(i, j int) bool {
		if charCount[alphabet[i]] != charCount[alphabet[j]] {
			return charCount[alphabet[i]] > charCount[alphabet[j]]
		}
		return alphabet[i] < alphabet[j]
	})
	if len(alphabet) > opt.LimitAlphabet {
		alphabet = alphabet[:opt.LimitAlphabet]
	}
	sort.Slice(alphabet, func(i, j int) bool { return alphabet[i] < alphabet[j] })
	for _, r := range alphabet {
		addTok(string(r))
	}

	// 3. Words as symbol ids; characters after the first use their "##" form. Characters
	// outside the kept alphabet are skipped, as in HF.
	type trainWord struct {
		syms  []int32
		count int64
	}
	tw := make([]trainWord, 0, len(wordList))
	for _, w := range wordList {
		var syms []int32
		first := true
		for _, r := range w {
			c := string(r)
			if _, ok := vocab[c]; !ok {
				first = false
				continue
			}
			if !first {
				c = prefix + c
			}
			syms = append(syms, addTok(c))
			first = false
		}
		tw = append(tw, trainWord{syms: syms, count: counts[w]})
	}

	// 4. Pair counts and where each pair occurs.
	pairCount := map[uint64]int64{}
	pairWhere := map[uint64]map[int32]struct{}{}
	for wi, w := range tw {
		for i := 0; i+1 < len(w.syms); i++ {
			k := pairKey(w.syms[i], w.syms[i+1])
			pairCount[k] += w.count
			if pairWhere[k] == nil {
				pairWhere[k] = map[int32]struct{}{}
			}
			pairWhere[k][int32(wi)] = struct{}{}
		}
	}
	q := minHeap[trainItem]{less: trainBefore}
	for k, c := range pairCount {
		if c > 0 {
			q.push(trainItem{pair: k, count: c})
		}
	}

	// 5. Merge the most frequent pair (ties: smallest ids) until the vocabulary is full.
	for len(idToTok) < vocabSize && q.len() > 0 {
		top := q.pop()
		if cur := pairCount[top.pair]; top.count != cur {
			if cur > 0 {
				q.push(trainItem{pair: top.pair, count: cur})
			}
			continue
		}
		if top.count < int64(opt.MinFrequency) {
			break
		}
		a, b := int32(top.pair>>32), int32(uint32(top.pair))
		right := idToTok[b]
		if len(right) >= len(prefix) && right[:len(prefix)] == prefix {
			right = right[len(prefix):]
		}
		newID := addTok(idToTok[a] + right)
		pairCount[top.pair] = 0

		// Apply the merge in every word that has the pair, tracking count changes.
		where := make([]int32, 0, len(pairWhere[top.pair]))
		for wi := range pairWhere[top.pair] {
			where = append(where, wi)
		}
		sort.Slice(where, func(i, j int) bool { return where[i] < where[j] })
		touched := map[uint64]struct{}{}
		change := func(k uint64, d int64, wi int32) {
			pairCount[k] += d
			if d > 0 {
				if pairWhere[k] == nil {
					pairWhere[k] = map[int32]struct{}{}
				}
				pairWhere[k][wi] = struct{}{}
				touched[k] = struct{}{}
			}
		}
		for _, wi := range where {
			w := &tw[wi]
			s := w.syms
			out := s[:0]
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == a && s[i+1] == b {
					if len(out) > 0 {
						prev := out[len(out)-1]
						change(pairKey(prev, a), -w.count, wi)
						change(pairKey(prev, newID), w.count, wi)
					}
					if i+2 < len(s) {
						change(pairKey(b, s[i+2]), -w.count, wi)
						change(pairKey(newID, s[i+2]), w.count, wi)
					}
					out = append(out, newID)
					i++
					continue
				}
				out = append(out, s[i])
			}
			w.syms = out
		}
		delete(pairWhere, top.pair)
		keys := make([]uint64, 0, len(touched))
		for k := range touched {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			if c := pairCount[k]; c > 0 {
				q.push(trainItem{pair: k, count: c})
			}
		}
	}
	return newTrainedWordPiece(vocab, lowercase)
}

// newTrainedWordPiece assembles a BERT tokenizer around a WordPiece vocabulary whose first
// five ids are [PAD], [UNK], [CLS], [SEP], [MASK].
func newTrainedWordPiece(vocab map[string]int32, lowercase bool) (*Tokenizer, error) {
	wp, err := newWordPiece(vocab, "[UNK]", "##", 100)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{modelType: WordPiece, wp: wp,
		norm:    &bertNormalizer{cleanText: true, handleChineseChars: true, stripAccents: lowercase, lowercase: lowercase},
		pre:     bertPreTokenizer{},
		decoder: decoderKind{kind: decWordPiece, prefix: "##", cleanup: true}}
	var added []AddedToken
	for _, s := range trainSpecials {
		added = append(added, AddedToken{ID: vocab[s], Content: s, Special: true})
	}
	t.setAdded(added)
	t.post = bertTemplate(vocab["[CLS]"], vocab["[SEP]"])
	t.finishSetup(&hfConfig{})
	return t, nil
}

// trainItem is a merge candidate: highest count first, then the smallest (left, right) ids.
type trainItem struct {
	pair  uint64
	count int64
}

func trainBefore(x, y trainItem) bool {
	if x.count != y.count {
		return x.count > y.count
	}
	return x.pair < y.pair
}
