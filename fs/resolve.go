package fs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// This file is stage 0's half of a bind: each source is resolved once, one
// component at a time through descriptors, and everything Compile needs
// (the real path, whether it is a symlink or a directory, its device and
// inode, the symlinks followed on the way) comes from that one walk. A
// path that changes while it is walked gives one consistent answer or an
// error, never a check of one object and a resolution of another.
// The set-up's half (cmd/jail/mounts.c, open_source) re-opens the real
// path without following any symlink and mounts it only if it is still the
// same object.

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

// resolveSource resolves name (absolute) as the kernel would, one component
// at a time: each component is opened with O_PATH|O_NOFOLLOW below the
// descriptor of its parent, a symlink is read through its own descriptor
// (readlinkat with an empty path) and its text spliced into what is left to
// walk, ".." returns to the descriptor already held for the parent. The
// last component is not followed when it is a symlink: the caller recreates
// it as one. Errors are *os.PathError with the errno.
func resolveSource(name string) (source, error) {
	if !filepath.IsAbs(name) {
		return source{}, &os.PathError{Op: "resolve", Path: name, Err: errors.New("not an absolute path")}
	}
	w, err := walk(name, func(_ string, _ *unix.Stat_t, _ string, last bool) (bool, error) {
		return !last, nil
	})
	if err == nil && w.st == nil {
		w.close()
		err = unix.ENOENT
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return source{}, &os.PathError{Op: "resolve", Path: name, Err: err}
	}
	defer w.close()
	src := source{path: w.path, dirs: w.dirs, links: w.links}
	switch {
	case w.name == "":
		src.id, src.isDir = fileID(w.st), true
	case w.st.Mode&unix.S_IFMT == unix.S_IFLNK:
		src.link = w.target
	default:
		src.id = fileID(w.st)
	}
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

// ErrSourceChanged is the error of a bind source that is no longer the
// object stage 0 checked.
var ErrSourceChanged = errors.New("changed since it was checked")
