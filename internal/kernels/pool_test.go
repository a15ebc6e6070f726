package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// parallel runs every share exactly once and returns only when all are
// done, whether the workers are spinning, parked, busy with another caller
// or called from inside a share.
func TestParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	check := func(name string, n int) {
		var counts [8]atomic.Int32
		var finished atomic.Int32
		parallel(n, func(w int) {
			counts[w].Add(1)
			finished.Add(1)
		})
		if got := finished.Load(); got != int32(n) {
			t.Errorf("%s t=%d: %d shares finished when parallel returned", name, n, got)
		}
		for w := range counts {
			want := int32(0)
			if w < n {
				want = 1
			}
			if got := counts[w].Load(); got != want {
				t.Errorf("%s t=%d: share %d ran %d times", name, n, w, got)
			}
		}
	}
	for n := 1; n <= 8; n++ { // up to 8 > GOMAXPROCS: the goroutine path
		for range 50 {
			check("back to back", n)
		}
		time.Sleep(2 * poolSpin) // the workers park
		check("after a pause", n)
	}
	// Concurrent callers: one gets the workers, the others new goroutines.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				check("concurrent", 1+i%4)
			}
		}()
	}
	wg.Wait()
	// Nested: shares calling parallel.
	var inner atomic.Int32
	parallel(3, func(int) {
		parallel(3, func(int) { inner.Add(1) })
	})
	if got := inner.Load(); got != 9 {
		t.Errorf("nested: %d inner shares ran, want 9", got)
	}
}
