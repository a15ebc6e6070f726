package nn

import "fmt"

// EmbeddingForward overwrites out[i,:] = table[ids[i],:] for every i, with
// rows of c elements. ids must be valid rows of table (callers validate ids
// that come from outside, e.g. with CheckIDs).
func EmbeddingForward(out []float32, ids []int32, table []float32, c int) {
	need("EmbeddingForward", "out", out, len(ids)*c)
	GatherRows(out, table, ids, c)
}

// EmbeddingBackward scatter-adds dTable[ids[i],:] += dOut[i,:]. Repeated ids
// accumulate in order of i.
func EmbeddingBackward(dTable []float32, ids []int32, dOut []float32, c int) {
	ScatterAddRows(dTable, dOut, ids, c)
}

// GatherRows copies out[i,:] = in[rows[i],:] for every i, with rows of c
// elements (e.g. the CLS row of each sequence: rows[b] = b·T).
func GatherRows(out, in []float32, rows []int32, c int) {
	need("GatherRows", "out", out, len(rows)*c)
	parallelFor(len(rows), c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := int(rows[i])
			copy(out[i*c:i*c+c], in[r*c:r*c+c])
		}
	})
}

// ScatterAddRows accumulates dIn[rows[i],:] += dOut[i,:], the backward of
// GatherRows. Columns are split across goroutines and each element is summed
// in order of i, so repeated rows give the same result on any thread count.
func ScatterAddRows(dIn, dOut []float32, rows []int32, c int) {
	if dIn == nil {
		return
	}
	n := len(rows)
	need("ScatterAddRows", "dOut", dOut, n*c)
	parallelFor(c, n, func(lo, hi int) {
		for i, r := range rows {
			dst := dIn[int(r)*c+lo : int(r)*c+hi]
			src := dOut[i*c+lo : i*c+hi]
			for j, g := range src {
				dst[j] += g
			}
		}
	})
}

// CheckIDs returns an error naming the first id outside [0, rows).
func CheckIDs(ids []int32, rows int) error {
	for i, id := range ids {
		if id < 0 || int(id) >= rows {
			return fmt.Errorf("token id %d at position %d is outside the vocabulary of %d rows", id, i, rows)
		}
	}
	return nil
}
