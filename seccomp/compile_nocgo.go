//go:build !cgo

package seccomp

import "errors"

// Compile needs libseccomp, hence cgo. Without it only a spec that asks for
// no filter at all (base "none", nothing on top) compiles, to nil.
func Compile(s Spec) (*Program, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.isNone() {
		return nil, nil
	}
	return nil, errors.New("seccomp: jail was built without cgo, so it cannot compile seccomp filters (rebuild with CGO_ENABLED=1 and libseccomp-dev, or use base \"none\")")
}
