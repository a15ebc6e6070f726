package gpu

import (
	"fmt"
	"io"
	"sort"

	"github.com/adarank/adarank/internal/cuda"
	"github.com/adarank/adarank/internal/model"
)

// stamp is a point on the GPU's work stream (a CUDA event).
type stamp interface {
	Record() error
	Free()
}

// stampSource makes stamps and measures between two recorded ones.
type stampSource interface {
	NewStamp() (stamp, error)
	Elapsed(start, end stamp) (float32, error) // waits for end
}

type cudaStamps struct{ d *cuda.Device }

func (c cudaStamps) NewStamp() (stamp, error) { return c.d.NewEvent() }

func (c cudaStamps) Elapsed(start, end stamp) (float32, error) {
	return end.(*cuda.Event).Since(start.(*cuda.Event))
}

// OpStat is the GPU time of one kind of operation.
type OpStat struct {
	Name  string
	Calls int
	Ms    float64
}

// Profiler measures the GPU time of every kernel launch, GEMM, fill and
// copy of the models uploaded with it (an event before and after each),
// summed per kernel name. It finds hot spots; the events add some
// overhead, so time whole steps without it.
type Profiler struct {
	src     stampSource
	pending []pendingOp
	spare   []stamp
	stats   map[string]*OpStat
}

type pendingOp struct {
	name       string
	start, end stamp
}

// NewProfiler returns a profiler for work on d.
func NewProfiler(d *cuda.Device) *Profiler { return newProfiler(cudaStamps{d}) }

func newProfiler(src stampSource) *Profiler {
	return &Profiler{src: src, stats: map[string]*OpStat{}}
}

func (p *Profiler) get() (stamp, error) {
	if n := len(p.spare); n > 0 {
		s := p.spare[n-1]
		p.spare = p.spare[:n-1]
		return s, nil
	}
	return p.src.NewStamp()
}

// time runs op between two recorded stamps, to be resolved by Flush.
func (p *Profiler) time(name string, op func() error) error {
	start, err := p.get()
	if err != nil {
		return err
	}
	end, err := p.get()
	if err != nil {
		return err
	}
	if err := start.Record(); err != nil {
		return err
	}
	if err := op(); err != nil {
		return err
	}
	if err := end.Record(); err != nil {
		return err
	}
	p.pending = append(p.pending, pendingOp{name, start, end})
	if len(p.pending) >= 4096 {
		return p.Flush()
	}
	return nil
}

// Flush waits for the timed work and adds it to the totals.
func (p *Profiler) Flush() error {
	for _, op := range p.pending {
		ms, err := p.src.Elapsed(op.start, op.end)
		if err != nil {
			return err
		}
		s := p.stats[op.name]
		if s == nil {
			s = &OpStat{Name: op.name}
			p.stats[op.name] = s
		}
		s.Calls++
		s.Ms += float64(ms)
		p.spare = append(p.spare, op.start, op.end)
	}
	p.pending = p.pending[:0]
	return nil
}

// Reset clears the totals (after a warm-up).
func (p *Profiler) Reset() error {
	if err := p.Flush(); err != nil {
		return err
	}
	p.stats = map[string]*OpStat{}
	return nil
}

// Stats returns the totals, largest first.
func (p *Profiler) Stats() ([]OpStat, error) {
	if err := p.Flush(); err != nil {
		return nil, err
	}
	out := make([]OpStat, 0, len(p.stats))
	for _, s := range p.stats {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Ms > out[j].Ms || out[i].Ms == out[j].Ms && out[i].Name < out[j].Name
	})
	return out, nil
}

// Report prints the totals per step (steps ≥ 1) with each op's share of
// the GPU time, and the GPU busy time against wallMs, the measured wall
// time per step (0: not shown).
func (p *Profiler) Report(w io.Writer, steps int, wallMs float64) error {
	st, err := p.Stats()
	if err != nil {
		return err
	}
	var total float64
	for _, s := range st {
		total += s.Ms
	}
	n := float64(max(steps, 1))
	fmt.Fprintf(w, "%-22s %8s %10s %7s\n", "op", "calls", "ms/step", "share")
	for _, s := range st {
		fmt.Fprintf(w, "%-22s %8.0f %10.3f %6.1f%%\n", s.Name, float64(s.Calls)/n, s.Ms/n, 100*s.Ms/max(total, 1e-12))
	}
	fmt.Fprintf(w, "%-22s %8s %10.3f\n", "GPU busy", "", total/n)
	if wallMs > 0 {
		fmt.Fprintf(w, "%-22s %8s %10.3f (GPU busy %.0f%% of it)\n", "wall time (unprofiled)", "", wallMs, 100*total/n/wallMs)
	}
	return nil
}

// Free releases the events.
func (p *Profiler) Free() {
	p.Flush()
	for _, s := range p.spare {
		s.Free()
	}
	p.spare = nil
}

// profDevice times every queued operation of a device with a Profiler.
type profDevice struct {
	device
	p *Profiler
}

func (d *profDevice) Launch(f *cuda.Function, grid, block cuda.Dim3, shmem int, args ...any) error {
	return d.p.time(f.Sig.Name, func() error { return d.device.Launch(f, grid, block, shmem, args...) })
}

func (d *profDevice) Gemm(tA, tB bool, M, N, K int, alpha float32, A cuda.DevPtr, lda int, B cuda.DevPtr, ldb int, beta float32, C cuda.DevPtr, ldc int) error {
	name := "gemm"
	if min(M, N, K) <= 64 {
		name = "gemm_thin" // a rank-sized dimension: LoRA factors, pooler / head rows
	}
	return d.p.time(name, func() error { return d.device.Gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) })
}

func (d *profDevice) GemmStridedBatched(tA, tB bool, M, N, K int, alpha float32, A cuda.DevPtr, lda, strideA int, B cuda.DevPtr, ldb, strideB int,
	beta float32, C cuda.DevPtr, ldc, strideC, batch int) error {
	return d.p.time("gemm_batched", func() error {
		return d.device.GemmStridedBatched(tA, tB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC, batch)
	})
}

func (d *profDevice) Fill32(dst cuda.DevPtr, v uint32, n int) error {
	return d.p.time("fill", func() error { return d.device.Fill32(dst, v, n) })
}

func (d *profDevice) Copy(dst, src cuda.DevPtr, n int) error {
	return d.p.time("copy", func() error { return d.device.Copy(dst, src, n) })
}

// UploadProfiled is Upload with every operation of the model (and of its
// trainers) timed by p.
func UploadProfiled(d *cuda.Device, m *model.Model, p *Profiler) (*Model, error) {
	return Upload(&profDevice{device: d, p: p}, m)
}
