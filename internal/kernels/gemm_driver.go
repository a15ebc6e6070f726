package kernels

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// kcBlock is the depth of one k block, the same for every implementation and
// thread count: C elements are updated once per block, so this fixes the
// float32 summation order (and makes the AVX-512 and AVX2 paths agree bit for
// bit).
const kcBlock = 384

// gemmImpl is one micro-kernel with its blocking.
type gemmImpl struct {
	name   string
	mr, nr int // register tile
	nb     int // columns of op(B) packed per L2 block (multiple of nr)
	// kernel computes a tile of at most mr×nr as described in
	// _gen/main.go: C[i][j] = alpha*Σ_p a[i+p*as]·b[p*bs+j] + beta*C[i][j],
	// C[i][j] = c[i*ldc+j], i < rows, j < cols, p < kc (kc ≥ 1).
	kernel func(rows, cols, kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, alpha, beta float32)
	// kernelRowA, if set, has the same contract but reads A row-major in
	// place: A(i,p) = a[i*as+p].
	kernelRowA func(rows, cols, kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, alpha, beta float32)
	// maskedN: the kernel reads only cols columns of B and writes only cols
	// columns of C. Otherwise it needs nr readable B columns and the driver
	// passes column edges through a scratch tile.
	maskedN bool
}

// run computes g on t threads (t ≥ 1) with im.
func (g *gemmArgs) run(im *gemmImpl, t int) {
	if g.k == 0 || g.alpha == 0 {
		g.scaleC()
		return
	}
	nPanels := (g.n + im.nr - 1) / im.nr
	mPanels := (g.m + im.mr - 1) / im.mr
	if t > 1 && nPanels < 2*t && mPanels >= 2*nPanels {
		// Tall and thin: give each thread whole rows (its own A and B blocks).
		if t > mPanels {
			t = mPanels
		}
		parallel(t, func(w int) {
			r0 := mPanels * w / t * im.mr
			r1 := min(mPanels*(w+1)/t*im.mr, g.m)
			sub := *g
			sub.m = r1 - r0
			if g.transA {
				sub.a = g.a[r0:]
			} else {
				sub.a = g.a[r0*g.lda:]
			}
			sub.c = g.c[r0*g.ldc:]
			sub.blocked(im, 1)
		})
		return
	}
	if t > nPanels {
		t = nPanels
	}
	g.blocked(im, t)
}

// aPackCap bounds the packed copy of A (floats); a variable so tests can
// force the chunked path.
var aPackCap = 4 << 20

// blocked is the BLIS loop nest with the roles of A and B swapped for
// row-major C. Each thread walks its share of the columns: for each kc×nb
// block of op(B), packed into its own L2-resident buffer, it sweeps the mr-row
// micro-panels of op(A) (L1-resident while it runs through the nr-column
// micro-panels of B). op(A) is packed once for all threads (whole, or in
// chunks of rows up to aPackCap), panel by panel on first use (see readyA),
// so the threads do not wait for each other (but briefly for a panel
// another thread is packing) until the end of the chunk.
func (g *gemmArgs) blocked(im *gemmImpl, t int) {
	m, n, k := g.m, g.n, g.k
	mr, nr := im.mr, im.nr
	nPanels := (n + nr - 1) / nr

	// Operands already laid out as the kernel wants them are used in place
	// when they are small enough to stay in cache unpacked.
	small := m*k <= 128*1024 && k*n <= 128*1024
	rowA := !g.transA && small && im.kernelRowA != nil
	// op(A) is read in place when stored transposed (the packed layout with
	// stride lda) or, through kernelRowA, row-major.
	packA := !small || (!g.transA && !rowA)
	packB := g.transB || !small || (!im.maskedN && n%nr != 0)

	kb := min(kcBlock, k)
	// Rows of A per chunk (a multiple of mr), chunks of near-equal size.
	mAll := (m + mr - 1) / mr * mr
	mChunk := mAll
	if packA && mAll*k > aPackCap {
		chunks := (mAll*k + aPackCap - 1) / aPackCap
		mChunk = ((mAll+chunks-1)/chunks + mr - 1) / mr * mr
	}
	var abuf []float32
	var apool *[]float32
	if packA {
		apool, abuf = getBuf(mChunk * k)
		defer putBuf(apool)
	}
	// Columns per B block: near-equal blocks of at most im.nb per thread.
	colsPer := (nPanels + t - 1) / t * nr
	nbBlocks := (colsPer + im.nb - 1) / im.nb
	nb := ((colsPer+nbBlocks-1)/nbBlocks + nr - 1) / nr * nr
	bpools := make([]*[]float32, t)
	bbufs := make([][]float32, t)
	if packB {
		for w := range t {
			bpools[w], bbufs[w] = getBuf(nb * kb)
		}
		defer func() {
			for _, p := range bpools {
				putBuf(p)
			}
		}()
	}

	nkBlocks := (k + kcBlock - 1) / kcBlock
	var aState []atomic.Int32 // per (k block, A panel): 0 unpacked, 1 packing, 2 ready
	if packA {
		aState = make([]atomic.Int32, nkBlocks*((mChunk+mr-1)/mr))
	}
	for ic := 0; ic < m; ic += mChunk {
		mc := min(mChunk, m-ic)
		aPanels := (mc + mr - 1) / mr
		mcPad := aPanels * mr
		if ic > 0 {
			for i := range aState {
				aState[i].Store(0)
			}
		}
		// readyA returns the packed A panel q of the k block at pc, packing
		// it first if no thread has yet. Packing on first use, by whichever
		// thread gets there first, needs no barrier before the compute: each
		// thread starts its sweep at its own share of the panels (below), so
		// the threads pack disjoint halves in parallel, and a thread that
		// starts late (waking a parked thread takes ~100 µs) or is
		// descheduled costs the others nothing. The copy is exact, so who
		// packs a panel cannot change the results.
		readyA := func(pc, kc, q int) []float32 {
			off := pc*mcPad + q*mr*kc
			st := &aState[pc/kcBlock*aPanels+q]
			if st.Load() != 2 {
				if st.CompareAndSwap(0, 1) {
					i := ic + q*mr
					g.packA(abuf[off:off+mr*kc], i, min(mr, m-i), pc, kc, mr)
					st.Store(2)
				} else {
					for spin := 0; st.Load() != 2; spin++ {
						if spin >= 64 {
							runtime.Gosched()
						}
					}
				}
			}
			return abuf[off:]
		}
		parallel(t, func(w int) {
			j0 := nPanels * w / t * nr
			j1 := min(nPanels*(w+1)/t*nr, n)
			q0 := aPanels * w / t // first A panel of this thread's sweeps
			var scratch []float32 // column-edge tile, for kernels without masks
			if !im.maskedN {
				scratch = make([]float32, mr*nr)
			}
			for jc := j0; jc < j1; jc += nb {
				nc := min(nb, j1-jc)
				for pc := 0; pc < k; pc += kcBlock {
					kc := min(kcBlock, k-pc)
					beta := float32(1)
					if pc == 0 {
						beta = g.beta
					}
					bSrc, bStride, bPanelStep := bbufs[w], nr, nr*kc
					if packB {
						g.packB(bSrc, jc, nc, pc, kc, nr)
					} else {
						bSrc, bStride, bPanelStep = g.b[pc*g.ldb+jc:], g.ldb, nr
					}
					for qq := 0; qq < aPanels; qq++ {
						q := qq + q0
						if q >= aPanels {
							q -= aPanels
						}
						i := ic + q*mr
						rows := min(mr, m-i)
						var ap []float32
						aStride := mr
						kern := im.kernel
						switch {
						case packA:
							ap = readyA(pc, kc, q)
						case rowA:
							ap, aStride, kern = g.a[i*g.lda+pc:], g.lda, im.kernelRowA
						default:
							ap, aStride = g.a[pc*g.lda+i:], g.lda
						}
						for jr := 0; jr < nc; jr += nr {
							cols := min(nr, nc-jr)
							bp := bSrc[jr/nr*bPanelStep:]
							coff := i*g.ldc + jc + jr
							if cols == nr || im.maskedN {
								kern(rows, cols, kc, ap, aStride, bp, bStride, g.c[coff:], g.ldc, g.alpha, beta)
								continue
							}
							// Column edge: run the full-width kernel on a copy.
							for r := 0; r < rows; r++ {
								copy(scratch[r*nr:r*nr+cols], g.c[coff+r*g.ldc:coff+r*g.ldc+cols])
							}
							kern(rows, nr, kc, ap, aStride, bp, bStride, scratch[:], nr, g.alpha, beta)
							for r := 0; r < rows; r++ {
								copy(g.c[coff+r*g.ldc:coff+r*g.ldc+cols], scratch[r*nr:r*nr+cols])
							}
						}
					}
				}
			}
		})
	}
}

// packA copies rows [i0, i0+rows) × cols [p0, p0+kc) of op(A) into dst as
// dst[p*mr+i], zero-filling rows rows..mr-1.
func (g *gemmArgs) packA(dst []float32, i0, rows, p0, kc, mr int) {
	dst = dst[:kc*mr]
	if g.transA {
		// op(A)(i,p) = a[p*lda+i]: each p is a contiguous run of rows.
		for p := 0; p < kc; p++ {
			src := g.a[(p0+p)*g.lda+i0 : (p0+p)*g.lda+i0+rows]
			d := dst[p*mr : p*mr+mr]
			copy(d, src)
			clear(d[rows:])
		}
		return
	}
	if packATransposeAsm != nil && rows == mr && packATransposeAsm(dst, g.a[i0*g.lda+p0:], g.lda, kc, mr) {
		return
	}
	for r := 0; r < rows; r++ {
		src := g.a[(i0+r)*g.lda+p0 : (i0+r)*g.lda+p0+kc]
		d := dst[r:]
		for p, v := range src {
			d[p*mr] = v
		}
	}
	for r := rows; r < mr; r++ {
		for p := 0; p < kc; p++ {
			dst[p*mr+r] = 0
		}
	}
}

// packB copies rows [p0, p0+kc) × cols [j0, j0+nc) of op(B) into nr-wide
// panels: panel q holds dst[q*nr*kc + p*nr + j], zero-filled past nc.
func (g *gemmArgs) packB(dst []float32, j0, nc, p0, kc, nr int) {
	for q := 0; q*nr < nc; q++ {
		cols := min(nr, nc-q*nr)
		d := dst[q*nr*kc : (q+1)*nr*kc]
		jq := j0 + q*nr
		if !g.transB {
			for p := 0; p < kc; p++ {
				row := d[p*nr : p*nr+nr]
				copy(row, g.b[(p0+p)*g.ldb+jq:(p0+p)*g.ldb+jq+cols])
				clear(row[cols:])
			}
			continue
		}
		// op(B)(p,j) = b[j*ldb+p]: transpose.
		if packBTransposeAsm != nil && cols == nr && packBTransposeAsm(d, g.b[jq*g.ldb+p0:], g.ldb, kc, nr) {
			continue
		}
		for j := 0; j < cols; j++ {
			src := g.b[(jq+j)*g.ldb+p0 : (jq+j)*g.ldb+p0+kc]
			dd := d[j:]
			for p, v := range src {
				dd[p*nr] = v
			}
		}
		for j := cols; j < nr; j++ {
			for p := 0; p < kc; p++ {
				d[p*nr+j] = 0
			}
		}
	}
}

// Optional assembly transposing packers (nil, or false when they cannot
// handle the case): dst[p*w+i] = src[i*ld+p] for i < w, p < kc.
var (
	packATransposeAsm func(dst, src []float32, ld, kc, w int) bool
	packBTransposeAsm func(dst, src []float32, ld, kc, w int) bool
)

// Packing buffers come from pools by power-of-two size class (so a large A
// buffer is not lost to a small request); each is aligned to 64 bytes.
var bufPools [48]sync.Pool

func getBuf(n int) (*[]float32, []float32) {
	class := bits.Len(uint(n + 16))
	p, _ := bufPools[class].Get().(*[]float32)
	if p == nil {
		s := make([]float32, 1<<class)
		p = &s
	}
	s := *p
	off := int((64 - uintptr(unsafe.Pointer(&s[0]))%64) % 64 / 4)
	return p, s[off : off+n]
}

func putBuf(p *[]float32) {
	if p != nil {
		bufPools[bits.Len(uint(len(*p)))-1].Put(p)
	}
}
