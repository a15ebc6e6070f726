package adarank

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/adarank/adarank/internal/model"
)

// Outputs the disagreement can compare.
const (
	OutputPooled = "pooled" // pooler output (CLS hidden state without a pooler); the reference's "logits"
	OutputCLS    = "cls"    // last hidden state at position 0
	OutputMLM    = "mlm"    // masked-LM logits at every real token
)

// Comparison modes.
const (
	AgainstCopies    = "copies"    // two independently perturbed copies (the paper)
	AgainstReference = "reference" // one perturbed copy vs the unperturbed model (the reference code)
)

// SweepOptions configures the perturbation-disagreement sweep.
type SweepOptions struct {
	Modules    []string // module types (model.ModuleTypes names)
	Trials     int
	NoiseScale float64 // noise std = NoiseScale * std(W)
	BiasNoise  bool
	Against    string
	Output     string
	Cumulative bool // reference-notebook bug: noise accumulates across trials and layers
	NoCache    bool // recompute every layer from the embeddings (slow path)
	Seed       uint64
	Noise      string // NoisePCG (default) or NoisePhilox
	// MaxTokens bounds the tokens in one forward batch (several perturbed
	// copies are stacked into one batch up to this size); 0 = 8192.
	MaxTokens int
	Progress  func(done, total int)
}

// Importance is the disagreement of one module.
type Importance struct {
	Type   string
	Layer  int
	Mean   float64
	Std    float64 // population std over trials
	Trials []float64
}

// Validate checks options against a model.
func (o *SweepOptions) Validate(m *model.Model) error {
	if len(o.Modules) == 0 {
		return fmt.Errorf("no module types selected")
	}
	for _, t := range o.Modules {
		if model.ModuleIndex(t) < 0 {
			return fmt.Errorf("unknown module type %q (want one of %v)", t, model.ModuleTypes)
		}
	}
	if o.Trials < 1 {
		return fmt.Errorf("trials must be at least 1, got %d", o.Trials)
	}
	if !(o.NoiseScale > 0) || math.IsInf(o.NoiseScale, 0) {
		return fmt.Errorf("noise scale must be a positive number, got %v", o.NoiseScale)
	}
	if o.Against == "" {
		o.Against = AgainstCopies
	}
	if o.Against != AgainstCopies && o.Against != AgainstReference {
		return fmt.Errorf("unknown comparison %q (want copies or reference)", o.Against)
	}
	if o.Cumulative && o.Against != AgainstReference {
		return fmt.Errorf("--cumulative reproduces the reference notebook, which compares against the unperturbed model: use it with --against reference")
	}
	if o.Output == "" {
		o.Output = OutputPooled
	}
	switch o.Output {
	case OutputPooled, OutputCLS:
	case OutputMLM:
		if !m.Cfg.HasMLM {
			return fmt.Errorf("--output mlm needs a checkpoint with a masked-LM head; this model has none")
		}
	default:
		return fmt.Errorf("unknown output %q (want pooled, cls or mlm)", o.Output)
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 8192
	}
	switch o.Noise {
	case "":
		o.Noise = NoisePCG
	case NoisePCG:
	case NoisePhilox:
		if o.Cumulative {
			return fmt.Errorf("--cumulative draws its noise from the reference notebook's PCG streams: use --rng pcg")
		}
	default:
		return fmt.Errorf("unknown noise generator %q (want pcg or philox)", o.Noise)
	}
	return nil
}

// NoiseRNG gives the noise stream of one (module, layer, trial, copy), so the
// noise does not depend on batching, caching, thread count or device.
func NoiseRNG(seed uint64, typ string, layer, trial, copyIdx int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, NoiseStream(typ, layer, trial, copyIdx)))
}

// PopStd is the population standard deviation of x (float64 accumulation).
func PopStd(x []float32) float64 {
	if len(x) == 0 {
		return 0
	}
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mean := s / float64(len(x))
	var q float64
	for _, v := range x {
		d := float64(v) - mean
		q += d * d
	}
	return math.Sqrt(q / float64(len(x)))
}

// perturbed writes w + N(0, (scale·std(w))²) drawn from rng into dst.
func perturbed(dst, w []float32, scale float64, rng *rand.Rand) {
	PerturbWith(dst, w, scale*PopStd(w), rng)
}

// PerturbWith writes w + N(0, sd²) drawn from rng into dst (dst may be w).
func PerturbWith(dst, w []float32, sd float64, rng *rand.Rand) {
	for i, v := range w {
		dst[i] = v + float32(rng.NormFloat64()*sd)
	}
}

// copies is the number of perturbed forward passes per trial.
func (o *SweepOptions) copies() int {
	if o.Against == AgainstCopies {
		return 2
	}
	return 1
}

// Sweep measures every selected module's importance on the probe batch.
// Results are ordered by module type (as in o.Modules), then layer.
func Sweep(m *model.Model, probes model.Batch, o SweepOptions) ([]Importance, error) {
	if err := o.Validate(m); err != nil {
		return nil, err
	}
	if err := m.Validate(probes); err != nil {
		return nil, err
	}
	if o.Cumulative {
		return sweepCumulative(m, probes, o)
	}
	s := newSweeper(m, probes, o)
	total := len(o.Modules) * m.Cfg.Layers * o.Trials
	done := 0
	var out []Importance
	for _, typ := range o.Modules {
		for l := 0; l < m.Cfg.Layers; l++ {
			imp := Importance{Type: typ, Layer: l}
			for tr := 0; tr < o.Trials; tr += s.group {
				trs := make([]int, s.group)
				for i := range trs {
					trs[i] = tr + i
				}
				imp.Trials = append(imp.Trials, s.trials(typ, l, trs)...)
				done += len(trs)
				if o.Progress != nil {
					o.Progress(done, total)
				}
			}
			imp.Mean, imp.Std = MeanStd(imp.Trials)
			out = append(out, imp)
		}
	}
	return out, nil
}

// MeanStd is the mean and population standard deviation of x.
func MeanStd(x []float64) (float64, float64) {
	var s float64
	for _, v := range x {
		s += v
	}
	mean := s / float64(len(x))
	var q float64
	for _, v := range x {
		q += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(q / float64(len(x)))
}

type sweeper struct {
	m      *model.Model
	o      SweepOptions
	chunks []*chunk
	group  int // trials stacked into one forward batch (divides o.Trials)
}

// chunk is a slice of the probe batch small enough for one stacked forward.
type chunk struct {
	probes model.Batch
	ref    []float32   // unperturbed output
	cache  [][]float32 // input of each layer
	ws     *model.Workspace
	big    model.Batch // probes repeated copies()·group times
}

func newSweeper(m *model.Model, probes model.Batch, o SweepOptions) *sweeper {
	s := &sweeper{m: m, o: o, group: 1}
	k := o.copies()
	if !o.NoCache {
		// Stack as many trials as fit, using a divisor of Trials so every pass is full.
		for g := o.Trials; g > 1; g-- {
			if o.Trials%g == 0 && g*k*probes.B*probes.T <= o.MaxTokens {
				s.group = g
				break
			}
		}
	}
	per := max(1, o.MaxTokens/(k*s.group*probes.T)) // sequences per chunk
	for lo := 0; lo < probes.B; lo += per {
		hi := min(probes.B, lo+per)
		s.chunks = append(s.chunks, s.newChunk(probes.Slice(lo, hi)))
	}
	return s
}

func (s *sweeper) newChunk(probes model.Batch) *chunk {
	m := s.m
	c := &chunk{probes: probes}
	ws := m.NewWorkspace(probes.B, probes.T, false, nil)
	m.Embed(ws, probes, model.FwdOpts{})
	c.cache = make([][]float32, m.Cfg.Layers)
	for l := 0; l < m.Cfg.Layers; l++ {
		c.cache[l] = append([]float32(nil), ws.LayerInput(l)...)
		m.Layer(ws, l, nil, model.FwdOpts{})
	}
	c.ref = s.output(ws, probes)
	if !s.o.NoCache {
		c.big = probes.Repeat(s.o.copies() * s.group)
		c.ws = m.NewWorkspace(c.big.B, c.big.T, false, nil)
		m.Embed(c.ws, c.big, model.FwdOpts{}) // sets masks and positions for the stacked batch
	}
	return c
}

// output extracts the compared output of every sequence of the workspace.
func (s *sweeper) output(ws *model.Workspace, b model.Batch) []float32 {
	switch s.o.Output {
	case OutputCLS:
		return s.m.CLS(ws)
	case OutputMLM:
		var rows []int32
		for i := 0; i < b.B*b.T; i++ {
			if b.Mask == nil || b.Mask[i] != 0 {
				rows = append(rows, int32(i))
			}
		}
		logits, _ := s.m.MLMLogits(ws, rows)
		return logits
	}
	return append([]float32(nil), s.m.Pool(ws)...)
}

// trials runs the perturbed copies of several trials of one module and
// returns each trial's disagreement: the mean absolute difference over every
// probe and output dimension. Copy c of trial trs[i] is batch segment i·k+c.
func (s *sweeper) trials(typ string, l int, trs []int) []float64 {
	m := s.m
	w, b, _, _, _ := m.P.Layers[l].Linear(typ)
	k := s.o.copies()
	var pw, pb [][]float32
	for _, tr := range trs {
		for c := 0; c < k; c++ {
			w1 := make([]float32, len(w))
			b1 := append([]float32(nil), b...)
			if s.o.Noise == NoisePhilox {
				stream := NoiseStream(typ, l, tr, c)
				PerturbPhilox(w1, w, s.o.NoiseScale*PopStd(w), s.o.Seed, stream, 0)
				if s.o.BiasNoise {
					PerturbPhilox(b1, b, s.o.NoiseScale*PopStd(b), s.o.Seed, stream, 1)
				}
			} else {
				rng := NoiseRNG(s.o.Seed, typ, l, tr, c)
				perturbed(w1, w, s.o.NoiseScale, rng)
				if s.o.BiasNoise {
					perturbed(b1, b, s.o.NoiseScale, rng)
				}
			}
			pw, pb = append(pw, w1), append(pb, b1)
		}
	}
	nseg := len(pw)
	sums := make([]float64, len(trs))
	count := 0
	for _, ch := range s.chunks {
		var outs []float32
		if s.o.NoCache {
			// Slow path: perturb the weights in place and run everything from the embeddings.
			ws := m.NewWorkspace(ch.probes.B, ch.probes.T, false, nil)
			w0, b0 := append([]float32(nil), w...), append([]float32(nil), b...)
			for c := 0; c < nseg; c++ {
				copy(w, pw[c])
				copy(b, pb[c])
				m.Encode(ws, ch.probes, nil, model.FwdOpts{})
				outs = append(outs, s.output(ws, ch.probes)...)
			}
			copy(w, w0)
			copy(b, b0)
		} else {
			in := ch.ws.LayerInput(l)
			n := len(ch.cache[l])
			for c := 0; c < nseg; c++ {
				copy(in[c*n:(c+1)*n], ch.cache[l])
			}
			ov := &model.Override{Layer: l, Type: typ, SegRows: ch.probes.B * ch.probes.T, W: pw, Bias: pb}
			m.RunLayers(ch.ws, l, nil, model.FwdOpts{Override: ov})
			outs = s.output(ch.ws, ch.big)
		}
		seg := len(outs) / nseg
		for i := range trs {
			a := outs[i*k*seg : (i*k+1)*seg]
			ref := ch.ref
			if k == 2 {
				ref = outs[(i*k+1)*seg : (i*k+2)*seg]
			}
			sums[i] += sumAbsDiff(a, ref)
		}
		count += seg
	}
	for i := range sums {
		sums[i] /= float64(count)
	}
	return sums
}

func sumAbsDiff(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s
}

func meanAbsDiff(a, b []float32) float64 { return sumAbsDiff(a, b) / float64(len(a)) }

// sweepCumulative reproduces the reference notebook: its restore step is a
// no-op, so every trial perturbs the already-perturbed weights (std of the
// current tensor) and noise accumulates over trials and layers within one
// module type. Pristine weights are restored between module types.
func sweepCumulative(m *model.Model, probes model.Batch, o SweepOptions) ([]Importance, error) {
	pristine := append([]float32(nil), m.P.Data...)
	defer copy(m.P.Data, pristine)
	ws := m.NewWorkspace(probes.B, probes.T, false, nil)
	s := &sweeper{m: m, o: o}
	m.Encode(ws, probes, nil, model.FwdOpts{})
	ref := s.output(ws, probes)
	total := len(o.Modules) * m.Cfg.Layers * o.Trials
	done := 0
	var out []Importance
	for _, typ := range o.Modules {
		copy(m.P.Data, pristine)
		for l := 0; l < m.Cfg.Layers; l++ {
			imp := Importance{Type: typ, Layer: l}
			w, b, _, _, _ := m.P.Layers[l].Linear(typ)
			for tr := 0; tr < o.Trials; tr++ {
				rng := NoiseRNG(o.Seed, typ, l, tr, 0)
				perturbed(w, w, o.NoiseScale, rng)
				if o.BiasNoise {
					perturbed(b, b, o.NoiseScale, rng)
				}
				m.Encode(ws, probes, nil, model.FwdOpts{})
				imp.Trials = append(imp.Trials, meanAbsDiff(s.output(ws, probes), ref))
				done++
				if o.Progress != nil {
					o.Progress(done, total)
				}
			}
			imp.Mean, imp.Std = MeanStd(imp.Trials)
			out = append(out, imp)
		}
	}
	return out, nil
}
