package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/profile"
)

// Hidden sub-commands: the stages of the sandbox re-execute this binary.
const (
	stage1Arg = "__init"
	stage2Arg = "__init2"
	stage3Arg = "__exec"
)

// syncFD is the socket to the previous stage, inherited as fd 3.
const syncFD = 3

// stage1 is the first process in the new namespaces. It was exec'd before
// its ids were mapped, so it holds no capabilities (the kernel computed them
// for an unmapped uid). It waits for stage 0 to write the maps, then execs
// itself again: the same PID 1, now uid 0 of the namespace with full
// capabilities in it, which makes the time namespace before its runtime
// starts (timens.c) from the offsets stage 0 sent with the maps.
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

// stage2 is the sandbox's PID 1: it builds the sandbox from the plan, starts
// stage 3, then reaps and forwards signals until the command ends.
func stage2() (code int) {
	// One thread forks stage 3: the parent-death signal it sets fires when
	// the thread that forked it ends.
	runtime.LockOSThread()
	// Every catchable signal is taken and dropped: a PID 1 receives from
	// inside its namespace only the signals it handles, and the Go runtime
	// handles all, so without this the command could crash the init with
	// "kill -ABRT 1". What the init relays comes from stage 0 as messages.
	signal.Notify(make(chan os.Signal, 1), catchable()...)
	var command atomic.Int64
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

	// An exec resets the parent-death signal set by stage 0's clone.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fail("init", os.NewSyscallError("prctl(PR_SET_PDEATHSIG)", err))
	}
	// A name for ps and /proc/1/comm instead of "exe".
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte("jail-init\x00")[0])), 0, 0, 0)
	// Not dumpable: the command cannot ptrace PID 1 or open /proc/1/exe
	// (the jail binary) without CAP_SYS_PTRACE, which it never holds.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fail("init", os.NewSyscallError("prctl(PR_SET_DUMPABLE)", err))
	}
	m, err := ipc.Recv(sock)
	if err != nil {
		return exitSetup // stage 0 died before the prctl above: nothing to report to
	}
	var plan Plan
	if err := json.Unmarshal(m.Data, &plan); err != nil || m.Type != ipc.TypePlan {
		return fail("init", fmt.Errorf("bad plan message %q: %v", m.Type, err))
	}
	if plan.Version != planVersion {
		return fail("init", fmt.Errorf("plan version %d, this binary speaks %d", plan.Version, planVersion))
	}
	// timens.c ran before main: this process is in the sandbox's time
	// namespace, or it says why not.
	if err := timensError(plan.Time); err != nil {
		return fail("time", err)
	}
	netReady := make(chan struct{})
	// Relay the signals stage 0 sends: to the command once it exists,
	// before that as the end of the set-up. If stage 0 dies, the socket
	// reads EOF: end the sandbox (the parent-death signal covers most
	// cases, this covers the race).
	go func() {
		for {
			m, err := ipc.Recv(sock)
			if err != nil {
				os.Exit(exitSetup)
			}
			if m.Type == ipc.TypeNetReady {
				close(netReady)
				continue
			}
			if m.Type == ipc.TypeKill {
				// As PID 1, kill(-1) reaches every other process of
				// the namespace; the reaper then reports the command.
				_ = unix.Kill(-1, unix.SIGKILL)
				continue
			}
			sig := syscall.Signal(m.Signal)
			if m.Type != ipc.TypeSignal || sig == 0 {
				continue
			}
			if pid := int(command.Load()); pid != 0 {
				_ = unix.Kill(signalTarget(pid, sig), sig)
			} else if sig != unix.SIGWINCH {
				os.Exit(128 + int(sig))
			}
		}
	}()

	// Stage 3 starts before the new root exists: its binary and libraries
	// load from the host's root, so a profile need not carry a loader or a
	// libc for jail, and nothing from the sandbox's tree runs with
	// privileges; its runtime starts while the root is built; and
	// pivot_root moves it into the new root along with this process.
	shim, err := forkStage3(plan.Exec.TTY)
	if err != nil {
		return fail("exec", err)
	}
	if err := fs.Setup(plan.FS); err != nil {
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
	// From here signals go to stage 3, which becomes the command: one that
	// arrives before its execve ends it as it would end the command.
	command.Store(int64(shim.pid))
	execFailure, shimUsage, err := shim.start(&plan.Exec)
	if err != nil {
		return fail("exec", err)
	}
	if execFailure != nil {
		_ = ipc.Send(sock, *execFailure)
	} else {
		_ = ipc.Send(sock, ipc.Msg{Type: ipc.TypeStarted, Overhead: ipc.GetRusage(unix.RUSAGE_SELF).Add(shimUsage)})
	}

	status, err := reap(shim.pid)
	if err != nil {
		return fail("init", err)
	}
	exited := ipc.Msg{Type: ipc.TypeExited}
	// RUSAGE_CHILDREN counts the shim before its execve too: that part
	// is jail's, not the command's.
	exited.Rusage = ipc.GetRusage(unix.RUSAGE_CHILDREN).Sub(shimUsage)
	exited.Overhead = ipc.GetRusage(unix.RUSAGE_SELF).Add(shimUsage)
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

// shim is stage 3, forked and waiting for its exec spec.
type shim struct {
	pid  int
	sock *os.File
}

// forkStage3 forks the exec shim into a new cgroup namespace and a new
// session. It waits for the exec spec on its socket.
func forkStage3(tty bool) (*shim, error) {
	parent, child, err := ipc.Pair()
	if err != nil {
		return nil, err
	}
	defer child.Close()
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"jail", stage3Arg}, &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{0, 1, 2, child.Fd()},
		Sys: &syscall.SysProcAttr{
			// Created here, by a process already in the sandbox's
			// cgroup, so the namespace's root is that cgroup.
			Cloneflags: unix.CLONE_NEWCGROUP,
			// A new session: no controlling terminal, so TIOCSTI into
			// the caller's terminal is refused.
			Setsid: true,
			// jail's pseudo-terminal, on fd 0, becomes its controlling
			// terminal, and the command's.
			Setctty:   tty,
			Ctty:      0,
			Pdeathsig: unix.SIGKILL,
		},
	})
	if err != nil {
		parent.Close()
		return nil, &os.PathError{Op: "fork/exec", Path: "/proc/self/exe", Err: err}
	}
	// Wait until it runs: a dynamically linked jail loads its libraries
	// after execve returns, and they must come from the host's root, not
	// from the staging root that the first pivot_root puts in place.
	s := &shim{pid: pid, sock: parent}
	if m, err := ipc.Recv(parent); err != nil || m.Type != ipc.TypeReady {
		parent.Close()
		return nil, fmt.Errorf("exec shim did not start: %v", err)
	}
	return s, nil
}

// start sends the exec spec and waits for the verdict: EOF on the
// close-on-exec socket means execve succeeded, an exec-failed message
// means it did not. It also returns what the shim itself used.
func (s *shim) start(spec *ExecSpec) (*ipc.Msg, *ipc.Rusage, error) {
	defer s.sock.Close()
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	if err := ipc.Send(s.sock, ipc.Msg{Type: ipc.TypeExec, Data: data}); err != nil {
		return nil, nil, err
	}
	var usage *ipc.Rusage
	for {
		m, err := ipc.Recv(s.sock)
		if errors.Is(err, io.EOF) {
			return nil, usage, nil
		}
		if err != nil {
			return nil, usage, err
		}
		if m.Type == ipc.TypeExecReady {
			usage = m.Overhead
			continue
		}
		return &m, usage, nil
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
