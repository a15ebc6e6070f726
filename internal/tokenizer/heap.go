package tokenizer

// minHeap is a binary min-heap ordered by less (BPE merge candidates, trainer pairs).
type minHeap[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *minHeap[T]) len() int { return len(h.items) }

func (h *minHeap[T]) push(it T) {
	h.items = append(h.items, it)
	q := h.items
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(q[i], q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *minHeap[T]) pop() T {
	q := h.items
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && h.less(q[l], q[m]) {
			m = l
		}
		if r < len(q) && h.less(q[r], q[m]) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	h.items = q
	return top
}
