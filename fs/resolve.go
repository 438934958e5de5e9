package fs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// This file is stage 0's half of a bind: each source is resolved once, one
// component at a time through descriptors, and everything Compile needs
// (the real path, whether it is a symlink or a directory, its device and
// inode, the symlinks followed on the way) comes from that one walk. A
// path that changes while it is walked gives one consistent answer or an
// error, never a check of one object and a resolution of another.
// openSource is stage 2's half: it re-opens the real path without
// following any symlink and mounts it only if it is still the same object.

// FileID is what names a file on the host for as long as it exists: its
// device and inode numbers, as fstat reports them (the same in every mount
// and user namespace).
type FileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

func fileID(st *unix.Stat_t) FileID { return FileID{Dev: st.Dev, Ino: st.Ino} }

// maxLinks is how many symlinks a resolution follows, as the kernel's
// MAXSYMLINKS (then ELOOP).
const maxLinks = 40

// source is a bind source as resolveSource found it.
type source struct {
	path  string // the real path: absolute, clean, no symlink in it
	link  string // the link's text when the source itself is a symlink (not followed)
	id    FileID
	isDir bool
	// dirs are the directories from / down to the source (itself
	// included when it is one).
	dirs []FileID
	// links are the symlinks followed to reach path, in order.
	links []followed
}

// followed is one symlink met while resolving a source: where it is and
// the identity of every directory from / down to the one holding it.
type followed struct {
	path string
	dirs []FileID
}

// resolveSource resolves name (absolute) as the kernel would, one component
// at a time: each component is opened with O_PATH|O_NOFOLLOW below the
// descriptor of its parent, a symlink is read through its own descriptor
// (readlinkat with an empty path) and its text spliced into what is left to
// walk, ".." returns to the descriptor already held for the parent. The
// last component is not followed when it is a symlink: the caller recreates
// it as one. Errors are *os.PathError with the errno.
func resolveSource(name string) (source, error) {
	type dir struct {
		fd   int
		name string
		id   FileID
	}
	var src source
	fail := func(err error) (source, error) {
		return source{}, &os.PathError{Op: "resolve", Path: name, Err: err}
	}
	var stack []dir
	ids := func() []FileID {
		out := make([]FileID, len(stack))
		for i, d := range stack {
			out[i] = d.id
		}
		return out
	}
	defer func() {
		for _, d := range stack {
			unix.Close(d.fd)
		}
	}()
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
	push := func(fd int, name string, st *unix.Stat_t) {
		stack = append(stack, dir{fd: fd, name: name, id: fileID(st)})
	}
	pop := func() { // to the parent; the root's parent is the root
		if len(stack) > 1 {
			unix.Close(stack[len(stack)-1].fd)
			stack = stack[:len(stack)-1]
		}
	}

	if !filepath.IsAbs(name) {
		return fail(errors.New("not an absolute path"))
	}
	rootFd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(rootFd, &st); err != nil {
		unix.Close(rootFd)
		return fail(err)
	}
	push(rootFd, "", &st)

	todo := strings.Split(name, "/")
	links := 0
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
		fd, err := unix.Openat(stack[len(stack)-1].fd, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail(err)
		}
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return fail(err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			push(fd, c, &st)
		case unix.S_IFLNK:
			text, err := readlinkFd(fd)
			unix.Close(fd)
			if err != nil {
				return fail(err)
			}
			if len(todo) == 0 {
				src.path, src.link, src.dirs = pathOf(c), text, ids()
				return src, nil
			}
			if links++; links > maxLinks {
				return fail(unix.ELOOP)
			}
			src.links = append(src.links, followed{path: pathOf(c), dirs: ids()})
			for strings.HasPrefix(text, "/") && len(stack) > 1 {
				pop()
			}
			todo = append(strings.Split(text, "/"), todo...)
		default:
			// A file, a device, a socket or a FIFO (O_PATH opened it
			// without blocking): the end of the path.
			unix.Close(fd)
			if len(todo) > 0 {
				// Anything after it, even "/", "." or "..", needs a
				// directory, as the kernel says.
				return fail(unix.ENOTDIR)
			}
			src.path, src.id, src.dirs = pathOf(c), fileID(&st), ids()
			return src, nil
		}
	}
	top := stack[len(stack)-1]
	src.path, src.id, src.isDir, src.dirs = pathOf(""), top.id, true, ids()
	return src, nil
}

// plantedLink finds a symlink that an earlier run could have put in the
// way of src: one followed to reach it that lies inside a writable bind
// source W (a directory of the link's ancestry is W, compared by device
// and inode, so that another path to W counts too) while src lies outside
// W. A link that stays inside the directory holding it reaches nothing a
// run cannot write anyway. writable maps each writable directory to its
// mount's index; it returns the link and that index.
func plantedLink(src source, writable map[FileID]int) (followed, int, bool) {
	for _, l := range src.links {
		for _, d := range l.dirs {
			if j, ok := writable[d]; ok && !slices.Contains(src.dirs, d) {
				return l, j, true
			}
		}
	}
	return followed{}, 0, false
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

// ErrSourceChanged is the error of a bind source that is no longer the
// object stage 0 checked.
var ErrSourceChanged = errors.New("changed since it was checked")

// openSource opens a bind source for open_tree: the real path that Compile
// found, below the host's root at prefix, without following any symlink
// (the path had none when it was checked, so one met now was put there
// since), and only if it is still the object of the plan's device and
// inode. Anything else is an error naming the path, never a mount of what
// took its place.
func openSource(prefix string, op Op) (int, error) {
	if op.ID == (FileID{}) {
		return -1, &os.PathError{Op: "bind", Path: op.Source, Err: errors.New("the plan has no device and inode for this source (a plan from another jail binary?)")}
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, prefix+op.Source, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	changed := func(detail string) error {
		return &os.PathError{Op: "bind", Path: op.Source, Err: fmt.Errorf(
			"%w (%s): something replaced it while jail started (a sandbox writing there?); run again once nothing changes it", ErrSourceChanged, detail)}
	}
	switch {
	case errors.Is(err, unix.ELOOP):
		return -1, changed("a symlink is in its path now")
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		return -1, changed("it is gone: " + err.Error())
	case err != nil:
		return -1, &os.PathError{Op: "open", Path: op.Source, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "fstat", Path: op.Source, Err: err}
	}
	if got := fileID(&st); got != op.ID {
		unix.Close(fd)
		return -1, changed(fmt.Sprintf("device %d inode %d, checked as device %d inode %d", got.Dev, got.Ino, op.ID.Dev, op.ID.Ino))
	}
	return fd, nil
}
