package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Action is what a rule (or the filter's default) does with a matching
// system call. The string is the name used in profiles.
type Action string

const (
	// Allow lets the system call run (SECCOMP_RET_ALLOW).
	Allow Action = "allow"
	// Errno fails the system call with an errno, EPERM unless the rule names
	// another (SECCOMP_RET_ERRNO).
	Errno Action = "errno"
	// Kill kills the whole process, every thread (SECCOMP_RET_KILL_PROCESS).
	Kill Action = "kill"
	// KillThread kills only the calling thread (SECCOMP_RET_KILL_THREAD).
	// Rarely what you want: the rest of a multithreaded program lives on.
	KillThread Action = "kill-thread"
	// Trap sends SIGSYS to the calling thread (SECCOMP_RET_TRAP).
	Trap Action = "trap"
	// Log lets the system call run and logs it to the audit log
	// (SECCOMP_RET_LOG).
	Log Action = "log"
)

var actions = []Action{Allow, Errno, Kill, KillThread, Trap, Log}

// Arg is one comparison on a system-call argument. Every Arg of a Rule must
// hold for the rule to match (AND). libseccomp allows at most one comparison
// per argument index in a rule; to express OR, write several rules.
type Arg struct {
	Index uint   `json:"index"` // 0..5
	Op    string `json:"op"`    // "eq","ne","lt","le","gt","ge","masked_eq"
	Value uint64 `json:"value"`
	Mask  uint64 `json:"mask,omitempty"` // masked_eq only: (arg & Mask) == Value
}

var ops = []string{"eq", "ne", "lt", "le", "gt", "ge", "masked_eq"}

// Rule applies Action to each of Syscalls when all of Args hold.
//
// Several rules may name the same system call. An unconditional rule (no
// Args) for a system call overrides every conditional rule for it (this is
// libseccomp's rule). Conditional rules whose conditions can both hold for
// one call, with different actions, have no defined winner: avoid them.
type Rule struct {
	Syscalls []string `json:"syscalls"`
	Action   Action   `json:"action"`
	Errno    string   `json:"errno,omitempty"` // for errno: a name like "EPERM" (default EPERM)
	Args     []Arg    `json:"args,omitempty"`  // all must hold (AND)
}

// Spec is the filter a profile asks for: a named base policy, then the
// profile's rules on top. A profile rule for a system call replaces all of the
// base's rules for that system call (so `allow ptrace` on top of "default"
// allows ptrace).
//
// Compile consumes it in stage 0 (the parent); the resulting Program is
// loaded by the command's process right before execve.
type Spec struct {
	// Base is "default", "judge" or "none"; "" means "default". With "none",
	// no rules and no DefaultAction there is no filter at all (Compile
	// returns nil, nil); rules on top of "none" start from allow-everything.
	Base string `json:"base"`
	// DefaultAction is what happens to a system call no rule matches; ""
	// means the base's default (default: allow; judge: errno ENOSYS).
	DefaultAction Action `json:"default_action,omitempty"`
	// DefaultErrno is the errno of an errno default action; "" means the
	// base's (judge: ENOSYS), or EPERM.
	DefaultErrno string `json:"default_errno,omitempty"`
	// AllowArch lists ABIs allowed besides the native one, for example "x86"
	// (i386 binaries) or "x32" on x86_64. A system call from any other ABI
	// kills the process (SECCOMP_RET_KILL_PROCESS): a filter written for one
	// ABI's syscall numbers means nothing for another's.
	AllowArch []string `json:"allow_arch,omitempty"`
	// Rules are the profile's rules, applied on top of the base.
	Rules []Rule `json:"rules,omitempty"`
}

// Program is a compiled filter: raw classic BPF (an array of struct
// sock_filter, 8 bytes each, native endianness), ready for seccomp(2).
type Program struct {
	BPF []byte `json:"bpf"`
}

// RuleError says what is wrong with a Spec: which rule (its index in
// Spec.Rules, or -1 for a spec-level field) and which field.
type RuleError struct {
	Index int    // index in Spec.Rules; -1 for spec-level errors
	Field string // "syscalls", "action", "errno", "args[1].op", "base", "allow_arch", "default_action", ...
	Msg   string
}

func (e *RuleError) Error() string {
	if e.Index < 0 {
		return "seccomp." + e.Field + ": " + e.Msg
	}
	return fmt.Sprintf("seccomp.rules[%d].%s: %s", e.Index, e.Field, e.Msg)
}

// Bases returns the names of the base policies, sorted.
func Bases() []string {
	names := make([]string, 0, len(bases))
	for name := range bases {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// errnoTable maps errno names (EPERM) to numbers, built from unix.ErrnoName
// over 1..4095 (the range SECCOMP_RET_DATA can carry for an errno), plus
// the aliases ErrnoName does not return.
var errnoTable = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	for i := 1; i <= 4095; i++ {
		if name := unix.ErrnoName(syscall.Errno(i)); name != "" {
			m[name] = i
		}
	}
	for alias, of := range map[string]string{"EWOULDBLOCK": "EAGAIN", "EDEADLOCK": "EDEADLK", "ENOTSUP": "EOPNOTSUPP"} {
		if n, ok := m[of]; ok {
			if _, dup := m[alias]; !dup {
				m[alias] = n
			}
		}
	}
	return m
})

// ErrnoByName looks up an errno by its name, such as "EPERM".
func ErrnoByName(name string) (int, bool) {
	n, ok := errnoTable()[name]
	return n, ok
}

// archNames are the ABI names libseccomp understands (its
// seccomp_arch_resolve_name plus the Go binding's aliases).
var archNames = []string{
	"x86", "x86_64", "x86-64", "amd64", "x64", "x32", "arm", "arm64", "aarch64",
	"mips", "mips64", "mips64n32", "mipsel", "mipsel64", "mipsel64n32",
	"ppc", "ppc64", "ppc64le", "s390", "s390x", "parisc", "parisc64",
	"riscv64", "loong64", "loongarch64", "m68k", "sh", "sheb",
}

// Validate checks everything that needs no libseccomp: the base name, the
// actions, errno names, argument indexes and operators, and architecture
// names. All problems come back together (errors.Join of *RuleError).
// Unknown system-call names are found by Compile.
func (s Spec) Validate() error {
	var errs []error
	add := func(i int, field, format string, a ...any) {
		errs = append(errs, &RuleError{Index: i, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	checks := []func(){
		func() { // base
			if _, ok := bases[s.baseName()]; !ok {
				add(-1, "base", "unknown base %q (want one of %s)", s.Base, strings.Join(Bases(), ", "))
			}
		},
		func() { // default action and errno
			if s.DefaultAction != "" && !slices.Contains(actions, s.DefaultAction) {
				add(-1, "default_action", "unknown action %q (want one of %s)", s.DefaultAction, actionList())
			}
			if s.DefaultErrno == "" {
				return
			}
			if _, ok := ErrnoByName(s.DefaultErrno); !ok {
				add(-1, "default_errno", "unknown errno %q", s.DefaultErrno)
			} else if s.DefaultAction != "" && s.DefaultAction != Errno {
				add(-1, "default_errno", "set, but default_action is %q, not %q", s.DefaultAction, Errno)
			} else if b, ok := bases[s.baseName()]; ok && s.DefaultAction == "" && b.defAction != Errno {
				add(-1, "default_errno", "set, but base %q's default action is %q, not %q: set default_action = %q too", s.baseName(), b.defAction, Errno, Errno)
			}
		},
		func() { // arches
			for i, a := range s.AllowArch {
				if !slices.Contains(archNames, strings.ToLower(a)) {
					add(-1, "allow_arch", "[%d]: unknown architecture %q", i, a)
				}
			}
		},
		func() { // rules
			for i, r := range s.Rules {
				errs = append(errs, r.validate(i)...)
			}
		},
	}
	for _, check := range checks {
		check()
	}
	return errors.Join(errs...)
}

func (r Rule) validate(i int) []error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, &RuleError{Index: i, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if len(r.Syscalls) == 0 {
		add("syscalls", "empty: name at least one system call")
	}
	for _, name := range r.Syscalls {
		if name == "" || strings.ContainsFunc(name, func(c rune) bool {
			return !(c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
		}) {
			add("syscalls", "invalid syscall name %q", name)
		}
	}
	if !slices.Contains(actions, r.Action) {
		add("action", "unknown action %q (want one of %s)", r.Action, actionList())
	}
	if r.Errno != "" {
		if _, ok := ErrnoByName(r.Errno); !ok {
			add("errno", "unknown errno %q", r.Errno)
		} else if r.Action != Errno {
			add("errno", "set, but action is %q, not %q", r.Action, Errno)
		}
	}
	seen := map[uint]bool{}
	for j, a := range r.Args {
		f := func(sub string) string { return fmt.Sprintf("args[%d]%s", j, sub) }
		if a.Index > 5 {
			add(f(".index"), "%d out of range 0..5", a.Index)
		} else if seen[a.Index] {
			add(f(".index"), "argument %d compared twice in one rule (write two rules instead)", a.Index)
		}
		seen[a.Index] = true
		switch {
		case !slices.Contains(ops, a.Op):
			add(f(".op"), "unknown operator %q (want one of %s)", a.Op, strings.Join(ops, ", "))
		case a.Op == "masked_eq" && a.Mask == 0:
			add(f(".mask"), "masked_eq needs a non-zero mask")
		case a.Op == "masked_eq" && a.Value&^a.Mask != 0:
			add(f(".value"), "%#x has bits outside mask %#x, so it can never match", a.Value, a.Mask)
		case a.Op != "masked_eq" && a.Mask != 0:
			add(f(".mask"), "only meaningful with op masked_eq")
		}
	}
	return errs
}

func actionList() string {
	s := make([]string, len(actions))
	for i, a := range actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func (s Spec) baseName() string {
	if s.Base == "" {
		return "default"
	}
	return s.Base
}

// isNone reports whether s asks for no filter at all.
func (s Spec) isNone() bool {
	return s.baseName() == "none" && len(s.Rules) == 0 && s.DefaultAction == ""
}

// resolved is a Spec with its base merged in: the default action and errno,
// and the final rule list. origin[i] is the index in Spec.Rules of rules[i],
// or -1 for a base rule.
type resolved struct {
	defAction Action
	defErrno  string
	rules     []Rule
	origin    []int
}

// resolve merges s's base with its rules. A profile rule for a system call
// drops the base's rules for it. s must be valid.
func (s Spec) resolve() resolved {
	b := bases[s.baseName()]
	r := resolved{defAction: b.defAction, defErrno: b.defErrno}
	if s.DefaultAction != "" {
		r.defAction, r.defErrno = s.DefaultAction, ""
	}
	if s.DefaultErrno != "" {
		r.defErrno = s.DefaultErrno
	}
	if r.defAction == Errno && r.defErrno == "" {
		r.defErrno = "EPERM"
	}
	overridden := map[string]bool{}
	for _, rule := range s.Rules {
		for _, name := range rule.Syscalls {
			overridden[name] = true
		}
	}
	for _, rule := range b.rules() {
		keep := slices.DeleteFunc(slices.Clone(rule.Syscalls), func(n string) bool { return overridden[n] })
		if len(keep) == 0 {
			continue
		}
		rule.Syscalls = keep
		r.rules = append(r.rules, rule)
		r.origin = append(r.origin, -1)
	}
	for i, rule := range s.Rules {
		r.rules = append(r.rules, rule)
		r.origin = append(r.origin, i)
	}
	return r
}

// sameAction reports whether rule action a with errno ae does the same as
// the default action d with errno de.
func sameAction(a Action, ae string, d Action, de string) bool {
	if a != d {
		return false
	}
	if a != Errno {
		return true
	}
	if ae == "" {
		ae = "EPERM"
	}
	return ae == de
}
