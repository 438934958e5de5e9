package main

// The host files of a run may name jail's own descriptors (/dev/stdout,
// /dev/stderr, /dev/stdin, /dev/fd/N, /proc/self/fd/N): the caller opened
// them for jail, which uses them as they are (pipes here, a file written
// in place), never walking the names as paths (fs.CallerFD).

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// jailFDs runs jail with stdin and descriptors from 3 on, within
// hangLimit.
func jailFDs(t *testing.T, stdin string, extra []*os.File, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, jailBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.ExtraFiles = extra
	r := runResult(t, cmd, func() bool { return ctx.Err() != nil })
	for _, f := range extra {
		f.Close()
	}
	return r
}

// pipeOut is a pipe whose write end jail gets; its content, once jail has
// ended, comes from read.
func pipeOut(t *testing.T) (w *os.File, read func() string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(r); r.Close(); got <- string(b) }()
	return w, func() string { return <-got }
}

// pipeIn is a pipe holding data, its read end for jail (as <(gen) gives).
func pipeIn(t *testing.T, data string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(data); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return r
}

func TestCallerDescriptors(t *testing.T) {
	requireSandbox(t)
	script := []string{"--", "sh", "-c", "cat; echo out; echo err >&2"}

	t.Run("stdout-stderr-stdin", func(t *testing.T) {
		r := jailFDs(t, "in\n", nil, append([]string{"--stdin", "/dev/stdin", "--stdout", "/dev/stdout", "--stderr", "/dev/stderr"}, script...)...)
		if r.code != 0 || r.stdout != "in\nout\n" || r.stderr != "err\n" {
			t.Errorf("exit %d, stdout %q, stderr %q: want 0, %q, %q", r.code, r.stdout, r.stderr, "in\nout\n", "err\n")
		}
	})
	t.Run("proc-self-fd", func(t *testing.T) {
		w, read := pipeOut(t)
		r := jailFDs(t, "", []*os.File{pipeIn(t, "gen\n"), w},
			append([]string{"--stdin", "/proc/self/fd/3", "--stdout", "/dev/fd/4", "--stderr", "/proc/self/fd/1"}, script...)...)
		if out := read(); r.code != 0 || out != "gen\nout\n" || r.stdout != "err\n" {
			t.Errorf("exit %d, fd 4 %q, stdout %q (%s): want 0, %q, %q", r.code, out, r.stdout, r.stderr, "gen\nout\n", "err\n")
		}
	})
	t.Run("reports", func(t *testing.T) {
		w, read := pipeOut(t)
		r := jailFDs(t, "", []*os.File{w}, "--report", "/dev/fd/3", "--meta", "/dev/stderr", "--", "echo", "ran")
		var rep Report
		out := read()
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Status != StatusOK {
			t.Errorf("report on fd 3: %q (%v)", out, err)
		}
		if r.code != 0 || r.stdout != "ran\n" || !strings.Contains(r.stderr, "exitcode:0") {
			t.Errorf("exit %d, stdout %q, stderr %q: want the meta file on stderr", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("file-in-place", func(t *testing.T) {
		// A file the caller opened for appending (3>>log): written at
		// its end, the same file, not replaced by a new one.
		p := filepath.Join(t.TempDir(), "log")
		if err := os.WriteFile(p, []byte("before\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var before, after unix.Stat_t
		_ = unix.Stat(p, &before)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		r := jailFDs(t, "", []*os.File{f}, "--stdout", "/dev/fd/3", "--meta", "/dev/fd/3", "--", "echo", "out")
		_ = unix.Stat(p, &after)
		b, _ := os.ReadFile(p)
		if r.code != 0 || !strings.HasPrefix(string(b), "before\nout\n") || !strings.Contains(string(b), "exitcode:0") || after.Ino != before.Ino {
			t.Errorf("exit %d (%s): log %q, inode %d then %d: want the output and meta appended to the same file", r.code, r.stderr, b, before.Ino, after.Ino)
		}
	})
	t.Run("not-given", func(t *testing.T) {
		r := jailFDs(t, "", nil, "--report", "/dev/fd/7", "--", "echo", "ran")
		if r.code != exitSetup || r.stdout != "" || !strings.Contains(r.stderr, "/dev/fd/7: descriptor 7 was not given to jail") {
			t.Errorf("exit %d, stdout %q, stderr %q: want %d and the descriptor named", r.code, r.stdout, r.stderr, exitSetup)
		}
	})
}

// TestBatchCallerDescriptors: a request's fields may name jail's
// descriptors but the batch's requests (0) and answers (1).
func TestBatchCallerDescriptors(t *testing.T) {
	for _, mode := range []string{"zygote", "single"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "single" {
				t.Setenv("JAIL_BATCH_ZYGOTE", "0")
			}
			requireSandbox(t)
			w, read := pipeOut(t)
			b := startTimedBatch(t, t.TempDir(), []*os.File{pipeIn(t, "gen\n"), w}, "-q")
			a := b.ask(t, map[string]any{"id": "fds", "argv": []string{"sh", "-c", "cat; echo err >&2"},
				"stdin": "/dev/fd/3", "stdout": "/dev/fd/4", "stderr": "/dev/stderr", "meta": "/proc/self/fd/4"})
			if a["status"] != StatusOK {
				t.Errorf("fds: %v", a)
			}
			for _, c := range []struct{ field, path, why string }{
				{"stdin", "/dev/stdin", "descriptor 0 is the batch's input"},
				{"stdout", "/dev/stdout", "descriptor 1 is the batch's output"},
				{"report", "/proc/self/fd/1", "descriptor 1 is the batch's output"},
				{"stderr", "/dev/fd/0", "descriptor 0 is the batch's input"},
			} {
				a := b.ask(t, map[string]any{"id": c.field, "argv": []string{"true"}, c.field: c.path})
				if msg, _ := a["message"].(string); a["status"] != StatusXX || a["id"] != c.field || !strings.Contains(msg, c.path+": "+c.why) {
					t.Errorf("%s %s: %v: want XX and %q", c.field, c.path, a, c.why)
				}
			}
			b.in.Close()
			_ = b.cmd.Wait()
			w.Close()
			if out := read(); !strings.HasPrefix(out, "gen\n") || !strings.Contains(out, "exitcode:0") {
				t.Errorf("fd 4 holds %q: want the command's output, then the meta file", out)
			}
			if got := b.stderr.String(); got != "err\n" {
				t.Errorf("the batch's stderr: %q, want the command's", got)
			}
		})
	}
}

// TestDirectoryStdioRefused: a directory given as the command's stdin
// (jail ... < /) would reach the host's tree past the sandbox's root:
// before, ls /proc/self/fd/0/ listed the host's /. It is refused, for
// every id the command runs as.
func TestDirectoryStdioRefused(t *testing.T) {
	requireSandbox(t)
	d, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, jailBin, "--", "sh", "-c", "ls /proc/self/fd/0/")
	cmd.Stdin = d
	r := runResult(t, cmd, func() bool { return ctx.Err() != nil })
	if r.code != exitSetup || r.stdout != "" || !strings.Contains(r.stderr, "stdin (/dev/stdin) is a directory") {
		t.Errorf("exit %d, stdout %q, stderr %q: want %d, nothing run, the directory refused", r.code, r.stdout, r.stderr, exitSetup)
	}
}
