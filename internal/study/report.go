package study

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/report"
)

// Num is a float64 written as null in JSON when it is NaN or infinite.
type Num float64

// MarshalJSON writes null for NaN and ±Inf.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads null as NaN.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// Results is DIR/results.json.
type Results struct {
	Tool         string         `json:"tool"`
	Created      string         `json:"created"`
	Name         string         `json:"name"`
	Counts       map[string]int `json:"counts"` // cells by status (grid cells never started are pending)
	Settings     []Setting      `json:"settings,omitempty"`
	Tasks        []TaskSpec     `json:"tasks,omitempty"`
	Groups       []Group        `json:"groups"`
	Correlations []Correlation  `json:"correlations"`
	Times        []TimeStats    `json:"wall_time"`
	Headroom     *Headroom      `json:"headroom,omitempty"`
	Plots        []Plot         `json:"importance_plots"`
	Conclusion   []string       `json:"conclusion"`
	Cells        []CellResult   `json:"cells"`
}

// CellResult is one cell's outcome.
type CellResult struct {
	Cell
	Status      string            `json:"status"`
	Error       string            `json:"error,omitempty"`
	ValAcc      *float64          `json:"val_accuracy,omitempty"`
	TestAcc     *float64          `json:"test_accuracy,omitempty"` // adapter selected on validation
	TestLastAcc *float64          `json:"test_last_accuracy,omitempty"`
	BestStep    int               `json:"best_step,omitempty"`
	Steps       int               `json:"steps,omitempty"`
	Seconds     float64           `json:"seconds,omitempty"`
	RankSum     int               `json:"rank_sum,omitempty"`
	LoRAParams  int               `json:"lora_params,omitempty"`
	BiasParams  int               `json:"bias_params,omitempty"`
	HeadParams  int               `json:"head_params,omitempty"`
	Ranks       map[string]string `json:"ranks,omitempty"`
	Importance  string            `json:"importance,omitempty"`
}

// Group is one (model, task, setting, module setting, r) comparison.
type Group struct {
	Model   string        `json:"model"`
	Task    string        `json:"task"`
	Setting string        `json:"setting"`
	Modules string        `json:"modules"`
	AvgRank int           `json:"avg_rank"`
	Sources []SourceStats `json:"sources"`
	Paired  []Paired      `json:"paired"`
}

// SourceStats summarises one rank source over seeds.
type SourceStats struct {
	Source     string    `json:"source"`
	N          int       `json:"n"`
	Seeds      []uint64  `json:"seeds"`
	Acc        []float64 `json:"test_accuracy"`
	Mean       Num       `json:"mean"`
	SD         Num       `json:"sd"`
	LoRAParams []int     `json:"lora_params"` // distinct counts over seeds
	RankSums   []int     `json:"rank_sums"`
	BiasParams []int     `json:"bias_params"`
	Seconds    Num       `json:"mean_seconds"`
}

// Paired is the paired difference A − B of test accuracy over common seeds.
type Paired struct {
	A        string         `json:"a"`
	B        string         `json:"b"`
	Seeds    []uint64       `json:"seeds"`
	Diffs    []float64      `json:"differences"`
	N        int            `json:"n"`
	Mean     Num            `json:"mean"`
	SD       Num            `json:"sd"`
	Lo       Num            `json:"ci95_lo"`
	Hi       Num            `json:"ci95_hi"`
	TP       Num            `json:"t_p"`
	Sign     SignResult     `json:"sign_test"`
	Wilcoxon WilcoxonResult `json:"wilcoxon"`
}

// Headroom says how much accuracy the rank budget itself moves, with
// uniform ranks: a larger against a smaller r (same modules), and all
// module types against one (same r). Rank allocation can only matter where
// the budget does.
type Headroom struct {
	Rank    []RankGain   `json:"rank"`
	Modules []ModuleGain `json:"modules"`
}

// RankGain is uniform test accuracy at RHi minus at RLo (means over seeds).
type RankGain struct {
	Model   string `json:"model"`
	Task    string `json:"task"`
	Setting string `json:"setting"`
	Modules string `json:"modules"`
	RLo     int    `json:"r_lo"`
	RHi     int    `json:"r_hi"`
	Lo      Num    `json:"lo"`
	Hi      Num    `json:"hi"`
	Gain    Num    `json:"gain"`
	SeedsLo int    `json:"seeds_lo"`
	SeedsHi int    `json:"seeds_hi"`
}

// ModuleGain is uniform test accuracy of the joint module setting minus the
// mean over the single-type settings, at one r.
type ModuleGain struct {
	Model   string `json:"model"`
	Task    string `json:"task"`
	Setting string `json:"setting"`
	AvgRank int    `json:"avg_rank"`
	Joint   string `json:"joint"`
	Singles int    `json:"singles"`
	Single  Num    `json:"single_mean"`
	All     Num    `json:"joint_mean"`
	Gain    Num    `json:"gain"`
}

// headroom derives Headroom from the groups' uniform-rank means.
func headroom(gs []Group) *Headroom {
	type key struct{ model, task, setting, modules string }
	uni := map[key]map[int]SourceStats{}
	var order []key
	for _, g := range gs {
		for _, s := range g.Sources {
			if s.Source != SourceUniform || s.N == 0 {
				continue
			}
			k := key{g.Model, g.Task, g.Setting, g.Modules}
			if uni[k] == nil {
				uni[k] = map[int]SourceStats{}
				order = append(order, k)
			}
			uni[k][g.AvgRank] = s
		}
	}
	h := &Headroom{}
	for _, k := range order {
		var rs []int
		for r := range uni[k] {
			rs = append(rs, r)
		}
		if len(rs) < 2 {
			continue
		}
		sort.Ints(rs)
		lo, hi := uni[k][rs[0]], uni[k][rs[len(rs)-1]]
		h.Rank = append(h.Rank, RankGain{Model: k.model, Task: k.task, Setting: k.setting, Modules: k.modules, RLo: rs[0], RHi: rs[len(rs)-1],
			Lo: lo.Mean, Hi: hi.Mean, Gain: Num(diff(float64(hi.Mean), float64(lo.Mean))), SeedsLo: lo.N, SeedsHi: hi.N})
	}
	// Joint settings (several types) against the mean of the single types present.
	type gk struct {
		model, task, setting string
		r                    int
	}
	singles := map[gk][]float64{}
	joints := map[gk][]Group{}
	var gorder []gk
	for _, g := range gs {
		var mean *Num
		for i := range g.Sources {
			if g.Sources[i].Source == SourceUniform && g.Sources[i].N > 0 {
				mean = &g.Sources[i].Mean
			}
		}
		if mean == nil {
			continue
		}
		k := gk{g.Model, g.Task, g.Setting, g.AvgRank}
		if _, seen := singles[k]; !seen && joints[k] == nil {
			gorder = append(gorder, k)
		}
		if g.Modules != "all" && !strings.Contains(g.Modules, "+") { // one module type (labels join types with "+")
			singles[k] = append(singles[k], float64(*mean))
		} else {
			joints[k] = append(joints[k], g)
			if _, ok := singles[k]; !ok {
				singles[k] = nil
			}
		}
	}
	for _, k := range gorder {
		if len(singles[k]) < 2 {
			continue
		}
		m, _ := MeanStd(singles[k])
		for _, g := range joints[k] {
			for _, s := range g.Sources {
				if s.Source == SourceUniform && s.N > 0 {
					h.Modules = append(h.Modules, ModuleGain{Model: k.model, Task: k.task, Setting: k.setting, AvgRank: k.r, Joint: g.Modules,
						Singles: len(singles[k]), Single: Num(m), All: s.Mean, Gain: Num(diff(float64(s.Mean), m))})
				}
			}
		}
	}
	if len(h.Rank) == 0 && len(h.Modules) == 0 {
		return nil
	}
	return h
}

// Excludes0 reports whether the 95% interval lies above (+1) or below (-1) zero.
func (p *Paired) Excludes0() int {
	switch {
	case float64(p.Lo) > 0:
		return 1
	case float64(p.Hi) < 0:
		return -1
	}
	return 0
}

// Correlation relates each module type's disagreement to the test accuracy
// of adapting that type alone (uniform ranks), per (model, task, setting, r).
type Correlation struct {
	Model        string    `json:"model"`
	Task         string    `json:"task"`
	Setting      string    `json:"setting"`
	AvgRank      int       `json:"avg_rank"`
	Types        []string  `json:"types"`
	Disagreement []float64 `json:"disagreement"` // mean over layers
	Accuracy     []float64 `json:"accuracy"`     // mean test accuracy over seeds
	Gain         []float64 `json:"gain"`         // accuracy − mean over the types (Spearman does not depend on the reference)
	Seeds        []int     `json:"seeds"`
	Rho          Num       `json:"rho"`
	P            Num       `json:"p"`
	Exact        bool      `json:"exact"`
	Importance   string    `json:"importance"`
}

// TimeStats is the wall time of the finished cells of a (model, task, setting).
type TimeStats struct {
	Model   string  `json:"model"`
	Task    string  `json:"task"`
	Setting string  `json:"setting"`
	N       int     `json:"cells"`
	Mean    float64 `json:"mean_seconds"`
	Min     float64 `json:"min_seconds"`
	Max     float64 `json:"max_seconds"`
	Total   float64 `json:"total_seconds"`
}

// Plot is a Figure-2 importance plot.
type Plot struct {
	Model      string `json:"model"`
	Probes     string `json:"probes"`
	File       string `json:"file"`
	Importance string `json:"importance"`
}

// comparisons are the paired differences reported; the first is primary.
var comparisons = [][2]string{{SourceAdaRank, SourceUniform}, {SourceAdaRank, SourceRandom}, {SourceAdaRank, SourceReversed}}

// orderer sorts labels by their position in the configuration.
type orderer map[string]int

func (o orderer) less(a, b string) bool {
	ia, oka := o[a]
	ib, okb := o[b]
	switch {
	case oka && okb && ia != ib:
		return ia < ib
	case oka != okb:
		return oka
	}
	return a < b
}

// Report reads a study folder and writes DIR/results.json, DIR/results.md
// and the importance plots. It works on partial studies: groups show the
// seeds that finished.
func Report(outDir string) (*Results, error) {
	var cfg *Config
	if b, err := os.ReadFile(filepath.Join(outDir, "study.json")); err == nil {
		if cfg, err = ParseConfig(b); err != nil {
			return nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	res := &Results{Tool: "adarank study report", Created: time.Now().UTC().Format(time.RFC3339), Name: "study",
		Counts: map[string]int{}}
	ord := map[string]orderer{"model": {}, "task": {}, "setting": {}, "modules": {}, "source": {}}
	for i, s := range Sources {
		ord["source"][s] = i
	}
	known := map[string]bool{}
	if cfg != nil {
		res.Name, res.Settings, res.Tasks = cfg.Name, cfg.Settings, cfg.Tasks
		for i, m := range cfg.Models {
			ord["model"][m.Name] = i
		}
		for i, t := range cfg.Tasks {
			ord["task"][t.Name] = i
		}
		for i, s := range cfg.Settings {
			ord["setting"][s.Name] = i
		}
		for i, m := range cfg.Modules {
			ord["modules"][ModulesLabel(m)] = i
		}
		for _, c := range cfg.Expand() {
			known[c.ID] = true
			if !exists(filepath.Join(CellDir(outDir, c.ID), "cell.json")) {
				cr := CellResult{Cell: c, Status: StatusPending}
				cr.Status, cr.Error = cellStatus(CellDir(outDir, c.ID))
				res.Cells = append(res.Cells, cr)
			}
		}
	}
	dirs, err := os.ReadDir(filepath.Join(outDir, "cells"))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for _, d := range dirs {
		dir := filepath.Join(outDir, "cells", d.Name())
		var spec CellSpec
		if !d.IsDir() || !exists(filepath.Join(dir, "cell.json")) {
			continue
		}
		if err := readJSON(filepath.Join(dir, "cell.json"), &spec); err != nil {
			res.Cells = append(res.Cells, CellResult{Cell: Cell{ID: d.Name()}, Status: StatusFailed, Error: err.Error()})
			continue
		}
		if cfg != nil && !known[spec.ID] {
			continue // a cell of an earlier configuration
		}
		cr := CellResult{Cell: spec.Cell, RankSum: spec.RankSum, LoRAParams: spec.LoRAParams, BiasParams: spec.BiasParams,
			HeadParams: spec.HeadParams, Ranks: spec.Ranks, Importance: spec.Importance}
		cr.Status, cr.Error = cellStatus(dir)
		if cr.Status == StatusDone {
			var s cellSummary
			if err := readJSON(filepath.Join(dir, "summary.json"), &s); err != nil {
				cr.Status, cr.Error = StatusFailed, err.Error()
			} else {
				cr.Steps, cr.Seconds, cr.BestStep = s.Steps, s.Seconds, s.BestStep
				if s.Val != nil {
					cr.ValAcc = &s.Val.Accuracy
				}
				if s.Test != nil {
					cr.TestAcc = &s.Test.Accuracy
				}
				if s.TestLast != nil {
					cr.TestLastAcc = &s.TestLast.Accuracy
				}
				if s.Test == nil {
					cr.Status, cr.Error = StatusFailed, "summary.json has no test metrics"
				}
			}
		}
		res.Cells = append(res.Cells, cr)
	}
	sort.SliceStable(res.Cells, func(i, j int) bool { return cellLess(ord, &res.Cells[i].Cell, &res.Cells[j].Cell) })
	for _, c := range res.Cells {
		res.Counts[c.Status]++
	}
	res.Counts["total"] = len(res.Cells)
	res.Groups = groups(res.Cells, ord)
	imps, err := loadImportances(outDir)
	if err != nil {
		return nil, err
	}
	res.Plots, err = writePlots(outDir, res.Cells, imps)
	if err != nil {
		return nil, err
	}
	res.Correlations = correlations(res.Cells, imps, ord)
	res.Times = wallTimes(res.Cells)
	res.Headroom = headroom(res.Groups)
	res.Conclusion = conclusion(res)
	if err := report.WriteJSON(filepath.Join(outDir, "results.json"), res); err != nil {
		return nil, err
	}
	if err := report.WriteFileAtomic(filepath.Join(outDir, "results.md"), []byte(Markdown(res))); err != nil {
		return nil, err
	}
	return res, nil
}

func cellLess(ord map[string]orderer, a, b *Cell) bool {
	for _, k := range [][3]string{{"model", a.Model, b.Model}, {"task", a.Task, b.Task}, {"setting", a.Setting, b.Setting},
		{"modules", a.Modules, b.Modules}} {
		if k[1] != k[2] {
			return ord[k[0]].less(k[1], k[2])
		}
	}
	if a.AvgRank != b.AvgRank {
		return a.AvgRank < b.AvgRank
	}
	if a.Seed != b.Seed {
		return a.Seed < b.Seed
	}
	return ord["source"].less(a.Source, b.Source)
}

// diff is a − b rounded to 1e-9, so that equal accuracy differences (k/n)
// tie exactly in the rank tests.
func diff(a, b float64) float64 { return math.Round((a-b)*1e9) / 1e9 }

func distinct(x []int) []int {
	var out []int
	seen := map[int]bool{}
	for _, v := range x {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out
}

// groups collects finished cells into comparisons (cells are sorted).
func groups(cells []CellResult, ord map[string]orderer) []Group {
	var out []Group
	idx := map[string]int{}
	acc := map[string]map[string]map[uint64]*CellResult{} // group → source → seed
	for i := range cells {
		c := &cells[i]
		if c.Status != StatusDone || c.TestAcc == nil {
			continue
		}
		k := fmt.Sprintf("%s|%s|%s|%s|%d", c.Model, c.Task, c.Setting, c.Modules, c.AvgRank)
		if _, ok := idx[k]; !ok {
			idx[k] = len(out)
			out = append(out, Group{Model: c.Model, Task: c.Task, Setting: c.Setting, Modules: c.Modules, AvgRank: c.AvgRank})
			acc[k] = map[string]map[uint64]*CellResult{}
		}
		if acc[k][c.Source] == nil {
			acc[k][c.Source] = map[uint64]*CellResult{}
		}
		acc[k][c.Source][c.Seed] = c
	}
	for k, gi := range idx {
		g := &out[gi]
		var srcs []string
		for s := range acc[k] {
			srcs = append(srcs, s)
		}
		sort.Slice(srcs, func(i, j int) bool { return ord["source"].less(srcs[i], srcs[j]) })
		for _, s := range srcs {
			bySeed := acc[k][s]
			st := SourceStats{Source: s}
			var lp, rs, bp []int
			var secs []float64
			for _, seed := range sortedSeeds(bySeed) {
				c := bySeed[seed]
				st.Seeds = append(st.Seeds, seed)
				st.Acc = append(st.Acc, *c.TestAcc)
				lp, rs, bp = append(lp, c.LoRAParams), append(rs, c.RankSum), append(bp, c.BiasParams)
				secs = append(secs, c.Seconds)
			}
			st.N = len(st.Acc)
			m, sd := MeanStd(st.Acc)
			st.Mean, st.SD = Num(m), Num(sd)
			ms, _ := MeanStd(secs)
			st.Seconds = Num(ms)
			st.LoRAParams, st.RankSums, st.BiasParams = distinct(lp), distinct(rs), distinct(bp)
			g.Sources = append(g.Sources, st)
		}
		for _, cmp := range comparisons {
			a, b := acc[k][cmp[0]], acc[k][cmp[1]]
			if a == nil || b == nil {
				continue
			}
			p := Paired{A: cmp[0], B: cmp[1]}
			for _, seed := range sortedSeeds(a) {
				if cb, ok := b[seed]; ok {
					p.Seeds = append(p.Seeds, seed)
					p.Diffs = append(p.Diffs, diff(*a[seed].TestAcc, *cb.TestAcc))
				}
			}
			if len(p.Diffs) == 0 {
				continue
			}
			t := TTest(p.Diffs)
			p.N, p.Mean, p.SD, p.Lo, p.Hi, p.TP = t.N, Num(t.Mean), Num(t.SD), Num(t.Lo), Num(t.Hi), Num(t.P)
			p.Sign, p.Wilcoxon = SignTest(p.Diffs), Wilcoxon(p.Diffs)
			g.Paired = append(g.Paired, p)
		}
	}
	return out
}

func sortedSeeds(m map[uint64]*CellResult) []uint64 {
	var s []uint64
	for k := range m {
		s = append(s, k)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// loadImportances reads every cached sweep of the folder, by key.
func loadImportances(outDir string) (map[string]*ImportanceFile, error) {
	out := map[string]*ImportanceFile{}
	files, _ := filepath.Glob(filepath.Join(outDir, "importance", "*.json"))
	for _, p := range files {
		f, err := loadImportance(p)
		if err != nil {
			return nil, err
		}
		if f.Key == "" {
			f.Key = strings.TrimSuffix(filepath.Base(p), ".json")
		}
		out[f.Key] = f
	}
	return out, nil
}

// sweepOf finds the sweep behind a (model, task): the key the cells of that
// model and task used, else the model's only sweep.
func sweepOf(cells []CellResult, imps map[string]*ImportanceFile, modelName, task string) *ImportanceFile {
	for i := range cells {
		c := &cells[i]
		if c.Model == modelName && c.Task == task && c.Importance != "" && imps[c.Importance] != nil {
			return imps[c.Importance]
		}
	}
	var only *ImportanceFile
	for _, f := range imps {
		if f.Model == modelName {
			if only != nil {
				return nil
			}
			only = f
		}
	}
	return only
}

// writePlots draws Figure 2 for every sweep the cells used (or, with no
// cell referencing one, every cached sweep).
func writePlots(outDir string, cells []CellResult, imps map[string]*ImportanceFile) ([]Plot, error) {
	used := map[string]bool{}
	for i := range cells {
		if k := cells[i].Importance; k != "" && imps[k] != nil {
			used[k] = true
		}
	}
	if len(used) == 0 {
		for k := range imps {
			used[k] = true
		}
	}
	var keys []string
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	perModel := map[string]int{}
	for _, k := range keys {
		perModel[imps[k].Model]++
	}
	var out []Plot
	for _, k := range keys {
		f := imps[k]
		name := "importance-" + f.Model + ".svg"
		if perModel[f.Model] > 1 {
			name = "importance-" + k + ".svg"
		}
		var series []report.Series
		for _, typ := range f.Types {
			s := report.Series{Name: typ}
			for _, m := range f.Modules {
				if m.Type == typ {
					s.X = append(s.X, float64(m.Layer))
					s.Y = append(s.Y, m.Mean)
					s.Err = append(s.Err, m.Std)
				}
			}
			if len(s.Y) > 0 {
				series = append(series, s)
			}
		}
		if len(series) == 0 {
			continue
		}
		title := fmt.Sprintf("Disagreement by perturbed layer: %s", f.Model)
		if err := report.WriteImportanceSVG(filepath.Join(outDir, name), title, series); err != nil {
			return nil, err
		}
		out = append(out, Plot{Model: f.Model, Probes: f.Probes, File: name, Importance: k})
	}
	return out, nil
}

// correlations: per (model, task, setting, r), Spearman between each
// single-type module setting's mean disagreement and the mean test accuracy
// of its uniform-rank cells (at least three types).
func correlations(cells []CellResult, imps map[string]*ImportanceFile, ord map[string]orderer) []Correlation {
	type key struct {
		model, task, setting string
		r                    int
	}
	accs := map[key]map[string][]float64{}
	var keys []key
	for i := range cells {
		c := &cells[i]
		if c.Status != StatusDone || c.TestAcc == nil || c.Source != SourceUniform || len(c.Types) != 1 {
			continue
		}
		k := key{c.Model, c.Task, c.Setting, c.AvgRank}
		if accs[k] == nil {
			accs[k] = map[string][]float64{}
			keys = append(keys, k)
		}
		accs[k][c.Types[0]] = append(accs[k][c.Types[0]], *c.TestAcc)
	}
	var out []Correlation
	for _, k := range keys {
		f := sweepOf(cells, imps, k.model, k.task)
		if f == nil || len(accs[k]) < 3 {
			continue
		}
		byType := f.ByType()
		co := Correlation{Model: k.model, Task: k.task, Setting: k.setting, AvgRank: k.r, Importance: f.Key}
		for _, typ := range f.Types {
			a, ok := accs[k][typ]
			if !ok {
				continue
			}
			dm, _ := MeanStd(byType[typ])
			am, _ := MeanStd(a)
			co.Types = append(co.Types, typ)
			co.Disagreement = append(co.Disagreement, dm)
			co.Accuracy = append(co.Accuracy, am)
			co.Seeds = append(co.Seeds, len(a))
		}
		if len(co.Types) < 3 {
			continue
		}
		mean, _ := MeanStd(co.Accuracy)
		for _, a := range co.Accuracy {
			co.Gain = append(co.Gain, a-mean)
		}
		sp := Spearman(co.Disagreement, co.Accuracy)
		co.Rho, co.P, co.Exact = Num(sp.Rho), Num(sp.P), sp.Exact
		out = append(out, co)
	}
	return out
}

func wallTimes(cells []CellResult) []TimeStats {
	var out []TimeStats
	idx := map[string]int{}
	for i := range cells {
		c := &cells[i]
		if c.Status != StatusDone {
			continue
		}
		k := c.Model + "|" + c.Task + "|" + c.Setting
		j, ok := idx[k]
		if !ok {
			j = len(out)
			idx[k] = j
			out = append(out, TimeStats{Model: c.Model, Task: c.Task, Setting: c.Setting, Min: math.Inf(1)})
		}
		t := &out[j]
		t.N++
		t.Total += c.Seconds
		t.Min, t.Max = math.Min(t.Min, c.Seconds), math.Max(t.Max, c.Seconds)
	}
	for i := range out {
		out[i].Mean = out[i].Total / float64(out[i].N)
	}
	return out
}

// pp formats an accuracy difference in percentage points.
func pp(x Num) string {
	if math.IsNaN(float64(x)) {
		return "n/a"
	}
	return fmt.Sprintf("%+.2f", 100*float64(x))
}

func pct(x float64) string { return fmt.Sprintf("%.2f", 100*x) }

func pval(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	if x < 0.001 {
		return "<0.001"
	}
	return fmt.Sprintf("%.3f", x)
}

func (g *Group) label() string {
	return fmt.Sprintf("%s/%s/%s/%s/r%d", g.Model, g.Task, g.Setting, g.Modules, g.AvgRank)
}

// tally counts wins, ties, losses and intervals excluding 0 of one comparison.
type tally struct {
	k, win, tie, loss, above, below, wilc, sign int
	aboveL, belowL                              []string
	minP                                        float64 // the largest "smallest attainable exact p" among the comparisons
	maxAbs                                      float64
	maxAbsG                                     string
}

func countComparison(gs []Group, a, b string, keep func(*Group) bool) tally {
	t := tally{}
	for i := range gs {
		g := &gs[i]
		if keep != nil && !keep(g) {
			continue
		}
		for j := range g.Paired {
			p := &g.Paired[j]
			if p.A != a || p.B != b || p.N < 2 {
				continue
			}
			t.k++
			switch m := float64(p.Mean); {
			case m > 0:
				t.win++
			case m < 0:
				t.loss++
			default:
				t.tie++
			}
			switch p.Excludes0() {
			case 1:
				t.above++
				t.aboveL = append(t.aboveL, fmt.Sprintf("%s (%s pp)", g.label(), pp(p.Mean)))
			case -1:
				t.below++
				t.belowL = append(t.belowL, fmt.Sprintf("%s (%s pp)", g.label(), pp(p.Mean)))
			}
			if p.Wilcoxon.P < 0.05 {
				t.wilc++
			}
			if p.Sign.P < 0.05 {
				t.sign++
			}
			t.minP = math.Max(t.minP, MinExactP(p.Wilcoxon.N))
			if math.Abs(float64(p.Mean)) > t.maxAbs {
				t.maxAbs, t.maxAbsG = math.Abs(float64(p.Mean)), g.label()
			}
		}
	}
	return t
}

// conclusion states, without interpretation beyond the numbers, how AdaRank
// compares with uniform ranks (and the ablations), and what the
// disagreement-gain correlation shows.
func conclusion(res *Results) []string {
	var out []string
	t := countComparison(res.Groups, SourceAdaRank, SourceUniform, nil)
	if t.k == 0 {
		return []string{"No comparison of AdaRank with uniform ranks has two or more paired seeds yet: nothing can be concluded."}
	}
	out = append(out, fmt.Sprintf("AdaRank − uniform test accuracy was compared, paired over seeds, in %d model × task × setting × module-setting × r group%s with at least two paired seeds.", t.k, plural(t.k)))
	out = append(out, fmt.Sprintf("AdaRank's mean was higher in %d, equal in %d and lower in %d of them.", t.win, t.tie, t.loss))
	switch {
	case t.above+t.below == 0:
		out = append(out, "The 95% t-interval of the paired difference includes 0 in every comparison: at this number of seeds the data do not separate AdaRank from uniform ranks anywhere.")
	default:
		s := fmt.Sprintf("The 95%% t-interval excludes 0 in %d of %d comparisons", t.above+t.below, t.k)
		if t.above > 0 {
			s += fmt.Sprintf("; above 0 (AdaRank better) in %d: %s", t.above, strings.Join(t.aboveL, ", "))
		}
		if t.below > 0 {
			s += fmt.Sprintf("; below 0 (uniform better) in %d: %s", t.below, strings.Join(t.belowL, ", "))
		}
		out = append(out, s+".")
	}
	out = append(out, fmt.Sprintf("The exact Wilcoxon signed-rank test gives p < 0.05 in %d and the exact sign test in %d of the %d comparisons.", t.wilc, t.sign, t.k))
	if t.minP >= 0.05 {
		out = append(out, fmt.Sprintf("With this few non-zero paired differences the smallest two-sided p these exact tests can reach is %.4f in at least one comparison, so they cannot reach 0.05 there; the t-interval is the more informative summary.", t.minP))
	}
	out = append(out, fmt.Sprintf("No correction for multiple comparisons is applied: with %d comparison%s and no true difference, about %.1f intervals would exclude 0 by chance.", t.k, plural(t.k), float64(t.k)/20))
	out = append(out, fmt.Sprintf("The largest mean difference is %.2f percentage points in absolute value (%s).", 100*t.maxAbs, t.maxAbsG))
	settings := map[string]bool{}
	var names []string
	for _, g := range res.Groups {
		if !settings[g.Setting] {
			settings[g.Setting] = true
			names = append(names, g.Setting)
		}
	}
	if len(names) > 1 {
		for _, s := range names {
			st := countComparison(res.Groups, SourceAdaRank, SourceUniform, func(g *Group) bool { return g.Setting == s })
			if st.k > 0 {
				out = append(out, fmt.Sprintf("Setting %s: %d higher / %d equal / %d lower; interval above 0 in %d, below 0 in %d of %d.", s, st.win, st.tie, st.loss, st.above, st.below, st.k))
			}
		}
	}
	for _, cmp := range comparisons[1:] {
		st := countComparison(res.Groups, cmp[0], cmp[1], nil)
		if st.k > 0 {
			out = append(out, fmt.Sprintf("AdaRank − %s (same budget): %d higher / %d equal / %d lower; interval above 0 in %d, below 0 in %d of %d.", cmp[1], st.win, st.tie, st.loss, st.above, st.below, st.k))
		}
	}
	if h := res.Headroom; h != nil {
		var parts []string
		if len(h.Rank) > 0 {
			var g []float64
			for _, x := range h.Rank {
				g = append(g, float64(x.Gain))
			}
			m, _ := MeanStd(g)
			parts = append(parts, fmt.Sprintf("raising the uniform rank from r = %d to %d changed test accuracy by %+.2f percentage points on average over %d comparison%s",
				h.Rank[0].RLo, h.Rank[0].RHi, 100*m, len(g), plural(len(g))))
		}
		if len(h.Modules) > 0 {
			var g []float64
			for _, x := range h.Modules {
				g = append(g, float64(x.Gain))
			}
			m, _ := MeanStd(g)
			parts = append(parts, fmt.Sprintf("adapting the joint module setting instead of one type by %+.2f (%d comparison%s)", 100*m, len(g), plural(len(g))))
		}
		out = append(out, "Headroom, with uniform ranks: "+strings.Join(parts, "; ")+". Allocating a fixed rank budget can only matter as much as the budget does.")
	}
	if n := len(res.Correlations); n > 0 {
		pos, sig := 0, 0
		var rhos []float64
		maxTypes := 0
		for _, c := range res.Correlations {
			if r := float64(c.Rho); !math.IsNaN(r) {
				rhos = append(rhos, r)
				if r > 0 {
					pos++
				}
			}
			if float64(c.P) < 0.05 {
				sig++
			}
			maxTypes = max(maxTypes, len(c.Types))
		}
		m, _ := MeanStd(rhos)
		s := fmt.Sprintf("Disagreement vs. accuracy of adapting a module type alone: Spearman rho > 0 in %d of %d groups (mean rho %.2f); p < 0.05 in %d.", pos, n, m, sig)
		if maxTypes <= 4 {
			s += fmt.Sprintf(" With %d module types the smallest attainable exact two-sided p is %.3f, so this is descriptive only.", maxTypes, 2/factorial(maxTypes))
		}
		out = append(out, s)
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func factorial(n int) float64 {
	f := 1.0
	for i := 2; i <= n; i++ {
		f *= float64(i)
	}
	return f
}

// paramCell describes the parameter counts of the sources of a group.
func paramCell(g *Group) string {
	var parts []string
	all := map[int]bool{}
	for _, s := range g.Sources {
		for _, v := range s.LoRAParams {
			all[v] = true
		}
		parts = append(parts, fmt.Sprintf("%s %s", s.Source, joinInts(s.LoRAParams)))
	}
	if len(all) == 1 {
		for v := range all {
			return fmt.Sprintf("%d (equal)", v)
		}
	}
	return strings.Join(parts, "; ") + " (differ)"
}

func joinInts(x []int) string {
	var s []string
	for _, v := range x {
		s = append(s, strconv.Itoa(v))
	}
	return strings.Join(s, "/")
}

// recipe is a one-line description of a training setting.
func recipe(s *Setting) string {
	r := fmt.Sprintf("%s LoRA, %s head, lr %g (%s), %d updates of batch %d", s.LoRA, s.Head, s.LR, s.Schedule, s.Steps, s.Batch*s.GradAccum)
	if s.LoRA == "standard" {
		r += fmt.Sprintf(", alpha %g (%s)", s.Alpha, s.AlphaMode)
	}
	r += fmt.Sprintf(", %s loss, max-len %d (pad %s", s.Loss, s.MaxLen, s.Pad)
	if s.NoMask {
		r += ", no attention mask"
	}
	r += ")"
	if s.TrainBias {
		r += ", adapted modules' biases trained"
	}
	return r + fmt.Sprintf("; validation every %d updates", s.EvalEvery)
}

// Markdown renders the results as a docs-style page.
func Markdown(res *Results) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# AdaRank study: %s\n\n", res.Name)
	p("Generated by `adarank study report` from `results.json` (%s). ", res.Created)
	p("%d of %d cells finished", res.Counts[StatusDone], res.Counts["total"])
	var other []string
	for _, st := range []string{StatusPartial, StatusPending, StatusFailed, StatusConflict} {
		if n := res.Counts[st]; n > 0 {
			other = append(other, fmt.Sprintf("%d %s", n, st))
		}
	}
	if len(other) > 0 {
		p(" (%s)", strings.Join(other, ", "))
	}
	p(".\n\n")
	p("Each cell is one LoRA fine-tuning run. Test accuracy is that of the adapter selected on validation accuracy; ")
	p("means ± sample standard deviations are over seeds, in percent. The paired difference AdaRank − uniform is taken ")
	p("seed by seed (same seed: same data order, dropout and initialisation stream), in percentage points, with a 95%% ")
	p("Student-t interval, the exact two-sided sign test and the Wilcoxon signed-rank test (exact for n ≤ 20).\n\n")
	if len(res.Settings) > 0 {
		p("Training settings:\n\n")
		for i := range res.Settings {
			s := &res.Settings[i]
			p("- **%s** (preset %s): %s.\n", s.Name, s.Preset, recipe(s))
		}
		p("\n")
	}
	var notes []string
	for _, t := range res.Tasks {
		if t.Note != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", t.Name, t.Note))
		}
		if t.MaxVal > 0 || t.MaxTest > 0 {
			notes = append(notes, fmt.Sprintf("%s: validation/test limited to fixed-seed samples of %d/%d rows (0 = all)", t.Name, t.MaxVal, t.MaxTest))
		}
	}
	if len(notes) > 0 {
		p("Data notes: %s. Validation splits are carved from train with a fixed seed where a data set has none; no model or setting is selected on test.\n\n", strings.Join(notes, "; "))
	}

	p("## Conclusion\n\n")
	p("Auto-generated from the numbers below; it states counts and intervals only.\n\n")
	for _, c := range res.Conclusion {
		p("- %s\n", c)
	}
	p("\n")

	if len(res.Plots) > 0 {
		p("## Importance (Figure 2)\n\n")
		for _, pl := range res.Plots {
			p("**%s** (probes: %s)\n\n![importance of %s](%s)\n\n", pl.Model, pl.Probes, pl.Model, pl.File)
		}
	}

	p("## Test accuracy by rank source\n\n")
	if len(res.Groups) == 0 {
		p("No cell has finished yet.\n\n")
	}
	var srcs []string
	seenSrc := map[string]bool{}
	for _, g := range res.Groups {
		for _, s := range g.Sources {
			if !seenSrc[s.Source] {
				seenSrc[s.Source] = true
			}
		}
	}
	for _, s := range Sources {
		if seenSrc[s] {
			srcs = append(srcs, s)
		}
	}
	multiModel := false
	for _, g := range res.Groups {
		multiModel = multiModel || g.Model != res.Groups[0].Model
	}
	for i := 0; i < len(res.Groups); {
		g0 := res.Groups[i]
		j := i
		for j < len(res.Groups) && res.Groups[j].Model == g0.Model && res.Groups[j].Task == g0.Task && res.Groups[j].Setting == g0.Setting {
			j++
		}
		title := fmt.Sprintf("%s, %s", g0.Task, g0.Setting)
		if multiModel {
			title = g0.Model + ": " + title
		}
		p("### %s\n\n", title)
		p("| modules | r |")
		for _, s := range srcs {
			p(" %s |", s)
		}
		p(" AdaRank − uniform [95%% CI] | n | sign p | Wilcoxon p |\n|---|---|")
		for range srcs {
			p("---|")
		}
		p("---|---|---|---|\n")
		for k := i; k < j; k++ {
			g := &res.Groups[k]
			p("| %s | %d |", g.Modules, g.AvgRank)
			for _, s := range srcs {
				cell := "–"
				for _, st := range g.Sources {
					if st.Source == s {
						if st.N > 1 {
							cell = fmt.Sprintf("%s ± %s (%d)", pct(float64(st.Mean)), pct(float64(st.SD)), st.N)
						} else {
							cell = fmt.Sprintf("%s (1)", pct(float64(st.Mean)))
						}
					}
				}
				p(" %s |", cell)
			}
			pr := findPaired(g, SourceAdaRank, SourceUniform)
			if pr == nil {
				p(" – | 0 | – | – |\n")
				continue
			}
			ci := "n/a"
			if !math.IsNaN(float64(pr.Lo)) {
				ci = fmt.Sprintf("[%s, %s]", pp(pr.Lo), pp(pr.Hi))
			}
			p(" %s %s | %d | %s | %s |\n", pp(pr.Mean), ci, pr.N, pval(pr.Sign.P), pval(pr.Wilcoxon.P))
		}
		p("\n")
		// Ablations and parameter counts.
		p("| modules | r | AdaRank − random [95%% CI] | AdaRank − reversed [95%% CI] | LoRA parameters | rank sum |\n|---|---|---|---|---|---|\n")
		for k := i; k < j; k++ {
			g := &res.Groups[k]
			cmp := func(b string) string {
				pr := findPaired(g, SourceAdaRank, b)
				if pr == nil {
					return "–"
				}
				if math.IsNaN(float64(pr.Lo)) {
					return pp(pr.Mean) + " (n=1)"
				}
				return fmt.Sprintf("%s [%s, %s]", pp(pr.Mean), pp(pr.Lo), pp(pr.Hi))
			}
			var sums []int
			for _, s := range g.Sources {
				sums = append(sums, s.RankSums...)
			}
			p("| %s | %d | %s | %s | %s | %s |\n", g.Modules, g.AvgRank, cmp(SourceRandom), cmp(SourceReversed), paramCell(g), joinInts(distinct(sums)))
		}
		p("\n")
		i = j
	}

	p("## Disagreement and the gain of adapting a module type alone\n\n")
	if len(res.Correlations) == 0 {
		p("Needs finished uniform-rank cells of at least three single-type module settings and a cached sweep.\n\n")
	} else {
		p("Per group: each module type's disagreement (mean over layers of the sweep) against the mean test accuracy of ")
		p("adapting that type alone with uniform ranks; the gain is relative to the mean over the types (Spearman's rho ")
		p("does not depend on the reference).\n\n")
		p("| model | task | setting | r | type: disagreement / accuracy (gain, pp) | rho | exact p |\n|---|---|---|---|---|---|---|\n")
		for _, c := range res.Correlations {
			var parts []string
			for i, t := range c.Types {
				parts = append(parts, fmt.Sprintf("%s: %.4g / %s (%+.2f)", t, c.Disagreement[i], pct(c.Accuracy[i]), 100*c.Gain[i]))
			}
			rho := "n/a"
			if !math.IsNaN(float64(c.Rho)) {
				rho = fmt.Sprintf("%.2f", float64(c.Rho))
			}
			p("| %s | %s | %s | %d | %s | %s | %s |\n", c.Model, c.Task, c.Setting, c.AvgRank, strings.Join(parts, "; "), rho, pval(float64(c.P)))
		}
		p("\n")
	}

	if h := res.Headroom; h != nil {
		p("## How much the rank budget itself matters\n\n")
		p("With uniform ranks (means over seeds, percent): test accuracy at a larger against a smaller r with the same modules, and of the joint module setting against the mean of the single types at the same r. Rank allocation can only move accuracy as far as the budget does.\n\n")
		if len(h.Rank) > 0 {
			p("| model | task | setting | modules | r | accuracy | r | accuracy | gain, pp |\n|---|---|---|---|---|---|---|---|---|\n")
			for _, x := range h.Rank {
				p("| %s | %s | %s | %s | %d | %s (%d) | %d | %s (%d) | %s |\n", x.Model, x.Task, x.Setting, x.Modules, x.RLo, pct(float64(x.Lo)), x.SeedsLo,
					x.RHi, pct(float64(x.Hi)), x.SeedsHi, pp(x.Gain))
			}
			p("\n")
		}
		if len(h.Modules) > 0 {
			p("| model | task | setting | r | single types (mean of n) | joint setting | accuracy | gain, pp |\n|---|---|---|---|---|---|---|---|\n")
			for _, x := range h.Modules {
				p("| %s | %s | %s | %d | %s (%d) | %s | %s | %s |\n", x.Model, x.Task, x.Setting, x.AvgRank, pct(float64(x.Single)), x.Singles, x.Joint,
					pct(float64(x.All)), pp(x.Gain))
			}
			p("\n")
		}
	}

	p("## Wall time per cell\n\n")
	if len(res.Times) > 0 {
		p("| model | task | setting | cells | mean s | min s | max s | total h |\n|---|---|---|---|---|---|---|---|\n")
		for _, t := range res.Times {
			p("| %s | %s | %s | %d | %.1f | %.1f | %.1f | %.2f |\n", t.Model, t.Task, t.Setting, t.N, t.Mean, t.Min, t.Max, t.Total/3600)
		}
		p("\nTraining and evaluation time as recorded by each run (the seconds of resumed runs add up); every cell's own time is in the table below.\n\n")
	}
	p("<details><summary>All cells</summary>\n\n")
	p("| cell | status | val acc | test acc | test acc (last) | best step | seconds | rank sum | LoRA params |\n|---|---|---|---|---|---|---|---|---|\n")
	opt := func(x *float64) string {
		if x == nil {
			return "–"
		}
		return pct(*x)
	}
	for _, c := range res.Cells {
		st := c.Status
		if c.Error != "" {
			st += ": " + strings.ReplaceAll(strings.SplitN(c.Error, "\n", 2)[0], "|", "/")
		}
		p("| %s | %s | %s | %s | %s | %d | %.1f | %d | %d |\n", c.ID, st, opt(c.ValAcc), opt(c.TestAcc), opt(c.TestLastAcc), c.BestStep, c.Seconds, c.RankSum, c.LoRAParams)
	}
	p("\n</details>\n")
	return b.String()
}

func findPaired(g *Group, a, b string) *Paired {
	for i := range g.Paired {
		if g.Paired[i].A == a && g.Paired[i].B == b {
			return &g.Paired[i]
		}
	}
	return nil
}
