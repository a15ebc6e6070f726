//go:build purego || !amd64

package kernels

var useImpl = genericImpl

func activeImpl() *gemmImpl { return useImpl }

func availableImpls() []*gemmImpl { return []*gemmImpl{genericImpl} }
