package fs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jail-sandbox/jail/profile"
)

// vcsTree creates the files named (a name ending in / is a directory) under
// a fresh directory and returns its real path.
func vcsTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		p := filepath.Join(root, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "ROOT", root)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestProtectVCS(t *testing.T) {
	root := vcsTree(t, map[string]string{
		// A repository at the root of a writable bind, with a worktree and
		// a submodule inside it, and a worktree elsewhere (not bound).
		"proj/.git/HEAD":                  "ref: refs/heads/main\n",
		"proj/.git/worktrees/wt/gitdir":   "ROOT/proj/wt/.git\n",
		"proj/.git/worktrees/away/gitdir": "ROOT/away/.git\n",
		"proj/.git/modules/lib/HEAD":      "x\n",
		"proj/.git/modules/lib/config":    "[core]\n\tbare = false\n\tworktree = ../../../lib\n",
		"proj/wt/.git":                    "gitdir: ROOT/proj/.git/worktrees/wt\n",
		"proj/lib/.git":                   "gitdir: ../.git/modules/lib\n",
		"proj/src/":                       "",
		"away/.git":                       "gitdir: ROOT/proj/.git/worktrees/away\n",
		// A bind whose root holds no repository, the working directory
		// deep inside a repository below it.
		"work/a/.git/HEAD": "x\n",
		"work/a/.hg/hgrc":  "[hooks]\n",
		"work/a/b/c/":      "",
		// A worktree's .git file naming a git directory in another
		// writable bind, whose commondir is there too.
		"sep/.git":                "gitdir: ROOT/gitdirs/main.git/worktrees/sep\n",
		"gitdirs/main.git/config": "[core]\n",
		"gitdirs/main.git/worktrees/sep/commondir": "../..\n",
		"gitdirs/main.git/worktrees/sep/HEAD":      "x\n",
		// hg share whose source lies outside any writable bind.
		"shared/.hg/sharedpath": "ROOT/hgsrc/.hg\n",
		"hgsrc/.hg/hgrc":        "",
	})
	bind := func(src, target string, rw bool) Op {
		return Op{Kind: OpBind, Source: root + "/" + src, Target: target, RW: rw, IsDir: true, Where: "mount"}
	}
	ro := func(src, target string, dir bool) Op {
		return Op{Kind: OpBind, Source: root + "/" + src, Target: target, IsDir: dir, Where: "protect_vcs"}
	}
	pin := func(src, target, pinned string) Op {
		return Op{Kind: OpBind, Source: root + "/" + src, Target: target, RW: true, IsDir: true, Where: "protect_vcs (pins " + root + "/" + pinned + ")"}
	}
	tests := []struct {
		name string
		cwd  string
		ops  []Op
		want []Op
	}{
		{
			name: "repository at the bind's root, its worktree and submodule",
			cwd:  "/p/src",
			ops:  []Op{bind("proj", "/p", true)},
			want: []Op{
				bind("proj", "/p", true),
				ro("proj/.git", "/p/.git", true),
				pin("proj/lib", "/p/lib", "proj/lib/.git"),
				ro("proj/lib/.git", "/p/lib/.git", false),
				pin("proj/src", "/p/src", "proj/src"), // the working directory: GuardVCS looks there
				pin("proj/wt", "/p/wt", "proj/wt/.git"),
				ro("proj/wt/.git", "/p/wt/.git", false),
			},
		},
		{
			name: "read-only binds need nothing",
			cwd:  "/p",
			ops:  []Op{bind("proj", "/p", false)},
			want: []Op{bind("proj", "/p", false)},
		},
		{
			name: "the profile's own entry at the target wins",
			cwd:  "/p",
			ops:  []Op{bind("proj", "/p", true), bind("proj/.git", "/p/.git", true)},
			want: []Op{
				bind("proj", "/p", true),
				pin("proj/lib", "/p/lib", "proj/lib/.git"),
				ro("proj/lib/.git", "/p/lib/.git", false),
				pin("proj/wt", "/p/wt", "proj/wt/.git"),
				ro("proj/wt/.git", "/p/wt/.git", false),
				bind("proj/.git", "/p/.git", true),
			},
		},
		{
			name: "an entry before the bind is under it: it does not win",
			cwd:  "/p",
			ops:  []Op{bind("proj/wt", "/p/wt", true), bind("proj", "/p", true)},
			want: []Op{
				bind("proj/wt", "/p/wt", true),
				ro("proj/wt/.git", "/p/wt/.git", false),
				bind("proj", "/p", true),
				ro("proj/.git", "/p/.git", true),
				pin("proj/lib", "/p/lib", "proj/lib/.git"),
				ro("proj/lib/.git", "/p/lib/.git", false),
				pin("proj/wt", "/p/wt", "proj/wt/.git"),
				ro("proj/wt/.git", "/p/wt/.git", false),
			},
		},
		{
			name: "working directory inside a repository below the bind's root",
			cwd:  "/w/a/b/c",
			ops:  []Op{bind("work", "/w", true)},
			want: []Op{
				bind("work", "/w", true),
				pin("work/a", "/w/a", "work/a"),
				ro("work/a/.git", "/w/a/.git", true),
				ro("work/a/.hg", "/w/a/.hg", true),
				pin("work/a/b", "/w/a/b", "work/a/b"),
				pin("work/a/b/c", "/w/a/b/c", "work/a/b/c"),
			},
		},
		{
			name: "working directory outside the bind: its root only",
			cwd:  "/",
			ops:  []Op{bind("work", "/w", true)},
			want: []Op{bind("work", "/w", true)},
		},
		{
			name: "a .git file naming a directory in another writable bind",
			cwd:  "/sep",
			ops:  []Op{bind("sep", "/sep", true), bind("gitdirs", "/g", true)},
			want: []Op{
				bind("sep", "/sep", true),
				ro("sep/.git", "/sep/.git", false),
				bind("gitdirs", "/g", true),
				ro("gitdirs/main.git", "/g/main.git", true),
			},
		},
		{
			name: "a .git file naming a directory the sandbox cannot write",
			cwd:  "/sep",
			ops:  []Op{bind("sep", "/sep", true), bind("gitdirs", "/g", false)},
			want: []Op{
				bind("sep", "/sep", true),
				ro("sep/.git", "/sep/.git", false),
				bind("gitdirs", "/g", false),
			},
		},
		{
			name: "hg share: the shared .hg when writable",
			cwd:  "/s",
			ops:  []Op{bind("shared", "/s", true), bind("hgsrc", "/h", true)},
			want: []Op{
				bind("shared", "/s", true),
				ro("shared/.hg", "/s/.hg", true),
				bind("hgsrc", "/h", true),
				ro("hgsrc/.hg", "/h/.hg", true),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := protectVCS(tc.ops, tc.cwd)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i].Where == "protect_vcs" || strings.HasPrefix(got[i].Where, "protect_vcs (") {
					if got[i].ID == (FileID{}) {
						t.Errorf("%s: no device and inode recorded", got[i].Source)
					}
					got[i].ID = FileID{}
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", opLines(got), opLines(tc.want))
			}
		})
	}
}

func opLines(ops []Op) string {
	var b strings.Builder
	for _, op := range ops {
		b.WriteString(op.Source + " -> " + op.Target)
		if op.RW {
			b.WriteString(" rw")
		}
		b.WriteString(" (" + op.Where + ")\n")
	}
	return b.String()
}

// TestCompileProtectVCS: Compile adds the binds only with protect_vcs.
func TestCompileProtectVCS(t *testing.T) {
	root := vcsTree(t, map[string]string{"p/.git/HEAD": "x\n"})
	p := &profile.Profile{Cwd: root + "/p", Mounts: []profile.Mount{{Type: profile.Bind, Source: root + "/p", Target: root + "/p", RW: true}}}
	for _, on := range []bool{false, true} {
		p.ProtectVCS = on
		spec, err := Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(spec.Ops) == 2 && spec.Ops[1].Target == root+"/p/.git" && !spec.Ops[1].RW; got != on {
			t.Errorf("protect_vcs = %v: ops\n%s", on, opLines(spec.Ops))
		}
	}
}
