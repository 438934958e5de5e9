package fs

// A run's host file may name one of jail's own descriptors rather than a
// file: /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N
// (--report /dev/stdout, --stdin <(gen), --meta /dev/fd/3 with 3>meta).
// The caller opened that descriptor and gave it to jail: it is not a path
// a sandbox could have planted, so it is not walked at all. Jail takes a
// duplicate of its descriptor, whatever it is (a pipe, a terminal, a file,
// a socket), and an output is written through it in place, at its offset,
// never replaced. The names are recognised as written (cleaned), not by
// looking them up: /dev/fd is a link to /proc/self/fd, and /proc/self/fd/N
// a link to whatever the descriptor is, which is exactly what hostWalk
// refuses to follow.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// CallerFD says which of jail's descriptors name is a name of, if it is
// one of the forms above.
func CallerFD(name string) (fd int, ok bool) {
	if !strings.HasPrefix(name, "/") {
		return 0, false
	}
	p := filepath.Clean(name)
	switch p {
	case "/dev/stdin":
		return 0, true
	case "/dev/stdout":
		return 1, true
	case "/dev/stderr":
		return 2, true
	}
	for _, dir := range []string{"/dev/fd/", "/proc/self/fd/"} {
		if n, found := strings.CutPrefix(p, dir); found {
			fd, err := strconv.Atoi(n)
			if err != nil || fd < 0 || n != strconv.Itoa(fd) {
				return 0, false
			}
			return fd, true
		}
	}
	return 0, false
}

// givenFDs are the descriptors above 2 that jail was started with.
var givenFDs struct {
	once sync.Once
	set  map[int]bool
}

// NoteCallerFDs records which descriptors above 2 the process was started
// with: those that are not close-on-exec (an exec keeps only those, and
// every descriptor the Go runtime and jail open is close-on-exec). Call
// it first, before anything (jail's own set-up sets close-on-exec on every
// inherited descriptor) changes that; otherwise the first use of a caller
// descriptor does.
func NoteCallerFDs() {
	givenFDs.once.Do(func() {
		givenFDs.set = map[int]bool{}
		note := func(fd int) {
			if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
				givenFDs.set[fd] = true
			}
		}
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			for fd := 3; fd < 1024; fd++ {
				note(fd)
			}
			return
		}
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				note(fd)
			}
		}
	})
}

// dupCallerFD returns a duplicate (close-on-exec) of jail's descriptor fd,
// which given names. A descriptor above 2 must be one jail was started
// with: any other is the Go runtime's or jail's own.
func dupCallerFD(given string, fd int) (*os.File, error) {
	NoteCallerFDs()
	if fd > 2 && !givenFDs.set[fd] {
		return nil, &os.PathError{Op: "open", Path: given, Err: fmt.Errorf("descriptor %d was not given to jail (open it for jail, as in 3>file)", fd)}
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if errors.Is(err, unix.EBADF) {
		return nil, &os.PathError{Op: "open", Path: given, Err: fmt.Errorf("descriptor %d is not open", fd)}
	}
	if err != nil {
		return nil, &os.PathError{Op: "fcntl(F_DUPFD_CLOEXEC)", Path: given, Err: err}
	}
	return os.NewFile(uintptr(nfd), given), nil
}
