package gpu

import (
	"github.com/adarank/adarank/internal/backend/host"
	"strings"
	"testing"
)

// tickStamps are fake events: every Record advances a clock by one tick.
type tickStamps struct{ clock *int }

type tickStamp struct {
	clock *int
	at    int
	freed *int
}

func (s *tickStamp) Record() error { *s.clock++; s.at = *s.clock; return nil }
func (s *tickStamp) Free()         { *s.freed++ }

func (t tickStamps) NewStamp() (stamp, error) {
	return &tickStamp{clock: t.clock, freed: new(int)}, nil
}
func (t tickStamps) Elapsed(a, b stamp) (float32, error) {
	return float32(b.(*tickStamp).at - a.(*tickStamp).at), nil
}

// The profiler times every kernel, GEMM, fill and copy of a training step
// exactly once, per name, and recycles its events.
func TestProfilerCountsEveryOperation(t *testing.T) {
	m := mlmModel(t, "gelu")
	hd := host.New()
	clock := 0
	p := newProfiler(tickStamps{&clock})
	g, err := Upload(&profDevice{device: hd, p: p}, m)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := g.NewTrainer(TrainConfig{MaxB: 2, T: 6, Full: true})
	if err != nil {
		t.Fatal(err)
	}
	// A copy, as the LoRA trainer's set-up makes (stacked QKV weights).
	if err := g.d.Copy(tr.grads.Ptr, tr.grads.Ptr.Add(1), 1); err != nil {
		t.Fatal(err)
	}
	seen := profiledCalls(t, p)
	if seen["fill"] == 0 || seen["copy"] == 0 {
		t.Errorf("set-up fills / copies not profiled: %v", seen)
	}
	if err := p.Reset(); err != nil { // forget the set-up fills
		t.Fatal(err)
	}
	for k := range hd.Launches {
		delete(hd.Launches, k)
	}
	b := testBatch(m, 2, 6, 3)
	rows, labels := mlmTargets(b, m.Cfg.Vocab)
	for step := 0; step < 2; step++ {
		if err := tr.Forward(b, true, uint64(step)); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.MLM(rows, labels, 1, true); err != nil {
			t.Fatal(err)
		}
	}
	got := profiledCalls(t, p)
	got["gemm"] += got["gemm_thin"] // the profiler splits GEMMs by shape
	for name, n := range hd.Launches {
		if got[name] != n {
			t.Errorf("%s: profiled %d calls, launched %d", name, got[name], n)
		}
	}
	if len(p.pending) != 0 || len(p.spare) == 0 {
		t.Errorf("events not recycled: %d pending, %d spare", len(p.pending), len(p.spare))
	}
	var sb strings.Builder
	if err := p.Report(&sb, 2, 10); err != nil || !strings.Contains(sb.String(), "ln_bwd") || !strings.Contains(sb.String(), "GPU busy") {
		t.Errorf("report: %v\n%s", err, sb.String())
	}
}

// profiledCalls is the profiler's call count per op name; with tickStamps
// every op must have taken one tick per call.
func profiledCalls(t *testing.T, p *Profiler) map[string]int {
	t.Helper()
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, s := range st {
		calls[s.Name] = s.Calls
		if s.Ms != float64(s.Calls) {
			t.Errorf("%s: %v ticks for %d calls", s.Name, s.Ms, s.Calls)
		}
	}
	return calls
}
