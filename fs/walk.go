package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/jail-sandbox/jail/profile"
)

// The host side's one path walk. Every host path jail resolves for a run
// (bind sources, a run's stdin/stdout/stderr/report/meta files) is walked
// here, one component at a time through descriptors: each component is
// opened with O_PATH|O_NOFOLLOW below the descriptor of its parent, a
// symlink is read through its own descriptor and its text spliced into
// what is left to walk, ".." returns to the descriptor already held for
// the parent. A path that changes while it is walked gives one consistent
// answer or an error, never a check of one object and a use of another.
// What a symlink may do is the caller's policy (linkPolicy).

// FileID is what names a file on the host for as long as it exists: its
// device and inode numbers, as fstat reports them (the same in every mount
// and user namespace). The profile's loader records its files by it too.
type FileID = profile.FileID

func fileID(st *unix.Stat_t) FileID { return FileID{Dev: st.Dev, Ino: st.Ino} }

// maxLinks is how many symlinks one walk follows, as the kernel's
// MAXSYMLINKS (then ELOOP).
const maxLinks = 40

// followed is one symlink a walk went through: where it is and the
// identity of every directory from / down to the one holding it.
type followed struct {
	path string
	dirs []FileID
}

// linkPolicy decides on a symlink met at path (its lstat and its text):
// follow it (true), stop there and return it unfollowed (false; only for
// the last component), or fail the walk (an error).
type linkPolicy func(path string, st *unix.Stat_t, target string, last bool) (bool, error)

// walked is where a walk ended.
type walked struct {
	// dir is an O_PATH descriptor of the directory holding the last
	// component, or of the directory the path names when name is "".
	dir  int
	name string
	// st is what is at name now (nil: nothing there); for name "", the
	// directory's own.
	st *unix.Stat_t
	// path is the physical path of the last component (no symlink in
	// it but a last one left unfollowed); target is that link's text.
	path, target string
	// dirs are the directories from / down to dir.
	dirs []FileID
	// links are the symlinks followed, in order.
	links []followed
}

func (w *walked) close() {
	if w != nil && w.dir >= 0 {
		unix.Close(w.dir)
		w.dir = -1
	}
}

// walk resolves name (absolute, or relative to the physical working
// directory) under policy. A missing last component is not an error (st
// is nil); a missing directory on the way is. Errors are *os.PathError
// (or the policy's own) naming the path as given.
func walk(name string, policy linkPolicy) (*walked, error) {
	type dir struct {
		fd   int
		name string
		id   FileID
	}
	var stack []dir
	closeAll := func() {
		for _, d := range stack {
			unix.Close(d.fd)
		}
		stack = nil
	}
	fail := func(op string, err error) (*walked, error) {
		closeAll()
		var pe *os.PathError
		var le *LinkError
		if errors.As(err, &pe) || errors.As(err, &le) {
			return nil, err
		}
		return nil, &os.PathError{Op: op, Path: name, Err: err}
	}
	ids := func() []FileID {
		out := make([]FileID, len(stack))
		for i, d := range stack {
			out[i] = d.id
		}
		return out
	}
	pathOf := func(extra string) string {
		var b strings.Builder
		for _, d := range stack[1:] {
			b.WriteString("/" + d.name)
		}
		if extra != "" {
			b.WriteString("/" + extra)
		}
		if b.Len() == 0 {
			return "/"
		}
		return b.String()
	}
	var st unix.Stat_t
	push := func(fd int, name string) error {
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return err
		}
		stack = append(stack, dir{fd: fd, name: name, id: fileID(&st)})
		return nil
	}
	pop := func() { // to the parent; the root's parent is the root
		if len(stack) > 1 {
			unix.Close(stack[len(stack)-1].fd)
			stack = stack[:len(stack)-1]
		}
	}
	if name == "" {
		return fail("open", unix.ENOENT)
	}
	full := name
	if !filepath.IsAbs(name) {
		// The kernel's own (physical) working directory: $PWD may name
		// it through links.
		wd, err := unix.Getwd()
		if err != nil {
			return fail("getwd", err)
		}
		full = wd + "/" + name
	}
	rootFd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("open", err)
	}
	if err := push(rootFd, ""); err != nil {
		return fail("fstat", err)
	}

	var links []followed
	done := func(last string, stp *unix.Stat_t, target string) (*walked, error) {
		top := stack[len(stack)-1]
		w := &walked{dir: top.fd, name: last, st: stp, path: pathOf(last), target: target, dirs: ids(), links: links}
		stack[len(stack)-1].fd = -1
		for _, d := range stack[:len(stack)-1] {
			unix.Close(d.fd)
		}
		stack = nil
		return w, nil
	}
	todo := strings.Split(full, "/")
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			pop()
			continue
		}
		last := true
		for _, r := range todo {
			if r != "" && r != "." {
				last = false
				break
			}
		}
		// "a/" and "a/." name a directory: a last component, but one
		// that must be a directory (as the kernel says).
		mustDir := last && len(todo) > 0
		fd, err := unix.Openat(stack[len(stack)-1].fd, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && last && !mustDir {
			return done(c, nil, "")
		}
		if err != nil {
			return fail("open", err)
		}
		var cst unix.Stat_t
		if err := unix.Fstat(fd, &cst); err != nil {
			unix.Close(fd)
			return fail("fstat", err)
		}
		switch cst.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := push(fd, c); err != nil {
				return fail("fstat", err)
			}
		case unix.S_IFLNK:
			text, err := readlinkFd(fd)
			unix.Close(fd)
			if err != nil {
				return fail("readlink", err)
			}
			follow, err := policy(pathOf(c), &cst, text, last && !mustDir)
			if err != nil {
				return fail("open", err)
			}
			if !follow {
				return done(c, &cst, text)
			}
			if len(links) >= maxLinks {
				return fail("open", unix.ELOOP)
			}
			links = append(links, followed{path: pathOf(c), dirs: ids()})
			if strings.HasPrefix(text, "/") {
				for len(stack) > 1 {
					pop()
				}
			}
			todo = append(strings.Split(text, "/"), todo...)
		default:
			// A file, a device, a socket or a FIFO (O_PATH opened it
			// without blocking): the end of the path.
			unix.Close(fd)
			if !last || mustDir {
				return fail("open", unix.ENOTDIR)
			}
			return done(c, &cst, "")
		}
	}
	top := stack[len(stack)-1]
	var dst unix.Stat_t
	if err := unix.Fstat(top.fd, &dst); err != nil {
		return fail("fstat", err)
	}
	return done("", &dst, "")
}

// readlinkFd reads the text of the symlink fd (opened O_PATH|O_NOFOLLOW).
func readlinkFd(fd int) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
