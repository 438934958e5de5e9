package seccomp

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Rule{Syscalls: []string{"read"}, Action: Allow}
	tests := []struct {
		name  string
		spec  Spec
		index int    // of the expected *RuleError; ignored when field is ""
		field string // "" means valid
		msg   string // substring of Msg
	}{
		{name: "empty spec is the default base", spec: Spec{}},
		{name: "all bases", spec: Spec{Base: "judge", Rules: []Rule{ok}}},
		{name: "full rule", spec: Spec{Base: "default", DefaultAction: Errno, DefaultErrno: "EACCES", AllowArch: []string{"x86", "X32"},
			Rules: []Rule{{Syscalls: []string{"ioctl"}, Action: Errno, Errno: "ENOTTY",
				Args: []Arg{{Index: 1, Op: "masked_eq", Mask: 0xffffffff, Value: 0x5412}, {Index: 5, Op: "ge", Value: 3}}}}}},
		{name: "unknown base", spec: Spec{Base: "strict"}, index: -1, field: "base", msg: `unknown base "strict"`},
		{name: "bad default action", spec: Spec{DefaultAction: "deny"}, index: -1, field: "default_action", msg: `unknown action "deny"`},
		{name: "bad default errno", spec: Spec{DefaultAction: Errno, DefaultErrno: "EFOO"}, index: -1, field: "default_errno", msg: "EFOO"},
		{name: "default errno without errno action", spec: Spec{DefaultAction: Kill, DefaultErrno: "EPERM"}, index: -1, field: "default_errno"},
		{name: "default errno with a base that allows", spec: Spec{Base: "default", DefaultErrno: "EPERM"}, index: -1, field: "default_errno", msg: "default_action"},
		{name: "unknown arch", spec: Spec{AllowArch: []string{"vax"}}, index: -1, field: "allow_arch", msg: `"vax"`},
		{name: "bad action", spec: Spec{Rules: []Rule{ok, {Syscalls: []string{"read"}, Action: "deny"}}}, index: 1, field: "action", msg: `unknown action "deny"`},
		{name: "empty action", spec: Spec{Rules: []Rule{{Syscalls: []string{"read"}}}}, index: 0, field: "action"},
		{name: "bad errno", spec: Spec{Rules: []Rule{{Syscalls: []string{"read"}, Action: Errno, Errno: "EPERMS"}}}, index: 0, field: "errno", msg: "EPERMS"},
		{name: "errno without errno action", spec: Spec{Rules: []Rule{{Syscalls: []string{"read"}, Action: Allow, Errno: "EPERM"}}}, index: 0, field: "errno"},
		{name: "no syscalls", spec: Spec{Rules: []Rule{{Action: Allow}}}, index: 0, field: "syscalls", msg: "empty"},
		{name: "bad syscall name", spec: Spec{Rules: []Rule{{Syscalls: []string{"Read;"}, Action: Allow}}}, index: 0, field: "syscalls", msg: "invalid"},
		{name: "arg index 6", spec: Spec{Rules: []Rule{ok, ok, {Syscalls: []string{"read"}, Action: Allow, Args: []Arg{{Index: 6, Op: "eq"}}}}},
			index: 2, field: "args[0].index", msg: "out of range"},
		{name: "bad op", spec: Spec{Rules: []Rule{{Syscalls: []string{"read"}, Action: Allow, Args: []Arg{{Index: 0, Op: "eq"}, {Index: 1, Op: "=="}}}}},
			index: 0, field: "args[1].op", msg: `"=="`},
		{name: "same arg twice", spec: Spec{Rules: []Rule{{Syscalls: []string{"read"}, Action: Allow, Args: []Arg{{Index: 0, Op: "gt"}, {Index: 0, Op: "lt", Value: 9}}}}},
			index: 0, field: "args[1].index", msg: "twice"},
		{name: "masked_eq without mask", spec: Spec{Rules: []Rule{{Syscalls: []string{"read"}, Action: Allow, Args: []Arg{{Op: "masked_eq"}}}}},
			index: 0, field: "args[0].mask"},
		{name: "masked_eq value outside mask", spec: Spec{Rules: []Rule{{Syscalls: []string{"read"}, Action: Allow, Args: []Arg{{Op: "masked_eq", Mask: 1, Value: 2}}}}},
			index: 0, field: "args[0].value", msg: "never match"},
		{name: "mask with eq", spec: Spec{Rules: []Rule{{Syscalls: []string{"read"}, Action: Allow, Args: []Arg{{Op: "eq", Mask: 1}}}}},
			index: 0, field: "args[0].mask"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want a *RuleError for %s", tc.field)
			}
			for _, e := range unjoin(err) {
				var re *RuleError
				if !errors.As(e, &re) {
					t.Fatalf("error %v (%T) is not a *RuleError", e, e)
				}
				if re.Index == tc.index && re.Field == tc.field && strings.Contains(re.Msg, tc.msg) {
					return
				}
			}
			t.Fatalf("Validate() = %v\nwant a *RuleError{Index: %d, Field: %q, Msg: ~%q}", err, tc.index, tc.field, tc.msg)
		})
	}
}

func TestValidateCollectsAll(t *testing.T) {
	s := Spec{Base: "nope", AllowArch: []string{"vax"}, Rules: []Rule{{Action: "x", Errno: "EX"}}}
	if n := len(unjoin(s.Validate())); n < 5 {
		t.Fatalf("Validate() returned %d errors, want every problem (>= 5): %v", n, s.Validate())
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestRuleErrorString(t *testing.T) {
	for _, tc := range []struct {
		err  RuleError
		want string
	}{
		{RuleError{Index: 2, Field: "args[1].op", Msg: `unknown operator "=="`}, `seccomp.rules[2].args[1].op: unknown operator "=="`},
		{RuleError{Index: -1, Field: "base", Msg: "unknown base"}, "seccomp.base: unknown base"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestErrnoByName(t *testing.T) {
	for name, want := range map[string]int{"EPERM": 1, "ENOENT": 2, "EACCES": 13, "ENOSYS": 38, "EAGAIN": 11, "EWOULDBLOCK": 11, "ENOTSUP": 95, "EHWPOISON": 133} {
		if got, ok := ErrnoByName(name); !ok || got != want {
			t.Errorf("ErrnoByName(%q) = %d, %v; want %d, true", name, got, ok, want)
		}
	}
	for _, name := range []string{"", "eperm", "EFOO", "SIGKILL"} {
		if n, ok := ErrnoByName(name); ok {
			t.Errorf("ErrnoByName(%q) = %d, true; want false", name, n)
		}
	}
}

func TestBases(t *testing.T) {
	got := Bases()
	if want := []string{"default", "judge", "none"}; !slices.Equal(got, want) {
		t.Fatalf("Bases() = %v, want %v", got, want)
	}
	// Every base's own rules must pass the checks a profile rule passes.
	for _, name := range got {
		if err := (Spec{Base: name, Rules: bases[name].rules()}).Validate(); err != nil {
			t.Errorf("base %q has invalid rules: %v", name, err)
		}
	}
}

func TestResolveOverride(t *testing.T) {
	s := Spec{Base: "default", Rules: []Rule{{Syscalls: []string{"ptrace", "ioctl"}, Action: Allow}}}
	r := s.resolve()
	for i, rule := range r.rules {
		for _, n := range rule.Syscalls {
			if (n == "ptrace" || n == "ioctl") && r.origin[i] == -1 {
				t.Errorf("base rule for %s survived a profile rule for it", n)
			}
		}
	}
	if r.defAction != Allow {
		t.Errorf("default base action = %q, want allow", r.defAction)
	}
	if j := (Spec{Base: "judge"}).resolve(); j.defAction != Errno || j.defErrno != "ENOSYS" {
		t.Errorf("judge default = %s %s, want errno ENOSYS", j.defAction, j.defErrno)
	}
	if j := (Spec{Base: "judge", DefaultAction: Errno}).resolve(); j.defErrno != "EPERM" {
		t.Errorf("judge with default_action errno: errno %s, want EPERM", j.defErrno)
	}
}

func TestCompileNone(t *testing.T) {
	p, err := Compile(Spec{Base: "none"})
	if p != nil || err != nil {
		t.Fatalf("Compile(none) = %v, %v; want nil, nil", p, err)
	}
	if err := Load(nil); err != nil {
		t.Fatalf("Load(nil) = %v", err)
	}
}
