package main

import (
	"fmt"

	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/tokenizer"
)

func openDefaultModel() (*model.Model, *tokenizer.Tokenizer, error) {
	return nil, nil, fmt.Errorf("no embedded default model in this build: pass --model DIR")
}
