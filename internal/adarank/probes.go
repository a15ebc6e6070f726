package adarank

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/adarank/adarank/internal/data"
)

// DefaultProbes are the nine generic sentences of the reference notebook.
var DefaultProbes = []string{
	"Here We Go Then, You And I is a 1999 album by Norwegian pop artist Morten Abel. It was Abel's second CD as a solo artist.",
	"The album went straight to number one on the Norwegian album chart, and sold to double platinum.",
	"Among the singles released from the album were the songs \"Be My Lover\" and \"Hard To Stay Awake\".",
	"Riccardo Zegna is an Italian jazz musician.",
	"Rajko Maksimović is a composer, writer, and music pedagogue.",
	"One of the most significant Serbian composers of our time, Maksimović has been and remains active in creating works for different ensembles.",
	"Ceylon spinach is a common name for several plants and may refer to: Basella alba Talinum fruticosum",
	"A solar eclipse occurs when the Moon passes between Earth and the Sun, thereby totally or partly obscuring the image of the Sun for a viewer on Earth.",
	"A partial solar eclipse occurs in the polar regions of the Earth when the center of the Moon's shadow misses the Earth.",
}

// ReadProbeFile reads probe texts, one per non-blank line.
func ReadProbeFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var texts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			texts = append(texts, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("%s: no probe texts (empty file)", path)
	}
	return texts, nil
}

// SampleProbes is a seeded sample of n texts from a task's training split
// (never validation or test), and its description for reports.
func SampleProbes(train []data.Example, task string, n int, seed uint64) ([]string, string, error) {
	idx := rand.New(rand.NewPCG(seed, 0x70726f6265)).Perm(len(train))
	var texts []string
	for _, i := range idx[:min(n, len(idx))] {
		texts = append(texts, train[i].Text)
	}
	if len(texts) == 0 {
		return nil, "", fmt.Errorf("task %s: no training rows for probes", task)
	}
	return texts, fmt.Sprintf("task:%s train sample of %d (seed %d)", task, len(texts), seed), nil
}
