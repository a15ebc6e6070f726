//go:build noembed

package defaultmodel

import "embed"

// Built with -tags noembed (e.g. a small binary for another machine): no model inside.
var files embed.FS

const embedded = false
