package adarank

import (
	"math"
	"testing"
)

// Random123's known-answer vectors for Philox-4x32-10.
func TestPhilox4x32KnownAnswers(t *testing.T) {
	for _, c := range []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	} {
		if got := Philox4x32(c.ctr, c.key); got != c.want {
			t.Errorf("Philox4x32(%x, %x) = %x, want %x", c.ctr, c.key, got, c.want)
		}
	}
}

// The Philox noise is N(0, sd²) (moments of 1M draws), reproducible, and
// different between streams and between weights and bias.
func TestPerturbPhilox(t *testing.T) {
	n := 1 << 20
	w := make([]float32, n)
	dst := make([]float32, n)
	PerturbPhilox(dst, w, 0.5, 7, NoiseStream("value", 3, 1, 0), 0)
	var s, q, q4 float64
	for _, v := range dst {
		x := float64(v)
		s += x
		q += x * x
		q4 += x * x * x * x
	}
	mean, variance := s/float64(n), q/float64(n)
	kurt := q4 / float64(n) / (variance * variance)
	if math.Abs(mean) > 3*0.5/math.Sqrt(float64(n)) || math.Abs(variance-0.25) > 0.25*0.01 || math.Abs(kurt-3) > 0.05 {
		t.Errorf("mean %v, variance %v (want 0.25), kurtosis %v (want 3)", mean, variance, kurt)
	}
	again := make([]float32, 10)
	PerturbPhilox(again, w[:10], 0.5, 7, NoiseStream("value", 3, 1, 0), 0)
	for i := range again {
		if again[i] != dst[i] {
			t.Fatalf("not reproducible at %d", i)
		}
	}
	other := make([]float32, 10)
	PerturbPhilox(other, w[:10], 0.5, 7, NoiseStream("value", 3, 1, 1), 0)
	bias := make([]float32, 10)
	PerturbPhilox(bias, w[:10], 0.5, 7, NoiseStream("value", 3, 1, 0), 1)
	if other[0] == dst[0] || bias[0] == dst[0] {
		t.Errorf("streams or tensors share noise: %v %v %v", dst[0], other[0], bias[0])
	}
}
