package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/seccomp"
)

// stage3 is the exec shim: the first process of the cgroup namespace. It
// gives up every privilege and becomes the command.
func stage3() int {
	// Credentials, capabilities and no_new_privs set below are per thread;
	// execve from this same thread is what makes them the command's.
	runtime.LockOSThread()
	sock := os.NewFile(syncFD, "sync")
	if err := ipc.Send(sock, ipc.Msg{Type: ipc.TypeReady}); err != nil {
		return exitSetup
	}
	m, err := ipc.Recv(sock)
	if err != nil {
		return exitSetup
	}
	var spec ExecSpec
	if err := json.Unmarshal(m.Data, &spec); err != nil {
		err = fmt.Errorf("bad exec message: %w", err)
		_ = ipc.Send(sock, ipc.Msg{Type: ipc.TypeExecFailed, Code: exitSetup, Err: ipc.AsStageError("exec", err)})
		return exitSetup
	}
	code, err := execCommand(sock, &spec)
	_ = ipc.Send(sock, ipc.Msg{Type: ipc.TypeExecFailed, Code: code, Err: ipc.AsStageError("exec", err)})
	return code
}

// execCommand drops privileges in the order the kernel requires and execs
// the command. It returns only on failure, with the exit code to use.
//
// The order: setgroups/setgid while CAP_SETGID is held; the bounding set
// while CAP_SETPCAP is held; setuid, which empties the permitted set when
// the uid is not 0; then capset to empty what remains (uid 0 keeps it
// otherwise); no_new_privs, so no setuid binary or file capability can give
// anything back; every fd but 0-2 marked close-on-exec; the umask; and the
// seccomp filter, last.
func execCommand(sock *os.File, spec *ExecSpec) (int, error) {
	// Lowering limits needs no privilege; do it while nothing is dropped
	// yet so that a failure is reported like any other set-up step.
	if err := applyRlimits(spec.Rlimits); err != nil {
		return exitSetup, err
	}
	if spec.Setgroups {
		if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
			return exitSetup, os.NewSyscallError("setgroups", e)
		}
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(spec.GID), uintptr(spec.GID), uintptr(spec.GID)); e != 0 {
		return exitSetup, os.NewSyscallError(fmt.Sprintf("setresgid(%d)", spec.GID), e)
	}
	if err := dropBoundingSet(spec.KeepCaps); err != nil {
		return exitSetup, err
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return exitSetup, os.NewSyscallError("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", err)
	}
	if len(spec.KeepCaps) > 0 {
		// Or setresuid to a non-zero uid would empty the permitted set.
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return exitSetup, os.NewSyscallError("prctl(PR_SET_KEEPCAPS)", err)
		}
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(spec.UID), uintptr(spec.UID), uintptr(spec.UID)); e != 0 {
		return exitSetup, os.NewSyscallError(fmt.Sprintf("setresuid(%d)", spec.UID), e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for _, c := range spec.KeepCaps {
		bit := uint32(1) << (c % 32)
		data[c/32].Permitted |= bit
		data[c/32].Effective |= bit
		data[c/32].Inheritable |= bit
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return exitSetup, os.NewSyscallError("capset", err)
	}
	// Ambient: kept across execve whatever the uid and the file.
	for _, c := range spec.KeepCaps {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return exitSetup, os.NewSyscallError(fmt.Sprintf("prctl(PR_CAP_AMBIENT_RAISE, %d)", c), err)
		}
	}
	// With the command's own rights: a directory it could not enter
	// itself is an error, not a favour of CAP_DAC_OVERRIDE.
	if err := os.Chdir(spec.Cwd); err != nil {
		return exitSetup, err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return exitSetup, os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err)
	}
	path, code, err := lookPath(spec.Argv[0], envValue(spec.Env, "PATH"))
	if err != nil {
		return code, err
	}
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return exitSetup, os.NewSyscallError("close_range", err)
	}
	// A private umask: the caller's does not leak in.
	unix.Umask(0o022)
	// What this shim used is jail's, not the command's: tell the init
	// now, before the filter (which may forbid sendmsg) and the execve.
	_ = ipc.Send(sock, ipc.Msg{Type: ipc.TypeExecReady, Overhead: ipc.GetRusage(unix.RUSAGE_SELF)})
	// The filter goes last, so jail's own set-up is not filtered and the
	// command is, from its first instruction. Only this thread is filtered
	// (no TSYNC): it is the one that calls execve.
	if len(spec.Seccomp) > 0 {
		if err := seccomp.Load(&seccomp.Program{BPF: spec.Seccomp}); err != nil {
			return exitSetup, err
		}
	}
	err = unix.Exec(path, spec.Argv, spec.Env)
	code = exitNotExec
	if errors.Is(err, unix.ENOENT) {
		code = exitNotFound
	}
	return code, &os.PathError{Op: "execve", Path: path, Err: err}
}

// dropBoundingSet removes every capability but keep from the bounding set,
// so that no later execve (of a file with capabilities, or as uid 0)
// regains any.
func dropBoundingSet(keep []int) error {
	for c := 0; ; c++ {
		if slices.Contains(keep, c) {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) && c > 0 {
			return nil // past CAP_LAST_CAP
		}
		if err != nil {
			return os.NewSyscallError(fmt.Sprintf("prctl(PR_CAPBSET_DROP, %d)", c), err)
		}
	}
}

// lookPath finds the command as a shell would, in the sandbox's own PATH:
// a name with a slash is used as it is; a file that exists but cannot be
// executed is remembered, so "not executable" (126) wins over "not found"
// (127) as in POSIX shells.
func lookPath(name, pathEnv string) (string, int, error) {
	if strings.Contains(name, "/") {
		return name, 0, nil
	}
	var denied string
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if fi.Mode()&0o111 != 0 && unix.Access(p, unix.X_OK) == nil {
			return p, 0, nil
		}
		if denied == "" {
			denied = p
		}
	}
	if denied != "" {
		return "", exitNotExec, &os.PathError{Op: "exec", Path: denied, Err: fs.ErrPermission}
	}
	return "", exitNotFound, &os.PathError{Op: "exec", Path: name, Err: errCommandNotFound}
}

var errCommandNotFound = errors.New("command not found")

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
