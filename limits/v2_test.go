package limits

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeV2 builds a cgroup2-like tree of plain files in a temp dir with our
// own cgroup at /user.slice/u.scope, and points probeHost at it.
func fakeV2(t *testing.T, controllers string, v1 map[string]v1Mount) (root, own string) {
	t.Helper()
	root = t.TempDir()
	own = filepath.Join(root, "user.slice", "u.scope")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{
		"cgroup.controllers":     controllers,
		"cgroup.subtree_control": "",
		"cgroup.procs":           "",
	} {
		if err := os.WriteFile(filepath.Join(own, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if v1 == nil {
		v1 = map[string]v1Mount{}
	}
	old := probeHost
	probeHost = func() (*hostCgroups, error) {
		return &hostCgroups{V2Mount: root, V2Root: "/", V2Own: "/user.slice/u.scope", V1Mounts: v1, V1Own: map[string]string{}}, nil
	}
	t.Cleanup(func() { probeHost = old })
	t.Setenv(EnvCgroup, "")
	return root, own
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	// The library creates the files of a fake tree write-only (on cgroupfs
	// the kernel sets the modes): make them readable for a non-root test.
	_ = os.Chmod(p, 0o644)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// emptyDir removes the plain files a fake leaf holds, as the kernel would
// on rmdir.
func emptyDir(t *testing.T, dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

func TestV2FakeAuto(t *testing.T) {
	_, own := fakeV2(t, "cpuset cpu io memory pids", nil)
	spec := Spec{Memory: 64 << 20, Pids: 32, CPUs: 0.5}
	c, err := Prepare(spec, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend() != Cgroup2 {
		t.Fatalf("backend %s, want cgroup2", c.Backend())
	}
	leaf := filepath.Join(own, "jail-t1")
	if got := c.Paths(); len(got) != 1 || got[0] != leaf {
		t.Fatalf("Paths() = %v, want [%s]", got, leaf)
	}
	if c.FD() < 0 {
		t.Fatal("FD() < 0 for cgroup2")
	}
	if got := readTrim(t, filepath.Join(own, "cgroup.subtree_control")); got != "+memory +pids +cpu" {
		t.Errorf("subtree_control written %q", got)
	}
	for f, want := range map[string]string{"memory.max": "67108864", "pids.max": "32", "cpu.max": "50000 100000"} {
		if got := readTrim(t, filepath.Join(leaf, f)); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	enf := c.Enforced(spec)
	for _, k := range []string{"memory", "pids", "cpus"} {
		if !strings.HasPrefix(enf[k], "cgroup: ") {
			t.Errorf("Enforced[%s] = %q", k, enf[k])
		}
	}
	// A plain directory has no memory.swap.max: reported, not dropped.
	if !strings.HasPrefix(enf["swap"], "rlimit: ") || !strings.Contains(enf["swap"], "swap accounting") {
		t.Errorf("Enforced[swap] = %q", enf["swap"])
	}

	for f, v := range map[string]string{
		"cpu.stat":      "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
		"memory.stat":   "anon 1\n",
		"memory.peak":   "33554432\n",
		"memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
		"pids.events":   "max 7\n",
		"cgroup.procs":  "",
	} {
		if err := os.WriteFile(filepath.Join(leaf, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u, err := c.Usage()
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{CPUUser: time.Second, CPUSystem: 500 * time.Millisecond, CPU: 1500 * time.Millisecond,
		MemoryPeak: 32 << 20, OOMKills: 1, PidsLimitHits: 7}
	if u != want {
		t.Errorf("Usage() = %+v, want %+v", u, want)
	}
	if err := c.Kill(); err != nil {
		t.Errorf("Kill: %v", err)
	}
	emptyDir(t, leaf)
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leaf); !os.IsNotExist(err) {
		t.Errorf("leaf still there: %v", err)
	}
	if c.FD() != -1 {
		t.Error("FD() after Remove")
	}
	if err := c.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestV2FakeStale(t *testing.T) {
	_, own := fakeV2(t, "cpu memory pids", nil)
	if err := os.Mkdir(filepath.Join(own, "jail-x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(Spec{}, "x"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Prepare over a stale leaf: %v", err)
	}
}

func TestV2FakeNotDelegated(t *testing.T) {
	// A hybrid host's unified mount: only hugetlb, no v1 controllers.
	fakeV2(t, "hugetlb", nil)
	spec := Spec{Memory: 1 << 20, Pids: 10, CPUs: 1}
	c, err := Prepare(spec, "t2")
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend() != None || c.FD() != -1 || len(c.Paths()) != 0 {
		t.Fatalf("got %s %d %v, want none", c.Backend(), c.FD(), c.Paths())
	}
	if err := c.AddProc(1); err != nil {
		t.Error(err)
	}
	if u, err := c.Usage(); err != nil || u != (Usage{}) {
		t.Errorf("Usage on none: %+v %v", u, err)
	}
	if err := c.Kill(); err != nil {
		t.Error(err)
	}
	if err := c.Remove(); err != nil {
		t.Error(err)
	}
	enf := c.Enforced(spec)
	if !strings.HasPrefix(enf["memory"], "rlimit: RLIMIT_AS=1048576") ||
		!strings.HasPrefix(enf["pids"], "rlimit: RLIMIT_NPROC=10") ||
		!strings.HasPrefix(enf["cpus"], "none: ") || !strings.Contains(enf["cpus"], "lacks memory, pids, cpu") {
		t.Errorf("Enforced = %q", enf)
	}

	spec.Require = true
	_, err = Prepare(spec, "t2")
	if err == nil {
		t.Fatal("Require: no error")
	}
	for _, want := range []string{"cgroup.controllers lacks", "systemd-run --user --scope -p Delegate=yes", "jail setup-cgroup --user", EnvCgroup} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var nilCg *Cgroup
	if nilCg.Backend() != None || nilCg.FD() != -1 || nilCg.Remove() != nil {
		t.Error("nil *Cgroup is not safe")
	}
}

func TestV2FakeNamed(t *testing.T) {
	root, _ := fakeV2(t, "hugetlb", nil)
	named := filepath.Join(root, "delegated")
	if err := os.Mkdir(named, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"cgroup.controllers": "memory pids", "cgroup.subtree_control": "memory"} {
		if err := os.WriteFile(filepath.Join(named, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvCgroup, named)
	spec := Spec{Memory: 1 << 20, CPUs: 1}
	c, err := Prepare(spec, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend() != Cgroup2 || c.Paths()[0] != filepath.Join(named, "jail-n1") {
		t.Fatalf("got %s %v", c.Backend(), c.Paths())
	}
	if got := readTrim(t, filepath.Join(named, "cgroup.subtree_control")); got != "+pids" {
		t.Errorf("subtree_control: only the missing controller should be written, got %q", got)
	}
	enf := c.Enforced(spec)
	if !strings.HasPrefix(enf["cpus"], "none: ") || !strings.Contains(enf["cpus"], "cpu controller is not in") {
		t.Errorf("Enforced[cpus] = %q", enf["cpus"])
	}
	emptyDir(t, c.Paths()[0])
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}

	// Require turns the unheld cpus limit into an error, and leaves nothing.
	spec.Require = true
	spec.CgroupDir = named // CgroupDir wins over the environment
	t.Setenv(EnvCgroup, "/nonexistent")
	if _, err := Prepare(spec, "n2"); err == nil || !strings.Contains(err.Error(), "cpus") {
		t.Fatalf("Require with cpus unheld: %v", err)
	}
	// (Prepare then removes the leaf; the fake one holds plain files that
	// rmdir cannot remove, so that part is proven by the real v1 test.)

	// A named directory that does not exist is an error even without Require.
	if _, err := Prepare(Spec{CgroupDir: filepath.Join(root, "nope")}, "n3"); err == nil {
		t.Error("missing named dir: no error")
	}
}

// TestV2FakeNest: a batch's cgroup made a parent (its limits lifted, the
// controllers enabled for its children, a holder for the zygote), then a
// run's cgroup below it with the run's limits.
func TestV2FakeNest(t *testing.T) {
	fakeV2(t, "cpu memory pids", nil)
	spec := Spec{Memory: 64 << 20, Pids: 32, CPUs: 0.5}
	c, err := Prepare(spec, "b1")
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.Paths()[0]
	for f, v := range map[string]string{"cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": ""} {
		if err := os.WriteFile(filepath.Join(leaf, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The library made the limit files of the fake tree read-only for us
	// (on cgroupfs the kernel sets the modes).
	for _, f := range []string{"memory.max", "pids.max", "cpu.max"} {
		_ = os.Chmod(filepath.Join(leaf, f), 0o644)
	}
	holder, err := c.Nest("zygote")
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"memory.max": "max", "pids.max": "max", "cpu.max": "max", "cgroup.subtree_control": "+memory +pids +cpu"} {
		if got := readTrim(t, filepath.Join(leaf, f)); got != want {
			t.Errorf("batch's %s = %q, want %q", f, got, want)
		}
	}
	if holder.Backend() != Cgroup2 || holder.FD() < 0 || holder.Paths()[0] != filepath.Join(leaf, "zygote") {
		t.Fatalf("holder %s %d %v", holder.Backend(), holder.FD(), holder.Paths())
	}
	runLeaf := filepath.Join(leaf, "jail-r1")
	run, err := c.Child(Spec{Memory: 32 << 20, Pids: 8}, "r1", -2)
	if err != nil {
		t.Fatal(err)
	}
	if run.Paths()[0] != runLeaf || run.FD() < 0 {
		t.Fatalf("run cgroup %v %d", run.Paths(), run.FD())
	}
	for f, want := range map[string]string{"memory.max": "33554432", "pids.max": "6"} {
		if got := readTrim(t, filepath.Join(runLeaf, f)); got != want {
			t.Errorf("run's %s = %q, want %q", f, got, want)
		}
	}
	if enf := run.Enforced(Spec{Memory: 32 << 20, Pids: 8}); enf["memory"] != "cgroup: memory.max=33554432" || enf["pids"] != "cgroup: pids.max=8" {
		t.Errorf("run's Enforced = %q", enf)
	}
	for _, d := range []string{runLeaf, holder.Paths()[0], leaf} {
		emptyDir(t, d)
	}
	for _, g := range []*Cgroup{run, holder, c} {
		if err := g.Remove(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(leaf); !os.IsNotExist(err) {
		t.Errorf("batch's cgroup still there: %v", err)
	}

	none := &Cgroup{backend: None}
	if _, err := none.Nest("zygote"); err == nil {
		t.Error("Nest without a cgroup: no error")
	}
	if _, err := none.Child(Spec{}, "x", 0); err == nil {
		t.Error("Child without a cgroup: no error")
	}
}
