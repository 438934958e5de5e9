package main

import (
	"errors"
	"fmt"

	"github.com/jail-sandbox/jail/profile"
	"github.com/jail-sandbox/jail/seccomp"
)

// seccompSpec is the profile's [seccomp] section in package seccomp's terms.
func seccompSpec(sc profile.Seccomp) seccomp.Spec {
	spec := seccomp.Spec{
		Base:          sc.Base,
		DefaultAction: seccomp.Action(sc.DefaultAction),
		DefaultErrno:  sc.DefaultErrno,
		AllowArch:     sc.AllowArch,
	}
	for _, r := range sc.Rules {
		rule := seccomp.Rule{Syscalls: r.Syscalls, Action: seccomp.Action(r.Action), Errno: r.Errno}
		for _, a := range r.Args {
			rule.Args = append(rule.Args, seccomp.Arg{Index: a.Index, Op: a.Op, Value: a.Value, Mask: a.Mask})
		}
		spec.Rules = append(spec.Rules, rule)
	}
	return spec
}

// compileFilter compiles the profile's filter in stage 0, before any
// namespace exists, so that an unknown syscall or errno name is a profile
// error with its line. It returns nil when the profile asks for no filter.
func compileFilter(p *profile.Profile) ([]byte, error) {
	prog, err := seccomp.Compile(seccompSpec(p.Seccomp))
	if err != nil {
		return nil, profileErrors(p, err)
	}
	if prog == nil {
		return nil, nil
	}
	return prog.BPF, nil
}

// profileErrors turns seccomp's rule errors into profile errors that name
// the file, the line and the key.
func profileErrors(p *profile.Profile, err error) error {
	var errs []error
	for _, e := range unjoin(err) {
		var re *seccomp.RuleError
		if !errors.As(e, &re) {
			errs = append(errs, fmt.Errorf("profile %q: seccomp: %w", p.File, e))
			continue
		}
		key, file, line := "seccomp."+re.Field, p.File, p.LineOf("seccomp."+re.Field)
		if re.Index >= 0 {
			key = fmt.Sprintf("seccomp.rule[%d].%s", re.Index, re.Field)
			if re.Index < len(p.Seccomp.Rules) {
				r := &p.Seccomp.Rules[re.Index]
				file, line = r.File, r.LineOf(re.Field)
			}
		}
		errs = append(errs, &profile.Error{File: file, Line: line, Key: key, Msg: re.Msg})
	}
	return errors.Join(errs...)
}

// unjoin lists the errors inside an errors.Join, or err itself.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
