package fs

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// WritableBindOver returns the writable bind of s through which the
// sandbox could change what path names on the host: a bind whose source
// is path's file itself, or a directory that resolving path looks a name
// up in (each directory of the path as given, each directory a symlink on
// the way lies in, and their ancestors: the host path walk's record).
// Binds are told apart by device and inode (the ID Compile recorded), not
// by their names, so a second name for a directory (a symlink, a bind
// mount on the host) cannot hide it. found is false when none is.
func (s Spec) WritableBindOver(path string) (op Op, found bool, err error) {
	writable := map[FileID]Op{}
	for _, o := range s.Ops {
		if o.Kind == OpBind && o.RW {
			writable[o.ID] = o
		}
	}
	if len(writable) == 0 {
		return Op{}, false, nil
	}
	w, err := walk(path, func(_ string, _ *unix.Stat_t, target string, _ bool) (bool, error) {
		// A descriptor's link to what has no name ("pipe:[…]", as from
		// <(...)): what was read is all there is.
		return strings.HasPrefix(target, "/") || !strings.Contains(target, ":["), nil
	})
	if err == nil && w.st == nil {
		w.close()
		err = &os.PathError{Op: "open", Path: path, Err: unix.ENOENT}
	}
	if err != nil {
		return Op{}, false, err
	}
	defer w.close()
	looked := w.dirs
	for _, l := range w.links {
		looked = append(looked, l.dirs...)
	}
	if w.st != nil {
		looked = append(looked, fileID(w.st))
	}
	for _, id := range looked {
		if o, ok := writable[id]; ok {
			return o, true, nil
		}
	}
	return Op{}, false, nil
}
