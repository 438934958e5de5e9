package fs

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// hostGit runs git in dir with no configuration but the repository's.
func hostGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %q in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestReadGitlinks: the gitlinks of indexes that git wrote, in each
// version (3 with an extended flag, 4 with prefix-compressed paths), with
// SHA-256 object names, and split (the shared index holds the older ones).
func TestReadGitlinks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format string
		setup  [][]string
	}{
		{name: "version 2", format: "sha1", setup: [][]string{{"update-index", "--index-version", "2"}}},
		{name: "version 3", format: "sha1", setup: [][]string{{"add", "-N", "intent"}, {"update-index", "--index-version", "3"}}},
		{name: "version 4", format: "sha1", setup: [][]string{{"update-index", "--index-version", "4"}}},
		{name: "sha256, version 4", format: "sha256", setup: [][]string{{"update-index", "--index-version", "4"}}},
		{name: "split", format: "sha1", setup: [][]string{{"update-index", "--split-index"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			hostGit(t, dir, "init", "-q", "--object-format="+tc.format)
			for _, f := range []string{"a.c", "mods/x.c", "mods/lib-other.c", "intent"} {
				_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
				if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			hostGit(t, dir, "add", "a.c", "mods")
			hostGit(t, dir, "commit", "-qm", "first")
			commit := hostGit(t, dir, "rev-parse", "HEAD")
			hostGit(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+commit+",mods/lib")
			for _, args := range tc.setup {
				hostGit(t, dir, args...)
			}
			// After the split, this one lands in .git/index, the first in
			// the shared index.
			hostGit(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+commit+",mods/lib2/deep")
			if tc.name == "split" {
				if m, _ := filepath.Glob(filepath.Join(dir, ".git", "sharedindex.*")); len(m) != 1 {
					t.Fatalf("no shared index: %v", m)
				}
			}
			fd, err := unix.Open(filepath.Join(dir, ".git"), unix.O_PATH|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			hashSize := 20
			if tc.format == "sha256" {
				hashSize = 32
			}
			links, err := readGitlinks(fd, dir+"/.git", hashSize)
			slices.Sort(links)
			links = slices.Compact(links)
			if err != nil || !slices.Equal(links, []string{"mods/lib", "mods/lib2/deep"}) {
				t.Errorf("gitlinks %q, %v", links, err)
			}
		})
	}
}

// TestParseIndexHostile: an index a run could have written is read within
// bounds: a truncated or garbled one yields what came before the fault.
func TestParseIndexHostile(t *testing.T) {
	dir := t.TempDir()
	hostGit(t, dir, "init", "-q")
	commit := strings.Repeat("1", 40)
	hostGit(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+commit+",a", "--cacheinfo", "160000,"+commit+",b")
	data, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 5, 12, 70, len(data) - 30} {
		if err := os.WriteFile(filepath.Join(dir, ".git", "index"), data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		fd, _ := unix.Open(filepath.Join(dir, ".git"), unix.O_PATH|unix.O_DIRECTORY, 0)
		links, err := readGitlinks(fd, "x", 20)
		unix.Close(fd)
		if err != nil || len(links) > 2 {
			t.Errorf("cut at %d: %q, %v", cut, links, err)
		}
	}
	// A FIFO or a link at the index's name is not read.
	os.Remove(filepath.Join(dir, ".git", "index"))
	if err := unix.Mkfifo(filepath.Join(dir, ".git", "index"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, _ := unix.Open(filepath.Join(dir, ".git"), unix.O_PATH|unix.O_DIRECTORY, 0)
	defer unix.Close(fd)
	if links, err := readGitlinks(fd, "x", 20); err != nil || len(links) != 0 {
		t.Errorf("FIFO: %q, %v", links, err)
	}
	os.Remove(filepath.Join(dir, ".git", "index"))
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, ".git", "index")); err != nil {
		t.Fatal(err)
	}
	if links, err := readGitlinks(fd, "x", 20); err == nil {
		t.Errorf("symlink: %q, read through it", links)
	}
}

// TestProtectVCSGitlinks: a submodule that is not checked out is bound
// read-only itself (the directories above it pinned); a checked-out one
// with a .git directory of its own has it bound read-only; a missing one
// is listed for GuardVCS, the deepest directory on its way pinned.
func TestProtectVCSGitlinks(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(root, "repo")
	for _, d := range []string{"repo/mods/empty", "repo/own/.git", "repo/deep"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hostGit(t, repo, "init", "-q")
	commit := strings.Repeat("1", 40)
	for _, p := range []string{"mods/empty", "own", "missing", "deep/gone/lib"} {
		hostGit(t, repo, "update-index", "--add", "--cacheinfo", "160000,"+commit+","+p)
	}
	got, absent, err := protectVCS([]Op{{Kind: OpBind, Source: repo, Target: "/r", RW: true, IsDir: true, Where: "mount[0]"}}, "/r")
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].ID = FileID{}
	}
	want := []Op{
		{Kind: OpBind, Source: repo, Target: "/r", RW: true, IsDir: true, Where: "mount[0]"},
		{Kind: OpBind, Source: repo + "/.git", Target: "/r/.git", IsDir: true, Where: "protect_vcs"},
		{Kind: OpBind, Source: repo + "/deep", Target: "/r/deep", RW: true, IsDir: true, Where: "protect_vcs (pins " + repo + "/deep)"},
		{Kind: OpBind, Source: repo + "/mods", Target: "/r/mods", RW: true, IsDir: true, Where: "protect_vcs (pins " + repo + "/mods/empty)"},
		{Kind: OpBind, Source: repo + "/mods/empty", Target: "/r/mods/empty", IsDir: true, Where: "protect_vcs"},
		{Kind: OpBind, Source: repo + "/own", Target: "/r/own", RW: true, IsDir: true, Where: "protect_vcs (pins " + repo + "/own/.git)"},
		{Kind: OpBind, Source: repo + "/own/.git", Target: "/r/own/.git", IsDir: true, Where: "protect_vcs"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", opLines(got), opLines(want))
	}
	// The missing ones, for GuardVCS; the deepest directory on the way of
	// each is pinned above (the bind's root, deep).
	slices.Sort(absent)
	if want := []string{repo + "/deep/gone/lib", repo + "/missing"}; !slices.Equal(absent, want) {
		t.Errorf("absent %q, want %q", absent, want)
	}
}
