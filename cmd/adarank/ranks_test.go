package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

const valueImp = "0.1067335,0.2673352,0.5113052,0.64961135,0.66023976,0.6209688,0.59066254,0.61314476,0.6017301,0.72589016,0.72327375,0.570347"

func runRanksTest(args ...string) (string, error) {
	var out, errOut strings.Builder
	err := ranksMain(args, &out, &errOut)
	return out.String(), err
}

func TestRanksCommand(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		// The README example (reference doc §(g) #1).
		{[]string{"--importance", valueImp, "--avg-rank", "8", "--rounding", "floor"}, "1,3,7,9,9,8,8,8,8,10,10,8\n"},
		// Default rounding spends the whole budget of 96.
		{[]string{"--importance", valueImp, "--avg-rank", "8"}, "2,4,7,9,10,9,9,9,9,10,10,8\n"},
		// Floor keeps rank 0 unless --min-rank is given.
		{[]string{"-importance=0.01,1,1", "-avg-rank=2", "-rounding=floor"}, "0,2,2\n"},
		{[]string{"-importance=0.01,1,1", "-avg-rank=2", "-rounding=floor", "-min-rank=1"}, "1,2,2\n"},
		// Largest remainder: default min rank 1, max rank caps.
		{[]string{"--importance", "0.01, 1, 1", "--avg-rank", "2"}, "1,3,2\n"},
		{[]string{"--importance", "10,1,1,2", "--avg-rank", "4", "--max-rank", "6"}, "6,3,2,5\n"},
		// --n: predict_rank.py divides by n_layers.
		{[]string{"--importance", "1,1,1", "--avg-rank", "4", "--n", "12", "--rounding", "floor"}, "16,16,16\n"},
	}
	for _, c := range cases {
		got, err := runRanksTest(c.args...)
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if got != c.want {
			t.Errorf("%v: got %q, want %q", c.args, got, c.want)
		}
	}
}

func TestRanksCommandErrors(t *testing.T) {
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"--avg-rank", "8"}, "--importance is required"},
		{[]string{"--importance", "1,x", "--avg-rank", "8"}, `value 2 ("x") is not a number`},
		{[]string{"--importance", "1,,2", "--avg-rank", "8"}, "value 2"},
		{[]string{"--importance", "1,2"}, "average rank"},
		{[]string{"--importance", "1,-2", "--avg-rank", "8"}, "negative"},
		{[]string{"--importance", "0,0", "--avg-rank", "8"}, "all importances are zero"},
		{[]string{"--importance", "1,2", "--avg-rank", "8", "--rounding", "ceil"}, "unknown rounding"},
		{[]string{"--importance", "1,2", "--avg-rank", "1", "--min-rank", "2"}, "min rank 2"},
		{[]string{"--importance", "1,2", "--avg-rank", "8", "extra"}, "unexpected argument"},
		{[]string{"--importance", "1,2", "--avg-rank", "eight"}, "invalid value"},
		{[]string{"--bogus"}, "not defined"},
	}
	for _, c := range cases {
		_, err := runRanksTest(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: got %v, want error containing %q", c.args, err, c.msg)
		}
	}
}

func TestRanksHelp(t *testing.T) {
	var errOut strings.Builder
	err := ranksMain([]string{"-h"}, io.Discard, &errOut)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(errOut.String(), "-avg-rank") || !strings.Contains(errOut.String(), "usage: adarank ranks") {
		t.Errorf("help text lacks the flags:\n%s", errOut.String())
	}
}
