package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/gpu"
	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/study"
	"github.com/adarank/adarank/internal/train"
	"github.com/schollz/progressbar/v3"
)

func init() {
	register("study", "run the AdaRank study grid and report paired statistics ('study report' to report only)", func(args []string) error {
		return studyMain(args, os.Stdout, os.Stderr)
	})
}

// studyMain implements `adarank study` and `adarank study report`.
func studyMain(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "report" {
		return studyReportMain(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("study", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "study configuration, JSON (see docs/study.md; examples in configs/)")
	out := fs.String("out", "", "study folder: cells/, importance/, cells.jsonl, results.json, results.md (required)")
	dry := fs.Bool("dry-run", false, "print the grid, each cell's status and the number of training updates; write nothing")
	only := fs.String("only", "", "run only the cells matching: comma list of KEY=V1|V2 (model, task, setting, modules, r, seed, source) or globs on the cell id")
	maxCells := fs.Int("max-cells", 0, "train at most this many cells, then stop (0: all; rerun to continue)")
	noReport := fs.Bool("no-report", false, "do not write results.json/results.md at the end")
	device := fs.String("device", "auto", "device of the importance sweeps and of the encoder in training: cpu, cuda, cuda:N or auto (the GPU when one is usable)")
	precision := fs.String("precision", "fp32", precisionUsage)
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: adarank study --config study.json --out DIR [--dry-run] [--only FILTER] [--max-cells N]\n       adarank study report --out DIR")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *config == "" {
		return fmt.Errorf("--config is required (a study JSON; see configs/study-small.json)")
	}
	if *out == "" {
		return fmt.Errorf("--out is required (the study folder)")
	}
	cfg, err := study.LoadConfig(*config)
	if err != nil {
		return err
	}
	filter, err := study.ParseFilter(*only)
	if err != nil {
		return fmt.Errorf("--only: %w", err)
	}
	if *maxCells < 0 {
		return fmt.Errorf("--max-cells must not be negative")
	}
	o := study.Options{OutDir: *out, Filter: filter, DryRun: *dry, MaxCells: *maxCells, Log: stderr}
	if *dry {
		o.Log = stdout
	} else {
		dev, err := openDevice(*device, *precision)
		if err != nil {
			return err
		}
		if dev != nil {
			defer dev.Close()
			o.Device = deviceName(dev)
			o.Sweep = func(m *model.Model, b model.Batch, so adarank.SweepOptions) ([]adarank.Importance, error) {
				return gpu.Sweep(dev, m, b, so)
			}
			o.Encoder = func(m *model.Model, a *lora.Adapter, maxB, T int) (train.Encoder, func(), error) {
				enc, err := gpu.NewLoRAEncoder(dev, m, a.Ad, a.Bias, maxB, T)
				if err != nil {
					return nil, nil, err
				}
				return enc, enc.Free, nil
			}
			fmt.Fprintf(stderr, "importance sweeps and training encoder on %s\n", o.Device)
		}
		var bar *progressbar.ProgressBar
		cur := ""
		o.Progress = func(id string, p train.Progress) {
			if id != cur {
				cur = id
				bar = newProgress(p.Steps, "training", *quiet)
			}
			bar.Describe(fmt.Sprintf("loss %.4f  lr %.2e  %.1f ex/s", p.Loss, p.LR, p.ExamplesPerSec))
			bar.Set(p.Step)
			if p.Step == p.Steps {
				bar.Finish()
			}
		}
	}
	start := time.Now()
	sum, runErr := study.Run(cfg, o)
	if *dry || sum == nil {
		return runErr
	}
	w := bufio.NewWriter(stdout)
	fmt.Fprintf(w, "study %s: %d of %d grid cells selected; %d were done, %d trained now (%d resumed), %d failed, %d conflicts; %s\n",
		cfg.Name, sum.Selected, sum.Cells, sum.Done, sum.Trained, sum.Resumed, sum.Failed, sum.Conflicts,
		time.Since(start).Round(time.Second))
	if sum.Stopped {
		fmt.Fprintf(w, "stopped after --max-cells %d; run the same command again to continue\n", *maxCells)
	}
	if !*noReport {
		res, err := study.Report(*out)
		if err != nil {
			w.Flush()
			return err
		}
		fmt.Fprintf(w, "wrote %s and %s (%d comparisons)\n", filepath.Join(*out, "results.json"), filepath.Join(*out, "results.md"), len(res.Groups))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return runErr
}

// studyReportMain implements `adarank study report --out DIR`.
func studyReportMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("study report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "study folder (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: adarank study report --out DIR")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("--out is required (the study folder)")
	}
	if st, err := os.Stat(*out); err != nil || !st.IsDir() {
		return fmt.Errorf("--out %s: not a study folder", *out)
	}
	res, err := study.Report(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	fmt.Fprintf(w, "%d of %d cells finished; %d comparisons\n", res.Counts[study.StatusDone], res.Counts["total"], len(res.Groups))
	for _, c := range res.Conclusion {
		fmt.Fprintf(w, "- %s\n", c)
	}
	fmt.Fprintf(w, "wrote %s and %s\n", filepath.Join(*out, "results.json"), filepath.Join(*out, "results.md"))
	return w.Flush()
}
