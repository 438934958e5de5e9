//go:build !linux

package seccomp

import "errors"

// Load is Linux-only; elsewhere only the empty program loads.
func Load(p *Program) error {
	if p == nil {
		return nil
	}
	return errors.New("seccomp: not supported on this operating system")
}
