package cuda

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// On a machine without an NVIDIA driver or GPU (CI, this workstation), Open
// must return one clear error and not panic. With a GPU it must succeed.
func TestOpenWithoutGPU(t *testing.T) {
	d, err := Open(0)
	if err == nil {
		defer d.Close()
		t.Logf("a GPU is present: %s", d)
		if d.Name == "" || d.Major < 5 || d.TotalMem == 0 {
			t.Errorf("implausible device info: %s", d)
		}
		return
	}
	msg := err.Error()
	t.Logf("Open(0): %s", msg)
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans several lines: %q", msg)
	}
	if !strings.Contains(msg, "driver") && !strings.Contains(msg, "GPU") {
		t.Errorf("error does not say what is missing: %q", msg)
	}
	// A second call gives the same answer (the libraries are probed once).
	if _, err2 := Open(0); err2 == nil || err2.Error() != msg {
		t.Errorf("second Open: %v", err2)
	}
}

func TestOpenNegativeOrdinal(t *testing.T) {
	if _, err := Open(-1); err == nil {
		t.Fatal("Open(-1) succeeded")
	}
}

// colMajorHost runs a column-major SGEMM call on host memory (RunHost is
// the reference semantics of cublasSgemm).
func colMajorHost(g ColGemm, mem []float32, alpha, beta float32, batch int) {
	g.RunHost(mem, alpha, beta, batch)
}

// rowMajorRef is the row-major product the wrappers promise.
func rowMajorRef(tA, tB bool, M, N, K int, alpha float32, A []float32, lda int, B []float32, ldb int, beta float32, C []float32, ldc int) {
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s float64
			for l := 0; l < K; l++ {
				var x, y float32
				if tA {
					x = A[l*lda+i]
				} else {
					x = A[i*lda+l]
				}
				if tB {
					y = B[j*ldb+l]
				} else {
					y = B[l*ldb+j]
				}
				s += float64(x) * float64(y)
			}
			C[i*ldc+j] = alpha*float32(s) + beta*C[i*ldc+j]
		}
	}
}

func TestRowMajorGemmMapping(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			for trial := 0; trial < 5; trial++ {
				M, N, K := 1+rng.IntN(7), 1+rng.IntN(7), 1+rng.IntN(7)
				rowsA, colsA := M, K
				if tA {
					rowsA, colsA = K, M
				}
				rowsB, colsB := K, N
				if tB {
					rowsB, colsB = N, K
				}
				lda, ldb, ldc := colsA+rng.IntN(3), colsB+rng.IntN(3), N+rng.IntN(3)
				batch := 1 + rng.IntN(3)
				sA, sB, sC := rowsA*lda+rng.IntN(4), rowsB*ldb+rng.IntN(4), M*ldc+rng.IntN(4)
				// Lay A, B, C out in one "device" memory, C last.
				offA, offB := 3, 3+batch*sA+5
				offC := offB + batch*sB + 7
				mem := make([]float32, offC+batch*sC+2)
				for i := range mem {
					mem[i] = float32(rng.NormFloat64())
				}
				want := append([]float32(nil), mem...)
				alpha, beta := float32(0.5+rng.Float64()), float32(rng.Float64())
				for bi := 0; bi < batch; bi++ {
					rowMajorRef(tA, tB, M, N, K, alpha, want[offA+bi*sA:], lda, want[offB+bi*sB:], ldb, beta, want[offC+bi*sC:], ldc)
				}
				ptr := func(off int) DevPtr { return DevPtr(4 * off) }
				if err := checkRowMajor(tA, tB, M, N, K, lda, ldb, ldc); err != nil {
					t.Fatal(err)
				}
				got := append([]float32(nil), mem...)
				g := RowMajorGemmStrided(tA, tB, M, N, K, ptr(offA), lda, sA, ptr(offB), ldb, sB, ptr(offC), ldc, sC)
				colMajorHost(g, got, alpha, beta, batch)
				for i := range want {
					if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("tA %v tB %v %dx%dx%d batch %d: element %d: got %g want %g", tA, tB, M, N, K, batch, i, got[i], want[i])
					}
				}
				if batch == 1 {
					got = append(got[:0], mem...)
					colMajorHost(RowMajorGemm(tA, tB, M, N, K, ptr(offA), lda, ptr(offB), ldb, ptr(offC), ldc), got, alpha, beta, 1)
					for i := range want {
						if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
							t.Fatalf("unbatched tA %v tB %v: element %d differs", tA, tB, i)
						}
					}
				}
			}
		}
	}
}

func TestCheckRowMajor(t *testing.T) {
	if err := checkRowMajor(false, true, 4, 5, 6, 6, 6, 5); err != nil {
		t.Errorf("valid call rejected: %v", err)
	}
	if err := checkRowMajor(false, false, 4, 5, 6, 6, 4, 5); err == nil {
		t.Error("ldb < N accepted")
	}
	if err := checkRowMajor(true, false, 4, 5, 6, 3, 5, 5); err == nil {
		t.Error("lda < M with tA accepted")
	}
	if err := checkRowMajor(false, false, -1, 5, 6, 6, 5, 5); err == nil {
		t.Error("negative M accepted")
	}
}

const testSrc = `
// a comment with a brace {
extern "C" __global__ void k1(float* __restrict__ out, const float* in, int n, float s, long long big, double d) {
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n) { out[i] = in[i] * s; }
}
extern "C" __global__ void __launch_bounds__(256) k2(const int* ids, unsigned m) { /* } */ }
`

func TestParseKernels(t *testing.T) {
	sigs, err := ParseKernels(testSrc)
	if err != nil {
		t.Fatal(err)
	}
	k1 := sigs["k1"]
	want := []ParamKind{KPtr, KPtr, KInt, KFloat, KLong, KDouble}
	if len(k1.Params) != len(want) {
		t.Fatalf("k1 params %v", k1.Params)
	}
	for i := range want {
		if k1.Params[i] != want[i] {
			t.Errorf("k1 param %d: %v want %v", i, k1.Params[i], want[i])
		}
	}
	if k2 := sigs["k2"]; len(k2.Params) != 2 || k2.Params[0] != KPtr || k2.Params[1] != KInt {
		t.Errorf("k2 params %v", k2.Params)
	}
	for _, bad := range []string{
		`extern "C" __global__ void k(float* a) { if (1) { }`,
		`extern "C" __global__ void k(float* a) { a[0] = 1; ) }`,
		`extern "C" __global__ void k(half h) {}`,
		`__global__ void notExported(float* a) {}`,
	} {
		if _, err := ParseKernels(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestPackArgs(t *testing.T) {
	sigs, _ := ParseKernels(testSrc)
	k1 := sigs["k1"]
	slots := make([]uint64, maxKernelArgs)
	buf := &Buffer{Ptr: 0x1000}
	if err := PackArgs(k1, []any{DevPtr(0x2000), buf, 7, float32(1.5), int64(-3), 2.5}, slots); err != nil {
		t.Fatal(err)
	}
	if slots[0] != 0x2000 || slots[1] != 0x1000 || slots[2] != 7 || slots[3] != uint64(math.Float32bits(1.5)) ||
		int64(slots[4]) != -3 || slots[5] != math.Float64bits(2.5) {
		t.Errorf("slots %x", slots[:6])
	}
	if err := PackArgs(k1, []any{DevPtr(1), buf, -2, float32(1), 1, 1.0}, slots); err != nil || uint32(slots[2]) != uint32(0xfffffffe) {
		t.Errorf("negative int: %v %x", err, slots[2])
	}
	for _, bad := range [][]any{
		{DevPtr(1), buf, 7, float32(1.5), int64(1)},            // too few
		{DevPtr(1), buf, 7, 1.5, int64(1), 2.5},                // float64 for float
		{DevPtr(1), 3, 7, float32(1.5), int64(1), 2.5},         // int for pointer
		{DevPtr(1), buf, 1 << 40, float32(1.5), int64(1), 2.5}, // int overflow
		{DevPtr(1), (*Buffer)(nil), 7, float32(1), int64(1), 2.5},
	} {
		if err := PackArgs(k1, bad, slots); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
}
