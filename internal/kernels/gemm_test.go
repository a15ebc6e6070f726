package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
)

// refGemm computes the float64 result and, per element, the magnitude
// Σ|alpha·a·b| + |beta·c| that bounds float32 rounding error.
func refGemm(g *gemmArgs) (want, mag []float64) {
	want = make([]float64, g.m*g.n)
	mag = make([]float64, g.m*g.n)
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s, sa float64
			for p := 0; p < g.k; p++ {
				var av, bv float64
				if g.transA {
					av = float64(g.a[p*g.lda+i])
				} else {
					av = float64(g.a[i*g.lda+p])
				}
				if g.transB {
					bv = float64(g.b[j*g.ldb+p])
				} else {
					bv = float64(g.b[p*g.ldb+j])
				}
				s += av * bv
				sa += math.Abs(av * bv)
			}
			cv := float64(g.c[i*g.ldc+j])
			w := float64(g.alpha) * s
			mg := math.Abs(float64(g.alpha)) * sa
			if g.beta != 0 {
				w += float64(g.beta) * cv
				mg += math.Abs(float64(g.beta) * cv)
			}
			want[i*g.n+j] = w
			mag[i*g.n+j] = mg
		}
	}
	return want, mag
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// newCase builds random operands with the given leading-dimension padding;
// the padding of C is filled with a sentinel that must survive.
func newCase(r *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32) *gemmArgs {
	g := &gemmArgs{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	g.lda, g.ldb, g.ldc = ac+pad, bc+pad, n+pad
	g.a = randSlice(r, max(ar*g.lda, 1))
	g.b = randSlice(r, max(br*g.ldb, 1))
	g.c = randSlice(r, m*g.ldc+pad)
	for i := 0; i < m; i++ {
		for j := n; j < g.ldc; j++ {
			g.c[i*g.ldc+j] = sentinel
		}
	}
	for j := m * g.ldc; j < len(g.c); j++ {
		g.c[j] = sentinel
	}
	return g
}

const sentinel = 1234.5

func checkResult(t *testing.T, name string, g *gemmArgs, got []float32, want, mag []float64) {
	t.Helper()
	eps := math.Pow(2, -24)
	bad := 0
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.ldc; j++ {
			v := float64(got[i*g.ldc+j])
			if j >= g.n {
				if v != sentinel {
					t.Fatalf("%s: wrote outside C at (%d,%d): %v", name, i, j, v)
				}
				continue
			}
			w := want[i*g.n+j]
			tol := 2*float64(g.k+4)*eps*mag[i*g.n+j] + 1e-30
			if math.Abs(v-w) > tol || math.IsNaN(v) {
				if bad < 5 {
					t.Errorf("%s: C(%d,%d) = %v, want %v (tol %.3g)", name, i, j, v, w, tol)
				}
				bad++
			}
		}
	}
	for j := g.m * g.ldc; j < len(got); j++ {
		if got[j] != sentinel {
			t.Fatalf("%s: wrote past C at %d", name, j)
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d wrong elements", name, bad)
	}
}

func withImpl(im *gemmImpl, f func()) {
	old := useImpl
	useImpl = im
	defer func() { useImpl = old }()
	f()
}

func TestGemmRandomShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{
		{1, 1, 1}, {1, 33, 7}, {13, 1, 5}, {14, 32, 1}, {15, 33, 17}, {7, 5, 3},
		{29, 65, 385}, {64, 64, 64}, {50, 100, 30}, {3, 200, 9}, {200, 3, 9},
		{100, 17, 400}, {17, 100, 769}, {129, 47, 130},
	}
	alphas := []float32{1, -0.5, 2}
	betas := []float32{0, 1, 0.25}
	for _, im := range availableImpls() {
		for si, s := range shapes {
			for tc := 0; tc < 4; tc++ {
				tA, tB := tc&1 != 0, tc&2 != 0
				pad := (si + tc) % 3 * 5
				alpha, beta := alphas[(si+tc)%3], betas[(si+2*tc)%3]
				g := newCase(r, tA, tB, s[0], s[1], s[2], pad, alpha, beta)
				want, mag := refGemm(g)
				name := fmt.Sprintf("%s %dx%dx%d tA=%v tB=%v pad=%d alpha=%v beta=%v", im.name, s[0], s[1], s[2], tA, tB, pad, alpha, beta)
				withImpl(im, func() {
					Gemm(tA, tB, g.m, g.n, g.k, alpha, g.a, g.lda, g.b, g.ldb, beta, g.c, g.ldc)
				})
				checkResult(t, name, g, g.c, want, mag)
			}
		}
	}
}

// Random sizes around the block and tile edges.
func TestGemmFuzzSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, im := range availableImpls() {
		for it := 0; it < 40; it++ {
			m, n, k := 1+r.IntN(70), 1+r.IntN(100), 1+r.IntN(50)
			if it%8 == 0 {
				k = 380 + r.IntN(20)
			}
			tA, tB := r.IntN(2) == 1, r.IntN(2) == 1
			g := newCase(r, tA, tB, m, n, k, r.IntN(3), float32(r.NormFloat64()), []float32{0, 1, -1.5}[r.IntN(3)])
			want, mag := refGemm(g)
			withImpl(im, func() {
				Gemm(tA, tB, m, n, k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc)
			})
			checkResult(t, fmt.Sprintf("%s it%d %dx%dx%d tA=%v tB=%v", im.name, it, m, n, k, tA, tB), g, g.c, want, mag)
		}
	}
}

// Large enough for several k blocks, M blocks and threads.
func TestGemmLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, im := range availableImpls()[:1] {
		for tc := 0; tc < 4; tc++ {
			tA, tB := tc&1 != 0, tc&2 != 0
			g := newCase(r, tA, tB, 1030, 70, 800, 3, 1, 0.5)
			want, mag := refGemm(g)
			withImpl(im, func() {
				Gemm(tA, tB, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc)
			})
			checkResult(t, fmt.Sprintf("%s large tA=%v tB=%v", im.name, tA, tB), g, g.c, want, mag)
		}
	}
}

// The result must not depend on the thread count (nor, for the assembly
// paths, on AVX-512 vs AVX2: same FMA sequence, same k blocks).
func TestGemmDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range [][3]int{{300, 500, 900}, {1000, 20, 400}, {77, 1000, 33}} {
		for tc := 0; tc < 4; tc++ {
			tA, tB := tc&1 != 0, tc&2 != 0
			g := newCase(r, tA, tB, s[0], s[1], s[2], 1, 0.7, 0.3)
			c0 := append([]float32(nil), g.c...)
			var ref []float32
			var refName string
			for _, im := range availableImpls() {
				for _, th := range []int{1, 2, 3, 5} {
					c := append([]float32(nil), c0...)
					prev := SetMaxThreads(th)
					// With 3 threads, also pack A in several row chunks.
					prevCap := aPackCap
					if th == 3 {
						aPackCap = 40000
					}
					withImpl(im, func() {
						Gemm(tA, tB, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, c, g.ldc)
					})
					aPackCap = prevCap
					SetMaxThreads(prev)
					name := fmt.Sprintf("%s threads=%d", im.name, th)
					if ref == nil || im == genericImpl && th == 1 {
						ref, refName = c, name
						continue
					}
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(ref[i]) {
							t.Fatalf("%v tA=%v tB=%v: %s differs from %s at %d: %v vs %v", s, tA, tB, name, refName, i, c[i], ref[i])
						}
					}
				}
			}
		}
	}
}

func TestGemmSpecialValues(t *testing.T) {
	for _, im := range availableImpls() {
		withImpl(im, func() {
			// beta == 0 overwrites NaN; k == 0 scales C by beta; alpha == 0 too.
			a := []float32{1, 2, 3, 4}
			b := []float32{1, 0, 0, 1}
			c := []float32{float32(math.NaN()), float32(math.Inf(1)), 1, 2}
			Gemm(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2)
			if c[0] != 1 || c[1] != 2 || c[2] != 3 || c[3] != 4 {
				t.Fatalf("%s: beta=0: got %v", im.name, c)
			}
			Gemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 2, c, 2)
			if c[0] != 2 || c[3] != 8 {
				t.Fatalf("%s: k=0: got %v", im.name, c)
			}
			Gemm(false, false, 2, 2, 2, 0, a, 2, b, 2, 0, c, 2)
			if c[0] != 0 || c[3] != 0 {
				t.Fatalf("%s: alpha=0 beta=0: got %v", im.name, c)
			}
		})
	}
}

func TestGemmPanicsOnBadArgs(t *testing.T) {
	cases := []func(){
		func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() {
			Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		},
		func() { Gemm(false, false, -1, 2, 2, 1, nil, 2, nil, 2, 0, nil, 2) },
		func() {
			GemmStrided(false, false, 2, 2, 2, 1, make([]float32, 8), 2, 4, make([]float32, 8), 2, 4, 0, make([]float32, 7), 2, 4, 2)
		},
	}
	for i, f := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("case %d: no panic", i)
				}
			}()
			f()
		}()
	}
}

func TestGemmStrided(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	eps := math.Pow(2, -24)
	// Attention layout: H heads side by side in [T, H*d] rows, so the
	// matrices interleave (stride d, ld H*d); C likewise ([m, H*n]).
	const heads, T, d = 5, 19, 12
	ld := heads * d
	shapes := [4][3]int{
		{T, d, d}, // q_h · (first d rows of k_h)
		{d, d, T}, // q_hᵀ · k_h
		{T, T, d}, // q_h · k_hᵀ
		{d, T, d}, // (first d rows of q_h)ᵀ · k_hᵀ
	}
	for _, im := range availableImpls() {
		for tc := 0; tc < 4; tc++ {
			tA, tB := tc&1 != 0, tc&2 != 0
			m, n, k := shapes[tc][0], shapes[tc][1], shapes[tc][2]
			q := randSlice(r, T*ld)
			kk := randSlice(r, T*ld)
			ldc := heads * n
			c := randSlice(r, m*ldc)
			c0 := append([]float32(nil), c...)
			withImpl(im, func() {
				GemmStrided(tA, tB, m, n, k, 1.5, q, ld, d, kk, ld, d, 0.5, c, ldc, n, heads)
			})
			for h := 0; h < heads; h++ {
				g := &gemmArgs{transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1.5, beta: 0.5,
					a: q[h*d:], lda: ld, b: kk[h*d:], ldb: ld, c: c0[h*n:], ldc: ldc}
				want, mag := refGemm(g)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						v := float64(c[h*n+i*ldc+j])
						if math.Abs(v-want[i*n+j]) > 2*float64(k+4)*eps*mag[i*n+j] {
							t.Fatalf("%s combo %d head %d (%d,%d): %v want %v", im.name, tc, h, i, j, v, want[i*n+j])
						}
					}
				}
			}
		}
	}
	// Disjoint matrices: strided must equal a loop of Gemm bit for bit.
	for _, im := range availableImpls() {
		for tc := 0; tc < 4; tc++ {
			tA, tB := tc&1 != 0, tc&2 != 0
			const batch, m, n, k = 9, 37, 45, 23
			g := newCase(r, tA, tB, m, n, k, 2, 1.5, 0.5)
			sa, sb, sc := len(g.a)+3, len(g.b)+1, len(g.c)
			a := randSlice(r, batch*sa)
			b := randSlice(r, batch*sb)
			c := randSlice(r, batch*sc)
			c2 := append([]float32(nil), c...)
			withImpl(im, func() {
				GemmStrided(tA, tB, m, n, k, 1.5, a, g.lda, sa, b, g.ldb, sb, 0.5, c, g.ldc, sc, batch)
				for i := 0; i < batch; i++ {
					Gemm(tA, tB, m, n, k, 1.5, a[i*sa:], g.lda, b[i*sb:], g.ldb, 0.5, c2[i*sc:], g.ldc)
				}
			})
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(c2[i]) {
					t.Fatalf("%s tA=%v tB=%v: strided differs from loop at %d", im.name, tA, tB, i)
				}
			}
		}
	}
}

// Packing buffers are pooled: a steady stream of calls allocates only small
// bookkeeping, not buffers. (sync.Pool keeps one item per P out of reach of
// the other Ps, so a call that migrated may still allocate: use the median.)
func TestGemmNoBigAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool keeps nothing reliably under the race detector")
	}
	r := rand.New(rand.NewPCG(15, 16))
	const m, n, k = 300, 200, 500
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	call := func() { Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) }
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // a GC empties the pools
	call()
	var per []uint64
	for i := 0; i < 21; i++ {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		call()
		runtime.ReadMemStats(&after)
		per = append(per, after.TotalAlloc-before.TotalAlloc)
	}
	slices.Sort(per)
	if med := per[len(per)/2]; med > 16<<10 {
		t.Fatalf("Gemm allocates %d bytes per call (median)", med)
	}
}
