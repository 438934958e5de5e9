package main

// The batch zygote, inside the sandbox (batchfast.go is stage 0's side,
// zygote.c the per-run loop). Stage 0 starts it as `jail __zygote` in new
// user, mount, PID, UTS, IPC (and network) namespaces and maps its ids;
// like stage 1 it then re-executes itself (`__zygote2`), now uid 0 with
// every capability in the namespace; being PID 1 of its PID namespace, it
// gets its time namespace from timens.c's constructor exactly as stage 2
// does, and its root from the mount plan as stage 2's (mounts.c, before
// its Go runtime starts). It checks the mount table, sets the hostname, gives back the memory it can
// (shrink) and hands over to jail_zygote_loop.

/*
#include <stdlib.h>
#include "zygote.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/fs"
	"github.com/jail-sandbox/jail/profile"
)

const (
	zygote1Arg = "__zygote"
	zygote2Arg = "__zygote2"
)

// zygote1 waits for its ids, then re-executes itself with the time
// offsets, as stage1 does for stage 2.
func zygote1() int {
	sock := os.NewFile(syncFD, "sync")
	m, err := ipc.Recv(sock)
	if err != nil || m.Type != ipc.TypeIDMapDone {
		return exitSetup
	}
	var offsets string
	if len(m.Data) > 0 {
		_ = json.Unmarshal(m.Data, &offsets)
	}
	err = unix.Exec("/proc/self/exe", []string{"jail", zygote2Arg}, []string{timensEnv + "=" + offsets})
	_ = ipc.Send(sock, ipc.Msg{Type: ipc.TypeError, Err: &ipc.StageError{
		Stage: "zygote", Op: "execve", Path: "/proc/self/exe", Errno: errnoOf(err)}})
	return exitSetup
}

// zygote2 builds the template root and serves requests until stage 0
// closes the socket.
func zygote2() (code int) {
	// The loop's thread is the parent of every per-run init: their
	// parent-death signal is tied to it.
	runtime.LockOSThread()
	sock := os.NewFile(syncFD, "sync")
	fail := func(stage string, err error) int {
		_ = ipc.Send(sock, ipc.Msg{Type: ipc.TypeError, Err: ipc.AsStageError(stage, err)})
		return exitSetup
	}
	defer func() {
		if r := recover(); r != nil {
			code = fail("zygote", fmt.Errorf("panic: %v", r))
		}
	}()
	plan, err := startStage(sock, "jail-zygote")
	if plan == nil && err == nil {
		return exitSetup
	}
	if err != nil {
		return fail("zygote", err)
	}
	if err := timensError(plan.Time); err != nil {
		return fail("time", err)
	}
	// As in stage 2, the constructor (mounts.c) built the root; the runs
	// share this user namespace, so the counts' bounds it wrote hold for
	// the whole batch.
	if err := rootBuilt(plan); err != nil {
		return fail("fs", err)
	}
	if err := unix.Sethostname([]byte(plan.Hostname)); err != nil {
		return fail("uts", os.NewSyscallError("sethostname", err))
	}
	mounts := zygoteMounts(plan.FS)
	if err := removeTemplateMounts(mounts); err != nil {
		return fail("fs", err)
	}
	cfg := (*C.struct_jail_zconfig)(C.calloc(1, C.sizeof_struct_jail_zconfig))
	arr := (*[1 << 12]C.struct_jail_zmount)(C.calloc(C.size_t(len(mounts)+1), C.sizeof_struct_jail_zmount))
	for i, zm := range mounts {
		arr[i].kind = C.int(zm.kind)
		arr[i].size = C.uint64_t(zm.size)
		arr[i].mode = C.uint32_t(zm.mode)
		arr[i].attr = C.uint32_t(zm.attr)
		arr[i].path = C.CString(zm.path)
	}
	cfg.ctl = C.int(syncFD)
	cfg.newnet = 0
	cfg.lo_up = 0
	if plan.Net != profile.NetHost {
		cfg.newnet, cfg.lo_up = 1, 1
	}
	cfg.nmounts = C.int(len(mounts))
	cfg.mounts = &arr[0]
	if err := ipc.Send(sock, ipc.Msg{Type: ipc.TypeReady}); err != nil {
		return exitSetup
	}
	// From here only the loop runs: what the set-up used goes back (the
	// host's OOM killer weighs it by its resident set).
	ranges := shrink()
	if len(ranges) > 0 {
		arr := (*[1 << 16]C.uintptr_t)(C.calloc(C.size_t(len(ranges)), C.sizeof_uintptr_t))
		for i, r := range ranges {
			arr[i] = C.uintptr_t(r)
		}
		cfg.nshrink, cfg.shrink = C.int(len(ranges)/2), &arr[0]
	}
	C.jail_zygote_loop(cfg)
	return exitSetup // not reached
}

// shrink lowers the zygote's resident set before the loop. Each run has a
// cgroup of its own when there is one, which the zygote is not in; but the
// host's OOM killer (without a cgroup, or when the host runs short) takes
// the largest of the processes with the highest score: a command may lower
// its own score to the zygote's and fill memory with processes smaller
// than a Go process's ~10 MiB. The set-up's heap goes back to the kernel,
// and so do the pages of the read-only private file mappings that hold
// nothing but the file's contents (the binary's and libc's code and
// constants; not the relocated read-only data, which has anonymous pages):
// it returns their ranges, which jail_zygote_loop gives back once no more
// Go code runs on its thread (the loop touches few of them again).
func shrink() (ranges []uintptr) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err == nil {
		var start, end uintptr
		advise := false
		flush := func() {
			if advise && end > start {
				ranges = append(ranges, start, end)
			}
			advise = false
		}
		for _, line := range strings.Split(string(smaps), "\n") {
			f := strings.Fields(line)
			if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
				// START-END PERMS OFFSET DEV INODE [PATH]
				flush()
				lo, hi, _ := strings.Cut(f[0], "-")
				a, err1 := strconv.ParseUint(lo, 16, 64)
				b, err2 := strconv.ParseUint(hi, 16, 64)
				start, end = uintptr(a), uintptr(b)
				advise = err1 == nil && err2 == nil && f[1][1] != 'w' && f[1][3] == 'p' && f[4] != "0"
				continue
			}
			if len(f) >= 2 && f[0] == "Anonymous:" && f[1] != "0" {
				advise = false // written before it was made read-only
			}
		}
		flush()
	}
	debug.FreeOSMemory()
	return ranges
}

// removeTemplateMounts detaches the template's tmpfs and devpts mounts,
// before any run: each per-run init mounts its own where the plan says
// (zygote.c's attach walks there without following a symlink), never
// detaching by path what an earlier run could have moved (a tmpfs in a
// writable bind whose parent a run renamed: every later umount2 by path
// failed).
func removeTemplateMounts(mounts []zygoteMount) error {
	for _, m := range mounts {
		if m.kind != C.JAIL_ZMNT_TMPFS && m.kind != C.JAIL_ZMNT_DEVPTS {
			continue
		}
		if err := unix.Unmount(m.path, unix.MNT_DETACH); err != nil {
			return &fs.MountError{Op: "umount2", Target: m.path, Err: err}
		}
	}
	return nil
}

// zygoteMount is one mount a per-run init makes afresh.
type zygoteMount struct {
	kind       int
	size       uint64
	mode, attr uint32
	path       string
}

// zygoteMounts lists, in order, what every run mounts afresh: a new proc
// and jail's masks on it over the template's (the paths this kernel has,
// as fs.Setup found them), and where the zygote removed the template's
// (removeTemplateMounts), a new tmpfs on each tmpfs target, a new devpts
// instance and /dev/shm.
func zygoteMounts(spec fs.Spec) []zygoteMount {
	const (
		nosuid = unix.MOUNT_ATTR_NOSUID
		nodev  = unix.MOUNT_ATTR_NODEV
		noexec = unix.MOUNT_ATTR_NOEXEC
		ro     = unix.MOUNT_ATTR_RDONLY | nosuid | nodev | noexec
	)
	// Read-only, as fs.Setup makes it (the mount, not the superblock).
	out := []zygoteMount{{kind: C.JAIL_ZMNT_PROC, attr: ro, path: "/proc"}}
	for _, p := range fs.ProcReadOnly {
		if _, err := os.Lstat(p); err == nil {
			out = append(out, zygoteMount{kind: C.JAIL_ZMNT_ROBIND, attr: ro, path: p})
		}
	}
	for _, p := range fs.ProcMaskedFiles {
		if _, err := os.Lstat(p); err == nil {
			out = append(out, zygoteMount{kind: C.JAIL_ZMNT_MASKFILE, attr: ro, path: p})
		}
	}
	for _, p := range fs.ProcMaskedDirs {
		if _, err := os.Lstat(p); err == nil {
			// Over the new proc's directory: nothing to detach there.
			out = append(out, zygoteMount{kind: C.JAIL_ZMNT_TMPFS_OVER, size: 4096, mode: 0o555, attr: ro, path: p})
		}
	}
	for _, op := range spec.Ops {
		if op.Kind == fs.OpTmpfs {
			out = append(out, zygoteMount{kind: C.JAIL_ZMNT_TMPFS, size: op.Size, mode: op.Mode, attr: nosuid | nodev, path: op.Target})
		}
	}
	out = append(out,
		zygoteMount{kind: C.JAIL_ZMNT_DEVPTS, size: fs.DevPtsMax, attr: nosuid | noexec, path: "/dev/pts"},
		zygoteMount{kind: C.JAIL_ZMNT_TMPFS, size: spec.DevShmSize, mode: 0o1777, attr: nosuid | nodev | noexec, path: "/dev/shm"})
	return out
}

// zygoteUnsupported says why a batch's sandboxes cannot come from a
// zygote ("" when they can): what the per-run mounts cannot renew.
func zygoteUnsupported(plan *Plan) string {
	if plan.Net == profile.NetUser {
		return "network mode user needs a network helper per sandbox"
	}
	var tmpfs []string
	for _, op := range plan.FS.Ops {
		for _, t := range tmpfs {
			if strings.HasPrefix(op.Target, strings.TrimSuffix(t, "/")+"/") {
				return fmt.Sprintf("%s is inside the tmpfs %s, which each run renews", op.Target, t)
			}
		}
		if op.Kind == fs.OpTmpfs {
			if op.Target == "/" || op.Target == "/proc" || strings.HasPrefix(op.Target, "/proc/") || strings.HasPrefix(op.Target, "/dev/") {
				return "a tmpfs on " + op.Target
			}
			tmpfs = append(tmpfs, op.Target)
		}
	}
	return ""
}
