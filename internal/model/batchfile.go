package model

import (
	"fmt"

	"github.com/adarank/adarank/internal/hf"
)

// BatchFromFile reads a batch stored as safetensors the way the reference
// fixtures and `adarank encode --dump` store it: input_ids [B,T],
// attention_mask [B,T] and, if present, token_type_ids [B,T].
func BatchFromFile(f *hf.File) (Batch, error) {
	ids, shape, err := f.Int32s("input_ids")
	if err != nil {
		return Batch{}, err
	}
	if len(shape) != 2 {
		return Batch{}, fmt.Errorf("input_ids has shape %v, want [batch, tokens]", shape)
	}
	b := Batch{B: shape[0], T: shape[1], IDs: ids}
	if b.Mask, _, err = f.Int32s("attention_mask"); err != nil {
		return Batch{}, err
	}
	if f.Tensors["token_type_ids"] != nil {
		if b.TypeIDs, _, err = f.Int32s("token_type_ids"); err != nil {
			return Batch{}, err
		}
	}
	if len(b.Mask) != len(ids) || b.TypeIDs != nil && len(b.TypeIDs) != len(ids) {
		return Batch{}, fmt.Errorf("input_ids, attention_mask and token_type_ids differ in size")
	}
	return b, nil
}
