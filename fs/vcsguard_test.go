package fs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGuardVCS: what the run left where git and hg look (and in a
// submodule directory that did not exist) is moved away, what was there
// stays, a link is not followed, and a name the profile binds itself is
// the caller's.
func TestGuardVCS(t *testing.T) {
	root := vcsTree(t, map[string]string{
		"w/.git/HEAD": "ref: refs/heads/main\n",
		"w/sub/deep/": "",
		"w/other/":    "",
		"w/mods/":     "",
		"keep/":       "",
	})
	spec := Spec{Ops: []Op{
		{Kind: OpBind, Source: root + "/w", Target: "/w", RW: true, IsDir: true, Where: "mount[0]"},
		{Kind: OpBind, Source: root + "/keep", Target: "/k", RW: true, IsDir: true, Where: "mount[1]"},
		{Kind: OpDir, Target: "/k/.hg", Where: "mount[2]"},
	}, AbsentGitlinks: []string{root + "/w/mods/lib", root + "/w/other/x/lib", root + "/w/none/lib"}}
	for i := range spec.Ops[:2] {
		var st unix.Stat_t
		if err := unix.Stat(spec.Ops[i].Source, &st); err != nil {
			t.Fatal(err)
		}
		spec.Ops[i].ID = fileID(&st)
	}
	g, err := GuardVCS(spec, "/w/sub/deep")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// The run: a repository in the working directory, a .git file and an
	// .hg above it, the directory between made a git directory itself,
	// one deeper than the places, and one where the profile binds .hg.
	// Submodule directories that did not exist: one made with a .git,
	// one behind a symlink (git does not go there), one not made.
	for _, d := range []string{"w/sub/deep/.git", "w/.hg", "w/sub/objects", "w/sub/refs", "w/other/.git", "keep/.hg", "w/mods/lib/.git", "elsewhere/lib/.git"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{"w/sub/.git": "gitdir: x\n", "w/sub/HEAD": "ref: refs/heads/main\n", "w/sub/deep/.git.jail-untrusted-1": ""} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(root+"/elsewhere", root+"/w/other/x"); err != nil {
		t.Fatal(err)
	}
	var moved []string
	for _, m := range g.Sweep() {
		if m.Err != nil {
			t.Errorf("%s: %v", m.Path, m.Err)
		}
		moved = append(moved, strings.TrimPrefix(m.Path, root+"/")+" -> "+strings.TrimPrefix(m.To, root+"/"))
	}
	slices.Sort(moved)
	want := []string{
		"w/.hg -> w/.hg.jail-untrusted-1",
		"w/mods/lib/.git -> w/mods/lib/.git.jail-untrusted-1",
		"w/sub/.git -> w/sub/.git.jail-untrusted-1",
		"w/sub/HEAD -> w/sub/HEAD.jail-untrusted-1",
		"w/sub/deep/.git -> w/sub/deep/.git.jail-untrusted-2",
	}
	if !slices.Equal(moved, want) {
		t.Errorf("moved\n%s\nwant\n%s", strings.Join(moved, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range []string{"w/.git/HEAD", "w/other/.git", "keep/.hg", "elsewhere/lib/.git", "w/sub/deep/.git.jail-untrusted-2", "w/sub/.git.jail-untrusted-1"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if again := g.Sweep(); len(again) != 0 {
		t.Errorf("a second sweep: %v", again)
	}
}
