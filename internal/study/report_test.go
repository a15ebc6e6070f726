package study

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/train"
)

// writeCell writes a finished synthetic cell (cell.json + summary.json).
func writeCell(t *testing.T, dir string, c Cell, acc float64, seconds float64, params int, imp string) {
	t.Helper()
	d := CellDir(dir, c.ID)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := CellSpec{Cell: c, Recipe: *c.setting, LoRAParams: params, RankSum: params / 64, Importance: imp}
	if err := report.WriteJSON(filepath.Join(d, "cell.json"), spec); err != nil {
		t.Fatal(err)
	}
	if acc < 0 {
		os.WriteFile(filepath.Join(d, "error.txt"), []byte("train: loss is NaN at step 3\n"), 0o644)
		return
	}
	s := cellSummary{Steps: 10, Seconds: seconds, BestStep: 10, Val: &train.Metrics{Accuracy: acc + 0.01, N: 100},
		Test: &train.Metrics{Accuracy: acc, N: 100}, TestLast: &train.Metrics{Accuracy: acc, N: 100}}
	if err := report.WriteJSON(filepath.Join(d, "summary.json"), s); err != nil {
		t.Fatal(err)
	}
}

func TestReportFromSyntheticResults(t *testing.T) {
	dir := t.TempDir()
	cfg, err := ParseConfig([]byte(`{
	  "name": "synthetic",
	  "models": [{"name": "m", "path": "no/such/model"}],
	  "tasks": [{"name": "toy", "loader": "generic", "data": "no/such/data"}],
	  "sources": ["adarank", "uniform", "random"],
	  "modules": ["query", "key", "value", "attn-out"],
	  "avg_ranks": [8],
	  "seeds": [1, 2, 3, 4, 5],
	  "settings": [{"name": "faithful", "preset": "reference", "steps": 10}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeConfig(filepath.Join(dir, "study.json"), cfg); err != nil {
		t.Fatal(err)
	}
	// The sweep: mean disagreement per type query 0.3, key 0.1, value 0.5, attn-out 0.2 (two layers).
	imp := &ImportanceFile{Key: "m.reference.abc", Model: "m", Probes: "reference-notebook-9", Types: []string{"query", "key", "value", "attn-out"}, Layers: 2}
	for typ, v := range map[string][2]float64{"query": {0.2, 0.4}, "key": {0.05, 0.15}, "value": {0.4, 0.6}, "attn-out": {0.1, 0.3}} {
		for l := 0; l < 2; l++ {
			imp.Modules = append(imp.Modules, ModuleImportance{Type: typ, Layer: l, Mean: v[l], Std: 0.01, Trials: []float64{v[l]}})
		}
	}
	os.MkdirAll(filepath.Join(dir, "importance"), 0o755)
	if err := report.WriteJSON(filepath.Join(dir, "importance", imp.Key+".json"), imp); err != nil {
		t.Fatal(err)
	}
	accs := map[string]map[string][]float64{
		// diffs 0.01, 0.02, 0, 0.03, 0.05: interval includes 0.
		"value": {"adarank": {0.80, 0.82, 0.81, 0.83, 0.85}, "uniform": {0.79, 0.80, 0.81, 0.80, 0.80}},
		// diffs all +0.10: interval [0.1, 0.1].
		"query": {"adarank": {0.70, 0.71, 0.72, 0.73, 0.74}, "uniform": {0.60, 0.61, 0.62, 0.63, 0.64}},
		// diffs -0.10, -0.12, -0.11, -0.10, -0.13: below 0.
		"key": {"adarank": {0.5, 0.5, 0.5, 0.5, 0.5}, "uniform": {0.60, 0.62, 0.61, 0.60, 0.63}},
		// one adarank seed only; seed 5 of uniform failed.
		"attn-out": {"adarank": {0.7}, "uniform": {0.70, 0.70, 0.70, 0.70, -1}},
	}
	for _, c := range cfg.Expand() {
		a, ok := accs[c.Modules][c.Source]
		if !ok || int(c.Seed) > len(a) {
			continue // random: never run (pending)
		}
		params := 8 * 2 * 64
		writeCell(t, dir, c, a[c.Seed-1], 10+float64(c.Seed), params, map[bool]string{true: imp.Key}[c.Source == SourceAdaRank])
	}
	res, err := Report(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 4 module settings × 3 sources × 5 seeds = 60: 3·10 + 6 done, 1 failed, the rest pending.
	if res.Counts["total"] != 60 || res.Counts[StatusDone] != 35 || res.Counts[StatusFailed] != 1 || res.Counts[StatusPending] != 24 {
		t.Errorf("counts %v", res.Counts)
	}
	if len(res.Groups) != 4 {
		t.Fatalf("%d groups", len(res.Groups))
	}
	g := map[string]*Group{}
	for i := range res.Groups {
		g[res.Groups[i].Modules] = &res.Groups[i]
	}
	// value: mean 0.022, sd 0.019235, half-width 2.776445·sd/√5.
	v := g["value"].Paired[0]
	h := 2.776445105 * math.Sqrt(0.00148/4) / math.Sqrt(5)
	if v.A != "adarank" || v.B != "uniform" || v.N != 5 || !near(float64(v.Mean), 0.022, 1e-9) ||
		!near(float64(v.Lo), 0.022-h, 1e-7) || !near(float64(v.Hi), 0.022+h, 1e-7) || v.Excludes0() != 0 {
		t.Errorf("value paired: %+v (want ± %v)", v, h)
	}
	if v.Sign.Pos != 4 || v.Sign.Ties != 1 || !near(v.Sign.P, 0.125, 1e-12) || v.Wilcoxon.WPlus != 10 || !near(v.Wilcoxon.P, 0.125, 1e-12) {
		t.Errorf("value tests: %+v %+v", v.Sign, v.Wilcoxon)
	}
	// The differences are rounded so equal accuracy gaps tie in the rank test.
	q := g["query"].Paired[0]
	if q.Excludes0() != 1 || q.Lo != q.Hi || !near(q.Wilcoxon.P, 0.0625, 1e-12) || q.Wilcoxon.WPlus != 15 {
		t.Errorf("query paired: %+v", q)
	}
	if k := g["key"].Paired[0]; k.Excludes0() != -1 {
		t.Errorf("key paired: %+v", k)
	}
	if a := g["attn-out"]; a.Paired[0].N != 1 || a.Sources[1].N != 4 || !math.IsNaN(float64(a.Paired[0].Lo)) {
		t.Errorf("attn-out: %+v", a)
	}
	st := g["value"].Sources[0]
	if st.Source != "adarank" || !near(float64(st.Mean), 0.822, 1e-12) || !near(float64(st.SD), math.Sqrt(0.00037), 1e-12) ||
		len(st.LoRAParams) != 1 || st.LoRAParams[0] != 1024 || !near(float64(st.Seconds), 13, 1e-12) {
		t.Errorf("value adarank stats: %+v", st)
	}
	// Disagreement ranks (q,k,v,a) = 3,1,4,2; uniform accuracy ranks 2,1,4,3: rho 0.8, exact p 1/3.
	if len(res.Correlations) != 1 {
		t.Fatalf("correlations: %+v", res.Correlations)
	}
	co := res.Correlations[0]
	if !near(float64(co.Rho), 0.8, 1e-12) || !near(float64(co.P), 1.0/3, 1e-12) || !co.Exact ||
		strings.Join(co.Types, ",") != "query,key,value,attn-out" || !near(co.Disagreement[0], 0.3, 1e-12) || !near(co.Accuracy[1], 0.612, 1e-12) {
		t.Errorf("correlation: %+v", co)
	}
	if len(res.Times) != 1 || res.Times[0].N != 35 || res.Times[0].Min != 11 || res.Times[0].Max != 15 {
		t.Errorf("times: %+v", res.Times)
	}
	if len(res.Plots) != 1 || res.Plots[0].File != "importance-m.svg" {
		t.Errorf("plots: %+v", res.Plots)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "importance-m.svg"))
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("plot: %v", err)
	}
	concl := strings.Join(res.Conclusion, "\n")
	for _, want := range []string{
		"in 3 model × task × setting × module-setting × r groups",
		"higher in 2, equal in 0 and lower in 1",
		"excludes 0 in 2 of 3 comparisons; above 0 (AdaRank better) in 1: m/toy/faithful/query/r8 (+10.00 pp); below 0 (uniform better) in 1: m/toy/faithful/key/r8 (-11.20 pp)",
		"p < 0.05 in 0 and the exact sign test in 0",
		"cannot reach 0.05",
		"about 0.1 intervals",
		"Spearman rho > 0 in 1 of 1 groups (mean rho 0.80)",
		"smallest attainable exact two-sided p is 0.083",
	} {
		if !strings.Contains(concl, want) {
			t.Errorf("conclusion lacks %q:\n%s", want, concl)
		}
	}
	// results.json round-trips, with null for the undefined interval.
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Results
	if err := json.Unmarshal(b, &back); err != nil || len(back.Groups) != 4 || !strings.Contains(string(b), `"ci95_lo": null`) {
		t.Errorf("results.json: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "results.md"))
	for _, want := range []string{
		"# AdaRank study: synthetic",
		"35 of 60 cells finished (24 pending, 1 failed)",
		"| value | 8 | 82.20 ± 1.92 (5) | 80.00 ± 0.71 (5) | +2.20 [-0.19, +4.59] | 5 | 0.125 | 0.125 |",
		"| query | 8 | 72.00 ± 1.58 (5) | 62.00 ± 1.58 (5) | +10.00 [+10.00, +10.00] | 5 | 0.062 | 0.062 |",
		"1024 (equal)",
		"![importance of m](importance-m.svg)",
		"| m | toy | faithful | 8 | query: 0.3 / 62.00 (-6.30)",
		"m.toy.faithful.attn-out.r8.s5.uniform | failed: train: loss is NaN at step 3",
		"| m | toy | faithful | 35 | 12.9 | 11.0 | 15.0 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("results.md:\n%s", md)
	}
}

// A folder with nothing finished still reports, and concludes nothing.
func TestReportEmpty(t *testing.T) {
	dir := t.TempDir()
	res, err := Report(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != 0 || !strings.Contains(res.Conclusion[0], "nothing can be concluded") {
		t.Errorf("empty report: %+v", res)
	}
}

// headroom: uniform accuracy at the larger minus the smaller r, and the
// joint module setting minus the mean of the single types, per group.
func TestHeadroom(t *testing.T) {
	g := func(mod string, r int, uniform, adarank float64) Group {
		return Group{Model: "m", Task: "t", Setting: "s", Modules: mod, AvgRank: r, Sources: []SourceStats{
			{Source: SourceAdaRank, N: 5, Mean: Num(adarank)}, {Source: SourceUniform, N: 5, Mean: Num(uniform)}}}
	}
	gs := []Group{g("query", 4, 0.80, 0.9), g("query", 8, 0.82, 0.1), g("value", 4, 0.70, 0.9), g("value", 8, 0.71, 0.9),
		g("all", 4, 0.90, 0.9), g("query+value", 8, 0.85, 0.2)}
	h := headroom(gs)
	if h == nil || len(h.Rank) != 2 || len(h.Modules) != 2 {
		t.Fatalf("headroom %+v", h)
	}
	if r := h.Rank[0]; r.Modules != "query" || r.RLo != 4 || r.RHi != 8 || math.Abs(float64(r.Gain)-0.02) > 1e-9 {
		t.Errorf("rank gain %+v", r)
	}
	if m := h.Modules[0]; m.Joint != "all" || m.AvgRank != 4 || m.Singles != 2 || math.Abs(float64(m.Gain)-(0.90-0.75)) > 1e-9 {
		t.Errorf("module gain %+v", m)
	}
	if m := h.Modules[1]; m.Joint != "query+value" || math.Abs(float64(m.Gain)-(0.85-0.765)) > 1e-9 {
		t.Errorf("module gain %+v", m)
	}
	if headroom([]Group{g("query", 4, 0.8, 0.8)}) != nil {
		t.Error("headroom from a single group")
	}
}
