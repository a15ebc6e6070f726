package main

import (
	"os"

	"github.com/schollz/progressbar/v3"
)

// newProgress returns a progress bar on stderr (quiet when quiet is set).
func newProgress(total int, desc string, quiet bool) *progressbar.ProgressBar {
	if quiet {
		return progressbar.DefaultSilent(int64(total), desc)
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(100*1e6),
		progressbar.OptionOnCompletion(func() { os.Stderr.WriteString("\n") }),
		progressbar.OptionSetWidth(30),
	)
}
