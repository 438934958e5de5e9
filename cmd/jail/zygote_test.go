package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// zygoteOrSkip fails unless the batch's answers came from the zygote (on
// cgroup v2 too: a cgroup per run).
func zygoteOrSkip(t *testing.T, answers []map[string]any) {
	t.Helper()
	for _, a := range answers {
		enf, _ := a["enforcement"].(map[string]any)
		s, _ := enf["sandbox"].(string)
		if !strings.HasPrefix(s, "zygote") {
			t.Fatalf("answer %v did not come from the zygote", a)
		}
		if v2 := enf["backend"] == "cgroup2"; v2 != strings.HasSuffix(s, zygoteCgroupNote) {
			t.Fatalf("answer %v: a cgroup per run is said on cgroup v2 only", a)
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
