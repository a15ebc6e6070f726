// Package toydata writes small synthetic classification data sets for
// tests: a generic TSV folder whose label is signalled by one word.
package toydata

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// WriteTSV writes dir/train.tsv and dir/test.tsv (header text, label) with
// nTrain and nTest rows of 3 classes (neg, neu, pos); each row holds filler
// words and one signal word of its class. The same counts give the same files.
func WriteTSV(dir string, nTrain, nTest int) error {
	words := []string{"the", "river", "wound", "slowly", "through", "valley", "past", "old", "farms", "quiet", "village", "children"}
	signal := []string{"apple", "house", "water"}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, split := range []struct {
		name string
		n    int
	}{{"train", nTrain}, {"test", nTest}} {
		var b strings.Builder
		b.WriteString("text\tlabel\n")
		for i := 0; i < split.n; i++ {
			lab := rng.IntN(3)
			var ws []string
			for j := 0; j < 4+rng.IntN(6); j++ {
				ws = append(ws, words[rng.IntN(len(words))])
			}
			ws = append(ws[:2], append([]string{signal[lab]}, ws[2:]...)...)
			fmt.Fprintf(&b, "%s\t%s\n", strings.Join(ws, " "), []string{"neg", "neu", "pos"}[lab])
		}
		if err := os.WriteFile(filepath.Join(dir, split.name+".tsv"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
