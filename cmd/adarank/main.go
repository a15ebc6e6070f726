// Command adarank predicts per-module LoRA ranks by perturbation disagreement and
// fine-tunes transformer encoders with them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
)

// command is one subcommand; run gets the arguments after the subcommand name.
type command struct {
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string) error) {
	commands[name] = command{summary, run}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: adarank <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'adarank <command> -h' for the flags of one command.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "adarank: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if p := os.Getenv("ADARANK_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := c.run(os.Args[2:]); err != nil {
		pprof.StopCPUProfile()
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the command printed its usage
		}
		fmt.Fprintf(os.Stderr, "adarank %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
