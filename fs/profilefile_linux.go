package fs

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/profile"
)

// ReadProfile reads a profile file for the loader (profile.Loader's
// ReadFile): the path given to --profile, or one an extends names. It may
// lie where a sandbox writes, so it is opened once, and what that open
// found is what is recorded and judged:
//
//   - the path is walked once (walk): every symbolic link is followed (a
//     user's dotfiles are links), and every directory a name is looked up
//     in, the links' own included, is recorded by device and inode, so
//     that a run that binds one of them writable is refused
//     (Spec.WritableBindOf): it could change what the path names;
//   - the last component must be a regular file; it is opened with
//     O_NONBLOCK, so a FIFO planted there can never hold jail, and checked
//     again with fstat on the descriptor read (profile.ReadOpened);
//   - one of jail's descriptors (/dev/fd/N, /proc/self/fd/N: --profile
//     <(cat x.toml)) is read as it is, a file or a pipe, the caller's. A
//     pipe has no name a run could change; a file has one, which the
//     descriptor gives (fileDirs).
//
// It returns the file's content and identities: the file's first, then
// the directories'.
func ReadProfile(given string) ([]byte, []FileID, error) {
	if fd, ok := CallerFD(given); ok {
		f, err := dupCallerFD(given, fd)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		b, id, err := profile.ReadOpened(f, given, true)
		if err != nil {
			return nil, nil, err
		}
		dirs, err := fileDirs(f, id)
		if err != nil {
			return nil, nil, err
		}
		return b, append([]FileID{id}, dirs...), nil
	}
	w, err := walk(given, func(string, *unix.Stat_t, string, bool) (bool, error) { return true, nil })
	if err != nil {
		return nil, nil, err
	}
	defer w.close()
	if w.st == nil {
		return nil, nil, &os.PathError{Op: "open", Path: given, Err: unix.ENOENT}
	}
	if err := profile.CheckKind(given, w.st.Mode, false); err != nil {
		return nil, nil, err // not opened: a device's open may act
	}
	fd, err := unix.Openat(w.dir, w.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: given, Err: err}
	}
	f := os.NewFile(uintptr(fd), given)
	defer f.Close()
	b, id, err := profile.ReadOpened(f, given, false)
	if err != nil {
		return nil, nil, err
	}
	ids := append([]FileID{id}, w.dirs...)
	for _, l := range w.links {
		ids = append(ids, l.dirs...)
	}
	return b, ids, nil
}

// fileDirs are the directories from / down to the regular file f (id),
// a descriptor jail was given: its path as the kernel names it, walked,
// taken only if it leads to f itself. A file with no name left (nlink 0)
// has none that a run could change; one whose path leads elsewhere (moved
// since it was opened) has a name jail cannot find, and is refused.
func fileDirs(f *os.File, id FileID) ([]FileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink == 0 {
		return nil, nil
	}
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err == nil && strings.HasPrefix(p, "/") {
		w, werr := walk(p, func(string, *unix.Stat_t, string, bool) (bool, error) { return false, nil })
		if werr == nil {
			defer w.close()
			if w.st != nil && fileID(w.st) == id {
				return w.dirs, nil
			}
		}
	}
	return nil, &os.PathError{Op: "open", Path: f.Name(), Err: fmt.Errorf("the file it names (%s) is no longer there: give its path", p)}
}
