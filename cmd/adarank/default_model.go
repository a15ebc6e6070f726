package main

import (
	"github.com/adarank/adarank/internal/defaultmodel"
	"github.com/adarank/adarank/internal/model"
	"github.com/adarank/adarank/internal/tokenizer"
)

func openDefaultModel() (*model.Model, *tokenizer.Tokenizer, error) { return defaultmodel.Load() }
