package kernels

// genericImpl is the portable Go path (also the reference for the assembly
// ones in tests).
var genericImpl = &gemmImpl{name: "go", mr: 4, nr: 4, nb: 256, kernel: kernelGo, maskedN: true}

// kernelGo is the portable micro-kernel: a 4×4 register tile in Go, with a
// plain loop for partial tiles. Same contract as the assembly kernels.
func kernelGo(rows, cols, kc int, a []float32, as int, b []float32, bs int, c []float32, ldc int, alpha, beta float32) {
	if rows == 4 && cols == 4 {
		var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
		for p := 0; p < kc; p++ {
			ap := a[p*as : p*as+4]
			bp := b[p*bs : p*bs+4]
			a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			c20 += a2 * b0
			c21 += a2 * b1
			c22 += a2 * b2
			c23 += a2 * b3
			c30 += a3 * b0
			c31 += a3 * b1
			c32 += a3 * b2
			c33 += a3 * b3
		}
		acc := [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
		for i := 0; i < 4; i++ {
			storeRow(c[i*ldc:i*ldc+4], acc[i*4:i*4+4], alpha, beta)
		}
		return
	}
	var acc [4 * 4]float32
	for p := 0; p < kc; p++ {
		for i := 0; i < rows; i++ {
			av := a[p*as+i]
			for j := 0; j < cols; j++ {
				acc[i*4+j] += av * b[p*bs+j]
			}
		}
	}
	for i := 0; i < rows; i++ {
		storeRow(c[i*ldc:i*ldc+cols], acc[i*4:i*4+cols], alpha, beta)
	}
}

func storeRow(c, acc []float32, alpha, beta float32) {
	acc = acc[:len(c)]
	if beta == 0 {
		for j := range c {
			c[j] = alpha * acc[j]
		}
		return
	}
	for j := range c {
		c[j] = alpha*acc[j] + beta*c[j]
	}
}
