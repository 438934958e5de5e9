package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

// supervisorLeaf is where jail moves itself when it must empty its own
// cgroup2 directory before using it as the parent (no internal processes).
const supervisorLeaf = "jail-supervisor"

// isV2Dir says whether a named CgroupDir is a cgroup2 directory: an
// absolute path on the cgroup2 mount.
func isV2Dir(h *hostCgroups, dir string) bool {
	if h.V2Mount == "" || strings.Contains(dir, "=") {
		return false
	}
	d := filepath.Clean(dir)
	return d == h.V2Mount || strings.HasPrefix(d, strings.TrimSuffix(h.V2Mount, "/")+"/")
}

// readWords reads a space-separated cgroup file such as cgroup.controllers.
func readWords(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// prepareV2Auto uses our own cgroup2 directory as the parent, if it can.
func prepareV2Auto(h *hostCgroups, spec Spec, id string) (*Cgroup, error) {
	if h.V2Mount == "" {
		return nil, notUsable{"no cgroup2 mount in /proc/self/mountinfo"}
	}
	if h.V2Own == "" {
		return nil, notUsable{"no 0:: line in /proc/self/cgroup"}
	}
	own := h.v2Dir(h.V2Own)
	if own == "" {
		return nil, notUsable{fmt.Sprintf("our cgroup %s is not visible below the cgroup2 mount %s", h.V2Own, h.V2Mount)}
	}
	avail, err := readWords(filepath.Join(own, "cgroup.controllers"))
	if err != nil {
		return nil, notUsable{err.Error()}
	}
	var lack []string
	for _, ctl := range v2Controllers {
		if !slices.Contains(avail, ctl) {
			lack = append(lack, ctl)
		}
	}
	if len(lack) > 0 {
		return nil, notUsable{fmt.Sprintf("%s/cgroup.controllers lacks %s (has %q)", own, strings.Join(lack, ", "), strings.Join(avail, " "))}
	}
	for _, f := range []string{own, filepath.Join(own, "cgroup.procs"), filepath.Join(own, "cgroup.subtree_control")} {
		if err := unix.Access(f, unix.W_OK); err != nil {
			return nil, notUsable{fmt.Sprintf("%s is not writable by us (not delegated): %v", f, err)}
		}
	}
	return prepareV2(h, spec, id, own, true, 0)
}

// prepareV2 creates parent/jail-<id>. own says that parent is our own
// cgroup, which we may empty by moving ourselves into supervisorLeaf.
// extraPids is added to the pids.max written (which stays at least 1), not
// to the limit reported: the tasks of jail in the cgroup (Child).
func prepareV2(h *hostCgroups, spec Spec, id, parent string, own bool, extraPids int64) (*Cgroup, error) {
	st, err := os.Stat(parent)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", parent)
	}
	avail, err := readWords(filepath.Join(parent, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("not a cgroup2 directory: %w", err)
	}
	enabled, enableErr := enableControllers(parent, avail, own)

	sweepStale(parent)
	leaf := filepath.Join(parent, "jail-"+id)
	if err := os.Mkdir(leaf, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%s already exists (left over from a crashed run? remove it with rmdir)", leaf)
		}
		return nil, err
	}
	c := &Cgroup{
		backend: Cgroup2, fd: -1, leaf: leaf,
		dirs:    map[string]string{"": leaf},
		applied: map[string]string{}, missing: map[string]string{},
	}
	fail := func(err error) (*Cgroup, error) {
		if c.fd >= 0 {
			unix.Close(c.fd)
		}
		unix.Rmdir(leaf)
		return nil, err
	}
	for _, ctl := range enabled {
		c.dirs[ctl] = leaf
	}
	notEnabled := func(ctl string) string {
		if !slices.Contains(avail, ctl) {
			return fmt.Sprintf("the %s controller is not in %s/cgroup.controllers", ctl, parent)
		}
		if enableErr != nil {
			return fmt.Sprintf("cannot enable the %s controller: %v", ctl, enableErr)
		}
		return fmt.Sprintf("the %s controller is not enabled in %s/cgroup.subtree_control", ctl, parent)
	}

	// The library writes the values; the leaf (not the parent) is its
	// "mountpoint" so that it never touches a cgroup above the one we were
	// given (its ToggleControllers walks up to the mountpoint).
	mgr, err := cgroup2.Load("/", cgroup2.WithMountpoint(leaf))
	if err != nil {
		return fail(err)
	}
	c.mgr = mgr
	var res cgroup2.Resources
	if slices.Contains(enabled, "memory") {
		m := &cgroup2.Memory{}
		if spec.Memory > 0 {
			v := int64(spec.Memory)
			m.Max = &v
			c.applied["memory"] = fmt.Sprintf("cgroup: memory.max=%d", v)
		}
		if !spec.Swap {
			if _, err := os.Stat(filepath.Join(leaf, "memory.swap.max")); err == nil {
				var zero int64
				m.Swap = &zero
				c.applied["swap"] = "cgroup: memory.swap.max=0"
			} else {
				c.missing["swap"] = "no memory.swap.max (kernel without swap accounting)"
			}
		}
		res.Memory = m
	} else {
		c.missing["memory"] = notEnabled("memory")
		c.missing["swap"] = notEnabled("memory")
	}
	if slices.Contains(enabled, "pids") {
		if spec.Pids > 0 {
			res.Pids = &cgroup2.Pids{Max: max(int64(spec.Pids)+extraPids, 1)}
			c.applied["pids"] = fmt.Sprintf("cgroup: pids.max=%d", spec.Pids)
		}
	} else {
		c.missing["pids"] = notEnabled("pids")
	}
	if slices.Contains(enabled, "cpu") {
		if spec.CPUs > 0 {
			q := cpuQuota(spec.CPUs)
			p := uint64(cpuPeriod)
			res.CPU = &cgroup2.CPU{Max: cgroup2.NewCPUMax(&q, &p)}
			c.applied["cpus"] = fmt.Sprintf("cgroup: cpu.max=%q", string(res.CPU.Max))
		}
	} else {
		c.missing["cpus"] = notEnabled("cpu")
	}
	if err := mgr.Update(&res); err != nil {
		return fail(fmt.Errorf("write limits in %s: %w", leaf, err))
	}
	fd, err := unix.Open(leaf, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(&os.PathError{Op: "open", Path: leaf, Err: err})
	}
	c.fd = fd
	return c, nil
}

// enableControllers makes memory, pids and cpu (those in avail) available to
// the children of parent and returns the ones that are. When parent is our
// own cgroup and holds processes, writing subtree_control fails with EBUSY
// (no internal processes); then we move ourselves into supervisorLeaf, a
// child of our own cgroup, and try again.
func enableControllers(parent string, avail []string, own bool) ([]string, error) {
	sc := filepath.Join(parent, "cgroup.subtree_control")
	cur, err := readWords(sc)
	if err != nil {
		return nil, err
	}
	var want []string
	for _, ctl := range v2Controllers {
		if slices.Contains(avail, ctl) && !slices.Contains(cur, ctl) {
			want = append(want, "+"+ctl)
		}
	}
	var werr error
	if len(want) > 0 {
		werr = writeFile(sc, strings.Join(want, " "))
		if werr != nil && errors.Is(werr, unix.EBUSY) && own {
			if err := evacuate(parent); err != nil {
				werr = fmt.Errorf("%w; moving ourselves out of the way failed: %v", werr, err)
			} else {
				werr = writeFile(sc, strings.Join(want, " "))
			}
		}
		if werr == nil {
			// A successful write enabled them all; no need to read back.
			for _, w := range want {
				cur = append(cur, strings.TrimPrefix(w, "+"))
			}
		} else if cur, err = readWords(sc); err != nil {
			return nil, err
		}
	}
	var got []string
	for _, ctl := range v2Controllers {
		if slices.Contains(cur, ctl) {
			got = append(got, ctl)
		}
	}
	return got, werr
}

// evacuate moves this process into <own>/jail-supervisor. That stays inside
// our own subtree, which delegation allows.
func evacuate(own string) error {
	dir := filepath.Join(own, supervisorLeaf)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return writeFile(filepath.Join(dir, "cgroup.procs"), strconv.Itoa(os.Getpid()))
}

func (c *Cgroup) usageV2() (Usage, error) {
	var u Usage
	m, err := c.mgr.StatFiltered(cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents)
	if err != nil {
		return u, err
	}
	if m.CPU != nil {
		u.CPU = time.Duration(m.CPU.UsageUsec) * time.Microsecond
		u.CPUUser = time.Duration(m.CPU.UserUsec) * time.Microsecond
		u.CPUSystem = time.Duration(m.CPU.SystemUsec) * time.Microsecond
	}
	if m.Memory != nil {
		u.MemoryPeak = m.Memory.MaxUsage
	}
	if m.MemoryEvents != nil {
		u.OOMKills = m.MemoryEvents.OomKill
	}
	if ev, err := readFlatKeyed(filepath.Join(c.leaf, "pids.events")); err == nil {
		u.PidsLimitHits = ev["max"]
	} else if !errors.Is(err, os.ErrNotExist) {
		return u, err
	}
	return u, nil
}

func (c *Cgroup) killV2() error {
	procs := filepath.Join(c.leaf, "cgroup.procs")
	useKill := true
	if err := writeFile(filepath.Join(c.leaf, "cgroup.kill"), "1"); err != nil {
		if errors.Is(err, os.ErrNotExist) && !exists(c.leaf) {
			return nil
		}
		useKill = false
	}
	deadline := time.Now().Add(killTimeout)
	for {
		pids, err := readPids(procs)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill %s: %d processes still alive after %v", c.leaf, len(pids), killTimeout)
		}
		if !useKill {
			killPids(pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
