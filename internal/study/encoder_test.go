package study

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/adarank/adarank/internal/lora"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/train"
)

// cpuEncoder is a train.Encoder computed by the CPU engine without dropout,
// standing in for the GPU encoder that the command line plugs in.
type cpuEncoder struct {
	m       *model.Model
	ad      *model.Adapters
	ws      *model.Workspace
	encodes *int
}

func (e *cpuEncoder) Encode(b model.Batch, pooled, _ bool, _ uint64) ([]float32, error) {
	*e.encodes++
	e.ws = e.m.NewWorkspace(b.B, b.T, true, e.ad)
	e.m.Encode(e.ws, b, e.ad, model.FwdOpts{})
	if pooled {
		return append([]float32(nil), e.m.Pool(e.ws)...), nil
	}
	return e.m.CLS(e.ws), nil
}

func (e *cpuEncoder) Backward(dX []float32, pooled bool, g model.Grads) error {
	H, ws := e.m.Cfg.Hidden, e.ws
	d := make([]float32, ws.B*ws.T*H)
	if pooled {
		e.m.PoolBackward(ws, d, dX, g)
	} else {
		for s := 0; s < ws.B; s++ {
			for c := 0; c < H; c++ {
				d[s*ws.T*H+c] += dX[s*H+c]
			}
		}
	}
	e.m.Backward(ws, d, e.ad, g, model.FwdOpts{})
	return nil
}

// With Options.Encoder every cell trains through the plugged-in encoder
// (made once per cell and released after it), and without dropout the
// cells equal those of the built-in CPU path.
func TestRunWithEncoder(t *testing.T) {
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "data")
	os.Mkdir(dataDir, 0o755)
	writeToyData(t, dataDir)
	if _, err := os.Stat(filepath.Join(tinyModel, "config.json")); err != nil {
		t.Skipf("test model %s not present: %v", tinyModel, err)
	}
	js := fmt.Sprintf(`{
	  "name": "enc",
	  "models": [{"name": "tiny", "path": %q}],
	  "tasks": [{"name": "toy", "loader": "generic", "data": %q}],
	  "modules": ["value", "all"],
	  "avg_ranks": [2],
	  "seeds": [1],
	  "sources": ["adarank", "uniform"],
	  "settings": [
	    {"name": "faithful", "preset": "reference", "batch": 4, "max_len": 24, "steps": 4, "eval_every": 2, "dropout": 0, "head_dropout": 0},
	    {"name": "standard", "preset": "standard", "modules": ["value"], "batch": 4, "max_len": 24, "steps": 4, "eval_every": 2, "dropout": 0, "head_dropout": 0}
	  ],
	  "sweep": {"trials": 2}
	}`, tinyModel, dataDir)
	cfg, err := ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	dirCPU, dirEnc := filepath.Join(tmp, "cpu"), filepath.Join(tmp, "enc")
	if _, err := Run(cfg, Options{OutDir: dirCPU}); err != nil {
		t.Fatal(err)
	}
	var made, released, encodes int
	o := Options{OutDir: dirEnc, Encoder: func(m *model.Model, a *lora.Adapter, maxB, T int) (train.Encoder, func(), error) {
		made++
		if maxB < 4 || T != 24 {
			t.Errorf("encoder for %d×%d, want at least 4×24", maxB, T)
		}
		return &cpuEncoder{m: m, ad: a.Ad, encodes: &encodes}, func() { released++ }, nil
	}}
	if _, err := Run(cfg, o); err != nil {
		t.Fatal(err)
	}
	cells := cfg.Expand()
	if made != len(cells) || released != len(cells) || encodes == 0 {
		t.Errorf("%d cells: encoder made %d times, released %d, %d encodes", len(cells), made, released, encodes)
	}
	for _, c := range cells {
		if a, b := summaryOf(t, dirCPU, c.ID), summaryOf(t, dirEnc, c.ID); a != b {
			t.Errorf("%s differs:\nCPU     %s\nencoder %s", c.ID, a, b)
		}
	}
}
