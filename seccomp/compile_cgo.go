//go:build cgo

package seccomp

import (
	"errors"
	"fmt"
	"io"
	"os"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Compile validates s and builds its filter with libseccomp, in the parent
// (stage 0), so that an unknown system-call name fails before any namespace
// exists. The result is raw BPF for Load. A spec with base "none" and
// nothing on top compiles to no filter: nil, nil.
//
// A name libseccomp does not know is a *RuleError{Field: "syscalls"} in a
// profile rule, and skipped in a base rule (a system call newer than the
// installed libseccomp cannot be asked for by anything it compiles either).
//
// The filter's no_new_privs attribute is off: libseccomp's own loader would
// set it, but Load is the loader and the caller sets no_new_privs itself.
// A system call from an architecture other than the native one and
// s.AllowArch kills the process.
func Compile(s Spec) (*Program, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.isNone() {
		return nil, nil
	}
	r := s.resolve()
	f, err := libseccomp.NewFilter(scmpAction(r.defAction, r.defErrno))
	if err != nil {
		return nil, fmt.Errorf("seccomp: new filter: %w", err)
	}
	defer f.Release()
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("seccomp: clear no_new_privs attribute: %w", err)
	}
	if err := f.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("seccomp: set bad-arch action: %w", err)
	}
	// A binary tree of system-call numbers instead of a linear scan: the
	// judge allow-list is long, and every system call walks the filter.
	// Older libseccomp lacks the attribute; the filter is then only slower.
	_ = f.SetOptimize(2)
	var errs []error
	for i, name := range s.AllowArch {
		arch, err := libseccomp.GetArchFromString(name)
		if err == nil {
			var present bool
			if present, err = f.IsArchPresent(arch); err == nil && !present {
				err = f.AddArch(arch)
			}
		}
		if err != nil {
			errs = append(errs, &RuleError{Index: -1, Field: "allow_arch", Msg: fmt.Sprintf("[%d] %q: %v", i, name, err)})
		}
	}
	for i, rule := range r.rules {
		errs = append(errs, addRule(f, rule, r.origin[i], r.defAction, r.defErrno)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	bpf, err := exportBPF(f)
	if err != nil {
		return nil, err
	}
	return &Program{BPF: bpf}, nil
}

// addRule adds rule (origin: its index in Spec.Rules, -1 for the base's) to
// f, one system call at a time. A rule whose action is the default action
// is a no-op and libseccomp refuses it, so it is skipped.
func addRule(f *libseccomp.ScmpFilter, rule Rule, origin int, def Action, defErrno string) []error {
	if sameAction(rule.Action, rule.Errno, def, defErrno) {
		return nil
	}
	var errs []error
	ruleErr := func(field, format string, a ...any) {
		errs = append(errs, &RuleError{Index: origin, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	conds := make([]libseccomp.ScmpCondition, 0, len(rule.Args))
	for j, a := range rule.Args {
		c, err := scmpCondition(a)
		if err != nil {
			ruleErr(fmt.Sprintf("args[%d]", j), "%v", err)
			continue
		}
		conds = append(conds, c)
	}
	if len(errs) > 0 {
		return errs
	}
	action := scmpAction(rule.Action, rule.Errno)
	for _, name := range rule.Syscalls {
		nr, err := libseccomp.GetSyscallFromName(name)
		if err != nil {
			if origin >= 0 {
				ruleErr("syscalls", "unknown syscall %q", name)
			}
			continue
		}
		if err := f.AddRuleConditional(nr, action, conds); err != nil {
			ruleErr("syscalls", "%s: %v", name, err)
		}
	}
	return errs
}

func scmpAction(a Action, errno string) libseccomp.ScmpAction {
	switch a {
	case Allow:
		return libseccomp.ActAllow
	case Errno:
		if errno == "" {
			errno = "EPERM"
		}
		n, _ := ErrnoByName(errno) // validated
		return libseccomp.ActErrno.SetReturnCode(int16(n))
	case Kill:
		return libseccomp.ActKillProcess
	case KillThread:
		return libseccomp.ActKillThread
	case Trap:
		return libseccomp.ActTrap
	case Log:
		return libseccomp.ActLog
	}
	return libseccomp.ActInvalid
}

func scmpCondition(a Arg) (libseccomp.ScmpCondition, error) {
	op := map[string]libseccomp.ScmpCompareOp{
		"eq": libseccomp.CompareEqual, "ne": libseccomp.CompareNotEqual,
		"lt": libseccomp.CompareLess, "le": libseccomp.CompareLessOrEqual,
		"gt": libseccomp.CompareGreater, "ge": libseccomp.CompareGreaterEqual,
		"masked_eq": libseccomp.CompareMaskedEqual,
	}[a.Op]
	if a.Op == "masked_eq" {
		// libseccomp's masked equality takes the mask first, then the datum.
		return libseccomp.MakeCondition(a.Index, op, a.Mask, a.Value)
	}
	return libseccomp.MakeCondition(a.Index, op, a.Value)
}

// exportBPF returns f's BPF. seccomp_export_bpf_mem exists only from
// libseccomp 2.6 (the binding stubs it with EOPNOTSUPP below that, and
// Debian 12 ships 2.5.4), so fall back to exporting into a memfd.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	if b, err := f.ExportBPFMem(); err == nil {
		return b, nil
	}
	fd, err := unix.MemfdCreate("jail-seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	file := os.NewFile(uintptr(fd), "jail-seccomp-bpf")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("seccomp: export bpf: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seccomp: export bpf: %w", err)
	}
	b, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("seccomp: export bpf: %w", err)
	}
	return b, nil
}
