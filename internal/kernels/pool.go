package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Threads for parallel. Starting a goroutine is cheap, but the OS thread
// that runs it on another core is usually parked, and waking it (a futex
// wake, then a halted vCPU on a VM) takes 80–110 µs on the 2-core bench
// machine: 2% of a 768³ product on 2 cores, paid at each parallel call. So parallel hands work to
// persistent workers that, after each share, spin for up to poolSpin
// waiting for the next one before they park: back-to-back products (a
// training step) find them awake, as OpenBLAS's and OpenMP's threads do.
// The caller likewise spins for up to poolSpin for the workers to finish
// before it blocks. A spin costs at most poolSpin of CPU per call.

const poolSpin = 200 * time.Microsecond

type poolWorker struct {
	seq    atomic.Uint64 // bumped by the caller to post a job
	parked atomic.Bool   // set while the worker is (about to be) blocked on wake
	wake   chan struct{} // buffered 1: unparks the worker
	// The job, written by the caller before seq is bumped.
	f    func(int)
	idx  int
	pool *workerPool
}

type workerPool struct {
	mu      sync.Mutex // held by the one caller using the workers
	workers []*poolWorker
	pending atomic.Int32  // shares of the current job not yet finished
	waiting atomic.Bool   // the caller is (about to be) blocked on done
	done    chan struct{} // buffered 1: unblocks the caller
}

var pool = workerPool{done: make(chan struct{}, 1)}

// parallel runs f(0..t-1), f(0) on the calling goroutine, and waits. Calls
// made while another is using the workers (concurrent or nested), or with
// more shares than Ps (where spinning would hold a P a share needs), run
// their shares on new goroutines instead.
func parallel(t int, f func(int)) {
	if t <= 1 {
		f(0)
		return
	}
	p := &pool
	if t > runtime.GOMAXPROCS(0) || !p.mu.TryLock() {
		parallelGo(t, f)
		return
	}
	defer p.mu.Unlock()
	for len(p.workers) < t-1 {
		w := &poolWorker{wake: make(chan struct{}, 1), pool: p}
		go w.loop(w.seq.Load())
		p.workers = append(p.workers, w)
	}
	p.pending.Store(int32(t - 1))
	for i, w := range p.workers[:t-1] {
		w.f, w.idx = f, i+1
		w.seq.Add(1)
		// The worker sets parked before its last look at seq, and seq was
		// bumped before this look at parked: one of the two sees the other.
		if w.parked.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	f(0)
	// No yielding in this spin: a goroutine that yields may resume on
	// another P, away from its pooled packing buffers.
	if !spinUntil(func() bool { return p.pending.Load() == 0 }, false) {
		p.waiting.Store(true)
		for p.pending.Load() != 0 {
			<-p.done
		}
		p.waiting.Store(false)
	}
	// A wake-up sent after the spin saw zero would be left over: drop it.
	select {
	case <-p.done:
	default:
	}
}

func (w *poolWorker) loop(last uint64) {
	for {
		if !spinUntil(func() bool { return w.seq.Load() != last }, true) {
			w.parked.Store(true)
			for w.seq.Load() == last {
				<-w.wake // may be a stale wake-up: look again
			}
			w.parked.Store(false)
		}
		last = w.seq.Load()
		f, idx, p := w.f, w.idx, w.pool
		w.f = nil
		f(idx)
		if p.pending.Add(-1) == 0 && p.waiting.Load() {
			select {
			case p.done <- struct{}{}:
			default:
			}
		}
	}
}

// spinUntil polls cond for up to poolSpin, yielding the processor now and
// then if yield, and reports whether it became true.
func spinUntil(cond func() bool, yield bool) bool {
	var t0 time.Time
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i%64 == 63 {
			if t0.IsZero() {
				t0 = time.Now()
			} else if time.Since(t0) > poolSpin {
				return false
			}
			if yield {
				runtime.Gosched()
			}
		}
	}
}

// parallelGo is parallel on new goroutines.
func parallelGo(t int, f func(int)) {
	var wg sync.WaitGroup
	wg.Add(t - 1)
	for i := 1; i < t; i++ {
		go func(i int) {
			defer wg.Done()
			f(i)
		}(i)
	}
	f(0)
	wg.Wait()
}
