package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// zygoteOrSkip fails unless the batch's answers came from the zygote (with
// a cgroup too: a cgroup per run).
func zygoteOrSkip(t *testing.T, answers []map[string]any) {
	t.Helper()
	for _, a := range answers {
		enf, _ := a["enforcement"].(map[string]any)
		s, _ := enf["sandbox"].(string)
		if !strings.HasPrefix(s, "zygote") {
			t.Fatalf("answer %v did not come from the zygote", a)
		}
		if cg := enf["backend"] != "none"; cg != strings.Contains(s, zygoteCgroupNote) {
			t.Fatalf("answer %v: a cgroup per run is said with a cgroup only", a)
		}
	}
}

// TestBatchZygoteFreshState: 200 sequential runs from one zygote, each in
// a fresh PID namespace (a small pid), with an empty /tmp and /dev/shm and
// no SysV shared memory although the run before left a file in each and a
// segment, writing its own stdout file.
func TestBatchZygoteFreshState(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	dir := t.TempDir()
	const n = 200
	var reqs []string
	script := `echo pid=$$; echo tmp=$(ls -A /tmp /dev/shm | grep -c left); echo shm=$(ipcs -m | grep -c '^0x'); ` +
		`touch /tmp/left /dev/shm/left; ipcmk -M 4096 >/dev/null; echo run=%d`
	for i := 0; i < n; i++ {
		reqs = append(reqs, fmt.Sprintf(`{"id": "r%d", "argv": ["sh", "-c", %q], "stdout": "out%d.txt"}`, i, fmt.Sprintf(script, i), i))
	}
	answers, stderr := runBatch(t, dir, nil, reqs)
	if len(answers) != n {
		t.Fatalf("%d answers to %d requests; stderr: %s", len(answers), n, stderr)
	}
	if strings.Contains(stderr, "no zygote") {
		t.Fatalf("no zygote: %s", stderr)
	}
	zygoteOrSkip(t, answers)
	for i, a := range answers {
		if a["id"] != fmt.Sprintf("r%d", i) || a["status"] != StatusOK {
			t.Errorf("answer %d: %v", i, a)
			continue
		}
		out, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out%d.txt", i)))
		want := fmt.Sprintf("pid=2\ntmp=0\nshm=0\nrun=%d\n", i)
		if err != nil || string(out) != want {
			t.Errorf("run %d printed %q (%v), want %q", i, out, err, want)
		}
	}
}

// TestBatchZygoteVerdicts: a time limit, a runtime error, a missing and a
// non-executable command, and the sandbox's basics (no capabilities, a
// seccomp filter, no_new_privs, a read-only root, lo up alone) in runs of
// a zygote.
func TestBatchZygoteVerdicts(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	dir := t.TempDir()
	reqs := []string{
		`{"id": "slow", "argv": ["sleep", "10"], "limits": {"wall-time": "0.3s"}}`,
		`{"id": "spin", "argv": ["sh", "-c", "while :; do :; done"], "limits": {"cpu-time": "0.2s"}}`,
		`{"id": "exit3", "argv": ["sh", "-c", "echo oops >&2; exit 3"], "stderr": "err.txt"}`,
		`{"id": "missing", "argv": ["no-such-command"]}`,
		`{"id": "noexec", "argv": ["/etc/passwd"]}`,
		`{"id": "basics", "argv": ["sh", "-c", "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; touch /x 2>/dev/null && echo root-writable; cat /proc/net/dev | tail -n +3 | cut -d: -f1; cat /proc/1/comm; hostname"], "stdout": "basics.txt"}`,
		`{"id": "out", "argv": ["sh", "-c", "yes"], "limits": {"output": "64KiB"}, "stdout": "yes.txt"}`,
		`{"id": "last", "argv": ["true"]}`,
	}
	answers, stderr := runBatch(t, dir, []string{"-q"}, reqs)
	if len(answers) != len(reqs) {
		t.Fatalf("%d answers; stderr: %s", len(answers), stderr)
	}
	zygoteOrSkip(t, answers)
	want := map[string][2]any{
		"slow": {StatusTO, "wall-time"}, "spin": {StatusTO, "cpu-time"}, "exit3": {StatusRE, nil},
		"missing": {StatusRE, nil}, "noexec": {StatusRE, nil}, "basics": {StatusOK, nil},
		"out": {StatusOL, "output"}, "last": {StatusOK, nil},
	}
	for _, a := range answers {
		id := a["id"].(string)
		if a["status"] != want[id][0] || a["limit"] != want[id][1] {
			t.Errorf("%s: status %v limit %v, want %v: %v", id, a["status"], a["limit"], want[id], a)
		}
	}
	codes := map[string]float64{"exit3": 3, "missing": 127, "noexec": 126}
	for _, a := range answers {
		if c, ok := codes[a["id"].(string)]; ok && a["exit_code"] != c {
			t.Errorf("%s: exit code %v, want %v", a["id"], a["exit_code"], c)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "err.txt")); string(b) != "oops\n" {
		t.Errorf("err.txt = %q", b)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "basics.txt"))
	for _, w := range []string{"CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000",
		"NoNewPrivs:\t1", "Seccomp:\t2", "\n    lo\n", "jail-init\n"} {
		if !strings.Contains(string(b), w) {
			t.Errorf("basics: no %q in\n%s", w, b)
		}
	}
	if strings.Contains(string(b), "root-writable") || strings.Count(string(b), ":") > 6 {
		t.Errorf("basics: writable root or more than lo:\n%s", b)
	}
	if fi, err := os.Stat(filepath.Join(dir, "yes.txt")); err != nil || fi.Size() != 64<<10 {
		t.Errorf("yes.txt: %v %v, want 64 KiB", fi, err)
	}
}

// TestBatchZygoteMemoryLimit: a memory limit per request holds in the
// batch's cgroup, and the next run starts from clean counters.
func TestBatchZygoteMemoryLimit(t *testing.T) {
	skipRoot(t)
	requireCgroup(t)
	dir := t.TempDir()
	p := helperProfile(t, "")
	reqs := []string{
		`{"id": "bomb", "argv": ["/jailtest", "__role", "membomb"], "limits": {"memory": "64MiB"}}`,
		`{"id": "after", "argv": ["true"], "limits": {"memory": "64MiB"}}`,
		`{"id": "spin", "argv": ["/jailtest", "__role", "spin"], "limits": {"cpu-time": "0.3s"}}`,
	}
	answers, stderr := runBatch(t, dir, []string{"-q", "-p", p}, reqs)
	if len(answers) != len(reqs) {
		t.Fatalf("%d answers; stderr: %s", len(answers), stderr)
	}
	zygoteOrSkip(t, answers)
	if a := answers[0]; a["status"] != StatusML {
		t.Errorf("bomb: %v", a)
	}
	mem, _ := answers[1]["memory"].(map[string]any)
	if a := answers[1]; a["status"] != StatusOK || mem["oom_kills"] != float64(0) || mem["peak"].(float64) > 48<<20 {
		t.Errorf("after: %v", a)
	}
	tm, _ := answers[2]["time"].(map[string]any)
	if a := answers[2]; a["status"] != StatusTO || a["limit"] != "cpu-time" || tm["cpu"].(float64) > 0.6 {
		t.Errorf("spin: %v", a)
	}
}

func init() {
	// forkcount starts sleep processes until the pids limit refuses one
	// and prints how many it started.
	roles["forkcount"] = func(args []string) int {
		var cmds []*exec.Cmd
		for len(cmds) < 4096 {
			c := exec.Command("sleep", "100")
			if err := c.Start(); err != nil {
				break
			}
			cmds = append(cmds, c)
		}
		fmt.Printf("started %d\n", len(cmds))
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		return 0
	}
}

// batchProc is a `jail batch` fed one request at a time.
type batchProc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr bytes.Buffer
}

func startBatch(t *testing.T, dir string, args ...string) *batchProc {
	t.Helper()
	b := &batchProc{cmd: exec.Command(jailBin, append([]string{"batch"}, args...)...)}
	b.cmd.Dir = dir
	b.cmd.Stderr = &b.stderr
	var err error
	if b.in, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b.out = bufio.NewScanner(out)
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.in.Close(); _ = b.cmd.Process.Kill(); _ = b.cmd.Wait() })
	return b
}

func (b *batchProc) send(t *testing.T, req string) {
	t.Helper()
	if _, err := io.WriteString(b.in, req+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (b *batchProc) answer(t *testing.T) map[string]any {
	t.Helper()
	if !b.out.Scan() {
		t.Fatalf("no answer; stderr: %s", b.stderr.String())
	}
	var a map[string]any
	if err := json.Unmarshal(b.out.Bytes(), &a); err != nil {
		t.Fatalf("answer %q: %v", b.out.Text(), err)
	}
	return a
}

// children lists the pids of pid's children whose comm is comm.
func children(pid int, comm string) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			c, _ := strconv.Atoi(f)
			if name, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); strings.TrimSpace(string(name)) == comm {
				out = append(out, c)
			}
		}
	}
	return out
}

func fromZygote(a map[string]any) bool {
	enf, _ := a["enforcement"].(map[string]any)
	s, _ := enf["sandbox"].(string)
	return strings.HasPrefix(s, "zygote")
}

// TestBatchZygoteRestart: a zygote that dies during a run (killed here, as
// the OOM killer of a cgroup v1 batch could) fails that run with XX and a
// wall time that is not negative; the next request gets a new zygote, up
// to maxZygoteRestarts times, then the single-run path with a warning.
func TestBatchZygoteRestart(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	b := startBatch(t, t.TempDir())
	for i := 0; i <= maxZygoteRestarts; i++ {
		b.send(t, `{"id": "ok", "argv": ["true"]}`)
		if a := b.answer(t); a["status"] != StatusOK || !fromZygote(a) {
			t.Fatalf("run %d before a kill: %v; stderr: %s", i, a, b.stderr.String())
		}
		zyg := children(b.cmd.Process.Pid, "jail-zygote")
		if len(zyg) != 1 {
			t.Fatalf("zygotes of the batch: %v", zyg)
		}
		b.send(t, `{"id": "victim", "argv": ["sleep", "30"]}`)
		deadline := time.Now().Add(10 * time.Second)
		for !started(zyg[0]) {
			if time.Now().After(deadline) {
				t.Fatal("the run did not start")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := syscall.Kill(zyg[0], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		a := b.answer(t)
		tm, _ := a["time"].(map[string]any)
		if a["status"] != StatusXX || !strings.Contains(fmt.Sprint(a["message"]), "zygote") || tm["wall"].(float64) < 0 || tm["wall"].(float64) > 10 {
			t.Errorf("killed zygote %d: %v", i, a)
		}
	}
	b.send(t, `{"id": "after", "argv": ["true"]}`)
	if a := b.answer(t); a["status"] != StatusOK || fromZygote(a) {
		t.Errorf("after %d restarts: %v", maxZygoteRestarts, a)
	}
	b.in.Close()
	_ = b.cmd.Wait()
	if got := strings.Count(b.stderr.String(), "starting another"); got != maxZygoteRestarts || !strings.Contains(b.stderr.String(), "warning: a full sandbox set-up per request from now on") {
		t.Errorf("stderr: %s", b.stderr.String())
	}
}

// started: the zygote's per-run init has the command running (a child of
// its own).
func started(zygote int) bool {
	for _, init := range children(zygote, "jail-init") {
		if len(children(init, "sleep")) > 0 {
			return true
		}
	}
	return false
}

// TestBatchZygoteOOMVictim: a command that makes itself and its init as
// attractive to the OOM killer as the zygote, then fills the memory limit
// with processes smaller than a Go process, is ML (the zygote, outside the
// run's cgroup, is not a candidate), and the next run is served by a
// zygote.
func TestBatchZygoteOOMVictim(t *testing.T) {
	skipRoot(t)
	requireCgroup(t)
	script := `echo 0 > /proc/self/oom_score_adj; echo 0 > /proc/1/oom_score_adj; ` +
		`for i in $(seq 40); do (x=$(head -c 4194304 /dev/zero | tr '\0' a); sleep 100; echo ${#x}) & sleep 0.02; done`
	reqs := []string{
		fmt.Sprintf(`{"id": "oom", "argv": ["sh", "-c", %q], "limits": {"memory": "64MiB", "wall-time": "10s"}}`, script),
		`{"id": "after", "argv": ["true"]}`,
	}
	answers, stderr := runBatch(t, t.TempDir(), nil, reqs)
	if len(answers) != len(reqs) {
		t.Fatalf("%d answers; stderr: %s", len(answers), stderr)
	}
	if a := answers[0]; a["status"] != StatusML || a["limit"] != "memory" {
		t.Errorf("oom: %v; stderr: %s", a, stderr)
	}
	if a := answers[1]; a["status"] != StatusOK || !fromZygote(a) {
		t.Errorf("after: %v; stderr: %s", a, stderr)
	}
}

// TestBatchZygotePeakFresh: pages a run leaves in the page cache (a file
// written to a writable bind) do not show in the next run's memory peak.
func TestBatchZygotePeakFresh(t *testing.T) {
	skipRoot(t)
	requireCgroup(t)
	dir := t.TempDir()
	rw := filepath.Join(dir, "rw")
	if err := os.Mkdir(rw, 0o777); err != nil {
		t.Fatal(err)
	}
	p := writeProfile(t, fmt.Sprintf("[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/rw\"\nrw = true\n", rw))
	reqs := []string{
		`{"id": "write", "argv": ["sh", "-c", "dd if=/dev/zero of=/rw/big bs=1M count=120 status=none && cat /rw/big >/dev/null"], "limits": {"memory": "512MiB"}}`,
		`{"id": "next", "argv": ["true"], "limits": {"memory": "512MiB"}}`,
	}
	answers, stderr := runBatch(t, dir, []string{"-q", "-p", p}, reqs)
	if len(answers) != len(reqs) {
		t.Fatalf("%d answers; stderr: %s", len(answers), stderr)
	}
	zygoteOrSkip(t, answers)
	mem, _ := answers[1]["memory"].(map[string]any)
	if a := answers[1]; a["status"] != StatusOK || mem["peak"].(float64) > 32<<20 {
		t.Errorf("next: %v (write: %v)", a, answers[0])
	}
}

// TestBatchZygoteLargeRequest: a request larger than the socket's default
// send buffer (about 212 KiB) runs, and one too large for the zygote takes
// the single-run path; the zygote serves the next.
func TestBatchZygoteLargeRequest(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	big := strings.Repeat("x", 110<<10)
	reqs := []string{
		fmt.Sprintf(`{"id": "large", "argv": ["true", %q, %q]}`, big, big),
		fmt.Sprintf(`{"id": "huge", "argv": ["true", %q, %q, %q]}`, big, big, big),
		`{"id": "next", "argv": ["true"]}`,
	}
	answers, stderr := runBatch(t, t.TempDir(), nil, reqs)
	if len(answers) != len(reqs) {
		t.Fatalf("%d answers; stderr: %s", len(answers), stderr)
	}
	if a := answers[0]; a["status"] != StatusOK {
		t.Errorf("large: %v", a)
	}
	if a := answers[1]; a["status"] != StatusOK || fromZygote(a) {
		t.Errorf("huge: %v", a)
	}
	if a := answers[2]; a["status"] != StatusOK || !fromZygote(a) {
		t.Errorf("next: %v", a)
	}
	if strings.Contains(stderr, "zygote") {
		t.Errorf("stderr: %s", stderr)
	}
}

// TestBatchZygotePidsLikeSingleRun: under --pids N, a command starts as
// many processes in a batch run as in a single run (whose count is the
// reference).
func TestBatchZygotePidsLikeSingleRun(t *testing.T) {
	skipRoot(t)
	requireCgroup(t)
	p := helperProfile(t, "")
	var single int
	out := mustSucceed(t, "-q", "--pids", "24", "--profile", p, "--", "/jailtest", "__role", "forkcount")
	if _, err := fmt.Sscanf(out, "started %d", &single); err != nil {
		t.Fatalf("single run printed %q", out)
	}
	dir := t.TempDir()
	var reqs []string
	for i := 0; i < 3; i++ {
		reqs = append(reqs, fmt.Sprintf(`{"id": "f%d", "argv": ["/jailtest", "__role", "forkcount"], "limits": {"pids": "24"}, "stdout": "f%d.txt"}`, i, i))
	}
	answers, stderr := runBatch(t, dir, []string{"-q", "-p", p}, reqs)
	if len(answers) != len(reqs) {
		t.Fatalf("%d answers; stderr: %s", len(answers), stderr)
	}
	zygoteOrSkip(t, answers)
	for i := range reqs {
		b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f%d.txt", i)))
		var n int
		if _, err := fmt.Sscanf(string(b), "started %d", &n); err != nil {
			t.Fatalf("batch run %d printed %q: %v", i, b, answers[i])
		}
		// The Go runtimes' threads (the command's, a single run's init)
		// vary by one now and then.
		if n < single-1 || n > single+1 {
			t.Errorf("batch run %d started %d processes, a single run %d", i, n, single)
		}
	}
}

// TestSpawnFailureEnds: a command that cannot be started (a working
// directory that does not exist, a file that is not executable, one that
// does not exist) ends a single run and a batch run with the exec
// failure's status, never a hang.
func TestSpawnFailureEnds(t *testing.T) {
	requireSandbox(t)
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"--chdir", "/no-such-dir", "--", "true"}, 125},
		{[]string{"--", "/etc/passwd"}, 126},
		{[]string{"--", "/no-such-command"}, 127},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, jailBin, append([]string{"-q"}, c.args...)...)
		out, err := cmd.CombinedOutput()
		hung := ctx.Err() == context.DeadlineExceeded
		cancel()
		if hung {
			t.Fatalf("jail %q hung", c.args)
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != c.code {
			t.Errorf("jail %q: %v, want exit %d: %s", c.args, err, c.code, out)
		}
	}
}

// TestBatchZygoteDiedBetweenRuns: a zygote found dead when a request is
// sent to it (nothing started) is replaced, and that request is served by
// the new one.
func TestBatchZygoteDiedBetweenRuns(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	b := startBatch(t, t.TempDir())
	b.send(t, `{"id": "first", "argv": ["true"]}`)
	if a := b.answer(t); a["status"] != StatusOK || !fromZygote(a) {
		t.Fatalf("first: %v; stderr: %s", a, b.stderr.String())
	}
	zyg := children(b.cmd.Process.Pid, "jail-zygote")
	if len(zyg) != 1 {
		t.Fatalf("zygotes of the batch: %v", zyg)
	}
	if err := syscall.Kill(zyg[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", zyg[0]))
		if f := strings.Fields(string(st)); len(f) < 3 || f[2] == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the zygote did not die")
		}
	}
	b.send(t, `{"id": "second", "argv": ["true"]}`)
	if a := b.answer(t); a["status"] != StatusOK || !fromZygote(a) {
		t.Errorf("second: %v; stderr: %s", a, b.stderr.String())
	}
}
