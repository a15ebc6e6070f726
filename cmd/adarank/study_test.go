package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const studyModel = "../../testdata/reference/models/bert-pretraining"

func studyCmd(args []string, o, e *strings.Builder) error { return studyMain(args, o, e) }

// writeStudyConfig writes an 8-cell study (value, r = 2, two seeds, four
// sources) on the tiny test model and the toy data.
func writeStudyConfig(t *testing.T, dir, dataDir string) string {
	t.Helper()
	js := fmt.Sprintf(`{
	  "name": "cli",
	  "models": [{"name": "tiny", "path": %q}],
	  "tasks": [{"name": "toy", "loader": "generic", "data": %q}],
	  "modules": ["value"],
	  "avg_ranks": [2],
	  "seeds": [1, 2],
	  "settings": [{"name": "faithful", "preset": "reference", "batch": 4, "max_len": 24, "steps": 4, "eval_every": 2}],
	  "sweep": {"trials": 2}
	}`, studyModel, dataDir)
	p := filepath.Join(dir, "study.json")
	if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStudyCLI(t *testing.T) {
	needFixture(t, studyModel)
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	os.Mkdir(dataDir, 0o755)
	writeToyData(t, dataDir)
	cfg := writeStudyConfig(t, tmp, dataDir)
	out := filepath.Join(tmp, "study")

	text, err := runCmd(t, studyCmd, "--config", cfg, "--out", out, "--dry-run")
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, text)
	}
	for _, want := range []string{"→ 8 cells", "tiny.toy.faithful.value.r2.s1.adarank", "pending", "to run: 8 of 8 selected cells (0 done), 32 optimizer updates, 128 training examples"} {
		if !strings.Contains(text, want) {
			t.Errorf("dry run lacks %q:\n%s", want, text)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("--dry-run wrote the study folder")
	}

	// Two cells, then the rest: the report is written each time.
	text, err = runCmd(t, studyCmd, "--config", cfg, "--out", out, "--max-cells", "2", "--quiet")
	if err != nil || !strings.Contains(text, "2 trained now") || !strings.Contains(text, "stopped after --max-cells 2") {
		t.Fatalf("first run: %v\n%s", err, text)
	}
	text, err = runCmd(t, studyCmd, "--config", cfg, "--out", out, "--only", "seed=1", "--quiet")
	if err != nil || !strings.Contains(text, "4 of 8 grid cells selected; 2 were done, 2 trained now") {
		t.Fatalf("seed 1: %v\n%s", err, text)
	}
	text, err = runCmd(t, studyCmd, "--config", cfg, "--out", out, "--quiet")
	if err != nil || !strings.Contains(text, "4 were done, 4 trained now") || !strings.Contains(text, "results.md") {
		t.Fatalf("rest: %v\n%s", err, text)
	}
	var res struct {
		Counts map[string]int `json:"counts"`
		Groups []struct {
			Paired []struct {
				A, B string
				N    int `json:"n"`
			} `json:"paired"`
		} `json:"groups"`
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("results.json: %v", err)
	}
	if res.Counts["done"] != 8 || len(res.Groups) != 1 || len(res.Groups[0].Paired) != 3 || res.Groups[0].Paired[0].N != 2 {
		t.Errorf("results.json: %s", b)
	}
	lines, _ := os.ReadFile(filepath.Join(out, "cells.jsonl"))
	if n := strings.Count(string(lines), `"status":"done"`); n != 8 {
		t.Errorf("cells.jsonl has %d done cells:\n%s", n, lines)
	}

	text, err = runCmd(t, studyCmd, "report", "--out", out)
	if err != nil || !strings.Contains(text, "8 of 8 cells finished; 1 comparisons") || !strings.Contains(text, "AdaRank − uniform") {
		t.Errorf("study report: %v\n%s", err, text)
	}
	md, _ := os.ReadFile(filepath.Join(out, "results.md"))
	if !strings.Contains(string(md), "## Conclusion") || !strings.Contains(string(md), "importance-tiny.svg") {
		t.Errorf("results.md:\n%s", md)
	}
}

func TestStudyCLIErrors(t *testing.T) {
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.json")
	os.WriteFile(bad, []byte(`{"tasks": ["trec"], "modules": ["value"], "avg_ranks": [8], "seeds": [1], "settings": [{"preset": "fast"}]}`), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", tmp}, "--config is required"},
		{[]string{"--config", bad}, "--out is required"},
		{[]string{"--config", filepath.Join(tmp, "none.json"), "--out", tmp}, "no such file"},
		{[]string{"--config", bad, "--out", tmp}, "unknown preset"},
		{[]string{"report"}, "--out is required"},
		{[]string{"report", "--out", filepath.Join(tmp, "none")}, "not a study folder"},
	} {
		_, err := runCmd(t, studyCmd, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	good := filepath.Join(tmp, "good.json")
	os.WriteFile(good, []byte(`{"tasks": ["trec"], "modules": ["value"], "avg_ranks": [8], "seeds": [1], "settings": [{"preset": "standard"}]}`), 0o644)
	if _, err := runCmd(t, studyCmd, "--config", good, "--out", tmp, "--only", "size=3"); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("bad --only: %v", err)
	}
}
