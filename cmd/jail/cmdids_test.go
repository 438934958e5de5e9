package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/userns"
)

// callerMapping is a helper mapping of this process: 0 inside is the
// caller, 1.. a sub-uid range.
func callerMapping() userns.Mapping {
	uids := []userns.IDMap{{Inside: 0, Outside: uint32(os.Getuid()), Count: 1}, {Inside: 1, Outside: 100000, Count: 65536}}
	gids := []userns.IDMap{{Inside: 0, Outside: uint32(os.Getgid()), Count: 1}, {Inside: 1, Outside: 100000, Count: 65536}}
	return userns.Mapping{UIDs: uids, GIDs: gids, Helper: true}
}

func TestCommandStdin(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root's files are not the caller's in a root caller's mapping")
	}
	m := callerMapping()
	judge, caller := &ExecSpec{UID: 1000, GID: 1000}, &ExecSpec{}
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		mode   os.FileMode
		flag   int
		spec   *ExecSpec
		sealed bool
		seek   int64
	}{
		// Read from already: reopened, it would show what came before.
		{"others may read", 0o644, os.O_RDONLY, judge, true, 5},
		{"others may read from its start", 0o644, os.O_RDONLY, judge, false, 0},
		{"private", 0o600, os.O_RDONLY, judge, false, 5},
		{"others may write", 0o666, os.O_RDONLY, judge, true, 5},
		{"open for writing", 0o644, os.O_RDWR, judge, true, 5},
		{"the caller's own command", 0o666, os.O_RDWR, caller, false, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(p, []byte("skip 20 22\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, tc.flag, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Seek(tc.seek, io.SeekStart); err != nil { // what is left to read is the command's
				t.Fatal(err)
			}
			in, err := commandStdin(f, m, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if (in != f) != tc.sealed {
				t.Fatalf("sealed copy: %v, want %v", in != f, tc.sealed)
			}
			if in == f {
				return
			}
			defer in.Close()
			b, err := io.ReadAll(in)
			if err != nil || string(b) != "skip 20 22\n"[tc.seek:] {
				t.Errorf("the copy reads %q, %v", b, err)
			}
			seals, err := unix.FcntlInt(in.Fd(), unix.F_GET_SEALS, 0)
			want := unix.F_SEAL_WRITE | unix.F_SEAL_GROW | unix.F_SEAL_SHRINK | unix.F_SEAL_SEAL
			if err != nil || seals&want != want {
				t.Errorf("seals %#x, %v, want %#x", seals, err, want)
			}
			// Reopened for writing as a command would: nothing changes.
			w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", in.Fd()), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.WriteAt([]byte("1 1\n"), 0); !errors.Is(err, unix.EPERM) {
				t.Errorf("write to the copy: %v, want EPERM", err)
			}
			if err := w.Truncate(0); !errors.Is(err, unix.EPERM) {
				t.Errorf("truncate the copy: %v, want EPERM", err)
			}
			if b, _ := os.ReadFile(p); string(b) != "skip 20 22\n" {
				t.Errorf("the file is now %q", b)
			}
		})
	}
	t.Run("not a regular file", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		if in, err := commandStdin(r, m, judge); err != nil || in != r {
			t.Errorf("a pipe: %v, %v", in, err)
		}
	})
}

func TestWithIDHint(t *testing.T) {
	m := callerMapping()
	judge, caller := &ExecSpec{UID: 1000, GID: 1000}, &ExecSpec{}
	denied := func(op, path string) error {
		return &execError{err: &ipc.StageError{Stage: "exec", Op: op, Path: path, Errno: int(unix.EACCES)}, code: exitNotExec}
	}
	for _, tc := range []struct {
		name string
		err  error
		spec *ExecSpec
		want string // in describe's words; "" for no hint
	}{
		{"program", denied("exec", "./sol"), judge, "./sol: permission denied (the command runs as uid 1000 inside, not as you: the program, and a script's interpreter, must be readable and executable by others (chmod o+rx on the host))"},
		{"execve", denied("execve", "/box/sol"), judge, "chmod o+rx on the host"},
		{"working directory", denied("chdir", "/box"), judge, "cannot enter working directory /box: permission denied (profile key cwd) (the command runs as uid 1000 inside, not as you: the directory must be searchable by others (chmod o+x on the host))"},
		{"as the caller", denied("exec", "./sol"), caller, ""},
		{"not found", &execError{err: &ipc.StageError{Stage: "exec", Op: "exec", Path: "./sol", Errno: int(unix.ENOENT)}, code: exitNotFound}, judge, ""},
		{"none", nil, judge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := withIDHint(tc.err, m, tc.spec)
			var h *hintError
			if hinted := errors.As(got, &h); hinted != (tc.want != "") {
				t.Fatalf("hinted %v, want %v: %v", hinted, tc.want != "", got)
			}
			if tc.want != "" && !strings.Contains(describe(got), tc.want) {
				t.Errorf("describe:\n%s\nwant it to contain:\n%s", describe(got), tc.want)
			}
			if tc.err != nil && !errors.Is(got, unix.EACCES) && errors.Is(tc.err, unix.EACCES) {
				t.Errorf("the hint hides the errno: %v", got)
			}
		})
	}
}

// TestAttackSealedStdinSize: a stdin file the command's id could write
// is copied into the host's memory, outside the sandbox's limits. A
// sandbox that made such a file sparse and huge (truncate -s 1T, chmod
// 666) chose how much memory jail takes: the copy is bounded and a larger
// file refused with the way out. Proof of the harm: without the bound,
// the copy holds the whole file.
func TestAttackSealedStdinSize(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root's files are not the caller's in a root caller's mapping")
	}
	defer func(old int64) { maxSealedStdin = old }(maxSealedStdin)
	maxSealedStdin = 1 << 20
	p := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 8<<20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	judge := &ExecSpec{UID: 1000, GID: 1000}

	// The harm, with the bound out of the way: 8 MiB of the host's memory
	// for an 8 MiB file (a terabyte for a terabyte).
	maxSealedStdin = 1 << 62
	in, err := commandStdin(open(), callerMapping(), judge)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(in.Fd()), &st); err != nil || st.Size != 8<<20 {
		t.Fatalf("without the bound the copy is %d bytes (%v), want the whole file: the test cannot see the harm", st.Size, err)
	}
	in.Close()

	maxSealedStdin = 1 << 20
	in, err = commandStdin(open(), callerMapping(), judge)
	if err == nil {
		in.Close()
		t.Fatalf("ESCAPED: an 8 MiB stdin that the command's id could write was copied into memory past the bound")
	}
	if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("error %q: want the path and the way out", err)
	}
	// What is left to read counts: past the end of the bound, it fits.
	f := open()
	if _, err := f.Seek(8<<20-100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	in, err = commandStdin(f, callerMapping(), judge)
	if err != nil {
		t.Fatalf("100 bytes left to read: %v", err)
	}
	defer in.Close()
	if b, err := io.ReadAll(in); err != nil || len(b) != 100 {
		t.Errorf("the copy holds %d bytes (%v), want 100", len(b), err)
	}
}
