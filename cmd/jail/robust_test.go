package main

// Set-up robustness (issue 11, item 12): what a run leaves in a writable
// bind must not hang the next set-up, and a set-up that hangs anyway ends
// with a clear error.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// jailTimed runs jail (batch when stdin is not nil) with extra environment
// and fails the test when it does not end within limit: the symptom of a
// set-up that hangs.
func jailTimed(t *testing.T, limit time.Duration, env []string, stdin string, args ...string) result {
	t.Helper()
	return jailTimedIn(t, "", limit, env, stdin, args...)
}

// jailTimedIn is jailTimed in the directory dir ("": the test's own).
func jailTimedIn(t *testing.T, dir string, limit time.Duration, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, jailBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	return runResult(t, cmd, func() bool { return ctx.Err() != nil })
}

// TestFIFOAtFileMountPoint: a run leaves a FIFO where a later run's file
// bind lands, inside a writable bind. Creating the mount point opened it
// for writing, which blocks until a reader comes: the next set-up hung
// forever. Now the mount point is made without opening anything, and a
// mount point that is not a regular file is refused, by name.
func TestFIFOAtFileMountPoint(t *testing.T) {
	requireSandbox(t)
	work := t.TempDir()
	fifo := filepath.Join(work, "config")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// The proof that opening the mount point would block: no reader, so
	// a non-blocking open for writing fails with ENXIO where a blocking
	// one waits.
	if fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK, 0); !errors.Is(err, unix.ENXIO) {
		if err == nil {
			unix.Close(fd)
		}
		t.Fatalf("open(FIFO, O_WRONLY|O_NONBLOCK) = %v, want ENXIO: the FIFO would not block an open", err)
	}
	src := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(src, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	profile := writeProfile(t, fmt.Sprintf("[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/w\"\nrw = true\n\n"+
		"[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/w/config\"\n", work, src))
	check := func(t *testing.T, r result, msg string) {
		t.Helper()
		if r.code != exitSetup || !strings.Contains(msg, "/w/config") || !strings.Contains(msg, "FIFO, not a regular file") {
			t.Errorf("exit %d, want %d with an error naming /w/config as a FIFO: %s%s", r.code, exitSetup, r.stdout, r.stderr)
		}
	}
	t.Run("single", func(t *testing.T) {
		r := jailTimed(t, 30*time.Second, nil, "", "--profile", profile, "--", "cat", "/w/config")
		check(t, r, r.stderr)
	})
	t.Run("batch", func(t *testing.T) {
		r := jailTimed(t, 30*time.Second, nil, `{"id": "a", "argv": ["cat", "/w/config"]}`+"\n", "batch", "-q", "--profile", profile)
		var a map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &a); err != nil || a["status"] != StatusXX {
			t.Fatalf("batch: exit %d, answer %q (%v), want XX; stderr %s", r.code, r.stdout, err, r.stderr)
		}
		check(t, result{code: exitSetup}, fmt.Sprint(a["message"]))
	})
	// A regular file left there is fine: the bind lands on it.
	if err := os.Remove(fifo); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fifo, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustSucceed(t, "--profile", profile, "--", "cat", "/w/config"); out != "from the host\n" {
		t.Errorf("cat /w/config = %q", out)
	}
}

// TestSetupDeadline: a set-up that does not finish within
// JAIL_SETUP_TIMEOUT is ended with a clear error (exit 125, XX in a
// batch), and nothing of it is left. 1ms is far less than any set-up
// takes (two execs and newuidmap at least), so the deadline always fires.
func TestSetupDeadline(t *testing.T) {
	requireSandbox(t)
	env := []string{"JAIL_SETUP_TIMEOUT=1ms"}
	const want = "sandbox setup did not finish within 1ms"
	t.Run("single", func(t *testing.T) {
		r := jailTimed(t, 30*time.Second, env, "", "--", "true")
		if r.code != exitSetup || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, stderr %q, want %d and %q", r.code, r.stderr, exitSetup, want)
		}
	})
	t.Run("batch", func(t *testing.T) {
		r := jailTimed(t, 30*time.Second, env, `{"id": "a", "argv": ["true"]}`+"\n", "batch", "-q")
		var a map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &a); err != nil || r.code != 0 || a["status"] != StatusXX ||
			!strings.Contains(fmt.Sprint(a["message"]), want) {
			t.Errorf("batch: exit %d, answer %q (%v), want XX saying %q; stderr %s", r.code, r.stdout, err, want, r.stderr)
		}
	})
	t.Run("bad value", func(t *testing.T) {
		r := jailTimed(t, 30*time.Second, []string{"JAIL_SETUP_TIMEOUT=soon"}, "", "--", "true")
		if r.code != exitSetup || !strings.Contains(r.stderr, `JAIL_SETUP_TIMEOUT="soon"`) {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	// The proof that the deadline is what failed them: a normal one.
	if r := jailTimed(t, 30*time.Second, []string{"JAIL_SETUP_TIMEOUT=60s"}, "", "--", "true"); r.code != 0 {
		t.Errorf("with 60s: exit %d: %s", r.code, r.stderr)
	}
}

// TestClean: a run as a non-zero uid leaves, in a writable bind, a tree
// owned by a sub-uid (with a directory of mode 0, and a link to a victim
// directory of the caller's outside it). The caller's rm cannot remove it
// (the proof of the problem); jail clean does, removes the link as a link,
// and the victim keeps its file.
func TestClean(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	if os.Getenv("JAIL_TEST_SUBID") != "1" {
		t.Skip("needs a /etc/subuid range (JAIL_TEST_SUBID=1)")
	}
	dir := t.TempDir()
	work, victim := filepath.Join(dir, "work"), filepath.Join(dir, "victim")
	for _, d := range []string{work, victim} {
		if err := os.Mkdir(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(work, 0o777); err != nil { // the umask took some
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "keep"), []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "out")
	script := fmt.Sprintf(`mkdir -p %[1]s/deep/er && echo x > %[1]s/deep/er/f && mkfifo %[1]s/fifo && ln -s %[2]s %[1]s/link && chmod 0 %[1]s/deep %[1]s`, out, victim)
	if r := jail(t, "-q", "--bind", work, "--uid", "1000", "--gid", "1000", "--", "sh", "-c", script); r.code != 0 {
		t.Fatalf("the run: exit %d: %s", r.code, r.stderr)
	}
	var st unix.Stat_t
	if err := unix.Lstat(out, &st); err != nil || int(st.Uid) == os.Getuid() {
		t.Fatalf("the run's tree: uid %d (%v), want a sub-uid", st.Uid, err)
	}
	if b, err := exec.Command("rm", "-rf", out).CombinedOutput(); err == nil {
		t.Fatalf("the caller's rm -rf removed the sub-uid's tree: the test proves nothing (%s)", b)
	}
	if r := jail(t, "clean", out); r.code != 0 || r.stderr != "" {
		t.Errorf("jail clean: exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there: %v", out, err)
	}
	if b, err := os.ReadFile(filepath.Join(victim, "keep")); err != nil || string(b) != "keep\n" {
		t.Errorf("the victim behind the link lost its file: %q %v", b, err)
	}
}

// TestCleanRefuses: what jail clean will not do.
func TestCleanRefuses(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.MkdirAll(filepath.Join(real, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
		code             int
	}{
		{"a link on the way", filepath.Join(dir, "link", "x"), "a directory on the way is a symlink", 1},
		{"dot", dir + "/.", "refusing to remove", 1},
		{"dot-dot", dir + "/real/..", "refusing to remove", 1},
		{"root", "/", "refusing to remove", 1},
		{"missing", filepath.Join(dir, "missing"), "no such file or directory", 1},
		{"an option", "-rf", "unknown option", exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jail(t, "clean", tc.path)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("jail clean %s: exit %d, stderr %q, want %d and %q", tc.path, r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(real, "x")); err != nil {
		t.Errorf("%s, reached through a link, is gone: %v", filepath.Join(real, "x"), err)
	}
}
