package profile

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, src string) (*Profile, error) {
	t.Helper()
	return Parse(strings.NewReader(src), "t.toml")
}

func TestDefault(t *testing.T) {
	p := Default()
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if p.Hostname != "jail" || p.Cwd != "/" || p.User.UID != 0 || p.User.GID != 0 || len(p.User.KeepCaps) != 0 {
		t.Errorf("hostname %q cwd %q user %+v", p.Hostname, p.Cwd, p.User)
	}
	var usr, tmp *Mount
	for i := range p.Mounts {
		switch m := &p.Mounts[i]; m.Target {
		case "/usr":
			usr = m
		case "/tmp":
			tmp = m
		case "/proc", "/dev":
			t.Errorf("default profile mounts %s", m.Target)
		}
	}
	if usr == nil || usr.Type != Bind || usr.Source != "/usr" || usr.RW || usr.Optional {
		t.Errorf("/usr mount = %+v, want read-only bind of /usr", usr)
	}
	if tmp == nil || tmp.Type != Tmpfs || tmp.Size != 64<<20 || tmp.Mode != 0o1777 {
		t.Errorf("/tmp mount = %+v, want tmpfs 64MiB 0o1777", tmp)
	}
	if got := p.Env.Set["PATH"]; !strings.Contains(got, "/usr/bin") {
		t.Errorf("PATH = %q", got)
	}
}

func TestParseGood(t *testing.T) {
	p, err := parse(t, `
name = "all"
[env]
keep = ["TERM"]
set = { A = "1" }

[[mount]]
type = "bind"
source = "/srv/data"
target = "/data"
rw = true

[[mount]]
type = "tmpfs"
target = "/tmp"

[[mount]]
type = "tmpfs"
target = "/run"
size = 1048576
mode = 0o700

[[mount]]
type = "dir"
target = "/home"

[[mount]]
type = "symlink"
source = "usr/bin"
target = "/bin"

[[mount]]
type = "file"
target = "/etc/motd"
content = "hi\n"
`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Hostname != "jail" || p.Cwd != "/" || p.File != "t.toml" || p.Name != "all" {
		t.Errorf("defaults: hostname %q cwd %q file %q name %q", p.Hostname, p.Cwd, p.File, p.Name)
	}
	if p.Env.Set["A"] != "1" || len(p.Env.Keep) != 1 {
		t.Errorf("env = %+v", p.Env)
	}
	want := []Mount{
		{Type: Bind, Source: "/srv/data", Target: "/data", RW: true, Line: 7},
		{Type: Tmpfs, Target: "/tmp", Size: 64 << 20, Mode: 0o755, Line: 13},
		{Type: Tmpfs, Target: "/run", Size: 1 << 20, Mode: 0o700, Line: 17},
		{Type: Dir, Target: "/home", Mode: 0o755, Line: 23},
		{Type: Symlink, Source: "usr/bin", Target: "/bin", Line: 27},
		{Type: File, Target: "/etc/motd", Content: "hi\n", Mode: 0o644, Line: 32},
	}
	if len(p.Mounts) != len(want) {
		t.Fatalf("got %d mounts, want %d", len(p.Mounts), len(want))
	}
	for i := range want {
		want[i].File = "t.toml"
		if p.Mounts[i] != want[i] {
			t.Errorf("mount[%d] = %+v, want %+v", i, p.Mounts[i], want[i])
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string // each must appear in the error text
	}{
		{"syntax", "name = \"a\"\n\nhostname = = 1\n", []string{`profile "t.toml": line 3: syntax error: `}},
		{"wrong type top", "name = \"a\"\nhostname = 5\n", []string{`profile "t.toml": line 2: hostname: incompatible types`}},
		{"wrong type user", "[user]\ngid = 1\nuid = \"abc\"\n", []string{`profile "t.toml": line 3: user.uid: incompatible types`}},
		{"uid range", "[user]\nuid = -1\n", []string{`profile "t.toml": line 2: user.uid: -1 is out of range for uint32`}},
		{"wrong type mount", "[[mount]]\ntype = \"dir\"\ntarget = \"/a\"\n[[mount]]\ntype = \"dir\"\ntarget = 5\n",
			[]string{`profile "t.toml": line 6: mount[1].target: incompatible types`}},
		{"mount not array", "mount = 3\n", []string{`profile "t.toml": line 1: mount: must be an array of tables`}},
		{"mount element not table", "mount = [1]\n", []string{`profile "t.toml": line 1: mount[0]: type mismatch for profile.Mount: expected table`}},
		{"bad size string", "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/t\"\n[[mount]]\ntype = \"tmpfs\"\ntarget = \"/u\"\nsize = \"12 parsecs\"\n",
			[]string{`profile "t.toml": line 7: mount[1].size: invalid size "12 parsecs"`}},
		{"negative size", "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/t\"\nsize = -5\n", []string{`line 4: mount[0].size: invalid size -5`}},
		{"relative target", "\n[[mount]]\ntype = \"dir\"\ntarget = \"a/b\"\n", []string{`profile "t.toml": line 4: mount[0].target: must be an absolute path`}},
		{"unclean target", "[[mount]]\ntype = \"dir\"\ntarget = \"/a//b/\"\n", []string{`line 3: mount[0].target: must be a clean path`}},
		{"dotdot target", "[[mount]]\ntype = \"dir\"\ntarget = \"/a/../b\"\n", []string{`line 3: mount[0].target: must be a clean path`}},
		{"root target", "[[mount]]\ntype = \"dir\"\ntarget = \"/\"\n", []string{`line 3: mount[0].target: must not be "/"`}},
		{"missing target", "[[mount]]\ntype = \"dir\"\n", []string{`profile "t.toml": line 1: mount[0].target: must not be empty`}},
		{"proc target", "[[mount]]\ntype = \"dir\"\ntarget = \"/proc/sys\"\n", []string{`line 3: mount[0].target: reserved: jail mounts /proc and /dev itself`}},
		{"dev target", "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/dev\"\n", []string{`line 3: mount[0].target: reserved`}},
		{"devices not dev", "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/devices\"\ncontent = \"x\"\n", []string{`line 4: mount[0].content: only valid for type file`}},
		{"bind no source", "[[mount]]\ntype = \"bind\"\ntarget = \"/a\"\n", []string{`line 1: mount[0].source: required for type bind`}},
		{"bind relative source", "[[mount]]\ntype = \"bind\"\nsource = \"usr\"\ntarget = \"/a\"\n", []string{`line 3: mount[0].source: must be an absolute path`}},
		{"symlink no source", "[[mount]]\ntype = \"symlink\"\ntarget = \"/a\"\n", []string{`line 1: mount[0].source: required for type symlink`}},
		{"size on bind", "[[mount]]\ntype = \"bind\"\nsource = \"/a\"\ntarget = \"/a\"\n\n[[mount]]\ntype = \"bind\"\nsource = \"/b\"\ntarget = \"/b\"\nsize = \"1M\"\n",
			[]string{`profile "t.toml": line 10: mount[1].size: only valid for type tmpfs`}},
		{"rw on tmpfs", "[[mount]]\ntype = \"tmpfs\"\ntarget = \"/a\"\nrw = true\n", []string{`line 4: mount[0].rw: only valid for type bind`}},
		{"optional on dir", "[[mount]]\ntype = \"dir\"\ntarget = \"/a\"\noptional = true\n", []string{`line 4: mount[0].optional: only valid for types bind, tmpfs`}},
		{"mode on bind", "[[mount]]\ntype = \"bind\"\nsource = \"/a\"\ntarget = \"/a\"\nmode = 0o700\n", []string{`line 5: mount[0].mode: only valid for types tmpfs, dir, file`}},
		{"source on dir", "[[mount]]\ntype = \"dir\"\ntarget = \"/a\"\nsource = \"/x\"\n", []string{`line 4: mount[0].source: only valid for types bind, symlink`}},
		{"unknown type", "[[mount]]\ntype = \"overlay\"\ntarget = \"/a\"\n", []string{`line 2: mount[0].type: unknown type "overlay"; must be one of bind, tmpfs, dir, symlink, file`}},
		{"missing type", "\n[[mount]]\ntarget = \"/a\"\n", []string{`line 2: mount[0].type: missing; must be one of bind`}},
		{"duplicate target", "[[mount]]\ntype = \"dir\"\ntarget = \"/a\"\n[[mount]]\ntype = \"tmpfs\"\ntarget = \"/a\"\n",
			[]string{`line 6: mount[1].target: duplicate target "/a", already used by mount[0] (line 1)`}},
		{"big content", "[[mount]]\ntype = \"file\"\ntarget = \"/a\"\ncontent = \"" + strings.Repeat("x", 1<<20+1) + "\"\n",
			[]string{`line 4: mount[0].content: too large: 1048577 bytes, the limit is 1MiB`}},
		{"mode too big", "[[mount]]\ntype = \"dir\"\ntarget = \"/a\"\nmode = 0o17777\n", []string{`line 4: mount[0].mode: 0o17777 is not a file mode`}},
		{"env keep empty", "[env]\nkeep = [\"A\", \"\"]\n", []string{`profile "t.toml": line 2: env.keep: element 1: must not be empty`}},
		{"env keep equals", "[env]\nkeep = [\n  \"A=B\",\n]\n", []string{`line 2: env.keep: element 0: invalid name "A=B": contains '='`}},
		{"env set name", "[env.set]\nOK = \"1\"\n\"A=B\" = \"1\"\n", []string{`line 3: env.set."A=B": invalid name "A=B": contains '='`}},
		{"env set nul", "[env.set]\nA = \"x\\u0000y\"\n", []string{`line 2: env.set.A: value must not contain NUL`}},
		{"env set nul name", "[env]\nset = { \"A\\u0000\" = \"1\" }\n", []string{`line 2: env.set."A\x00": invalid name "A\x00": contains NUL`}},
		{"cwd relative", "name = \"x\"\ncwd = \"tmp\"\n", []string{`profile "t.toml": line 2: cwd: must be an absolute path`}},
		{"hostname chars", "hostname = \"a_b\"\n", []string{`line 1: hostname: invalid character '_'`}},
		{"hostname long", "\nhostname = \"" + strings.Repeat("a", 65) + "\"\n", []string{`line 2: hostname: must be 1 to 64 characters long, not 65`}},
		{"unknown top", "name = \"x\"\n\nunknwn = 1\n", []string{`profile "t.toml": line 3: unknwn: unknown key`}},
		{"unknown in user", "[user]\nuid = 1\nshell = \"/bin/sh\"\n", []string{`profile "t.toml": line 3: user.shell: unknown key`}},
		{"unknown in second mount", "[[mount]]\ntype = \"dir\"\ntarget = \"/a\"\n\n[[mount]]\ntype = \"dir\"\ntarget = \"/b\"\nreadonly = true\n",
			[]string{`profile "t.toml": line 8: mount[1].readonly: unknown key`}},
		{"unknown case", "[[mount]]\ntype = \"dir\"\nTarget = \"/b\"\n", []string{`line 3: mount[0].Target: unknown key`}},
		{"unknown table", "[extra]\na = 1\nb = 2\n", []string{`profile "t.toml": line 1: extra: unknown key`}},
		{"unknown in inline mount", "mount = [\n  { type = \"dir\", target = \"/a\" },\n  { type = \"dir\", target = \"/b\", x = 1 },\n]\n",
			[]string{`profile "t.toml": line 1: mount[1].x: unknown key`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.src)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.File != "t.toml" {
				t.Errorf("errors.As(*Error) = %v, %+v", errors.As(err, &pe), pe)
			}
		})
	}
}

func TestUnknownTableReportedOnce(t *testing.T) {
	_, err := parse(t, "[extra]\na = 1\n[extra.sub]\nb = 2\n")
	if n := strings.Count(err.Error(), "unknown key"); n != 1 {
		t.Errorf("%d unknown key errors, want 1:\n%v", n, err)
	}
}

func TestMultipleErrors(t *testing.T) {
	src := `hostname = "bad host"
cwd = "rel"
bogus = 1

[user]
uid = "zero"

[[mount]]
type = "bind"
target = "rel"

[[mount]]
type = "tmpfs"
target = "/proc"
rw = true
`
	_, err := parse(t, src)
	if err == nil {
		t.Fatal("no error")
	}
	// Decoding problems are reported together; validation runs only on a
	// profile that decoded.
	for _, w := range []string{
		`line 3: bogus: unknown key`,
		`line 6: user.uid: incompatible types`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%v", w, err)
		}
	}

	_, err = parse(t, strings.Replace(strings.Replace(src, `uid = "zero"`, `uid = 0`, 1), "bogus = 1\n", "", 1))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`profile "t.toml": line 1: hostname: invalid character ' '`,
		`profile "t.toml": line 2: cwd: must be an absolute path`,
		`profile "t.toml": line 9: mount[0].target: must be an absolute path`,
		`profile "t.toml": line 7: mount[0].source: required for type bind`,
		`profile "t.toml": line 13: mount[1].target: reserved`,
		`profile "t.toml": line 14: mount[1].rw: only valid for type bind`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in\n%v", w, err)
		}
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != len(want) {
		t.Errorf("not an errors.Join of %d errors: %#v", len(want), err)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  Error
		want string
	}{
		{Error{File: "build.toml", Line: 7, Key: "mount[2].target", Msg: "must be an absolute path"}, `profile "build.toml": line 7: mount[2].target: must be an absolute path`},
		{Error{File: "x.toml", Line: 3, Msg: "syntax error: bad"}, `profile "x.toml": line 3: syntax error: bad`},
		{Error{File: "x.toml", Key: "cwd", Msg: "m"}, `profile "x.toml": cwd: m`},
		{Error{Key: "cwd", Msg: "m"}, `profile: cwd: m`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got %q", got)
			}
		})
	}
}

func TestValidateHandBuilt(t *testing.T) {
	p := &Profile{Hostname: "h", Cwd: "/", Mounts: []Mount{{Type: Dir, Target: "x", Line: 4}}}
	err := p.Validate()
	if err == nil || err.Error() != `profile: line 4: mount[0].target: must be an absolute path, not "x"` {
		t.Errorf("got %v", err)
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load("testdata/does-not-exist.toml"); err == nil || !strings.Contains(err.Error(), "does-not-exist.toml") {
		t.Errorf("Load missing file: %v", err)
	}
	p, err := Load("testdata/build.toml")
	if err != nil {
		t.Fatal(err)
	}
	if p.File != "testdata/build.toml" {
		t.Errorf("File = %q", p.File)
	}
}

func TestSeccompSection(t *testing.T) {
	good := `[seccomp]
base = "judge"
allow_arch = ["x86"]

[[seccomp.rule]]
syscalls = ["ptrace"]
action = "allow"

[[seccomp.rule]]
syscalls = ["personality"]
action = "errno"
errno = "EPERM"
args = [{ index = 0, op = "ne", value = 0 }]
`
	p, err := Parse(strings.NewReader(good), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Seccomp
	if sc.Base != "judge" || len(sc.Rules) != 2 || sc.Rules[1].Args[0].Op != "ne" || sc.Rules[1].Line != 9 {
		t.Errorf("decoded %+v", sc)
	}
	if got := p.LineOf("seccomp.rule[1].errno"); got != 12 {
		t.Errorf("LineOf(seccomp.rule[1].errno) = %d, want 12", got)
	}
	def, err := Parse(strings.NewReader(""), "e.toml")
	if err != nil || def.Seccomp.Base != DefaultSeccompBase {
		t.Errorf("empty profile: base %q, err %v", def.Seccomp.Base, err)
	}

	bad := []struct{ name, toml, want string }{
		{"unknown key in rule", "[[seccomp.rule]]\nsyscalls = [\"x\"]\naction = \"allow\"\nfoo = 1\n", `line 4: seccomp.rule[0].foo: unknown key`},
		{"unknown key in section", "[seccomp]\nbase = \"default\"\nbogus = true\n", `line 3: seccomp.bogus: unknown key`},
		{"unknown arg key", "[[seccomp.rule]]\nsyscalls = [\"x\"]\naction = \"allow\"\nargs = [{ index = 0, op = \"eq\", valu = 1 }]\n", `line 4: seccomp.rule[0].args[0].valu: unknown key`},
		{"no syscalls", "[[seccomp.rule]]\naction = \"allow\"\n", `line 1: seccomp.rule[0].syscalls: must list at least one syscall`},
		{"no action", "[[seccomp.rule]]\nsyscalls = [\"read\"]\n", `line 1: seccomp.rule[0].action: missing`},
		{"wrong type", "[seccomp]\nbase = 3\n", `line 2: seccomp.base:`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.toml), "t.toml")
			if err == nil || !strings.Contains(err.Error(), `profile "t.toml": `+tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLimitsSection(t *testing.T) {
	p, err := Parse(strings.NewReader("[limits]\nmemory = \"256MiB\"\npids = 64\ncpus = 1.5\ncpu_time = \"2.5s\"\nwall_time = 10\nextra_time = \"500ms\"\noutput = \"1MiB\"\n"), "t.toml")
	if err != nil {
		t.Fatal(err)
	}
	l := p.Limits
	if l.Memory != 256<<20 || l.Pids != 64 || l.CPUs != 1.5 || time.Duration(l.CPUTime) != 2500*time.Millisecond ||
		time.Duration(l.WallTime) != 10*time.Second || time.Duration(l.ExtraTime) != 500*time.Millisecond || l.Output != 1<<20 {
		t.Errorf("decoded %+v", l)
	}
	for _, tc := range []struct{ toml, want string }{
		{"[limits]\ncpu_time = \"fast\"\n", `line 2: limits.cpu_time: `},
		{"[limits]\nmemory = 100\n", `line 2: limits.memory: 100 bytes is too small`},
		{"[limits]\nmemroy = \"1GiB\"\n", `line 2: limits.memroy: unknown key`},
		{"[limits]\ncgroup = \"rel\"\n", `line 2: limits.cgroup: must be an absolute path, or "none"`},
	} {
		_, err := Parse(strings.NewReader(tc.toml), "t.toml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.toml, err, tc.want)
		}
	}
}
