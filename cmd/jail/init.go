package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/profile"
)

// Hidden sub-commands: the sandbox's init re-executes this binary.
const (
	stage1Arg = "__init"
	stage2Arg = "__init2"
)

// syncFD is the socket to the previous stage, inherited as fd 3.
const syncFD = 3

// stage1 is the first process in the new namespaces. It was exec'd before
// its ids were mapped, so it holds no capabilities (the kernel computed them
// for an unmapped uid). It waits for stage 0 to write the maps, then execs
// itself again: the same PID 1, now uid 0 of the namespace with full
// capabilities in it, which makes the time namespace before its runtime
// starts (timens.c) from the offsets stage 0 sent with the maps. With
// glibc, stage1.c does this before the Go runtime starts, and this function
// runs only for a message stage1.c leaves to it.
func stage1() int {
	sock := os.NewFile(syncFD, "sync")
	m, err := ipc.Recv(sock)
	if err != nil || m.Type != ipc.TypeIDMapDone {
		return exitSetup // stage 0 is gone or failed; it reports why
	}
	var offsets string
	if len(m.Data) > 0 {
		_ = json.Unmarshal(m.Data, &offsets) // a bad one: stage 2 reports the offsets it lacks
	}
	err = unix.Exec("/proc/self/exe", []string{"jail", stage2Arg}, []string{timensEnv + "=" + offsets})
	_ = ipc.Send(sock, ipc.Msg{Type: ipc.TypeError, Err: &ipc.StageError{
		Stage: "init", Op: "execve", Path: "/proc/self/exe", Errno: errnoOf(err)}})
	return exitSetup
}

// execRequest is the {exec} message as stage 2 decoded it.
type execRequest struct {
	spec  ExecSpec
	stdio []int // none, or the command's 0-2 (stage 2 closes them)
	err   error
}

// startStage is what the sandbox's init and a batch's zygote do first: die
// with stage 0, take the name comm, become non-dumpable, and read the plan.
// It returns no plan and no error when stage 0 is gone already.
func startStage(sock *os.File, comm string) (*Plan, error) {
	// An exec resets the parent-death signal set by stage 0's clone.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return nil, os.NewSyscallError("prctl(PR_SET_PDEATHSIG)", err)
	}
	// A name for ps and /proc/1/comm instead of "exe".
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte(comm + "\x00")[0])), 0, 0, 0)
	// Not dumpable: the command cannot ptrace PID 1 or open /proc/1/exe
	// (the jail binary) without CAP_SYS_PTRACE, which it never holds. The
	// command's process shares this memory until its execve, and the
	// zygote's per-run inits are its copies, so they are not dumpable
	// either.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return nil, os.NewSyscallError("prctl(PR_SET_DUMPABLE)", err)
	}
	m, err := ipc.Recv(sock)
	if err != nil {
		return nil, nil
	}
	var plan Plan
	if err := json.Unmarshal(m.Data, &plan); err != nil || m.Type != ipc.TypePlan {
		return nil, fmt.Errorf("bad plan message %q: %v", m.Type, err)
	}
	if plan.Version != planVersion {
		return nil, fmt.Errorf("plan version %d, this binary speaks %d", plan.Version, planVersion)
	}
	return &plan, nil
}

// stage2 is the sandbox's PID 1: it builds the sandbox from the plan,
// starts the command once the root is ready and the exec spec has come
// (spawnCommand), then reaps and forwards signals until the command ends.
func stage2() (code int) {
	// One thread forks the command: the parent-death signal it sets fires
	// when the thread that forked it ends.
	runtime.LockOSThread()
	// Every catchable signal is ignored: a PID 1 receives from inside its
	// namespace only the signals it handles, and the Go runtime handles
	// all, so without this the command could crash the init with
	// "kill -ABRT 1". (Ignored, not caught: the command's process resets
	// every disposition, spawn.c.) What the init relays comes from stage 0
	// as messages.
	signal.Ignore(catchable()...)
	var command commandSignals
	sock := os.NewFile(syncFD, "sync")
	fail := func(stage string, err error) int {
		_ = ipc.Send(sock, ipc.Msg{Type: ipc.TypeError, Err: ipc.AsStageError(stage, err)})
		return exitSetup
	}
	defer func() {
		if r := recover(); r != nil {
			code = fail("init", fmt.Errorf("panic: %v", r))
		}
	}()

	plan, err := startStage(sock, "jail-init")
	if plan == nil && err == nil {
		return exitSetup // stage 0 died before the prctls: nothing to report to
	}
	if err != nil {
		return fail("init", err)
	}
	// timens.c ran before main: this process is in the sandbox's time
	// namespace, or it says why not.
	if err := timensError(plan.Time); err != nil {
		return fail("time", err)
	}
	netReady := make(chan struct{})
	execs := make(chan execRequest, 1)
	// The rest of stage 0's messages: the exec spec; net-ready; signals,
	// relayed to the command once it exists, before that the end of the
	// set-up; kill. If stage 0 dies, the socket reads EOF: end the sandbox
	// (the parent-death signal covers most cases, this covers the race).
	go func() {
		var gotExec, gotNet bool
		for {
			m, err := ipc.Recv(sock)
			if err != nil {
				os.Exit(exitSetup)
			}
			switch m.Type {
			case ipc.TypeExec:
				if gotExec {
					closeFds(m.Fds) // one command per sandbox
					continue
				}
				gotExec = true
				execs <- decodeExec(m)
			case ipc.TypeNetReady:
				if !gotNet {
					gotNet = true
					close(netReady)
				}
			case ipc.TypeKill:
				command.kill()
			case ipc.TypeSignal:
				if sig := syscall.Signal(m.Signal); sig != 0 {
					command.relay(sig)
				}
			default:
				closeFds(m.Fds)
			}
		}
	}()

	if err := rootBuilt(plan); err != nil {
		return fail("fs", err)
	}
	if err := unix.Sethostname([]byte(plan.Hostname)); err != nil {
		return fail("uts", os.NewSyscallError("sethostname", err))
	}
	if plan.Net != profile.NetHost {
		// The host's namespace (host) is not the sandbox's to change.
		if err := loopbackUp(); err != nil {
			return fail("net", err)
		}
	}
	if plan.Net == profile.NetUser {
		// The command starts with its network configured: stage 0 says
		// when pasta or slirp4netns has set up the tap device (or ends
		// the sandbox when it could not).
		<-netReady
	}
	// The root is ready: the command starts as soon as its exec spec is
	// here (a single run sends it right after the plan).
	x := <-execs
	if x.err != nil {
		closeFds(x.stdio)
		return fail("exec", x.err)
	}
	// From here a signal relayed goes to the command's process, which
	// becomes the command: one that arrives before its execve ends it as
	// it would end the command.
	pid, execFailure, err := spawnCommand(&x.spec, x.stdio, &command)
	closeFds(x.stdio)
	if err != nil {
		return fail("exec", err)
	}
	if execFailure != nil {
		_ = ipc.Send(sock, *execFailure)
	} else {
		_ = ipc.Send(sock, ipc.Msg{Type: ipc.TypeStarted, Overhead: ipc.GetRusage(unix.RUSAGE_SELF)})
	}

	status, err := reap(pid)
	if err != nil {
		return fail("init", err)
	}
	exited := ipc.Msg{Type: ipc.TypeExited}
	// RUSAGE_CHILDREN counts the command's process before its execve
	// too: a few system calls.
	exited.Rusage = ipc.GetRusage(unix.RUSAGE_CHILDREN)
	exited.Overhead = ipc.GetRusage(unix.RUSAGE_SELF)
	switch {
	case status.Signaled():
		exited.Signal = int(status.Signal())
		code = 128 + exited.Signal
	default:
		exited.Code = status.ExitStatus()
		code = exited.Code
	}
	_ = ipc.Send(sock, exited)
	// PID 1 exits: the kernel kills everything left in the namespace.
	return code
}

// decodeExec reads an {exec} message: the spec, and no descriptors or the
// command's three.
func decodeExec(m ipc.Msg) execRequest {
	x := execRequest{stdio: m.Fds}
	if n := len(m.Fds); n != 0 && n != 3 {
		x.err = fmt.Errorf("exec message with %d descriptors, want 0 or 3 (stdin, stdout, stderr)", n)
		return x
	}
	if err := json.Unmarshal(m.Data, &x.spec); err != nil {
		x.err = fmt.Errorf("bad exec message: %w", err)
		return x
	}
	if len(x.spec.Argv) == 0 {
		x.err = errors.New("bad exec message: no command")
	}
	return x
}

func closeFds(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// commandSignals is where the init sends what stage 0 relays: before the
// command's process is started, a signal ends the set-up (the init exits
// 128+N); while spawnCommand runs, signals and a kill go to the child once
// it exists (it blocks them until just before its execve), and are held
// until then; then they go to the command.
type commandSignals struct {
	mu      sync.Mutex
	pid     int
	child   func() int // while spawnCommand runs: the child's pid, 0 before it exists
	pending []syscall.Signal
	killed  bool
}

func (c *commandSignals) relay(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.pid != 0:
		_ = unix.Kill(signalTarget(c.pid, sig), sig)
	case c.child != nil:
		if p := c.child(); p > 0 {
			_ = unix.Kill(p, sig)
		} else {
			c.pending = append(c.pending, sig)
		}
	case sig != unix.SIGWINCH:
		os.Exit(128 + int(sig))
	}
}

// kill ends every process of the namespace but the init, which then
// reports the command's end as usual. Before the command exists, it ends
// the set-up as SIGKILL would.
func (c *commandSignals) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.pid != 0:
		// As PID 1, kill(-1) reaches every other process of the
		// namespace; the reaper then reports the command.
		_ = unix.Kill(-1, unix.SIGKILL)
	case c.child != nil:
		if p := c.child(); p > 0 {
			_ = unix.Kill(p, unix.SIGKILL)
		} else {
			c.killed = true
		}
	default:
		os.Exit(128 + int(unix.SIGKILL))
	}
}

// spawning says that the command's process is being made; child reads its
// pid.
func (c *commandSignals) spawning(child func() int) {
	c.mu.Lock()
	c.child = child
	c.mu.Unlock()
}

// started records the command's pid (0: it could not be made) and delivers
// what was held meanwhile.
func (c *commandSignals) started(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.child = nil
	c.pid = pid
	if pid == 0 {
		c.pending, c.killed = nil, false
		return
	}
	if c.killed {
		_ = unix.Kill(-1, unix.SIGKILL)
	}
	for _, sig := range c.pending {
		_ = unix.Kill(signalTarget(pid, sig), sig)
	}
	c.pending = nil
}

// catchable lists every signal the Go runtime would act on.
func catchable() []os.Signal {
	var sigs []os.Signal
	for s := syscall.Signal(1); s < 32; s++ {
		switch s {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGURG:
			continue
		}
		sigs = append(sigs, s)
	}
	return sigs
}

// signalTarget is where a forwarded signal goes. The signals a terminal
// generates go to the command's process group (it leads its own session),
// as the terminal would have sent them: Ctrl-C stops a shell's foreground
// child too. The others go to the command alone, as kill(1) sent them.
func signalTarget(pid int, sig syscall.Signal) int {
	switch sig {
	case unix.SIGINT, unix.SIGQUIT, unix.SIGWINCH:
		return -pid
	}
	return pid
}

// reap waits for every child that ends (orphans are re-parented to PID 1)
// until the command itself ends, and returns its status.
func reap(pid int) (unix.WaitStatus, error) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ws, os.NewSyscallError("wait4", err)
		}
		if got == pid && ws.Stopped() {
			// Only a traced child reports a stop here, and PID 1 is its
			// tracer only through PTRACE_TRACEME: let it go, with its
			// signal, instead of taking the stop for its end.
			_, _, _ = unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(got), 0, uintptr(ws.StopSignal()), 0, 0)
			continue
		}
		if got == pid {
			return ws, nil
		}
	}
}

// loopbackUp brings up lo, the only interface of the new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return &os.PathError{Op: "ioctl(SIOCGIFFLAGS)", Path: "lo", Err: err}
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return &os.PathError{Op: "ioctl(SIOCSIFFLAGS)", Path: "lo", Err: err}
	}
	return nil
}

func errnoOf(err error) int {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return int(errno)
	}
	return 0
}
