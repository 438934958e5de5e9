package main

/*
#include <stdlib.h>
#include "spawn.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
)

// maxBPF is BPF_MAXINSNS, the kernel's limit on a classic BPF program.
const maxBPF = 4096

// spawnCommand starts the command from the sandbox's init, on the calling
// thread (locked: the child's parent-death signal follows the thread that
// forked it). spawn.c's child, in a new cgroup namespace (created by a
// process already in the sandbox's cgroup, so that is its root) and a new
// session, gives up every privilege and executes the command. It is C and
// shares the init's memory until its execve: no third Go runtime, and
// jail's binary is not loaded again, so the sandbox's root need not hold
// what it needs. stdio, when not nil, are the descriptors (3 and above) to
// become the command's 0-2; else it gets the init's own.
//
// The signals relayed meanwhile go through sigs: to the child as soon as it
// exists (it blocks them until its last steps, then they act on it as on
// the command), else once spawnCommand is done.
//
// It returns the command's pid and, when the command could not be executed,
// the exec-failed message; the child has then exited with that message's
// code and must still be reaped.
func spawnCommand(spec *ExecSpec, stdio []int, sigs *commandSignals) (int, *ipc.Msg, error) {
	if len(spec.Argv) == 0 {
		return 0, nil, errors.New("no command")
	}
	if n := len(spec.Seccomp); n%8 != 0 || n/8 > maxBPF {
		return 0, nil, fmt.Errorf("seccomp: bad program: %d bytes, want a multiple of 8 up to %d", n, 8*maxBPF)
	}
	if len(stdio) != 0 && len(stdio) != 3 {
		return 0, nil, fmt.Errorf("%d descriptors for the command's stdio, want 3", len(stdio))
	}
	for _, fd := range stdio {
		if fd < 3 {
			return 0, nil, fmt.Errorf("descriptor %d for the command's stdio, want 3 or above", fd)
		}
	}
	var keep uint64
	for _, c := range spec.KeepCaps {
		if c < 0 || c >= 64 {
			return 0, nil, fmt.Errorf("capability %d out of range", c)
		}
		keep |= 1 << c
	}
	direct := strings.Contains(spec.Argv[0], "/")
	candidates := []string{spec.Argv[0]}
	if !direct {
		candidates = candidates[:0]
		for _, dir := range filepath.SplitList(envValue(spec.Env, "PATH")) {
			if dir == "" {
				dir = "."
			}
			candidates = append(candidates, filepath.Join(dir, spec.Argv[0]))
		}
	}

	// Everything the child reads is C memory: Go's other threads go on
	// while it runs, and the garbage collector with them.
	var frees []unsafe.Pointer
	defer func() {
		for _, p := range frees {
			C.free(p)
		}
	}()
	cstr := func(s string) *C.char {
		p := C.CString(s)
		frees = append(frees, unsafe.Pointer(p))
		return p
	}
	carr := func(ss []string) **C.char {
		p := (**C.char)(C.calloc(C.size_t(len(ss)+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		frees = append(frees, unsafe.Pointer(p))
		a := unsafe.Slice(p, len(ss)+1)
		for i, s := range ss {
			a[i] = cstr(s)
		}
		return p
	}
	s := (*C.struct_jail_spawn)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_jail_spawn{}))))
	frees = append(frees, unsafe.Pointer(s))
	s.exec.argv = carr(spec.Argv)
	s.exec.envp = carr(spec.Env)
	s.exec.cwd = cstr(spec.Cwd)
	s.exec.candidates = carr(candidates)
	s.exec.ncandidates = C.int(len(candidates))
	s.exec.direct = cbool(direct)
	for i := range s.stdio {
		s.stdio[i] = -1
		if len(stdio) == 3 {
			s.stdio[i] = C.int(stdio[i])
		}
	}
	s.exec.uid, s.exec.gid = C.uint32_t(spec.UID), C.uint32_t(spec.GID)
	s.exec.setgroups = cbool(spec.Setgroups)
	s.exec.tty = cbool(spec.TTY)
	s.exec.keep_caps = C.uint64_t(keep)
	if n := len(spec.Rlimits); n > 0 {
		rl := (*C.struct_jail_rlimit)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.struct_jail_rlimit{}))))
		frees = append(frees, unsafe.Pointer(rl))
		rls := unsafe.Slice(rl, n)
		for i, r := range spec.Rlimits {
			rls[i].resource = C.uint32_t(r.Resource)
			rls[i].cur, rls[i].max = C.uint64_t(r.Cur), C.uint64_t(r.Max)
		}
		s.exec.rlimits, s.exec.nrlimits = rl, C.int(n)
	}
	if len(spec.Seccomp) > 0 {
		p := C.CBytes(spec.Seccomp) // malloc: aligned for struct sock_filter
		frees = append(frees, p)
		s.exec.bpf, s.exec.bpf_len = p, C.int(len(spec.Seccomp)/8)
	}
	s.parent = C.int(os.Getpid())

	sigs.spawning(func() int { return int(C.jail_spawn_pid(s)) })
	pid := int(C.jail_spawn(s))
	// Before s is freed: the relay reads it no more.
	sigs.started(max(pid, 0))
	if pid < 0 {
		return 0, nil, &os.PathError{Op: "clone", Path: "command", Err: syscall.Errno(-pid)}
	}
	if s.step == C.JAIL_STEP_NONE {
		return pid, nil, nil
	}
	// The child exited with s.code.
	err := spawnError(spec, candidates, int(s.step), int(s.arg), syscall.Errno(s.err))
	return pid, &ipc.Msg{Type: ipc.TypeExecFailed, Code: int(s.code), Err: ipc.AsStageError("exec", err)}, nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// spawnError words a failed step of the child.
func spawnError(spec *ExecSpec, candidates []string, step, arg int, errno syscall.Errno) error {
	sys := func(name string) error { return os.NewSyscallError(name, errno) }
	switch step {
	case C.JAIL_STEP_STDIO:
		return sys(fmt.Sprintf("dup2(%d)", arg))
	case C.JAIL_STEP_PDEATHSIG:
		return sys("prctl(PR_SET_PDEATHSIG)")
	case C.JAIL_STEP_SETSID:
		return sys("setsid")
	case C.JAIL_STEP_SETCTTY:
		return sys("ioctl(TIOCSCTTY)")
	case C.JAIL_STEP_RLIMIT:
		r := spec.Rlimits[arg]
		return sys(fmt.Sprintf("setrlimit(%s, %d)", r.Name, r.Max))
	case C.JAIL_STEP_SETGROUPS:
		return sys("setgroups")
	case C.JAIL_STEP_SETRESGID:
		return sys(fmt.Sprintf("setresgid(%d)", spec.GID))
	case C.JAIL_STEP_CAPBSET_DROP:
		return sys(fmt.Sprintf("prctl(PR_CAPBSET_DROP, %d)", arg))
	case C.JAIL_STEP_AMBIENT_CLEAR:
		return sys("prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
	case C.JAIL_STEP_KEEPCAPS:
		return sys("prctl(PR_SET_KEEPCAPS)")
	case C.JAIL_STEP_SETRESUID:
		return sys(fmt.Sprintf("setresuid(%d)", spec.UID))
	case C.JAIL_STEP_CAPSET:
		return sys("capset")
	case C.JAIL_STEP_AMBIENT_RAISE:
		return sys(fmt.Sprintf("prctl(PR_CAP_AMBIENT_RAISE, %d)", arg))
	case C.JAIL_STEP_CHDIR:
		return &os.PathError{Op: "chdir", Path: spec.Cwd, Err: errno}
	case C.JAIL_STEP_NO_NEW_PRIVS:
		return sys("prctl(PR_SET_NO_NEW_PRIVS)")
	case C.JAIL_STEP_NOT_EXECUTABLE:
		return &os.PathError{Op: "exec", Path: candidates[arg], Err: unix.EACCES}
	case C.JAIL_STEP_NOT_FOUND:
		return &os.PathError{Op: "exec", Path: spec.Argv[0], Err: errCommandNotFound}
	case C.JAIL_STEP_CLOSE_RANGE:
		return sys("close_range")
	case C.JAIL_STEP_SIGMASK:
		return sys("sigprocmask")
	case C.JAIL_STEP_SECCOMP:
		err := sys("seccomp")
		if errno == unix.EACCES {
			return fmt.Errorf("%w (no_new_privs not set?)", err)
		}
		return err
	case C.JAIL_STEP_EXECVE:
		return &os.PathError{Op: "execve", Path: candidates[arg], Err: errno}
	}
	return fmt.Errorf("step %d failed: %v", step, errno)
}
