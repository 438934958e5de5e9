package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The build profile works from any directory with any HOME: the current
// directory is writable at its path, HOME is a private tmpfs where one can
// be (not when HOME is the current directory, not over /), the rest of the
// system is read-only.

// buildProbe reports what the command sees; $1 is a file name of the
// test's.
const buildProbe = `echo "cwd=$(pwd) home=$HOME"
echo x > "$1" && echo cwd-writable
for p in /usr /etc /; do touch "$p/$1" 2>/dev/null && echo "$p writable" || echo "$p read-only"; done
touch "$HOME/$1.home" 2>/dev/null && echo home-writable || echo home-read-only`

// jailBuildIn runs the build profile's probe for mark in dir with the
// caller's environment changed: env sets, unset removes.
func jailBuildIn(t *testing.T, dir, mark string, env map[string]string, unset ...string) result {
	t.Helper()
	cmd := exec.Command(jailBin, "--profile", "build", "--", "sh", "-c", buildProbe, "sh", mark)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := env[k]; !set && k != "PWD" && !slices.Contains(unset, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PWD="+dir)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBuildProfileAnyHome(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(base, "proj")
	if err := os.Mkdir(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	mark := "jail-any-home-" + strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name   string
		cwd    string
		home   string // "" leaves HOME unset
		seen   string // HOME inside
		homeRW bool   // HOME writable inside
	}{
		{name: "cwd is HOME", cwd: proj, home: proj, seen: proj, homeRW: true},
		{name: "cwd under HOME", cwd: proj, home: base, seen: base, homeRW: true},
		{name: "HOME is /tmp", cwd: proj, home: "/tmp", seen: "/tmp", homeRW: true},
		{name: "HOME is /", cwd: proj, home: "/", seen: "/", homeRW: false},
		{name: "HOME unset", cwd: proj, home: "", seen: u.HomeDir, homeRW: true},
		{name: "cwd is /tmp", cwd: "/tmp", home: u.HomeDir, seen: u.HomeDir, homeRW: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			var unset []string
			if tc.home == "" {
				unset = []string{"HOME"}
			} else {
				env["HOME"] = tc.home
			}
			// Only what this test creates is removed afterwards.
			for _, p := range []string{filepath.Join(tc.cwd, mark), filepath.Join(tc.seen, mark+".home")} {
				if _, err := os.Lstat(p); err == nil {
					t.Fatalf("%s exists before the run", p)
				}
				t.Cleanup(func() { os.Remove(p) })
			}
			r := jailBuildIn(t, tc.cwd, mark, env, unset...)
			home := "home-read-only"
			if tc.homeRW {
				home = "home-writable"
			}
			want := "cwd=" + tc.cwd + " home=" + tc.seen + "\ncwd-writable\n/usr read-only\n/etc read-only\n/ read-only\n" + home + "\n"
			if r.code != 0 || r.stdout != want {
				t.Fatalf("exit %d, got\n%s\nwant\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
			}
			// The cwd's write reached the host; HOME's only when HOME is
			// the cwd (else it is a private tmpfs, or read-only).
			if _, err := os.Stat(filepath.Join(tc.cwd, mark)); err != nil {
				t.Errorf("the write to the current directory did not reach the host: %v", err)
			}
			_, err := os.Stat(filepath.Join(tc.seen, mark+".home"))
			if shared := tc.seen == tc.cwd; (err == nil) != shared {
				t.Errorf("the write to HOME reached the host: %v, want %v", err == nil, shared)
			}
		})
	}
}
