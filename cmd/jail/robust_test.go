package main

// Set-up robustness (issue 11, item 12): what a run leaves in a writable
// bind must not hang the next set-up, and a set-up that hangs anyway ends
// with a clear error.

import (
	"bytes"
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
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, jailBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("jail %q did not end within %s (killed): stderr %s", args, limit, errb.String())
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("run jail: %v", err)
	}
	return r
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
