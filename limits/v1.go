package limits

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// v1Optional are controllers a v1 sandbox can do without: without the
// freezer, Kill loops SIGKILL instead of freezing first.
var v1Optional = map[string]bool{"freezer": true}

// delegatedName is the directory SetupV1 makes below each parent.
const delegatedName = "jail"

// writable says whether we may create cgroups in dir and move processes
// into them: dir and its cgroup.procs must be writable by us.
func writable(dir string) error {
	for _, f := range []string{dir, filepath.Join(dir, "cgroup.procs")} {
		if err := unix.Access(f, unix.W_OK); err != nil {
			return &os.PathError{Op: "access", Path: f, Err: err}
		}
	}
	return nil
}

// currentUser names the delegated directory for the calling user.
func currentUser() string {
	uid := strconv.Itoa(os.Getuid())
	if u, err := user.LookupId(uid); err == nil && u.Username != "" {
		return u.Username
	}
	return uid
}

// prepareV1Auto looks for "jail/<user>" below our own cgroup and below the
// root of each controller.
func prepareV1Auto(h *hostCgroups, spec Spec, id string) (*Cgroup, error) {
	if len(h.V1Mounts) == 0 {
		return nil, notUsable{"no cgroup v1 controllers mounted"}
	}
	name := currentUser()
	rels := map[string]string{}
	var lack []string
	for _, ctl := range v1Controllers {
		m, ok := h.V1Mounts[ctl]
		if !ok {
			continue
		}
		var looked []string
		for _, cand := range []string{path.Join(h.V1Own[ctl], delegatedName, name), path.Join("/", delegatedName, name)} {
			d := m.dir(cand)
			if d == "" || slicesContains(looked, d) {
				continue
			}
			looked = append(looked, d)
			if writable(d) == nil {
				rels[ctl] = cand
				break
			}
		}
		if _, ok := rels[ctl]; !ok && !v1Optional[ctl] {
			lack = append(lack, strings.Join(looked, " or "))
		}
	}
	if len(lack) > 0 {
		return nil, notUsable{"no delegated directory writable by us at " + strings.Join(lack, ", ")}
	}
	return prepareV1(h, spec, id, rels)
}

// prepareV1Named uses the v1 parents named in CgroupDir or JAIL_CGROUP.
func prepareV1Named(h *hostCgroups, spec Spec, id, named string) (*Cgroup, error) {
	if len(h.V1Mounts) == 0 {
		if h.V2Mount != "" {
			return nil, fmt.Errorf("no cgroup v1 controllers are mounted; a cgroup2 directory must be an absolute path below %s", h.V2Mount)
		}
		return nil, errors.New("no cgroup mounted")
	}
	dirs, err := parseV1Dirs(named)
	if err != nil {
		return nil, err
	}
	rels := map[string]string{}
	for _, ctl := range v1Controllers {
		m, ok := h.V1Mounts[ctl]
		if !ok {
			continue
		}
		rel, ok := dirs[ctl]
		if !ok {
			rel, ok = dirs[""]
		}
		if !ok {
			continue // not named: reported by Enforced
		}
		d := m.dir(rel)
		if d == "" {
			return nil, fmt.Errorf("%s: %s is not visible below the %s mount %s", ctl, rel, ctl, m.Dir)
		}
		if err := writable(d); err != nil {
			if errors.Is(err, os.ErrNotExist) && v1Optional[ctl] {
				continue
			}
			return nil, fmt.Errorf("%s: %w (run as root once: jail setup-cgroup --user %s)", ctl, err, currentUser())
		}
		rels[ctl] = rel
	}
	return prepareV1(h, spec, id, rels)
}

// prepareV1 creates "<rel>/jail-<id>" in every controller of rels (once per
// mount) and writes the limits.
func prepareV1(h *hostCgroups, spec Spec, id string, rels map[string]string) (*Cgroup, error) {
	parents := map[string]string{}
	for _, ctl := range v1Controllers {
		if rel, ok := rels[ctl]; ok {
			parents[ctl] = h.V1Mounts[ctl].dir(rel)
		}
	}
	notDelegated := func(ctl string) string {
		if _, ok := h.V1Mounts[ctl]; !ok {
			return "the " + ctl + " controller is not mounted"
		}
		return "no delegated directory for the " + ctl + " controller"
	}
	return makeV1(parents, spec, id, 0, true, notDelegated)
}

// makeV1 creates "jail-<id>" below the parent directory of every
// controller in parents (once per directory: co-mounted controllers share
// it) and writes spec's limits, pids.max raised by extraPids (at least 1).
// With sweep, stale leaves of crashed runs are removed from each parent
// first. missing says why a controller that parents lacks is not there.
func makeV1(parents map[string]string, spec Spec, id string, extraPids int64, sweep bool, missing func(ctl string) string) (*Cgroup, error) {
	c := &Cgroup{
		backend: Cgroup1, fd: -1, dirs: map[string]string{},
		applied: map[string]string{}, missing: map[string]string{},
	}
	var made []string
	fail := func(err error) (*Cgroup, error) {
		for i := len(made) - 1; i >= 0; i-- {
			unix.Rmdir(made[i])
		}
		return nil, err
	}
	byParent := map[string]string{}
	for _, ctl := range v1Controllers {
		parent, ok := parents[ctl]
		if !ok {
			continue
		}
		if leaf, ok := byParent[parent]; ok {
			c.dirs[ctl] = leaf
			continue
		}
		if sweep {
			sweepStale(parent)
		}
		leaf := filepath.Join(parent, "jail-"+id)
		if err := os.Mkdir(leaf, 0o755); err != nil {
			if errors.Is(err, os.ErrExist) {
				return fail(fmt.Errorf("%s already exists (left over from a crashed run? remove it with rmdir)", leaf))
			}
			return fail(err)
		}
		made = append(made, leaf)
		byParent[parent] = leaf
		c.dirs[ctl] = leaf
	}

	if d, ok := c.dirs["memory"]; ok {
		if spec.Memory > 0 {
			v := strconv.FormatUint(spec.Memory, 10)
			if err := writeFile(filepath.Join(d, "memory.limit_in_bytes"), v); err != nil {
				return fail(err)
			}
			c.applied["memory"] = "cgroup: memory.limit_in_bytes=" + v
		}
		if !spec.Swap {
			memsw := filepath.Join(d, "memory.memsw.limit_in_bytes")
			switch {
			case !exists(memsw):
				c.missing["swap"] = "no memory.memsw.limit_in_bytes (kernel booted without swapaccount=1)"
			case spec.Memory == 0:
				c.missing["swap"] = "cgroup v1 can only turn swap off together with a memory limit"
			default:
				// memsw must not be below limit_in_bytes: write it after.
				v := strconv.FormatUint(spec.Memory, 10)
				if err := writeFile(memsw, v); err != nil {
					return fail(err)
				}
				c.applied["swap"] = "cgroup: memory.memsw.limit_in_bytes=" + v
			}
		}
	} else {
		c.missing["memory"] = missing("memory")
		c.missing["swap"] = missing("memory")
	}
	if d, ok := c.dirs["pids"]; ok {
		if spec.Pids > 0 {
			v := strconv.FormatInt(max(int64(spec.Pids)+extraPids, 1), 10)
			if err := writeFile(filepath.Join(d, "pids.max"), v); err != nil {
				return fail(err)
			}
			c.applied["pids"] = "cgroup: pids.max=" + strconv.FormatUint(spec.Pids, 10)
		}
	} else {
		c.missing["pids"] = missing("pids")
	}
	if d, ok := c.dirs["cpu"]; ok {
		if spec.CPUs > 0 {
			q := strconv.FormatInt(cpuQuota(spec.CPUs), 10)
			if err := writeFile(filepath.Join(d, "cpu.cfs_period_us"), strconv.Itoa(cpuPeriod)); err != nil {
				return fail(err)
			}
			if err := writeFile(filepath.Join(d, "cpu.cfs_quota_us"), q); err != nil {
				return fail(err)
			}
			c.applied["cpus"] = fmt.Sprintf("cgroup: cpu.cfs_quota_us=%s cpu.cfs_period_us=%d", q, cpuPeriod)
		}
	} else {
		c.missing["cpus"] = missing("cpu")
	}
	return c, nil
}

func (c *Cgroup) usageV1() (Usage, error) {
	var u Usage
	if d, ok := c.dirs["cpuacct"]; ok {
		n, err := readUint(filepath.Join(d, "cpuacct.usage"))
		if err != nil {
			return u, err
		}
		u.CPU = time.Duration(n)
		usr, uerr := readUint(filepath.Join(d, "cpuacct.usage_user"))
		sys, serr := readUint(filepath.Join(d, "cpuacct.usage_sys"))
		if uerr == nil && serr == nil {
			u.CPUUser, u.CPUSystem = time.Duration(usr), time.Duration(sys)
		} else if st, err := readFlatKeyed(filepath.Join(d, "cpuacct.stat")); err == nil {
			u.CPUUser, u.CPUSystem = ticksToDuration(st["user"]), ticksToDuration(st["system"])
		}
	}
	if d, ok := c.dirs["memory"]; ok {
		n, err := readUint(filepath.Join(d, "memory.max_usage_in_bytes"))
		if err != nil {
			return u, err
		}
		u.MemoryPeak = n
		oc, err := readFlatKeyed(filepath.Join(d, "memory.oom_control"))
		if err != nil {
			return u, err
		}
		u.OOMKills = oc["oom_kill"]
	}
	if d, ok := c.dirs["pids"]; ok {
		ev, err := readFlatKeyed(filepath.Join(d, "pids.events"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return u, err
		}
		u.PidsLimitHits = ev["max"]
	}
	return u, nil
}

// userHZ is the unit of cpuacct.stat: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

func ticksToDuration(t uint64) time.Duration { return time.Duration(t) * (time.Second / userHZ) }

func (c *Cgroup) killV1() error {
	freezer := c.dirs["freezer"]
	deadline := time.Now().Add(killTimeout)
	for {
		pids := map[int]bool{}
		for _, d := range c.Paths() {
			ps, err := readPids(filepath.Join(d, "cgroup.procs"))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			for _, p := range ps {
				pids[p] = true
			}
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill %s: %d processes still alive after %v", strings.Join(c.Paths(), ", "), len(pids), killTimeout)
		}
		// Frozen, nothing in the cgroup can fork, so one pass of SIGKILL
		// reaches everything; the kill takes effect when thawed.
		frozen := freezer != "" && freeze(freezer, "FROZEN") == nil
		if frozen {
			// Re-read: a task forked between our read and the freeze.
			if ps, err := readPids(filepath.Join(freezer, "cgroup.procs")); err == nil {
				for _, p := range ps {
					pids[p] = true
				}
			}
		}
		for p := range pids {
			killPids([]int{p})
		}
		if freezer != "" {
			_ = writeFile(filepath.Join(freezer, "freezer.state"), "THAWED")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freeze writes state to freezer.state and waits (up to 100ms) until the
// kernel reports it.
func freeze(dir, state string) error {
	f := filepath.Join(dir, "freezer.state")
	if err := writeFile(f, state); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) == state {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("%s: still not %s", f, state)
}

// SetupV1 is the one-time, root-only delegation for cgroup v1 hosts (the
// `jail setup-cgroup` command). For each of memory, pids, cpu, cpuacct and
// freezer that is mounted, it creates <mount><parent>/jail/<user> and chowns
// it and its cgroup.procs and tasks to uid:gid; parent is "/" or, with
// underOwnCgroup, the caller's own cgroup of that controller (for tests).
// The files of the leaves the user creates later are the kernel's, owned by
// the user.
//
// It returns one "controller=/relative/dir" per controller, sorted; joined
// with "," they are a valid Spec.CgroupDir or JAIL_CGROUP. Running it again
// is harmless.
func SetupV1(user string, uid, gid int, underOwnCgroup bool) ([]string, error) {
	if err := checkUserName(user); err != nil {
		return nil, err
	}
	h, err := probeHost()
	if err != nil {
		return nil, err
	}
	if len(h.V1Mounts) == 0 {
		return nil, errors.New("setup-cgroup: no cgroup v1 controllers are mounted (on cgroup v2 use systemd delegation instead)")
	}
	ds, err := delegatedDirs(h, user, underOwnCgroup, true)
	if err != nil {
		return nil, err
	}
	rels := map[string]string{}
	for _, d := range ds {
		rels[d.ctl] = d.rel
		if d.top == "" || d.dir == "" {
			return nil, fmt.Errorf("setup-cgroup: %s is not visible below %s", d.rel, h.V1Mounts[d.ctl].Dir)
		}
		if d.dup {
			continue
		}
		for _, dir := range []string{d.top, d.dir} {
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("setup-cgroup: %w", err)
			}
		}
		for _, f := range []string{d.dir, filepath.Join(d.dir, "cgroup.procs"), filepath.Join(d.dir, "tasks")} {
			if err := os.Lchown(f, uid, gid); err != nil && !(f != d.dir && errors.Is(err, os.ErrNotExist)) {
				return nil, fmt.Errorf("setup-cgroup: %w", err)
			}
		}
	}
	return formatV1Dirs(rels), nil
}

// RemoveV1 undoes SetupV1: it removes the leftover sandbox leaves in
// jail/<user> (they must be empty of processes), jail/<user> itself, and
// jail when nothing else is left in it.
func RemoveV1(user string, underOwnCgroup bool) error {
	if err := checkUserName(user); err != nil {
		return err
	}
	h, err := probeHost()
	if err != nil {
		return err
	}
	ds, err := delegatedDirs(h, user, underOwnCgroup, false)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if d.dir == "" || d.dup {
			continue
		}
		ents, _ := os.ReadDir(d.dir)
		for _, e := range ents {
			if e.IsDir() {
				if err := rmdirRetry(filepath.Join(d.dir, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if err := rmdirRetry(d.dir); err != nil {
			errs = append(errs, err)
		}
		if err := unix.Rmdir(d.top); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
			errs = append(errs, &os.PathError{Op: "rmdir", Path: d.top, Err: err})
		}
	}
	return errors.Join(errs...)
}

func checkUserName(user string) error {
	if user == "" || user == "." || user == ".." || strings.ContainsAny(user, "/\x00,=") {
		return fmt.Errorf("setup-cgroup: bad user name %q", user)
	}
	return nil
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// delegated is where SetupV1 puts one controller's jail/<user>.
type delegated struct {
	ctl, rel string // controller, and the dir relative to its hierarchy
	top, dir string // <mount>.../jail and <mount>.../jail/<user> ("" when not visible)
	dup      bool   // co-mounted with an earlier controller: same directories
}

// delegatedDirs lists, for every mounted v1 controller, the delegated
// directories of user: below the hierarchy's root, or below the caller's own
// cgroup of that controller. With strict, a controller missing from
// /proc/self/cgroup is an error.
func delegatedDirs(h *hostCgroups, user string, underOwnCgroup, strict bool) ([]delegated, error) {
	var out []delegated
	seen := map[string]bool{}
	for _, ctl := range v1Controllers {
		m, ok := h.V1Mounts[ctl]
		if !ok {
			continue
		}
		parent := "/"
		if underOwnCgroup {
			parent = h.V1Own[ctl]
			if parent == "" && strict {
				return nil, fmt.Errorf("setup-cgroup: no %s line in /proc/self/cgroup", ctl)
			}
		}
		d := delegated{ctl: ctl, rel: path.Join(parent, delegatedName, user)}
		d.top, d.dir = m.dir(path.Join(parent, delegatedName)), m.dir(d.rel)
		d.dup = d.dir != "" && seen[d.dir]
		seen[d.dir] = true
		out = append(out, d)
	}
	return out, nil
}
