package gpu

import (
	"runtime"
	"sync"
	"time"

	"github.com/adarank/adarank/internal/adarank"
	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/model"
)

// The sweep's noise is drawn on the CPU from exactly the streams
// adarank.Sweep uses (adarank.NoiseRNG, PopStd, PerturbWith), so GPU and CPU
// importances agree to float32 rounding.

// noiseJob is one perturbed copy of one module for one trial.
type noiseJob struct {
	typ        string
	layer, tr  int
	copyIdx    int
	w, b       []float32 // the module's weights and bias (read only)
	sdW, sdB   float64
	biasNoise  bool
	seed       uint64
	outW, outB []float32 // filled by a worker
	done       chan struct{}
	buf        *noiseBuf
}

// noiseBuf holds one perturbed copy; w and b are page-locked where the
// device could allocate it (then uploads are asynchronous).
type noiseBuf struct {
	w, b *cuda.HostBuffer
}

// noiseSource generates perturbed copies ahead of the GPU on several CPU
// threads and hands them out in the order of the modules given (then trial, copy).
type noiseSource struct {
	ordered chan *noiseJob
	pool    chan *noiseBuf
	all     []*noiseBuf
	quit    chan struct{}
	wg      sync.WaitGroup
	stopped bool
}

// moduleRef is one (type, layer) the sweep visits, with its weights.
type moduleRef struct {
	typ   string
	layer int
	w, b  []float32
	out   int // index of its importance in the sweep's result
}

// noiseHeld is how many trials' buffers the consumer may hold at once (the
// trial being assembled and those whose uploads may still be queued).
const noiseHeld = 4

// newNoiseSource starts the producer for the given modules in order, with
// trials × copies jobs each. Buffers of maxW and maxB floats come from
// alloc (page-locked memory on a GPU) and are recycled.
func newNoiseSource(mods []moduleRef, trials, copies int, scale float64, biasNoise bool, seed uint64, maxW, maxB int,
	alloc func(name string, n int) (*cuda.HostBuffer, error)) (*noiseSource, error) {
	workers := max(1, runtime.GOMAXPROCS(0))
	inFlight := workers + noiseHeld*copies
	s := &noiseSource{
		ordered: make(chan *noiseJob, inFlight),
		pool:    make(chan *noiseBuf, inFlight),
		quit:    make(chan struct{}),
	}
	for i := 0; i < inFlight; i++ {
		w, err := alloc("perturbed weight staging", maxW)
		if err != nil {
			s.freeBufs()
			return nil, err
		}
		b, err := alloc("perturbed bias staging", maxB)
		if err != nil {
			w.Free()
			s.freeBufs()
			return nil, err
		}
		nb := &noiseBuf{w: w, b: b}
		s.all = append(s.all, nb)
		s.pool <- nb
	}
	work := make(chan *noiseJob, inFlight)
	for i := 0; i < workers; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for j := range work {
				rng := adarank.NoiseRNG(j.seed, j.typ, j.layer, j.tr, j.copyIdx)
				adarank.PerturbWith(j.outW, j.w, j.sdW, rng)
				if j.biasNoise {
					adarank.PerturbWith(j.outB, j.b, j.sdB, rng)
				} else {
					copy(j.outB, j.b)
				}
				close(j.done)
			}
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(work)
		defer close(s.ordered)
		for _, m := range mods {
			sdW := scale * adarank.PopStd(m.w)
			sdB := scale * adarank.PopStd(m.b)
			for tr := 0; tr < trials; tr++ {
				for c := 0; c < copies; c++ {
					var buf *noiseBuf
					select {
					case buf = <-s.pool:
					case <-s.quit:
						return
					}
					j := &noiseJob{typ: m.typ, layer: m.layer, tr: tr, copyIdx: c, w: m.w, b: m.b, sdW: sdW, sdB: sdB,
						biasNoise: biasNoise, seed: seed, outW: buf.w.F32[:len(m.w)], outB: buf.b.F32[:len(m.b)],
						done: make(chan struct{}), buf: buf}
					work <- j
					select {
					case s.ordered <- j:
					case <-s.quit:
						return
					}
				}
			}
		}
	}()
	return s, nil
}

// next returns the next job in order, once its noise is ready (nil at the end).
func (s *noiseSource) next() *noiseJob {
	j, ok := <-s.ordered
	if !ok {
		return nil
	}
	<-j.done
	return j
}

// release gives a job's buffers back for reuse.
func (s *noiseSource) release(j *noiseJob) { s.pool <- j.buf }

// stop ends the producer and the workers and frees the buffers (the caller
// must first make sure no queued upload still reads them). Idempotent.
func (s *noiseSource) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	close(s.quit)
	for range s.ordered { // drain so the producer can exit
	}
	s.wg.Wait()
	s.freeBufs()
}

func (s *noiseSource) freeBufs() {
	for _, b := range s.all {
		b.w.Free()
		b.b.Free()
	}
	s.all = nil
}

// NoiseTime draws every perturbed copy a sweep with options o would draw
// (on all CPU threads, into ordinary memory) and returns how long it took:
// the CPU-side floor of a GPU sweep.
func NoiseTime(m *model.Model, o adarank.SweepOptions) (time.Duration, error) {
	if err := o.Validate(m); err != nil {
		return 0, err
	}
	copies := 2
	if o.Against == adarank.AgainstReference {
		copies = 1
	}
	var mods []moduleRef
	maxW, maxB := 0, 0
	for _, typ := range o.Modules {
		for l := 0; l < m.Cfg.Layers; l++ {
			w, b, _, _, _ := m.P.Layers[l].Linear(typ)
			maxW, maxB = max(maxW, len(w)), max(maxB, len(b))
			mods = append(mods, moduleRef{typ: typ, layer: l, w: w, b: b})
		}
	}
	start := time.Now()
	src, err := newNoiseSource(mods, o.Trials, copies, o.NoiseScale, o.BiasNoise, o.Seed, maxW, maxB,
		func(name string, n int) (*cuda.HostBuffer, error) {
			return &cuda.HostBuffer{F32: make([]float32, n)}, nil
		})
	if err != nil {
		return 0, err
	}
	defer src.stop()
	for j := src.next(); j != nil; j = src.next() {
		src.release(j)
	}
	return time.Since(start), nil
}
