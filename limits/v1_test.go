package limits

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("JAIL_LIMITS_TEST_ROLE") == "alloc" {
		// Wait until the parent has put us in the cgroup, then touch memory
		// until the OOM killer ends us.
		io.ReadFull(os.Stdin, make([]byte, 1))
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	}
	os.Exit(m.Run())
}

// setupV1 delegates a throwaway directory below our own cgroups, as root,
// to the uid of the "jailtest" user.
func setupV1(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root (the delegation step); rootless use is tested end to end")
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("no cgroup v1 memory controller")
	}
	u, err := user.Lookup("jailtest")
	if err != nil {
		t.Skip("no jailtest user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	name := fmt.Sprintf("limitstest%d", os.Getpid())
	dirs, err := SetupV1(name, uid, gid, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemoveV1(name, true); err != nil {
			t.Errorf("RemoveV1: %v", err)
		}
		h, _ := probeHost()
		for ctl, m := range h.V1Mounts {
			d := m.dir(h.V1Own[ctl] + "/jail/" + name)
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still there after RemoveV1", d)
			}
		}
	})
	// Everything is below our own cgroup and owned by the user.
	h, _ := probeHost()
	for _, kv := range dirs {
		ctl, rel, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(rel, strings.TrimSuffix(h.V1Own[ctl], "/")+"/jail/") {
			t.Fatalf("%s not below our own %s cgroup %s", rel, ctl, h.V1Own[ctl])
		}
		st, err := os.Stat(h.V1Mounts[ctl].dir(rel))
		if err != nil {
			t.Fatal(err)
		}
		if st.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
			t.Errorf("%s not owned by %d", rel, uid)
		}
	}
	return strings.Join(dirs, ",")
}

// startGated starts cmd with a stdin pipe, adds it to c, then lets it run.
func startGated(t *testing.T, c *Cgroup, cmd *exec.Cmd) chan error {
	t.Helper()
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.AddProc(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	w.Write([]byte("go\n"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return done
}

func checkGone(t *testing.T, c *Cgroup, pid int, done chan error) {
	t.Helper()
	if err := c.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	for _, d := range c.Paths() {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Remove", d)
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("process not reaped after Remove")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists: %v", pid, err)
	}
	if err := c.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestV1CPU(t *testing.T) {
	dir := setupV1(t)
	spec := Spec{CgroupDir: dir, Swap: true}
	c, err := Prepare(spec, fmt.Sprintf("cpu%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	if c.Backend() != Cgroup1 || c.FD() != -1 || len(c.Paths()) < 4 {
		t.Fatalf("got %s fd=%d paths=%v", c.Backend(), c.FD(), c.Paths())
	}
	cmd := exec.Command("sh", "-c", "read x; yes > /dev/null")
	done := startGated(t, c, cmd)
	time.Sleep(300 * time.Millisecond)
	u, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("usage: %+v", u)
	if u.CPU < 100*time.Millisecond || u.CPUUser+u.CPUSystem < 50*time.Millisecond {
		t.Errorf("CPU usage too low: %+v", u)
	}
	checkGone(t, c, cmd.Process.Pid, done)
}

func TestV1CPUQuota(t *testing.T) {
	dir := setupV1(t)
	spec := Spec{CgroupDir: dir, Swap: true, CPUs: 0.2}
	c, err := Prepare(spec, fmt.Sprintf("cpuq%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	if e := c.Enforced(spec)["cpus"]; !strings.HasPrefix(e, "cgroup: cpu.cfs_quota_us=20000") {
		t.Errorf("Enforced[cpus] = %q", e)
	}
	cmd := exec.Command("sh", "-c", "read x; yes > /dev/null")
	done := startGated(t, c, cmd)
	time.Sleep(1 * time.Second)
	u, _ := c.Usage()
	t.Logf("usage with cpus=0.2 over 1s: %+v", u)
	if u.CPU > 400*time.Millisecond {
		t.Errorf("quota not held: %v of CPU in 1s at 0.2 CPUs", u.CPU)
	}
	checkGone(t, c, cmd.Process.Pid, done)
}

func TestV1Memory(t *testing.T) {
	dir := setupV1(t)
	spec := Spec{CgroupDir: dir, Memory: 32 << 20}
	c, err := Prepare(spec, fmt.Sprintf("mem%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	enf := c.Enforced(spec)
	t.Logf("enforced: %q", enf)
	if !strings.HasPrefix(enf["memory"], "cgroup: memory.limit_in_bytes=33554432") {
		t.Errorf("Enforced[memory] = %q", enf["memory"])
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "JAIL_LIMITS_TEST_ROLE=alloc")
	done := startGated(t, c, cmd)
	var werr error
	select {
	case werr = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("allocator not killed within 10s")
	}
	done <- werr
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("allocator ended with %v, want SIGKILL", werr)
	}
	u, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("usage: %+v", u)
	if u.OOMKills < 1 {
		t.Errorf("OOMKills = %d, want >= 1", u.OOMKills)
	}
	if u.MemoryPeak < 30<<20 {
		t.Errorf("MemoryPeak = %d, want about 32MiB", u.MemoryPeak)
	}
	checkGone(t, c, cmd.Process.Pid, done)
}

func TestV1Pids(t *testing.T) {
	dir := setupV1(t)
	spec := Spec{CgroupDir: dir, Pids: 5}
	c, err := Prepare(spec, fmt.Sprintf("pids%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	cmd := exec.Command("sh", "-c", "read x; for i in $(seq 20); do sleep 30 & done 2>/dev/null; sleep 30")
	done := startGated(t, c, cmd)
	time.Sleep(500 * time.Millisecond)
	u, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("usage: %+v", u)
	if u.PidsLimitHits < 1 {
		t.Errorf("PidsLimitHits = %d, want >= 1", u.PidsLimitHits)
	}
	n := 0
	for _, d := range c.Paths() {
		if strings.Contains(d, "/pids/") {
			p, _ := readPids(d + "/cgroup.procs")
			n = len(p)
		}
	}
	if n == 0 || n > 5 {
		t.Errorf("%d processes in the pids cgroup, want 1..5", n)
	}
	start := time.Now()
	checkGone(t, c, cmd.Process.Pid, done)
	t.Logf("kill+remove took %v", time.Since(start))
}

// A leaf that is not the jail's own cannot be reused: Prepare refuses a
// stale "jail-<id>".
func TestV1Stale(t *testing.T) {
	dir := setupV1(t)
	id := fmt.Sprintf("stale%d", os.Getpid())
	c, err := Prepare(Spec{CgroupDir: dir}, id)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	if _, err := Prepare(Spec{CgroupDir: dir}, id); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second Prepare: %v", err)
	}
}

// TestV1Child: Nest lifts the batch cgroup's limits (memsw before
// limit_in_bytes); a run's child cgroup gets the run's limits (pids.max
// raised by extraPids, at least 1) and counters of its own: 40 MiB left
// charged to the parent (page cache) and the parent's usage above the
// child's limit do not show in it or stop its limit from being written; a
// process moves itself in by writing "0" to the OpenTasks descriptors, and
// the child goes with Remove.
func TestV1Child(t *testing.T) {
	dir := setupV1(t)
	c, err := Prepare(Spec{CgroupDir: dir, Memory: 256 << 20, Pids: 8}, fmt.Sprintf("child%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Remove()
	if holder, err := c.Nest("zygote"); err != nil || holder != nil {
		t.Fatalf("Nest: %v, %v", holder, err)
	}
	mem, pids := v1Dir(c, "memory"), v1Dir(c, "pids")
	for f, want := range map[string]string{filepath.Join(mem, "memory.limit_in_bytes"): "9223372036854771712", filepath.Join(pids, "pids.max"): "max"} {
		if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) != want {
			t.Errorf("after Nest, %s = %q, want %q", f, b, want)
		}
	}
	f := filepath.Join(t.TempDir(), "cached")
	cmd := exec.Command("sh", "-c", `read x; head -c 41943040 /dev/zero > "$1"; echo done; read y`, "sh", f)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	done := startGated(t, c, cmd)
	if _, err := io.ReadFull(out, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	run, err := c.Child(Spec{Memory: 32 << 20, Pids: 8}, "r1", -2)
	if err != nil {
		t.Fatal(err)
	}
	runMem, runPids := v1Dir(run, "memory"), v1Dir(run, "pids")
	if runMem != filepath.Join(mem, "jail-r1") || runPids != filepath.Join(pids, "jail-r1") {
		t.Fatalf("run's cgroup %v", run.Paths())
	}
	for f, want := range map[string]string{filepath.Join(runMem, "memory.limit_in_bytes"): "33554432", filepath.Join(runPids, "pids.max"): "6"} {
		if b, _ := os.ReadFile(f); strings.TrimSpace(string(b)) != want {
			t.Errorf("%s = %q, want %q", f, b, want)
		}
	}
	if enf := run.Enforced(Spec{Memory: 32 << 20, Pids: 8}); enf["memory"] != "cgroup: memory.limit_in_bytes=33554432" || enf["pids"] != "cgroup: pids.max=8" {
		t.Errorf("run's Enforced = %q", enf)
	}
	u, err := run.Usage()
	if err != nil || u.MemoryPeak != 0 || u.CPU != 0 {
		t.Errorf("a new run's usage: %+v, %v", u, err)
	}
	tasks, err := run.OpenTasks()
	if err != nil || len(tasks) != len(run.Paths()) {
		t.Fatalf("OpenTasks: %d files, %v", len(tasks), err)
	}
	mover := exec.Command("sh", "-c", `for f in /proc/self/fd/3 /proc/self/fd/4 /proc/self/fd/5 /proc/self/fd/6 /proc/self/fd/7; do [ -e $f ] && echo 0 >$f; done; cat /proc/self/cgroup`)
	mover.ExtraFiles = tasks
	got, err := mover.CombinedOutput()
	for _, f := range tasks {
		f.Close()
	}
	if err != nil || !strings.Contains(string(got), "jail-r1") {
		t.Fatalf("moving in: %v: %s", err, got)
	}
	if u, err := run.Usage(); err != nil || u.MemoryPeak == 0 || u.MemoryPeak > 30<<20 {
		t.Errorf("the run's peak %d (%v): want its own, not the parent's 40 MiB", u.MemoryPeak, err)
	}
	if err := run.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{runMem, runPids} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Remove", d)
		}
	}
	checkGone(t, c, cmd.Process.Pid, done)
}

// v1Dir is c's directory of controller ctl.
func v1Dir(c *Cgroup, ctl string) string { return c.dirs[ctl] }
