package adarank

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
)

// Noise generators of the sweep (SweepOptions.Noise).
const (
	NoisePCG    = "pcg"    // math/rand/v2 PCG streams (the default): the same numbers on the CPU and the GPU sweep
	NoisePhilox = "philox" // counter-based Philox-4x32-10: the GPU draws the noise itself, nothing is uploaded
)

// Philox4x32 is the Philox-4x32-10 block function (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC'11): ten rounds of the 4×32
// multiply–xor network on the counter ctr under key.
func Philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	const m0, m1, w0, w1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
	for r := 0; r < 10; r++ {
		hi0, lo0 := bits.Mul32(m0, ctr[0])
		hi1, lo1 := bits.Mul32(m1, ctr[2])
		ctr = [4]uint32{hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0}
		key[0] += w0
		key[1] += w1
	}
	return ctr
}

// NoiseStream is the 64-bit stream id of one (module, layer, trial, copy):
// the hash NoiseRNG seeds its PCG stream with.
func NoiseStream(typ string, layer, trial, copyIdx int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d/%d/%d", typ, layer, trial, copyIdx)
	return h.Sum64()
}

// PerturbPhilox writes w + N(0, sd²) into dst (dst may be w) with the
// normals of Philox-4x32-10 under key seed: element i takes normal i%4 of the
// block with counter (i/4, which, stream low, stream high), two normals per
// pair of outputs by Box–Muller in float64 (u1 = (x0+1)/2³², u2 = x1/2³²).
// which tells apart tensors of one stream (0 weights, 1 bias). sd is
// rounded to float32 first, as the GPU kernel perturb_philox receives it;
// the kernel computes the same in double precision, so both give the same
// floats (up to a last-bit difference of the transcendental functions).
func PerturbPhilox(dst, w []float32, sd float64, seed, stream uint64, which uint32) {
	sd32 := float64(float32(sd))
	key := [2]uint32{uint32(seed), uint32(seed >> 32)}
	for i0 := 0; i0 < len(w); i0 += 4 {
		r := Philox4x32([4]uint32{uint32(i0 / 4), which, uint32(stream), uint32(stream >> 32)}, key)
		var z [4]float64
		z[0], z[1] = boxMuller(r[0], r[1])
		z[2], z[3] = boxMuller(r[2], r[3])
		for k := 0; k < 4 && i0+k < len(w); k++ {
			dst[i0+k] = w[i0+k] + float32(z[k]*sd32)
		}
	}
}

// boxMuller turns two uniform 32-bit words into two standard normals.
func boxMuller(a, b uint32) (float64, float64) {
	u1 := (float64(a) + 1) * (1.0 / 4294967296.0) // (0, 1]
	u2 := float64(b) * (1.0 / 4294967296.0)       // [0, 1)
	rad := math.Sqrt(-2 * math.Log(u1))
	s, c := math.Sincos(2 * math.Pi * u2)
	return rad * c, rad * s
}
