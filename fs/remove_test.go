package fs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hostileTree makes dir/tree as a run might leave it: nested directories,
// files, a FIFO, and links to a victim directory and file outside it.
func hostileTree(t *testing.T, dir, victim string) string {
	t.Helper()
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"a/b/c", "d", "sticky"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(tree, "sticky"), 0o1777); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"f", "a/g", "a/b/c/h", "sticky/i"} {
		if err := os.WriteFile(filepath.Join(tree, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(tree, "a/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"a/b/to-victim": victim, "d/to-victim-file": filepath.Join(victim, "keep"), "loop": "loop"} {
		if err := os.Symlink(target, filepath.Join(tree, link)); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

func TestRemoveAt(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.MkdirAll(filepath.Join(victim, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "keep"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := hostileTree(t, dir, victim)
	sibling := filepath.Join(dir, "sibling")
	if err := os.WriteFile(sibling, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The proof that the links would take a naive walk out of the tree:
	// through them, the victim's files are reachable.
	if _, err := os.Stat(filepath.Join(tree, "a/b/to-victim/keep")); err != nil {
		t.Fatalf("the planted link does not reach the victim: %v", err)
	}
	parent, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(parent)
	if err := RemoveAt(parent, "tree", tree); err != nil {
		t.Fatalf("RemoveAt: %v", err)
	}
	if _, err := os.Lstat(tree); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the tree is still there: %v", err)
	}
	for _, p := range []string{filepath.Join(victim, "keep"), filepath.Join(victim, "sub"), sibling} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s, outside the tree, is gone: %v", p, err)
		}
	}
}

func TestRemoveAtLink(t *testing.T) {
	// The named entry itself a link to a directory: the link goes, the
	// directory stays.
	dir, victim := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(victim, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	parent, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(parent)
	if err := RemoveAt(parent, "link", dir+"/link"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "link")); err == nil {
		t.Error("the link is still there")
	}
	if _, err := os.Stat(filepath.Join(victim, "keep")); err != nil {
		t.Errorf("the link's target lost its file: %v", err)
	}
	if err := RemoveAt(parent, "missing", dir+"/missing"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), dir+"/missing") {
		t.Errorf("a missing name: %v", err)
	}
}

// TestRemoveAtMountPoint: a mount inside the tree is not entered (as root,
// who can mount one here).
func TestRemoveAtMountPoint(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "tree", "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("mount: %v", err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	if err := os.WriteFile(filepath.Join(mnt, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	parent, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(parent)
	if err := RemoveAt(parent, "tree", dir+"/tree"); err == nil || !strings.Contains(err.Error(), "is a mount point") {
		t.Errorf("RemoveAt across a mount: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "keep")); err != nil {
		t.Errorf("a file on the mount inside the tree is gone: %v", err)
	}
}
