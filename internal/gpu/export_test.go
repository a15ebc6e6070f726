package gpu

import "github.com/adarank/adarank/internal/model"

// EmulatedUpload uploads m to a fresh host emulation of a GPU (for the
// external tests of packages built on this one).
func EmulatedUpload(m *model.Model) (*Model, error) { return upload(newHostDev(), m) }
