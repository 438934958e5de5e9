package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testVars are fixed variables, so tests do not depend on the caller.
var testVars = Vars{
	Builtin: map[string]string{"PWD": "/work/proj", "HOME": "/home/u", "UID": "1000", "GID": "1000", "USER": "u"},
	Env: func(k string) (string, bool) {
		v, ok := map[string]string{"CACHE": "/var/cache/x", "EMPTY": ""}[k]
		return v, ok
	},
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "${PWD}/out", want: "/work/proj/out"},
		{in: "${HOME}:${UID}:${GID}:${USER}", want: "/home/u:1000:1000:u"},
		{in: "${CACHE}", want: "/var/cache/x"},
		{in: "${MISSING:-/tmp/d}", want: "/tmp/d"},
		{in: "${EMPTY:-def}", want: "def"},
		{in: "${EMPTY}", want: ""},
		{in: "cost $$5", want: "cost $5"},
		{in: "${MISSING}", err: "variable MISSING is not set"},
		{in: "$HOME", err: "a $ must start ${NAME}"},
		{in: "${HOME", err: "unterminated"},
		{in: "${A-B}", err: "invalid variable name"},
		{in: "${}", err: "invalid variable name"},
	} {
		got, err := testVars.Expand(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Expand(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestVariablesInProfile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"p.toml": `cwd = "${PWD}"
[env.set]
CCACHE_DIR = "${CACHE}/ccache"
[[mount]]
type = "bind"
source = "${PWD}"
target = "${PWD}"
rw = true
[[mount]]
type = "file"
target = "/etc/motd"
content = "${NOT_EXPANDED}"
`})
	p, err := Loader{Vars: testVars}.Load(filepath.Join(dir, "p.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Cwd != "/work/proj" || p.Mounts[0].Source != "/work/proj" || p.Mounts[0].Target != "/work/proj" {
		t.Errorf("cwd %q mount %+v", p.Cwd, p.Mounts[0])
	}
	if p.Env.Set["CCACHE_DIR"] != "/var/cache/x/ccache" {
		t.Errorf("env %v", p.Env.Set)
	}
	if p.Mounts[1].Content != "${NOT_EXPANDED}" {
		t.Errorf("file content was expanded: %q", p.Mounts[1].Content)
	}

	// An unset variable is an error at its line and key.
	_, err = Loader{Vars: testVars}.Parse([]byte("hostname = \"a\"\n[[mount]]\ntype = \"bind\"\nsource = \"${NOPE}\"\ntarget = \"/x\"\n"), "v.toml")
	var pe *Error
	if !errors.As(err, &pe) || pe.File != "v.toml" || pe.Line != 4 || pe.Key != "mount[0].source" || !strings.Contains(pe.Msg, "NOPE") {
		t.Errorf("got %v", err)
	}
}

func TestExtendsMerge(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"base.toml": `name = "base"
hostname = "basehost"
cwd = "/data"
[user]
keep_caps = ["CAP_NET_RAW"]
[env]
keep = ["TERM", "LANG"]
[env.set]
PATH = "/usr/bin"
EDITOR = "vi"
[[mount]]
type = "bind"
source = "/usr"
target = "/usr"
[[mount]]
type = "tmpfs"
target = "/tmp"
size = "8MiB"
[seccomp]
base = "judge"
[[seccomp.rule]]
syscalls = ["socket"]
action = "errno"
errno = "EACCES"
[limits]
memory = "256MiB"
pids = 32
[time]
boottime = "1d"
`,
		"sub/child.toml": `extends = "../base.toml"
name = "child"
[user]
keep_caps = []
[env]
keep = ["TZ", "TERM"]
unset = ["EDITOR", "LANG"]
[env.set]
PATH = "/bin"
[[mount]]
type = "tmpfs"
target = "/tmp"
size = "1MiB"
[[mount]]
type = "dir"
target = "/out"
[[seccomp.rule]]
syscalls = ["mkdir"]
action = "errno"
errno = "EPERM"
[limits]
pids = 8
[network]
mode = "host"
`,
	})
	p, err := Loader{Vars: testVars}.Load(filepath.Join(dir, "sub/child.toml"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("name", p.Name, "child")
	check("hostname (inherited)", p.Hostname, "basehost")
	check("cwd (inherited)", p.Cwd, "/data")
	check("keep_caps (replaced)", len(p.User.KeepCaps), 0)
	check("env.keep (appended, unset removed)", strings.Join(p.Env.Keep, ","), "TERM,TZ")
	check("env.set PATH (child wins)", p.Env.Set["PATH"], "/bin")
	_, hasEditor := p.Env.Set["EDITOR"]
	check("env.set EDITOR (unset)", hasEditor, false)
	check("mounts", len(p.Mounts), 3)
	check("mount /tmp replaced in place", p.Mounts[1].Target+" "+p.Mounts[1].Size.String(), "/tmp 1MiB")
	check("mount /out appended", p.Mounts[2].Target, "/out")
	check("seccomp.base (inherited)", p.Seccomp.Base, "judge")
	check("rules appended", len(p.Seccomp.Rules), 2)
	check("parent rule keeps its file", filepath.Base(p.Seccomp.Rules[0].File), "base.toml")
	check("limits.memory (inherited)", p.Limits.Memory.String(), "256MiB")
	check("limits.pids (child)", p.Limits.Pids, uint64(8))
	check("time.boottime (inherited)", time.Duration(p.Time.Boottime), 24*time.Hour)
	check("network.mode", p.Network.Mode, NetHost)
	check("extends resolved", p.Extends, "")
	check("file", filepath.Base(p.File), "child.toml")
}

func equal(a, b any) bool { return a == b }

func TestExtendsBuiltin(t *testing.T) {
	dir := writeFiles(t, map[string]string{"c.toml": "extends = \"default\"\nhostname = \"box\"\n[limits]\nmemory = \"64MiB\"\n"})
	p, err := Loader{Vars: testVars}.Load(filepath.Join(dir, "c.toml"))
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	if p.Hostname != "box" || len(p.Mounts) != len(def.Mounts) || p.Seccomp.Base != "default" || p.Limits.Memory != 64<<20 {
		t.Errorf("got hostname %q, %d mounts (default %d), base %q, memory %v", p.Hostname, len(p.Mounts), len(def.Mounts), p.Seccomp.Base, p.Limits.Memory)
	}
	if !slices.Equal(p.Env.Keep, def.Env.Keep) {
		t.Errorf("env.keep %v, want %v", p.Env.Keep, def.Env.Keep)
	}
}

func TestExtendsErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"loop-a.toml":     "extends = \"loop-b.toml\"\n",
		"loop-b.toml":     "extends = \"loop-a.toml\"\n",
		"bad-parent.toml": "name = \"p\"\n\n[limits]\nmemory = \"lots\"\n",
		"child.toml":      "# child\nextends = \"bad-parent.toml\"\n",
		"missing.toml":    "extends = \"nope.toml\"\n",
		"nobuiltin.toml":  "extends = \"no-such-builtin\"\n",
	})
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"loop-a.toml", []string{"extends loops"}},
		// The parent's error names the parent's file and line; the child's
		// names its extends line.
		{"child.toml", []string{`"` + filepath.Join(dir, "child.toml") + `": line 2: extends`, `"` + filepath.Join(dir, "bad-parent.toml") + `": line 4: limits.memory`}},
		{"missing.toml", []string{"line 1: extends", "nope.toml", "no such file"}},
		{"nobuiltin.toml", []string{"no built-in profile \"no-such-builtin\""}},
	} {
		_, err := Loader{Vars: testVars}.Load(filepath.Join(dir, tc.file))
		if err == nil {
			t.Errorf("%s: no error", tc.file)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.file, err, w)
			}
		}
	}
}

func TestIsBuiltinRef(t *testing.T) {
	for ref, want := range map[string]bool{"build": true, "judge-c": true, "./build": false, "b.toml": false, "/etc/x": false, "": false} {
		if IsBuiltinRef(ref) != want {
			t.Errorf("IsBuiltinRef(%q) = %v", ref, !want)
		}
	}
}

func TestParseOffset(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"365d", 365 * 24 * time.Hour, false},
		{"-2h", -2 * time.Hour, false},
		{"+90s", 90 * time.Second, false},
		{"1d12h", 36 * time.Hour, false},
		{"-1d30m", -(24*time.Hour + 30*time.Minute), false},
		{"0", 0, false},
		{"d", 0, true},
		{"1x", 0, true},
		{"--1h", 0, true},
		{"40000d", 0, true},
	} {
		got, err := ParseOffset(tc.in)
		if (err != nil) != tc.err || !tc.err && time.Duration(got) != tc.want {
			t.Errorf("ParseOffset(%q) = %v, %v", tc.in, time.Duration(got), err)
		}
		if err == nil {
			back, err := ParseOffset(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q via %q: %v, %v", tc.in, got.String(), time.Duration(back), err)
			}
		}
	}
}

// TestTOMLRoundTrip: the effective profile `jail check` prints reads back
// to the same profile, for every built-in profile and a profile with every
// kind of key.
func TestTOMLRoundTrip(t *testing.T) {
	dir := writeFiles(t, map[string]string{"all.toml": `extends = "default"
name = "all"
description = "every kind of key"
hostname = "h-1"
cwd = "/tmp"
[user]
uid = 1000
gid = 1000
keep_caps = ["CAP_NET_BIND_SERVICE"]
[env]
keep = ["TZ"]
[env.set]
PS1 = "$$ "
"ODD NAME" = "tab\there \"quoted\" \\ back"
[[mount]]
type = "file"
target = "/etc/motd"
content = "line 1\nline 2 ${X}\n"
mode = 0o600
[[mount]]
type = "symlink"
source = "../usr/bin"
target = "/opt/bin"
[[mount]]
type = "bind"
source = "/etc"
target = "/host-etc"
rw = true
optional = true
[seccomp]
default_errno = "EPERM"
allow_arch = ["x86"]
[[seccomp.rule]]
syscalls = ["socket"]
action = "errno"
errno = "EACCES"
args = [{ index = 0, op = "eq", value = 2, mask = 0 }]
[limits]
memory = "256MiB"
swap = true
pids = 64
cpus = 1.5
cpu_time = "2.5s"
wall_time = "10s"
extra_time = "500ms"
output = "1MiB"
file_size = "16MiB"
open_files = 64
stack = "8MiB"
require_cgroup = true
cgroup = "/sys/fs/cgroup/x"
[time]
monotonic = "365d"
boottime = "-2h"
[network]
mode = "user"
`})
	files := []string{filepath.Join(dir, "all.toml")}
	for _, n := range BuiltinNames() {
		files = append(files, n)
	}
	for _, f := range files {
		p, err := Loader{Vars: testVars}.Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out := p.TOML()
		q, err := Loader{Vars: testVars}.Parse([]byte(out), "check.toml")
		if err != nil {
			t.Fatalf("%s: the printed profile does not parse: %v\n%s", f, err, out)
		}
		if again := q.TOML(); again != strings.Replace(out, fromFile(p.File), fromFile("check.toml"), 1) {
			t.Errorf("%s: printed profile changes when read back:\n%s\n---\n%s", f, out, again)
		}
	}
}

// TestFilesRead: a profile lists every file it was read from, the one
// given first and then each it extends, as the loader named them; the
// built-in profiles of the chain are no files.
func TestFilesRead(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"conf/a.toml":     "extends = \"../base/b.toml\"\n",
		"base/b.toml":     "extends = \"c.toml\"\n",
		"base/c.toml":     "extends = \"build\"\nhostname = \"c\"\n",
		"solo.toml":       "hostname = \"solo\"\n",
		"on-default.toml": "extends = \"default\"\n",
	})
	for _, tc := range []struct {
		ref  string
		want []string
	}{
		{"conf/a.toml", []string{"conf/a.toml", "base/b.toml", "base/c.toml"}},
		{"solo.toml", []string{"solo.toml"}},
		{"on-default.toml", []string{"on-default.toml"}},
		{"build", nil},
	} {
		ref := tc.ref
		if !IsBuiltinRef(ref) {
			ref = filepath.Join(dir, ref)
		}
		p, err := Loader{Vars: testVars}.Load(ref)
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		var got []string
		for _, f := range p.Files {
			rel, _ := filepath.Rel(dir, f.Path)
			got = append(got, rel)
			// What was read: the file itself, by its identity.
			var st syscall.Stat_t
			if err := syscall.Stat(f.Path, &st); err != nil || len(f.Read) == 0 || f.Read[0] != (FileID{Dev: st.Dev, Ino: st.Ino}) {
				t.Errorf("%s: %s read as %v, stat %d/%d (%v)", tc.ref, f.Path, f.Read, st.Dev, st.Ino, err)
			}
		}
		if tc.want == nil && p.Files != nil || tc.want != nil && !slices.Equal(got, tc.want) {
			t.Errorf("%s: Files = %q, want %q", tc.ref, got, tc.want)
		}
		if q := p.Clone(); !reflect.DeepEqual(q.Files, p.Files) {
			t.Errorf("%s: Clone lost Files: %v", tc.ref, q.Files)
		}
	}
}

// TestPathsFromVariablesAreCleaned: a path that variables built is
// cleaned (HOME=/ gives /.cache, not //.cache); one as written is judged
// as written.
func TestPathsFromVariablesAreCleaned(t *testing.T) {
	vars := Vars{Builtin: map[string]string{"PWD": "/work/proj/", "HOME": "/"}}
	src := `cwd = "${PWD}"
[[mount]]
type = "bind"
source = "${HOME}/.cache/go-build"
target = "${HOME}/.cache/go-build"
optional = true
[[mount]]
type = "symlink"
source = "${HOME}/x/../y"
target = "/link"
`
	p, err := Loader{Vars: vars}.Parse([]byte(src), "v.toml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Cwd != "/work/proj" || p.Mounts[0].Source != "/.cache/go-build" || p.Mounts[0].Target != "/.cache/go-build" {
		t.Errorf("cwd %q, mount %+v", p.Cwd, p.Mounts[0])
	}
	if p.Mounts[1].Source != "//x/../y" {
		t.Errorf("a symlink's text was changed: %q", p.Mounts[1].Source)
	}
	if _, err := (Loader{Vars: vars}).Parse([]byte("cwd = \"/a//b\"\n"), "w.toml"); err == nil || !strings.Contains(err.Error(), "must be a clean path") {
		t.Errorf("an unclean path as written: %v", err)
	}
}

// TestOptionalTmpfsGivesWay: an optional tmpfs is left out when its target
// is / or another entry's (a non-optional one, or an earlier optional
// tmpfs), and is then no error; two entries that do not give way still
// are.
func TestOptionalTmpfsGivesWay(t *testing.T) {
	tmpfs := func(target string, optional bool) string {
		return fmt.Sprintf("[[mount]]\ntype = \"tmpfs\"\ntarget = %q\noptional = %v\n", target, optional)
	}
	bind := "[[mount]]\ntype = \"bind\"\nsource = \"/usr\"\ntarget = \"/w\"\n"
	for _, tc := range []struct {
		name    string
		src     string
		leftOut []bool
		err     string
	}{
		{"root", tmpfs("/", true), []bool{true}, ""},
		{"root not optional", tmpfs("/", false), nil, `mount[0].target: must not be "/"`},
		{"to a later bind", tmpfs("/w", true) + bind, []bool{true, false}, ""},
		{"to an earlier bind", bind + tmpfs("/w", true), []bool{false, true}, ""},
		{"to a tmpfs", tmpfs("/w", true) + tmpfs("/w", false), []bool{true, false}, ""},
		{"first optional wins", tmpfs("/w", true) + tmpfs("/w", true), []bool{false, true}, ""},
		{"all three", tmpfs("/w", true) + tmpfs("/w", true) + bind, []bool{true, true, false}, ""},
		{"alone", tmpfs("/w", true), []bool{false}, ""},
		{"two that do not give way", tmpfs("/w", false) + bind, nil, `duplicate target "/w"`},
		{"optional bind does not give way", strings.Replace(bind, "\n[[", "\n[[", 1) + "optional = true\n" + tmpfs("/w", false), nil, `duplicate target "/w"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Loader{}.Parse([]byte(tc.src), "t.toml")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.leftOut {
				if got := p.LeftOut(i); got != want {
					t.Errorf("LeftOut(%d) = %v, want %v", i, got, want)
				}
			}
			// The effective profile reads back, left-out entries and all.
			if _, err := (Loader{}).Parse([]byte(p.TOML()), "again.toml"); err != nil {
				t.Errorf("TOML does not read back: %v\n%s", err, p.TOML())
			}
		})
	}
}
