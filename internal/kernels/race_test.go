//go:build race

package kernels

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// allocation-count tests do not apply.
const raceEnabled = true
