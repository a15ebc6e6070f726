package study

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/toydata"
	"github.com/adarank/adarank/internal/train"
)

const tinyModel = "../../testdata/reference/models/bert-pretraining"

// writeToyData writes a generic train.tsv/test.tsv whose label is signalled by a word.
func writeToyData(t *testing.T, dir string) {
	t.Helper()
	if err := toydata.WriteTSV(dir, 96, 30); err != nil {
		t.Fatal(err)
	}
}

// tinyConfig is a 24-cell study on the tiny test model: faithful on value
// and all, standard on value; r = 2; two seeds; all four sources.
func tinyConfig(t *testing.T, dataDir string, steps int) *Config {
	t.Helper()
	if _, err := os.Stat(filepath.Join(tinyModel, "config.json")); err != nil {
		t.Skipf("test model %s not present: %v", tinyModel, err)
	}
	js := fmt.Sprintf(`{
	  "name": "tiny",
	  "models": [{"name": "tiny", "path": %q}],
	  "tasks": [{"name": "toy", "loader": "generic", "data": %q}],
	  "modules": ["value", "all"],
	  "avg_ranks": [2],
	  "seeds": [1, 2],
	  "settings": [
	    {"name": "faithful", "preset": "reference", "batch": 4, "max_len": 24, "steps": %d, "eval_every": 3},
	    {"name": "standard", "preset": "standard", "modules": ["value"], "batch": 4, "max_len": 24, "steps": %d, "eval_every": 3, "lr": 5e-3}
	  ],
	  "sweep": {"trials": 2}
	}`, tinyModel, dataDir, steps, steps)
	c, err := ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readIndex(t *testing.T, dir string) []IndexEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cells.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []IndexEntry
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e IndexEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// summaryOf returns a cell's summary metrics as canonical JSON (val, test,
// test_last, best step, parameters, ranks): equal bytes mean equal runs.
func summaryOf(t *testing.T, dir, id string) string {
	t.Helper()
	var s cellSummary
	if err := readJSON(filepath.Join(CellDir(dir, id), "summary.json"), &s); err != nil {
		t.Fatal(err)
	}
	s.Seconds = 0
	b, _ := json.Marshal(s)
	return string(b)
}

func TestRunSkipResumeAndReport(t *testing.T) {
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	os.Mkdir(dataDir, 0o755)
	writeToyData(t, dataDir)
	cfg := tinyConfig(t, dataDir, 6)
	cells := cfg.Expand()
	if len(cells) != 24 {
		t.Fatalf("%d cells", len(cells))
	}

	// Reference: the whole grid in one go.
	dirA := filepath.Join(tmp, "a")
	sum, err := Run(cfg, Options{OutDir: dirA})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Trained != 24 || sum.Done != 0 || sum.Updates != 24*6 {
		t.Fatalf("first run: %+v", sum)
	}
	imps, _ := filepath.Glob(filepath.Join(dirA, "importance", "*.json"))
	if len(imps) != 1 {
		t.Fatalf("want one cached sweep for one model and probe setting, got %v", imps)
	}

	// Interrupted: 5 cells, then a kill in the middle of the 6th (after update
	// 4; its checkpoint is from the evaluation at update 3), then the rest.
	dirB := filepath.Join(tmp, "b")
	sum, err = Run(cfg, Options{OutDir: dirB, MaxCells: 5})
	if err != nil || sum.Trained != 5 || !sum.Stopped {
		t.Fatalf("max-cells run: %+v, %v", sum, err)
	}
	_, err = Run(cfg, Options{OutDir: dirB, stopAfterUpdates: 4})
	if !errors.Is(err, train.ErrStopped) {
		t.Fatalf("interrupted run: %v", err)
	}
	idx := readIndex(t, dirB)
	status := map[string]int{}
	for _, e := range idx {
		status[e.Status]++
	}
	if len(idx) != 24 || status[StatusDone] != 5 || status[StatusPartial] != 1 || status[StatusPending] != 18 {
		t.Fatalf("index after the interruption: %v", status)
	}
	if idx[5].Status != StatusPartial {
		t.Errorf("cell 6 is %s", idx[5].Status)
	}
	sum, err = Run(cfg, Options{OutDir: dirB})
	if err != nil || sum.Done != 5 || sum.Trained != 19 || sum.Resumed != 1 {
		t.Fatalf("resumed run: %+v, %v", sum, err)
	}
	for _, c := range cells {
		if a, b := summaryOf(t, dirA, c.ID), summaryOf(t, dirB, c.ID); a != b {
			t.Errorf("%s differs after skip/resume:\n%s\n%s", c.ID, a, b)
		}
	}

	// A finished study: nothing left, the sweep is not recomputed.
	st0, _ := os.Stat(imps[0])
	sum, err = Run(cfg, Options{OutDir: dirA})
	if err != nil || sum.Trained != 0 || sum.Done != 24 || sum.Updates != 0 {
		t.Fatalf("rerun of a finished study: %+v, %v", sum, err)
	}
	if st1, _ := os.Stat(imps[0]); !st1.ModTime().Equal(st0.ModTime()) {
		t.Error("the cached sweep was rewritten")
	}

	// Equal budgets in the run: every cell of a module setting has the same
	// LoRA parameter count; faithful trains the adapted biases.
	byMods := map[string]map[int]bool{}
	for _, e := range readIndex(t, dirA) {
		k := e.Setting + "/" + e.Modules
		if byMods[k] == nil {
			byMods[k] = map[int]bool{}
		}
		byMods[k][e.LoRAParams] = true
		if e.Status != StatusDone || e.TestAcc == nil {
			t.Errorf("%s: %s", e.ID, e.Status)
		}
	}
	for k, v := range byMods {
		if len(v) != 1 {
			t.Errorf("%s: LoRA parameter counts %v", k, v)
		}
	}

	// Dry run: the grid, statuses and an estimate from the finished cells.
	var out bytes.Buffer
	sum, err = Run(cfg, Options{OutDir: dirA, DryRun: true, Log: &out})
	if err != nil || sum.Selected != 24 {
		t.Fatalf("dry run: %+v %v", sum, err)
	}
	if !strings.Contains(out.String(), "tiny.toy.faithful.all.r2.s2.random") || !strings.Contains(out.String(), "to run: 0 of 24") {
		t.Errorf("dry run output:\n%s", out.String())
	}
	// A dry run of a new folder writes nothing and counts the updates.
	dirC := filepath.Join(tmp, "c")
	out.Reset()
	f, _ := ParseFilter("setting=faithful,modules=value")
	sum, err = Run(cfg, Options{OutDir: dirC, DryRun: true, Log: &out, Filter: f})
	if err != nil || sum.Selected != 8 || sum.Updates != 8*6 || sum.Examples != 8*6*4 {
		t.Fatalf("filtered dry run: %+v %v", sum, err)
	}
	if _, err := os.Stat(dirC); !os.IsNotExist(err) {
		t.Error("the dry run created the output folder")
	}
	if !strings.Contains(out.String(), "?") || !strings.Contains(out.String(), "estimated time: unknown") {
		t.Errorf("dry run of a new folder:\n%s", out.String())
	}

	// A finished cell made with other settings is refused, not mixed.
	cfg2 := tinyConfig(t, dataDir, 7)
	f, _ = ParseFilter("tiny.toy.faithful.value.r2.s1.uniform")
	_, err = Run(cfg2, Options{OutDir: dirA, Filter: f})
	if err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("changed steps: %v", err)
	}

	// The report of the run.
	res, err := Report(dirA)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts[StatusDone] != 24 || len(res.Groups) != 3 || len(res.Plots) != 1 {
		t.Fatalf("report: counts %v, %d groups, plots %v", res.Counts, len(res.Groups), res.Plots)
	}
	for _, g := range res.Groups {
		if len(g.Sources) != 4 || len(g.Paired) != 3 || g.Paired[0].N != 2 {
			t.Errorf("group %s: %d sources, %d comparisons", g.label(), len(g.Sources), len(g.Paired))
		}
	}
	for _, name := range []string{"results.json", "results.md", res.Plots[0].File} {
		if _, err := os.Stat(filepath.Join(dirA, name)); err != nil {
			t.Error(err)
		}
	}
}
