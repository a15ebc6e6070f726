package hf

import (
	"math"
	"math/rand"
	"sort"
	"testing"
)

func TestF16Known(t *testing.T) {
	cases := []struct {
		h uint16
		f float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3555, 0.333251953125},
		{0x7bff, 65504},                           // largest finite
		{0x0400, float32(math.Ldexp(1, -14))},     // smallest normal
		{0x0001, float32(math.Ldexp(1, -24))},     // smallest subnormal
		{0x03ff, float32(math.Ldexp(1023, -24))},  // largest subnormal
		{0x8001, -float32(math.Ldexp(1, -24))},    // negative subnormal
		{0x7c00, float32(math.Inf(1))},            // +Inf
		{0xfc00, float32(math.Inf(-1))},           // -Inf
		{0x3bff, float32(1 - math.Ldexp(1, -11))}, // largest below 1
		{0x3c01, float32(1 + math.Ldexp(1, -10))}, // smallest above 1
		{0x5640, 100},
	}
	for _, c := range cases {
		if got := F16ToF32(c.h); got != c.f {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", c.h, got, c.f)
		}
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	// Negative zero keeps its sign both ways.
	nz := float32(math.Copysign(0, -1))
	if F32ToF16(nz) != 0x8000 || math.Float32bits(F16ToF32(0x8000)) != 0x80000000 {
		t.Errorf("negative zero not preserved")
	}
	// NaN stays NaN both ways.
	if v := F16ToF32(0x7e00); !math.IsNaN(float64(v)) {
		t.Errorf("F16ToF32(NaN) = %g", v)
	}
	if h := F32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("F32ToF16(NaN) = %#04x, not a NaN", h)
	}
	// A NaN whose payload sits in the low f32 bits must not become Inf.
	if h := F32ToF16(math.Float32frombits(0x7f800001)); h&0x3ff == 0 {
		t.Errorf("F32ToF16(signalling NaN) = %#04x, became Inf", h)
	}
}

func TestF16RoundTripAll(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := F32ToF16(f); got != uint16(h) {
			t.Fatalf("round trip %#04x -> %g -> %#04x", h, f, got)
		}
	}
}

func TestF16RoundingTies(t *testing.T) {
	cases := []struct {
		f float64
		h uint16
	}{
		{1 + math.Ldexp(1, -11), 0x3c00},        // tie, round down to even
		{1 + 3*math.Ldexp(1, -11), 0x3c02},      // tie, round up to even
		{1 + math.Ldexp(1, -11) + 1e-7, 0x3c01}, // just above the tie
		{65519, 0x7bff},                         // below the Inf tie
		{65520, 0x7c00},                         // tie between 65504 and 65536: even is Inf
		{1e6, 0x7c00},                           // overflow
		{-1e6, 0xfc00},
		{math.Ldexp(1, -25), 0x0000},                      // tie between 0 and the smallest subnormal
		{math.Ldexp(1, -25) * 1.0000001, 0x0001},          // just above it
		{3 * math.Ldexp(1, -25), 0x0002},                  // tie between subnormals 1 and 2
		{math.Ldexp(1, -14) - math.Ldexp(1, -25), 0x0400}, // tie at the subnormal/normal boundary rounds to even (normal)
		{math.Ldexp(1, -30), 0x0000},                      // underflow
		{1e-45, 0x0000},                                   // f32 subnormal
	}
	for _, c := range cases {
		if got := F32ToF16(float32(c.f)); got != c.h {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
}

// nearestHalf picks the nearest of sorted finite candidate values (with their
// encodings) to x, ties to the even encoding, as a slow reference.
func nearestHalf(x float64, vals []float64, codes []uint16) uint16 {
	i := sort.SearchFloat64s(vals, x)
	if i == 0 {
		return codes[0]
	}
	if i == len(vals) {
		return codes[len(vals)-1]
	}
	lo, hi := vals[i-1], vals[i]
	dl, dh := x-lo, hi-x
	switch {
	case dl < dh:
		return codes[i-1]
	case dh < dl:
		return codes[i]
	case codes[i-1]&1 == 0:
		return codes[i-1]
	default:
		return codes[i]
	}
}

func TestF16AgainstReference(t *testing.T) {
	// Non-negative half values in order, plus 65536 standing for Inf (the
	// rounding boundary behaves as if the next binade continued).
	var vals []float64
	var codes []uint16
	for h := range 0x7c00 {
		vals = append(vals, float64(F16ToF32(uint16(h))))
		codes = append(codes, uint16(h))
	}
	vals = append(vals, 65536)
	codes = append(codes, 0x7c00)
	rng := rand.New(rand.NewSource(1))
	for i := range 300000 {
		var f float32
		if i%2 == 0 {
			f = math.Float32frombits(rng.Uint32())
		} else { // concentrate on the half range
			f = float32(math.Ldexp(rng.Float64()*2-1, rng.Intn(44)-26))
		}
		x := math.Abs(float64(f))
		if math.IsNaN(x) {
			continue
		}
		want := uint16(0x7c00)
		if x < 65536 {
			want = nearestHalf(x, vals, codes)
		}
		if math.Signbit(float64(f)) {
			want |= 0x8000
		}
		if got := F32ToF16(f); got != want {
			t.Fatalf("F32ToF16(%g [%#08x]) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
}

func TestBF16(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {0, 0}, {float32(math.Inf(1)), 0x7f80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, round down to even
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, round up to even
		{math.Float32frombits(0x3f808001), 0x3f81}, // above the tie
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // max float rounds to Inf
		{math.Float32frombits(0x00010000), 0x0001}, // subnormal kept
	}
	for _, c := range cases {
		if got := F32ToBF16(c.f); got != c.h {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if h := F32ToBF16(math.Float32frombits(0x7f800001)); h&0x7f != 0x40 || h&0x7f80 != 0x7f80 {
		t.Errorf("F32ToBF16(NaN with low payload) = %#04x, want a quiet NaN", h)
	}
	for h := range 1 << 16 {
		f := BF16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := F32ToBF16(f); got != uint16(h) {
			t.Fatalf("bf16 round trip %#04x -> %g -> %#04x", h, f, got)
		}
	}
	// Random values against a float64 reference: nearest of the two
	// neighbours, ties to even.
	rng := rand.New(rand.NewSource(2))
	for range 300000 {
		b := rng.Uint32()
		f := math.Float32frombits(b)
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		lo := uint16(b >> 16)
		hi := lo + 1
		dl := math.Abs(float64(f) - float64(BF16ToF32(lo)))
		dh := math.Abs(float64(BF16ToF32(hi)) - float64(f))
		if hi&0x7f80 == 0x7f80 && hi&0x7f == 0 {
			dh = math.Abs(math.Ldexp(1, 128)*sign(f) - float64(f)) // Inf acts as 2^128
		}
		want := lo
		if dh < dl || (dh == dl && lo&1 == 1) {
			want = hi
		}
		if got := F32ToBF16(f); got != want {
			t.Fatalf("F32ToBF16(%#08x) = %#04x, want %#04x", b, got, want)
		}
	}
}

func sign(f float32) float64 {
	if f < 0 {
		return -1
	}
	return 1
}
