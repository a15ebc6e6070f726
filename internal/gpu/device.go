// Package gpu runs the BERT / RoBERTa encoder forward pass and the AdaRank
// perturbation sweep on an NVIDIA GPU through internal/cuda. It mirrors
// internal/model llm.c-style: one Go function per op, each launching one
// NVRTC-compiled kernel (kernels.go) or one cuBLAS GEMM, on activations laid
// out as on the CPU ([B*T, C] row-major). Parameters are uploaded once, as
// the one contiguous Params.Data buffer, so every CPU parameter view has a
// device address at the same offset.
package gpu

import (
	"fmt"

	"github.com/adarank/adarank/internal/backend"
	"github.com/adarank/adarank/internal/cuda"
)

// device is the backend the encoder, sweep and trainer run on.
type device = backend.Backend

// kernels are the compiled functions of kernelSource.
type kernels struct {
	embedLN, biasResLN, biasAct, biasPermute, unpermute, softmaxMask, gatherCLS, absdiffSum *cuda.Function
	perturbPhilox                                                                           *cuda.Function
	attnTC, attnTCTiled                                                                     *cuda.Function // nil where the head size does not suit them
	lnThreads                                                                               int            // LNThreads when compiled
}

// LNThreads is the block size (one block per row, a multiple of 32 up to
// 1024) of the forward LayerNorm kernels, fixed when a model is uploaded or
// a trainer made; a variable only so that gpucheck can time the choices.
var LNThreads = 128

// lnOptions size the LayerNorm kernels' per-thread registers for hidden
// size H: LNF_REG for the forward kernels (threads threads per row), LN_REG
// for ln_bwd (a warp per row).
func lnOptions(H, threads int) []string {
	return []string{fmt.Sprintf("-DLN_REG=%d", max(1, (H+31)/32)), fmt.Sprintf("-DLNF_REG=%d", max(1, (H+threads-1)/threads))}
}

func loadKernels(d device, H, nh, lnThreads int) (*kernels, error) {
	hs := H / nh
	tc := hs%8 == 0 && hs <= 128
	src, opts := kernelSource, lnOptions(H, lnThreads)
	if tc {
		src, opts = src+attnSource, append(opts, fmt.Sprintf("-DATT_HS=%d", hs))
	}
	m, err := d.Compile("adarank_encoder.cu", src, opts...)
	if err != nil {
		return nil, err
	}
	k := &kernels{lnThreads: lnThreads}
	if tc {
		if k.attnTC, err = m.Func("attn_tc"); err != nil {
			return nil, err
		}
		if k.attnTCTiled, err = m.Func("attn_tc_tiled"); err != nil {
			return nil, err
		}
	}
	for _, e := range []struct {
		name string
		dst  **cuda.Function
	}{
		{"embed_ln", &k.embedLN}, {"bias_res_ln", &k.biasResLN}, {"bias_act", &k.biasAct},
		{"bias_permute", &k.biasPermute}, {"unpermute", &k.unpermute}, {"softmax_mask", &k.softmaxMask},
		{"gather_cls", &k.gatherCLS}, {"absdiff_sum", &k.absdiffSum}, {"perturb_philox", &k.perturbPhilox},
	} {
		f, err := m.Func(e.name)
		if err != nil {
			return nil, err
		}
		*e.dst = f
	}
	return k, nil
}

// Launch shapes.
const (
	rowBlock  = 128  // threads per block of the warp-per-row kernels (multiple of 32)
	elemBlock = 256  // threads per block of the element-wise kernels
	maxGrid   = 8192 // grid-stride kernels use at most this many blocks
)

// rowsGrid sizes the 2-D launch (FOR_ROWS / FOR_COLS) of a row-structured
// element-wise kernel over rows × n (block elemBlock); a thread takes 4
// columns when n is a multiple of 4 (the kernels' float4 path).
func rowsGrid(rows, n int) cuda.Dim3 {
	if n%4 == 0 {
		n /= 4
	}
	return cuda.Dim3{X: max(1, min(maxGrid, (n+elemBlock-1)/elemBlock)), Y: max(1, min(65535, rows))}
}

// elemGrid sizes a grid-stride launch over n elements.
func elemGrid(n int) cuda.Dim3 {
	return cuda.Dim3{X: max(1, min(maxGrid, (n+elemBlock-1)/elemBlock))}
}

// KernelResources compiles the training kernels and attn_tc (head size 64) for hidden size H with
// ptxas's verbose report (registers, spills, shared memory per kernel) and
// returns that log; gpucheck prints it.
func KernelResources(d *cuda.Device, H int) (string, error) {
	m, err := d.Compile("adarank_train_resources.cu", kernelSource+attnSource+trainKernelSource,
		append(lnOptions(H, LNThreads), "--ptxas-options=-v")...)
	if err != nil {
		return "", err
	}
	return m.Log, nil
}
