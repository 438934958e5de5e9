package profile

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// TOML writes the profile as a TOML file that Parse reads back to the same
// profile: every key with its effective value, in the order of the
// reference (docs/profile.md). Variables are already expanded; a $ in a
// string is written doubled, so that it stays literal when read again.
func (p *Profile) TOML() string {
	w := &tomlWriter{}
	w.comment("effective profile" + fromFile(p.File))
	w.kv("name", p.Name)
	w.kv("description", p.Description)
	w.kvx("hostname", p.Hostname)
	w.kvx("cwd", p.Cwd)
	w.raw("protect_vcs", strconv.FormatBool(p.ProtectVCS))

	w.table("user")
	w.kvInt("uid", uint64(p.User.UID))
	w.kvInt("gid", uint64(p.User.GID))
	w.kvList("keep_caps", p.User.KeepCaps)

	w.table("env")
	w.kvList("keep", p.Env.Keep)
	if len(p.Env.Unset) > 0 {
		w.kvList("unset", p.Env.Unset)
	}
	w.table("env.set")
	for _, k := range slices.Sorted(maps.Keys(p.Env.Set)) {
		w.kvx(keySeg(k), p.Env.Set[k])
	}

	for i, m := range p.Mounts {
		w.arrayTable("mount")
		if p.LeftOut(i) {
			w.comment("left out: an optional tmpfs gives way to another entry at its target, or to /")
		}
		w.raw("type", quote(string(m.Type)))
		if m.Source != "" {
			w.kvx("source", m.Source)
		}
		w.kvx("target", m.Target)
		if m.RW {
			w.raw("rw", "true")
		}
		if m.Optional {
			w.raw("optional", "true")
		}
		if m.Type == Tmpfs {
			w.raw("size", quote(m.Size.String()))
		}
		if m.Mode != 0 {
			w.raw("mode", fmt.Sprintf("0o%o", m.Mode))
		}
		if m.Type == File {
			w.kv("content", m.Content)
		}
	}

	w.table("seccomp")
	w.kv("base", p.Seccomp.Base)
	if p.Seccomp.DefaultAction != "" {
		w.kv("default_action", p.Seccomp.DefaultAction)
	}
	if p.Seccomp.DefaultErrno != "" {
		w.kv("default_errno", p.Seccomp.DefaultErrno)
	}
	if len(p.Seccomp.AllowArch) > 0 {
		w.kvList("allow_arch", p.Seccomp.AllowArch)
	}
	for _, r := range p.Seccomp.Rules {
		w.arrayTable("seccomp.rule")
		w.kvList("syscalls", r.Syscalls)
		w.kv("action", r.Action)
		if r.Errno != "" {
			w.kv("errno", r.Errno)
		}
		if len(r.Args) > 0 {
			args := make([]string, len(r.Args))
			for i, a := range r.Args {
				args[i] = fmt.Sprintf("{ index = %d, op = %s, value = %d, mask = %d }", a.Index, quote(a.Op), a.Value, a.Mask)
			}
			w.raw("args", "["+strings.Join(args, ", ")+"]")
		}
	}

	l := p.Limits
	w.table("limits")
	w.comment("0 means no limit")
	w.raw("memory", quote(l.Memory.String()))
	w.raw("swap", strconv.FormatBool(l.Swap))
	w.kvInt("pids", l.Pids)
	w.raw("cpus", strconv.FormatFloat(l.CPUs, 'g', -1, 64))
	w.raw("cpu_time", quote(l.CPUTime.String()))
	w.raw("wall_time", quote(l.WallTime.String()))
	w.raw("extra_time", quote(l.ExtraTime.String()))
	w.raw("output", quote(l.Output.String()))
	w.raw("file_size", quote(l.FileSize.String()))
	w.kvInt("open_files", l.OpenFiles)
	w.raw("stack", quote(l.Stack.String()))
	w.raw("require_cgroup", strconv.FormatBool(l.RequireCgroup))
	if l.Cgroup != "" {
		w.kvx("cgroup", l.Cgroup)
	}

	w.table("time")
	w.raw("monotonic", quote(p.Time.Monotonic.String()))
	w.raw("boottime", quote(p.Time.Boottime.String()))

	w.table("network")
	w.kv("mode", p.Network.Mode)
	return w.b.String()
}

func fromFile(f string) string {
	if f == "" {
		return ""
	}
	return " (from " + f + ")"
}

type tomlWriter struct{ b strings.Builder }

func (w *tomlWriter) comment(s string) { fmt.Fprintf(&w.b, "# %s\n", s) }

func (w *tomlWriter) table(name string) { fmt.Fprintf(&w.b, "\n[%s]\n", name) }

func (w *tomlWriter) arrayTable(name string) { fmt.Fprintf(&w.b, "\n[[%s]]\n", name) }

func (w *tomlWriter) raw(k, v string) { fmt.Fprintf(&w.b, "%s = %s\n", k, v) }

func (w *tomlWriter) kv(k, v string) { w.raw(k, quote(v)) }

// kvx writes a value of a key whose variables Parse expands: a $ in it is
// doubled, so that it reads back as itself.
func (w *tomlWriter) kvx(k, v string) { w.raw(k, quote(strings.ReplaceAll(v, "$", "$$"))) }

func (w *tomlWriter) kvInt(k string, v uint64) { w.raw(k, strconv.FormatUint(v, 10)) }

func (w *tomlWriter) kvList(k string, vs []string) {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = quote(v)
	}
	w.raw(k, "["+strings.Join(q, ", ")+"]")
}

// quote writes a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
