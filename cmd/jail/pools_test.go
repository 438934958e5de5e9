package main

// Kernel pools a sandbox shares with the host (issue 11, item 9): the
// pseudo-terminals of every devpts instance, Linux AIO events, the
// caller's inotify instances and POSIX message queue bytes. Inside, a
// loop that takes all it can must stop at the sandbox's bound while the
// host can still get one; outside (on the host or in a plain user
// namespace) the same loop gets past the bound, the proof that the loop
// would see the harm. It stops there: the tests never exhaust a pool of
// the host.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/userns"
)

func init() {
	for name, f := range poolRoles {
		roles[name] = f
	}
}

// takeOne takes one object of a pool and keeps it (it is released when
// the process ends).
var takeOne = map[string]func(i int) error{
	"pty": func(int) error {
		_, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		return err
	},
	"inotify": func(int) error {
		_, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		return err
	},
	// A queue of the default size (10 messages of 8 KiB), unlinked at
	// once: it lives, and is charged, while its descriptor is open.
	"mqueue": func(i int) error {
		name := fmt.Sprintf("jail-pool-%d-%d", os.Getpid(), i) // the system call takes no leading /
		fd, err := mqOpen(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC)
		if err == nil {
			mqUnlink(name)
			_ = fd
		}
		return err
	},
}

var poolRoles = map[string]func(args []string) int{
	// pool KIND BOUND STOP: take objects of KIND until one fails or STOP
	// are held; ESCAPED when more than BOUND were taken. The line is
	// printed at once; the objects are held until stdin ends.
	"pool": func(args []string) int {
		take := takeOne[args[0]]
		bound, _ := strconv.Atoi(args[1])
		stop, _ := strconv.Atoi(args[2])
		n, why := 0, "stopped"
		for n < stop {
			if err := take(n); err != nil {
				why = errName(err)
				break
			}
			n++
		}
		if n > bound {
			escaped("got %d %s > %d (%s)", n, args[0], bound, why)
		} else {
			blocked("got %d %s <= %d (%s)", n, args[0], bound, why)
		}
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	},
	// aio N: reserve N events of the host's AIO pool (io_setup).
	"aio": func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		var ctx uint64
		_, _, e := unix.Syscall(unix.SYS_IO_SETUP, uintptr(n), uintptr(unsafe.Pointer(&ctx)), 0)
		if e != 0 {
			return blocked("io_setup(%d): %s", n, errName(e))
		}
		_, _, _ = unix.Syscall(unix.SYS_IO_DESTROY, uintptr(ctx), 0, 0)
		return escaped("io_setup(%d) reserved %d events of the host's pool", n, n)
	},
	// raise-count NAME VALUE: raise /proc/sys/user/NAME of this user
	// namespace.
	"raise-count": func(args []string) int {
		path := "/proc/sys/user/" + args[0]
		before, _ := os.ReadFile(path)
		werr := os.WriteFile(path, []byte(args[1]), 0)
		after, _ := os.ReadFile(path)
		if strings.TrimSpace(string(after)) == args[1] {
			return escaped("%s raised from %s to %s", args[0], strings.TrimSpace(string(before)), args[1])
		}
		return blocked("%s stays %s: %s", args[0], strings.TrimSpace(string(after)), errName(werr))
	},
}

// poolAttacks: AIO, and the command raising its user namespace's bounds.
// In a plain user namespace, root there may raise them (the proof that
// the role sees a raise); in the sandbox the command holds no capability.
var poolAttacks = []attack{
	{name: "io_setup", role: "aio", inside: []string{"4096"}, outside: []string{"4096"}, where: "host"},
	{name: "raise-inotify-instances", role: "raise-count", inside: []string{"max_inotify_instances", "100000"},
		outside: []string{"max_inotify_instances", "100000"}, where: "userns"},
	{name: "raise-user-namespaces", role: "raise-count", inside: []string{"max_user_namespaces", "100000"},
		outside: []string{"max_user_namespaces", "100000"}, where: "userns"},
}

func TestAttackPools(t *testing.T) {
	requireSandbox(t)
	for _, base := range []string{"default", "judge"} {
		t.Run(base, func(t *testing.T) { runAttacks(t, seccompBaseProfile(t, base), poolAttacks) })
	}
}

func TestBatchAttackPools(t *testing.T) {
	requireSandbox(t)
	runBatchAttacks(t, helperProfile(t, ""), poolAttacks)
}

// pool is one kind of object and the sandbox's bound on it.
type pool struct {
	kind  string
	bound int
	where string // where the outside proof runs
	errno string // what the sandbox's last attempt gets
}

// pools lists the bounds as jail sets them for a caller with this test's
// limits: devpts's max, a quarter of the caller's inotify instances
// (userns.SandboxCounts), and a quarter of its RLIMIT_MSGQUEUE in queues
// of the default size (each a little over 80 KiB).
func pools(t *testing.T) []pool {
	var inotify int
	for _, c := range userns.SandboxCounts(userns.HostCounts) {
		if c.Name == "max_inotify_instances" {
			inotify = int(c.Max)
		}
	}
	var mq unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &mq); err != nil {
		t.Fatal(err)
	}
	return []pool{
		{kind: "pty", bound: fs.DevPtsMax, where: "host", errno: "ENOSPC"},
		{kind: "inotify", bound: inotify, where: "userns", errno: "EMFILE"},
		{kind: "mqueue", bound: int(mq.Cur / 4 / (10 << 13)), where: "userns", errno: "EMFILE"},
	}
}

// holdInside runs the pool role in jail and returns its line while the
// sandbox holds what it took; release ends the run.
func holdInside(t *testing.T, profile string, p pool) (line string, release func()) {
	t.Helper()
	cmd := exec.Command(jailBin, "-q", "--profile", profile, "--", "/jailtest", "__role", "pool",
		p.kind, strconv.Itoa(p.bound), strconv.Itoa(2*p.bound))
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	release = func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("jail: %v: %s", err, errb.String())
		}
	}
	line, err = bufio.NewReader(out).ReadString('\n')
	if err != nil {
		release()
		t.Fatalf("no line from the role: %v: %s", err, errb.String())
	}
	return line, release
}

// runPoolOutside runs the pool role where p says, taking at most stop.
func runPoolOutside(t *testing.T, where string, p pool, bound, stop int) string {
	t.Helper()
	return runOutside(t, where, nil, "pool", p.kind, strconv.Itoa(bound), strconv.Itoa(stop))
}

// TestPoolsBounded: the sandbox (default profile) gets at most its bound
// of each pool, and while it holds them the host still gets one.
func TestPoolsBounded(t *testing.T) {
	requireSandbox(t)
	profile := helperProfile(t, "")
	for _, p := range pools(t) {
		t.Run(p.kind, func(t *testing.T) {
			if p.bound < 1 {
				t.Skipf("bound %d: the caller's own limit is too small to test", p.bound)
			}
			// Outside, the loop goes past the bound (and stops there).
			checkEscaped(t, runPoolOutside(t, p.where, p, p.bound, 2*p.bound), fmt.Sprintf("got %d", 2*p.bound))
			line, release := holdInside(t, profile, p)
			defer release()
			checkBlocked(t, line)
			if !strings.Contains(line, "("+p.errno+")") || strings.Contains(line, "got 0 ") {
				t.Errorf("inside: %s: want some taken, then %s at the bound", strings.TrimSpace(line), p.errno)
			}
			// Meanwhile, the host gets one.
			if out := runPoolOutside(t, p.where, p, 0, 1); !strings.Contains(out, "got 1 ") {
				t.Errorf("while the sandbox holds its share, the host got none: %s", strings.TrimSpace(out))
			}
		})
	}
}

// TestBatchPoolsBounded: the same in batch runs, which share the zygote's
// user namespace (the inotify bound is per batch) and get a devpts of
// their own: each run gets its bound, and gets it again after the run
// before released what it held.
func TestBatchPoolsBounded(t *testing.T) {
	requireSandbox(t)
	profile := helperProfile(t, "")
	dir := t.TempDir()
	ps := pools(t)
	var reqs []string
	for i, p := range ps {
		for j := range 2 {
			reqs = append(reqs, batchReq(t, fmt.Sprintf("%s-%d", p.kind, j), fmt.Sprintf("%d-%d.out", i, j), fmt.Sprintf("%d-%d.err", i, j),
				"pool", p.kind, strconv.Itoa(p.bound), strconv.Itoa(2*p.bound)))
		}
	}
	answers, stderr := runBatch(t, dir, []string{"-q", "--profile", profile}, reqs)
	if len(answers) != len(reqs) {
		t.Fatalf("%d answers to %d requests; stderr: %s", len(answers), len(reqs), stderr)
	}
	zygoteOrSkip(t, answers)
	for i, p := range ps {
		t.Run(p.kind, func(t *testing.T) {
			if p.bound < 1 {
				t.Skipf("bound %d: the caller's own limit is too small to test", p.bound)
			}
			var lines [2]string
			for j := range 2 {
				lines[j] = batchRan(t, answers[2*i+j], dir, fmt.Sprintf("%d-%d.out", i, j), fmt.Sprintf("%d-%d.err", i, j))
				checkBlocked(t, lines[j])
				if !strings.Contains(lines[j], "("+p.errno+")") || strings.Contains(lines[j], "got 0 ") {
					t.Errorf("run %d: %s: want some taken, then %s at the bound", j, strings.TrimSpace(lines[j]), p.errno)
				}
			}
			if lines[0] != lines[1] {
				t.Errorf("the second run got another share than the first (what the first held was not released?):\n%s%s", lines[0], lines[1])
			}
		})
	}
}

// TestSandboxCountsInside: the command sees its user namespace's bounds,
// as jail computed them on the host.
func TestSandboxCountsInside(t *testing.T) {
	requireSandbox(t)
	var names, want []string
	for _, c := range userns.SandboxCounts(userns.HostCounts) {
		if _, err := os.Stat("/proc/sys/user/" + c.Name); err == nil {
			names = append(names, "/proc/sys/user/"+c.Name)
			want = append(want, strconv.FormatInt(c.Max, 10))
		}
	}
	out := mustSucceed(t, append([]string{"--", "cat"}, names...)...)
	if got := strings.Fields(out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("inside %v = %v, want %v", names, got, want)
	}
	var st syscall.Rlimit
	if err := syscall.Getrlimit(unix.RLIMIT_MSGQUEUE, &st); err == nil {
		out := mustSucceed(t, "--", "sh", "-c", "ulimit -H -q 2>/dev/null || grep 'Max msgqueue size' /proc/self/limits")
		if w := strconv.FormatUint(st.Cur/4, 10); !strings.Contains(out, w) {
			t.Errorf("RLIMIT_MSGQUEUE inside: %q, want %s", out, w)
		}
	}
}
