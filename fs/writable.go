package fs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds the symlinks followed while resolving one path, as the
// kernel's ELOOP limit does.
const maxLinks = 40

// WritableBindOver returns the writable bind of s through which the
// sandbox could change what path names on the host: a bind whose source
// is path's file itself, or a directory that resolving path looks a name
// up in (each directory of the path as given, each directory a symlink on
// the way lies in, and their ancestors). Binds are told apart by device
// and inode, not by their names, so a second name for a directory (a
// symlink, a bind mount on the host) cannot hide it. found is false when
// none is.
func (s Spec) WritableBindOver(path string) (op Op, found bool, err error) {
	type devIno struct{ dev, ino uint64 }
	key := func(p string) (devIno, error) {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return devIno{}, &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		return devIno{uint64(st.Dev), st.Ino}, nil
	}
	writable := map[devIno]Op{}
	for _, o := range s.Ops {
		if o.Kind != OpBind || !o.RW {
			continue
		}
		k, err := key(o.Source)
		if err != nil {
			return Op{}, false, err
		}
		writable[k] = o
	}
	if len(writable) == 0 {
		return Op{}, false, nil
	}
	looked, err := lookups(path)
	if err != nil {
		return Op{}, false, err
	}
	for _, p := range looked {
		k, err := key(p)
		if err != nil {
			return Op{}, false, err
		}
		if o, ok := writable[k]; ok {
			return o, true, nil
		}
	}
	return Op{}, false, nil
}

// lookups resolves path one name at a time, as the kernel does, and
// returns every directory it looks a name up in, then what path names:
// each as a real path. Resolution starts at "/" and walks down, so every
// ancestor of each of them is in the list too. A ".." leaves a directory
// without looking a name up in it: where it leads depends only on the
// directory's parent, which is in the list already.
func lookups(path string) ([]string, error) {
	abs := path // not filepath.Abs: it would take ".." lexically
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		abs = wd + "/" + path
	}
	rest := strings.Split(abs, "/")
	cur := "/"
	var out []string
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		out = append(out, cur) // name is looked up in cur
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if links++; links > maxLinks {
				return nil, &os.PathError{Op: "resolve", Path: path, Err: syscall.ELOOP}
			}
			target, err := os.Readlink(next)
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(next, "/proc/") && !filepath.IsAbs(target) && strings.Contains(target, ":") {
				// A descriptor's link to what has no name ("pipe:[…]",
				// as from <(...)): what was read is all there is.
				return append(out, next), nil
			}
			if filepath.IsAbs(target) {
				cur = "/"
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		cur = next
	}
	return append(out, cur), nil
}
