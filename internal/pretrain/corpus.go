// Package pretrain trains a BERT-style encoder from scratch with masked
// language modelling: corpus tokenization and packing, dynamic masking,
// AdamW with warm-up and linear decay, held-out evaluation and resumable
// checkpoints.
package pretrain

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/adarank/adarank/internal/data"
	"github.com/adarank/adarank/internal/tokenizer"
)

// ListTextFiles returns the .txt and .txt.gz files under dirs, sorted.
func ListTextFiles(dirs ...string) ([]string, error) {
	var files []string
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && (strings.HasSuffix(p, ".txt") || strings.HasSuffix(p, ".txt.gz")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no .txt or .txt.gz files under %s", strings.Join(dirs, ", "))
	}
	return files, nil
}

// ReadLines returns the non-empty lines (paragraphs) of a plain or gzip text file.
func ReadLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	br := r.(*bufio.Reader)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var lines []string
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			lines = append(lines, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lines, nil
}

// TaskTrainTexts returns the training-split texts of every classification
// task found under dataDir (never validation or test splits).
func TaskTrainTexts(dataDir string) ([]string, []string, error) {
	var texts, notes []string
	for _, task := range []string{"trec", "ag_news", "imdb", "sst2", "spamassassin"} {
		dir := filepath.Join(dataDir, task)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		ds, err := data.LoadTask(task, dir, data.Options{})
		if err != nil {
			return nil, nil, err
		}
		for _, ex := range ds.Train {
			texts = append(texts, ex.Text)
		}
		notes = append(notes, fmt.Sprintf("%s train split (%d texts)", task, len(ds.Train)))
	}
	return texts, notes, nil
}

// tokenizeParagraphs converts paragraphs to ids without special tokens, in
// parallel, preserving order. Paragraphs are separated by sep.
func tokenizeParagraphs(tok *tokenizer.Tokenizer, paras []string, sep int32) ([]int32, error) {
	workers := runtime.GOMAXPROCS(0)
	chunk := (len(paras) + workers - 1) / workers
	parts := make([][]int32, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min(len(paras), (w+1)*chunk)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			var ids []int32
			for _, p := range paras[lo:hi] {
				ids = append(ids, tok.Tokenize(p)...)
				ids = append(ids, sep)
			}
			parts[w] = ids
		}(w, lo, hi)
	}
	wg.Wait()
	var out []int32
	for w := range parts {
		if errs[w] != nil {
			return nil, errs[w]
		}
		out = append(out, parts[w]...)
	}
	return out, nil
}

// Pack cuts a token stream into sequences [CLS] x_1..x_{T-2} [SEP].
func Pack(stream []int32, T int, cls, sep int32) [][]int32 {
	n := T - 2
	var seqs [][]int32
	for lo := 0; lo+n <= len(stream); lo += n {
		s := make([]int32, 0, T)
		s = append(s, cls)
		s = append(s, stream[lo:lo+n]...)
		s = append(s, sep)
		seqs = append(seqs, s)
	}
	return seqs
}
