package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jail-sandbox/jail/profile"
)

// overridden loads a profile file and applies a command line to it.
func overridden(t *testing.T, file string, args ...string) *profile.Profile {
	t.Helper()
	opts, err := parseArgs(append(args, "--", "true"))
	if err != nil {
		t.Fatalf("parseArgs(%q): %v", args, err)
	}
	p, err := profile.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyOverrides(p, opts.overrides); err != nil {
		t.Fatalf("applyOverrides(%q): %v", args, err)
	}
	return p
}

func TestOverridesBeatTheProfile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.toml")
	if err := os.WriteFile(file, []byte(`hostname = "fromfile"
cwd = "/tmp"
[env]
keep = ["LANG"]
[env.set]
A = "file"
B = "file"
[[mount]]
type = "tmpfs"
target = "/tmp"
size = "8MiB"
[[mount]]
type = "bind"
source = "/usr"
target = "/usr"
[limits]
memory = "1GiB"
pids = 100
[network]
mode = "none"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	p := overridden(t, file,
		"--hostname", "fromflag", "--chdir", "/work",
		"--setenv", "A=flag", "--setenv=C=x=y", "--unsetenv", "B", "--unsetenv", "LANG", "--keep-env", "TZ",
		"--bind", "sub:/work", "--ro-bind", "/etc", "--tmpfs", "/tmp:1MiB", "--bind", "/usr",
		"--memory", "64MiB", "--cpu-time", "1.5s", "--wall-time=3s", "--pids", "7",
		"--net", "host", "--time-offset", "boottime=2d", "--time-offset", "monotonic=-1h",
		"--uid", "1000", "--gid", "1001", "--require-cgroup")
	if p.Hostname != "fromflag" || p.Cwd != "/work" {
		t.Errorf("hostname %q cwd %q", p.Hostname, p.Cwd)
	}
	if p.Env.Set["A"] != "flag" || p.Env.Set["C"] != "x=y" || p.Env.Set["B"] != "" || slices.Contains(p.Env.Keep, "LANG") || !slices.Contains(p.Env.Keep, "TZ") {
		t.Errorf("env %+v", p.Env)
	}
	byTarget := map[string]profile.Mount{}
	for _, m := range p.Mounts {
		byTarget[m.Target] = m
	}
	if m := byTarget["/work"]; m.Type != profile.Bind || m.Source != filepath.Join(dir, "sub") || !m.RW {
		t.Errorf("--bind sub:/work gave %+v", m)
	}
	if m := byTarget["/etc"]; m.Source != "/etc" || m.RW {
		t.Errorf("--ro-bind /etc gave %+v", m)
	}
	if m := byTarget["/tmp"]; m.Type != profile.Tmpfs || m.Size != 1<<20 {
		t.Errorf("--tmpfs /tmp:1MiB gave %+v", m)
	}
	if m := byTarget["/usr"]; !m.RW || p.Mounts[1].Target != "/usr" || len(p.Mounts) != 4 {
		t.Errorf("--bind /usr should replace the profile's /usr in place: %+v", p.Mounts)
	}
	l := p.Limits
	if l.Memory != 64<<20 || time.Duration(l.CPUTime) != 1500*time.Millisecond || time.Duration(l.WallTime) != 3*time.Second || l.Pids != 7 || !l.RequireCgroup {
		t.Errorf("limits %+v", l)
	}
	if p.Network.Mode != "host" || time.Duration(p.Time.Boottime) != 48*time.Hour || time.Duration(p.Time.Monotonic) != -time.Hour {
		t.Errorf("network %q time %+v", p.Network.Mode, p.Time)
	}
	if p.User.UID != 1000 || p.User.GID != 1001 {
		t.Errorf("user %+v", p.User)
	}

	// A bare offset moves both clocks.
	p = overridden(t, file, "--time-offset", "-30m")
	if time.Duration(p.Time.Boottime) != -30*time.Minute || time.Duration(p.Time.Monotonic) != -30*time.Minute {
		t.Errorf("--time-offset -30m: %+v", p.Time)
	}
}

func TestBadOverrides(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bind", ":/x"}, "--bind :/x: want SRC[:DST]"},
		{[]string{"--bind", "/usr:rel"}, "target must be an absolute path"},
		{[]string{"--tmpfs", "tmp"}, "want an absolute DST[:SIZE]"},
		{[]string{"--tmpfs", "/tmp:lots"}, "invalid size"},
		{[]string{"--chdir", "work"}, "--chdir work: want an absolute path"},
		{[]string{"--setenv", "NOVALUE"}, "want NAME=VALUE"},
		{[]string{"--unsetenv", "A=B"}, "want a variable name"},
		{[]string{"--net", "wifi"}, "want one of none, host, user"},
		{[]string{"--time-offset", "realtime=1h"}, "unknown clock \"realtime\""},
		{[]string{"--time-offset", "soon"}, "invalid offset"},
		{[]string{"--uid", "-1"}, "want a numeric id"},
		{[]string{"--memory", "big"}, "--memory big: invalid size"},
	} {
		_, err := parseArgs(append(tc.args, "true"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseArgs(%q) error = %v, want %q", tc.args, err, tc.want)
		}
	}
	// A value that is well-formed but invalid in the profile is reported
	// after the overrides, naming the key.
	opts, err := parseArgs([]string{"--hostname", "bad host", "true"})
	if err != nil {
		t.Fatal(err)
	}
	err = applyOverrides(profile.Default(), opts.overrides)
	if err == nil || !strings.Contains(err.Error(), "command-line options") || !strings.Contains(err.Error(), "hostname") {
		t.Errorf("got %v", err)
	}
}

func TestCheckPrintsTheEffectiveProfile(t *testing.T) {
	r := jail(t, "check", "-p", "default", "--memory", "64MiB", "--setenv", "X=1", "--tmpfs", "/scratch:2MiB")
	if r.code != 0 {
		t.Fatalf("jail check: %d %s", r.code, r.stderr)
	}
	p, err := profile.Parse(strings.NewReader(r.stdout), "printed.toml")
	if err != nil {
		t.Fatalf("printed profile does not parse: %v\n%s", err, r.stdout)
	}
	if p.Limits.Memory != 64<<20 || p.Env.Set["X"] != "1" || p.Mounts[len(p.Mounts)-1].Target != "/scratch" {
		t.Errorf("printed profile lacks the overrides:\n%s", r.stdout)
	}
	// Errors: the file and line of a bad profile, a missing bind source,
	// an unknown built-in; exit 1.
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("extends = \"default\"\n\n[limits]\npids = \"many\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "-p", bad}, `bad.toml": line 4: limits.pids`},
		{[]string{"check", "--ro-bind", "/does/not/exist"}, "/does/not/exist"},
		{[]string{"check", "-p", "nonesuch"}, `no built-in profile "nonesuch"`},
		{[]string{"check", "--", "ls"}, "check runs nothing"},
	} {
		r := jail(t, tc.args...)
		if r.code != checkInvalid || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("jail %q: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, checkInvalid, tc.want)
		}
	}
}

func TestProfilesList(t *testing.T) {
	r := jail(t, "profiles")
	if r.code != 0 {
		t.Fatalf("jail profiles: %d %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	names := profile.BuiltinNames()
	if len(lines) != len(names) {
		t.Fatalf("%d lines for %d profiles:\n%s", len(lines), len(names), r.stdout)
	}
	for i, n := range names {
		f := strings.Fields(lines[i])
		if len(f) < 2 || f[0] != n {
			t.Errorf("line %q: want the name %s and a description", lines[i], n)
		}
	}
	if r := jail(t, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "jail ") {
		t.Errorf("jail version: %d %q", r.code, r.stdout)
	}
}

// TestBashCompletion drives the completion function as bash would.
func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script := jail(t, "completion", "bash").stdout
	for _, tc := range []struct {
		words string
		want  []string
		not   []string
	}{
		{"jail --pro", []string{"--profile"}, nil},
		{"jail --time", []string{"--time-offset"}, nil},
		{"jail --net u", []string{"user"}, nil},
		{"jail -p jud", namesWithPrefix("jud"), nil},
		{"jail pro", []string{"profiles"}, nil},
		{"jail --memory 1G --", []string{"--"}, nil},
		{"jail -- --pro", nil, []string{"--profile"}},
		{"jail completion ", []string{"bash", "zsh"}, nil},
	} {
		cmd := exec.Command("bash", "-c", script+`
COMP_WORDS=(`+tc.words+`)
[[ "`+tc.words+`" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_jail
printf '%s\n' "${COMPREPLY[@]}"`)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tc.words, err, out)
		}
		got := strings.Fields(string(out))
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("completing %q: got %q, want %q among them", tc.words, got, w)
			}
		}
		for _, w := range tc.not {
			if slices.Contains(got, w) {
				t.Errorf("completing %q: got %q, must not offer %q", tc.words, got, w)
			}
		}
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		out, err := exec.Command(zsh, "-n", "-c", jail(t, "completion", "zsh").stdout).CombinedOutput()
		if err != nil {
			t.Errorf("zsh completion does not parse: %v\n%s", err, out)
		}
	}
}

func namesWithPrefix(p string) []string {
	var out []string
	for _, n := range profile.BuiltinNames() {
		if strings.HasPrefix(n, p) {
			out = append(out, n)
		}
	}
	return out
}

// TestOverridesInTheSandbox: the flags reach the sandbox.
func TestOverridesInTheSandbox(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustSucceed(t, "--ro-bind", data+":/data", "--setenv", "GREETING=hi", "--hostname", "flagged",
		"--chdir", "/data", "--tmpfs", "/scratch:1MiB", "--",
		"sh", "-c", `cat f; echo "$GREETING"; hostname; pwd; df -k /scratch | tail -1 | awk '{print $2}'; touch /data/x 2>/dev/null || echo ro`)
	if want := "hello\nhi\nflagged\n/data\n1024\nro\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestBuildEnv(t *testing.T) {
	e := profile.Env{
		Keep:  []string{"TERM", "CI", "GITHUB_*"},
		Set:   map[string]string{"PATH": "/bin", "TERM": "dumb"},
		Unset: []string{"GITHUB_TOKEN"},
	}
	got := buildEnv(e, []string{"TERM=xterm", "CI=true", "GITHUB_SHA=abc", "GITHUB_TOKEN=secret", "GITHUBX=no", "HOME=/root", "PATH=/usr/bin"})
	want := []string{"CI=true", "GITHUB_SHA=abc", "PATH=/bin", "TERM=dumb"}
	if !slices.Equal(got, want) {
		t.Errorf("buildEnv = %q, want %q", got, want)
	}
}

func TestFlagValueForms(t *testing.T) {
	p := overridden(t, "../../profiles/default.toml", "--cpu-time", "2", "--wall-time", "0.5", "--time-offset", "90", "--cpus", "0")
	if time.Duration(p.Limits.CPUTime) != 2*time.Second || time.Duration(p.Limits.WallTime) != 500*time.Millisecond ||
		time.Duration(p.Time.Monotonic) != 90*time.Second || p.Limits.CPUs != 0 {
		t.Errorf("limits %+v time %+v", p.Limits, p.Time)
	}
	for _, a := range []string{"--plan=x", "--quiet=1", "--require-cgroup=yes"} {
		if _, err := parseArgs([]string{a, "true"}); err == nil || !strings.Contains(err.Error(), "takes no value") {
			t.Errorf("parseArgs(%q): %v", a, err)
		}
	}
	if _, err := parseArgs([]string{"--frob=1", "true"}); err == nil || !strings.Contains(err.Error(), "unknown option") {
		t.Errorf("--frob=1: %v", err)
	}
}
