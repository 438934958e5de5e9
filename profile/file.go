package profile

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// FileID names a file on the host for as long as it exists: its device
// and inode numbers, as fstat reports them (package fs uses the same).
type FileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// A SourceFile is one file a profile was read from.
type SourceFile struct {
	// Path names it as the loader did: the path given to Load, or an
	// extends path joined to the directory of the file that names it.
	Path string
	// Read names what was read: first the file itself (fstat of the
	// descriptor read), then, when the Loader's ReadFile knows them, every
	// directory its path was resolved through.
	Read []FileID
}

// maxFileSize bounds a profile file: whatever is at a profile's path is
// read into memory before it is judged.
const maxFileSize = 4 << 20

// CheckKind refuses a profile file that is not a regular file: a FIFO
// (opening or reading it could wait forever on whoever planted it), a
// device, a socket or a directory. pipe allows a pipe, which only a
// descriptor the caller gave can be (--profile <(cat x.toml)).
func CheckKind(name string, mode uint32, pipe bool) error {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return nil
	case syscall.S_IFIFO:
		if pipe {
			return nil
		}
	}
	return fmt.Errorf("%s is a %s: a profile is a regular file (or a pipe given as /dev/fd/N, as <(...) does)", name, KindName(mode))
}

// KindName names the kind of a file that is not a regular one, by its
// mode, for messages.
func KindName(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFIFO:
		return "FIFO"
	case syscall.S_IFSOCK:
		return "socket"
	case syscall.S_IFCHR:
		return "character device"
	case syscall.S_IFBLK:
		return "block device"
	case syscall.S_IFLNK:
		return "symlink"
	case syscall.S_IFDIR:
		return "directory"
	}
	return "special file"
}

// ReadOpened reads the profile file f, opened as name, after checking
// with fstat on f what it is (CheckKind), at most maxFileSize bytes. It
// returns what it read and the file's identity.
func ReadOpened(f *os.File, name string, pipe bool) ([]byte, FileID, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, FileID{}, &os.PathError{Op: "fstat", Path: name, Err: err}
	}
	if err := CheckKind(name, st.Mode, pipe); err != nil {
		return nil, FileID{}, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, FileID{}, err
	}
	if len(b) > maxFileSize {
		return nil, FileID{}, fmt.Errorf("%s: more than %d bytes: not a profile", name, maxFileSize)
	}
	return b, FileID{Dev: st.Dev, Ino: st.Ino}, nil
}

// readFile is the Loader's ReadFile when none is given: the file at path,
// links followed, opened without blocking (a FIFO is refused, never waited
// on).
func readFile(path string) ([]byte, []FileID, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	b, id, err := ReadOpened(f, path, false)
	if err != nil {
		return nil, nil, err
	}
	return b, []FileID{id}, nil
}
