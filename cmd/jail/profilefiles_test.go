package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jail-sandbox/jail/profile"
)

// A profile that a run could write is a profile the sandbox chooses for
// the next run: the README's ./mybuild.toml lies in the directory the
// build profile makes writable.

// wantProfileRefused checks a run (exit 125) or a check (exit 1) that
// refused file because this run could change it, naming the file, the
// writable directory and the way out, and running nothing.
func wantProfileRefused(t *testing.T, r result, code int, file, writable string) {
	t.Helper()
	if r.code != code || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, want %d and nothing run\nstderr: %s", r.code, r.stdout, code, r.stderr)
	}
	for _, want := range []string{`profile "` + file + `": `, "the run could change it", "lies in " + writable + ",", "~/.config/jail/"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the message lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestAttackProfileInWritableDir: a build appends the host's network to
// the profile it finds in its directory; the next run with the same
// command line must not get it.
func TestAttackProfileInWritableDir(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	dir := t.TempDir()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "mybuild.toml")
	if err := os.WriteFile(prof, []byte("extends = \"build\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The first run is refused already: it could write the file.
	wantProfileRefused(t, jailIn(t, dir, nil, "--profile", "./mybuild.toml", "--", "echo", "ran"), exitSetup, "./mybuild.toml", real)

	// The attack, from a build in that directory (the built-in profile,
	// which no run can change).
	r := jailIn(t, dir, nil, "--profile", "build", "--", "sh", "-c",
		`printf '[network]\nmode = "host"\n[seccomp]\nbase = "none"\n' >> mybuild.toml`)
	if r.code != 0 {
		t.Fatalf("the build: exit %d: %s", r.code, r.stderr)
	}
	// The harm is real: the file changed, and the loader gives the host's
	// network and no filter; loaded from where no run writes it, the
	// sandbox indeed gets the host's interfaces.
	p, err := profile.Loader{Vars: profile.HostVars()}.Load(prof)
	if err != nil || p.Network.Mode != profile.NetHost || p.Seccomp.Base != "none" {
		t.Fatalf("the modified profile loads as network %q, seccomp %q (%v): the attack did not land", p.Network.Mode, p.Seccomp.Base, err)
	}
	elsewhere := filepath.Join(t.TempDir(), "copy.toml")
	b, _ := os.ReadFile(prof)
	if err := os.WriteFile(elsewhere, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r = jailIn(t, dir, nil, "--profile", elsewhere, "--", "cat", "/proc/net/dev")
	if r.code != 0 || strings.Count(r.stdout, ":") < 2 {
		t.Fatalf("the modified profile, from elsewhere: exit %d, want the host's interfaces:\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The second run, same command line: refused before anything runs,
	// and so are jail check, --plan and jail batch.
	wantProfileRefused(t, jailIn(t, dir, nil, "--profile", "./mybuild.toml", "--", "echo", "ran"), exitSetup, "./mybuild.toml", real)
	wantProfileRefused(t, jailIn(t, dir, nil, "--profile", "./mybuild.toml", "--plan", "--", "true"), exitSetup, "./mybuild.toml", real)
	wantProfileRefused(t, jailIn(t, dir, nil, "check", "--profile", "./mybuild.toml"), checkInvalid, "./mybuild.toml", real)
	wantProfileRefused(t, jailIn(t, dir, nil, "batch", "--profile", "./mybuild.toml"), batchSetup, "./mybuild.toml", real)
}

// TestProfileFilesOutsideWritableBinds: every file of the chain counts,
// --bind counts, and a link cannot hide where a file is.
func TestProfileFilesOutsideWritableBinds(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proj, conf := filepath.Join(base, "proj"), filepath.Join(base, "conf")
	files := map[string]string{
		"conf/ok.toml":     "extends = \"build\"\n",
		"conf/outer.toml":  "extends = \"../proj/inner.toml\"\n",
		"proj/inner.toml":  "extends = \"build\"\n",
		"conf/other.toml":  "extends = \"build\"\n",
		"conf/target.toml": "extends = \"build\"\n",
	}
	for name, text := range files {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"conf/in.toml":  "../proj/inner.toml",  // outside, naming a file inside
		"proj/out.toml": "../conf/target.toml", // inside, naming a file outside
	} {
		if err := os.Symlink(target, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}

	// Outside every writable bind: runs.
	if r := jailIn(t, proj, nil, "--profile", conf+"/ok.toml", "--", "true"); r.code != 0 {
		t.Fatalf("a profile outside the build directory: exit %d: %s", r.code, r.stderr)
	}
	for _, tc := range []struct {
		name, profile, file, writable string
		extra                         []string
	}{
		{"a file it extends", conf + "/outer.toml", proj + "/inner.toml", proj, nil},
		{"a link outside to a file inside", conf + "/in.toml", conf + "/in.toml", proj, nil},
		{"a link inside to a file outside", "./out.toml", "./out.toml", proj, nil},
		{"a directory --bind makes writable", conf + "/other.toml", conf + "/other.toml", conf, []string{"--bind", conf}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"--profile", tc.profile}, tc.extra...), "--", "echo", "ran")
			r := jailIn(t, proj, nil, args...)
			wantProfileRefused(t, r, exitSetup, tc.file, tc.writable)
			if tc.extra != nil && !strings.Contains(r.stderr, "(--bind)") {
				t.Errorf("the message does not name --bind:\n%s", r.stderr)
			}
		})
	}
}

// TestProfileFIFO: a FIFO where a profile (or a file it extends) is
// expected, as a build leaves one in its directory, is refused at once,
// by name and kind; reading it as a file would wait forever for a writer.
func TestProfileFIFO(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	dir := t.TempDir()
	// The build plants the FIFOs (the built-in profile, which no run
	// can change).
	r := jailTimedIn(t, dir, hangLimit, nil, "", "--profile", "build", "--", "sh", "-c",
		`mkfifo mybuild.toml base.toml && printf 'extends = "./base.toml"\n' > ext.toml`)
	if r.code != 0 {
		t.Fatalf("planting: exit %d: %s", r.code, r.stderr)
	}
	// The harm: reading the FIFO as a file does not end while no one
	// writes it.
	done := make(chan error, 1)
	go func() { _, err := os.ReadFile(filepath.Join(dir, "mybuild.toml")); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("reading the FIFO ended (%v): it would not hold jail", err)
	case <-time.After(time.Second):
		w, err := os.OpenFile(filepath.Join(dir, "mybuild.toml"), os.O_WRONLY, 0) // let the reader go
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		<-done
	}
	for _, c := range []struct{ profile, fifo string }{{"./mybuild.toml", "./mybuild.toml"}, {"./ext.toml", "base.toml"}} {
		for _, args := range [][]string{{"--profile", c.profile, "--", "echo", "ran"}, {"check", "--profile", c.profile}, {"batch", "--profile", c.profile}} {
			r := jailTimedIn(t, dir, hangLimit, nil, "", args...)
			if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, c.fifo+" is a FIFO: a profile is a regular file") {
				t.Errorf("jail %q: exit %d, stdout %q, stderr %q: want a FIFO refused by name", args, r.code, r.stdout, r.stderr)
			}
		}
	}
	r = jailTimedIn(t, dir, hangLimit, nil, "", "--profile", "/dev/zero", "--", "echo", "ran")
	if r.code != exitSetup || !strings.Contains(r.stderr, "/dev/zero is a character device") {
		t.Errorf("a device: exit %d, %q", r.code, r.stderr)
	}
}

// TestProfileGiven: a profile given as a descriptor (a pipe, as
// --profile <(cat x.toml) makes; a file) or through a link of the user's
// (dotfiles) outside every writable bind is read; a descriptor of a file
// inside the writable directory is refused like its path.
func TestProfileGiven(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	conf, proj := t.TempDir(), t.TempDir()
	real, err := filepath.EvalSymlinks(proj)
	if err != nil {
		t.Fatal(err)
	}
	text := "extends = \"build\"\nhostname = \"given\"\n"
	for _, p := range []string{conf + "/p.toml", proj + "/in.toml"} {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(conf+"/p.toml", conf+"/stow.toml"); err != nil {
		t.Fatal(err)
	}
	run := func(extra []*os.File, prof string) result {
		ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
		defer cancel()
		cmd := exec.CommandContext(ctx, jailBin, "--profile", prof, "--", "hostname")
		cmd.Dir, cmd.Env, cmd.ExtraFiles = proj, append(os.Environ(), "PWD="+proj), extra
		return runResult(t, cmd, func() bool { return ctx.Err() != nil })
	}
	pipe := func() *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = w.WriteString(text); w.Close() }()
		return r
	}
	if r := run([]*os.File{pipe()}, "/dev/fd/3"); r.code != 0 || r.stdout != "given\n" {
		t.Errorf("a pipe at /dev/fd/3: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	if r := run(nil, conf+"/stow.toml"); r.code != 0 || r.stdout != "given\n" {
		t.Errorf("a link of the user's: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	f, err := os.Open(proj + "/in.toml")
	if err != nil {
		t.Fatal(err)
	}
	wantProfileRefused(t, run([]*os.File{f}, "/proc/self/fd/3"), exitSetup, "/proc/self/fd/3", real)
	if bash, err := exec.LookPath("bash"); err == nil {
		cmd := exec.Command(bash, "-c", `exec "$0" --profile <(cat "$1") -- hostname`, jailBin, conf+"/p.toml")
		cmd.Dir = proj
		if r := runResult(t, cmd, nil); r.code != 0 || r.stdout != "given\n" {
			t.Errorf("--profile <(cat p.toml): exit %d, %q, %s", r.code, r.stdout, r.stderr)
		}
	}
}
