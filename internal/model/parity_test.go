package model

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/adarank/adarank/internal/hf"
)

const refDir = "../../testdata/reference"

func readExpected(t *testing.T, path string) *hf.File {
	t.Helper()
	f, err := hf.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func f32(t *testing.T, f *hf.File, name string) []float32 {
	t.Helper()
	v, err := f.Float32s(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// relErr is ‖got−want‖∞ / max(‖want‖∞, tiny), over the positions keep selects.
func relErr(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		num = math.Max(num, math.Abs(float64(got[i])-float64(want[i])))
		den = math.Max(den, math.Abs(float64(want[i])))
	}
	return num / math.Max(den, 1e-12)
}

// fixtureBatch reads input_ids, token_type_ids and attention_mask.
func fixtureBatch(t *testing.T, exp *hf.File) Batch {
	t.Helper()
	b, err := BatchFromFile(exp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// maskedRows keeps only the hidden-state rows of real tokens (padding rows
// are not meaningful to compare).
func maskedRows(x []float32, mask []int32, H int) []float32 {
	var out []float32
	for i, m := range mask {
		if m != 0 {
			out = append(out, x[i*H:(i+1)*H]...)
		}
	}
	return out
}

func TestParityWithTransformers(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(refDir, "models", "*"))
	if len(dirs) == 0 {
		t.Skip("no reference fixtures in testdata/reference/models (run tools/reference/make_fixtures.py)")
	}
	for _, dir := range dirs {
		for _, expName := range []string{"expected.safetensors", "expected_pairs.safetensors"} {
			path := filepath.Join(dir, expName)
			if _, err := os.Stat(path); err != nil {
				continue
			}
			t.Run(filepath.Base(dir)+"/"+expName, func(t *testing.T) {
				m, err := Load(dir)
				if err != nil {
					t.Fatal(err)
				}
				exp := readExpected(t, path)
				b := fixtureBatch(t, exp)
				if err := m.Validate(b); err != nil {
					t.Fatal(err)
				}
				ws := m.NewWorkspace(b.B, b.T, false, nil)
				m.Encode(ws, b, nil, FwdOpts{})
				H := m.Cfg.Hidden
				want := f32(t, exp, "last_hidden_state")
				e := relErr(maskedRows(ws.Hidden(), b.Mask, H), maskedRows(want, b.Mask, H))
				t.Logf("last_hidden_state rel err %.3g (B=%d T=%d)", e, b.B, b.T)
				if e > 1e-4 {
					t.Errorf("last_hidden_state rel err %.3g > 1e-4", e)
				}
				if exp.Tensors["pooler_output"] != nil {
					if e := relErr(m.Pool(ws), f32(t, exp, "pooler_output")); e > 1e-4 {
						t.Errorf("pooler_output rel err %.3g > 1e-4", e)
					}
				} else if m.Cfg.HasPooler {
					t.Errorf("model has a pooler the fixture lacks")
				}
				if exp.Tensors["mlm_logits"] != nil {
					logits, err := m.MLMLogits(ws, nil)
					if err != nil {
						t.Fatal(err)
					}
					V := m.Cfg.Vocab
					if e := relErr(maskedRows(logits, b.Mask, V), maskedRows(f32(t, exp, "mlm_logits"), b.Mask, V)); e > 1e-4 {
						t.Errorf("mlm_logits rel err %.3g > 1e-4", e)
					}
				}
			})
		}
	}
}
