package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/limits"
	"github.com/jail-sandbox/jail/profile"
)

// Rlimit is one resource limit the command's process sets before execve
// (spawn.c). Inside the user namespace a limit can only be lowered, so
// stage 0 refuses values above its own hard limits (checkRlimits).
type Rlimit struct {
	Resource int    `json:"resource"`
	Name     string `json:"name"`
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

// rlimits lists the command's rlimits: the profile's file size, open files
// and stack, no core dumps ever, a share of the per-user pools
// (pooledRlimits), and, when no cgroup enforces them, the fallbacks for
// memory (RLIMIT_AS) and processes (RLIMIT_NPROC); the CPU time limit is
// also a per-process RLIMIT_CPU backstop.
func rlimits(l profile.Limits, backend limits.Backend) []Rlimit {
	out := []Rlimit{{Resource: unix.RLIMIT_CORE, Name: "RLIMIT_CORE"}}
	out = append(out, pooledRlimits()...)
	add := func(res int, name string, v uint64) {
		if v > 0 {
			out = append(out, Rlimit{Resource: res, Name: name, Cur: v, Max: v})
		}
	}
	add(unix.RLIMIT_FSIZE, "RLIMIT_FSIZE", uint64(l.FileSize))
	add(unix.RLIMIT_NOFILE, "RLIMIT_NOFILE", l.OpenFiles)
	add(unix.RLIMIT_STACK, "RLIMIT_STACK", uint64(l.Stack))
	if backend == limits.None {
		add(unix.RLIMIT_AS, "RLIMIT_AS", uint64(l.Memory))
		add(unix.RLIMIT_NPROC, "RLIMIT_NPROC", l.Pids)
	}
	if l.CPUTime > 0 {
		secs := uint64(math.Ceil(time.Duration(l.CPUTime + l.ExtraTime).Seconds()))
		// A second of slack: the process's CPU time counts from its fork,
		// so it includes its few system calls before execve.
		out = append(out, Rlimit{Resource: unix.RLIMIT_CPU, Name: "RLIMIT_CPU", Cur: secs + 1, Max: secs + 2})
	}
	return out
}

// pooledRlimits bound what the command may take of two per-user pools
// that the kernel caps with an rlimit: the bytes of POSIX message queues
// (RLIMIT_MSGQUEUE) and the signals queued to its processes
// (RLIMIT_SIGPENDING). Each is counted per user in every user namespace
// from the sandbox's up, so without a bound of its own a sandbox could take
// the caller's whole allowance (819200 bytes of queues by default) and the
// caller's own programs then fail (mq_open EMFILE). The kernel checks a
// process's rlimit against its own namespace's count, so a quarter of
// jail's own soft limit, soft and hard, caps the sandbox and leaves the
// rest to the caller.
func pooledRlimits() []Rlimit {
	var out []Rlimit
	for _, r := range []struct {
		res  int
		name string
	}{{unix.RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"}, {unix.RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"}} {
		var have unix.Rlimit
		if err := unix.Getrlimit(r.res, &have); err != nil || have.Cur == unix.RLIM_INFINITY {
			continue
		}
		out = append(out, Rlimit{Resource: r.res, Name: r.name, Cur: have.Cur / 4, Max: have.Cur / 4})
	}
	return out
}

// checkRlimits refuses limits above what this process may set: the
// command's process, inside the user namespace, could only fail to raise
// them.
func checkRlimits(rl []Rlimit) error {
	for _, r := range rl {
		var have unix.Rlimit
		if err := unix.Getrlimit(r.Resource, &have); err != nil {
			return os.NewSyscallError("getrlimit", err)
		}
		if have.Max != unix.RLIM_INFINITY && r.Max > have.Max {
			return fmt.Errorf("%s %d exceeds this host's hard limit %d (see ulimit -H)", r.Name, r.Max, have.Max)
		}
	}
	return nil
}

// watchdog ends the run when a time or output limit is exceeded. It kills
// the sandbox's init with SIGKILL: the kernel then kills everything in its
// PID namespace.
type watchdog struct {
	proc signaler // through a pidfd: never a reused pid once reaped
	// viaInit, when set, asks the sandbox's init to kill the rest (so it
	// still reports the command's rusage); the init itself is killed a
	// second later if it has not ended by then.
	viaInit func()
	once    sync.Once
	reason  atomic.Value // string: "cpu-time", "wall-time", "output"
	stop    chan struct{}
}

// signaler is what the watchdog kills: an *os.Process, or a pidfd.
type signaler interface{ Signal(os.Signal) error }

func newWatchdog(proc signaler) *watchdog {
	return &watchdog{proc: proc, stop: make(chan struct{})}
}

func (w *watchdog) kill(reason string) {
	w.once.Do(func() {
		w.reason.Store(reason)
		if w.viaInit != nil {
			w.viaInit()
			time.AfterFunc(time.Second, func() { _ = w.proc.Signal(os.Kill) })
			return
		}
		_ = w.proc.Signal(os.Kill)
	})
}

// Reason says which limit ended the run, "" if none did.
func (w *watchdog) Reason() string {
	r, _ := w.reason.Load().(string)
	return r
}

// start arms the wall-time timer and the CPU-time poll from the moment the
// command runs. CPU time is read from the cgroup, which sums every process
// of the sandbox; without a cgroup only RLIMIT_CPU (per process) holds it.
func (w *watchdog) start(l profile.Limits, cg *limits.Cgroup, base time.Duration) {
	if l.WallTime > 0 {
		t := time.AfterFunc(time.Duration(l.WallTime+l.ExtraTime), func() { w.kill("wall-time") })
		go func() { <-w.stop; t.Stop() }()
	}
	if l.CPUTime > 0 && cg.Backend() != limits.None {
		limit := time.Duration(l.CPUTime + l.ExtraTime)
		go func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-w.stop:
					return
				case <-tick.C:
					if u, err := cg.Usage(); err == nil && u.CPU-base >= limit {
						w.kill("cpu-time")
						return
					}
				}
			}
		}()
	}
}

func (w *watchdog) finish() { close(w.stop) }

// outputPipe relays the command's output to dst, counting what all the
// relayed streams write together; past the limit it writes nothing more
// and ends the run.
type outputPipe struct {
	r, w  *os.File
	dst   *os.File
	total *atomic.Uint64
	limit uint64
	wd    *watchdog
	done  chan struct{}
}

// newOutputPipes puts jail's counted relay between the command and its
// outputs (descriptors 1 and 2, in stdio): each of them under an output
// limit, else those that relay names (commandStdio: a file the command
// could reopen); never term, jail's terminal (its own relay). Without a
// limit, the relay counts and never ends the run.
func newOutputPipes(stdio *[3]*os.File, term *os.File, limit uint64, relay [3]bool, total *atomic.Uint64) ([]*outputPipe, error) {
	var outputs []*outputPipe
	if limit == 0 {
		limit = math.MaxUint64
	}
	for fd := 1; fd <= 2; fd++ {
		if stdio[fd] == term || limit == math.MaxUint64 && !relay[fd] {
			continue
		}
		o, err := newOutputPipe(stdio[fd], total, limit)
		if err != nil {
			for _, o := range outputs {
				o.r.Close()
				o.w.Close()
			}
			return nil, err
		}
		outputs = append(outputs, o)
		stdio[fd] = o.w
	}
	return outputs, nil
}

func newOutputPipe(dst *os.File, total *atomic.Uint64, limit uint64) (*outputPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &outputPipe{r: r, w: w, dst: dst, total: total, limit: limit, done: make(chan struct{})}, nil
}

func (o *outputPipe) relay(wd *watchdog) {
	defer close(o.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := o.r.Read(buf)
		if n > 0 {
			before := o.total.Add(uint64(n)) - uint64(n)
			keep := uint64(n)
			if before+keep > o.limit {
				keep = o.limit - min(before, o.limit)
				wd.kill("output")
			}
			if keep > 0 {
				_, _ = o.dst.Write(buf[:keep])
			}
		}
		if err != nil {
			if err != io.EOF {
				wd.kill("output")
			}
			return
		}
	}
}
