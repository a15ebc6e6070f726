package model

import "fmt"

// Module types a LoRA adapter (or an AdaRank perturbation) can target.
const (
	Query   = "query"
	Key     = "key"
	Value   = "value"
	AttnOut = "attn-out"
	FFNIn   = "ffn-in"
	FFNOut  = "ffn-out"
)

// ModuleTypes lists all linear module types of an encoder layer, in a fixed order.
var ModuleTypes = []string{Query, Key, Value, AttnOut, FFNIn, FFNOut}

// ModuleIndex returns the position of a module type in ModuleTypes, or -1.
func ModuleIndex(typ string) int {
	for i, t := range ModuleTypes {
		if t == typ {
			return i
		}
	}
	return -1
}

// LayerParams are views into Params.Data for one encoder layer. Linear
// weights are [out, in] as Hugging Face stores them.
type LayerParams struct {
	Q, QB, K, KB, V, VB []float32 // [H,H], [H]
	AO, AOB             []float32 // attention output projection
	LN1G, LN1B          []float32 // attention.output.LayerNorm
	FI, FIB             []float32 // intermediate.dense [I,H]
	FO, FOB             []float32 // output.dense [H,I]
	LN2G, LN2B          []float32 // output.LayerNorm
}

// Params holds every base weight in one contiguous buffer. The same layout is
// used for gradients.
type Params struct {
	Data                        []float32
	WordEmb, PosEmb, TypeEmb    []float32
	EmbLNG, EmbLNB              []float32
	Layers                      []LayerParams
	PoolW, PoolB                []float32 // nil without a pooler
	MLMDenseW, MLMDenseB        []float32 // nil without an MLM head
	MLMLNG, MLMLNB, MLMDecoderB []float32
	MLMDecoder                  []float32 // [V,H]; aliases WordEmb when tied
	mlmDecoderTied              bool
}

type tensorSpec struct {
	name  string
	shape []int
	dst   *[]float32
}

// specs lists every parameter with its canonical (prefix-free HF) name.
func (p *Params) specs(c Config) []tensorSpec {
	H, I := c.Hidden, c.Inter
	s := []tensorSpec{
		{"embeddings.word_embeddings.weight", []int{c.Vocab, H}, &p.WordEmb},
		{"embeddings.position_embeddings.weight", []int{c.MaxPos, H}, &p.PosEmb},
		{"embeddings.token_type_embeddings.weight", []int{c.TypeVocab, H}, &p.TypeEmb},
		{"embeddings.LayerNorm.weight", []int{H}, &p.EmbLNG},
		{"embeddings.LayerNorm.bias", []int{H}, &p.EmbLNB},
	}
	for l := range p.Layers {
		L := &p.Layers[l]
		pre := fmt.Sprintf("encoder.layer.%d.", l)
		s = append(s,
			tensorSpec{pre + "attention.self.query.weight", []int{H, H}, &L.Q},
			tensorSpec{pre + "attention.self.query.bias", []int{H}, &L.QB},
			tensorSpec{pre + "attention.self.key.weight", []int{H, H}, &L.K},
			tensorSpec{pre + "attention.self.key.bias", []int{H}, &L.KB},
			tensorSpec{pre + "attention.self.value.weight", []int{H, H}, &L.V},
			tensorSpec{pre + "attention.self.value.bias", []int{H}, &L.VB},
			tensorSpec{pre + "attention.output.dense.weight", []int{H, H}, &L.AO},
			tensorSpec{pre + "attention.output.dense.bias", []int{H}, &L.AOB},
			tensorSpec{pre + "attention.output.LayerNorm.weight", []int{H}, &L.LN1G},
			tensorSpec{pre + "attention.output.LayerNorm.bias", []int{H}, &L.LN1B},
			tensorSpec{pre + "intermediate.dense.weight", []int{I, H}, &L.FI},
			tensorSpec{pre + "intermediate.dense.bias", []int{I}, &L.FIB},
			tensorSpec{pre + "output.dense.weight", []int{H, I}, &L.FO},
			tensorSpec{pre + "output.dense.bias", []int{H}, &L.FOB},
			tensorSpec{pre + "output.LayerNorm.weight", []int{H}, &L.LN2G},
			tensorSpec{pre + "output.LayerNorm.bias", []int{H}, &L.LN2B},
		)
	}
	if c.HasPooler {
		s = append(s,
			tensorSpec{"pooler.dense.weight", []int{H, H}, &p.PoolW},
			tensorSpec{"pooler.dense.bias", []int{H}, &p.PoolB})
	}
	if c.HasMLM {
		s = append(s,
			tensorSpec{mlmPrefix(c) + "dense.weight", []int{H, H}, &p.MLMDenseW},
			tensorSpec{mlmPrefix(c) + "dense.bias", []int{H}, &p.MLMDenseB},
			tensorSpec{mlmPrefix(c) + mlmLNName(c) + ".weight", []int{H}, &p.MLMLNG},
			tensorSpec{mlmPrefix(c) + mlmLNName(c) + ".bias", []int{H}, &p.MLMLNB},
			tensorSpec{mlmBiasName(c), []int{c.Vocab}, &p.MLMDecoderB})
		if !p.mlmDecoderTied {
			s = append(s, tensorSpec{mlmDecoderName(c), []int{c.Vocab, H}, &p.MLMDecoder})
		}
	}
	return s
}

func mlmPrefix(c Config) string {
	if c.Arch == "roberta" {
		return "lm_head."
	}
	return "cls.predictions.transform."
}

func mlmLNName(c Config) string {
	if c.Arch == "roberta" {
		return "layer_norm"
	}
	return "LayerNorm"
}

func mlmBiasName(c Config) string {
	if c.Arch == "roberta" {
		return "lm_head.bias"
	}
	return "cls.predictions.bias"
}

func mlmDecoderName(c Config) string {
	if c.Arch == "roberta" {
		return "lm_head.decoder.weight"
	}
	return "cls.predictions.decoder.weight"
}

// NewParams allocates zeroed parameters for c. With tiedDecoder the MLM
// decoder shares the word embeddings (the usual case).
func NewParams(c Config, tiedDecoder bool) *Params {
	p := &Params{Layers: make([]LayerParams, c.Layers), mlmDecoderTied: tiedDecoder}
	specs := p.specs(c)
	n := 0
	for _, s := range specs {
		n += numel(s.shape)
	}
	p.Data = make([]float32, n)
	off := 0
	for _, s := range specs {
		k := numel(s.shape)
		*s.dst = p.Data[off : off+k : off+k]
		off += k
	}
	if c.HasMLM && tiedDecoder {
		p.MLMDecoder = p.WordEmb
	}
	return p
}

// Like allocates a zeroed buffer with the same layout as p (for gradients).
func (p *Params) Like(c Config) *Params { return NewParams(c, p.mlmDecoderTied) }

// Names returns the canonical tensor names and their views, in layout order.
func (p *Params) Named(c Config) []NamedTensor {
	specs := p.specs(c)
	out := make([]NamedTensor, len(specs))
	for i, s := range specs {
		out[i] = NamedTensor{Name: s.name, Shape: s.shape, Data: *s.dst}
	}
	return out
}

// NamedTensor is one parameter view.
type NamedTensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Linear returns the weight, bias and (out, in) sizes of one module.
func (L *LayerParams) Linear(typ string) (w, b []float32, out, in int, ok bool) {
	switch typ {
	case Query:
		return L.Q, L.QB, len(L.QB), len(L.QB), true
	case Key:
		return L.K, L.KB, len(L.KB), len(L.KB), true
	case Value:
		return L.V, L.VB, len(L.VB), len(L.VB), true
	case AttnOut:
		return L.AO, L.AOB, len(L.AOB), len(L.AOB), true
	case FFNIn:
		return L.FI, L.FIB, len(L.FIB), len(L.FOB), true
	case FFNOut:
		return L.FO, L.FOB, len(L.FOB), len(L.FIB), true
	}
	return nil, nil, 0, 0, false
}

// HFName is the checkpoint name of a module (without .weight), e.g.
// "bert.encoder.layer.7.attention.self.value".
func HFName(arch, typ string, layer int) string {
	return fmt.Sprintf("%s.encoder.layer.%d.%s", arch, layer, hfSuffix(typ))
}

func hfSuffix(typ string) string {
	switch typ {
	case Query:
		return "attention.self.query"
	case Key:
		return "attention.self.key"
	case Value:
		return "attention.self.value"
	case AttnOut:
		return "attention.output.dense"
	case FFNIn:
		return "intermediate.dense"
	case FFNOut:
		return "output.dense"
	}
	return typ
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
