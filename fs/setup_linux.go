package fs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
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
	for _, op := range spec.Ops {
		if err := apply(op); err != nil {
			return fmt.Errorf("%s (%s %s): %w", op.Where, op.Kind, op.Target, err)
		}
	}
	if err := mkdirIn(stagingNew, "/proc", 0o555); err != nil {
		return err
	}
	if err := mount("proc", stagingNew+"/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	if err := setupDev(spec); err != nil {
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

func apply(op Op) error {
	dst := stagingNew + op.Target
	switch op.Kind {
	case OpBind:
		if err := mountpoint(op.Target, op.IsDir); err != nil {
			return err
		}
		attr := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
		if !op.RW {
			attr |= unix.MOUNT_ATTR_RDONLY
		}
		return bind(stagingOld+op.Source, dst, attr)
	case OpTmpfs:
		if err := mkdirIn(stagingNew, op.Target, 0o755); err != nil {
			return err
		}
		return mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
			fmt.Sprintf("mode=%o,size=%d", op.Mode, op.Size))
	case OpDir:
		if err := mkdirIn(stagingNew, op.Target, op.Mode); err != nil {
			return err
		}
		return os.Chmod(dst, fs.FileMode(op.Mode)) // mkdir's mode is filtered by the umask
	case OpSymlink:
		if err := mkdirIn(stagingNew, filepath.Dir(op.Target), 0o755); err != nil {
			return err
		}
		return os.Symlink(op.Source, dst)
	case OpFile:
		if err := mkdirIn(stagingNew, filepath.Dir(op.Target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(op.Content), fs.FileMode(op.Mode)); err != nil {
			return err
		}
		return os.Chmod(dst, fs.FileMode(op.Mode))
	}
	return fmt.Errorf("unknown operation %q", op.Kind)
}

// mountpoint creates what a bind needs to land on: a directory, or an
// empty file when the source is not a directory.
func mountpoint(target string, dir bool) error {
	if dir {
		return mkdirIn(stagingNew, target, 0o755)
	}
	if err := mkdirIn(stagingNew, filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(stagingNew+target, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
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
func setupDev(spec Spec) error {
	dev := stagingNew + "/dev"
	if err := mkdirIn(stagingNew, "/dev", 0o755); err != nil {
		return err
	}
	if err := mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return err
	}
	for _, name := range Devices {
		if err := mountpoint("/dev/"+name, false); err != nil {
			return err
		}
		// No MOUNT_ATTR_NODEV here, or the nodes could not be opened.
		if err := bind(stagingOld+"/dev/"+name, dev+"/"+name, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(dev+"/"+d, 0o755); err != nil {
			return err
		}
	}
	if err := mount("devpts", dev+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
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

// bind clones the tree at src (recursively, with its submounts), sets attr
// on every mount of the clone, and attaches it at dst. Setting attributes on
// the detached clone before it is attached means the tree is never visible
// writable, and mount_setattr only adds flags, so the flags the kernel locked
// on mounts inherited from the host (nosuid, noexec, atime) are kept without
// the read-back-and-add-again arithmetic that MS_REMOUNT needs.
func bind(src, dst string, attr uint64) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return &MountError{Op: "open_tree", Target: strings.TrimPrefix(src, stagingOld), Err: err}
	}
	defer unix.Close(fd)
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: attr}); err != nil {
		return &MountError{Op: "mount_setattr", Target: strings.TrimPrefix(dst, stagingNew), Flags: uintptr(attr), Err: err}
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return &MountError{Op: "move_mount", Source: strings.TrimPrefix(src, stagingOld), Target: strings.TrimPrefix(dst, stagingNew), Err: err}
	}
	return nil
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
