// Package lora builds LoRA adapter sets for the encoder (ranks per module,
// the two initialisation conventions, alpha scaling), saves and loads them
// (PEFT's adapter format where it applies, adarank's own otherwise) and
// merges them into full Hugging Face checkpoints.
//
// Conventions:
//   - standard (PEFT's default LoRA): A ~ kaiming_uniform(a=√5) = U(±1/√in),
//     B = 0, output scaled by alpha_i / r_i. With AlphaMode "fixed" every
//     module has alpha_i = Alpha (PEFT's lora_alpha with a rank_pattern);
//     with "ratio" alpha_i = r_i·Alpha/r̄ (r̄ = mean rank), so every module
//     has the same scale Alpha/r̄ (written to PEFT's alpha_pattern, as EVA
//     does).
//   - faithful (the AdaRank reference code, Keras): A and B both
//     Glorot-uniform, A with limit √(6/(in+r)) and B with √(6/(r+out)) (the
//     reference's A [in,r] and B [r,out] are our Aᵀ and Bᵀ), no scaling
//     (scale 1, written to PEFT as alpha_i = r_i). Optionally the adapted
//     module's bias trains too, as it does in the reference.
//
// DefaultAlpha is 16 (twice the usual rank 8, the common LoRA recipe;
// PEFT's LoraConfig default lora_alpha is 8).
package lora

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/adarank/adarank/internal/model"
)

// Conventions and alpha modes.
const (
	Standard  = "standard"
	Faithful  = "faithful"
	AlphaFix  = "fixed"
	AlphaRate = "ratio"

	DefaultAlpha = 16
)

// Options selects the LoRA convention.
type Options struct {
	Convention string  // standard | faithful
	Alpha      float64 // lora_alpha (standard)
	AlphaMode  string  // fixed | ratio (standard)
	TrainBias  bool    // also train the adapted modules' biases (faithful to the reference)
}

// Validate checks the option values.
func (o Options) Validate() error {
	switch o.Convention {
	case Standard:
		if !(o.Alpha > 0) || math.IsInf(o.Alpha, 0) {
			return fmt.Errorf("lora: alpha must be positive and finite, got %v", o.Alpha)
		}
		if o.AlphaMode != AlphaFix && o.AlphaMode != AlphaRate {
			return fmt.Errorf("lora: unknown alpha mode %q (want fixed or ratio)", o.AlphaMode)
		}
	case Faithful:
	default:
		return fmt.Errorf("lora: unknown convention %q (want standard or faithful)", o.Convention)
	}
	return nil
}

// Adapter is everything a fine-tuned classifier adds to a base encoder:
// LoRA factors, optionally trained module biases, and the head.
type Adapter struct {
	Arch       string
	Convention string
	Alpha      float64 // lora_alpha (standard); 0 for faithful
	AlphaMode  string
	Ranks      Ranks
	Alphas     [][6]float64 // per-module alpha; scale = alpha / r
	Ad         *model.Adapters
	// Bias[l][t] is the trained bias of an adapted module (nil = the base's).
	// During training it aliases the model's own bias slice.
	Bias    [][6][]float32
	Head    *model.Head
	Classes []string // label id -> class name (nil = LABEL_i)
	// BaseModel is the base model folder; BaseHash its weights' sha256 at build time.
	BaseModel, BaseHash string
	// Input records how training fed inputs (nil: unknown, e.g. a PEFT adapter),
	// so that evaluation can do the same.
	Input *InputShape
	Notes []string
}

// InputShape is how a model saw its inputs in training.
type InputShape struct {
	MaxLen int    `json:"max_len"`
	Pad    string `json:"pad"`
	NoMask bool   `json:"no_attention_mask"`
}

// New allocates an adapter (zero factors; call Init) for a model with config
// c, the given ranks and a head of `head` kind over numClasses classes.
func New(c model.Config, r Ranks, o Options, head string, numClasses int) (*Adapter, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if len(r) != c.Layers {
		return nil, fmt.Errorf("lora: ranks for %d layers, the model has %d", len(r), c.Layers)
	}
	if r.NumAdapted() == 0 {
		return nil, fmt.Errorf("lora: no module has a positive rank")
	}
	a := &Adapter{Arch: c.Arch, Convention: o.Convention, AlphaMode: o.AlphaMode, Ranks: r, BaseModel: c.SourceModel}
	if o.Convention == Standard {
		a.Alpha = o.Alpha
	} else {
		a.AlphaMode = ""
	}
	a.Alphas = alphas(r, o)
	ad, err := model.NewAdapters(c, r, scales(r, a.Alphas))
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	a.Ad = ad
	h, err := model.NewHead(head, c.Arch, c.Hidden, numClasses)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	a.Head = h
	return a, nil
}

// alphas computes each module's alpha (see the package comment).
func alphas(r Ranks, o Options) [][6]float64 {
	out := make([][6]float64, len(r))
	mean := r.Mean()
	for l := range r {
		for t, v := range r[l] {
			if v <= 0 {
				continue
			}
			switch {
			case o.Convention == Faithful:
				out[l][t] = float64(v) // scale 1
			case o.AlphaMode == AlphaRate:
				out[l][t] = float64(v) * o.Alpha / mean
			default:
				out[l][t] = o.Alpha
			}
		}
	}
	return out
}

// scales turns per-module alphas into LoRA output scales alpha / r.
func scales(r Ranks, al [][6]float64) [][6]float32 {
	out := make([][6]float32, len(r))
	for l := range r {
		for t, v := range r[l] {
			if v > 0 {
				out[l][t] = float32(al[l][t] / float64(v))
			}
		}
	}
	return out
}

// Init draws the LoRA factors for the adapter's convention from rng, in
// layer then ModuleTypes order, A before B, row-major.
func (a *Adapter) Init(rng *rand.Rand) {
	a.Ad.Each(func(l int, typ string, m *model.LoRA) {
		in := len(m.A) / m.R
		out := len(m.B) / m.R
		if a.Convention == Faithful {
			uniform(m.A, math.Sqrt(6/float64(in+m.R)), rng)
			uniform(m.B, math.Sqrt(6/float64(m.R+out)), rng)
			return
		}
		// kaiming_uniform_(a=√5): gain √(2/(1+5)), bound gain·√(3/fan_in) = 1/√in.
		uniform(m.A, 1/math.Sqrt(float64(in)), rng)
		clear(m.B)
	})
}

// InitHead initialises the head: Keras defaults (Glorot, zero bias) for the
// paper head, transformers' normal(0, std) for the hf head.
func (a *Adapter) InitHead(rng *rand.Rand, std float32) {
	if a.Head.Kind == model.HeadPaper {
		a.Head.InitKeras(rng)
	} else {
		a.Head.InitHF(rng, std)
	}
}

// uniform fills x with U(-lim, lim), one Float64 draw per element.
func uniform(x []float32, lim float64, rng *rand.Rand) {
	for i := range x {
		x[i] = float32((rng.Float64()*2 - 1) * lim)
	}
}

// AttachBias makes the adapted modules' biases trainable: Bias[l][t]
// aliases the model's bias slice of each adapted module.
func (a *Adapter) AttachBias(m *model.Model) {
	a.Bias = make([][6][]float32, len(a.Ranks))
	a.Ad.Each(func(l int, typ string, _ *model.LoRA) {
		_, b, _, _, _ := m.P.Layers[l].Linear(typ)
		a.Bias[l][model.ModuleIndex(typ)] = b
	})
}

// ApplyBias copies trained biases into the model (after loading an adapter).
func (a *Adapter) ApplyBias(m *model.Model) {
	for l := range a.Bias {
		for t, b := range a.Bias[l] {
			if b == nil {
				continue
			}
			_, dst, _, _, _ := m.P.Layers[l].Linear(model.ModuleTypes[t])
			if &dst[0] != &b[0] {
				copy(dst, b)
			}
		}
	}
}

// HasBias reports whether module biases are part of the adapter.
func (a *Adapter) HasBias() bool {
	for l := range a.Bias {
		for _, b := range a.Bias[l] {
			if b != nil {
				return true
			}
		}
	}
	return false
}

// NumParams counts LoRA, bias and head parameters.
func (a *Adapter) NumParams() (lora, bias, head int) {
	lora = a.Ad.NumParams()
	for l := range a.Bias {
		for _, b := range a.Bias[l] {
			bias += len(b)
		}
	}
	return lora, bias, len(a.Head.Data)
}

// PEFTCompatible reports whether PEFT can load the adapter, and why not.
func (a *Adapter) PEFTCompatible() (bool, string) {
	switch {
	case a.Head.Kind != model.HeadHF:
		return false, "the paper head (pooled -> Dense(H, gelu) -> Dense(C)) is not a module of transformers' " +
			"AutoModelForSequenceClassification, so PEFT's modules_to_save cannot restore it; use --head hf for a PEFT adapter"
	case a.HasBias():
		return false, "the adapted modules' biases were trained (--train-bias); PEFT's bias=\"lora_only\" " +
			"saving of LoRA-wrapped biases differs between PEFT versions, so adarank keeps its own format"
	}
	return true, ""
}

// classNames returns the class names, LABEL_i where none are set.
func (a *Adapter) classNames() []string {
	out := make([]string, a.Head.C)
	for i := range out {
		if i < len(a.Classes) && a.Classes[i] != "" {
			out[i] = a.Classes[i]
		} else {
			out[i] = fmt.Sprintf("LABEL_%d", i)
		}
	}
	return out
}
