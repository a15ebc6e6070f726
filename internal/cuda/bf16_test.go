package cuda

import (
	"math"
	"testing"
)

// BF16Bits (the host twin of the f32_to_bf16 kernel) rounds to nearest even.
func TestBF16Bits(t *testing.T) {
	for _, c := range []struct {
		x    float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {0, 0},
		{math.Float32frombits(0x3f808000), 0x3f80}, // halfway, even below
		{math.Float32frombits(0x3f818000), 0x3f82}, // halfway, odd below: up
		{math.Float32frombits(0x3f808001), 0x3f81}, // above halfway
		{float32(math.Inf(1)), 0x7f80},
		{math.MaxFloat32, 0x7f80}, // rounds to +Inf as IEEE does
	} {
		if got := BF16Bits(c.x); got != c.want {
			t.Errorf("BF16Bits(%g = %#08x) = %#04x, want %#04x", c.x, math.Float32bits(c.x), got, c.want)
		}
	}
	if got := BF16Bits(float32(math.NaN())); got&0x7f80 != 0x7f80 || got&0x7f == 0 {
		t.Errorf("NaN became %#04x", got)
	}
	if _, err := ParseKernels(bf16Source); err != nil {
		t.Fatal(err)
	}
}

// The bf16 copies cover exactly the elements a row-major GEMM reads.
func TestOperandSpans(t *testing.T) {
	for _, c := range []struct {
		tA, tB                           bool
		M, N, K, lda, ldb, sA, sB, batch int
		wantA, wantB                     int
	}{
		{false, false, 3, 2, 4, 5, 2, 0, 0, 1, 2*5 + 4, 3*2 + 2},
		{true, true, 3, 2, 4, 3, 4, 0, 0, 1, 3*3 + 3, 1*4 + 4},
		{false, true, 8, 8, 4, 4, 4, 32, 32, 3, 7*4 + 4 + 2*32, 7*4 + 4 + 2*32},
		{false, false, 0, 5, 5, 5, 5, 0, 0, 1, 0, 4*5 + 5},
	} {
		a, b := operandSpans(c.tA, c.tB, c.M, c.N, c.K, c.lda, c.ldb, c.sA, c.sB, c.batch)
		if a != c.wantA || b != c.wantB {
			t.Errorf("%+v: spans %d, %d", c, a, b)
		}
	}
}
