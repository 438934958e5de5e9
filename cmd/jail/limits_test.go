package main

// Limits, end to end: each test runs a hostile workload under jail as the
// unprivileged test user and checks the verdict in the JSON report. The
// cgroup tests need a delegated cgroup (the test script sets one up with
// `jail setup-cgroup` and JAIL_TEST_CGROUP=1); the rest hold without one.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	roles["membomb"] = func(args []string) int { // touch up to 4 GiB, 1 MiB at a time
		var keep [][]byte
		for i := 0; i < 4096; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("survived", len(keep))
		return 0
	}
	roles["spin"] = func(args []string) int {
		for {
		}
	}
	roles["flood"] = func(args []string) int { // 1 GiB to stdout
		b := make([]byte, 1<<20)
		for i := 0; i < 1024; i++ {
			if _, err := os.Stdout.Write(b); err != nil {
				return 1
			}
		}
		return 0
	}
}

// requireCgroup skips unless a delegated cgroup is there to enforce limits.
func requireCgroup(t *testing.T) {
	t.Helper()
	requireSandbox(t)
	r := jail(t, "--require-cgroup", "--memory", "512MiB", "--", "true")
	if r.code == 0 {
		return
	}
	if os.Getenv("JAIL_TEST_CGROUP") == "1" {
		t.Fatalf("no usable delegated cgroup: %s", r.stderr)
	}
	t.Skipf("no delegated cgroup (run `jail setup-cgroup` as root, or set JAIL_TEST_CGROUP=1 to make this fail): %s", r.stderr)
}

// judged runs jail with a report and returns the exit code, the report and
// the command's stdout.
func judged(t *testing.T, args ...string) (result, Report) {
	t.Helper()
	rp := filepath.Join(t.TempDir(), "report.json")
	r := jail(t, append([]string{"--report", rp}, args...)...)
	var rep Report
	b, err := os.ReadFile(rp)
	if err != nil {
		t.Fatalf("no report (exit %d, stderr %q): %v", r.code, r.stderr, err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	t.Logf("report: %s", b)
	return r, rep
}

func helperArgs(t *testing.T, role string) []string {
	return []string{"--profile", helperProfile(t, ""), "--", "/jailtest", "__role", role}
}

func TestLimitMemoryBomb(t *testing.T) {
	requireCgroup(t)
	r, rep := judged(t, append([]string{"--memory", "256MiB"}, helperArgs(t, "membomb")...)...)
	if rep.Status != StatusML || rep.Limit != "memory" || rep.Memory.OOMKills == 0 {
		t.Errorf("status %s limit %q oom %d; want ML by the memory limit", rep.Status, rep.Limit, rep.Memory.OOMKills)
	}
	if r.code != 128+9 {
		t.Errorf("exit %d, want 137", r.code)
	}
	if rep.Memory.Peak > 300<<20 {
		t.Errorf("peak %d bytes above the 256MiB limit", rep.Memory.Peak)
	}
	checkNoLeftovers(t)
}

func TestLimitForkBomb(t *testing.T) {
	requireCgroup(t)
	rp := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.Command(jailBin, "--report", rp, "--pids", "64", "--wall-time", "3s", "--",
		"sh", "-c", "f() { while :; do f & done; }; f 2>/dev/null")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// The host stays responsive while the bomb runs.
	time.Sleep(time.Second)
	t0 := time.Now()
	if err := exec.Command("true").Run(); err != nil || time.Since(t0) > 2*time.Second {
		t.Errorf("host: starting true took %s (%v) during the fork bomb", time.Since(t0), err)
	}
	_ = cmd.Wait()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("fork bomb ended after %s", d)
	}
	var rep Report
	b, err := os.ReadFile(rp)
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("report: %v %s", err, b)
	}
	// Either the shell gives up when fork fails (RE, the report naming the
	// pids limit) or it keeps trying until the wall-time limit (TO).
	if rep.PidsLimitHits == 0 || rep.Status == StatusOK || (rep.Limit != "pids" && rep.Limit != "wall-time") {
		t.Errorf("pids hits %d, status %s, limit %q: want the pids limit hit and named", rep.PidsLimitHits, rep.Status, rep.Limit)
	}
	checkNoLeftovers(t)
}

func TestLimitCPUTime(t *testing.T) {
	requireCgroup(t)
	r, rep := judged(t, append([]string{"--cpu-time", "1s"}, helperArgs(t, "spin")...)...)
	if rep.Status != StatusTO || rep.Limit != "cpu-time" {
		t.Errorf("status %s limit %q, want TO by cpu-time", rep.Status, rep.Limit)
	}
	if rep.Time.CPU < 0.9 || rep.Time.CPU > 1.1 {
		t.Errorf("CPU time %.3fs, want within 10%% of 1s", rep.Time.CPU)
	}
	if r.code != 137 {
		t.Errorf("exit %d, want 137", r.code)
	}
	checkNoLeftovers(t)
}

func TestLimitWallTime(t *testing.T) {
	requireSandbox(t)
	start := time.Now()
	_, rep := judged(t, "--wall-time", "1s", "--", "sleep", "30")
	if rep.Status != StatusTO || rep.Limit != "wall-time" {
		t.Errorf("status %s limit %q, want TO by wall-time", rep.Status, rep.Limit)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestLimitOutput(t *testing.T) {
	requireSandbox(t)
	out := filepath.Join(t.TempDir(), "out")
	_, rep := judged(t, append([]string{"--output", "1MiB", "--stdout", out}, helperArgs(t, "flood")...)...)
	if rep.Status != StatusOL || rep.Limit != "output" {
		t.Errorf("status %s limit %q, want OL", rep.Status, rep.Limit)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Size() != 1<<20 {
		t.Errorf("stdout file: %v, %v; want exactly 1 MiB kept", fi, err)
	}
}

// TestAccounting runs tests/vm/progs/accounting.c (the cgroup v2 VM test
// runs it too): it touches 64 MiB and spins 0.5 s of CPU, measured by
// itself from main with getrusage. A static C program starts in well under
// a millisecond, so what it measures is what the sandbox should report.
func TestAccounting(t *testing.T) {
	requireCgroup(t)
	dir := t.TempDir()
	prog := filepath.Join(dir, "accounting")
	cc := exec.Command("gcc", "-O2", "-static", "-o", prog, "../../tests/vm/progs/accounting.c")
	if out, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	p := writeProfile(t, fmt.Sprintf("[[mount]]\ntype = \"bind\"\nsource = %q\ntarget = \"/acct\"\n", prog))
	r, rep := judged(t, "--profile", p, "--", "/acct")
	if rep.Status != StatusOK {
		t.Fatalf("status %s: %s", rep.Status, r.stderr)
	}
	var self float64
	i := strings.Index(r.stderr, "cpu=")
	if i < 0 {
		t.Fatalf("no self-measured CPU in %q", r.stderr)
	}
	if _, err := fmt.Sscanf(r.stderr[i:], "cpu=%f", &self); err != nil {
		t.Fatalf("no self-measured CPU in %q: %v", r.stderr, err)
	}
	if rep.Time.CPU < self*0.95 || rep.Time.CPU > self*1.05 {
		t.Errorf("reported CPU %.3fs, the program measured %.3fs: want within 5%%", rep.Time.CPU, self)
	}
	if rep.Memory.Peak < 64<<20 {
		t.Errorf("peak memory %d, want at least 64 MiB", rep.Memory.Peak)
	}
	checkNoLeftovers(t)
}

func TestDiskFillerStopsAtTmpfsSize(t *testing.T) {
	requireSandbox(t)
	p := writeProfile(t, "")
	b, _ := os.ReadFile(p)
	b = []byte(strings.Replace(string(b), `size = "64MiB"`, `size = "8MiB"`, 1))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustSucceed(t, "--profile", p, "--", "sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>/dev/null; wc -c </tmp/fill")
	if n := strings.TrimSpace(out); n != fmt.Sprint(8<<20) {
		t.Errorf("filled %s bytes, want the 8 MiB tmpfs size", n)
	}
}

func TestRlimitFallbackIsReported(t *testing.T) {
	requireSandbox(t)
	_, rep := judged(t, "--cgroup", "/nonexistent-jail-cgroup", "--memory", "256MiB", "--", "true")
	t.Logf("enforcement: %v", rep.Enforcement)
	if rep.Status != StatusXX && !strings.Contains(rep.Enforcement["memory"], "rlimit") {
		t.Errorf("memory limit without a cgroup: %q, want the rlimit fallback named", rep.Enforcement["memory"])
	}
	r := jail(t, "--require-cgroup", "--cgroup", "/nonexistent-jail-cgroup", "--memory", "256MiB", "--", "true")
	if r.code != exitSetup || !strings.Contains(r.stderr, "cgroup") {
		t.Errorf("--require-cgroup without one: exit %d %q, want 125 naming the cgroup", r.code, r.stderr)
	}
}

// checkNoLeftovers: no sandbox cgroup ("jail-<id>", owned by this user)
// remains anywhere in the cgroup hierarchies.
func checkNoLeftovers(t *testing.T) {
	t.Helper()
	_ = filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Count(path, "/") > 9 {
			return filepath.SkipDir
		}
		if strings.HasPrefix(d.Name(), "jail-") {
			if fi, err := os.Stat(path); err == nil && fi.Sys().(*syscall.Stat_t).Uid == uint32(os.Getuid()) {
				t.Errorf("sandbox cgroup left behind: %s", path)
			}
			return filepath.SkipDir
		}
		return nil
	})
}

// TestPidsFallbackPerSandbox: without a cgroup, the process limit is
// RLIMIT_NPROC, which counts a uid's processes; with a non-root uid inside,
// each sandbox's command gets a host uid of its own, so two sandboxes do
// not share the count, and one sandbox still hits its own.
func TestPidsFallbackPerSandbox(t *testing.T) {
	requireSandbox(t)
	skipRoot(t)
	if os.Getenv("JAIL_TEST_SUBID") != "1" {
		t.Skip("needs a /etc/subuid range (JAIL_TEST_SUBID=1)")
	}
	p := userProfile(t, "uid = 1000\ngid = 1000")
	spawn := func(n int) *exec.Cmd {
		return exec.Command(jailBin, "--profile", p, "--cgroup", "none", "--pids", "8", "--",
			"sh", "-c", fmt.Sprintf("i=0; while [ $i -lt %d ]; do sleep 1 & i=$((i+1)); done; wait", n))
	}
	// Two sandboxes of 7 processes each (sh and 6 sleeps) under a limit of 8.
	var outs [2]bytes.Buffer
	cmds := []*exec.Cmd{spawn(6), spawn(6)}
	for i, cmd := range cmds {
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("a sandbox under its own limit failed: %v %s", err, outs[i].String())
		}
	}
	// One sandbox of 13 processes under the same limit.
	if out, err := spawn(12).CombinedOutput(); err == nil || !strings.Contains(string(out), "fork") {
		t.Errorf("13 processes under --pids 8: %v %s, want fork to fail", err, out)
	}
}

// TestReportOnSetupFailure: a run that fails before the sandbox exists
// still writes its reports, as XX, over any previous run's.
func TestReportOnSetupFailure(t *testing.T) {
	dir := t.TempDir()
	meta, rep := filepath.Join(dir, "meta"), filepath.Join(dir, "r.json")
	for _, f := range []string{meta, rep} {
		if err := os.WriteFile(f, []byte("status:OLD\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := jail(t, "--meta", meta, "--report", rep, "--profile", filepath.Join(dir, "missing.toml"), "--", "true")
	if r.code != exitSetup {
		t.Fatalf("exit %d, want 125", r.code)
	}
	m, _ := os.ReadFile(meta)
	j, _ := os.ReadFile(rep)
	if !strings.Contains(string(m), "status:XX") || !strings.Contains(string(j), `"status": "XX"`) {
		t.Errorf("meta %q, report %q: want XX in both", m, j)
	}
}

// TestTimeLimitWithoutCgroup: without a cgroup the wall-time limit still
// holds, and the report still has the command's CPU time (from the
// init's rusage).
func TestTimeLimitWithoutCgroup(t *testing.T) {
	requireSandbox(t)
	r, rep := judged(t, "--cgroup", "none", "--wall-time", "1s", "--", "sh", "-c", "while :; do :; done")
	if rep.Status != StatusTO || rep.Limit != "wall-time" || r.code != 137 {
		t.Errorf("status %s limit %q exit %d, want TO by wall-time, 137", rep.Status, rep.Limit, r.code)
	}
	if rep.Time.CPU < 0.5 {
		t.Errorf("CPU %.3fs after a 1 s busy loop: the usage was lost", rep.Time.CPU)
	}
}

func init() {
	// clear-refs: reach a 200 MiB resident set, give it back, then write
	// 5 to /proc/self/clear_refs (which resets the peak the kernel keeps,
	// ru_maxrss) and say how that went.
	roles["clear-refs"] = func(args []string) int {
		b, err := unix.Mmap(-1, 0, 200<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			fmt.Println("mmap:", err)
			return 1
		}
		touchPages(b)
		_ = unix.Munmap(b)
		err = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		fmt.Println("clear_refs:", errName(err))
		return 0
	}
}

// touchPages writes a byte to each page of b: all of it is resident.
func touchPages(b []byte) {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
}

// TestPeakClearRefs (issue 11 item 8): without a cgroup the memory peak is
// the largest resident set of the command's processes, which writing 5 to
// /proc/self/clear_refs before exit would reset (a 200 MiB peak reported
// as a few MiB): /proc is read-only in every sandbox, single runs and batch
// runs, and the peak stays at least 200 MiB. Outside, the same role resets
// it (the proof that the check would see it).
func TestPeakClearRefs(t *testing.T) {
	skipRoot(t)
	requireSandbox(t)
	cmd := exec.Command(helperBin, "__role", "clear-refs")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("outside: %v: %s", err, out)
	}
	maxrss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	if !strings.Contains(string(out), "clear_refs: ok") || maxrss >= 195<<10 {
		t.Fatalf("outside, clear_refs did not hide the peak (%s, maxrss %d KiB): the check cannot see the harm", out, maxrss)
	}
	t.Logf("outside: ESCAPED %s; the peak of a 200 MiB process reads %d KiB", strings.TrimSpace(string(out)), maxrss)
	r, rep := judged(t, append([]string{"--cgroup", "none"}, helperArgs(t, "clear-refs")...)...)
	if rep.Status != StatusOK || rep.Memory.Peak < 195<<20 || !strings.Contains(r.stdout, "EROFS") ||
		!strings.HasPrefix(rep.Enforcement["memory_peak"], "rusage") {
		t.Errorf("single run: %s, peak %d MiB, enforcement %q, printed %q", rep.Status, rep.Memory.Peak>>20, rep.Enforcement["memory_peak"], r.stdout)
	}
	dir := t.TempDir()
	reqs := []string{`{"id": "c", "argv": ["/jailtest", "__role", "clear-refs"], "stdout": "c.out"}`}
	answers, stderr := runBatch(t, dir, []string{"-q", "--cgroup", "none", "-p", helperProfile(t, "")}, reqs)
	if len(answers) != 1 {
		t.Fatalf("%d answers; stderr: %s", len(answers), stderr)
	}
	zygoteOrSkip(t, answers)
	a := answers[0]
	mem, _ := a["memory"].(map[string]any)
	peak, _ := mem["peak"].(float64)
	enf, _ := a["enforcement"].(map[string]any)
	b, _ := os.ReadFile(filepath.Join(dir, "c.out"))
	if a["status"] != StatusOK || peak < 195<<20 || !strings.Contains(string(b), "EROFS") || !strings.HasPrefix(fmt.Sprint(enf["memory_peak"]), "rusage") {
		t.Errorf("batch run: %v, printed %q", a, b)
	}
}
