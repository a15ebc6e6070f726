package host

import (
	"fmt"
	"math"

	"github.com/adarank/adarank/internal/cuda"
)

// Go twins of trainKernelSource.

func dropScale(p float32, seed int64, site int, i int64) float32 {
	x := uint64(seed) ^ (uint64(site+1) * 0x9E3779B97F4A7C15) ^ (uint64(i) * 0xD1B54A32D192ED03)
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	u := float32(x>>40) * (1.0 / 16777216.0)
	if u < p {
		return 0
	}
	return 1 / (1 - p)
}

func (h *Device) launchTrain(name string, grid, block cuda.Dim3, shmem int, slots []uint64) error {
	p := func(i int) cuda.DevPtr { return cuda.DevPtr(slots[i]) }
	n := func(i int) int { return int(int32(uint32(slots[i]))) }
	ll := func(i int) int64 { return int64(slots[i]) }
	fl := func(i int) float32 { return math.Float32frombits(uint32(slots[i])) }
	switch name {
	case "dropout":
		N := int(ll(2))
		out, in := h.f32(p(0), N), h.f32(p(1), N)
		for i := range out {
			out[i] = in[i] * dropScale(fl(3), ll(4), n(5), int64(i))
		}
	case "embed_ln_train":
		H := n(12)
		for r := 0; r < n(14); r++ {
			o, sm := h.f32(p(0).Add(r*H), H), h.f32(p(1).Add(r*H), H)
			w := h.f32(p(7).Add(int(h.i32(p(4), r))*H), H)
			ps := h.f32(p(8).Add(int(h.i32(p(5), r))*H), H)
			t := h.f32(p(9).Add(int(h.i32(p(6), r))*H), H)
			for c := range o {
				sm[c] = (w[c] + ps[c]) + t[c]
				o[c] = sm[c]
			}
			h.lnSave(o, p(2).Add(r), p(3).Add(r), p(10), p(11), fl(13))
		}
	case "res_ln_train":
		H, pr, seed, site := n(9), fl(11), ll(12), n(13)
		for r := 0; r < n(14); r++ {
			o, sm := h.f32(p(0).Add(r*H), H), h.f32(p(1).Add(r*H), H)
			x, bias, res := h.f32(p(4).Add(r*H), H), h.f32(p(5), H), h.f32(p(6).Add(r*H), H)
			for c := range o {
				v := x[c] + bias[c]
				if pr > 0 {
					v *= dropScale(pr, seed, site, int64(r*H+c))
				}
				sm[c] = res[c] + v
				o[c] = sm[c]
			}
			h.lnSave(o, p(2).Add(r), p(3).Add(r), p(7), p(8), fl(10))
		}
	case "ln_fwd_save":
		H := n(6)
		for r := 0; r < n(8); r++ {
			o := h.f32(p(0).Add(r*H), H)
			copy(o, h.f32(p(3).Add(r*H), H))
			h.lnSave(o, p(1).Add(r), p(2).Add(r), p(4), p(5), fl(7))
		}
	case "ln_bwd":
		if p(2) != 0 && shmem < 2*n(10)*4 {
			return fmt.Errorf("ln_bwd: %d bytes of shared memory for H=%d", shmem, n(10))
		}
		h.lnBwd(p(0), p(2), p(3), p(4), p(5), p(6), p(7), p(8), n(9), n(10))
		if dxd := p(1); dxd != 0 {
			N := n(9) * n(10)
			dx, out := h.f32(p(0), N), h.f32(dxd, N)
			for i := range out {
				out[i] = dx[i] * dropScale(fl(11), ll(12), n(13), int64(i))
			}
		}
	case "bias_grad":
		db, rows, N, ld := p(0), n(2), n(3), n(4)
		d := h.f32(db, N)
		if rows > 0 {
			dy := h.f32(p(1), (rows-1)*ld+N)
			for j := 0; j < N; j++ {
				var s float32
				for r := 0; r < rows; r++ {
					s += dy[r*ld+j]
				}
				d[j] += s
			}
		}
	case "bias_permute3", "unpermute3":
		B, T, nh, hs := n(7), n(8), n(9), n(10)
		if name == "unpermute3" {
			B, T, nh, hs = n(4), n(5), n(6), n(7)
		}
		C := nh * hs
		for row := 0; row < B*T; row++ {
			bb, t := row/T, row%T
			for which := 0; which < 3; which++ {
				for col := 0; col < C; col++ {
					hh, dd := col/hs, col%hs
					pi := ((bb*nh+hh)*T+t)*hs + dd
					xi := row*3*C + which*C + col
					if name == "bias_permute3" {
						x := h.f32(p(3), B*T*3*C)
						bias := h.f32(p(4+which), C)
						h.f32(p(which), B*T*C)[pi] = x[xi] + bias[col]
					} else {
						h.f32(p(0), B*T*3*C)[xi] = h.f32(p(1+which), B*T*C)[pi]
					}
				}
			}
		}
	case "bias_act_save":
		rows, N, act := n(4), n(5), n(6)
		out, pre, x, b := h.f32(p(0), rows*N), h.f32(p(1), rows*N), h.f32(p(2), rows*N), h.f32(p(3), N)
		for i := range out {
			v := x[i] + b[i%N]
			pre[i] = v
			out[i] = activate(v, act)
		}
	case "act_bwd":
		N := int(ll(3))
		dx, dy, x := h.f32(p(0), N), h.f32(p(1), N), h.f32(p(2), N)
		for i := range dx {
			dx[i] = dy[i] * actDeriv(x[i], n(4))
		}
	case "softmax_bwd":
		rows, T, pd, seed, site := n(3), n(4), fl(5), ll(6), n(7)
		for r := 0; r < rows; r++ {
			pr, dr, o := h.f32(p(1).Add(r*T), T), h.f32(p(2).Add(r*T), T), h.f32(p(0).Add(r*T), T)
			d := make([]float32, T)
			for j := range d {
				d[j] = dr[j]
				if pd > 0 {
					d[j] *= dropScale(pd, seed, site, int64(r*T+j))
				}
			}
			var s float32
			for j := range pr {
				s += pr[j] * d[j]
			}
			for j := range pr {
				o[j] = pr[j] * (d[j] - s)
			}
		}
	case "softmax_mask_drop":
		rows, T, nh, Tq, pd, seed, site := n(3), n(4), n(5), n(6), fl(7), ll(8), n(9)
		h.softmaxMask(min(rows, grid.X*(block.X/32)), p(0), p(2), T, nh, Tq)
		for r := 0; r < rows; r++ {
			a, ad := h.f32(p(0).Add(r*T), T), h.f32(p(1).Add(r*T), T)
			for j := range a {
				ad[j] = a[j] * dropScale(pd, seed, site, int64(r*T+j))
			}
		}
	case "xent":
		V, scale := n(4), fl(5)
		for r := 0; r < grid.X; r++ {
			x := h.f32(p(0).Add(r*V), V)
			mx, arg := float32(math.Inf(-1)), 0
			for j, v := range x {
				if v > mx {
					mx, arg = v, j
				}
			}
			var s float64
			for _, v := range x {
				s += float64(float32(math.Exp(float64(v - mx))))
			}
			y := int(h.i32(p(3), r))
			h.f32(p(1).Add(r), 1)[0] = float32(math.Log(s)) - (x[y] - mx)
			h.f32(p(2).Add(r), 1)[0] = float32(arg)
			inv := float32(1 / s)
			for j := range x {
				pj := float32(math.Exp(float64(x[j]-mx))) * inv
				if j == y {
					pj -= 1
				}
				x[j] = scale * pj
			}
		}
	case "gather_rows":
		N, H := n(3), n(4)
		for r := 0; r < N; r++ {
			copy(h.f32(p(0).Add(r*H), H), h.f32(p(1).Add(int(h.i32(p(2), r))*H), H))
		}
	case "scatter_add_rows":
		N, H := n(3), n(4)
		for r := 0; r < N; r++ {
			d, s := h.f32(p(0).Add(int(h.i32(p(2), r))*H), H), h.f32(p(1).Add(r*H), H)
			for c := range d {
				d[c] += s[c]
			}
		}
	case "scatter_cls_add":
		B, T, H := n(2), n(3), n(4)
		for b := 0; b < B; b++ {
			d, s := h.f32(p(0).Add(b*T*H), H), h.f32(p(1).Add(b*H), H)
			for c := range d {
				d[c] += s[c]
			}
		}
	case "sumsq":
		x := h.f32(p(1), int(ll(2)))
		var s float64
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		h.setF64(p(0), h.f64(p(0))+s)
	case "adamw":
		N := int(ll(4))
		pp, g, m, v := h.f32(p(0), N), h.f32(p(1), N), h.f32(p(2), N), h.f32(p(3), N)
		gs, b1, b2, step, sq, decay, eps := fl(5), fl(6), fl(7), fl(8), fl(9), fl(10), fl(11)
		for i := range pp {
			gi := g[i] * gs
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			denom := float32(math.Sqrt(float64(v[i])))/sq + eps
			pp[i] = pp[i]*decay - step*m[i]/denom
		}
	default:
		return fmt.Errorf("Device: no Go twin for kernel %s", name)
	}
	return nil
}

// lnSave is ln_warp with statistics.
func (h *Device) lnSave(o []float32, mean, rstd, g, b cuda.DevPtr, eps float32) {
	h.f32(mean, 1)[0], h.f32(rstd, 1)[0] = layerNormRow(o, h.f32(g, len(o)), h.f32(b, len(o)), eps)
}

func (h *Device) lnBwd(dx, dg, db, dy, x, mean, rstd, g cuda.DevPtr, rows, H int) {
	gs := h.f32(g, H)
	for r := 0; r < rows; r++ {
		dyr, xr, dxr := h.f32(dy.Add(r*H), H), h.f32(x.Add(r*H), H), h.f32(dx.Add(r*H), H)
		m, rs := h.f32(mean.Add(r), 1)[0], h.f32(rstd.Add(r), 1)[0]
		var s1, s2 float64
		for c := range xr {
			xh := (xr[c] - m) * rs
			d := dyr[c] * gs[c]
			s1 += float64(d)
			s2 += float64(d * xh)
		}
		m1, m2 := float32(s1/float64(H)), float32(s2/float64(H))
		var dgr, dbr []float32
		if dg != 0 {
			dgr, dbr = h.f32(dg, H), h.f32(db, H)
		}
		for c := range xr {
			xh := (xr[c] - m) * rs
			d := dyr[c] * gs[c]
			dxr[c] = rs * (d - m1 - xh*m2)
			if dgr != nil {
				dgr[c] += dyr[c] * xh
				dbr[c] += dyr[c]
			}
		}
	}
}

func actDeriv(v float32, act int) float32 {
	switch act {
	case actGelu:
		cdf := 0.5 * (1 + float32(math.Erf(float64(v*0.70710678118654752))))
		pdf := float32(math.Exp(float64(-0.5*v*v))) * 0.39894228040143267794
		return cdf + v*pdf
	case actGeluTanh:
		u := 0.79788456080286535588 * (v + 0.044715*v*v*v)
		t := float32(math.Tanh(float64(u)))
		du := 0.79788456080286535588 * (1 + 3*0.044715*v*v)
		return 0.5*(1+t) + 0.5*v*(1-t*t)*du
	case actRelu:
		if v > 0 {
			return 1
		}
		return 0
	case actTanh:
		return 1 - v*v
	}
	return 1
}
