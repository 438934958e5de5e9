package fs

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// A git index (DIRC, versions 2 to 4) read for one thing: the paths of
// its gitlinks (mode 0160000), the submodules. git status at a work
// tree's root runs git in each gitlink directory that holds a .git, so a
// run that could make an empty submodule directory a repository would
// choose what that git runs (protectVCS binds it read-only instead).
//
// The file may be one a run wrote (a repository it made), so it is read
// as a stream, opened without following a link or blocking, at most
// maxIndexSize bytes, each name at most maxIndexName; a file that does
// not parse yields the gitlinks found before the fault (git refuses such
// an index and runs nothing in it).

const (
	maxIndexSize = 256 << 20
	maxIndexName = 64 << 10
	gitlinkMode  = 0o160000
)

// errIndexTooLarge is the error of an index over maxIndexSize.
var errIndexTooLarge = fmt.Errorf("larger than %d MiB", maxIndexSize>>20)

// readGitlinks returns the gitlink paths of the index of the git
// directory dirfd (named dir in errors): its index, and the shared index
// that a split index names.
func readGitlinks(dirfd int, dir string, hashSize int) ([]string, error) {
	links, shared, err := indexGitlinks(dirfd, "index", hashSize)
	if err == nil && shared != "" {
		var more []string
		more, _, err = indexGitlinks(dirfd, shared, hashSize)
		links = append(links, more...)
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: filepath.Join(dir, shared), Err: err}
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: filepath.Join(dir, "index"), Err: err}
	}
	return links, nil
}

// indexGitlinks returns the gitlink paths of the index named name in the
// directory dirfd, whose object names are hashSize bytes (20 for SHA-1, 32
// for SHA-256), and the shared index a split index names (its file name
// beside it, or ""). A missing index has none.
func indexGitlinks(dirfd int, name string, hashSize int) ([]string, string, error) {
	f, size, err := openIndex(dirfd, name)
	if f == nil || err != nil {
		return nil, "", err
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.LimitReader(f, size), 64<<10)
	links, shared, _ := parseIndex(r, size, hashSize)
	return links, shared, nil
}

// openIndex opens an index file: a regular file, without following a
// link or blocking; nil when there is none. Errors are the errno, or
// errIndexTooLarge.
func openIndex(dirfd int, name string) (*os.File, int64, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	f := os.NewFile(uintptr(fd), name)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil // git would not read it either
	}
	if fi.Size() > maxIndexSize {
		f.Close()
		return nil, 0, errIndexTooLarge
	}
	return f, fi.Size(), nil
}

// parseIndex reads an index's entries and extensions from r (size bytes)
// and returns its gitlink paths and the shared index a split index names
// (sharedindex.HEX), with the first fault met.
func parseIndex(r *bufio.Reader, size int64, hashSize int) (links []string, shared string, err error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, "", err
	}
	version := binary.BigEndian.Uint32(hdr[4:])
	if string(hdr[:4]) != "DIRC" || version < 2 || version > 4 {
		return nil, "", errors.New("not a git index of version 2 to 4")
	}
	count := binary.BigEndian.Uint32(hdr[8:])
	read := int64(len(hdr))
	fixed := make([]byte, 40+hashSize+2)
	var prev []byte
	for range count {
		if _, err := io.ReadFull(r, fixed); err != nil {
			return links, "", err
		}
		n := len(fixed)
		mode := binary.BigEndian.Uint32(fixed[24:])
		flags := binary.BigEndian.Uint16(fixed[40+hashSize:])
		if version >= 3 && flags&0x4000 != 0 {
			if _, err := r.Discard(2); err != nil {
				return links, "", err
			}
			n += 2
		}
		var name []byte
		if version == 4 {
			strip, m, err := gitVarint(r)
			if err != nil || strip > uint64(len(prev)) {
				return links, "", errors.Join(err, errors.New("bad path prefix"))
			}
			suffix, err := readName(r)
			if err != nil {
				return links, "", err
			}
			name = append(prev[:len(prev)-int(strip):len(prev)-int(strip)], suffix...)
			n += m + len(suffix) + 1
		} else {
			if name, err = readName(r); err != nil {
				return links, "", err
			}
			// NULs pad the entry to a multiple of 8 bytes, the name's
			// own terminator among them.
			padded := (n + len(name) + 8) &^ 7
			if _, err := r.Discard(padded - n - len(name) - 1); err != nil {
				return links, "", err
			}
			n = padded
		}
		prev = name
		read += int64(n)
		if mode&0o170000 == gitlinkMode {
			links = append(links, string(name))
		}
	}
	// Extensions, up to the trailing checksum: a split index's "link"
	// names its shared index (sharedindex.HEX beside it).
	for read+8 <= size-int64(hashSize) {
		var eh [8]byte
		if _, err := io.ReadFull(r, eh[:]); err != nil {
			return links, shared, err
		}
		n := int64(binary.BigEndian.Uint32(eh[4:]))
		read += 8 + n
		if string(eh[:4]) != "link" {
			if _, err := r.Discard(int(min(n, size))); err != nil {
				return links, shared, err
			}
			continue
		}
		data := make([]byte, min(n, int64(hashSize)))
		if _, err := io.ReadFull(r, data); err != nil {
			return links, shared, err
		}
		shared = "sharedindex." + hex.EncodeToString(data)
		if _, err := r.Discard(int(n - int64(len(data)))); err != nil {
			return links, shared, err
		}
	}
	return links, shared, nil
}

// readName reads a NUL-terminated path (without the NUL).
func readName(r *bufio.Reader) ([]byte, error) {
	var name []byte
	for {
		chunk, err := r.ReadSlice(0)
		name = append(name, chunk...)
		if len(name) > maxIndexName {
			return nil, errors.New("path too long")
		}
		if err == nil {
			return name[:len(name)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// gitVarint reads git's offset varint (varint.c: each continuation adds
// one before shifting), and how many bytes it took.
func gitVarint(r *bufio.Reader) (uint64, int, error) {
	c, err := r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	v, n := uint64(c&127), 1
	for c&128 != 0 {
		if c, err = r.ReadByte(); err != nil {
			return 0, n, err
		}
		if n++; n > 9 {
			return 0, n, errors.New("varint too long")
		}
		v = (v+1)<<7 | uint64(c&127)
	}
	return v, n, nil
}

// gitlinkPath checks a gitlink's path as the index has it: relative,
// clean, no "." or ".." or .git component (git refuses those too).
func gitlinkPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." || strings.EqualFold(c, ".git") {
			return false
		}
	}
	return filepath.Clean(p) == p
}
