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

// A repository the run creates. protect_vcs binds the metadata that
// exists read-only (vcs.go); where none exists there is nothing to bind
// over without creating a file on the host, so a build whose directory is
// not a repository's root (a subdirectory of one, or outside any) could
// `git init` there, or write a .git file naming a git directory of its
// own, or an .hg, with core.fsmonitor or a hook: the caller's next `git
// status` in that directory would run it. The sandbox cannot be stopped
// from creating a name in a directory it may write, so jail looks after
// the run, on the host, at every place git and hg would look when the
// caller works there: the root of each writable directory bind and each
// directory from the working directory up to it (the directories between
// are pinned by protectVCS, so each stays at its path for the whole run).
//
// GuardVCS opens those directories before the sandbox starts (O_PATH, no
// symlink on the way, the root checked against its bind's device and
// inode) and records what each holds at the names git and hg look at.
// Sweep, once every process of the sandbox is gone, looks again through
// the same descriptors, never following a link or opening what the run
// made, and renames what is new in the same directory (renameat2 with
// RENAME_NOREPLACE) to NAME.jail-untrusted-N, a name neither tool looks
// at:
//
//   - a .git (directory, file or link) or .hg that was not there before,
//     or is not the object that was (same device and inode);
//   - the directory's HEAD, when the directory itself has come to look
//     like a git directory (HEAD with objects and refs, or with commondir):
//     git takes such a directory as a bare repository, and its config's
//     core.worktree makes it a work tree again, fsmonitor and all. HEAD is
//     what git requires of every git directory.
//
// A submodule directory that did not exist (protectVCS lists it in
// Spec.AbsentGitlinks: git status at the root would run git in it once it
// holds a repository) is looked into the same way: from the deepest
// directory on its way that existed (pinned), each component opened
// O_PATH|O_NOFOLLOW|O_DIRECTORY (nothing read, no link followed), and a
// .git there moved away. A name the profile binds itself is the caller's
// (the opt-in, as with protect_vcs's binds), and is left alone. What the sweep does not cover:
// a jail killed (SIGKILL) before it sweeps, a tool of the caller's (an
// editor's git integration) that runs git there while the sandbox runs,
// and a repository deeper than those places (git uses it only when you
// work in that directory).

// untrustedSuffix is what Sweep appends to a name it moves away.
const untrustedSuffix = ".jail-untrusted-"

// guardNames are the names a place's record holds: what git and hg look
// for in a directory, and what makes a directory a git directory itself.
var guardNames = []string{".git", ".hg", "HEAD", "commondir", "objects", "refs"}

// VCSGuard is what GuardVCS found before a run; Sweep checks it after.
type VCSGuard struct {
	places []*vcsPlace
	absent []*vcsAbsent
}

// vcsAbsent is a submodule directory that did not exist before the run.
type vcsAbsent struct {
	fd   int      // O_PATH descriptor of the deepest directory on its way
	path string   // the submodule directory's host path
	rel  []string // its path's components below fd
}

// vcsPlace is one directory where git or hg would look.
type vcsPlace struct {
	fd     int               // O_PATH descriptor, opened before the run
	path   string            // host path, for messages
	before map[string]FileID // what guardNames named before the run
	gitDir bool              // it looked like a git directory itself
	keep   map[string]bool   // names the profile binds itself
}

// VCSMoved is one thing Sweep moved away, or could not check.
type VCSMoved struct {
	Path string // what the run left (host path)
	To   string // where it is now; "" when it could not be moved
	Why  string // what it is
	Err  error  // why it could not be checked or moved
}

// GuardVCS opens the places of spec's writable directory binds (cwd is
// the working directory inside) and records what they hold. Call it
// before the sandbox starts, Sweep after its last process is gone, and
// Close.
func GuardVCS(spec Spec, cwd string) (*VCSGuard, error) {
	g := &VCSGuard{}
	seen := map[string]bool{}
	for _, b := range spec.Ops {
		if b.Kind != OpBind || !b.RW || !b.IsDir || strings.HasPrefix(b.Where, vcsWhere) {
			continue
		}
		for _, dir := range vcsDirs(b, cwd) {
			if seen[dir] {
				continue
			}
			seen[dir] = true
			pl, err := openPlace(spec, b, dir)
			if err != nil {
				g.Close()
				return nil, guardError(err)
			}
			g.places = append(g.places, pl)
		}
	}
	for _, p := range spec.AbsentGitlinks {
		a := filepath.Dir(p)
		for ; a != "/"; a = filepath.Dir(a) {
			if fi, err := os.Lstat(a); err == nil && fi.IsDir() {
				break
			}
		}
		fd, err := openDirNoLinks(a)
		if err != nil {
			g.Close()
			return nil, guardError(err)
		}
		rel, _ := filepath.Rel(a, p)
		g.absent = append(g.absent, &vcsAbsent{fd: fd, path: p, rel: strings.Split(rel, "/")})
	}
	return g, nil
}

// guardError is a failure of protect_vcs, with the way out.
func guardError(err error) error {
	return fmt.Errorf("protect_vcs: %w (set protect_vcs = false to run without the protection)", err)
}

// openDirNoLinks opens the directory at the real path dir, O_PATH, with
// no symlink on the way.
func openDirNoLinks(dir string) (int, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fd, nil
}

// openPlace opens dir, a directory of bind b, and records what it holds.
func openPlace(spec Spec, b Op, dir string) (*vcsPlace, error) {
	fd, err := openDirNoLinks(dir)
	if err != nil {
		return nil, err
	}
	pl := &vcsPlace{fd: fd, path: dir, before: map[string]FileID{}, keep: map[string]bool{}}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		pl.close()
		return nil, &os.PathError{Op: "fstat", Path: dir, Err: err}
	}
	if dir == b.Source && fileID(&st) != b.ID {
		pl.close()
		return nil, &os.PathError{Op: "open", Path: dir, Err: fmt.Errorf("%w: device %d inode %d, checked as device %d inode %d",
			ErrSourceChanged, st.Dev, st.Ino, b.ID.Dev, b.ID.Ino)}
	}
	inside := filepath.Join(b.Target, strings.TrimPrefix(dir, b.Source))
	for _, name := range guardNames {
		if id, ok, err := pl.stat(name); err != nil {
			pl.close()
			return nil, err
		} else if ok {
			pl.before[name] = id
		}
		target := filepath.Join(inside, name)
		if slices.ContainsFunc(spec.Ops, func(op Op) bool { return op.Target == target && !strings.HasPrefix(op.Where, vcsWhere) }) {
			pl.keep[name] = true
		}
	}
	pl.gitDir = pl.looksGitDir()
	return pl, nil
}

// stat finds name in the place, without following it.
func (pl *vcsPlace) stat(name string) (FileID, bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(pl.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
		return FileID{}, false, nil
	case err != nil:
		return FileID{}, false, &os.PathError{Op: "fstatat", Path: filepath.Join(pl.path, name), Err: err}
	}
	return fileID(&st), true, nil
}

func (pl *vcsPlace) has(name string) bool {
	_, ok, _ := pl.stat(name)
	return ok
}

// looksGitDir reports whether git could take the place for a git
// directory: a HEAD, and objects and refs there or a commondir naming
// where they are (git's is_git_directory, without reading anything).
func (pl *vcsPlace) looksGitDir() bool {
	return pl.has("HEAD") && (pl.has("commondir") || pl.has("objects") && pl.has("refs"))
}

// Sweep moves away what the run left where git and hg would look (see
// above) and returns what it moved, or could not check.
func (g *VCSGuard) Sweep() []VCSMoved {
	var out []VCSMoved
	for _, pl := range g.places {
		for _, name := range []string{".git", ".hg"} {
			if m, ok := pl.sweep(name); ok {
				out = append(out, m)
			}
		}
		if !pl.gitDir && !pl.keep["HEAD"] && pl.looksGitDir() {
			out = append(out, pl.moveAway("HEAD", "the HEAD of a git directory the directory has become (HEAD, objects, refs)"))
		}
	}
	for _, a := range g.absent {
		if pl := a.open(); pl != nil {
			if m, ok := pl.sweep(".git"); ok {
				m.Why = "a repository's metadata in a submodule directory that did not exist (git status at the repository's root runs git there)"
				out = append(out, m)
			}
			pl.close()
		}
	}
	return out
}

// sweep moves name away when it is new (see above); false when there is
// nothing to do.
func (pl *vcsPlace) sweep(name string) (VCSMoved, bool) {
	if pl.keep[name] {
		return VCSMoved{}, false
	}
	id, ok, err := pl.stat(name)
	if err != nil {
		return VCSMoved{Path: filepath.Join(pl.path, name), Err: err}, true
	}
	if was, existed := pl.before[name]; !ok || existed && was == id {
		return VCSMoved{}, false
	}
	return pl.moveAway(name, "a repository's metadata ("+name+")"), true
}

// open walks to the submodule directory the run may have made, a
// component at a time, never following a link; nil when it is not there
// as a directory (git does not go into it then).
func (a *vcsAbsent) open() *vcsPlace {
	fd := a.fd
	for _, c := range a.rel {
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if fd != a.fd {
			unix.Close(fd)
		}
		if err != nil {
			return nil
		}
		fd = next
	}
	if fd == a.fd {
		return nil // an empty path: not one protectVCS lists
	}
	return &vcsPlace{fd: fd, path: a.path, before: map[string]FileID{}, keep: map[string]bool{}}
}

// moveAway renames name to name.jail-untrusted-N in the same directory,
// with the first N free.
func (pl *vcsPlace) moveAway(name, why string) VCSMoved {
	m := VCSMoved{Path: filepath.Join(pl.path, name), Why: why}
	for n := 1; n <= 100; n++ {
		to := fmt.Sprintf("%s%s%d", name, untrustedSuffix, n)
		err := unix.Renameat2(pl.fd, name, pl.fd, to, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			m.Err = &os.LinkError{Op: "renameat2", Old: m.Path, New: filepath.Join(pl.path, to), Err: err}
		} else {
			m.To = filepath.Join(pl.path, to)
		}
		return m
	}
	m.Err = &os.PathError{Op: "renameat2", Path: m.Path, Err: fmt.Errorf("%s1 to %s100 all exist", untrustedSuffix, untrustedSuffix)}
	return m
}

// Close closes the places' descriptors.
func (g *VCSGuard) Close() {
	if g == nil {
		return
	}
	for _, pl := range g.places {
		pl.close()
	}
	for _, a := range g.absent {
		unix.Close(a.fd)
	}
	g.places, g.absent = nil, nil
}

func (pl *vcsPlace) close() {
	if pl.fd >= 0 {
		unix.Close(pl.fd)
		pl.fd = -1
	}
}
