package fs

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// RemoveAt removes name in the directory dirfd and, when it is a
// directory, everything below it, as `rm -rf` would, for `jail rm`: the
// tree is one a sandbox wrote, so everything in it is hostile.
//
//   - No symlink is ever followed: a link is removed as a link. Every step
//     is relative to a descriptor of the directory it acts in, opened with
//     O_NOFOLLOW, so a directory swapped for a link while the walk runs is
//     found as a link, never entered. Nothing above dirfd is touched.
//   - No mount is crossed: a directory on another mount than name's parent
//     (a mount point inside the tree, or name itself) is left with an error.
//   - Nothing blocks: directories are opened O_NONBLOCK, other files are
//     never opened (a FIFO is unlinked, not read).
//
// display is name's path for messages. It goes on past a failure and
// returns every error, each naming its path.
func RemoveAt(dirfd int, name, display string) error {
	parent, err := mountID(dirfd, "", unix.AT_EMPTY_PATH)
	if err != nil {
		return &os.PathError{Op: "statx", Path: filepath.Dir(display), Err: err}
	}
	return removeAt(dirfd, name, display, parent)
}

// removeAt removes name in dirfd, which is on mount mnt.
func removeAt(dirfd int, name, display string, mnt uint64) error {
	var st unix.Statx_t
	if err := unix.Statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, unix.STATX_TYPE|unix.STATX_MNT_ID, &st); err != nil {
		return &os.PathError{Op: "statx", Path: display, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		err := unix.Unlinkat(dirfd, name, 0)
		if err == unix.EISDIR {
			// It became a directory since the statx: walk it.
			return removeDir(dirfd, name, display, mnt)
		}
		return pathErr("unlinkat", display, err)
	}
	return removeDir(dirfd, name, display, mnt)
}

// removeDir empties the directory name in dirfd and removes it.
func removeDir(dirfd int, name, display string, mnt uint64) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ELOOP || err == unix.ENOTDIR {
		// It was swapped for a link or a file since: remove that.
		return pathErr("unlinkat", display, unix.Unlinkat(dirfd, name, 0))
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: display, Err: err}
	}
	dir := os.NewFile(uintptr(fd), display)
	defer dir.Close()
	// The mount of what was opened, not of what the path named a moment
	// before.
	if id, err := mountID(fd, "", unix.AT_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "statx", Path: display, Err: err}
	} else if id != mnt {
		return &os.PathError{Op: "remove", Path: display, Err: errors.New("is a mount point; not crossing into another mount (unmount it first)")}
	}
	var errs []error
	// A directory a run still writes to may gain entries while it is
	// emptied: a few passes, then the error of rmdir says so.
	for range 3 {
		names, err := dir.Readdirnames(-1)
		if err != nil {
			return errors.Join(append(errs, &os.PathError{Op: "getdents", Path: display, Err: unwrapErrno(err)})...)
		}
		if len(names) == 0 {
			break
		}
		for _, n := range names {
			if err := removeAt(fd, n, display+"/"+n, mnt); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		if _, err := dir.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	return pathErr("rmdir", display, unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR))
}

// mountID is the id of the mount path (relative to dirfd) is on.
func mountID(dirfd int, path string, flags int) (uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(dirfd, path, flags|unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT, unix.STATX_MNT_ID, &st); err != nil {
		return 0, err
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, errors.New("this kernel does not report mount ids (Linux 5.8 or later does)")
	}
	return st.Mnt_id, nil
}
