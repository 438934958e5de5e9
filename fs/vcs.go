package fs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Version-control metadata is configuration that the host's tools execute:
// git runs core.fsmonitor, hooks and filter drivers from .git/config and
// .git/hooks on the next `git status` in that directory, hg runs the hooks
// of .hg/hgrc. A run that could write them would run code on the host
// after it ended. With profile.ProtectVCS, Compile finds that metadata in
// the writable binds and binds it read-only over itself (protectVCS):
//
//   - the .git (directory or file) and .hg at the root of each writable
//     directory bind, and in each directory from the working directory up
//     to that root when the working directory lies inside it;
//   - what a .git file names (gitdir: of a worktree or a submodule) and a
//     git directory's commondir, and hg's sharedpath;
//   - the .git files of a git directory's worktrees (worktrees/*/gitdir)
//     and submodules (modules/**/config core.worktree): git status in the
//     repository runs git in each submodule;
//   - the submodule directories its index lists (gitlinks, gitindex.go):
//     a checked-out one's .git, and one that is not checked out, the
//     directory itself, so that the run cannot make it a repository;
//
// each when it lies inside a writable bind (elsewhere the sandbox cannot
// write it, or does not see it). An entry of the profile at the same target
// wins (`--bind .git` makes it writable again).
//
// Why a bind holds: a mount point cannot be renamed, removed or replaced
// from inside its mount namespace (rename, unlink and rmdir answer EBUSY,
// the kernel's is_local_mountpoint check), and a read-only bind cannot be
// written through. A .git at the root of a writable bind (the build
// profile's case) is a direct child of a mount point: neither it nor its
// parent can move. A deeper one could still be moved with its parent (a
// rename of the directory holding .git carries the mount along, and the
// sandbox puts a .git of its own at the old path), so every directory
// between the bind's root and the protected path is bound onto itself
// too, writable: it becomes a mount point that cannot move, while its
// contents stay the sandbox's to change.
//
// Where no .git or .hg exists there is nothing to bind over: the
// directories from the working directory up to the bind's root are pinned
// (bound onto themselves, writable) so that GuardVCS (vcsguard.go), after
// the run, finds at each path the directory it recorded, and moves away a
// repository the run created there.
//
// A submodule directory that is missing is left to GuardVCS as well
// (Spec.AbsentGitlinks), the deepest directory on its way pinned.
//
// Not covered: a new repository the run creates in a deeper subdirectory
// (git there would use it), and a .git that is a symlink deeper than those
// places (what it names is kept read-only; the link itself can be
// replaced, which GuardVCS catches only where it looks).

// vcsWhere is the Where of the binds protectVCS adds.
const vcsWhere = "protect_vcs"

// vcsNames are the metadata directories looked for.
var vcsNames = []string{".git", ".hg"}

// vcsBudget bounds how many directory entries and files protectVCS reads
// in worktrees/ and modules/: what a run left there cannot make the host
// walk for long.
const vcsBudget = 4096

// vcsScan collects the host paths (real, without symlinks) to protect.
type vcsScan struct {
	binds  []Op            // the writable directory binds
	paths  map[string]bool // to bind read-only
	pins   map[string]bool // to bind onto themselves, writable
	absent []string        // submodule directories that do not exist
	seen   map[string]bool // git directories already scanned
	budget int
	err    error
}

// protectVCS returns ops with read-only binds of the version-control
// metadata inside writable binds added, each after the bind that shows it
// (see above), and the submodule directories that do not exist, for
// GuardVCS to look at after the run. cwd is the working directory inside
// the sandbox.
func protectVCS(ops []Op, cwd string) ([]Op, []string, error) {
	s := &vcsScan{paths: map[string]bool{}, pins: map[string]bool{}, seen: map[string]bool{}, budget: vcsBudget}
	for _, op := range ops {
		if op.Kind == OpBind && op.RW && op.IsDir {
			s.binds = append(s.binds, op)
		}
	}
	for _, b := range s.binds {
		for _, dir := range vcsDirs(b, cwd) {
			for _, name := range vcsNames {
				s.entry(filepath.Join(dir, name))
			}
			if dir != b.Source {
				s.pins[dir] = true // where GuardVCS looks after the run
			}
		}
	}
	if s.err != nil {
		return nil, nil, s.err
	}
	if len(s.paths) == 0 && len(s.pins) == 0 {
		return ops, nil, nil
	}

	// The paths to bind, outermost first; one inside another read-only
	// path is covered.
	var paths []string
	for _, p := range slices.Sorted(maps.Keys(s.paths)) {
		if !slices.ContainsFunc(paths, func(q string) bool { return within(p, q) }) {
			paths = append(paths, p)
		}
	}
	for p := range s.pins {
		if !slices.ContainsFunc(paths, func(q string) bool { return within(p, q) && s.paths[q] }) {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []Op
	for i, op := range ops {
		out = append(out, op)
		if op.Kind != OpBind || !op.RW || !op.IsDir {
			continue
		}
		// The profile's entries that come later, on top of this bind,
		// win; each bind gets its own binds (another writable bind over a
		// part of this one hides what was added after this one).
		taken := map[string]bool{}
		for _, later := range ops[i+1:] {
			taken[later.Target] = true
		}
		for _, p := range paths {
			if !within(p, op.Source) || p == op.Source {
				continue
			}
			target := filepath.Join(op.Target, strings.TrimPrefix(p, op.Source))
			if taken[target] {
				continue // the profile's own entry there wins
			}
			// Pin the directories between the bind's root and p, and p
			// itself when it is a directory GuardVCS looks in.
			rel := strings.Split(strings.TrimPrefix(p, op.Source+"/"), "/")
			for i := 1; i < len(rel); i++ {
				dir := filepath.Join(op.Target, filepath.Join(rel[:i]...))
				if !taken[dir] {
					taken[dir] = true
					pin, err := vcsBind(filepath.Join(op.Source, filepath.Join(rel[:i]...)), dir, true, vcsWhere+" (pins "+p+")")
					if err != nil {
						return nil, nil, err
					}
					out = append(out, pin)
				}
			}
			taken[target] = true
			where := vcsWhere
			if !s.paths[p] {
				where += " (pins " + p + ")"
			}
			bind, err := vcsBind(p, target, !s.paths[p], where)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, bind)
		}
	}
	return out, s.absent, nil
}

// vcsBind is a bind of the host path p (real when it was scanned),
// resolved once as every bind source is (resolveSource), so that Setup
// mounts the object checked here or nothing: a path that has become a
// symlink since the scan is an error, never followed.
func vcsBind(p, target string, rw bool, where string) (Op, error) {
	src, err := resolveSource(p)
	if err == nil && (src.link != "" || src.path != p) {
		err = &os.PathError{Op: "resolve", Path: p, Err: ErrSourceChanged}
	}
	if err != nil {
		return Op{}, fmt.Errorf("%s: %w", vcsWhere, err)
	}
	return Op{Kind: OpBind, Source: src.path, Target: target, RW: rw, IsDir: src.isDir, ID: src.id, Where: where}, nil
}

// vcsDirs are the directories of bind b where metadata is looked for: its
// root, and when cwd lies inside it, the directories from cwd up to the
// root (host paths, resolved; those that leave the bind are dropped).
func vcsDirs(b Op, cwd string) []string {
	dirs := []string{b.Source}
	if cwd != b.Target && !within(cwd, b.Target) {
		return dirs
	}
	host, err := filepath.EvalSymlinks(filepath.Join(b.Source, strings.TrimPrefix(cwd, b.Target)))
	if err != nil || !within(host, b.Source) {
		return dirs
	}
	for d := host; d != b.Source; d = filepath.Dir(d) {
		dirs = append(dirs, d)
	}
	return dirs
}

// entry looks at one .git or .hg.
func (s *vcsScan) entry(p string) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return
	}
	if err != nil {
		s.fail(err)
		return
	}
	git := filepath.Base(p) == ".git"
	switch {
	case fi.IsDir():
		s.add(p)
		if git {
			s.gitDir(p)
			s.gitlinks(p, filepath.Dir(p))
		} else {
			s.hgDir(p)
		}
	case fi.Mode().IsRegular() && git:
		// A worktree's or a submodule's .git file: "gitdir: DIR".
		s.add(p)
		if text, ok := s.read(p); ok {
			if dir, ok := strings.CutPrefix(firstLine(text), "gitdir:"); ok {
				s.gitlinks(s.gitDirRef(filepath.Dir(p), strings.TrimSpace(dir)), filepath.Dir(p))
			}
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if git {
				s.gitlinks(s.gitDirRef(filepath.Dir(p), real), filepath.Dir(p))
			} else if s.writable(real) {
				s.add(real)
			}
		}
	}
}

// gitDirRef protects the git directory that ref (relative to base) names,
// when a writable bind holds it, and returns its real path ("" when there
// is none).
func (s *vcsScan) gitDirRef(base, ref string) string {
	if ref == "" {
		return ""
	}
	if !filepath.IsAbs(ref) {
		ref = filepath.Join(base, ref)
	}
	real, err := filepath.EvalSymlinks(ref)
	if err != nil {
		return "" // a dangling reference: git fails there too
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return ""
	}
	if s.writable(real) {
		s.add(real)
		s.gitDir(real)
	}
	return real
}

// gitDir follows a git directory's references: its commondir (a
// worktree's shared repository), its worktrees' .git files and its
// submodules' (recursively).
func (s *vcsScan) gitDir(dir string) {
	if s.seen[dir] {
		return
	}
	s.seen[dir] = true
	if text, ok := s.read(filepath.Join(dir, "commondir")); ok {
		s.gitDirRef(dir, strings.TrimSpace(firstLine(text)))
	}
	for _, name := range s.list(filepath.Join(dir, "worktrees")) {
		if text, ok := s.read(filepath.Join(dir, "worktrees", name, "gitdir")); ok {
			file := strings.TrimSpace(firstLine(text))
			s.gitFile(file)
			s.gitlinks(filepath.Join(dir, "worktrees", name), filepath.Dir(file))
		}
	}
	s.modules(filepath.Join(dir, "modules"))
}

// modules walks a modules/ directory: a submodule's git directory holds a
// config naming its work tree (core.worktree); a name may have slashes, so
// directories without a config are walked into.
func (s *vcsScan) modules(dir string) {
	for _, name := range s.list(dir) {
		m := filepath.Join(dir, name)
		text, ok := s.read(filepath.Join(m, "config"))
		if !ok {
			s.modules(m)
			continue
		}
		if wt := gitConfigValue(text, "core", "worktree"); wt != "" {
			if !filepath.IsAbs(wt) {
				wt = filepath.Join(m, wt)
			}
			s.gitFile(filepath.Join(wt, ".git"))
			s.gitlinks(m, wt)
		}
		s.gitDir(m)
	}
}

// gitFile protects a worktree's or submodule's .git file at p.
func (s *vcsScan) gitFile(p string) {
	p = filepath.Clean(p)
	real, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return
	}
	p = filepath.Join(real, filepath.Base(p))
	if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && s.writable(p) {
		s.add(p)
	}
}

// gitlinks protects the submodule directories of the work tree whose git
// directory is gitDir (real paths), as its index lists them (gitindex.go):
// git status at the work tree's root runs git in each that holds a .git.
// A checked-out submodule's .git is protected as any (entry); the
// directory of one that is not checked out is bound read-only itself, so
// that the run cannot make it a repository.
func (s *vcsScan) gitlinks(gitDir, workTree string) {
	if gitDir == "" || s.seen["index:"+gitDir] {
		return
	}
	s.seen["index:"+gitDir] = true
	wt, err := filepath.EvalSymlinks(workTree)
	if err != nil {
		return
	}
	fd, err := unix.Open(gitDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	links, err := readGitlinks(fd, gitDir, s.hashSize(gitDir))
	if err != nil {
		s.fail(err)
		return
	}
	for _, rel := range links {
		if s.budget--; s.budget <= 0 {
			return
		}
		if gitlinkPath(rel) {
			s.gitlink(filepath.Join(wt, rel))
		}
	}
}

// gitlink protects the submodule directory p (see gitlinks). One that is
// missing is left to GuardVCS (absentGitlink); one behind a symlink is
// one git does not go into.
func (s *vcsScan) gitlink(p string) {
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) {
		s.absentGitlink(p)
		return
	}
	if err != nil || real != p || !s.writable(p) {
		return
	}
	if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
		return
	}
	if _, err := os.Lstat(filepath.Join(p, ".git")); err == nil {
		s.entry(filepath.Join(p, ".git"))
		return
	}
	s.add(p)
}

// absentGitlink records the submodule directory p, which does not exist:
// the run could create it, and a repository in it, so GuardVCS looks
// there after the run. The deepest directory on its way that exists (real,
// inside a writable bind) is pinned, so that it stays at its path.
func (s *vcsScan) absentGitlink(p string) {
	a := filepath.Dir(p)
	for ; a != "/"; a = filepath.Dir(a) {
		if fi, err := os.Lstat(a); err == nil && fi.IsDir() {
			break
		}
	}
	if real, err := filepath.EvalSymlinks(a); err != nil || real != a {
		return
	}
	for _, b := range s.binds {
		if within(a, b.Source) {
			if a != b.Source {
				s.pins[a] = true
			}
			s.absent = append(s.absent, p)
			return
		}
	}
}

// hashSize is the length of an object name in the repository of the git
// directory dir: 32 bytes with extensions.objectFormat = sha256 in its
// config (its common directory's, for a worktree's), else 20.
func (s *vcsScan) hashSize(dir string) int {
	if text, ok := s.read(filepath.Join(dir, "commondir")); ok {
		if ref := strings.TrimSpace(firstLine(text)); filepath.IsAbs(ref) {
			dir = ref
		} else if ref != "" {
			dir = filepath.Join(dir, ref)
		}
	}
	if text, ok := s.read(filepath.Join(dir, "config")); ok && strings.EqualFold(gitConfigValue(text, "extensions", "objectformat"), "sha256") {
		return 32
	}
	return 20
}

// hgDir follows .hg/sharedpath (hg share: the shared repository's .hg).
func (s *vcsScan) hgDir(dir string) {
	text, ok := s.read(filepath.Join(dir, "sharedpath"))
	if !ok {
		return
	}
	ref := strings.TrimSpace(firstLine(text))
	if ref == "" {
		return
	}
	if !filepath.IsAbs(ref) {
		ref = filepath.Join(dir, ref)
	}
	if real, err := filepath.EvalSymlinks(ref); err == nil && s.writable(real) {
		if fi, err := os.Stat(real); err == nil && fi.IsDir() {
			s.add(real)
		}
	}
}

func (s *vcsScan) add(p string) { s.paths[p] = true }

func (s *vcsScan) fail(err error) {
	if s.err == nil {
		s.err = guardError(err)
	}
}

// writable reports whether a writable bind holds the real path p.
func (s *vcsScan) writable(p string) bool {
	return slices.ContainsFunc(s.binds, func(b Op) bool { return within(p, b.Source) && p != b.Source })
}

// list returns the names in dir, within the budget; none when dir is not
// a directory.
func (s *vcsScan) list(dir string) []string {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if s.budget <= 0 {
		return nil
	}
	names, _ := f.Readdirnames(s.budget)
	s.budget -= len(names)
	slices.Sort(names)
	return names
}

// read returns the start of a small regular file, opened without following
// a link and without blocking (a run may have put anything there), within
// the budget.
func (s *vcsScan) read(p string) (string, bool) {
	if s.budget--; s.budget <= 0 {
		return "", false
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	return string(b), err == nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// gitConfigValue finds key in [section] of a git config file's text: the
// simple form git writes itself (key = value, optionally quoted).
func gitConfigValue(text, section, key string) string {
	in := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			name, _, _ := strings.Cut(strings.Trim(line, "[]"), " ")
			in = strings.EqualFold(name, section)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if in && ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// within reports whether path p is dir or lies below it (clean absolute
// paths, compared by components).
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}
