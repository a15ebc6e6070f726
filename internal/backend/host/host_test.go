package host

import "testing"

func TestCatchesOverruns(t *testing.T) {
	h := New()
	a, _ := h.AllocF32("a", 10)
	b, _ := h.AllocF32("b", 10)
	h.f32(a.Ptr, 10)
	h.f32(b.Ptr.Add(5), 5)
	for _, bad := range []func(){
		func() { h.f32(a.Ptr, 11) },
		func() { h.f32(b.Ptr.Add(5), 6) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("overrun not caught")
				}
			}()
			bad()
		}()
	}
}

// At the backend's methods an overrun is an error, not a panic.
func TestOverrunIsAnError(t *testing.T) {
	h := New()
	a, _ := h.AllocF32("a", 10)
	b, _ := h.AllocF32("b", 10)
	if err := h.Gemm(false, false, 3, 4, 2, 1, a.Ptr, 2, b.Ptr, 4, 0, a.Ptr, 4); err == nil { // C needs 12 floats
		t.Error("GEMM overrun not reported")
	}
	if err := h.Copy(a.Ptr, b.Ptr.Add(5), 6); err == nil {
		t.Error("copy overrun not reported")
	}
	if err := h.Gemm(false, false, 2, 2, 2, 1, a.Ptr, 2, b.Ptr, 2, 0, a.Ptr.Add(4), 2); err != nil {
		t.Errorf("GEMM inside its buffers: %v", err)
	}
}
