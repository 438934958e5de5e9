package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/profile"
)

// Layout of the staging area while the new root is built. The host's /tmp
// is only a mountpoint here: a fresh tmpfs covers it in our private mount
// namespace, the host root moves to stagingOld, and the new root is built
// at stagingNew with sources read from under stagingOld (bubblewrap's
// scheme, which keeps host paths reachable even when a bind source lives
// under the host's /tmp).
const (
	staging    = "/tmp"
	stagingOld = "/oldroot"
	stagingNew = "/newroot"
)

// Setup builds the sandbox's root from spec and makes it the process's root.
// It must run in a new mount namespace owned by the caller's user namespace,
// with CAP_SYS_ADMIN there, and with /proc of the sandbox's PID namespace
// mountable (the caller owns that PID namespace).
//
// The order is what the kernel requires:
//  1. make every mount private, so nothing propagates back to the host;
//  2. pivot onto a staging tmpfs, keeping the host root at /oldroot;
//  3. build /newroot: a tmpfs root, the profile's operations, /proc, /dev
//     (proc must be mounted while the host's proc is still visible, or the
//     kernel's mnt_already_visible check refuses it);
//  4. detach the host root, pivot into /newroot, detach the staging tmpfs;
//  5. remount / and /dev read-only, then check the mount table.
func Setup(spec Spec) error {
	if err := mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := mount("tmpfs", staging, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64k"); err != nil {
		return err
	}
	for _, d := range []string{staging + stagingOld, staging + stagingNew} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if err := pivot(staging, staging+stagingOld); err != nil {
		return err
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := mount("tmpfs", stagingNew, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("mode=0755,size=%d", rootSize(spec))); err != nil {
		return err
	}
	root, err := unix.Open(stagingNew, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: stagingNew, Err: err}
	}
	defer unix.Close(root)
	for _, op := range spec.Ops {
		if err := apply(root, op); err != nil {
			return fmt.Errorf("%s (%s %s): %w", op.Where, op.Kind, op.Target, err)
		}
	}
	if err := mkdirIn(stagingNew, "/proc", 0o555); err != nil {
		return err
	}
	if err := mount("proc", stagingNew+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	// Read-only: nothing in /proc is opened for writing (EROFS), so that a
	// process cannot reset its own accounting (clear_refs, which resets
	// the peak resident set a run without a cgroup is judged by) or change
	// what the sandbox's init and the kernel keep about it (/proc/1/*,
	// oom_score_adj, coredump_filter). The mount, not the superblock (as
	// mount(2) with MS_RDONLY would make it): a read-only proc superblock
	// would make the kernel refuse every later proc mount that is not
	// read-only in this user namespace (mnt_already_visible).
	if err := setattr(stagingNew+"/proc", unix.MOUNT_ATTR_RDONLY, 0); err != nil {
		return err
	}
	if err := setupDev(root, spec); err != nil {
		return err
	}
	if err := maskProc(root); err != nil {
		return err
	}
	if err := unmount(stagingOld); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one at
	// "/", and the detach below removes it: no directory for it is needed.
	if err := os.Chdir(stagingNew); err != nil {
		return err
	}
	if err := pivot(".", "."); err != nil {
		return err
	}
	if err := unmount("."); err != nil {
		return err
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	for _, p := range []string{"/dev", "/"} {
		if err := setattr(p, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID, 0); err != nil {
			return err
		}
	}
	return Verify(spec)
}

// rootSize sizes the root tmpfs: room for the profile's files plus slack
// for the directories and symlinks; it is read-only once built.
func rootSize(spec Spec) uint64 {
	size := uint64(1 << 20)
	for _, op := range spec.Ops {
		size += uint64(len(op.Content)) + 4096
	}
	return size
}

// apply executes one operation. Targets are created below the new root
// without following symlinks (mkdirIn), then opened with openat2 and
// RESOLVE_NO_SYMLINKS and acted on through that descriptor, so a symlink
// swapped in between (inside a writable bind, say) cannot redirect a
// mount or a file out of the new root.
func apply(root int, op Op) error {
	switch op.Kind {
	case OpBind:
		// open_tree cannot clone a mount of another mount namespace
		// (the kernel's may_copy_tree), so stage 0 cannot hand over a
		// descriptor: the source is opened again here, checked against
		// the identity stage 0 found, and that descriptor is cloned.
		src, err := openSource(stagingOld, op)
		if err != nil {
			return err
		}
		defer unix.Close(src)
		if err := mountpoint(root, op.Target, op.IsDir); err != nil {
			return err
		}
		attr := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
		if !op.RW {
			attr |= unix.MOUNT_ATTR_RDONLY
		}
		return bindFd(root, src, op.Source, op.Target, op.IsDir, attr)
	case OpTmpfs:
		if err := mkdirIn(stagingNew, op.Target, 0o755); err != nil {
			return err
		}
		return tmpfsAt(root, op.Target, op.Size, op.Mode)
	case OpDir:
		if err := mkdirIn(stagingNew, op.Target, op.Mode); err != nil {
			return err
		}
		fd, err := openBeneath(root, op.Target, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		// mkdir's mode is filtered by the umask: set it exactly.
		return pathErr("fchmod", op.Target, unix.Fchmod(fd, op.Mode))
	case OpSymlink:
		dir, name, err := parentBeneath(root, op.Target)
		if err != nil {
			return err
		}
		defer unix.Close(dir)
		return pathErr("symlink", op.Target, unix.Symlinkat(op.Source, dir, name))
	case OpFile:
		dir, name, err := parentBeneath(root, op.Target)
		if err != nil {
			return err
		}
		defer unix.Close(dir)
		fd, err := unix.Openat(dir, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, op.Mode)
		if err != nil {
			return pathErr("create", op.Target, err)
		}
		f := os.NewFile(uintptr(fd), op.Target)
		defer f.Close()
		if _, err := f.WriteString(op.Content); err != nil {
			return err
		}
		return pathErr("fchmod", op.Target, unix.Fchmod(fd, op.Mode))
	}
	return fmt.Errorf("unknown operation %q", op.Kind)
}

// mountpoint creates what a bind needs to land on: a directory, or an
// empty file when the source is not a directory. The file is made with
// mknodat, which opens nothing: inside a writable bind the target may be
// anything a run left there, and opening a FIFO would block the set-up
// for good. What is there already must be a regular file (a mount on
// anything else is refused: a FIFO, a socket or a device node was not put
// there by jail).
func mountpoint(root int, target string, dir bool) error {
	if dir {
		return mkdirIn(stagingNew, target, 0o755)
	}
	parent, name, err := parentBeneath(root, target)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	if err := unix.Mknodat(parent, name, unix.S_IFREG|0o644, 0); err != nil && err != unix.EEXIST {
		return pathErr("mknod", target, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return pathErr("stat", target, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return &os.PathError{Op: "mount point", Path: target, Err: fmt.Errorf(
			"is a %s, not a regular file; refusing to mount a file on it (remove it from the host directory)", fileKind(st.Mode))}
	}
	return nil
}

// fileKind names a file type for messages.
func fileKind(mode uint32) string { return profile.KindName(mode) }

// openBeneath opens path (absolute, inside the sandbox) below the new root
// without following any symlink and without leaving the root.
func openBeneath(root int, path string, flags int) (int, error) {
	rel := strings.TrimPrefix(path, "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if err == unix.ELOOP {
			return -1, &os.PathError{Op: "open", Path: path, Err: errors.New("path contains a symlink; refusing to follow it")}
		}
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// parentBeneath opens the directory holding path, for the *at calls.
func parentBeneath(root int, path string) (int, string, error) {
	if err := mkdirIn(stagingNew, filepath.Dir(path), 0o755); err != nil {
		return -1, "", err
	}
	fd, err := openBeneath(root, filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY)
	return fd, filepath.Base(path), err
}

// tmpfsAt creates a tmpfs with the new mount API and attaches it at target,
// through a descriptor: no path is resolved at mount time.
func tmpfsAt(root int, target string, size uint64, mode uint32) error {
	return tmpfsAtAttr(root, target, size, mode, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
}

func tmpfsAtAttr(root int, target string, size uint64, mode uint32, attr int) error {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return &MountError{Op: "fsopen", Source: "tmpfs", Target: target, Err: err}
	}
	defer unix.Close(fsfd)
	for _, kv := range [][2]string{{"size", strconv.FormatUint(size, 10)}, {"mode", strconv.FormatUint(uint64(mode), 8)}} {
		if err := unix.FsconfigSetString(fsfd, kv[0], kv[1]); err != nil {
			return &MountError{Op: "fsconfig", Source: "tmpfs", Target: target, Data: kv[0] + "=" + kv[1], Err: err}
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return &MountError{Op: "fsconfig", Source: "tmpfs", Target: target, Err: err}
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return &MountError{Op: "fsmount", Source: "tmpfs", Target: target, Err: err}
	}
	defer unix.Close(mfd)
	return attach(root, mfd, "tmpfs", target, true)
}

// attach moves the detached mount mfd onto target below root.
func attach(root, mfd int, source, target string, dir bool) error {
	flags := unix.O_PATH
	if dir {
		flags |= unix.O_DIRECTORY
	}
	tfd, err := openBeneath(root, target, flags)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := unix.MoveMount(mfd, "", tfd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return &MountError{Op: "move_mount", Source: source, Target: target, Err: err}
	}
	return nil
}

func pathErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}

// mkdirIn creates path (absolute, inside the sandbox) below root, one
// component at a time, and refuses to walk through a symlink: a writable
// bind could hold a link that points a later mount out of the new root.
func mkdirIn(root, path string, mode uint32) error {
	cur := root
	for _, part := range strings.Split(strings.TrimPrefix(filepath.Clean(path), "/"), "/") {
		if part == "" {
			continue
		}
		cur += "/" + part
		fi, err := os.Lstat(cur)
		if err == nil {
			if fi.Mode()&fs.ModeSymlink != 0 {
				return &os.PathError{Op: "mkdir", Path: strings.TrimPrefix(cur, root), Err: errors.New("path component is a symlink; refusing to follow it")}
			}
			if !fi.IsDir() {
				return &os.PathError{Op: "mkdir", Path: strings.TrimPrefix(cur, root), Err: unix.ENOTDIR}
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.Mkdir(cur, fs.FileMode(mode)); err != nil {
			return &os.PathError{Op: "mkdir", Path: strings.TrimPrefix(cur, root), Err: unwrapErrno(err)}
		}
	}
	return nil
}

func unwrapErrno(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// setupDev builds a minimal /dev: a tmpfs holding bind mounts of the host's
// harmless device nodes (device nodes cannot be created in a user
// namespace), a private devpts instance, /dev/shm and the usual links.
func setupDev(root int, spec Spec) error {
	dev := stagingNew + "/dev"
	if err := mkdirIn(stagingNew, "/dev", 0o755); err != nil {
		return err
	}
	if err := mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return err
	}
	for _, name := range Devices {
		if err := mountpoint(root, "/dev/"+name, false); err != nil {
			return err
		}
		// No MOUNT_ATTR_NODEV here, or the nodes could not be opened.
		if err := bindAt(root, stagingOld+"/dev/"+name, "/dev/"+name, false, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(dev+"/"+d, 0o755); err != nil {
			return err
		}
	}
	if err := mount("devpts", dev+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC,
		fmt.Sprintf("newinstance,ptmxmode=0666,mode=0620,max=%d", DevPtsMax)); err != nil {
		return err
	}
	if err := mount("tmpfs", dev+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
		fmt.Sprintf("mode=1777,size=%d", spec.DevShmSize)); err != nil {
		return err
	}
	links := [][2]string{
		{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	}
	for _, l := range links {
		if err := os.Symlink(l[0], dev+"/"+l[1]); err != nil {
			return err
		}
	}
	return nil
}

// bindAt clones the tree at src, a path followed as it is (the host's
// device nodes, the new proc's own files), as bindFd does.
func bindAt(root int, src, target string, dir bool, attr uint64) error {
	name := strings.TrimPrefix(src, stagingOld)
	fd, err := unix.Open(src, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	return bindFd(root, fd, name, target, dir, attr)
}

// bindFd clones the tree at the O_PATH descriptor src (recursively, with
// its submounts), sets attr on every mount of the clone, and attaches it
// at target below root; name is src's path, for messages.
// Setting attributes on the detached clone before it is attached means the
// tree is never visible writable, and mount_setattr only adds flags, so the
// flags the kernel locked on mounts inherited from the host (nosuid, noexec,
// atime) are kept without the read-back-and-add-again arithmetic that
// MS_REMOUNT needs.
func bindFd(root, src int, name, target string, dir bool, attr uint64) error {
	fd, err := unix.OpenTree(src, "", unix.AT_EMPTY_PATH|unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return &MountError{Op: "open_tree", Target: name, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: attr}); err != nil {
		return &MountError{Op: "mount_setattr", Target: target, Flags: uintptr(attr), Err: err}
	}
	return attach(root, fd, name, target, dir)
}

// setattr sets attributes on the mount at path (not its submounts).
func setattr(path string, set, clr uint64) error {
	if err := unix.MountSetattr(unix.AT_FDCWD, path, 0, &unix.MountAttr{Attr_set: set, Attr_clr: clr}); err != nil {
		return &MountError{Op: "mount_setattr", Target: path, Flags: uintptr(set), Err: err}
	}
	return nil
}

func mount(source, target, fstype string, flags uintptr, data string) error {
	for {
		err := unix.Mount(source, target, fstype, flags, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &MountError{Op: "mount", Source: source, Target: strings.TrimPrefix(target, stagingNew), Flags: flags, Data: data, Err: err}
		}
		return nil
	}
}

func unmount(target string) error {
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		return &MountError{Op: "umount2", Target: target, Err: err}
	}
	return nil
}

func pivot(newroot, putold string) error {
	if err := unix.PivotRoot(newroot, putold); err != nil {
		return &MountError{Op: "pivot_root", Source: newroot, Target: putold, Err: err}
	}
	return nil
}

// Parts of /proc the command has no business with. The sandbox's proc is
// its own PID namespace's, but some files still describe the host (kernel
// memory, keys, timers, hardware) or control it; jail hides or freezes them
// as the container runtimes do.
var (
	// ProcReadOnly are made read-only (bind-mounted onto themselves).
	ProcReadOnly = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
	// ProcMaskedFiles get /dev/null mounted over them.
	ProcMaskedFiles = []string{"/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/latency_stats",
		"/proc/sched_debug", "/proc/timer_list", "/proc/timer_stats"}
	// ProcMaskedDirs get an empty read-only tmpfs over them.
	ProcMaskedDirs = []string{"/proc/acpi", "/proc/scsi"}
)

// maskProc applies ProcReadOnly, ProcMaskedFiles and ProcMaskedDirs to the
// paths that exist on this kernel.
func maskProc(root int) error {
	const ro = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	for _, p := range ProcReadOnly {
		fi, err := os.Lstat(stagingNew + p)
		if err != nil {
			continue
		}
		if err := bindAt(root, stagingNew+p, p, fi.IsDir(), ro); err != nil {
			return err
		}
	}
	for _, p := range ProcMaskedFiles {
		if _, err := os.Lstat(stagingNew + p); err != nil {
			continue
		}
		if err := bindAt(root, stagingNew+"/dev/null", p, false, ro); err != nil {
			return err
		}
	}
	for _, p := range ProcMaskedDirs {
		if _, err := os.Lstat(stagingNew + p); err != nil {
			continue
		}
		if err := tmpfsAtAttr(root, p, 4096, 0o555, ro); err != nil {
			return err
		}
	}
	return nil
}
