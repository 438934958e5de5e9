package main

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A build that writes .git/config chooses what the caller's next `git
// status` runs (core.fsmonitor). The build and ci profiles keep the
// repository's metadata read-only (protect_vcs).

// git runs git in dir on the host, with no configuration but the
// repository's, and fails the test on an error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %q in %s: %v\n%s", args, dir, err, out)
	}
	return string(out)
}

// newRepo makes a repository with one commit in dir.
func newRepo(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q")
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "README")
	git(t, dir, "commit", "-qm", "first")
}

// plantFsmonitor is the attack: the build sets core.fsmonitor in the
// repository's config, through git and by appending to the file; each
// line of output says whether it got through.
const plantFsmonitor = `git config core.fsmonitor 'touch fsmonitor-ran; false' 2>/dev/null && echo git-config-written
printf '[core]\n\tfsmonitor = touch fsmonitor-ran; false\n' >> "$(git rev-parse --git-common-dir)/config" && echo config-appended
mv .git .git-moved 2>/dev/null && echo git-moved
echo built > build-output && echo cwd-writable`

// TestAttackGitConfigFromBuild: under build, the attack's writes fail
// (EROFS; the .git cannot be moved away either) while the rest of the
// directory stays writable; the same writes on the host succeed and make
// git run the planted command, which shows the test would see the harm.
func TestAttackGitConfigFromBuild(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "git")
	dir := filepath.Join(t.TempDir(), "repo")
	newRepo(t, dir)

	r := jailIn(t, dir, nil, "--profile", "build", "--", "sh", "-c", plantFsmonitor)
	if r.code != 0 || r.stdout != "cwd-writable\n" {
		t.Errorf("under build: exit %d, got %q, want only cwd-writable\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("the write to .git/config did not fail with EROFS:\n%s", r.stderr)
	}
	if out, err := os.ReadFile(filepath.Join(dir, "build-output")); err != nil || string(out) != "built\n" {
		t.Errorf("the build's output: %q, %v", out, err)
	}
	if got := git(t, dir, "config", "--local", "--list"); strings.Contains(got, "fsmonitor") {
		t.Errorf("the sandbox set core.fsmonitor:\n%s", got)
	}
	// ci extends build and keeps it.
	if r := jailIn(t, dir, nil, "--profile", "ci", "--", "sh", "-c", plantFsmonitor); r.stdout != "cwd-writable\n" {
		t.Errorf("under ci: got %q\nstderr: %s", r.stdout, r.stderr)
	}

	// The same attack on the host: it lands, and git runs the planted
	// command (a harmless marker file in the test's repository).
	host := filepath.Join(t.TempDir(), "repo")
	newRepo(t, host)
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(plantFsmonitor, "mv .git .git-moved 2>/dev/null && echo git-moved\n", ""))
	cmd.Dir = host
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "git-config-written\nconfig-appended\ncwd-writable\n" {
		t.Fatalf("the attack on the host: %q, %v", out, err)
	}
	if got := git(t, host, "config", "--get-all", "core.fsmonitor"); !strings.Contains(got, "fsmonitor-ran") {
		t.Fatalf("core.fsmonitor on the host: %q", got)
	}
	git(t, host, "status", "--short")
	if _, err := os.Stat(filepath.Join(host, "fsmonitor-ran")); err != nil {
		t.Fatalf("git status on the host did not run the planted command: %v", err)
	}
}

// TestProtectVCSWorktrees: a worktree's .git file and the git directory it
// names (inside a writable bind) are read-only too; a worktree or a
// submodule inside the repository keeps its .git file.
func TestProtectVCSWorktrees(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "git")
	base := t.TempDir()
	main, sub := filepath.Join(base, "main"), filepath.Join(base, "lib")
	newRepo(t, main)
	newRepo(t, sub)
	git(t, main, "worktree", "add", "-q", "wt-inside")
	git(t, main, "worktree", "add", "-q", "../wt-outside")
	git(t, main, "submodule", "add", "-q", sub, "lib")
	git(t, main, "commit", "-qm", "submodule")

	// Each argument is a file to append to, or FROM=>TO to rename: a
	// directory holding protected metadata cannot be moved away (and
	// replaced by one of the sandbox's).
	try := `for f in "$@"; do
	case "$f" in
	*=\>*) mv "${f%%=>*}" "${f#*=>}" 2>/dev/null && echo "$f moved" || echo "$f stays" ;;
	*) (echo x >> "$f") 2>/dev/null && echo "$f writable" || echo "$f read-only" ;;
	esac
done`
	for _, tc := range []struct {
		name  string
		cwd   string
		extra []string
		files []string
		want  string
	}{
		{
			name: "worktree and submodule inside the repository",
			cwd:  main,
			files: []string{"wt-inside/.git", "lib/.git", ".git/config", ".git/worktrees/wt-inside/HEAD", "wt-inside/new", "lib/new",
				"wt-inside=>moved", "lib=>moved", ".git=>moved"},
			want: "wt-inside/.git read-only\nlib/.git read-only\n.git/config read-only\n.git/worktrees/wt-inside/HEAD read-only\nwt-inside/new writable\nlib/new writable\n" +
				"wt-inside=>moved stays\nlib=>moved stays\n.git=>moved stays\n",
		},
		{
			// The working directory deep inside a repository that lies
			// below the root of a writable bind: the repository's and the
			// submodule's metadata, and the directories holding them.
			name:  "the working directory inside a repository below a writable bind's root",
			cwd:   filepath.Join(main, "lib"),
			extra: []string{"--bind", base},
			files: []string{".git", "../.git/config", "new", "../new", "../../main=>../../moved", "../lib=>../moved", "../../new"},
			want: ".git read-only\n../.git/config read-only\nnew writable\n../new writable\n../../main=>../../moved stays\n../lib=>../moved stays\n" +
				"../../new writable\n",
		},
		{
			// Only the worktree is bound: its .git file is protected; the
			// main repository is not in the sandbox at all.
			name:  "a worktree of a repository elsewhere",
			cwd:   filepath.Join(base, "wt-outside"),
			files: []string{".git", "new"},
			want:  ".git read-only\nnew writable\n",
		},
		{
			// The repository bound writable too: the git directory the
			// .git file names, and its common directory, are read-only.
			name:  "a worktree whose repository is bound writable",
			cwd:   filepath.Join(base, "wt-outside"),
			extra: []string{"--bind", main},
			files: []string{".git", main + "/.git/worktrees/wt-outside/HEAD", main + "/.git/config", main + "/new", "new"},
			want: ".git read-only\n" + main + "/.git/worktrees/wt-outside/HEAD read-only\n" + main + "/.git/config read-only\n" +
				main + "/new writable\nnew writable\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"--profile", "build"}, tc.extra...), "--", "sh", "-c", try, "sh")
			r := jailIn(t, tc.cwd, nil, append(args, tc.files...)...)
			if r.code != 0 || r.stdout != tc.want {
				t.Errorf("exit %d, got\n%s\nwant\n%s\nstderr: %s", r.code, r.stdout, tc.want, r.stderr)
			}
		})
	}
	// git still works read-only inside, and the repository is intact.
	r := jailIn(t, main, nil, "--profile", "build", "--", "git", "status", "--short")
	if r.code != 0 {
		t.Errorf("git status inside: exit %d: %s", r.code, r.stderr)
	}
	git(t, main, "fsck")
}

// protectVCSOff writes a profile that extends build with protect_vcs =
// false (outside every directory a test binds) and returns its path.
func protectVCSOff(t *testing.T) string {
	t.Helper()
	off := filepath.Join(t.TempDir(), "off.toml")
	if err := os.WriteFile(off, []byte("extends = \"build\"\nprotect_vcs = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return off
}

// TestProtectVCSOptIn: a step that must commit binds .git itself (the
// profile's entry wins), or uses a profile with protect_vcs = false.
func TestProtectVCSOptIn(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "git")
	base := t.TempDir()
	dir := filepath.Join(base, "repo")
	newRepo(t, dir)
	commit := `echo change >> README && git -c user.name=t -c user.email=t@t commit -qam 'from the sandbox' && echo committed`
	if r := jailIn(t, dir, nil, "--profile", "build", "--", "sh", "-c", commit); r.stdout == "committed\n" {
		t.Fatalf("committed without the opt-in")
	}
	git(t, dir, "checkout", "-q", "README")
	r := jailIn(t, dir, nil, "--profile", "build", "--bind", ".git", "--", "sh", "-c", commit)
	if r.code != 0 || r.stdout != "committed\n" {
		t.Fatalf("--bind .git: exit %d, %q: %s", r.code, r.stdout, r.stderr)
	}
	r = jailIn(t, dir, nil, "--profile", protectVCSOff(t), "--", "sh", "-c", commit)
	if r.code != 0 || r.stdout != "committed\n" {
		t.Fatalf("protect_vcs = false: exit %d, %q: %s", r.code, r.stdout, r.stderr)
	}
	if got := git(t, dir, "log", "--format=%s"); got != "from the sandbox\nfrom the sandbox\nfirst\n" {
		t.Errorf("log: %q", got)
	}
}

// TestProtectVCSBatch: the runs of a batch share the root the zygote
// built: the metadata stays read-only for each of them.
func TestProtectVCSBatch(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "git")
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	newRepo(t, repo)
	prof := filepath.Join(base, "vcs.toml")
	if err := os.WriteFile(prof, []byte("extends = \"default\"\nprotect_vcs = true\ncwd = \"/w\"\n"+
		"[[mount]]\ntype = \"bind\"\nsource = \""+repo+"\"\ntarget = \"/w\"\nrw = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var reqs []string
	for _, id := range []string{"a", "b"} {
		reqs = append(reqs, `{"id": "`+id+`", "argv": ["sh", "-c", `+strconv.Quote(plantFsmonitor)+`], "stdout": "`+id+`.out"}`)
	}
	answers, stderr := runBatch(t, base, []string{"--profile", prof}, reqs)
	if len(answers) != 2 {
		t.Fatalf("%d answers: %s", len(answers), stderr)
	}
	for _, id := range []string{"a", "b"} {
		if out, err := os.ReadFile(filepath.Join(base, id+".out")); err != nil || string(out) != "cwd-writable\n" {
			t.Errorf("run %s: %q, %v (want only cwd-writable)\nstderr: %s", id, out, err, stderr)
		}
	}
	if got := git(t, repo, "config", "--local", "--list"); strings.Contains(got, "fsmonitor") {
		t.Errorf("a batch run set core.fsmonitor:\n%s", got)
	}
}

// A build whose directory holds no .git of its own (a subdirectory of a
// repository, or outside any) has nothing to bind read-only: it can make
// the directory a repository with core.fsmonitor. jail moves what the run
// left there away after the run (fs.GuardVCS).

// plantRepo are the ways a build makes its working directory (or the one
// above it, with the argument "..") a repository that runs "$1" on the
// caller's next git status: git init, a .git file naming a git directory
// of its own, and the directory itself a git directory whose core.worktree
// makes it a work tree again.
var plantRepo = map[string]string{
	"git init": `cd "$2" && git init -q && git config core.fsmonitor "touch $1; false" && echo planted`,
	".git file": `cd "$2" && git init -q --separate-git-dir=.hidden && git --git-dir=.hidden config core.fsmonitor "touch $1; false" &&
head -c 8 .git && echo`,
	"bare": `cd "$2" && mkdir objects refs && echo 'ref: refs/heads/main' > HEAD &&
printf '[core]\n\trepositoryformatversion = 0\n\tworktree = .\n\tfsmonitor = touch %s; false\n' "$1" > config && echo planted`,
}

// plantedRan runs git status in dir as the caller would (not above
// ceiling; outside a repository it fails, which is fine) and reports
// whether it ran the planted command, which touches marker.
func plantedRan(dir, ceiling, marker string) bool {
	cmd := exec.Command("git", "status", "--short")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir, "GIT_CEILING_DIRECTORIES="+ceiling)
	_ = cmd.Run()
	_, err := os.Stat(marker)
	return err == nil
}

// TestAttackNewRepoFromBuild: under build, in a subdirectory of a
// repository, outside any, and below a writable bind's root (the
// repository planted in the directory above the working directory), each
// planted repository is moved away after the run with a warning, and the
// caller's git status runs nothing; with protect_vcs = false the same run
// makes git status run the planted command, which shows the test would
// see the harm.
func TestAttackNewRepoFromBuild(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "git")
	off := protectVCSOff(t)
	for _, where := range []string{"in a repository's subdirectory", "outside any repository", "above the working directory"} {
		for _, how := range slices.Sorted(maps.Keys(plantRepo)) {
			t.Run(where+", "+how, func(t *testing.T) {
				for _, protect := range []bool{true, false} {
					base := t.TempDir()
					dir, cwd, args := filepath.Join(base, "work"), filepath.Join(base, "work"), []string{"--profile", "build"}
					switch where {
					case "in a repository's subdirectory":
						newRepo(t, base)
					case "above the working directory":
						cwd = filepath.Join(dir, "deep")
						args = append(args, "--bind", base)
					}
					if err := os.MkdirAll(cwd, 0o755); err != nil {
						t.Fatal(err)
					}
					if !protect {
						args[1] = off
					}
					marker := filepath.Join(t.TempDir(), "fsmonitor-ran")
					rel, _ := filepath.Rel(cwd, dir)
					r := jailIn(t, cwd, nil, append(args, "--", "sh", "-c", plantRepo[how], "sh", marker, rel)...)
					if r.code != 0 || r.stdout == "" {
						t.Fatalf("the plant: exit %d, %q\nstderr: %s", r.code, r.stdout, r.stderr)
					}
					ran := plantedRan(cwd, filepath.Dir(base), marker)
					if !protect {
						if !ran {
							t.Fatalf("protect_vcs = false: git status did not run the planted command (the test would not see the harm)")
						}
						continue
					}
					if ran {
						t.Errorf("git status on the host ran the planted command\nstderr: %s", r.stderr)
					}
					if !strings.Contains(r.stderr, "warning: protect_vcs: the run left "+dir) || !strings.Contains(r.stderr, ".jail-untrusted-1") {
						t.Errorf("no warning naming what was moved:\n%s", r.stderr)
					}
				}
			})
		}
	}
}

// TestAttackRepoDirMovedFromBuild: the directories from the working
// directory up to the bind's root stay at their paths (pinned), so that
// the sweep checks the directory at the path git will use: moving one
// away and making a repository at its old path fails.
func TestAttackRepoDirMovedFromBuild(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "git")
	base := t.TempDir()
	cwd := filepath.Join(base, "a", "b")
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	plant := `cd .. && mv b b-away 2>/dev/null && echo moved-b; cd .. && mv a a-away 2>/dev/null && echo moved-a; echo x > a/b/new && echo writable`
	r := jailIn(t, cwd, nil, "--profile", "build", "--bind", base, "--", "sh", "-c", plant)
	if r.code != 0 || r.stdout != "writable\n" {
		t.Errorf("exit %d, %q (want only writable)\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestAttackSubmoduleInitFromBuild: a submodule that is not checked out
// (an empty directory at a gitlink path) stays read-only and in place
// under build: the build cannot make it a repository, nor move it or its
// parent away and make one at its path; one whose directory is missing
// can be made, and its .git is moved away after the run. git status at
// the root runs nothing. With protect_vcs = false it runs the planted
// command.
func TestAttackSubmoduleInitFromBuild(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "git")
	base := t.TempDir()
	lib, top := filepath.Join(base, "lib"), filepath.Join(base, "top")
	newRepo(t, lib)
	newRepo(t, top)
	git(t, top, "submodule", "add", "-q", lib, "mods/lib")
	git(t, top, "commit", "-qm", "submodule")
	off := protectVCSOff(t)
	plant := `try() { (eval "$1") 2>/dev/null && echo "$1: done" || echo "$1: failed"; }
try 'cd mods/lib && git init -q && git config core.fsmonitor "touch $0; false"'
try 'mv mods/lib mods/lib-away'
try 'mv mods mods-away && mkdir -p mods/lib && cd mods/lib && git init -q && git config core.fsmonitor "touch $0; false"'
echo x > new && echo writable`
	// A submodule directory that is missing: the build can create it, and
	// a repository in it; jail moves its .git away after the run.
	// Its parent, pinned, cannot be moved away either.
	plantMissing := `mv mods mods-away 2>/dev/null && echo moved; mkdir -p mods/lib && cd mods/lib && git init -q && git config core.fsmonitor "touch $0; false" && echo planted`
	for _, tc := range []struct {
		name, plant, want string
		missing           bool
	}{
		{"not checked out", plant, "", false},
		{"missing", plantMissing, "planted\n", true},
	} {
		for _, protect := range []bool{true, false} {
			work := filepath.Join(t.TempDir(), "work")
			git(t, base, "clone", "-q", top, work) // mods/lib: an empty directory
			if tc.missing {
				if err := os.Remove(filepath.Join(work, "mods", "lib")); err != nil {
					t.Fatal(err)
				}
			}
			marker := filepath.Join(t.TempDir(), "fsmonitor-ran")
			prof := "build"
			if !protect {
				prof = off
			}
			r := jailIn(t, work, nil, "--profile", prof, "--", "sh", "-c", tc.plant, marker)
			ran := plantedRan(work, filepath.Dir(work), marker)
			if !protect {
				if !ran {
					t.Fatalf("%s, protect_vcs = false: git status did not run the planted command (the test would not see the harm)\n%s%s", tc.name, r.stdout, r.stderr)
				}
				continue
			}
			if tc.missing {
				if r.stdout != tc.want || !strings.Contains(r.stderr, "protect_vcs: the run left "+work+"/mods/lib/.git") {
					t.Errorf("%s: exit %d, got %q\nstderr: %s", tc.name, r.code, r.stdout, r.stderr)
				}
			} else if !strings.HasSuffix(r.stdout, ": failed\nwritable\n") || strings.Contains(r.stdout, "done") {
				t.Errorf("%s: exit %d, got\n%s\nstderr: %s", tc.name, r.code, r.stdout, r.stderr)
			}
			if ran {
				t.Errorf("%s: git status at the root ran the planted command in the submodule", tc.name)
			}
		}
	}
}

// TestProtectVCSBatchNewRepo: the runs of a batch whose directory is not a
// repository's root: what they planted is moved away when the batch ends.
func TestProtectVCSBatchNewRepo(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	needTool(t, "git")
	base := t.TempDir()
	newRepo(t, base)
	work := filepath.Join(base, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "fsmonitor-ran")
	prof := filepath.Join(t.TempDir(), "vcs.toml")
	if err := os.WriteFile(prof, []byte("extends = \"default\"\nprotect_vcs = true\ncwd = \"/w\"\n"+
		"[[mount]]\ntype = \"bind\"\nsource = \""+work+"\"\ntarget = \"/w\"\nrw = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var reqs []string
	for _, how := range []string{"git init", "bare"} {
		reqs = append(reqs, `{"id": "`+how+`", "argv": ["sh", "-c", `+strconv.Quote(plantRepo[how])+`, "sh", "`+marker+`", "."]}`)
	}
	answers, stderr := runBatch(t, base, []string{"--profile", prof}, reqs)
	if len(answers) != 2 {
		t.Fatalf("%d answers: %s", len(answers), stderr)
	}
	if plantedRan(work, filepath.Dir(base), marker) {
		t.Errorf("git status on the host ran the planted command\nstderr: %s", stderr)
	}
	if !strings.Contains(stderr, "jail batch: warning: protect_vcs: the run left "+work+"/.git") {
		t.Errorf("no warning:\n%s", stderr)
	}
}
