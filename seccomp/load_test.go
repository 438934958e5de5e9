//go:build cgo && linux && amd64

package seccomp

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// roleEnv selects a child role in TestMain: the test binary re-execs itself
// to run code that must not touch the test process (a loaded filter can
// never be removed).
const roleEnv = "JAIL_SECCOMP_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		if err := runRole(role, os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "role %s: %v\n", role, err)
			os.Exit(125)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runRole is the child side. Roles:
//
//	run BASE ARGV...   load BASE's filter, then execve ARGV (as jail's command process does)
//	try BASE           load BASE's filter, try forbidden calls, print "name=errno" lines
//	bench BASE N       load BASE's filter unless BASE is "none", time N getppid calls, print ns per call
func runRole(role string, args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("no base")
	}
	load := func() error {
		p, err := Compile(Spec{Base: args[0]})
		if err != nil {
			return err
		}
		// The order of jail's command process: no_new_privs, then the filter.
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err)
		}
		return Load(p)
	}
	runtime.LockOSThread()
	switch role {
	case "run":
		if len(args) < 2 {
			return fmt.Errorf("run: no command")
		}
		if err := load(); err != nil {
			return err
		}
		return os.NewSyscallError("execve", syscall.Exec(args[1], args[1:], os.Environ()))
	case "try":
		if err := load(); err != nil {
			return err
		}
		try := func(name string, nr uintptr, a ...uintptr) {
			a = append(a, 0, 0, 0)
			_, _, e := unix.Syscall(nr, a[0], a[1], a[2])
			fmt.Printf("%s=%s\n", name, unix.ErrnoName(e))
		}
		try("keyctl", unix.SYS_KEYCTL, 0 /* KEYCTL_GET_KEYRING_ID */, ^uintptr(0) /* thread keyring */)
		try("unshare", unix.SYS_UNSHARE, unix.CLONE_NEWUSER)
		try("ptrace", unix.SYS_PTRACE, unix.PTRACE_TRACEME)
		try("getppid", unix.SYS_GETPPID)
		return nil
	case "bench":
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		if args[0] != "none" {
			if err := load(); err != nil {
				return err
			}
		}
		start := time.Now()
		for range n {
			unix.Syscall(unix.SYS_GETPPID, 0, 0, 0)
		}
		fmt.Println(float64(time.Since(start).Nanoseconds()) / float64(n))
		return nil
	}
	return fmt.Errorf("unknown role")
}

// child runs the test binary in role with args and returns its stdout.
func child(t testing.TB, role string, args ...string) string {
	t.Helper()
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout: %s\nstderr: %s", role, args, err, out, stderr.String())
	}
	return string(out)
}

func TestLoad(t *testing.T) {
	out := child(t, "try", "default")
	for _, want := range []string{"keyctl=EPERM", "unshare=EPERM", "ptrace=EPERM", "getppid="} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("under the default filter, want %q; got:\n%s", want, out)
		}
	}
}

func TestLoadRejectsBadProgram(t *testing.T) {
	for _, p := range []*Program{{}, {BPF: make([]byte, 7)}, {BPF: make([]byte, 8*4097)}} {
		if err := Load(p); err == nil {
			t.Errorf("Load(%d bytes) = nil, want an error", len(p.BPF))
		}
	}
}

// TestOverhead measures what the default filter adds to a cheap system
// call: getppid in a loop, in a child with and without the filter.
func TestOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	const n = "1000000"
	ns := func(base string) float64 {
		best := 0.0
		for range 3 { // best of three, against noise
			v, err := strconv.ParseFloat(strings.TrimSpace(child(t, "bench", base, n)), 64)
			if err != nil {
				t.Fatal(err)
			}
			if best == 0 || v < best {
				best = v
			}
		}
		return best
	}
	none, def, judge := ns("none"), ns("default"), ns("judge")
	t.Logf("getppid x %s: no filter %.1f ns/call; default %.1f ns/call (x%.2f); judge %.1f ns/call (x%.2f)",
		n, none, def, def/none, judge, judge/none)
}
