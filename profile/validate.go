package profile

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// Validate checks a defaulted profile (as Parse returns it) and returns
// every problem found, joined with errors.Join; each is an *Error. It is a
// list of small named checks, each adding what it finds.
func (p *Profile) Validate() error {
	v := &validator{p: p}
	for _, check := range []func(*validator){
		checkHostname,
		checkCwd,
		checkEnv,
		checkMounts,
		checkSeccomp,
		checkLimits,
		checkNetwork,
	} {
		check(v)
	}
	return errors.Join(v.errs...)
}

type validator struct {
	p    *Profile
	errs []error
}

// add records a problem with key; line is looked up from the key path (and
// fallback, used when the key is not in the file, e.g. a [[mount]] header).
func (v *validator) add(fallback int, key []string, format string, args ...any) {
	line := v.p.lines.find(key...)
	if line == 0 {
		line = fallback
	}
	v.errs = append(v.errs, &Error{
		File: v.p.File,
		Line: line,
		Key:  strings.Join(key, "."),
		Msg:  fmt.Sprintf(format, args...),
	})
}

func checkHostname(v *validator) {
	h := v.p.Hostname
	if len(h) < 1 || len(h) > 64 {
		v.add(0, []string{"hostname"}, "must be 1 to 64 characters long, not %d", len(h))
		return
	}
	for _, c := range []byte(h) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			v.add(0, []string{"hostname"}, "invalid character %q in %q: only letters, digits, '.' and '-' are allowed", c, h)
			return
		}
	}
}

func checkCwd(v *validator) {
	if msg := badPath(v.p.Cwd); msg != "" {
		v.add(0, []string{"cwd"}, "%s", msg)
	}
}

// badPath says what is wrong with an absolute path inside the sandbox, or "".
func badPath(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case strings.IndexByte(p, 0) >= 0:
		return "must not contain NUL"
	case !path.IsAbs(p):
		return fmt.Sprintf("must be an absolute path, not %q", p)
	case path.Clean(p) != p:
		return fmt.Sprintf("must be a clean path (%q, not %q)", path.Clean(p), p)
	}
	return ""
}

// envNameProblem says what is wrong with an environment variable name, or "".
func envNameProblem(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Sprintf("invalid name %q: contains NUL", name)
	case strings.IndexByte(name, '=') >= 0:
		return fmt.Sprintf("invalid name %q: contains '='", name)
	}
	return ""
}

func checkEnv(v *validator) {
	for i, name := range v.p.Env.Keep {
		if msg := envNameProblem(name); msg != "" {
			v.add(0, []string{"env", "keep"}, "element %d: %s", i, msg)
		}
	}
	for i, name := range v.p.Env.Unset {
		if msg := envNameProblem(name); msg != "" {
			v.add(0, []string{"env", "unset"}, "element %d: %s", i, msg)
		}
		if _, ok := v.p.Env.Set[name]; ok {
			v.add(0, []string{"env", "unset"}, "%q is both set and unset", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(v.p.Env.Set)) {
		key := []string{"env", "set", keySeg(name)}
		if msg := envNameProblem(name); msg != "" {
			v.add(0, key, "%s", msg)
		}
		if strings.IndexByte(v.p.Env.Set[name], 0) >= 0 {
			v.add(0, key, "value must not contain NUL")
		}
	}
}

func checkMounts(v *validator) {
	seen := map[string]int{} // target -> index of first mount
	for i := range v.p.Mounts {
		m := &v.p.Mounts[i]
		out := v.p.LeftOut(i)
		checkMount(v, i, m, out)
		if m.Target == "" || out {
			continue
		}
		if j, dup := seen[m.Target]; dup {
			v.add(m.Line, []string{mountSeg(i), "target"}, "duplicate target %q, already used by mount[%d]%s",
				m.Target, j, atLine(v.p.Mounts[j].Line))
			continue
		}
		seen[m.Target] = i
	}
}

func atLine(l int) string {
	if l == 0 {
		return ""
	}
	return fmt.Sprintf(" (line %d)", l)
}

// fieldTypes lists, for each field that only some types accept, those types.
var fieldTypes = []struct {
	key   string
	set   func(*Mount) bool
	types []MountType
}{
	{"source", func(m *Mount) bool { return m.Source != "" }, []MountType{Bind, Symlink}},
	{"rw", func(m *Mount) bool { return m.RW }, []MountType{Bind}},
	{"optional", func(m *Mount) bool { return m.Optional }, []MountType{Bind, Tmpfs}},
	{"size", func(m *Mount) bool { return m.Size != 0 }, []MountType{Tmpfs}},
	{"mode", func(m *Mount) bool { return m.Mode != 0 }, []MountType{Tmpfs, Dir, File}},
	{"content", func(m *Mount) bool { return m.Content != "" }, []MountType{File}},
}

// checkMount checks one entry; out says it is left out (LeftOut), which
// allows the target "/".
func checkMount(v *validator, i int, m *Mount, out bool) {
	seg := mountSeg(i)
	key := func(k string) []string { return []string{seg, k} }

	if msg := badTarget(m.Target); msg != "" && !(out && m.Target == "/") {
		v.add(m.Line, key("target"), "%s", msg)
	}

	if !slices.Contains(mountTypes, m.Type) {
		if m.Type == "" {
			v.add(m.Line, key("type"), "missing; must be one of %s", typeList(mountTypes))
		} else {
			v.add(m.Line, key("type"), "unknown type %q; must be one of %s", m.Type, typeList(mountTypes))
		}
		return // the checks below depend on the type
	}

	for _, f := range fieldTypes {
		if !f.set(m) || slices.Contains(f.types, m.Type) {
			continue
		}
		if len(f.types) == 1 {
			v.add(m.Line, key(f.key), "only valid for type %s", f.types[0])
		} else {
			v.add(m.Line, key(f.key), "only valid for types %s", typeList(f.types))
		}
	}

	switch m.Type {
	case Bind:
		switch {
		case m.Source == "":
			v.add(m.Line, key("source"), "required for type bind")
		case strings.IndexByte(m.Source, 0) >= 0:
			v.add(m.Line, key("source"), "must not contain NUL")
		case !path.IsAbs(m.Source):
			v.add(m.Line, key("source"), "must be an absolute path, not %q", m.Source)
		}
	case Symlink:
		switch {
		case m.Source == "":
			v.add(m.Line, key("source"), "required for type symlink (the link text)")
		case strings.IndexByte(m.Source, 0) >= 0:
			v.add(m.Line, key("source"), "must not contain NUL")
		}
	case Tmpfs:
		if m.Size == 0 {
			v.add(m.Line, key("size"), "must be greater than 0")
		}
	case File:
		if len(m.Content) > MaxFileContent {
			v.add(m.Line, key("content"), "too large: %d bytes, the limit is %s", len(m.Content), Size(MaxFileContent))
		}
	}
	if m.Mode > 0o7777 {
		v.add(m.Line, key("mode"), "0o%o is not a file mode (at most 0o7777)", m.Mode)
	}
}

// badTarget says what is wrong with a mount target, or "".
func badTarget(t string) string {
	if msg := badPath(t); msg != "" {
		return msg
	}
	for _, c := range strings.Split(t, "/") {
		if c == ".." {
			return "must not contain \"..\""
		}
	}
	if t == "/" {
		return "must not be \"/\": the sandbox root is jail's own"
	}
	for _, r := range []string{"/proc", "/dev"} {
		if t == r || strings.HasPrefix(t, r+"/") {
			return "reserved: jail mounts /proc and /dev itself"
		}
	}
	return ""
}

func typeList(ts []MountType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// checkSeccomp checks the shape of the rules; the names in them are checked
// against the kernel's tables by package seccomp, which has them.
func checkSeccomp(v *validator) {
	for i, r := range v.p.Seccomp.Rules {
		seg := fmt.Sprintf("rule[%d]", i)
		if len(r.Syscalls) == 0 {
			v.add(r.Line, []string{"seccomp", seg, "syscalls"}, "must list at least one syscall")
		}
		if r.Action == "" {
			v.add(r.Line, []string{"seccomp", seg, "action"}, "missing (allow, errno, kill, kill-thread, trap or log)")
		}
	}
}

func checkLimits(v *validator) {
	l := v.p.Limits
	if l.CPUs < 0 {
		v.add(0, []string{"limits", "cpus"}, "must not be negative")
	}
	if l.Memory != 0 && l.Memory < 1<<20 {
		v.add(0, []string{"limits", "memory"}, "%d bytes is too small to start anything (at least 1MiB)", uint64(l.Memory))
	}
	if l.Cgroup != "" && l.Cgroup != "none" && !path.IsAbs(l.Cgroup) {
		v.add(0, []string{"limits", "cgroup"}, "must be an absolute path, or \"none\"")
	}
}

func checkNetwork(v *validator) {
	if m := v.p.Network.Mode; m != "" && !slices.Contains(NetModes, m) {
		v.add(0, []string{"network", "mode"}, "unknown mode %q; must be one of %s", m, strings.Join(NetModes, ", "))
	}
}
