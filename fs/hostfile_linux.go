package fs

// Host files of a run: the files jail itself opens on the host for a run
// (--stdin, --stdout, --stderr, --report, --meta, and a batch request's
// fields of those names). They often lie where a sandbox can write (a
// build's current directory, a --bind), so whatever is at their path may
// have been planted by this run's sandbox or by an earlier one: a symbolic
// link to a file of the caller's, a FIFO, a hard link. The rules:
//
//   - A path is walked one component at a time with openat(O_PATH|
//     O_NOFOLLOW). A symbolic link is followed only when root owns it (and
//     it has a single name): a sandbox runs as the caller's uid or ids of
//     the caller's sub-uid range, never as host root (userns maps a root
//     caller to unprivileged ids too), so no sandbox can have made such a
//     link, while the system's own (/bin -> usr/bin, /home -> var/home)
//     keep working. Owned by any other id, a link could be the sandbox's:
//     the caller's own uid is the sandbox's uid 0, and earlier runs used
//     other sub-uids (a judge's, a per-run isolated uid), so no narrower
//     set of ids is safe. Any other link is an error (LinkError). A
//     second name of a root-owned link (nlink > 1) is refused too: with
//     fs.protected_hardlinks off, anyone may hard-link a link.
//   - An output is never written through what is at its name: a new file
//     is created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW) in the directory
//     resolved once, and renamed over the name, replacing a link, a FIFO,
//     a socket or a hard link to another file. A directory or a device at
//     the name is an error; the null device is written to, not replaced.
//   - An input must be a regular file or the null device. It is opened
//     with O_NONBLOCK (opening a FIFO never blocks) and checked with fstat
//     on the descriptor, then O_NONBLOCK is cleared.
//   - A name of one of jail's own descriptors (/dev/stdout, /dev/fd/N:
//     callerfd_linux.go) is no path: a duplicate of that descriptor is
//     used as it is, whatever its kind, an output written in place.
//
// Nothing here blocks on a file a sandbox made, and the descriptors are
// close-on-exec.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// LinkError is a path that crosses a symbolic link jail does not follow:
// one that a sandbox could have made.
type LinkError struct {
	Path   string // the path as given
	Link   string // the link, as walked (physical)
	Target string // what it points to
	UID    uint32 // its owner
	Names  uint64 // its number of names (a root-owned link is refused with more than one)
}

func (e *LinkError) Error() string {
	why := fmt.Sprintf("owned by uid %d, not root", e.UID)
	if e.UID == 0 {
		why = fmt.Sprintf("owned by root but with %d names (a hard link to a link)", e.Names)
	}
	what := e.Link
	if e.Link != e.Path {
		what = fmt.Sprintf("%s: %s", e.Path, e.Link)
	}
	return fmt.Sprintf("%s is a symbolic link to %s %s: jail follows only links that no sandbox can have made; give the real path",
		what, e.Target, why)
}

// hostWalk walks a run's host file under the package's rule: a symlink
// is followed only when root owns it and it has a single name; any other
// is an error, or, in last place, returned unfollowed for the caller to
// refuse or replace. A path that names a directory is EISDIR.
func hostWalk(given string) (*walked, error) {
	w, err := walk(given, func(at string, st *unix.Stat_t, target string, last bool) (bool, error) {
		if st.Uid == 0 && st.Nlink == 1 {
			return true, nil
		}
		if last {
			return false, nil
		}
		return false, &LinkError{Path: given, Link: at, Target: target, UID: st.Uid, Names: uint64(st.Nlink)}
	})
	if err != nil {
		return nil, err
	}
	if w.name == "" {
		w.close()
		return nil, &os.PathError{Op: "open", Path: given, Err: unix.EISDIR}
	}
	return w, nil
}

func isNullDevice(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3
}

// OpenInput opens a host file a run reads (its stdin), as the package's
// rules say: a regular file or the null device, reached without
// following a link a sandbox could have made, opened without blocking.
func OpenInput(given string) (*os.File, error) {
	if fd, ok := CallerFD(given); ok {
		return dupCallerFD(given, fd)
	}
	w, err := hostWalk(given)
	if err != nil {
		return nil, err
	}
	defer w.close()
	if w.st == nil {
		return nil, &os.PathError{Op: "open", Path: given, Err: unix.ENOENT}
	}
	if w.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil, &LinkError{Path: given, Link: w.path, Target: w.target, UID: w.st.Uid, Names: uint64(w.st.Nlink)}
	}
	if err := inputKind(given, w.st); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(w.dir, w.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: given, Err: err}
	}
	// What was opened, not what was looked at: the name may have been
	// replaced in between.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: given, Err: err}
	}
	if err := inputKind(given, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags&^unix.O_NONBLOCK)
	}
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(fd), given), nil
}

// inputKind refuses an input that is neither a regular file nor the null
// device.
func inputKind(given string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT == unix.S_IFREG || isNullDevice(st) {
		return nil
	}
	return &os.PathError{Op: "open", Path: given, Err: fmt.Errorf("is a %s: jail reads only a regular file or /dev/null", fileKind(st.Mode))}
}

// Output is a host file a run writes (its stdout, stderr, report or meta
// file), prepared before the sandbox exists: the directory that will hold
// it is resolved and held open, so the file lands there whatever a
// sandbox does to the path meanwhile.
type Output struct {
	given string // the path as given, for messages
	dir   int    // O_PATH descriptor of its directory
	name  string
	// fd is the duplicate of jail's descriptor that given names
	// (CallerFD), written in place; then dir is -1.
	fd *os.File
}

// PrepareOutput resolves the directory of an output and checks what is at
// its name now (a directory or a device other than /dev/null is an
// error), or takes the descriptor of jail's that it names. Close it when
// done.
func PrepareOutput(given string) (*Output, error) {
	if fd, ok := CallerFD(given); ok {
		f, err := dupCallerFD(given, fd)
		if err != nil {
			return nil, err
		}
		return &Output{given: given, dir: -1, fd: f}, nil
	}
	w, err := hostWalk(given)
	if err != nil {
		return nil, err
	}
	o := &Output{given: given, dir: w.dir, name: w.name}
	if w.st != nil {
		if _, err := outputKind(given, w.st); err != nil {
			w.close()
			return nil, err
		}
	}
	return o, nil
}

// CreateOutput is PrepareOutput and Create at once.
func CreateOutput(given string) (*os.File, error) {
	o, err := PrepareOutput(given)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return o.Create()
}

// outputKind says whether what is at an output's name is the null device
// (written to) or something a new file replaces; a directory or another
// device is an error.
func outputKind(given string, st *unix.Stat_t) (null bool, err error) {
	switch {
	case isNullDevice(st):
		return true, nil
	case st.Mode&unix.S_IFMT == unix.S_IFDIR, st.Mode&unix.S_IFMT == unix.S_IFCHR, st.Mode&unix.S_IFMT == unix.S_IFBLK:
		return false, &os.PathError{Op: "create", Path: given, Err: fmt.Errorf("is a %s: jail writes a new regular file there (or to /dev/null)", fileKind(st.Mode))}
	}
	return false, nil
}

// Close releases the output's directory (or descriptor).
func (o *Output) Close() error {
	if o == nil {
		return nil
	}
	if o.fd != nil {
		err := o.fd.Close()
		o.fd = nil
		return err
	}
	if o.dir < 0 {
		return nil
	}
	err := unix.Close(o.dir)
	o.dir = -1
	return err
}

// Path is the output's path as given.
func (o *Output) Path() string { return o.given }

// Create makes the output a new, empty file of the caller's alone (0600:
// a later run as another id, a judge's, must not read it where its binds
// show it) and returns it open for writing: a new file is created under a
// temporary name and renamed over whatever is at the output's name. At
// the null device, it opens that. A descriptor of jail's is returned as
// a duplicate, as it is.
func (o *Output) Create() (*os.File, error) {
	if o.fd != nil {
		fd, err := unix.FcntlInt(o.fd.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, &os.PathError{Op: "fcntl(F_DUPFD_CLOEXEC)", Path: o.given, Err: err}
		}
		return os.NewFile(uintptr(fd), o.given), nil
	}
	if f, err := o.openNull(); f != nil || err != nil {
		return f, err
	}
	f, tmp, err := o.createTemp()
	if err != nil {
		return nil, err
	}
	if err := o.rename(tmp); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// WriteFile writes data as the output's whole content: to a new file
// under a temporary name, then renamed over the output's name, so that a
// reader sees the old file or the complete new one. Through a descriptor
// of jail's, data is written in place, at its offset.
func (o *Output) WriteFile(data []byte) error {
	if o.fd != nil {
		_, err := o.fd.Write(data)
		return err
	}
	if f, err := o.openNull(); f != nil || err != nil {
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		return errors.Join(err, f.Close())
	}
	f, tmp, err := o.createTemp()
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Close()); err != nil {
		_ = unix.Unlinkat(o.dir, tmp, 0)
		return err
	}
	return o.rename(tmp)
}

// openNull opens the output's name if it is the null device (nil, nil if
// it is not).
func (o *Output) openNull() (*os.File, error) {
	if o.dir < 0 {
		return nil, &os.PathError{Op: "create", Path: o.given, Err: os.ErrClosed}
	}
	var st unix.Stat_t
	err := unix.Fstatat(o.dir, o.name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "stat", Path: o.given, Err: err}
	}
	if null, err := outputKind(o.given, &st); !null {
		return nil, err
	}
	fd, err := unix.Openat(o.dir, o.name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: o.given, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil || !isNullDevice(&st) {
		unix.Close(fd)
		if err == nil {
			err = errors.New("changed while it was opened")
		}
		return nil, &os.PathError{Op: "open", Path: o.given, Err: err}
	}
	return os.NewFile(uintptr(fd), o.given), nil
}

// createTemp creates a new file next to the output's name, exclusively.
func (o *Output) createTemp() (*os.File, string, error) {
	for try := 0; ; try++ {
		var b [6]byte
		_, _ = rand.Read(b[:])
		tmp := "." + o.name + ".jail-" + hex.EncodeToString(b[:])
		if len(tmp) > 255 {
			tmp = ".jail-" + hex.EncodeToString(b[:])
		}
		fd, err := unix.Openat(o.dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) && try < 10 {
			continue
		}
		if err != nil {
			// The temporary name is jail's business: the error is the
			// output's (EACCES: its directory is not writable).
			return nil, "", &os.PathError{Op: "create", Path: o.given, Err: err}
		}
		return os.NewFile(uintptr(fd), o.given), tmp, nil
	}
}

// rename moves the new file tmp over the output's name.
func (o *Output) rename(tmp string) error {
	err := unix.Renameat(o.dir, tmp, o.dir, o.name)
	if err == nil {
		return nil
	}
	_ = unix.Unlinkat(o.dir, tmp, 0)
	if errors.Is(err, unix.EISDIR) {
		return &os.PathError{Op: "create", Path: o.given, Err: errors.New("is a directory: jail writes a new regular file there")}
	}
	return &os.PathError{Op: "rename", Path: o.given, Err: err}
}
