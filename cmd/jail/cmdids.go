package main

// The command's ids as the host sees them. A profile that runs its command
// as an id of the sub-uid range (the judge profiles: user.uid = 1000) makes
// it a stranger to the caller's files: "other" for the stdin file jail
// opened, the outputs jail creates (0600) and PID 1's /proc/1 (owned by
// uid 0 inside, the caller). What is left to jail is what the permission
// bits alone would not stop, and saying why a file it needs is denied.

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/cmd/jail/internal/ipc"
	"github.com/jail-sandbox/jail/userns"
)

// commandIDs are the host uid and gid the command runs as, and whether
// they are the caller's own (uid 0 inside with a caller's mapping).
func commandIDs(m userns.Mapping, spec *ExecSpec) (uid, gid uint32, caller bool) {
	uid, gid, ok := m.Outside(spec.UID, spec.GID)
	return uid, gid, ok && uid == uint32(os.Getuid())
}

// userEnforcement is the report's enforcement["user"]: who the command ran
// as, inside and on the host.
func userEnforcement(m userns.Mapping, spec *ExecSpec) string {
	uid, gid, caller := commandIDs(m, spec)
	s := fmt.Sprintf("uid %d gid %d inside, host uid %d gid %d", spec.UID, spec.GID, uid, gid)
	if caller {
		return s + ": the caller's own (it owns the caller's files it is given)"
	}
	return s + ": not the caller's (the caller's files are other's to it)"
}

// commandStdin is the stdin jail gives the command for in, a file jail
// opened (or inherited) with the caller's rights. A command that runs as
// an id of its own can reopen /proc/self/fd/0 for writing, or change the
// file's mode, only where that id could anyway: as the file's owner, or
// through its group or other write bits or an ACL; or it writes through
// descriptor 0 itself when that is open for writing (a shell's "<>").
// Such a file is replaced by a sealed copy (sealedCopy); any other, every
// descriptor that is not a regular file (or cannot be looked at: exactly
// what jail passed before), and every file of a command that runs as the
// caller (which owns the caller's files whatever jail does: docs/profile.md,
// user.uid), are given as they are. The copy, when made, is the caller's
// to close.
//
// A descriptor of another kind (a FIFO, a device) that the id could reopen
// (reopenable) is replaced by a pipe that jail fills from it (pipeCopy);
// a regular file it could read but not write is given as it is, unless it
// was read from already: reopened, it would show what came before.
func commandStdin(in *os.File, m userns.Mapping, spec *ExecSpec) (*os.File, error) {
	uid, gid, caller := commandIDs(m, spec)
	fd := int(in.Fd())
	var st unix.Stat_t
	if caller || unix.Fstat(fd, &st) != nil {
		return in, nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		if reopenable(fd, &st, uid, gid) {
			return pipeCopy(in)
		}
		return in, nil
	}
	flags, ferr := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	acl, aerr := unix.Fgetxattr(fd, "system.posix_acl_access", nil)
	writable := st.Uid == uid || st.Mode&0o002 != 0 || st.Gid == gid && st.Mode&0o020 != 0 ||
		aerr == nil && acl > 0 || ferr != nil || flags&unix.O_ACCMODE != unix.O_RDONLY
	if !writable {
		if off, err := in.Seek(0, io.SeekCurrent); err == nil && off == 0 || !reopenable(fd, &st, uid, gid) {
			return in, nil
		}
	}
	return sealedCopy(in)
}

// reopenable says whether the ids uid and gid could open the file of fd
// (st) again, as a command can through /proc/self/fd/N, which checks the
// file's permissions as an open by path does: as its owner, through its
// group's or others' read or write bits, or through an ACL. A socket
// cannot be opened so (ENXIO); a pipe jail or the caller made is theirs,
// 0600; /dev/null gives nothing; a terminal never reaches the command
// (the pty relay stands in for it).
func reopenable(fd int, st *unix.Stat_t, uid, gid uint32) bool {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return false
	case unix.S_IFCHR:
		if unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3 || isTerminal(fd) {
			return false
		}
	}
	acl, aerr := unix.Fgetxattr(fd, "system.posix_acl_access", nil)
	return st.Uid == uid || st.Mode&0o006 != 0 || st.Gid == gid && st.Mode&0o060 != 0 || aerr == nil && acl > 0
}

// commandStdio vets the command's stdio before the sandbox gets it. A
// directory is refused, whoever the command runs as: its descriptor would
// reach the host's tree past the sandbox's root (openat, /proc/self/fd/N/).
// A command that runs as an id of its own could reopen an output it is
// given as a file of the caller's (jail ... > out.txt, 0644) through
// /proc/self/fd/1, to read what the file held or write over it: relay
// names those that must go through jail's relay instead (newOutputPipes),
// which gives it a pipe of jail's. Its stdin is commandStdin's.
func commandStdio(stdio [3]*os.File, m userns.Mapping, spec *ExecSpec) (relay [3]bool, err error) {
	uid, gid, caller := commandIDs(m, spec)
	for fd, f := range stdio {
		var st unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st) != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return relay, fmt.Errorf("%s (%s) is a directory: the command would reach the host's files through it; give a file",
				[]string{"stdin", "stdout", "stderr"}[fd], f.Name())
		}
		relay[fd] = fd > 0 && !caller && reopenable(int(f.Fd()), &st, uid, gid)
	}
	return relay, nil
}

// pipeCopy gives the command a pipe, jail's, that a goroutine fills from
// in until in ends or the command closes its end.
func pipeCopy(in *os.File) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	go func() {
		_, _ = io.Copy(w, in)
		w.Close()
	}()
	return r, nil
}

// maxSealedStdin bounds a sealed copy: it lives in the host's memory,
// outside the sandbox's limits, and whoever could write the file (a
// sandbox that made it writable by others, a sparse file of a terabyte,
// a writer that keeps appending) would otherwise choose how much.
var maxSealedStdin int64 = 1 << 30

// sealedCopy copies what is left to read of in into a memfd sealed against
// every change (F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, then F_SEAL_SEAL):
// a regular file to the command, which it may read, seek and map, but
// which nothing can alter, through any descriptor or /proc/self/fd/0. The
// copy is what the file held when it was looked at (its size then), at
// most maxSealedStdin bytes: a larger file is refused.
func sealedCopy(in *os.File) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(in.Fd()), &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: in.Name(), Err: err}
	}
	off, err := in.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	left := max(st.Size-off, 0)
	if left > maxSealedStdin {
		return nil, fmt.Errorf("stdin %s: %d bytes to copy, more than %d: the command's id could write the file, so jail would give it a copy in memory; "+
			"make the file writable by you alone (chmod go-w), or run the command as yourself (--uid 0 --gid 0)", in.Name(), left, maxSealedStdin)
	}
	fd, err := unix.MemfdCreate("jail-stdin", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	out := os.NewFile(uintptr(fd), "a sealed copy of "+in.Name())
	fail := func(err error) (*os.File, error) {
		out.Close()
		return nil, err
	}
	if _, err := io.CopyN(out, in, left); err != nil && !errors.Is(err, io.EOF) {
		return fail(fmt.Errorf("copy %s for the command's stdin: %w", in.Name(), err))
	}
	seals := unix.F_SEAL_WRITE | unix.F_SEAL_GROW | unix.F_SEAL_SHRINK | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(out.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		return fail(os.NewSyscallError("fcntl(F_ADD_SEALS)", err))
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return out, nil
}

// hintError is an error with a hint for the user, which describe adds.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *hintError) Unwrap() error { return e.err }

// withIDHint says, when a command that runs as an id of its own was denied
// its program or its working directory, that the file's rights for others
// are the ones that count.
func withIDHint(err error, m userns.Mapping, spec *ExecSpec) error {
	var se *ipc.StageError
	if err == nil || !errors.As(err, &se) || se.Errno != int(unix.EACCES) {
		return err
	}
	if _, _, caller := commandIDs(m, spec); caller {
		return err
	}
	who := fmt.Sprintf("the command runs as uid %d inside, not as you", spec.UID)
	switch se.Op {
	case "chdir":
		return &hintError{err, who + ": the directory must be searchable by others (chmod o+x on the host)"}
	case "exec", "execve":
		return &hintError{err, who + ": the program, and a script's interpreter, must be readable and executable by others (chmod o+rx on the host)"}
	}
	return err
}
