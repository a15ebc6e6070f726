package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/data"
	"github.com/adarank/adarank/internal/gpu"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/report"
	"github.com/adarank/adarank/internal/tokenizer"
)

func init() {
	register("predict", "predict per-module LoRA ranks by perturbation disagreement", func(args []string) error {
		return predictMain(args, os.Stdout)
	})
}

// parseModules expands a --modules value.
func parseModules(s string) ([]string, error) {
	switch s {
	case "all":
		return []string{model.Query, model.Key, model.Value, model.AttnOut}, nil
	case "all-linear":
		return append([]string(nil), model.ModuleTypes...), nil
	}
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "dense" {
			p = model.AttnOut // the paper's name
		}
		if model.ModuleIndex(p) < 0 {
			return nil, fmt.Errorf("unknown module type %q (want %s, all or all-linear)", p, strings.Join(model.ModuleTypes, ", "))
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// PredictReport is ranks.json.
type PredictReport struct {
	Tool        string            `json:"tool"`
	Created     string            `json:"created"`
	Model       string            `json:"model"`
	ModelType   string            `json:"model_type"`
	WeightsHash string            `json:"weights_sha256"`
	Layers      int               `json:"layers"`
	Settings    PredictSettings   `json:"settings"`
	Budget      map[string]int    `json:"budget"`
	Modules     []ModuleResult    `json:"modules"`
	RankLists   map[string]string `json:"rank_lists"`
	Seconds     float64           `json:"seconds"`
}

// PredictSettings records every setting that shaped the result.
type PredictSettings struct {
	Modules    []string `json:"modules"`
	AvgRank    float64  `json:"avg_rank"`
	Trials     int      `json:"trials"`
	Seed       uint64   `json:"seed"`
	RNG        string   `json:"rng"` // noise generator: pcg or philox
	NoiseScale float64  `json:"noise_scale"`
	BiasNoise  bool     `json:"bias_noise"`
	Against    string   `json:"against"`
	Output     string   `json:"output"`
	Cumulative bool     `json:"cumulative"`
	Rounding   string   `json:"rounding"`
	MinRank    int      `json:"min_rank"`
	MaxRank    int      `json:"max_rank"`
	Joint      bool     `json:"joint"`
	Probes     string   `json:"probes"`
	NumProbes  int      `json:"num_probes"`
	MaxLen     int      `json:"max_len"`
	Cache      bool     `json:"cache"`
	Device     string   `json:"device,omitempty"` // GPU used for the sweep ("" = CPU)
}

// ModuleResult is one module's line in ranks.json.
type ModuleResult struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Layer      int       `json:"layer"`
	Importance float64   `json:"importance"`
	Std        float64   `json:"std"`
	Trials     []float64 `json:"trials"`
	Rank       int       `json:"rank"`
}

func predictMain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	modelDir := fs.String("model", "", "Hugging Face model folder (default: the embedded model)")
	modules := fs.String("modules", "all", "module types: comma list of query,key,value,attn-out,ffn-in,ffn-out, or all (the paper's four) or all-linear")
	avgRank := fs.Float64("avg-rank", 8, "target average rank r (budget = r × modules per type, or all modules with --joint)")
	trials := fs.Int("trials", 5, "noise trials per module")
	seed := fs.Uint64("seed", 1, "random seed for the noise")
	rng := fs.String("rng", adarank.NoisePCG, "noise generator: pcg (the same numbers on CPU and GPU; on a GPU drawn by the CPU and uploaded) or philox (counter-based; on a GPU drawn by the GPU itself)")
	noise := fs.Float64("noise-scale", 1.0, "noise std as a multiple of std(W)")
	noBias := fs.Bool("no-bias-noise", false, "leave biases unperturbed")
	against := fs.String("against", adarank.AgainstCopies, "copies (two perturbed copies, the paper) or reference (perturbed vs unperturbed, the reference code)")
	output := fs.String("output", adarank.OutputPooled, "compared output: pooled, cls or mlm")
	cumulative := fs.Bool("cumulative", false, "let noise accumulate across trials and layers (the reference notebook's behaviour; needs --against reference)")
	rounding := fs.String("rounding", "largest-remainder", "largest-remainder (exact budget) or floor (the reference formula)")
	minRank := fs.Int("min-rank", 1, "smallest rank (largest-remainder only)")
	maxRank := fs.Int("max-rank", 0, "largest rank (0 = none; largest-remainder only)")
	joint := fs.Bool("joint", false, "allocate one budget across all selected modules instead of per module type")
	probeFile := fs.String("probe", "", "probe texts, one per line (default: the reference notebook's nine sentences)")
	probeTask := fs.String("probe-task", "", "take probes from a task's training split ("+strings.Join(data.TaskNames(), ", ")+")")
	dataDir := fs.String("data", "", "data folder for --probe-task")
	probeN := fs.Int("probe-n", 64, "number of task probes")
	maxLen := fs.Int("max-len", 0, "maximum tokens per probe (0 = min(128, the model's maximum))")
	noCache := fs.Bool("no-cache", false, "recompute all layers for every perturbation (slow; for checking the cache)")
	outDir := fs.String("out", "runs/predict", "folder for ranks.json, rank_pattern.json and importance.svg (\"\" = write nothing)")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	quiet := fs.Bool("quiet", false, "no progress bar")
	device := fs.String("device", "cpu", deviceUsage)
	precision := fs.String("precision", "fp32", precisionUsage)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	mods, err := parseModules(*modules)
	if err != nil {
		return err
	}
	if !(*avgRank > 0) {
		return fmt.Errorf("--avg-rank must be positive, got %v", *avgRank)
	}
	if *trials < 1 {
		return fmt.Errorf("--trials must be at least 1, got %d", *trials)
	}
	round, err := adarank.ParseRounding(*rounding)
	if err != nil {
		return err
	}
	if *cumulative && !flagSet(fs, "against") {
		*against = adarank.AgainstReference
	}
	m, tok, err := openModelOrDefault(*modelDir)
	if err != nil {
		return err
	}
	texts, probeDesc, err := loadProbes(*probeFile, *probeTask, *dataDir, *probeN, *seed)
	if err != nil {
		return err
	}
	if *maxLen == 0 {
		*maxLen = min(128, m.Cfg.MaxSeqLen())
	}
	if *maxLen < 2 || *maxLen > m.Cfg.MaxSeqLen() {
		return fmt.Errorf("--max-len %d outside 2..%d", *maxLen, m.Cfg.MaxSeqLen())
	}
	batch, _, err := makeBatch(tok, texts, tokenizer.Options{MaxLen: *maxLen, Truncate: true})
	if err != nil {
		return err
	}
	o := adarank.SweepOptions{Modules: mods, Trials: *trials, NoiseScale: *noise, BiasNoise: !*noBias,
		Against: *against, Output: *output, Cumulative: *cumulative, NoCache: *noCache, Seed: *seed, Noise: *rng}
	if err := o.Validate(m); err != nil {
		return err
	}
	dev, err := openDevice(*device, *precision)
	if err != nil {
		return err
	}
	if dev != nil {
		defer dev.Close()
	}
	bar := newProgress(len(mods)*m.Cfg.Layers**trials, "perturbing", *quiet)
	o.Progress = func(done, total int) { bar.Set(done) }
	start := time.Now()
	var imps []adarank.Importance
	if dev != nil {
		o.MaxTokens = 0 // the GPU's own default batch bound
		imps, err = gpu.Sweep(dev, m, batch, o)
	} else {
		imps, err = adarank.Sweep(m, batch, o)
	}
	if err != nil {
		return err
	}
	bar.Finish()
	elapsed := time.Since(start).Seconds()

	L := m.Cfg.Layers
	groups := make([][]float64, len(mods))
	for i, imp := range imps {
		groups[i/L] = append(groups[i/L], imp.Mean)
	}
	alloc := adarank.AllocOptions{AvgRank: *avgRank, Rounding: round}
	if round == adarank.RoundLargestRemainder {
		alloc.MinRank, alloc.MaxRank = *minRank, *maxRank
	}
	ranks, err := adarank.PerType(groups, alloc, *joint)
	if err != nil {
		return err
	}
	rep := PredictReport{
		Tool: "adarank predict", Created: time.Now().UTC().Format(time.RFC3339),
		Model: m.Cfg.SourceModel, ModelType: m.Cfg.Arch, WeightsHash: m.Hash(), Layers: L,
		Settings: PredictSettings{Modules: mods, AvgRank: *avgRank, Trials: *trials, Seed: *seed, RNG: o.Noise, NoiseScale: *noise,
			BiasNoise: !*noBias, Against: o.Against, Output: o.Output, Cumulative: *cumulative, Rounding: string(round),
			MinRank: alloc.MinRank, MaxRank: alloc.MaxRank, Joint: *joint, Probes: probeDesc, NumProbes: len(texts),
			MaxLen: *maxLen, Cache: !*noCache, Device: deviceName(dev)},
		Budget: map[string]int{}, RankLists: map[string]string{}, Seconds: elapsed,
	}
	var mr []adarank.ModuleRank
	for i, imp := range imps {
		r := ranks[i/L][i%L]
		rep.Modules = append(rep.Modules, ModuleResult{Name: model.HFName(m.Cfg.Arch, imp.Type, imp.Layer), Type: imp.Type,
			Layer: imp.Layer, Importance: imp.Mean, Std: imp.Std, Trials: imp.Trials, Rank: r})
		mr = append(mr, adarank.ModuleRank{Type: imp.Type, Layer: imp.Layer, Rank: r})
	}
	for t, typ := range mods {
		rep.RankLists[typ] = adarank.FormatRanks(ranks[t])
		sum := 0
		for _, r := range ranks[t] {
			sum += r
		}
		rep.Budget[typ] = sum
	}
	if *outDir != "" {
		if err := writePredictOutputs(*outDir, &rep, mr, imps, mods, L); err != nil {
			return err
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		_, err := fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	w := bufio.NewWriter(stdout)
	tab := report.NewTable("module", "layer", "importance", "± std", "rank")
	for _, r := range rep.Modules {
		tab.Row(r.Type, r.Layer, fmt.Sprintf("%.6f", r.Importance), fmt.Sprintf("%.6f", r.Std), r.Rank)
	}
	if err := tab.Write(w); err != nil {
		return err
	}
	for _, typ := range mods {
		fmt.Fprintf(w, "ranks %-8s %s  (sum %d)\n", typ, rep.RankLists[typ], rep.Budget[typ])
	}
	fmt.Fprintf(w, "seed %d, %d probes, %d trials, %.1fs\n", *seed, len(texts), *trials, elapsed)
	if *outDir != "" {
		fmt.Fprintf(w, "wrote %s, %s, %s\n", filepath.Join(*outDir, "ranks.json"), filepath.Join(*outDir, "rank_pattern.json"),
			filepath.Join(*outDir, "importance.svg"))
	}
	return w.Flush()
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func writePredictOutputs(dir string, rep *PredictReport, mr []adarank.ModuleRank, imps []adarank.Importance, mods []string, L int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := report.WriteJSON(filepath.Join(dir, "ranks.json"), rep); err != nil {
		return err
	}
	pat, err := adarank.RankPattern(mr, rep.ModelType)
	if err != nil {
		return err
	}
	if err := report.WriteJSON(filepath.Join(dir, "rank_pattern.json"), pat); err != nil {
		return err
	}
	var series []report.Series
	for t, typ := range mods {
		s := report.Series{Name: typ}
		for l := 0; l < L; l++ {
			imp := imps[t*L+l]
			s.X = append(s.X, float64(l))
			s.Y = append(s.Y, imp.Mean)
			s.Err = append(s.Err, imp.Std)
		}
		series = append(series, s)
	}
	return report.WriteImportanceSVG(filepath.Join(dir, "importance.svg"), "Model disagreement w.r.t. index of perturbed layer", series)
}

// loadProbes returns the probe texts and a description for the report.
func loadProbes(file, task, dir string, n int, seed uint64) ([]string, string, error) {
	switch {
	case file != "" && task != "":
		return nil, "", fmt.Errorf("use either --probe or --probe-task, not both")
	case file != "":
		texts, err := adarank.ReadProbeFile(file)
		if err != nil {
			return nil, "", err
		}
		return texts, "file:" + file, nil
	case task != "":
		if dir == "" {
			return nil, "", fmt.Errorf("--probe-task needs --data (the task's data folder)")
		}
		if n < 1 {
			return nil, "", fmt.Errorf("--probe-n must be at least 1")
		}
		ds, err := data.LoadTask(task, dir, data.Options{Seed: seed})
		if err != nil {
			return nil, "", err
		}
		return adarank.SampleProbes(ds.Train, task, n, seed)
	}
	return adarank.DefaultProbes, "reference-notebook-9", nil
}
