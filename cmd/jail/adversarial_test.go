package main

// Adversarial tests: each attack is a role, run inside the sandbox as
// "/jailtest __role NAME ARGS...", that attempts one escape or abuse and
// prints "ESCAPED <detail>" when it worked or "BLOCKED <reason>" when it did
// not, and exits 0. Inside jail the output must say BLOCKED.
//
// An attack that cannot tell success from failure proves nothing, so each
// one is also run outside the sandbox, where it is expected to succeed, and
// there it must say ESCAPED:
//
//   - "host": the role runs directly on the host as the test user (it can
//     write its own files, see its own processes, reach host listeners);
//   - "userns": the role runs in a plain user namespace the test creates
//     (uid 0 inside = the test user), with new mount, UTS, IPC and PID
//     namespaces: there it holds the capabilities a namespace owner has,
//     which the command inside jail must not (mount, remount, sethostname,
//     reboot of a PID namespace).
//
// A few calls are refused by the kernel to every unprivileged process
// anywhere (kexec_load, init_module, finit_module, clock_settime,
// settimeofday): no namespace a test can create makes them succeed. The
// sandbox must stop them with its seccomp filter, before the kernel's own
// check. For those, "success" means the call reached the kernel: it
// succeeded, or it failed while the process has no seccomp filter
// (/proc/self/status "Seccomp: 0"), so that nothing but the kernel's
// capability check stood in the way. Outside (no filter) that is ESCAPED,
// and the outside run must also show the kernel's own errno (EPERM, or
// ENOSYS when the kernel lacks the call: then the proof is skipped).
//
// Several attacks are stopped today only by the absence of a seccomp policy
// (keyctl, bpf, perf_event_open, userfaultfd, ptrace of a child,
// PTRACE_TRACEME, name_to_handle_at, nested user namespaces, TIOCSTI after
// TIOCSCTTY, and the kernel-refused calls above). They are written as they
// must be once the default profile carries its seccomp policy.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	for name, f := range attackRoles {
		roles[name] = f
	}
}

// escaped and blocked print a role's verdict; roles return their result.
func escaped(format string, a ...any) int {
	fmt.Printf("ESCAPED "+format+"\n", a...)
	return 0
}

func blocked(format string, a ...any) int {
	fmt.Printf("BLOCKED "+format+"\n", a...)
	return 0
}

// errName names an error by its errno when it has one.
func errName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// seccompMode reads this process's seccomp mode (0 none, 2 filter).
func seccompMode() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// kernelGated is the verdict on a call the kernel refuses to every
// unprivileged caller: see the file comment.
func kernelGated(call string, err error) int {
	switch {
	case err == nil:
		return escaped("%s succeeded", call)
	case errors.Is(err, unix.ENOSYS) && seccompMode() == "0":
		return blocked("%s: ENOSYS (the kernel lacks it)", call)
	case seccompMode() == "0":
		return escaped("%s reached the kernel (no seccomp filter): %s", call, errName(err))
	}
	return blocked("%s: %s (seccomp mode %s)", call, errName(err), seccompMode())
}

// selfExe is this binary: /jailtest inside, the helper copy outside.
func selfExe() string {
	p, err := os.Executable()
	if err != nil {
		return "/proc/self/exe"
	}
	return p
}

// inNewUserNS is the SysProcAttr of a child in a new user namespace where
// it is uid 0, mapped to the caller's own ids.
func inNewUserNS(extra uintptr) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | extra,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
}

// remountRW tries to make the read-only mount at dir writable, keeping its
// other flags (so that only the read-only flag is at stake).
func remountRW(dir string) (string, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "statfs " + dir + ": " + errName(err), false
	}
	keep := uintptr(st.Flags) & (unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC | unix.ST_NOATIME | unix.ST_NODIRATIME)
	flags := uintptr(unix.MS_REMOUNT|unix.MS_BIND) | keep
	if st.Flags&unix.ST_RELATIME != 0 {
		flags |= unix.MS_RELATIME
	}
	err1 := unix.Mount("", dir, "", flags, "")
	if err1 == nil {
		return "mount(MS_REMOUNT|MS_BIND) made " + dir + " writable", true
	}
	err2 := unix.MountSetattr(unix.AT_FDCWD, dir, 0, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY})
	if err2 == nil {
		return "mount_setattr cleared MOUNT_ATTR_RDONLY on " + dir, true
	}
	return fmt.Sprintf("remount %s: %s; mount_setattr: %s", dir, errName(err1), errName(err2)), false
}

var attackRoles = map[string]func(args []string) int{
	// sleep: a target process for ptrace and /proc/PID/exe.
	"sleep": func(args []string) int {
		time.Sleep(30 * time.Second)
		return 0
	},
	"true": func(args []string) int { return 0 },

	// fsetsig-init: aim a pipe's I/O signal at PID 1 as SIGSEGV (F_SETOWN,
	// F_SETSIG, O_ASYNC), trigger it, and print what each step returned.
	"fsetsig-init": func(args []string) int {
		var p [2]int
		if err := unix.Pipe(p[:]); err != nil {
			fmt.Println(err)
			return 1
		}
		_, e1 := unix.FcntlInt(uintptr(p[0]), unix.F_SETOWN, 1)
		_, e2 := unix.FcntlInt(uintptr(p[0]), unix.F_SETSIG, int(unix.SIGSEGV))
		if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_SETFL, unix.O_ASYNC|unix.O_NONBLOCK); err == nil {
			_, _ = unix.Write(p[1], []byte("x"))
		}
		fmt.Printf("setown %s setsig %s\n", errName(e1), errName(e2))
		time.Sleep(200 * time.Millisecond)
		fmt.Println("alive")
		return 0
	},

	// sigqueue-init: queue SIGSEGV to PID 1, with sigqueue and with a
	// pidfd, and print what each returned.
	"sigqueue-init": func(args []string) int {
		info := make([]byte, 128) // siginfo_t: signo, errno, code (SI_QUEUE = -1)
		binary.LittleEndian.PutUint32(info[0:], uint32(unix.SIGSEGV))
		binary.LittleEndian.PutUint32(info[8:], uint32(0xffffffff))
		_, _, e1 := unix.Syscall(unix.SYS_RT_SIGQUEUEINFO, 1, uintptr(unix.SIGSEGV), uintptr(unsafe.Pointer(&info[0])))
		fd, err := unix.PidfdOpen(1, 0)
		e2 := err
		if err == nil {
			_, _, e2n := unix.Syscall6(unix.SYS_PIDFD_SEND_SIGNAL, uintptr(fd), uintptr(unix.SIGSEGV), uintptr(unsafe.Pointer(&info[0])), 0, 0, 0)
			if e2n != 0 {
				e2 = e2n
			} else {
				e2 = nil
			}
		}
		fmt.Printf("sigqueue %s pidfd %s\n", errName(errnoErr(e1)), errName(e2))
		time.Sleep(200 * time.Millisecond)
		fmt.Println("alive")
		return 0
	},

	// openw PATH...: open each path for writing, creating it if missing.
	// Success: any open succeeds. Nothing is ever written.
	"openw": func(args []string) int {
		var why []string
		for _, p := range args {
			fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
			if err == nil {
				unix.Close(fd)
				return escaped("opened %s for writing", p)
			}
			why = append(why, p+": "+errName(err))
		}
		return blocked("%s", strings.Join(why, ", "))
	},

	// read PATH: read a host file that is not bound in, by its own path and
	// by the ways around the new root (the old root, PID 1's root).
	"read": func(args []string) int {
		p := args[0]
		var why []string
		for _, c := range []string{p, "/oldroot" + p, "/proc/1/root" + p, "/proc/1/cwd" + p} {
			b, err := os.ReadFile(c)
			if err == nil {
				return escaped("read %s: %q", c, b)
			}
			why = append(why, c+": "+errName(err))
		}
		return blocked("%s", strings.Join(why, ", "))
	},

	// hostproc PID: see or signal a host process. kill(pid, 0) answering
	// anything but ESRCH means the pid exists here.
	"hostproc": func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		if err := unix.Kill(pid, 0); err == nil || errors.Is(err, unix.EPERM) {
			return escaped("kill(%d, 0): %s", pid, errName(err))
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			return escaped("/proc/%d exists", pid)
		}
		return blocked("kill(%d, 0): ESRCH, no /proc/%d", pid, pid)
	},

	// ptrace-attach PID: PTRACE_ATTACH to a process (PID 1 inside).
	"ptrace-attach": func(args []string) int {
		pid, _ := strconv.Atoi(args[0])
		return ptraceAttach(pid)
	},

	// ptrace-child: fork a child and PTRACE_ATTACH to it.
	"ptrace-child": func(args []string) int {
		child := exec.Command(selfExe(), "__role", "sleep")
		if err := child.Start(); err != nil {
			return blocked("start child: %v", err)
		}
		defer func() {
			_ = child.Process.Kill()
			_ = child.Wait()
		}()
		return ptraceAttach(child.Process.Pid)
	},

	// ptrace-traceme: a child asks to be traced by its parent (this role),
	// which reaps its ptrace stops itself. The child exits 0 if
	// PTRACE_TRACEME worked, 100+errno if not.
	"ptrace-traceme": func(args []string) int {
		child := exec.Command(selfExe(), "__role", "traceme-child")
		if err := child.Start(); err != nil {
			return blocked("start child: %v", err)
		}
		pid := child.Process.Pid
		for {
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return blocked("wait4: %s", errName(err))
			}
			if ws.Stopped() {
				sig := ws.StopSignal()
				if sig == unix.SIGTRAP || sig == unix.SIGSTOP {
					sig = 0
				}
				_ = unix.PtraceCont(pid, int(sig))
				continue
			}
			if ws.Exited() && ws.ExitStatus() == 0 {
				return escaped("PTRACE_TRACEME succeeded")
			}
			if ws.Exited() && ws.ExitStatus() > 100 {
				return blocked("PTRACE_TRACEME: %s", unix.ErrnoName(syscall.Errno(ws.ExitStatus()-100)))
			}
			return blocked("traceme child ended: %v", ws)
		}
	},
	"traceme-child": func(args []string) int {
		runtime.LockOSThread()
		_, _, e := unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
		if e != 0 {
			return 100 + int(e)
		}
		return 0
	},

	// mount-tmpfs DIR: mount a tmpfs.
	"mount-tmpfs": func(args []string) int {
		if err := unix.Mount("tmpfs", args[0], "tmpfs", 0, "size=1m"); err != nil {
			return blocked("mount tmpfs on %s: %s", args[0], errName(err))
		}
		_ = unix.Unmount(args[0], unix.MNT_DETACH)
		return escaped("mounted a tmpfs on %s", args[0])
	},

	// remount-rw DIR [--prepare]: make a read-only mount writable. With
	// --prepare (outside only), first make DIR a read-only bind of itself,
	// in this namespace, so that there is one to attack.
	"remount-rw": func(args []string) int {
		dir := args[0]
		if len(args) > 1 && args[1] == "--prepare" {
			if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
				return blocked("prepare: bind %s: %s", dir, errName(err))
			}
			if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
				return blocked("prepare: remount ro %s: %s", dir, errName(err))
			}
		}
		msg, ok := remountRW(dir)
		if ok {
			return escaped("%s", msg)
		}
		return blocked("%s", msg)
	},

	// open-tree SRC DST: clone a mount with open_tree and attach it
	// elsewhere with move_mount; and create a new superblock with fsopen.
	"open-tree": func(args []string) int {
		if fd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC); err == nil {
			unix.Close(fd)
			return escaped("fsopen(tmpfs) succeeded")
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, args[0], unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return blocked("open_tree(%s, OPEN_TREE_CLONE): %s", args[0], errName(err))
		}
		defer unix.Close(fd)
		err = unix.MoveMount(fd, "", unix.AT_FDCWD, args[1], unix.MOVE_MOUNT_F_EMPTY_PATH)
		return escaped("open_tree cloned %s; move_mount to %s: %s", args[0], args[1], errName(err))
	},

	// userns: create a nested user namespace.
	"userns": func(args []string) int {
		c := exec.Command(selfExe(), "__role", "true")
		c.SysProcAttr = inNewUserNS(syscall.CLONE_NEWNS)
		if err := c.Run(); err != nil {
			return blocked("clone(CLONE_NEWUSER) with a uid_map: %s", errName(err))
		}
		return escaped("created a user namespace and wrote its uid_map")
	},

	// userns-remount DIR: in a nested user and mount namespace (full
	// capabilities there), try to make the read-only DIR writable. The
	// kernel locks the flags of mounts inherited from a more privileged
	// namespace, so this must fail even where user namespaces are allowed.
	"userns-remount": func(args []string) int {
		c := exec.Command(selfExe(), append([]string{"__role", "remount-rw"}, args...)...)
		c.SysProcAttr = inNewUserNS(syscall.CLONE_NEWNS)
		out, err := c.Output()
		if err != nil && len(out) == 0 {
			return blocked("nested user namespace: %s", errName(err))
		}
		fmt.Print(string(out))
		return 0
	},

	// tiocsti DEV INO: push a character into the caller's terminal (the
	// tty with that device and inode on the host) as if typed. Every
	// descriptor open on it is tried; when TIOCSTI fails, the attack tries
	// to make the terminal its controlling terminal first. A terminal of
	// jail's own (a relay's pseudo-terminal) is not the caller's.
	"tiocsti": func(args []string) int {
		dev, _ := strconv.ParseUint(args[0], 10, 64)
		ino, _ := strconv.ParseUint(args[1], 10, 64)
		c := byte('#')
		sti := func(fd int) error {
			return unix.IoctlSetInt(fd, unix.TIOCSTI, int(uintptr(unsafe.Pointer(&c))))
		}
		var why []string
		for fd := 0; fd < 1024; fd++ {
			var st unix.Stat_t
			if unix.Fstat(fd, &st) != nil || st.Dev != dev || st.Ino != ino {
				continue
			}
			err := sti(fd)
			if err == nil {
				return escaped("TIOCSTI on fd %d, the caller's terminal", fd)
			}
			err2 := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0)
			if err2 != nil {
				why = append(why, fmt.Sprintf("fd %d: TIOCSTI: %s; TIOCSCTTY: %s", fd, errName(err), errName(err2)))
				continue
			}
			if err3 := sti(fd); err3 == nil {
				return escaped("TIOCSCTTY then TIOCSTI on fd %d, the caller's terminal", fd)
			} else {
				why = append(why, fmt.Sprintf("fd %d: TIOCSTI: %s; after TIOCSCTTY: %s", fd, errName(err), errName(err3)))
			}
		}
		if why == nil {
			return blocked("no descriptor on the caller's terminal")
		}
		return blocked("%s", strings.Join(why, ", "))
	},

	// keyctl: add a key to the session keyring (shared with the caller).
	"keyctl": func(args []string) int {
		id, err := unix.AddKey("user", fmt.Sprintf("jail-adv-%d", os.Getpid()), []byte("x"), unix.KEY_SPEC_SESSION_KEYRING)
		if err != nil {
			return blocked("add_key: %s", errName(err))
		}
		_, _ = unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_SESSION_KEYRING, 0, 0)
		return escaped("add_key to the session keyring: key %d", id)
	},

	// bpf: load a trivial socket filter (r0 = 0; exit). Where unprivileged
	// bpf is disabled the kernel refuses it everywhere: kernelGated.
	"bpf": func(args []string) int {
		insns := [2]uint64{
			0xb7, // BPF_ALU64|BPF_MOV|BPF_K, r0 = 0
			0x95, // BPF_JMP|BPF_EXIT
		}
		license := []byte("GPL\x00")
		var attr [128]byte
		*(*uint32)(unsafe.Pointer(&attr[0])) = unix.BPF_PROG_TYPE_SOCKET_FILTER
		*(*uint32)(unsafe.Pointer(&attr[4])) = 2
		*(*uint64)(unsafe.Pointer(&attr[8])) = uint64(uintptr(unsafe.Pointer(&insns[0])))
		*(*uint64)(unsafe.Pointer(&attr[16])) = uint64(uintptr(unsafe.Pointer(&license[0])))
		fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
		runtime.KeepAlive(insns)
		runtime.KeepAlive(license)
		if e == 0 {
			unix.Close(int(fd))
			return escaped("BPF_PROG_LOAD loaded a socket filter")
		}
		return kernelGated("bpf(BPF_PROG_LOAD)", e)
	},

	// perf: open a software counter on this process.
	"perf": func(args []string) int {
		attr := unix.PerfEventAttr{
			Type:   unix.PERF_TYPE_SOFTWARE,
			Config: unix.PERF_COUNT_SW_TASK_CLOCK,
			Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Bits:   unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
		}
		fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return blocked("perf_event_open: %s", errName(err))
		}
		unix.Close(fd)
		return escaped("perf_event_open succeeded")
	},

	// userfaultfd: create a userfaultfd (user-mode faults only, which
	// needs no privilege), or open /dev/userfaultfd.
	"userfaultfd": func(args []string) int {
		const uffdUserModeOnly = 1
		fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|uffdUserModeOnly, 0, 0)
		if e == 0 {
			unix.Close(int(fd))
			return escaped("userfaultfd(UFFD_USER_MODE_ONLY) succeeded")
		}
		fd2, err := unix.Open("/dev/userfaultfd", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd2)
			return escaped("opened /dev/userfaultfd")
		}
		return blocked("userfaultfd: %s; /dev/userfaultfd: %s", errName(e), errName(err))
	},

	// name-to-handle PATH: get a file handle, the first half of the
	// "shocker" escape (open_by_handle_at needs one).
	"name-to-handle": func(args []string) int {
		_, _, err := unix.NameToHandleAt(unix.AT_FDCWD, args[0], 0)
		if err != nil {
			return blocked("name_to_handle_at(%s): %s", args[0], errName(err))
		}
		return escaped("name_to_handle_at(%s) succeeded", args[0])
	},

	// open-by-handle MOUNTDIR PATH: open files by handle, which bypasses
	// path lookup: the handle of PATH, and a forged handle of inode 2 (an
	// ext2/3/4 root directory, outside any bind: the "shocker" escape).
	// The kernel wants CAP_DAC_READ_SEARCH of the initial namespace (or,
	// since 6.10, directory handles below a mount the caller's namespace
	// owns, which did not work in a test's user namespace here), so the
	// verdict when every open fails is kernelGated's.
	"open-by-handle": func(args []string) int {
		dir, target := args[0], args[1]
		mfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return blocked("open %s: %s", dir, errName(err))
		}
		defer unix.Close(mfd)
		root := make([]byte, 8)
		root[0] = 2 // FILEID_INO32_GEN: inode 2, generation 0
		handles := []unix.FileHandle{unix.NewFileHandle(1, root)}
		if h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, target, 0); err == nil {
			handles = append([]unix.FileHandle{h}, handles...)
		}
		var last error
		for _, h := range handles {
			fd, err := unix.OpenByHandleAt(mfd, h, unix.O_RDONLY|unix.O_CLOEXEC)
			if err == nil {
				p, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
				unix.Close(fd)
				return escaped("open_by_handle_at(type %d) opened %s", h.Type(), p)
			}
			last = err
		}
		return kernelGated("open_by_handle_at", last)
	},

	// kexec: load no kernel (nr_segments 0 unloads; harmless either way).
	"kexec": func(args []string) int {
		_, _, e := unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0, 0, 0)
		return kernelGated("kexec_load", errnoErr(e))
	},
	// init-module: an empty image, then a bad fd: never a real module.
	"init-module": func(args []string) int {
		var b [1]byte
		_, _, e := unix.Syscall(unix.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&b[0])), 0, uintptr(unsafe.Pointer(&b[0])))
		if e == 0 {
			return escaped("init_module succeeded")
		}
		return kernelGated("init_module", e)
	},
	"finit-module": func(args []string) int {
		var b [1]byte
		_, _, e := unix.Syscall(unix.SYS_FINIT_MODULE, ^uintptr(0), uintptr(unsafe.Pointer(&b[0])), 0)
		return kernelGated("finit_module", errnoErr(e))
	},
	// reboot: bad magic numbers, so that even a caller with CAP_SYS_BOOT
	// gets EINVAL and nothing happens. The capability check comes first:
	// EINVAL means the caller passed it (it could reboot its PID
	// namespace, or the host).
	"reboot": func(args []string) int {
		_, _, e := unix.Syscall6(unix.SYS_REBOOT, 0xdead, 0xbeef, unix.LINUX_REBOOT_CMD_CAD_OFF, 0, 0, 0)
		if e == 0 || e == unix.EINVAL {
			return escaped("reboot passed the CAP_SYS_BOOT check: %s", errName(errnoErr(e)))
		}
		return blocked("reboot: %s", errName(e))
	},
	// clock-settime / settimeofday: set the real-time clock to what it is.
	"clock-settime": func(args []string) int {
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
		return kernelGated("clock_settime", unix.ClockSettime(unix.CLOCK_REALTIME, &ts))
	},
	"settimeofday": func(args []string) int {
		var tv unix.Timeval
		_ = unix.Gettimeofday(&tv)
		return kernelGated("settimeofday", unix.Settimeofday(&tv))
	},
	// sethostname: change the host name (of any UTS namespace: the
	// command has no capability to). The test checks the host's after.
	"sethostname": func(args []string) int {
		if err := unix.Sethostname([]byte("jail-adv-pwned")); err != nil {
			return blocked("sethostname: %s", errName(err))
		}
		return escaped("sethostname succeeded")
	},

	// connect NETWORK ADDR: reach a listener of the host's network
	// namespace (TCP on 127.0.0.1, or an abstract unix socket "@name").
	"connect": func(args []string) int {
		c, err := net.DialTimeout(args[0], args[1], 2*time.Second)
		if err != nil {
			return blocked("connect %s %s: %s", args[0], args[1], errName(err))
		}
		c.Close()
		return escaped("connected to %s %s", args[0], args[1])
	},

	// fd DEV INO: look for an inherited descriptor on the host's file.
	"fd": func(args []string) int {
		dev, _ := strconv.ParseUint(args[0], 10, 64)
		ino, _ := strconv.ParseUint(args[1], 10, 64)
		var st unix.Stat_t
		err3 := unix.Fstat(3, &st)
		for fd := 0; fd < 1024; fd++ {
			if unix.Fstat(fd, &st) == nil && st.Dev == dev && st.Ino == ino {
				return escaped("fd %d is the host's file", fd)
			}
		}
		return blocked("fstat(3): %s, no fd on the host's file", errName(err3))
	},

	// exe PID: get at the binary of process PID (jail's own, PID 1
	// inside) through /proc/PID/exe. Success: any descriptor on it.
	"exe": func(args []string) int {
		p := "/proc/" + args[0] + "/exe"
		fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return blocked("open %s: %s", p, errName(err))
		}
		unix.Close(fd)
		_, werr := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		return escaped("opened %s (for writing: %s)", p, errName(werr))
	},
	// exe-write PATH: open a running binary for writing. ETXTBSY with
	// write access granted (access(W_OK)) counts as success: only the
	// running process holds it off, and the binary can be replaced once
	// that process ends.
	"exe-write": func(args []string) int {
		fd, err := unix.Open(args[0], unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
			return escaped("opened %s for writing", args[0])
		}
		if errors.Is(err, unix.ETXTBSY) {
			// The kernel checks ETXTBSY before a read-only mount: ask
			// for write access again without opening.
			if aerr := unix.Faccessat(unix.AT_FDCWD, args[0], unix.W_OK, unix.AT_EACCESS); aerr != nil {
				return blocked("open %s for writing: ETXTBSY; access(W_OK): %s", args[0], errName(aerr))
			}
			return escaped("%s is writable (held off only by ETXTBSY while it runs)", args[0])
		}
		return blocked("open %s for writing: %s", args[0], errName(err))
	},

	// daemon DIR: leave a double-forked daemon behind that appends to
	// DIR/tick every 50ms for 30s (or until DIR/stop exists). The test
	// decides: the file must stop growing once jail has exited.
	"daemon": func(args []string) int {
		c := exec.Command(selfExe(), "__role", "daemon-child", args[0])
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := c.Run(); err != nil {
			return blocked("daemon: %v", err)
		}
		tick := filepath.Join(args[0], "tick")
		for range 100 {
			if fi, err := os.Stat(tick); err == nil && fi.Size() > 0 {
				fmt.Println("daemon started")
				return 0
			}
			time.Sleep(10 * time.Millisecond)
		}
		return blocked("daemon did not start")
	},
	"daemon-child": func(args []string) int {
		c := exec.Command(selfExe(), "__role", "daemon-grandchild", args[0])
		if err := c.Start(); err != nil {
			return 1
		}
		return 0 // the grandchild is orphaned
	},
	"daemon-grandchild": func(args []string) int {
		_ = os.WriteFile(filepath.Join(args[0], "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		f, err := os.OpenFile(filepath.Join(args[0], "tick"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return 1
		}
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
			if _, err := os.Stat(filepath.Join(args[0], "stop")); err == nil {
				return 0
			}
			_, _ = f.Write([]byte("."))
			time.Sleep(50 * time.Millisecond)
		}
		return 0
	},
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// ptraceAttach attaches to pid from a locked thread, then detaches.
func ptraceAttach(pid int) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceAttach(pid); err != nil {
		return blocked("PTRACE_ATTACH %d: %s", pid, errName(err))
	}
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, unix.WALL, nil)
	_ = unix.PtraceDetach(pid)
	return escaped("PTRACE_ATTACH to pid %d", pid)
}

// ---- the test side ----

// attack is one attack: its role, its arguments inside and outside, and
// where outside it must succeed.
type attack struct {
	name    string
	role    string
	inside  []string
	outside []string // nil: no outside run
	where   string   // "host" or "userns"
	outRole string   // the role outside, when it differs
	// wantOut, when set, must also appear in the outside output (the
	// errno showing that the call reached the kernel's own check).
	wantOut string
}

// runInside runs a role in jail with the given profile and returns its
// stdout, which must be a verdict.
func runInside(t *testing.T, profile, role string, args ...string) string {
	t.Helper()
	r := jail(t, append([]string{"-q", "--profile", profile, "--", "/jailtest", "__role", role}, args...)...)
	if r.code != 0 {
		t.Fatalf("jail ... %s %q: exit %d\nstdout: %s\nstderr: %s", role, args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// runOutside runs a role on the host ("host") or in a plain user namespace
// with new mount, UTS, IPC and PID namespaces ("userns").
func runOutside(t *testing.T, where string, extra []*os.File, role string, args ...string) string {
	t.Helper()
	cmd := exec.Command(helperBin, append([]string{"__role", role}, args...)...)
	cmd.ExtraFiles = extra
	if where == "userns" {
		cmd.SysProcAttr = inNewUserNS(syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWPID)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if where == "userns" && out.Len() == 0 {
			t.Skipf("cannot create a user namespace for the outside proof: %v %s", err, errb.String())
		}
		t.Fatalf("outside %s: %v\nstdout: %s\nstderr: %s", role, err, out.String(), errb.String())
	}
	return out.String()
}

func checkBlocked(t *testing.T, out string) {
	t.Helper()
	if strings.Contains(out, "ESCAPED") || !strings.Contains(out, "BLOCKED") {
		t.Errorf("inside jail: %s", strings.TrimSpace(out))
	} else {
		t.Logf("inside: %s", strings.TrimSpace(out))
	}
}

func checkEscaped(t *testing.T, out, want string) {
	t.Helper()
	if strings.Contains(out, "ENOSYS (the kernel lacks it)") {
		t.Logf("outside proof skipped: %s", strings.TrimSpace(out))
		return
	}
	if !strings.Contains(out, "ESCAPED") || !strings.Contains(out, want) {
		t.Errorf("outside, where the attack must work, it did not (want ESCAPED %s): %s", want, strings.TrimSpace(out))
	} else {
		t.Logf("outside: %s", strings.TrimSpace(out))
	}
}

// runAttacks runs each attack outside (the proof that it detects success)
// and inside jail.
func runAttacks(t *testing.T, profile string, attacks []attack) {
	t.Helper()
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			if a.outside != nil {
				role := a.role
				if a.outRole != "" {
					role = a.outRole
				}
				checkEscaped(t, runOutside(t, a.where, nil, role, a.outside...), a.wantOut)
			}
			checkBlocked(t, runInside(t, profile, a.role, a.inside...))
		})
	}
}

// hostSleeper starts a process of the test user on the host, running a
// copy of the helper binary: a target for ptrace and /proc/PID/exe.
func hostSleeper(t *testing.T) int {
	t.Helper()
	c := exec.Command(helperBin, "__role", "sleep")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Process.Kill() // by pid: the process this test started
		_ = c.Wait()
	})
	return c.Process.Pid
}

// The attack tables are shared with adversarial_batch_test.go, which runs
// the same attacks in batch runs: a table that needs targets is a function
// that makes them (stopped when the test ends).

func TestAttackFilesystem(t *testing.T) {
	requireSandbox(t)
	runAttacks(t, helperProfile(t, ""), filesystemAttacks(t))
}

func filesystemAttacks(t *testing.T) []attack {
	tmp := t.TempDir()
	secret := filepath.Join(tmp, "secret")
	if err := os.WriteFile(secret, []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sleeper := strconv.Itoa(hostSleeper(t))
	return []attack{
		{name: "write-rootfs", role: "openw",
			inside:  []string{"/x", "/usr/x", "/etc/x", "/etc/passwd", "/usr/bin/true", "/jailtest"},
			outside: []string{filepath.Join(tmp, "x")}, where: "host"},
		{name: "read-host-file", role: "read",
			inside: []string{secret}, outside: []string{secret}, where: "host"},
		{name: "write-proc-sys", role: "openw",
			inside: []string{"/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern",
				"/proc/sysrq-trigger", "/proc/sys/vm/drop_caches", "/sys/kernel/uevent_helper",
				"/sys/fs/cgroup/cgroup.procs"},
			outside: []string{filepath.Join(tmp, "sysctl")}, where: "host"},
		{name: "init-exe", role: "exe",
			inside: []string{"1"}, outside: []string{sleeper}, where: "host"},
		{name: "self-exe-write", role: "exe-write",
			inside: []string{"/proc/self/exe"}, outside: []string{"/proc/self/exe"}, where: "host"},
		{name: "init-exe-write", role: "exe-write",
			inside: []string{"/proc/1/exe"}, outside: []string{"/proc/" + sleeper + "/exe"}, where: "host"},
		{name: "name_to_handle_at", role: "name-to-handle",
			inside: []string{"/usr"}, outside: []string{tmp}, where: "host"},
		{name: "open_by_handle_at", role: "open-by-handle",
			inside: []string{"/usr", "/usr/bin"}, outside: []string{tmp, tmp}, where: "userns", wantOut: "EPERM"},
	}
}

func TestAttackProcesses(t *testing.T) {
	requireSandbox(t)
	runAttacks(t, helperProfile(t, ""), processAttacks(t))
}

func processAttacks(t *testing.T) []attack {
	me := strconv.Itoa(os.Getpid())
	sleeper := strconv.Itoa(hostSleeper(t))
	return []attack{
		{name: "host-pid", role: "hostproc", inside: []string{me}, outside: []string{me}, where: "host"},
		// Outside the target is a host process of the same user (this
		// kernel has no Yama, or a scope that allows it is assumed);
		// inside it is jail's init.
		{name: "ptrace-init", role: "ptrace-attach", inside: []string{"1"}, outside: []string{sleeper}, where: "host"},
		{name: "ptrace-child", role: "ptrace-child", outside: []string{}, where: "host"},
		{name: "ptrace-traceme", role: "ptrace-traceme", outside: []string{}, where: "host"},
	}
}

func TestAttackMounts(t *testing.T) {
	requireSandbox(t)
	runAttacks(t, helperProfile(t, ""), mountAttacks(t))
}

func mountAttacks(t *testing.T) []attack {
	src, dst := t.TempDir(), t.TempDir()
	return []attack{
		{name: "mount-tmpfs", role: "mount-tmpfs", inside: []string{"/tmp"}, outside: []string{dst}, where: "userns"},
		{name: "remount-usr-rw", role: "remount-rw", inside: []string{"/usr"}, outside: []string{src, "--prepare"}, where: "userns"},
		{name: "remount-root-rw", role: "remount-rw", inside: []string{"/"}, outside: []string{src, "--prepare"}, where: "userns"},
		{name: "open_tree", role: "open-tree", inside: []string{"/usr", "/tmp"}, outside: []string{src, dst}, where: "userns"},
		{name: "nested-userns", role: "userns", outside: []string{}, where: "host"},
		// Outside, the remount runs in the namespace that made the
		// read-only bind (see remount-usr-rw): the proof that the role
		// detects a writable remount. Inside it runs in a nested user
		// namespace, with every capability there.
		{name: "nested-userns-remount-usr", role: "userns-remount", inside: []string{"/usr"}, outRole: "remount-rw", outside: []string{src, "--prepare"}, where: "userns"},
		{name: "nested-userns-remount-root", role: "userns-remount", inside: []string{"/"}, outRole: "remount-rw", outside: []string{src, "--prepare"}, where: "userns"},
	}
}

func TestAttackKernel(t *testing.T) {
	requireSandbox(t)
	if seccompMode() != "0" {
		t.Logf("this test runs under a seccomp filter (mode %s): outside proofs of kernel-refused calls may fail", seccompMode())
	}
	profile := helperProfile(t, "")
	before, _ := os.Hostname()
	runAttacks(t, profile, kernelAttacks)
	if after, _ := os.Hostname(); after != before {
		t.Errorf("host name changed from %q to %q", before, after)
	}
}

var kernelAttacks = []attack{
	{name: "keyctl", role: "keyctl", outside: []string{}, where: "host"},
	{name: "bpf", role: "bpf", outside: []string{}, where: "host"},
	{name: "perf_event_open", role: "perf", outside: []string{}, where: "host"},
	{name: "userfaultfd", role: "userfaultfd", outside: []string{}, where: "host"},
	{name: "kexec_load", role: "kexec", outside: []string{}, where: "userns", wantOut: "EPERM"},
	{name: "init_module", role: "init-module", outside: []string{}, where: "userns", wantOut: "EPERM"},
	{name: "finit_module", role: "finit-module", outside: []string{}, where: "userns", wantOut: "EPERM"},
	{name: "clock_settime", role: "clock-settime", outside: []string{}, where: "userns", wantOut: "EPERM"},
	{name: "settimeofday", role: "settimeofday", outside: []string{}, where: "userns", wantOut: "EPERM"},
	// The outside run is in a new PID namespace of its own user
	// namespace: there it holds CAP_SYS_BOOT.
	{name: "reboot", role: "reboot", outside: []string{}, where: "userns", wantOut: "EINVAL"},
	{name: "sethostname", role: "sethostname", outside: []string{}, where: "userns"},
}

func TestAttackNetwork(t *testing.T) {
	requireSandbox(t)
	runAttacks(t, helperProfile(t, ""), networkAttacks(t))
}

func networkAttacks(t *testing.T) []attack {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	abstract := fmt.Sprintf("@jail-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	ul, err := net.Listen("unix", abstract)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ul.Close() })
	return []attack{
		{name: "tcp-127.0.0.1", role: "connect", inside: []string{"tcp", tcp.Addr().String()}, outside: []string{"tcp", tcp.Addr().String()}, where: "host"},
		{name: "abstract-unix", role: "connect", inside: []string{"unix", abstract}, outside: []string{"unix", abstract}, where: "host"},
	}
}

func TestAttackLeakedFD(t *testing.T) {
	requireSandbox(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "leaked"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	args := []string{strconv.FormatUint(st.Dev, 10), strconv.FormatUint(st.Ino, 10)}
	checkEscaped(t, runOutside(t, "host", []*os.File{f}, "fd", args...), "")
	cmd := exec.Command(jailBin, append([]string{"-q", "--profile", helperProfile(t, ""), "--", "/jailtest", "__role", "fd"}, args...)...)
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jail: %v: %s", err, out)
	}
	checkBlocked(t, string(out))
	if !strings.Contains(string(out), "fstat(3): EBADF") {
		t.Errorf("inside, fd 3 is open: %s", out)
	}
}

// TestAttackTIOCSTI: the caller's terminal on jail's stdin and stderr (as
// in "jail cmd | less"). In "ctty" it is the controlling terminal of jail's
// session, as a user's terminal is; in "no-ctty" it is nobody's, so that
// the command could adopt it. Besides the role's own verdict, the test
// looks at the terminal's input queue after the run: a character left
// there would be read by the caller's shell. Outside, the role runs in a
// session of its own with that terminal, where TIOCSTI works while
// dev.tty.legacy_tiocsti is 1.
func TestAttackTIOCSTI(t *testing.T) {
	requireSandbox(t)
	profile := helperProfile(t, "")
	legacy, _ := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti")
	for _, ctty := range []bool{true, false} {
		name := map[bool]string{true: "ctty", false: "no-ctty"}[ctty]
		t.Run(name, func(t *testing.T) {
			master, slave := openPty(t) // the slave is nobody's controlling terminal yet
			defer master.Close()
			defer slave.Close()
			go func() { // drain what is written to the terminal
				b := make([]byte, 512)
				for {
					if _, err := master.Read(b); err != nil {
						return
					}
				}
			}()
			sfd := int(slave.Fd())
			// Raw: the input queue counts every byte, not whole lines.
			tio, err := unix.IoctlGetTermios(sfd, unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			tio.Lflag &^= unix.ICANON | unix.ECHO | unix.ISIG
			if err := unix.IoctlSetTermios(sfd, unix.TCSETS, tio); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Fstat(sfd, &st); err != nil {
				t.Fatal(err)
			}
			id := []string{strconv.FormatUint(st.Dev, 10), strconv.FormatUint(st.Ino, 10)}
			run := func(path string, args ...string) string {
				c := exec.Command(path, append(args, id...)...)
				c.Stdin, c.Stderr = slave, slave
				var out bytes.Buffer
				c.Stdout = &out
				c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: ctty, Ctty: 0}
				if err := c.Run(); err != nil {
					t.Logf("%s: %v", filepath.Base(path), err)
				}
				return out.String()
			}
			queued := func() int {
				n, err := unix.IoctlGetInt(sfd, unix.TIOCINQ)
				if err != nil {
					t.Fatal(err)
				}
				_ = unix.IoctlSetInt(sfd, unix.TCFLSH, unix.TCIFLUSH)
				return n
			}
			if strings.TrimSpace(string(legacy)) == "0" {
				t.Logf("outside proof skipped: dev.tty.legacy_tiocsti = 0, TIOCSTI fails everywhere")
			} else {
				checkEscaped(t, run(helperBin, "__role", "tiocsti"), "")
				if n := queued(); n == 0 {
					t.Errorf("outside: nothing in the terminal's input queue after TIOCSTI: the check cannot see it")
				}
			}
			checkBlocked(t, run(jailBin, "-q", "--profile", profile, "--", "/jailtest", "__role", "tiocsti"))
			if n := queued(); n != 0 {
				t.Errorf("ESCAPED: %d bytes typed into the caller's terminal from inside", n)
			}
		})
	}
}

// TestAttackDaemon: a double-forked, setsid'd daemon must not outlive the
// run. Outside, the same role leaves one behind on the host (the proof
// that the check sees it), which the test then stops by its pid.
func TestAttackDaemon(t *testing.T) {
	requireSandbox(t)
	growing := func(dir string) bool {
		size := func() int64 {
			fi, err := os.Stat(filepath.Join(dir, "tick"))
			if err != nil {
				return -1
			}
			return fi.Size()
		}
		time.Sleep(300 * time.Millisecond)
		a := size()
		time.Sleep(300 * time.Millisecond)
		return size() > a
	}
	stop := func(dir string) { _ = os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644) }

	outside := t.TempDir()
	t.Cleanup(func() { stop(outside) })
	out := runOutside(t, "host", nil, "daemon", outside)
	if !strings.Contains(out, "daemon started") {
		t.Fatalf("outside: %s", out)
	}
	if !growing(outside) {
		t.Errorf("outside the sandbox the daemon did not survive: the check cannot see one")
	}
	stop(outside)
	if b, err := os.ReadFile(filepath.Join(outside, "pid")); err == nil {
		if pid, err := strconv.Atoi(string(b)); err == nil && pid > 1 {
			_ = unix.Kill(pid, unix.SIGKILL) // the daemon this test started, by its pid
		}
	}

	inside := t.TempDir()
	t.Cleanup(func() { stop(inside) })
	profile := helperProfile(t, fmt.Sprintf("[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/out\"\nrw = true\n", inside))
	if out := runInside(t, profile, "daemon", "/out"); !strings.Contains(out, "daemon started") {
		t.Fatalf("inside: %s", out)
	}
	if growing(inside) {
		t.Errorf("ESCAPED: a daemon started in the sandbox still runs after jail exited")
	}
}

// TestFaultSignalsToInit: a SIGSEGV that looks like a fault (queued with
// sigqueue or a pidfd, or sent by the kernel for I/O after F_SETSIG), which
// the init's Go runtime would take for its own and die of, cannot reach
// PID 1 under either seccomp base, and the run ends with the command's
// own verdict.
func TestFaultSignalsToInit(t *testing.T) {
	requireSandbox(t)
	for _, tc := range faultSignalCases {
		profile := seccompBaseProfile(t, tc.base)
		r := jail(t, "--profile", profile, "--", "/jailtest", "__role", tc.role)
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("%s %s: exit %d, stdout %q, want %q (stderr %s)", tc.base, tc.role, r.code, r.stdout, tc.want, r.stderr)
		}
	}
}

var faultSignalCases = []struct{ base, role, want string }{
	{"default", "sigqueue-init", "sigqueue EPERM pidfd EPERM\nalive\n"},
	{"judge", "sigqueue-init", "sigqueue EPERM pidfd ENOSYS\nalive\n"}, // pidfd_open is not on the judge's list
	{"default", "fsetsig-init", "setown ok setsig EPERM\nalive\n"},
	{"judge", "fsetsig-init", "setown ENOSYS setsig EPERM\nalive\n"},
}

// seccompBaseProfile is helperProfile with the given seccomp base.
func seccompBaseProfile(t *testing.T, base string) string {
	t.Helper()
	profile := helperProfile(t, "")
	if base == "judge" {
		b, err := os.ReadFile(profile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(profile, bytes.Replace(b, []byte(`base = "default"`), []byte(`base = "judge"`), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return profile
}
