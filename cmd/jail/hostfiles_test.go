package main

// Adversarial tests of the files jail itself opens on the host for a run
// (--report, --meta, --stdout, --stderr, --stdin and a batch request's
// fields): a sandbox with a writable working directory plants, at those
// paths, a symbolic link to a file of the caller's outside the sandbox (a
// victim), a link to a missing file, a hard link to a file it sees, or a
// FIFO. The next run (or the same one, for the reports written after it)
// must leave every victim as it was, create nothing at a link's target,
// and never hang; its outputs are new files of the caller's with one name.
//
// Each test first shows the harm it guards against from the host: the
// planted name resolves to the victim (a write through the path would
// change it), the dangling link names the missing target, the FIFO is a
// FIFO (a plain open of it blocks).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// hangLimit is how long a run of these tests may take before it counts as
// hung on a FIFO.
const hangLimit = 30 * time.Second

// scene is a build directory a sandbox writes (bound at /w, its working
// directory; jail runs there too, so relative paths name it) and a
// directory of the caller's that no sandbox sees.
type scene struct {
	dir, outside string
}

func newScene(t *testing.T) *scene {
	t.Helper()
	skipRoot(t) // a root caller's sandbox does not own t.TempDir()
	requireSandbox(t)
	return &scene{dir: t.TempDir(), outside: t.TempDir()}
}

// args make the build directory the sandbox's writable working directory.
func (s *scene) args() []string { return []string{"--bind", s.dir + ":/w", "--chdir", "/w"} }

// victim creates a file of the caller's with known content.
func victim(t *testing.T, p string) string {
	t.Helper()
	if err := os.WriteFile(p, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs jail in the build directory and fails the test if it does not
// end within hangLimit.
func (s *scene) run(t *testing.T, args ...string) result {
	t.Helper()
	return jailTimedIn(t, s.dir, hangLimit, nil, "", args...)
}

// plant runs script in a sandbox whose working directory is the build
// directory: what a build leaves behind.
func (s *scene) plant(t *testing.T, script string) {
	t.Helper()
	r := s.run(t, append(s.args(), "--", "sh", "-c", "set -e; "+script)...)
	if r.code != 0 {
		t.Fatalf("planting %q: exit %d: %s", script, r.code, r.stderr)
	}
}

// ---- the harm, shown from the host ----

// resolvesTo fails unless the name at (in the build directory) leads to
// the victim: a write through the path would change it.
func resolvesTo(t *testing.T, at, victim string) {
	t.Helper()
	fa, err := os.Stat(at)
	fv, err2 := os.Stat(victim)
	if err != nil || err2 != nil || !os.SameFile(fa, fv) {
		t.Fatalf("%s does not lead to %s (%v, %v): the test would see no harm", at, victim, err, err2)
	}
}

// danglesTo fails unless at is a link to missing, which does not exist.
func danglesTo(t *testing.T, at, missing string) {
	t.Helper()
	if l, err := os.Readlink(at); err != nil || l != missing {
		t.Fatalf("%s is not a link to %s: %q %v", at, missing, l, err)
	}
	if _, err := os.Lstat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists already: %v", missing, err)
	}
}

func isFIFO(t *testing.T, at string) {
	t.Helper()
	if fi, err := os.Lstat(at); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("%s is not a FIFO: %v", at, err)
	}
}

// ---- what must hold after ----

func unchanged(t *testing.T, p string) {
	t.Helper()
	if b, err := os.ReadFile(p); err != nil || string(b) != "precious\n" {
		t.Errorf("victim %s changed: %q %v", p, b, err)
	}
}

func absent(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was created through a dangling link: %v", p, err)
	}
}

// newFile checks that p is a regular file of the caller's with one name
// that holds want.
func newFile(t *testing.T, p, want string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 || int(st.Uid) != os.Getuid() {
		t.Errorf("%s: mode %o, %d names, uid %d: want a new regular file of the caller's", p, st.Mode, st.Nlink, st.Uid)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), want) {
		t.Errorf("%s holds %q, want %q in it", p, b, want)
	}
}

// TestAttackReportLinks: links left at --report, --meta, --stdout and
// --stderr by an earlier build, or planted at the reports' names by the
// run itself, lead nowhere: the victims keep their content, nothing is
// created at a dangling link's target, and the run writes new files.
func TestAttackReportLinks(t *testing.T) {
	t.Run("left by an earlier run", func(t *testing.T) {
		s := newScene(t)
		vr, vo := victim(t, filepath.Join(s.outside, "bashrc")), victim(t, filepath.Join(s.outside, "profile"))
		mm, me := filepath.Join(s.outside, "meta-created"), filepath.Join(s.outside, "err-created")
		s.plant(t, fmt.Sprintf("ln -s %s report.json; ln -s %s meta.txt; ln -s %s out.txt; ln -s %s err.txt", vr, mm, vo, me))
		at := func(n string) string { return filepath.Join(s.dir, n) }
		resolvesTo(t, at("report.json"), vr)
		resolvesTo(t, at("out.txt"), vo)
		danglesTo(t, at("meta.txt"), mm)
		danglesTo(t, at("err.txt"), me)

		r := s.run(t, append(s.args(), "--report", "report.json", "--meta", "meta.txt", "--stdout", "out.txt", "--stderr", "err.txt",
			"--", "sh", "-c", "echo out; echo err >&2")...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		unchanged(t, vr)
		unchanged(t, vo)
		absent(t, mm)
		absent(t, me)
		newFile(t, at("report.json"), `"status": "OK"`)
		newFile(t, at("meta.txt"), "exitcode:0")
		newFile(t, at("out.txt"), "out\n")
		newFile(t, at("err.txt"), "err\n")
	})
	t.Run("planted during the run", func(t *testing.T) {
		s := newScene(t)
		vr := victim(t, filepath.Join(s.outside, "bashrc"))
		mm := filepath.Join(s.outside, "meta-created")
		// The build replaces the reports' names while jail waits to write
		// them; it prints what it made, for the host to check.
		r := s.run(t, append(s.args(), "--report", "report.json", "--meta", "meta.txt",
			"--", "sh", "-c", fmt.Sprintf("ln -s %s report.json && ln -s %s meta.txt && readlink report.json meta.txt", vr, mm))...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if r.stdout != vr+"\n"+mm+"\n" {
			t.Fatalf("the links planted were %q: the test would see no harm", r.stdout)
		}
		unchanged(t, vr)
		absent(t, mm)
		newFile(t, filepath.Join(s.dir, "report.json"), `"status": "OK"`)
		newFile(t, filepath.Join(s.dir, "meta.txt"), "exitcode:0")
	})
}

// TestAttackStdoutHardLink: a hard link to a file of the build directory
// (one the caller keeps, say its source) left at --stdout: the next run's
// output replaces the name, not the file's content.
func TestAttackStdoutHardLink(t *testing.T) {
	s := newScene(t)
	v := victim(t, filepath.Join(s.dir, "main.c"))
	s.plant(t, "ln main.c out.txt; ln main.c err.txt")
	resolvesTo(t, filepath.Join(s.dir, "out.txt"), v)
	resolvesTo(t, filepath.Join(s.dir, "err.txt"), v)
	r := s.run(t, append(s.args(), "--stdout", "out.txt", "--stderr", "err.txt", "--", "sh", "-c", "echo overwritten; echo e >&2")...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	unchanged(t, v)
	newFile(t, filepath.Join(s.dir, "out.txt"), "overwritten\n")
	newFile(t, filepath.Join(s.dir, "err.txt"), "e\n")
	newFile(t, v, "precious\n") // one name again
}

// TestAttackFIFOs: a FIFO at --report is replaced (jail does not hang
// writing the report); a FIFO or a link at --stdin is refused at once, with
// an XX report and a message naming the path, and nothing of the victim
// reaches the command.
func TestAttackFIFOs(t *testing.T) {
	s := newScene(t)
	secret := victim(t, filepath.Join(s.outside, "id_rsa"))
	s.plant(t, fmt.Sprintf("mkfifo report.json in.txt; ln -s %s in2.txt", secret))
	isFIFO(t, filepath.Join(s.dir, "report.json"))
	isFIFO(t, filepath.Join(s.dir, "in.txt"))
	resolvesTo(t, filepath.Join(s.dir, "in2.txt"), secret)

	r := s.run(t, append(s.args(), "--report", "report.json", "--", "true")...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	newFile(t, filepath.Join(s.dir, "report.json"), `"status": "OK"`)

	for _, c := range []struct{ stdin, why string }{{"in.txt", "is a FIFO"}, {"in2.txt", "is a symbolic link"}} {
		r = s.run(t, append(s.args(), "--stdin", c.stdin, "--stdout", "out.txt", "--report", "r.json", "--", "cat")...)
		if r.code != exitSetup || !strings.Contains(r.stderr, c.stdin) || !strings.Contains(r.stderr, c.why) {
			t.Errorf("--stdin %s: exit %d, stderr %q: want %d and %q", c.stdin, r.code, r.stderr, exitSetup, c.why)
		}
		newFile(t, filepath.Join(s.dir, "r.json"), `"status": "XX"`)
		if b, _ := os.ReadFile(filepath.Join(s.dir, "out.txt")); strings.Contains(string(b), "precious") {
			t.Errorf("the command read the victim through the link: %q", b)
		}
	}
	unchanged(t, secret)
}

// TestBatchAttackReportLinks: the same attacks on a batch's requests, one
// request planting, the next ones using the paths; through the zygote and
// through the single-run path.
func TestBatchAttackReportLinks(t *testing.T) {
	for _, mode := range []string{"zygote", "single"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "single" {
				t.Setenv("JAIL_BATCH_ZYGOTE", "0")
			}
			s := newScene(t)
			at := func(n string) string { return filepath.Join(s.dir, n) }
			vr, vo := victim(t, filepath.Join(s.outside, "bashrc")), victim(t, filepath.Join(s.outside, "profile"))
			secret := victim(t, filepath.Join(s.outside, "id_rsa"))
			mm, me := filepath.Join(s.outside, "meta-created"), filepath.Join(s.outside, "err-created")
			hard := victim(t, at("main.c"))

			b := startTimedBatch(t, s.dir, nil, append([]string{"-q"}, s.args()...)...)
			plant := fmt.Sprintf("set -e; ln -s %s r.json; ln -s %s m.txt; ln -s %s out.txt; ln -s %s err.txt; "+
				"ln main.c hard.txt; mkfifo fifo.json in.fifo; ln -s %s in.txt", vr, mm, vo, me, secret)
			if a := b.ask(t, map[string]any{"id": "plant", "argv": []string{"sh", "-c", plant}}); a["status"] != StatusOK {
				t.Fatalf("planting: %v", a)
			}
			resolvesTo(t, at("r.json"), vr)
			resolvesTo(t, at("out.txt"), vo)
			resolvesTo(t, at("hard.txt"), hard)
			resolvesTo(t, at("in.txt"), secret)
			danglesTo(t, at("m.txt"), mm)
			danglesTo(t, at("err.txt"), me)
			isFIFO(t, at("fifo.json"))
			isFIFO(t, at("in.fifo"))

			a := b.ask(t, map[string]any{"id": "links", "argv": []string{"sh", "-c", "echo out; echo err >&2"},
				"report": "r.json", "meta": "m.txt", "stdout": "out.txt", "stderr": "err.txt"})
			if a["status"] != StatusOK {
				t.Errorf("links: %v", a)
			}
			a = b.ask(t, map[string]any{"id": "hard", "argv": []string{"echo", "overwritten"}, "stdout": "hard.txt"})
			if a["status"] != StatusOK {
				t.Errorf("hard: %v", a)
			}
			a = b.ask(t, map[string]any{"id": "fifo", "argv": []string{"true"}, "report": "fifo.json"})
			if a["status"] != StatusOK {
				t.Errorf("fifo: %v", a)
			}
			for _, c := range []struct{ stdin, why string }{{"in.fifo", "is a FIFO"}, {"in.txt", "is a symbolic link"}} {
				a = b.ask(t, map[string]any{"id": "stdin", "argv": []string{"cat"}, "stdin": c.stdin, "stdout": "cat.txt", "report": "cat.json"})
				msg, _ := a["message"].(string)
				if a["status"] != StatusXX || !strings.Contains(msg, c.stdin) || !strings.Contains(msg, c.why) {
					t.Errorf("stdin %s: %v: want XX and %q", c.stdin, a, c.why)
				}
				newFile(t, at("cat.json"), `"status": "XX"`)
			}
			// Planted by the request itself, while the batch waits to
			// write its report.
			a = b.ask(t, map[string]any{"id": "during", "argv": []string{"sh", "-c", fmt.Sprintf("rm r.json m.txt; ln -s %s r.json; ln -s %s m.txt", vr, mm)},
				"report": "r.json", "meta": "m.txt"})
			if a["status"] != StatusOK {
				t.Errorf("during: %v", a)
			}

			unchanged(t, vr)
			unchanged(t, vo)
			unchanged(t, secret)
			unchanged(t, hard)
			absent(t, mm)
			absent(t, me)
			newFile(t, at("r.json"), `"status": "OK"`)
			newFile(t, at("m.txt"), "exitcode:0")
			newFile(t, at("out.txt"), "out\n")
			newFile(t, at("err.txt"), "err\n")
			newFile(t, at("hard.txt"), "overwritten\n")
			newFile(t, at("fifo.json"), `"status": "OK"`)
			if b, _ := os.ReadFile(at("cat.txt")); strings.Contains(string(b), "precious") {
				t.Errorf("a command read the victim through the link: %q", b)
			}
		})
	}
}

// timedBatch is a running jail batch whose answers must come within
// hangLimit.
type timedBatch struct {
	cmd     *exec.Cmd
	in      *os.File
	answers chan string
	stderr  bytes.Buffer
}

// startTimedBatch starts jail batch in dir, with extra descriptors from 3
// on.
func startTimedBatch(t *testing.T, dir string, extra []*os.File, args ...string) *timedBatch {
	t.Helper()
	b := &timedBatch{cmd: exec.Command(jailBin, append([]string{"batch"}, args...)...), answers: make(chan string)}
	b.cmd.Dir = dir
	b.cmd.ExtraFiles = extra
	b.cmd.Stderr = &b.stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b.cmd.Stdin, b.in = r, w
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.answers <- sc.Text()
		}
		close(b.answers)
	}()
	t.Cleanup(func() { b.in.Close(); _ = b.cmd.Process.Kill(); _ = b.cmd.Wait() })
	return b
}

// ask sends one request and returns its answer.
func (b *timedBatch) ask(t *testing.T, req map[string]any) map[string]any {
	t.Helper()
	line, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.in.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
	select {
	case s, ok := <-b.answers:
		if !ok {
			t.Fatalf("no answer to %s; stderr: %s", line, b.stderr.String())
		}
		var a map[string]any
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			t.Fatalf("answer %q: %v", s, err)
		}
		return a
	case <-time.After(hangLimit):
		t.Fatalf("no answer to %s within %s: jail batch hung", line, hangLimit)
	}
	return nil
}

// TestReportPathErrors: a directory the sandbox left at --report is an
// error named with the path; the run does not start, and --meta still gets
// the XX report.
func TestReportPathErrors(t *testing.T) {
	s := newScene(t)
	s.plant(t, "mkdir report.json")
	r := s.run(t, append(s.args(), "--report", "report.json", "--meta", "meta.txt", "--", "sh", "-c", "echo ran")...)
	if r.code != exitSetup || !strings.Contains(r.stderr, "report.json") || !strings.Contains(r.stderr, "is a directory") || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q: want %d, a directory named, no run", r.code, r.stdout, r.stderr, exitSetup)
	}
	newFile(t, filepath.Join(s.dir, "meta.txt"), "status:XX")
}

// TestStdoutStderrSamePath: --stdout and --stderr naming one file share it,
// as 2>&1 does (each output is otherwise a new file, which would replace
// the other).
func TestStdoutStderrSamePath(t *testing.T) {
	s := newScene(t)
	r := s.run(t, append(s.args(), "--stdout", "log", "--stderr", "./log", "--", "sh", "-c", "echo one; echo two >&2; echo three")...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	newFile(t, filepath.Join(s.dir, "log"), "one\ntwo\nthree\n")
}
