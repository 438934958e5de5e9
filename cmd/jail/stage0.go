package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/limits"
	"github.com/jail-sandbox/jail/profile"
	"github.com/jail-sandbox/jail/userns"
)

// Exit codes of jail itself; any other code is the command's own status,
// or 128+N when signal N killed it.
const (
	exitSetup    = 125 // jail could not set up the sandbox
	exitNotExec  = 126 // the command was found but could not be executed
	exitNotFound = 127 // the command was not found
	idmapTimeout = 10 * time.Second
)

// defaultSetupTimeout bounds a sandbox's set-up, from the plan sent to the
// command started (or a batch's zygote ready): a set-up that never ends (a
// mount point that blocks, a file system that does not answer) fails with
// a clear error instead of hanging jail. JAIL_SETUP_TIMEOUT changes it.
const defaultSetupTimeout = 60 * time.Second

// setupTimeout is JAIL_SETUP_TIMEOUT (a duration, such as 2m) or the
// default.
func setupTimeout() (time.Duration, error) {
	v := os.Getenv("JAIL_SETUP_TIMEOUT")
	if v == "" {
		return defaultSetupTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("JAIL_SETUP_TIMEOUT=%q: want a positive duration such as 60s or 2m", v)
	}
	return d, nil
}

// setupTimedOut is the error of a set-up that outlived its deadline.
func setupTimedOut(d time.Duration) error {
	return fmt.Errorf("sandbox setup did not finish within %s: something it mounts or opens blocks "+
		"(a file system that does not answer?); nothing was run (raise JAIL_SETUP_TIMEOUT if the host is just slow)", d)
}

// forwarded are the signals stage 0 relays to the sandbox's init, which
// relays them to the command.
var forwarded = []os.Signal{
	unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH,
}

// setupError is a failure before the command started: jail exits 125.
type setupError struct{ err error }

func (e *setupError) Error() string { return e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

// execError is the init's report that the command could not be executed.
type execError struct {
	err  error
	code int
}

func (e *execError) Error() string { return e.err.Error() }
func (e *execError) Unwrap() error { return e.err }

// runConfig is what stage 0 needs besides the plan.
type runConfig struct {
	stdio  [3]*os.File
	tty    *ptyRelay
	limits profile.Limits
	cg     *limits.Cgroup // the sandbox's cgroup (backend None when there is none)
	relay  [3]bool        // outputs that go through jail's relay whatever the limit (commandStdio)
}

// run is stage 0: it starts the sandbox's init in new namespaces, maps its
// ids, hands it the plan and supervises it. It returns the exit code and
// fills rep with how the run ended.
func run(plan *Plan, rc *runConfig, rep *Report) (int, error) {
	stdio, tty, cg := rc.stdio, rc.tty, rc.cg
	deadline, err := setupTimeout()
	if err != nil {
		return exitSetup, &setupError{err}
	}
	var netTool, netToolPath string
	if plan.Net == profile.NetUser {
		// Before anything exists: a missing tool leaves nothing behind.
		var err error
		if netTool, netToolPath, err = findNetTool(); err != nil {
			return exitSetup, &setupError{err}
		}
	}
	// Descriptors jail inherited (a shell's or a CI runner's leaks) are not
	// close-on-exec; make them so, or the sandbox's init would hold them.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return exitSetup, os.NewSyscallError("close_range", err)
	}
	parent, child, err := ipc.Pair()
	if err != nil {
		return exitSetup, err
	}
	defer parent.Close()

	// Signals are caught from the start and relayed to the sandbox's init
	// as messages, not as signals: the init then acts only on what jail
	// relays, never on a signal the command sends to PID 1. Before the
	// command runs, a relayed signal ends the set-up and jail exits 128+N;
	// after, the init relays it to the command.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)

	// The output limit: the command's stdout and stderr (those that are
	// not jail's terminal) go through pipes that jail counts; so do those
	// it could otherwise reopen (rc.relay).
	var outTotal atomic.Uint64
	var term *os.File
	if tty != nil {
		term = tty.slave
	}
	outputs, err := newOutputPipes(&stdio, term, uint64(rc.limits.Output), rc.relay, &outTotal)
	if err != nil {
		return exitSetup, err
	}

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"jail", stage1Arg},
		Env:        []string{},
		Stdin:      stdio[0],
		Stdout:     stdio[1],
		Stderr:     stdio[2],
		ExtraFiles: []*os.File{child}, // fd 3
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: plan.CloneFlags,
			// The sandbox dies with jail. Go checks for a parent that died
			// before the prctl; stage 2 also exits on EOF from this socket.
			Pdeathsig: unix.SIGKILL,
			// Its own process group: a Ctrl-C reaches jail alone, and jail
			// forwards it once, instead of the terminal signalling both.
			Setpgid: true,
		},
	}
	byRuntime := mapByRuntime(cmd.SysProcAttr, plan.IDMap)
	// cgroup v2: the child is born in the sandbox's cgroup (clone3 with
	// CLONE_INTO_CGROUP), so nothing of it ever runs unlimited.
	if fd := cg.FD(); fd >= 0 {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = fd
	}
	err = cmd.Start()
	child.Close()
	for _, o := range outputs {
		o.w.Close()
	}
	if err != nil {
		return exitSetup, cloneError(err)
	}
	pid := cmd.Process.Pid
	wd := newWatchdog(cmd.Process)
	if cg.Backend() == limits.None {
		// No cgroup counts the usage: let the init reap the command and
		// report its rusage rather than die with it.
		wd.viaInit = func() { _ = ipc.Send(parent, ipc.Msg{Type: ipc.TypeKill}) }
	}
	defer wd.finish()
	for _, o := range outputs {
		go o.relay(wd)
	}
	if tty != nil {
		// Only the sandbox holds the slave now: the relay reads EIO
		// when the last process in it is gone.
		tty.slave.Close()
		if err := tty.start(); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return exitSetup, err
		}
		defer tty.finish()
	}

	// From here on, every failure must end the child before returning:
	// kill it by its pid and reap it, so nothing outlives jail.
	fail := func(err error) (int, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return exitSetup, err
	}

	// cgroup v1: the child waits for the id maps before it runs anything,
	// so moving it now is in time. The move waits for an RCU grace period
	// in the kernel (5-10 ms when no migration happened just before), idle
	// time that overlaps the id-map helpers; it ends before idmap-done.
	added := make(chan error, 1)
	go func() { added <- cg.AddProc(pid) }()
	if !byRuntime {
		ctx, cancel := context.WithTimeout(context.Background(), idmapTimeout)
		err = userns.Map(ctx, pid, plan.IDMap)
		cancel()
		if err != nil {
			<-added
			return fail(fmt.Errorf("map user ids: %w", err))
		}
	}
	if err := <-added; err != nil {
		return fail(fmt.Errorf("cgroup: %w", err))
	}
	// Network mode "user": the helper configures the sandbox's network
	// while the sandbox builds its root; the command waits for it.
	var netReady <-chan error
	if netTool != "" {
		h, err := startNetHelper(netTool, netToolPath, pid)
		if err != nil {
			return fail(err)
		}
		defer h.stop()
		netReady = h.ready
	}

	// The command gets the init's stdio (no descriptors in the message).
	execMsg, err := execMessage(&plan.Exec, nil)
	if err != nil {
		return fail(err)
	}
	// Stage 1 passes the time offsets on to stage 2, which applies them
	// before its runtime starts (timens.c).
	var base TimeSpec
	if plan.Time != (TimeSpec{}) {
		base = callerOffsets()
	}
	offsets, _ := json.Marshal(plan.Time.offsetsFile(base))
	if err := ipc.Send(parent, ipc.Msg{Type: ipc.TypeIDMapDone, Data: offsets}); err != nil {
		return fail(fmt.Errorf("sandbox init: %w", err))
	}
	// The plan, then the command: the init builds the root from the plan
	// and starts the command once both are there (ipc's protocol).
	if err := sendPlan(parent, plan); err != nil {
		return fail(err)
	}
	if err := ipc.Send(parent, execMsg); err != nil {
		return fail(fmt.Errorf("sandbox init: %w", err))
	}

	setupTimer := time.NewTimer(deadline)
	defer setupTimer.Stop()
	msgs := make(chan ipc.Msg)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := ipc.Recv(parent)
			if err != nil {
				recvErr <- err
				return
			}
			msgs <- m
		}
	}()

	var (
		startedAt time.Time
		overhead  *ipc.Rusage // jail's own CPU in the sandbox, from the init
		result    *ipc.Msg
		stageErr  error
		relayed   syscall.Signal // the last signal relayed
		relayedOK bool           // ... and it may end the set-up
	)
	for waiting := true; waiting; {
		select {
		case s := <-sigs:
			if s == unix.SIGWINCH && tty != nil {
				tty.resize() // the kernel signals the command's terminal
				continue
			}
			relayed = s.(syscall.Signal)
			relayedOK = relayed != unix.SIGWINCH
			_ = ipc.Send(parent, ipc.Msg{Type: ipc.TypeSignal, Signal: int(relayed)})
		case <-setupTimer.C:
			// The sandbox ends; its init's EOF ends this loop.
			stageErr = &setupError{setupTimedOut(deadline)}
			_ = cmd.Process.Kill()
		case m := <-msgs:
			switch m.Type {
			case ipc.TypeStarted, ipc.TypeError, ipc.TypeExecFailed, ipc.TypeRecord:
				setupTimer.Stop()
			}
			switch m.Type {
			case ipc.TypeStarted:
				// What the sandbox used so far is jail's own set-up (the
				// init's Go runtime, the mounts): the command's CPU time
				// counts from here.
				startedAt = time.Now()
				overhead = m.Overhead
				wd.start(rc.limits, cg, usec(overhead.Add(nil)))
			case ipc.TypeError:
				stageErr = &setupError{fmt.Errorf("sandbox setup: %w", m.Err)}
			case ipc.TypeRecord:
				// The only record stage 2 sends: its C set-up failed.
				stageErr = &setupError{fmt.Errorf("sandbox setup: %w", mountFailure(plan.FS, m.Record))}
			case ipc.TypeExecFailed:
				stageErr = &execError{err: m.Err, code: m.Code}
			case ipc.TypeExited:
				mm := m
				result = &mm
			}
		case err := <-netReady:
			netReady = nil
			if err != nil {
				// The sandbox ends; its init's EOF ends this loop.
				stageErr = &setupError{fmt.Errorf("network: %w", err)}
				_ = cmd.Process.Kill()
				continue
			}
			_ = ipc.Send(parent, ipc.Msg{Type: ipc.TypeNetReady})
		case err := <-recvErr:
			if !errors.Is(err, io.EOF) {
				stageErr = errors.Join(stageErr, fmt.Errorf("sandbox init: %w", err))
			}
			waiting = false
		}
	}
	waitErr := cmd.Wait()
	if !startedAt.IsZero() {
		rep.Time.Wall = time.Since(startedAt).Seconds()
	}
	for _, o := range outputs {
		<-o.done
	}
	rep.Output = outTotal.Load()
	if result != nil && result.Overhead != nil {
		overhead = result.Overhead
	}
	account(rep, cg, overhead.Add(nil), result)
	if code, err, ok := ending(rep, wd.Reason(), result, stageErr); ok {
		return code, err
	}
	if relayedOK {
		// A signal ended the set-up: exit as the shell would, and say so.
		rep.Signal = int(relayed)
		return 128 + int(relayed), &setupError{fmt.Errorf("interrupted by signal %d before the command started", relayed)}
	}
	return exitSetup, fmt.Errorf("sandbox init ended before the command did: %v", waitErr)
}

// ending fills the report from how a run ended (the limit jail killed it
// for, the init's exit message, a set-up or exec error) and returns jail's
// exit code. ok is false when none of them ended it: no limit, no error,
// and the init gone without a word.
func ending(rep *Report, killedFor string, result *ipc.Msg, stageErr error) (code int, err error, ok bool) {
	if killedFor == "" && result == nil && rep.Memory.OOMKills > 0 {
		killedFor = "memory" // the OOM killer took the init itself
	}
	if result != nil {
		rep.ExitCode, rep.Signal = result.Code, result.Signal
	}
	rep.Limit = killedFor
	rep.Killed = killedFor != "" || (result == nil && stageErr == nil)
	switch {
	case killedFor != "" && stageErr == nil:
		if result == nil {
			rep.Signal = int(unix.SIGKILL)
		}
		if result != nil && result.Signal == 0 {
			return result.Code, nil, true
		}
		return 128 + rep.Signal, nil, true
	case stageErr != nil:
		var ee *execError
		if errors.As(stageErr, &ee) {
			return ee.code, ee, true
		}
		return exitSetup, stageErr, true
	case result != nil && result.Signal != 0:
		return 128 + result.Signal, nil, true
	case result != nil:
		return result.Code, nil, true
	}
	return 0, nil, false
}

// cloneError explains why the namespaces could not be created.
func cloneError(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EINVAL) {
		if hint := userns.CheckUserNS(); hint != nil {
			return fmt.Errorf("create namespaces: %w: %v", err, hint)
		}
		return fmt.Errorf("create namespaces: %w (are user namespaces allowed here? inside a container, its seccomp profile may block them)", err)
	}
	return fmt.Errorf("create namespaces: %w", err)
}

// mapByRuntime sets up attr so that the Go runtime writes the child's id
// maps, when root is the caller, and reports whether it did. Root's own uid
// is not in the map (the sandbox must never be host root), so after the
// maps are written the child would be the overflow uid, without
// capabilities. The Go runtime writes the maps (root may write any map) and
// then switches the child to uid 0 of the namespace before its execve, so
// it starts as that uid. Anyone else's maps are written by newuidmap.
func mapByRuntime(attr *syscall.SysProcAttr, m userns.Mapping) bool {
	if os.Geteuid() != 0 || m.Helper {
		return false
	}
	attr.UidMappings = sysMap(m.UIDs)
	attr.GidMappings = sysMap(m.GIDs)
	attr.GidMappingsEnableSetgroups = !m.SetgroupsDeny
	attr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: m.SetgroupsDeny}
	return true
}

func sysMap(m []userns.IDMap) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.Inside), HostID: int(e.Outside), Size: int(e.Count)}
	}
	return out
}

// account fills the report's usage: from the cgroup when there is one (it
// counts every process of the sandbox; jail's own process there, the init,
// measures itself and is taken off), else from the init's rusage of the
// processes it reaped.
func account(rep *Report, cg *limits.Cgroup, overhead *ipc.Rusage, result *ipc.Msg) {
	if u, err := cg.Usage(); err == nil && cg.Backend() != limits.None {
		user := time.Duration(overhead.UserUsec) * time.Microsecond
		sys := time.Duration(overhead.SystemUsec) * time.Microsecond
		rep.Time.CPU = max(u.CPU-user-sys, 0).Seconds()
		rep.Time.Jail = (user + sys).Seconds()
		rep.Time.User = max(u.CPUUser-user, 0).Seconds()
		rep.Time.System = max(u.CPUSystem-sys, 0).Seconds()
		rep.Memory.Peak, rep.Memory.OOMKills, rep.PidsLimitHits = u.MemoryPeak, u.OOMKills, u.PidsLimitHits
		return
	}
	if result != nil && result.Rusage != nil {
		ru := result.Rusage
		rep.Time.User = float64(ru.UserUsec) / 1e6
		rep.Time.System = float64(ru.SystemUsec) / 1e6
		rep.Time.CPU = rep.Time.User + rep.Time.System
		rep.Memory.Peak = uint64(ru.MaxRSS) * 1024
	}
}

// usec is a usage's CPU time.
func usec(r *ipc.Rusage) time.Duration {
	return time.Duration(r.UserUsec+r.SystemUsec) * time.Microsecond
}
