package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/adarank/adarank/internal/adarank"
)

func init() {
	register("ranks", "turn module importances into LoRA ranks", func(args []string) error {
		return ranksMain(args, os.Stdout, os.Stderr)
	})
}

// ranksMain implements `adarank ranks`: it prints the ranks comma-separated on
// one line. -h prints the flags to stderr and returns flag.ErrHelp.
func ranksMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ranks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	imp := fs.String("importance", "", "comma-separated module importances (disagreements), e.g. 0.11,0.27,0.51")
	avg := fs.Float64("avg-rank", 0, "target average rank r̄ (required, > 0)")
	rounding := fs.String("rounding", string(adarank.RoundLargestRemainder),
		"floor (reference: floor(r̄·N/Σd·d_i) in float32, no min/max) or largest-remainder (spends exactly round(r̄·N))")
	minRank := fs.Int("min-rank", 1, "smallest rank (largest-remainder; with floor only when given explicitly; 0 = none)")
	maxRank := fs.Int("max-rank", 0, "largest rank (0 = none)")
	n := fs.Int("n", 0, "budget divisor N, budget = r̄·N (0 = number of importances)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: adarank ranks --importance v1,v2,... --avg-rank R [--rounding floor|largest-remainder] [--min-rank K] [--max-rank M] [--n N]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *imp == "" {
		return fmt.Errorf("--importance is required")
	}
	var vals []float64
	for i, f := range strings.Split(*imp, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return fmt.Errorf("--importance value %d (%q) is not a number", i+1, f)
		}
		vals = append(vals, v)
	}
	r, err := adarank.ParseRounding(*rounding)
	if err != nil {
		return err
	}
	opt := adarank.AllocOptions{AvgRank: *avg, Rounding: r, MinRank: *minRank, MaxRank: *maxRank, N: *n}
	if r == adarank.RoundFloor {
		// The reference rule has no minimum; honour --min-rank only if given.
		given := false
		fs.Visit(func(f *flag.Flag) { given = given || f.Name == "min-rank" })
		if !given {
			opt.MinRank = 0
		}
	}
	ranks, err := adarank.Allocate(vals, opt)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, adarank.FormatRanks(ranks))
	return err
}
