//go:build !noembed

package defaultmodel

import "embed"

//go:embed model/config.json model/model.safetensors model/tokenizer.json
var files embed.FS

const embedded = true
