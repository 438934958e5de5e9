package main

// Batch mode through a zygote (stage 0's side; zygote.go and zygote.c are
// the sandbox's side). One zygote per batch holds the user namespace (ids
// mapped once), the finished read-only root, the hostname and the time
// namespace; each request is a per-run init it clones into new mount (a
// copy of the root, its tmpfs, /dev/shm, devpts and proc made afresh),
// PID, IPC, network, cgroup and UTS namespaces. Limits and accounting stay
// per run, here: watchdogs, output limit, report and verdict as in a
// single run. With a cgroup, the batch's is a parent without limits
// (limits.Nest) and each run gets a new child cgroup with its limits
// (limits.Child), whose counters are the run's alone: nothing the zygote
// or an earlier run left charged (SysV shared memory an IPC namespace
// frees some time after its run, cached pages) shows in them or stops the
// limits from being written, and no counter needs a reset (v2 cannot reset
// memory.peak, v1 resets max_usage_in_bytes to the usage, not to 0). On
// cgroup v2 the zygote sits in a child of its own and the run's cgroup
// directory goes with the request: the per-run init is born in it (clone3
// with CLONE_INTO_CGROUP). On cgroup v1 the zygote stays in the batch's
// cgroup and the request brings the run's tasks files, opened here: the
// per-run init moves itself in before it starts the command. The run's
// cgroup is killed and removed after the run.
//
// A zygote that dies during a run fails that run, ML when the run's OOM
// killer acted, and the next request gets a new one, up to
// maxZygoteRestarts times.
//
// What the zygote cannot do goes through the single-run path (supervise):
// network mode user, a request with a terminal on its stdio or another
// cgroup setting or too large for one packet to the zygote, a profile with
// mounts inside a tmpfs target, and JAIL_BATCH_ZYGOTE=0.

/*
#include "zygote.h"
*/
import "C"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/limits"
	"github.com/jail-sandbox/jail/profile"
	"github.com/jail-sandbox/jail/userns"
)

// zygoteNote goes in every report of a zygote run: how its sandbox differs
// from a single run's.
const zygoteNote = "zygote: user, time and outer PID namespaces and the read-only root shared by the batch's runs; " +
	"mount (with fresh proc, tmpfs, /dev/shm, devpts), PID, IPC, network, cgroup and UTS namespaces per run"

// zygoteCgroupNote is added with a cgroup, where each run has its own.
const zygoteCgroupNote = "; a cgroup per run"

// zygoteCgroupHow says, per backend, how a run gets into its cgroup.
var zygoteCgroupHow = map[limits.Backend]string{
	limits.Cgroup2: " (cgroup v2, born in it with CLONE_INTO_CGROUP)",
	limits.Cgroup1: " (cgroup v1, its init moves in before the command starts)",
}

// zygote is a running batch zygote.
type zygote struct {
	cmd      *exec.Cmd
	ctl      int // SOCK_SEQPACKET to the zygote
	cg       *limits.Cgroup
	holder   *limits.Cgroup // cgroup v2: the zygote's own cgroup, a child of cg (nil on v1: the zygote stays in cg)
	isolated bool           // command uid on a host uid of the batch's own (no cgroup)
	warn     func(format string, args ...any)
	idmap    userns.Mapping // the zygote's id mapping (isolated or not)
	maxReq   int            // the largest request the socket takes in one packet
	dead     error          // the zygote is gone or failed to set a run up: the batch starts another (restartZygote)
}

// maxZygoteRestarts bounds how many times a batch replaces a zygote that
// died or could no longer set a run up: after that, every run takes the
// single-run path.
const maxZygoteRestarts = 3

// singleInitTasks is how many tasks a single run's init (a Go process)
// holds in the sandbox's cgroup while its command runs; a batch run's
// cgroup holds its per-run init (one task) and is given room for as many
// processes of the command as a single run under the same --pids
// (TestBatchZygotePidsLikeSingleRun).
const singleInitTasks = 5

var errNoZygote = errors.New("not for the zygote")

// errZygoteGone: the zygote was found dead before the request reached it
// (nothing was started): the request may go to a new one.
var errZygoteGone = fmt.Errorf("the zygote is gone: %w", errNoZygote)

// startZygote starts the batch's zygote, or says why the batch runs
// without one.
func startZygote(b *batch) (*zygote, string) {
	if os.Getenv("JAIL_BATCH_ZYGOTE") == "0" {
		return nil, "JAIL_BATCH_ZYGOTE=0"
	}
	if why := zygoteUnsupported(b.plan); why != "" {
		return nil, why
	}
	l := b.profile.Limits
	cg, err := limits.Prepare(limits.Spec{
		Memory: uint64(l.Memory), Swap: l.Swap, Pids: l.Pids, CPUs: l.CPUs,
		CgroupDir: l.Cgroup, Require: l.RequireCgroup,
	}, sandboxID())
	if err != nil {
		return nil, "cgroup: " + err.Error()
	}
	z := &zygote{cg: cg, ctl: -1, warn: func(format string, args ...any) {
		if !b.opts.quiet && b.stderr != nil {
			fmt.Fprintf(b.stderr, "jail batch: warning: "+format+"\n", args...)
		}
	}}
	if cg.Backend() != limits.None {
		if z.holder, err = cg.Nest("zygote"); err != nil {
			cg.Remove()
			return nil, "cgroup: " + err.Error()
		}
	}
	if err := z.start(b.plan); err != nil {
		z.close()
		return nil, err.Error()
	}
	return z, ""
}

func (z *zygote) start(base *Plan) error {
	plan := *base
	if z.cg.Backend() == limits.None {
		// RLIMIT_NPROC counts per uid: the batch's commands get a host
		// uid of their own, as a single run's does.
		if m, ok := plan.IDMap.Isolate(plan.Exec.UID, plan.Exec.GID, uint32(os.Getpid())); ok {
			plan.IDMap, z.isolated = m, true
		}
	}
	z.idmap = plan.IDMap
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return os.NewSyscallError("close_range", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socketpair", err)
	}
	z.ctl = fds[0]
	// A request is one packet: no larger than the send buffer (less the
	// kernel's allowance). Raise it to what the zygote reads (the kernel
	// caps it at net.core.wmem_max) and size requests from what it gives.
	_ = unix.SetsockoptInt(z.ctl, unix.SOL_SOCKET, unix.SO_SNDBUF, C.JAIL_ZREQ_MAX)
	z.maxReq = C.JAIL_ZREQ_MAX
	if sb, err := unix.GetsockoptInt(z.ctl, unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil {
		z.maxReq = min(z.maxReq, sb-1024)
	}
	child := os.NewFile(uintptr(fds[1]), "zygote")
	dup, err := unix.FcntlInt(uintptr(fds[0]), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		child.Close()
		return os.NewSyscallError("fcntl", err)
	}
	parent := os.NewFile(uintptr(dup), "zygote-parent") // for ipc during the set-up
	defer parent.Close()
	// The zygote's parent-death signal is tied to the thread that starts
	// it: this one, locked to the batch's main goroutine for good.
	runtime.LockOSThread()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"jail", zygote1Arg},
		Env:        []string{},
		ExtraFiles: []*os.File{child},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: plan.CloneFlags,
			Pdeathsig:  unix.SIGKILL,
			Setpgid:    true,
		},
	}
	if fd := z.holder.FD(); fd >= 0 {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	byRuntime := mapByRuntime(cmd.SysProcAttr, plan.IDMap)
	err = cmd.Start()
	child.Close()
	if err != nil {
		return cloneError(err)
	}
	z.cmd = cmd
	if err := z.cg.AddProc(cmd.Process.Pid); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	if !byRuntime {
		ctx, cancel := context.WithTimeout(context.Background(), idmapTimeout)
		err = userns.Map(ctx, cmd.Process.Pid, plan.IDMap)
		cancel()
		if err != nil {
			return fmt.Errorf("map user ids: %w", err)
		}
	}
	var base0 TimeSpec
	if plan.Time != (TimeSpec{}) {
		base0 = callerOffsets()
	}
	offsets, _ := json.Marshal(plan.Time.offsetsFile(base0))
	if err := ipc.Send(parent, ipc.Msg{Type: ipc.TypeIDMapDone, Data: offsets}); err != nil {
		return fmt.Errorf("zygote: %w", err)
	}
	if err := sendPlan(parent, &plan); err != nil {
		return fmt.Errorf("zygote: %w", err)
	}
	// The zygote builds the root now: a set-up that hangs is killed (the
	// socket then reads EOF).
	deadline, err := setupTimeout()
	if err != nil {
		return err
	}
	timer := time.AfterFunc(deadline, func() { _ = cmd.Process.Kill() })
	m, err := ipc.Recv(parent)
	if !timer.Stop() {
		return fmt.Errorf("zygote: %w", setupTimedOut(deadline))
	}
	if err != nil {
		return fmt.Errorf("zygote: %w", err)
	}
	switch m.Type {
	case ipc.TypeError:
		return fmt.Errorf("zygote setup: %w", m.Err)
	case ipc.TypeRecord:
		return fmt.Errorf("zygote setup: %w", mountFailure(plan.FS, m.Record))
	}
	if m.Type != ipc.TypeReady {
		return fmt.Errorf("zygote: unexpected message %q", m.Type)
	}
	return nil
}

// close ends the zygote (EOF on its socket; SIGKILL if need be) and
// removes the batch's cgroup.
func (z *zygote) close() {
	if z.ctl >= 0 {
		unix.Close(z.ctl)
		z.ctl = -1
	}
	if z.cmd != nil {
		done := make(chan struct{})
		go func() { _ = z.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
			_ = z.cmd.Process.Kill()
			<-done
		}
		z.cmd = nil
	}
	z.holder.Remove()
	z.cg.Remove()
}

// pidfdProc signals a process through its pidfd (for the watchdog, whose
// timers may fire after the run: once closed, it signals nothing, never
// a later run's process that got the same descriptor number).
type pidfdProc struct {
	mu sync.Mutex
	fd int
}

func newPidfdProc(fd int) *pidfdProc { return &pidfdProc{fd: fd} }

func (p *pidfdProc) Signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return os.ErrProcessDone
	}
	return unix.PidfdSendSignal(p.fd, sig.(syscall.Signal), nil, 0)
}

func (p *pidfdProc) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
}

// zmsg is a message from the zygote or a per-run init, with its fd.
type zmsg struct {
	m   C.struct_jail_zmsg
	fd  int
	err error
}

func cstr(b []C.char) string {
	s := unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), len(b))
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return string(s)
}

func (z *zygote) recv() zmsg {
	var m zmsg
	buf := make([]byte, C.sizeof_struct_jail_zmsg)
	oob := make([]byte, unix.CmsgSpace(4))
	m.fd = -1
	for {
		n, oobn, _, _, err := unix.Recvmsg(z.ctl, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err == nil && n == 0 {
			err = io.EOF
		}
		if err == nil && n != len(buf) {
			err = fmt.Errorf("short message (%d bytes)", n)
		}
		if err != nil {
			m.err = err
			return m
		}
		if oobn > 0 {
			if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, cm := range cms {
					if fds, err := unix.ParseUnixRights(&cm); err == nil {
						for _, fd := range fds {
							if m.fd < 0 {
								m.fd = fd
							} else {
								unix.Close(fd)
							}
						}
					}
				}
			}
		}
		m.m = *(*C.struct_jail_zmsg)(unsafe.Pointer(&buf[0]))
		return m
	}
}

// request encodes an exec spec for zygote.c, in at most max bytes, with
// ncg cgroup descriptors of kind cgKind (JAIL_ZCG_*) to follow the stdio.
func request(spec *ExecSpec, max int, cgKind, ncg int) ([]byte, error) {
	if len(spec.Argv) > C.JAIL_ZMAX_STRS || len(spec.Env) > C.JAIL_ZMAX_STRS || len(spec.Rlimits) > C.JAIL_ZMAX_RLIM {
		return nil, errNoZygote
	}
	var caps uint64
	for _, c := range spec.KeepCaps {
		if c >= 64 {
			return nil, errNoZygote
		}
		caps |= 1 << c
	}
	setgroups := uint32(0)
	if spec.Setgroups {
		setgroups = 1
	}
	var b wire
	b.u32(C.JAIL_ZREQ_MAGIC, spec.UID, spec.GID, setgroups, uint32(len(spec.Argv)), uint32(len(spec.Env)), uint32(len(spec.Rlimits)), uint32(len(spec.Seccomp)), uint32(cgKind), uint32(ncg))
	b.u64(caps)
	for _, r := range spec.Rlimits {
		b.u32(uint32(r.Resource), 0)
		b.u64(r.Cur, r.Max)
	}
	b.Write(spec.Seccomp)
	if err := b.strs("argv, env or cwd", append(append([]string{spec.Cwd}, spec.Argv...), spec.Env...)...); err != nil {
		return nil, err
	}
	if b.Len() > max || b.Len() > C.JAIL_ZREQ_MAX {
		return nil, errNoZygote // too large for one packet: a single run
	}
	return b.Bytes(), nil
}

// run runs one request through the zygote. errNoZygote: this request must
// take the single-run path (nothing was started).
func (z *zygote) run(opts options, p *profile.Profile, plan *Plan, rep *Report) (int, error) {
	l := p.Limits
	if z.dead != nil {
		return 0, errNoZygote
	}
	spec := plan.Exec
	spec.Rlimits = rlimits(l, z.cg.Backend())
	if err := checkRlimits(spec.Rlimits); err != nil {
		return exitSetup, fmt.Errorf("limits: %w", err)
	}
	// The run's cgroup (below) comes as one directory (v2) or the tasks
	// files of as many hierarchies as the batch's (v1).
	cgKind, ncg := C.JAIL_ZCG_NONE, 0
	switch z.cg.Backend() {
	case limits.Cgroup2:
		cgKind, ncg = C.JAIL_ZCG_V2, 1
	case limits.Cgroup1:
		cgKind, ncg = C.JAIL_ZCG_V1, len(z.cg.Paths())
	}
	req, err := request(&spec, z.maxReq, cgKind, ncg)
	if err != nil {
		return exitSetup, err
	}
	stdio := [3]*os.File{}
	closeStdio, err := openStdio(opts, &stdio)
	if err != nil {
		return exitSetup, err
	}
	defer closeStdio()
	if len(terminalFDs(stdio)) > 0 {
		return 0, errNoZygote // the single-run path gives it a pty
	}
	relay, err := commandStdio(stdio, z.idmap, &spec)
	if err != nil {
		return exitSetup, err
	}
	in, err := commandStdin(stdio[0], z.idmap, &spec)
	if err != nil {
		return exitSetup, err
	}
	if in != stdio[0] {
		defer in.Close()
		stdio[0] = in
	}
	cg := z.cg // the run's cgroup
	if cg.Backend() != limits.None {
		lspec := limits.Spec{Memory: uint64(l.Memory), Swap: l.Swap, Pids: l.Pids, CPUs: l.CPUs, Require: l.RequireCgroup}
		// Its per-run init holds one task where a single run's holds
		// singleInitTasks: the command gets as many as in a single run.
		if cg, err = z.cg.Child(lspec, sandboxID(), 1-singleInitTasks); err != nil {
			return exitSetup, fmt.Errorf("cgroup: %w", err)
		}
		defer func() {
			// The run's processes are gone (its init reaped them all
			// before the zygote said DONE): Remove kills what is left
			// anyway and retries EBUSY. Charges that outlive the run
			// (page cache, SysV shared memory freed with its IPC
			// namespace) do not keep a cgroup v1 directory.
			if err := cg.Remove(); err != nil {
				z.warn("the run's cgroup is left behind: %v", err)
			}
		}()
	}
	rep.Enforcement = enforcement(l, cg)
	if z.cg.Backend() == limits.None && l.Pids > 0 && z.isolated {
		rep.Enforcement["pids"] = "rlimit (RLIMIT_NPROC on a host uid of this batch's own)"
	}
	rep.Enforcement["user"] = userEnforcement(z.idmap, &spec)
	rep.Enforcement["sandbox"] = zygoteNote
	if cg != z.cg {
		rep.Enforcement["sandbox"] += zygoteCgroupNote + zygoteCgroupHow[cg.Backend()]
	}

	var outTotal atomic.Uint64
	outputs, err := newOutputPipes(&stdio, nil, uint64(l.Output), relay, &outTotal)
	if err != nil {
		return exitSetup, err
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)

	fds := []int{int(stdio[0].Fd()), int(stdio[1].Fd()), int(stdio[2].Fd())}
	switch cg.Backend() {
	case limits.Cgroup2:
		fds = append(fds, cg.FD())
	case limits.Cgroup1:
		tasks, err := cg.OpenTasks()
		if err != nil {
			for _, o := range outputs {
				o.w.Close()
				o.r.Close()
			}
			return exitSetup, fmt.Errorf("cgroup: %w", err)
		}
		defer func() {
			for _, f := range tasks {
				f.Close()
			}
		}()
		for _, f := range tasks {
			fds = append(fds, int(f.Fd()))
		}
	}
	if len(fds) != 3+ncg {
		err = fmt.Errorf("the run's cgroup has %d descriptors, the batch's %d", len(fds)-3, ncg)
	} else {
		err = unix.Sendmsg(z.ctl, req, unix.UnixRights(fds...), nil, 0)
	}
	for _, o := range outputs {
		o.w.Close()
	}
	if err != nil {
		for _, o := range outputs {
			o.r.Close()
		}
		if errors.Is(err, unix.EMSGSIZE) {
			return 0, errNoZygote // nothing was sent: a single run
		}
		z.dead = err
		return 0, errZygoteGone
	}

	msgs := make(chan zmsg, 8)
	go func() {
		for {
			m := z.recv()
			msgs <- m
			if m.err != nil || m.m._type == C.JAIL_ZM_DONE {
				return
			}
		}
	}()
	var (
		wd                 *watchdog
		initP, cmdP        = newPidfdProc(-1), newPidfdProc(-1)
		startedAt, endedAt time.Time
		overhead, zygOv    = &ipc.Rusage{}, &ipc.Rusage{}
		result             *ipc.Msg
		stageErr           error
		lost               error // the zygote died during the run
	)
	defer func() { initP.close(); cmdP.close() }()
	finish := func() {
		if wd != nil {
			wd.finish()
		}
	}
	for waiting := true; waiting; {
		select {
		case s := <-sigs:
			_ = cmdP.Signal(s)
		case m := <-msgs:
			if m.err != nil && initP.fd < 0 {
				// The zygote was dying when the request reached it
				// (its socket still took the packet): no init was
				// reported, so nothing of this run started. The request
				// goes to a new zygote, as when it was found dead.
				z.dead = m.err
				for _, o := range outputs {
					o.r.Close()
				}
				return 0, errZygoteGone
			}
			if m.err != nil {
				// The zygote died (and with it the run's init and
				// command): the OOM killer, or a bug. The verdict is
				// decided once the cgroup is read.
				z.dead, lost = m.err, m.err
				if endedAt.IsZero() {
					endedAt = time.Now()
				}
				waiting = false
				continue
			}
			ov := &ipc.Rusage{UserUsec: int64(m.m.ov_user_usec), SystemUsec: int64(m.m.ov_sys_usec)}
			switch m.m._type {
			case C.JAIL_ZM_INIT:
				initP = newPidfdProc(m.fd)
				if cg != z.cg {
					// The zygote's CPU for the clone is not in the
					// run's cgroup.
					ov = &ipc.Rusage{}
				}
				zygOv, overhead = ov, ov
				wd = newWatchdog(initP)
				if z.cg.Backend() == limits.None {
					// Kill the command; the init kills the rest and
					// still reports the command's usage.
					wd.viaInit = func() {
						if cmdP.Signal(os.Kill) != nil {
							_ = initP.Signal(os.Kill)
						}
					}
				}
				for _, o := range outputs {
					go o.relay(wd)
				}
			case C.JAIL_ZM_COMMAND:
				cmdP.close()
				cmdP = newPidfdProc(m.fd)
			case C.JAIL_ZM_STARTED:
				startedAt = time.Now()
				overhead = zygOv.Add(ov)
				if wd != nil {
					wd.start(l, cg, usec(overhead))
				}
			case C.JAIL_ZM_FAILED:
				step, path, errno := cstr(m.m.step[:]), cstr(m.m.path[:]), syscall.Errno(m.m.err)
				code := int(m.m.code)
				switch {
				case code == exitNotFound && strings.HasPrefix(step, "exec (command not found)"):
					stageErr = &execError{err: ipc.AsStageError("exec", &os.PathError{Op: "exec", Path: path, Err: errCommandNotFound}), code: code}
				case (code == exitNotFound || code == exitNotExec) && step == "exec":
					stageErr = &execError{err: ipc.AsStageError("exec", &os.PathError{Op: "exec", Path: path, Err: unix.EACCES}), code: code}
				case code == exitNotFound || code == exitNotExec:
					stageErr = &execError{err: ipc.AsStageError("exec", &os.PathError{Op: step, Path: path, Err: errno}), code: code}
				default:
					se := &ipc.StageError{Stage: "init", Op: step, Path: path, Errno: int(errno)}
					stageErr = &setupError{fmt.Errorf("sandbox setup: %w", se)}
				}
				if m.m.setup != 0 {
					// Not the request's or the command's failure: this
					// zygote may be unable to set any run up again. The
					// next request gets a new one (restartZygote).
					z.dead = fmt.Errorf("a run's set-up failed: %w", stageErr)
				}
			case C.JAIL_ZM_EXITED:
				endedAt = time.Now()
				// The init reports its whole usage again, now final.
				overhead = zygOv.Add(ov)
				result = &ipc.Msg{Type: ipc.TypeExited, Code: int(m.m.code), Signal: int(m.m.sig),
					Rusage:   &ipc.Rusage{UserUsec: int64(m.m.user_usec), SystemUsec: int64(m.m.sys_usec), MaxRSS: int64(m.m.maxrss_kib)},
					Overhead: ov}
			case C.JAIL_ZM_DONE:
				if endedAt.IsZero() {
					endedAt = time.Now()
				}
				waiting = false
			}
			if m.m._type != C.JAIL_ZM_INIT && m.m._type != C.JAIL_ZM_COMMAND && m.fd >= 0 {
				unix.Close(m.fd)
			}
		}
	}
	finish()
	if wd == nil {
		// The init never started: no relay reads the output pipes.
		for _, o := range outputs {
			o.r.Close()
		}
		outputs = nil
	}
	if !startedAt.IsZero() {
		rep.Time.Wall = endedAt.Sub(startedAt).Seconds()
	}
	for _, o := range outputs {
		<-o.done
	}
	rep.Output = outTotal.Load()
	account(rep, cg, overhead, result)
	if lost != nil && result == nil && rep.Memory.OOMKills == 0 {
		// Not the OOM killer of the run's cgroup: jail's failure.
		stageErr = errors.Join(stageErr, &setupError{fmt.Errorf("zygote: %w", lost)})
	}
	killedFor := ""
	if wd != nil {
		killedFor = wd.Reason()
	}
	code, err, ok := ending(rep, killedFor, result, stageErr)
	if !ok {
		return exitSetup, &setupError{errors.New("sandbox init ended before the command did")}
	}
	if err != nil {
		return code, err
	}
	return judge(rep, l, code), nil
}

// runOne runs a batch request: through the zygote when the batch has one
// and the request suits it, else through the single-run path.
func (b *batch) runOne(opts options, p *profile.Profile, plan *Plan, rep *Report) (int, error) {
	for try := 0; try < 2; try++ {
		if b.fast != nil && b.fast.dead != nil {
			b.restartZygote()
		}
		if b.fast == nil || p.Limits.Cgroup != b.profile.Limits.Cgroup || p.Limits.RequireCgroup != b.profile.Limits.RequireCgroup {
			break
		}
		code, err := b.fast.run(opts, p, plan, rep)
		if !errors.Is(err, errZygoteGone) {
			if !errors.Is(err, errNoZygote) {
				return code, err
			}
			break
		}
		// Dead since the last run: once more, with a new zygote.
	}
	return supervise(opts, p, plan, rep)
}

// restartZygote replaces a zygote that died or failed to set a run up, up
// to maxZygoteRestarts times; then, or when a new one cannot start, the batch's runs take the
// single-run path.
func (b *batch) restartZygote() {
	dead := b.fast.dead
	b.fast.close()
	b.fast = nil
	why := ""
	if b.zygoteRestarts >= maxZygoteRestarts {
		why = fmt.Sprintf("the zygote was out of service %d times, last: %v", b.zygoteRestarts+1, dead)
	} else {
		b.zygoteRestarts++
		if !b.opts.quiet && b.stderr != nil {
			fmt.Fprintf(b.stderr, "jail batch: note: the zygote is out of service (%v); starting another\n", dead)
		}
		b.fast, why = startZygote(b)
	}
	if why != "" && !b.opts.quiet && b.stderr != nil {
		fmt.Fprintf(b.stderr, "jail batch: warning: a full sandbox set-up per request from now on (no zygote: %s)\n", why)
	}
}
