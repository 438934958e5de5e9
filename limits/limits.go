package limits

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

// Spec is what to limit. Zero means "no limit" for every field.
type Spec struct {
	Memory    uint64  `json:"memory,omitempty"`     // bytes of RAM (cgroup memory.max / memory.limit_in_bytes)
	Swap      bool    `json:"swap,omitempty"`       // false: swap counted and off (v2 memory.swap.max=0; v1 memsw.limit = Memory when the memsw file exists)
	Pids      uint64  `json:"pids,omitempty"`       // processes+threads (pids.max)
	CPUs      float64 `json:"cpus,omitempty"`       // CPU bandwidth in CPUs (v2 cpu.max "quota period", v1 cpu.cfs_quota_us/period_us), period 100ms
	CgroupDir string  `json:"cgroup_dir,omitempty"` // delegated parent dir the user named (v2: a cgroup2 directory; v1: the path relative to each controller root, e.g. "/jail/alice", or "memory=/a,pids=/b,..."); "" = find one (see Prepare)
	Require   bool    `json:"require,omitempty"`    // fail instead of falling back to rlimits
}

// Backend says which mechanism holds a sandbox's limits.
type Backend string

// The backends.
const (
	Cgroup2 Backend = "cgroup2"
	Cgroup1 Backend = "cgroup1"
	None    Backend = "none"
)

// cpuPeriod is the CPU bandwidth period in microseconds (100ms).
const cpuPeriod = 100000

// EnvCgroup names the environment variable that names the delegated parent
// when Spec.CgroupDir is empty.
const EnvCgroup = "JAIL_CGROUP"

// Cgroup is one sandbox's cgroup (or none). Methods are safe on the None
// backend (no-ops, zero usage) and on a nil *Cgroup.
type Cgroup struct {
	backend Backend
	fd      int
	// dirs maps a controller to its leaf directory. For cgroup2 every
	// enabled controller maps to the one leaf; the key "" is the leaf
	// itself. For cgroup1 co-mounted controllers share a directory.
	dirs map[string]string
	leaf string // cgroup2 leaf
	mgr  *cgroup2.Manager
	// applied records, per limit key, how it is enforced ("cgroup: ...");
	// missing records why a limit could not be put in the cgroup.
	applied map[string]string
	missing map[string]string
	// why explains the None backend.
	why     string
	removed bool
}

// Usage is the sandbox's accounting.
type Usage struct {
	CPUUser, CPUSystem time.Duration // v2 cpu.stat user_usec/system_usec; v1 cpuacct.usage_user/usage_sys (ns), else cpuacct.stat ticks
	CPU                time.Duration // total: v2 cpu.stat usage_usec; v1 cpuacct.usage (ns); precise, use this for CPU-time limits
	MemoryPeak         uint64        // v2 memory.peak (kernel 5.19+, else 0); v1 memory.max_usage_in_bytes
	OOMKills           uint64        // v2 memory.events oom_kill; v1 memory.oom_control oom_kill
	PidsLimitHits      uint64        // pids.events max
}

// Backend returns the backend in force.
func (c *Cgroup) Backend() Backend {
	if c == nil || c.backend == "" {
		return None
	}
	return c.backend
}

// FD returns, for cgroup2, an O_DIRECTORY|O_CLOEXEC fd of the leaf, for
// SysProcAttr.UseCgroupFD/CgroupFD (CLONE_INTO_CGROUP); -1 otherwise. It is
// valid until Remove.
func (c *Cgroup) FD() int {
	if c == nil || c.backend != Cgroup2 || c.removed {
		return -1
	}
	return c.fd
}

// Paths returns the leaf directories: one for cgroup2, one per controller
// mount for cgroup1, none for None.
func (c *Cgroup) Paths() []string {
	if c == nil {
		return nil
	}
	if c.backend == Cgroup2 {
		return []string{c.leaf}
	}
	var out []string
	seen := map[string]bool{}
	for _, ctl := range v1Controllers {
		if d, ok := c.dirs[ctl]; ok && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// AddProc puts pid into the sandbox cgroup. cgroup1: it writes pid to
// cgroup.procs of every controller leaf. cgroup2: a no-op, because the
// child was started in the leaf with CLONE_INTO_CGROUP (see FD).
func (c *Cgroup) AddProc(pid int) error {
	if c == nil || c.backend != Cgroup1 {
		return nil
	}
	for _, d := range c.Paths() {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), fmt.Sprint(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Usage reads the counters now.
func (c *Cgroup) Usage() (Usage, error) {
	if c == nil {
		return Usage{}, nil
	}
	switch c.backend {
	case Cgroup2:
		return c.usageV2()
	case Cgroup1:
		return c.usageV1()
	}
	return Usage{}, nil
}

// Kill kills every process inside the cgroup and waits (bounded, about 2s)
// until none is left. cgroup2: cgroup.kill when the kernel has it (5.14+),
// else SIGKILL over cgroup.procs until empty. cgroup1: freeze (when the
// freezer is delegated), SIGKILL everything in cgroup.procs, thaw, repeat
// until empty, so that a fork bomb cannot outrun the loop.
func (c *Cgroup) Kill() error {
	if c == nil || c.removed {
		return nil
	}
	switch c.backend {
	case Cgroup2:
		return c.killV2()
	case Cgroup1:
		return c.killV1()
	}
	return nil
}

// killTimeout bounds Kill.
const killTimeout = 2 * time.Second

// Remove kills what is left, removes every leaf directory (retrying EBUSY
// briefly) and closes the fd. It is idempotent.
func (c *Cgroup) Remove() error {
	if c == nil || c.backend == None || c.backend == "" || c.removed {
		return nil
	}
	kerr := c.Kill()
	var errs []error
	for _, d := range c.Paths() {
		if err := rmdirRetry(d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Keep the fd and the state, so that Remove can be called again.
		if kerr != nil {
			errs = append([]error{kerr}, errs...)
		}
		return errors.Join(errs...)
	}
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	c.removed = true
	return nil
}

// rmdirRetry removes a cgroup directory; ENOENT counts as done, EBUSY (the
// last tasks are still exiting) is retried for about a second.
func rmdirRetry(dir string) error {
	deadline := time.Now().Add(time.Second)
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) && time.Now().Before(deadline):
			time.Sleep(10 * time.Millisecond)
		default:
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
	}
}

// Enforced says, per limit asked for in spec, how it is enforced. The keys
// are "memory", "swap" (asked for whenever spec.Swap is false), "pids" and
// "cpus"; each value starts with "cgroup", "rlimit" or "none", then ": "
// and the detail or the reason. "rlimit" means the caller must apply that
// rlimit in the sandbox: this package only reports it.
func (c *Cgroup) Enforced(spec Spec) map[string]string {
	out := map[string]string{}
	why := "no cgroup"
	if c != nil && c.why != "" {
		why = "no cgroup: " + c.why
	}
	get := func(key string) (string, bool) {
		if c == nil {
			return "", false
		}
		if v, ok := c.applied[key]; ok {
			return v, true
		}
		if v, ok := c.missing[key]; ok {
			why = v
		}
		return "", false
	}
	if spec.Memory > 0 {
		if v, ok := get("memory"); ok {
			out["memory"] = v
		} else {
			out["memory"] = fmt.Sprintf("rlimit: RLIMIT_AS=%d bounds address space, not RAM (%s)", spec.Memory, why)
		}
	}
	if !spec.Swap {
		if v, ok := get("swap"); ok {
			out["swap"] = v
		} else if spec.Memory > 0 {
			out["swap"] = "rlimit: RLIMIT_AS bounds RAM and swap together (" + why + ")"
		} else {
			out["swap"] = "none: swap cannot be turned off without a cgroup memory limit (" + why + ")"
		}
	}
	if spec.Pids > 0 {
		if v, ok := get("pids"); ok {
			out["pids"] = v
		} else {
			out["pids"] = fmt.Sprintf("rlimit: RLIMIT_NPROC=%d counts per uid, so it needs a sub-uid of its own per sandbox (%s)", spec.Pids, why)
		}
	}
	if spec.CPUs > 0 {
		if v, ok := get("cpus"); ok {
			out["cpus"] = v
		} else {
			out["cpus"] = "none: CPU bandwidth needs the cpu cgroup controller (" + why + ")"
		}
	}
	return out
}

// checkSpec rejects values no backend can take.
func checkSpec(spec Spec, id string) error {
	if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return fmt.Errorf("limits: bad sandbox id %q", id)
	}
	if math.IsNaN(spec.CPUs) || math.IsInf(spec.CPUs, 0) || spec.CPUs < 0 {
		return fmt.Errorf("limits: cpus: bad value %v", spec.CPUs)
	}
	if spec.CPUs > 0 && cpuQuota(spec.CPUs) < 1000 {
		return fmt.Errorf("limits: cpus: %v is below the kernel's minimum of 0.01", spec.CPUs)
	}
	if spec.Memory > math.MaxInt64 || spec.Pids > math.MaxInt64 {
		return errors.New("limits: memory or pids value too large")
	}
	return nil
}

// cpuQuota is the quota in microseconds per cpuPeriod for n CPUs.
func cpuQuota(n float64) int64 { return int64(math.Round(n * cpuPeriod)) }

// NoCgroup as the cgroup directory (or JAIL_CGROUP) asks for no cgroup:
// the rlimit fallbacks, as on a host without delegation.
const NoCgroup = "none"

// Prepare creates the sandbox's leaf cgroup named "jail-"+id under a
// delegated parent and writes the limits.
//
// The parent is, in order: spec.CgroupDir; else $JAIL_CGROUP; else
// (cgroup2) our own cgroup2 directory if we may write it and it offers
// memory, pids and cpu; else (cgroup1) "jail/<user>" below our own cgroup
// or below the root of each controller, as SetupV1 made it. A parent the
// user named (CgroupDir or JAIL_CGROUP) must work: any problem with it is
// an error. When nothing usable is found, Prepare returns the None backend
// and a nil error, unless spec.Require, when the error says what was looked
// for and how to fix it. A limit the backend cannot hold is reported by
// Enforced, never silently dropped; with spec.Require, a memory, pids or
// cpus limit that is not held by the cgroup is an error.
func Prepare(spec Spec, id string) (*Cgroup, error) {
	if err := checkSpec(spec, id); err != nil {
		return nil, err
	}
	h, err := probeHost()
	if err != nil {
		return noCgroup(spec, "cannot read the cgroup layout: "+err.Error())
	}
	named, src := spec.CgroupDir, "cgroup_dir"
	if named == "" {
		named, src = os.Getenv(EnvCgroup), EnvCgroup
	}
	if named == NoCgroup {
		return noCgroup(spec, "no cgroup asked for ("+src+"="+NoCgroup+")")
	}
	var c *Cgroup
	if named != "" {
		if isV2Dir(h, named) {
			c, err = prepareV2(h, spec, id, filepath.Clean(named), false, 0)
		} else {
			c, err = prepareV1Named(h, spec, id, named)
		}
		if err != nil {
			return nil, fmt.Errorf("limits: %s %q: %w", src, named, err)
		}
		return finish(c, spec)
	}

	var tried []string
	c, err = prepareV2Auto(h, spec, id)
	if err == nil {
		return finish(c, spec)
	}
	var nu notUsable
	if !errors.As(err, &nu) {
		return nil, fmt.Errorf("limits: %w", err)
	}
	tried = append(tried, "cgroup2: "+nu.Error())
	c, err = prepareV1Auto(h, spec, id)
	if err == nil {
		return finish(c, spec)
	}
	if !errors.As(err, &nu) {
		return nil, fmt.Errorf("limits: %w", err)
	}
	tried = append(tried, "cgroup1: "+nu.Error())
	return noCgroup(spec, strings.Join(tried, "; "))
}

// notUsable says that a backend was looked for and not found; Prepare then
// tries the next one.
type notUsable struct{ reason string }

func (e notUsable) Error() string { return e.reason }

// hint is the advice attached to "no cgroup" errors.
const hint = "to fix: on cgroup v2 run jail as `systemd-run --user --scope -p Delegate=yes jail ...`" +
	" or name a delegated cgroup2 directory in " + EnvCgroup +
	"; on cgroup v1 run as root once: `jail setup-cgroup --user NAME`"

func noCgroup(spec Spec, why string) (*Cgroup, error) {
	if spec.Require {
		return nil, fmt.Errorf("limits: no usable cgroup (%s); %s", why, hint)
	}
	return &Cgroup{backend: None, fd: -1, why: why}, nil
}

// finish fails, with spec.Require, when a limit asked for is not held by
// the cgroup, and then removes the cgroup.
func finish(c *Cgroup, spec Spec) (*Cgroup, error) {
	if err := requireAll(c, spec); err != nil {
		c.Remove()
		return nil, err
	}
	return c, nil
}

func requireAll(c *Cgroup, spec Spec) error {
	if !spec.Require {
		return nil
	}
	enf := c.Enforced(spec)
	var bad []string
	for _, k := range []string{"memory", "pids", "cpus"} {
		if v, ok := enf[k]; ok && !strings.HasPrefix(v, "cgroup") {
			bad = append(bad, k+": "+v)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("limits: required limits not held by the cgroup: %s", strings.Join(bad, "; "))
}

// killPids sends SIGKILL to every pid; a pid that is gone is fine.
func killPids(pids []int) {
	for _, p := range pids {
		if p > 0 {
			_ = unix.Kill(p, syscall.SIGKILL)
		}
	}
}
