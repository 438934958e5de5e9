package main

// Adversarial tests of the judge profiles (issue 11, item 5): a submission
// runs as uid 1000 inside, an id of the caller's sub-uid range, so that it
// cannot change what the caller gave it or wrote for the caller:
//
//   - stdin-rewrite: reopen /proc/self/fd/0 for writing (the magic link
//     reaches the host file on the host's mount, past the read-only /box)
//     and overwrite the test input;
//   - stdin-chmod: fchmod(0, 0) and fchown on stdin, which would make the
//     next run's stdin unreadable to jail (XX);
//   - proc1-write: write the init's /proc/1 files (oom_score_adj,
//     coredump_filter, comm, timerslack_ns, attr/current); since /proc is
//     read-only in every sandbox, as the caller too (EROFS);
//   - read-files: read the outputs, report and meta file an earlier run
//     left in /box.
//
// Each is run twice, in single runs and in batch requests served by the
// zygote: once with --uid 0 --gid 0, where the submission is the caller as
// before, which must be ESCAPED with the harm visible outside (the input
// changed or unreadable, the next correct submission not OK with 42): the
// proof that the test sees the harm; then under the judge profile itself,
// which must be BLOCKED, with the input intact and the next run OK.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func init() {
	for name, f := range judgeRoles {
		roles[name] = f
	}
}

var judgeRoles = map[string]func(args []string) int{
	// sum: the correct submission, a+b of two numbers on stdin.
	"sum": func(args []string) int {
		var a, b int64
		if _, err := fmt.Fscan(os.Stdin, &a, &b); err != nil {
			fmt.Fprintln(os.Stderr, "sum:", err)
			return 1
		}
		fmt.Println(a + b)
		return 0
	},

	// stdin-rewrite: reopen stdin through /proc/self/fd/0 for writing and
	// make the input "1 1".
	"stdin-rewrite": func(args []string) int {
		var why []string
		for _, o := range []struct {
			name string
			flag int
		}{{"O_WRONLY", unix.O_WRONLY}, {"O_RDWR", unix.O_RDWR}} {
			fd, err := unix.Open("/proc/self/fd/0", o.flag|unix.O_CLOEXEC, 0)
			if err != nil {
				why = append(why, "open "+o.name+": "+errName(err))
				continue
			}
			_, werr := unix.Pwrite(fd, []byte("1 1\n"), 0)
			terr := unix.Ftruncate(fd, 4)
			unix.Close(fd)
			if werr == nil || terr == nil {
				return escaped("rewrote stdin through /proc/self/fd/0 (%s): pwrite %s, ftruncate %s", o.name, errName(werr), errName(terr))
			}
			why = append(why, fmt.Sprintf("opened %s, but pwrite: %s, ftruncate: %s", o.name, errName(werr), errName(terr)))
		}
		return blocked("%s", strings.Join(why, "; "))
	},

	// stdin-chmod: take every right away from the stdin file, and give it
	// to this process's ids.
	"stdin-chmod": func(args []string) int {
		e1 := unix.Fchmod(0, 0)
		e2 := unix.Fchown(0, os.Getuid(), os.Getgid())
		if e1 == nil || e2 == nil {
			return escaped("fchmod(0, 0): %s, fchown(0): %s", errName(e1), errName(e2))
		}
		return blocked("fchmod(0, 0): %s, fchown(0): %s", errName(e1), errName(e2))
	},

	// proc1-write: write PID 1's files; each gets what it holds back (or
	// the init's own name), so that a write that works changes nothing.
	"proc1-write": func(args []string) int {
		var done, why []string
		for _, f := range []string{"oom_score_adj", "coredump_filter", "comm", "timerslack_ns", "attr/current"} {
			p := "/proc/1/" + f
			cur, rerr := os.ReadFile(p)
			if rerr != nil {
				cur = []byte("0\n")
			}
			fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				why = append(why, p+": "+errName(err))
				continue
			}
			_, werr := unix.Write(fd, cur)
			unix.Close(fd)
			if werr == nil {
				done = append(done, p)
			} else {
				why = append(why, p+": opened, write: "+errName(werr))
			}
		}
		if done != nil {
			return escaped("wrote %s (%s)", strings.Join(done, ", "), strings.Join(why, ", "))
		}
		return blocked("%s", strings.Join(why, ", "))
	},

	// reopen-outputs: reopen stdout and stderr through /proc/self/fd for
	// reading and look for what the caller's file held before (SECRET);
	// the verdict goes to stderr, stdout being the file.
	"reopen-outputs": func(args []string) int {
		var why []string
		for _, fd := range []int{1, 2} {
			p := fmt.Sprintf("/proc/self/fd/%d", fd)
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), "SECRET") {
				fmt.Fprintf(os.Stderr, "ESCAPED read %s: %q\n", p, b)
				return 0
			}
			why = append(why, fmt.Sprintf("%s: %s (%d bytes)", p, errName(err), len(b)))
		}
		fmt.Fprintf(os.Stderr, "BLOCKED %s\n", strings.Join(why, ", "))
		return 0
	},

	// read-files PATH...: read files another run wrote.
	"read-files": func(args []string) int {
		var why []string
		for _, p := range args {
			b, err := os.ReadFile(p)
			if err == nil {
				return escaped("read %s: %q", p, b)
			}
			why = append(why, p+": "+errName(err))
		}
		return blocked("%s", strings.Join(why, ", "))
	},
}

// ---- the test side ----

// asCaller are the options that keep the old behaviour: the submission
// runs as uid 0 inside, the caller.
var asCaller = []string{"--uid", "0", "--gid", "0"}

const judgeInput = "20 22\n"

// requireJudge skips unless the judge profiles can run here as they do for
// a judge: with a sub-uid range and a cgroup (the roles are Go, whose
// runtime the rlimit fallback's RLIMIT_AS of 256 MiB does not hold).
func requireJudge(t *testing.T) {
	t.Helper()
	requireCgroup(t)
	skipRoot(t) // a root caller's uid 0 inside is not the caller: no old behaviour to prove against
	requireJudgeIDs(t)
}

// judgeSetup makes a judge's directory (searchable by others, whatever
// the umask) with in.txt, and a profile: judge-c with /jailtest.
func judgeSetup(t *testing.T) (dir, profile string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeInput(t, dir, 0o644)
	profile = filepath.Join(t.TempDir(), "judge.toml")
	src := fmt.Sprintf("extends = \"judge-c\"\n\n[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/jailtest\"\n", helperBin)
	if err := os.WriteFile(profile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, profile
}

// writeInput (re)writes dir/in.txt with the test input and mode.
func writeInput(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, "in.txt")
	_ = os.Chmod(p, 0o600) // a run as the caller may have left it 0000
	if err := os.WriteFile(p, []byte(judgeInput), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// inputHarm says how dir/in.txt differs from what writeInput made: ""
// when it is intact.
func inputHarm(dir string, mode os.FileMode) string {
	p := filepath.Join(dir, "in.txt")
	fi, err := os.Stat(p)
	if err != nil {
		return err.Error()
	}
	if fi.Mode().Perm() != mode {
		return fmt.Sprintf("in.txt is now mode %#o", fi.Mode().Perm())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	if string(b) != judgeInput {
		return fmt.Sprintf("in.txt is now %q", b)
	}
	return ""
}

// judgeRole runs a role in a single run under profile in dir.
func judgeRole(t *testing.T, dir, profile string, opts []string, role string, args ...string) string {
	t.Helper()
	argv := append([]string{"-q", "--profile", profile}, opts...)
	argv = append(append(argv, "--", "/jailtest", "__role", role), args...)
	r := jailIn(t, dir, nil, argv...)
	if r.code != 0 {
		t.Fatalf("jail %q: exit %d\nstdout: %s\nstderr: %s", argv, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// nextSubmission runs the correct submission on in.txt as the next run
// and returns its status and output.
func nextSubmission(t *testing.T, dir, profile string, opts []string) (string, string) {
	t.Helper()
	rep := filepath.Join(t.TempDir(), "next.json")
	argv := append([]string{"-q", "--profile", profile, "--stdin", "in.txt", "--report", rep}, opts...)
	r := jailIn(t, dir, nil, append(argv, "--", "/jailtest", "__role", "sum")...)
	var got Report
	if b, err := os.ReadFile(rep); err != nil || json.Unmarshal(b, &got) != nil {
		t.Fatalf("no report from the next run (exit %d, %s): %v", r.code, r.stderr, err)
	}
	return got.Status, r.stdout
}

// TestJudgeStdinTamper: (a) rewriting the input through /proc/self/fd/0
// and (b) fchmod/fchown of it, in single runs, each followed by a correct
// submission on the same input; (c) writing the init's /proc/1 files.
func TestJudgeStdinTamper(t *testing.T) {
	requireSandbox(t)
	requireJudge(t)
	dir, profile := judgeSetup(t)
	for _, role := range []string{"stdin-rewrite", "stdin-chmod"} {
		t.Run(role, func(t *testing.T) {
			writeInput(t, dir, 0o644)
			checkEscaped(t, judgeRole(t, dir, profile, append([]string{"--stdin", "in.txt"}, asCaller...), role), "")
			harm := inputHarm(dir, 0o644)
			if harm == "" {
				t.Errorf("as the caller the role did its harm, yet in.txt is intact: the test cannot see it")
			}
			status, out := nextSubmission(t, dir, profile, asCaller)
			if status == StatusOK && out == "42\n" {
				t.Errorf("after %s as the caller (%s) the next run got OK 42: the test cannot see the harm", role, harm)
			}
			t.Logf("as the caller: %s; next run %s %q", harm, status, out)

			writeInput(t, dir, 0o644)
			checkBlocked(t, judgeRole(t, dir, profile, []string{"--stdin", "in.txt"}, role))
			if harm := inputHarm(dir, 0o644); harm != "" {
				t.Errorf("ESCAPED: %s", harm)
			}
			if status, out := nextSubmission(t, dir, profile, nil); status != StatusOK || out != "42\n" {
				t.Errorf("the next run: %s %q, want OK 42", status, out)
			}
		})
	}
	// A file the command's ids could write (others may, here) is given as
	// a sealed copy: still nothing reaches the file. The proof that the
	// copy is needed: the submission's uid can open that file for writing
	// (through a writable bind of the directory, here).
	t.Run("writable-by-others", func(t *testing.T) {
		writeInput(t, dir, 0o666)
		checkEscaped(t, judgeRole(t, dir, profile, []string{"--bind", dir + ":/w"}, "openw", "/w/in.txt"), "")
		for _, role := range []string{"stdin-rewrite", "stdin-chmod"} {
			writeInput(t, dir, 0o666)
			out := judgeRole(t, dir, profile, []string{"--stdin", "in.txt"}, role)
			checkBlocked(t, out)
			if harm := inputHarm(dir, 0o666); harm != "" {
				t.Errorf("ESCAPED: %s: %s", role, harm)
			}
			if role == "stdin-rewrite" && !strings.Contains(out, "opened O_RDWR, but pwrite: EPERM") {
				t.Errorf("the copy is not what stopped it: %s", out)
			}
		}
		if status, out := nextSubmission(t, dir, profile, nil); status != StatusOK || out != "42\n" {
			t.Errorf("a run on the sealed copy: %s %q, want OK 42", status, out)
		}
	})
	t.Run("proc1-write", func(t *testing.T) {
		// /proc is read-only in every sandbox (issue 11 item 8): even as
		// the caller, no file of it opens for writing.
		out := judgeRole(t, dir, profile, asCaller, "proc1-write")
		checkBlocked(t, out)
		if !strings.Contains(out, "/proc/1/oom_score_adj: EROFS") {
			t.Errorf("as the caller, not stopped by the read-only /proc: %s", out)
		}
		checkBlocked(t, judgeRole(t, dir, profile, nil, "proc1-write"))
	})
}

// TestJudgeOutputsPrivate: (e) a run cannot read what jail wrote for an
// earlier one into the directory it sees at /box: its stdout, report and
// meta file are the caller's alone (0600), whatever the umask.
func TestJudgeOutputsPrivate(t *testing.T) {
	requireSandbox(t)
	requireJudge(t)
	dir, profile := judgeSetup(t)
	old := unix.Umask(0o022) // the usual umask: jail's own mode must be what protects the files
	defer unix.Umask(old)
	for _, tc := range []struct {
		name string
		opts []string
		want func(t *testing.T, out string)
	}{
		{"as-caller", asCaller, func(t *testing.T, out string) { checkEscaped(t, out, "") }},
		{"judge", nil, func(t *testing.T, out string) { checkBlocked(t, out) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names := []string{tc.name + ".out", tc.name + ".json", tc.name + ".meta"}
			argv := append([]string{"-q", "--profile", profile, "--stdin", "in.txt", "--stdout", names[0], "--report", names[1], "--meta", names[2]}, tc.opts...)
			if r := jailIn(t, dir, nil, append(argv, "--", "/jailtest", "__role", "sum")...); r.code != 0 {
				t.Fatalf("first run: exit %d: %s", r.code, r.stderr)
			}
			var paths []string
			for _, n := range names {
				if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, want mode 0600", n, fi.Mode())
				}
				paths = append(paths, "/box/"+n)
			}
			tc.want(t, judgeRole(t, dir, profile, tc.opts, "read-files", paths...))
		})
	}
}

// judgeReq is a batch request running a role on in.txt.
func judgeReq(t *testing.T, id, role string, fields map[string]any, args ...string) string {
	t.Helper()
	req := map[string]any{"id": id, "argv": append([]string{"/jailtest", "__role", role}, args...),
		"stdin": "in.txt", "stdout": id + ".out", "stderr": id + ".err"}
	for k, v := range fields {
		req[k] = v
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// judgeBatch runs requests in one batch (served by the zygote) and
// returns, for each, its answer and its stdout.
func judgeBatch(t *testing.T, dir, profile string, opts []string, reqs ...string) ([]map[string]any, []string) {
	t.Helper()
	answers, stderr := runBatch(t, dir, append([]string{"-q", "--profile", profile}, opts...), reqs)
	if len(answers) != len(reqs) {
		t.Fatalf("%d answers to %d requests: %s", len(answers), len(reqs), stderr)
	}
	for _, a := range answers {
		if a["status"] != StatusXX { // an XX one may have failed before the zygote
			zygoteOrSkip(t, []map[string]any{a})
		}
	}
	outs := make([]string, len(answers))
	for i, a := range answers {
		b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprint(a["id"])+".out"))
		outs[i] = string(b)
	}
	return answers, outs
}

// TestJudgeBatchTamper: (d) in a batch, a request that tampers with its
// stdin (and the init's /proc/1) is followed by a correct submission on
// the same input. As the caller, that submission gets a wrong answer
// (rewritten input) or XX (an input jail can no longer open); under the
// judge profile, OK with 42 and the input intact.
func TestJudgeBatchTamper(t *testing.T) {
	requireSandbox(t)
	requireJudge(t)
	dir, profile := judgeSetup(t)
	for _, tc := range []struct{ role, want string }{{"stdin-rewrite", "2\n"}, {"stdin-chmod", ""}} {
		t.Run("as-caller/"+tc.role, func(t *testing.T) {
			writeInput(t, dir, 0o644)
			answers, outs := judgeBatch(t, dir, profile, asCaller, judgeReq(t, "tamper-"+tc.role, tc.role, nil), judgeReq(t, "next-"+tc.role, "sum", nil))
			checkEscaped(t, outs[0], "")
			if answers[1]["status"] == StatusOK && outs[1] == "42\n" {
				t.Errorf("after %s as the caller the next request got OK 42: the test cannot see the harm", tc.role)
			}
			if tc.want != "" && outs[1] != tc.want {
				t.Errorf("the next request printed %q, want %q from the rewritten input", outs[1], tc.want)
			}
			if tc.want == "" && answers[1]["status"] != StatusXX {
				t.Errorf("the next request: %v, want XX (its input unreadable)", answers[1])
			}
			t.Logf("as the caller: %s; next: %v %q", inputHarm(dir, 0o644), answers[1]["status"], outs[1])
		})
	}
	t.Run("as-caller/proc1-write", func(t *testing.T) {
		writeInput(t, dir, 0o644)
		_, outs := judgeBatch(t, dir, profile, asCaller, judgeReq(t, "proc1", "proc1-write", nil))
		checkBlocked(t, outs[0])
		if !strings.Contains(outs[0], "/proc/1/oom_score_adj: EROFS") {
			t.Errorf("as the caller, not stopped by the read-only /proc: %s", outs[0])
		}
	})
	t.Run("judge", func(t *testing.T) {
		writeInput(t, dir, 0o644)
		answers, outs := judgeBatch(t, dir, profile, nil,
			judgeReq(t, "rewrite", "stdin-rewrite", nil), judgeReq(t, "chmod", "stdin-chmod", nil),
			judgeReq(t, "proc1", "proc1-write", nil), judgeReq(t, "next", "sum", nil))
		for i := range 3 {
			if answers[i]["status"] != StatusOK {
				t.Errorf("%v: %v", answers[i]["id"], answers[i])
			}
			checkBlocked(t, outs[i])
		}
		if harm := inputHarm(dir, 0o644); harm != "" {
			t.Errorf("ESCAPED: %s", harm)
		}
		if answers[3]["status"] != StatusOK || outs[3] != "42\n" {
			t.Errorf("the next request: %v %q, want OK 42", answers[3], outs[3])
		}
		enf, _ := answers[3]["enforcement"].(map[string]any)
		if u, _ := enf["user"].(string); !strings.HasPrefix(u, "uid 1000 gid 1000 inside") || !strings.Contains(u, "not the caller's") {
			t.Errorf("enforcement.user = %q", u)
		}
	})
}

// TestJudgeBatchOutputsPrivate: (e) in a batch, request 2 cannot read the
// stdout, report and meta file that request 1 left in /box.
func TestJudgeBatchOutputsPrivate(t *testing.T) {
	requireSandbox(t)
	requireJudge(t)
	dir, profile := judgeSetup(t)
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	for _, tc := range []struct {
		name string
		opts []string
		want func(t *testing.T, out string)
	}{
		{"as-caller", asCaller, func(t *testing.T, out string) { checkEscaped(t, out, "") }},
		{"judge", nil, func(t *testing.T, out string) { checkBlocked(t, out) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := tc.name + "-first"
			files := map[string]any{"report": first + ".json", "meta": first + ".meta"}
			answers, outs := judgeBatch(t, dir, profile, tc.opts,
				judgeReq(t, first, "sum", files),
				judgeReq(t, tc.name+"-second", "read-files", nil, "/box/"+first+".out", "/box/"+first+".json", "/box/"+first+".meta"))
			if answers[0]["status"] != StatusOK || outs[0] != "42\n" {
				t.Fatalf("first request: %v %q", answers[0], outs[0])
			}
			tc.want(t, outs[1])
		})
	}
}

// TestJudgeDeniedHint: a program, or a directory at /box, that others may
// not use fails under the judge profile (the submission is not the
// caller), and jail says why and what to do, in single runs and batches.
func TestJudgeDeniedHint(t *testing.T) {
	requireJudge(t)
	dir, profile := judgeSetup(t)
	b, err := os.ReadFile(helperBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sol"), b, 0o700); err != nil {
		t.Fatal(err)
	}
	const progHint = "./sol: permission denied (the command runs as uid 1000 inside, not as you: the program, and a script's interpreter, must be readable and executable by others (chmod o+rx on the host))"
	const dirHint = "the directory must be searchable by others (chmod o+x on the host)"
	check := func(t *testing.T, what string, code int, msg, want string, wantCode int) {
		t.Helper()
		if code != wantCode || !strings.Contains(msg, want) {
			t.Errorf("%s: exit %d %q, want %d and %q", what, code, msg, wantCode, want)
		}
	}
	r := jailIn(t, dir, nil, "--profile", profile, "--", "./sol", "__role", "true")
	check(t, "single run", r.code, r.stderr, progHint, exitNotExec)
	answers, _ := runBatch(t, dir, []string{"-q", "--profile", profile}, []string{`{"id": "p", "argv": ["./sol", "__role", "true"]}`})
	check(t, "batch", int(answers[0]["exit_code"].(float64)), fmt.Sprint(answers[0]["message"]), progHint, exitNotExec)
	// As the caller, no such hint: the file is its own.
	if r := jailIn(t, dir, nil, append([]string{"--profile", profile}, append(asCaller, "--", "./sol", "__role", "true")...)...); r.code != 0 {
		t.Errorf("as the caller: exit %d %s", r.code, r.stderr)
	}

	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	r = jailIn(t, dir, nil, "--profile", profile, "--", "/jailtest", "__role", "true")
	check(t, "single run in a private directory", r.code, r.stderr, dirHint, exitSetup)
	answers, _ = runBatch(t, dir, []string{"-q", "--profile", profile}, []string{`{"id": "d", "argv": ["/jailtest", "__role", "true"]}`})
	check(t, "batch in a private directory", int(answers[0]["exit_code"].(float64)), fmt.Sprint(answers[0]["message"]), dirHint, exitSetup)
}

// secretFile is a file of the caller's, 0644 whatever the umask, holding
// a line a submission must not read; it returns it open for appending
// (jail ... >> out.txt).
func secretFile(t *testing.T, dir string) *os.File {
	t.Helper()
	p := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(p, []byte("SECRET line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestJudgeInheritedOutputReopen: a judge runs a submission with its
// stdout a 0644 file of the caller's (jail ... >> out.txt, or
// --stdout /dev/fd/3), without an output limit. The submission, an other
// to that file, reopens /proc/self/fd/1 for reading: as the caller's
// uid it reads what the file held (the proof), as the judge's it must
// not: jail relays such an output through a pipe of its own. With the
// profile's output limit the relay is there already.
func TestJudgeInheritedOutputReopen(t *testing.T) {
	requireSandbox(t)
	requireJudge(t)
	dir, profile := judgeSetup(t)
	for _, tc := range []struct {
		name    string
		opts    []string
		escaped bool
	}{
		{"as-caller", append([]string{"--output", "0"}, asCaller...), true},
		{"judge-no-limit", []string{"--output", "0"}, false},
		{"judge", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := secretFile(t, dir)
			defer f.Close()
			argv := append(append([]string{"-q", "--profile", profile}, tc.opts...), "--", "/jailtest", "__role", "reopen-outputs")
			cmd := exec.Command(jailBin, argv...)
			cmd.Dir, cmd.Stdout = dir, f
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("jail: %v: %s", err, errb.String())
			}
			checkOutcome(t, errb.String(), tc.escaped)
			if b, _ := os.ReadFile(filepath.Join(dir, "out.txt")); string(b) != "SECRET line\n" {
				t.Errorf("out.txt holds %q: want it as it was, appended to (nothing)", b)
			}
		})
	}
	// In a batch, a request's stdout may be a descriptor jail was given.
	for _, tc := range []struct {
		name    string
		opts    []string
		escaped bool
	}{
		{"batch-as-caller", asCaller, true},
		{"batch-judge", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := secretFile(t, dir)
			defer f.Close()
			b := startTimedBatch(t, dir, []*os.File{f}, append([]string{"-q", "--profile", profile, "--output", "0"}, tc.opts...)...)
			a := b.ask(t, map[string]any{"id": tc.name, "argv": []string{"/jailtest", "__role", "reopen-outputs"},
				"stdout": "/dev/fd/3", "stderr": tc.name + ".err"})
			if a["status"] != StatusOK {
				t.Fatalf("answer: %v", a)
			}
			out, _ := os.ReadFile(filepath.Join(dir, tc.name+".err"))
			checkOutcome(t, string(out), tc.escaped)
		})
	}
}

// checkOutcome checks a role's verdict: ESCAPED when escaped, else
// BLOCKED.
func checkOutcome(t *testing.T, out string, escaped bool) {
	t.Helper()
	if escaped {
		checkEscaped(t, out, "")
	} else {
		checkBlocked(t, out)
	}
}
