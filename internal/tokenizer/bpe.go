package tokenizer

import (
	"sync"
	"unicode/utf8"
)

// bpe is HF's BPE model (as used by GPT-2/RoBERTa byte-level tokenizers).
type bpe struct {
	vocab        map[string]int32
	merges       map[uint64]bpeMerge // (left id, right id) -> rank and merged id
	mergeList    [][2]string         // merges in rank order (kept for saving)
	unkID        int32               // -1: no unk token (unknown runes are dropped, as in HF)
	unkToken     string
	contPrefix   string // continuing_subword_prefix ("" for none)
	endSuffix    string // end_of_word_suffix ("" for none)
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool

	mu    sync.Mutex
	cache map[string][]int32
}

type bpeMerge struct{ rank, newID int32 }

const (
	bpeCacheCap     = 20000 // words cached per tokenizer
	bpeCacheMaxWord = 256   // longer words are not cached (HF does the same)
)

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func newBPE(vocab map[string]int32, merges [][2]string, unk, contPrefix, endSuffix string,
	fuseUnk, byteFallback, ignoreMerges bool) (*bpe, error) {
	m := &bpe{vocab: vocab, merges: make(map[uint64]bpeMerge, len(merges)), mergeList: merges,
		unkID: -1, unkToken: unk, contPrefix: contPrefix, endSuffix: endSuffix, fuseUnk: fuseUnk,
		byteFallback: byteFallback, ignoreMerges: ignoreMerges, cache: make(map[string][]int32)}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, errorf("BPE unk token %q is not in the vocabulary", unk)
		}
		m.unkID = id
	}
	for rank, mg := range merges {
		a, okA := vocab[mg[0]]
		b, okB := vocab[mg[1]]
		if !okA || !okB {
			return nil, errorf("BPE merge %d (%q %q) uses a token that is not in the vocabulary", rank+1, mg[0], mg[1])
		}
		right := mg[1]
		if contPrefix != "" && len(right) >= len(contPrefix) && right[:len(contPrefix)] == contPrefix {
			right = right[len(contPrefix):]
		}
		newID, ok := vocab[mg[0]+right]
		if !ok {
			return nil, errorf("BPE merge %d (%q %q) makes %q, which is not in the vocabulary", rank+1, mg[0], mg[1], mg[0]+right)
		}
		k := pairKey(a, b)
		if _, dup := m.merges[k]; !dup { // the first (lowest-rank) occurrence wins
			m.merges[k] = bpeMerge{rank: int32(rank), newID: newID}
		}
	}
	return m, nil
}

// tokenize appends the ids of one (already byte-level encoded) word to ids.
func (m *bpe) tokenize(word string, ids []int32) []int32 {
	if word == "" {
		return ids
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(ids, id)
		}
	}
	m.mu.Lock()
	hit, ok := m.cache[word]
	m.mu.Unlock()
	if ok {
		return append(ids, hit...)
	}
	out := m.mergeWord(word)
	if len(word) <= bpeCacheMaxWord {
		m.mu.Lock()
		if len(m.cache) < bpeCacheCap {
			m.cache[word] = out
		}
		m.mu.Unlock()
	}
	return append(ids, out...)
}

// bpeSymbol is one symbol of a word being merged (a doubly linked list over a slice).
type bpeSymbol struct {
	id         int32
	prev, next int32 // indices, -1 at the ends
	gone       bool  // merged into its left neighbour
}

// bpeItem is a candidate merge in the priority queue: lowest rank first, then leftmost.
type bpeItem struct{ rank, pos, newID int32 }

func bpeLess(a, b bpeItem) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

// mergeWord is HF's BPE::merge_word followed by Word::merge_all (no dropout).
func (m *bpe) mergeWord(word string) []int32 {
	syms := make([]bpeSymbol, 0, len(word))
	add := func(id int32) {
		n := int32(len(syms))
		syms = append(syms, bpeSymbol{id: id, prev: n - 1, next: -1})
		if n > 0 {
			syms[n-1].next = n
		}
	}
	pendingUnk := false // an unk waiting to be added (so that fuse_unk can extend it)
	for i := 0; i < len(word); {
		_, w := utf8.DecodeRuneInString(word[i:])
		s := word[i : i+w]
		if i > 0 && m.contPrefix != "" {
			s = m.contPrefix + s
		}
		if i+w == len(word) && m.endSuffix != "" {
			s += m.endSuffix
		}
		if id, ok := m.vocab[s]; ok {
			if pendingUnk {
				add(m.unkID)
				pendingUnk = false
			}
			add(id)
		} else if m.byteFallback && m.allBytesKnown(word[i:i+w]) {
			if pendingUnk {
				add(m.unkID)
				pendingUnk = false
			}
			for j := i; j < i+w; j++ {
				add(m.vocab[byteFallbackToken(word[j])])
			}
		} else if m.unkID >= 0 {
			if pendingUnk && !m.fuseUnk {
				add(m.unkID)
			}
			pendingUnk = true
		}
		i += w
	}
	if pendingUnk {
		add(m.unkID)
	}

	h := minHeap[bpeItem]{less: bpeLess}
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(bpeItem{rank: mg.rank, pos: int32(i), newID: mg.newID})
		}
	}
	for h.len() > 0 {
		top := h.pop()
		cur := &syms[top.pos]
		if cur.gone || cur.next < 0 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		// Skip stale entries: the pair at this position changed since it was queued.
		if mg, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mg.newID != top.newID {
			continue
		}
		cur.id = top.newID
		cur.next = right.next
		syms[nextPos].gone = true
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mg, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				h.push(bpeItem{rank: mg.rank, pos: cur.prev, newID: mg.newID})
			}
		}
		if cur.next >= 0 {
			if mg, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				h.push(bpeItem{rank: mg.rank, pos: top.pos, newID: mg.newID})
			}
		}
	}
	out := make([]int32, 0, len(syms))
	for _, s := range syms {
		if !s.gone {
			out = append(out, s.id)
		}
	}
	return out
}

// byteFallbackToken is the "<0xAB>" token name HF uses for byte fallback.
func byteFallbackToken(b byte) string {
	const hex = "0123456789ABCDEF"
	return string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})
}

func (m *bpe) allBytesKnown(s string) bool {
	for j := 0; j < len(s); j++ {
		if _, ok := m.vocab[byteFallbackToken(s[j])]; !ok {
			return false
		}
	}
	return true
}
