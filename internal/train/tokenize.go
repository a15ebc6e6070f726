package train

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/adarank/adarank/internal/data"
	"github.com/adarank/adarank/internal/tokenizer"
)

// Tokenize encodes examples (truncated to maxLen) on all cores, in order.
func Tokenize(tok *tokenizer.Tokenizer, ex []data.Example, maxLen int, split string) ([]Example, error) {
	out := make([]Example, len(ex))
	errs := make([]error, len(ex))
	opt := tokenizer.Options{MaxLen: maxLen, Truncate: true}
	workers := min(runtime.GOMAXPROCS(0), max(1, len(ex)))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(ex); i += workers {
				var enc tokenizer.Encoding
				var err error
				if ex[i].TextB != "" {
					enc, err = tok.EncodePair(ex[i].Text, ex[i].TextB, opt)
				} else {
					enc, err = tok.Encode(ex[i].Text, opt)
				}
				if err != nil {
					errs[i] = err
					continue
				}
				out[i] = Example{IDs: enc.IDs, TypeIDs: enc.TypeIDs, Label: ex[i].Label}
			}
		}(w)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("%s example %d: %w", split, i, err)
		}
	}
	return out, nil
}
