package limits

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// Reset makes a cgroup v1 sandbox cgroup ready for the next of a series of
// sequential runs (jail batch's zygote, which stays in the cgroup): it
// writes that run's limits, as Prepare would have, and resets the counters
// the kernel lets us reset (cpuacct.usage, memory.max_usage_in_bytes,
// memory.failcnt). It returns the counters that cannot be reset (the OOM
// kill count, pids.events max): the caller reports the run's usage less
// that baseline. Its MemoryPeak is the usage right after the reset
// (max_usage_in_bytes restarts from the usage, not from 0: jail's processes
// that stay and pages cached by earlier runs), for the caller to subtract
// from the run's peak. extraPids is added to pids.max (which stays at least
// 1): the tasks of jail in the cgroup, less what the caller charges the run
// for them. Reset is for Cgroup1 only.
func (c *Cgroup) Reset(spec Spec, extraPids int64) (Usage, error) {
	if c == nil || c.backend != Cgroup1 {
		return Usage{}, fmt.Errorf("limits: Reset needs a cgroup v1 sandbox, not %s", c.Backend())
	}
	if err := checkSpec(spec, "reset"); err != nil {
		return Usage{}, err
	}
	delete(c.applied, "memory")
	delete(c.applied, "swap")
	delete(c.applied, "pids")
	delete(c.applied, "cpus")
	if d, ok := c.dirs["memory"]; ok {
		memsw := filepath.Join(d, "memory.memsw.limit_in_bytes")
		hasMemsw := exists(memsw)
		// memsw may never be below limit_in_bytes: lift it first.
		if hasMemsw {
			if err := writeFile(memsw, "-1"); err != nil {
				return Usage{}, err
			}
		}
		v := "-1"
		if spec.Memory > 0 {
			v = strconv.FormatUint(spec.Memory, 10)
			c.applied["memory"] = "cgroup: memory.limit_in_bytes=" + v
		}
		if err := writeFile(filepath.Join(d, "memory.limit_in_bytes"), v); err != nil {
			return Usage{}, err
		}
		delete(c.missing, "swap")
		if !spec.Swap {
			switch {
			case !hasMemsw:
				c.missing["swap"] = "no memory.memsw.limit_in_bytes (kernel booted without swapaccount=1)"
			case spec.Memory == 0:
				c.missing["swap"] = "cgroup v1 can only turn swap off together with a memory limit"
			default:
				if err := writeFile(memsw, v); err != nil {
					return Usage{}, err
				}
				c.applied["swap"] = "cgroup: memory.memsw.limit_in_bytes=" + v
			}
		}
		for _, f := range []string{"memory.max_usage_in_bytes", "memory.failcnt", "memory.memsw.max_usage_in_bytes", "memory.memsw.failcnt"} {
			if f == "memory.max_usage_in_bytes" || f == "memory.failcnt" || hasMemsw {
				if err := writeFile(filepath.Join(d, f), "0"); err != nil {
					return Usage{}, err
				}
			}
		}
	}
	if d, ok := c.dirs["pids"]; ok {
		v := "max"
		if spec.Pids > 0 {
			v = strconv.FormatInt(max(int64(spec.Pids)+extraPids, 1), 10)
			c.applied["pids"] = "cgroup: pids.max=" + strconv.FormatUint(spec.Pids, 10)
		}
		if err := writeFile(filepath.Join(d, "pids.max"), v); err != nil {
			return Usage{}, err
		}
	}
	if d, ok := c.dirs["cpu"]; ok {
		q := "-1"
		if spec.CPUs > 0 {
			q = strconv.FormatInt(cpuQuota(spec.CPUs), 10)
			c.applied["cpus"] = fmt.Sprintf("cgroup: cpu.cfs_quota_us=%s cpu.cfs_period_us=%d", q, cpuPeriod)
			if err := writeFile(filepath.Join(d, "cpu.cfs_period_us"), strconv.Itoa(cpuPeriod)); err != nil {
				return Usage{}, err
			}
		}
		if err := writeFile(filepath.Join(d, "cpu.cfs_quota_us"), q); err != nil {
			return Usage{}, err
		}
	}
	if d, ok := c.dirs["cpuacct"]; ok {
		if err := writeFile(filepath.Join(d, "cpuacct.usage"), "0"); err != nil {
			return Usage{}, err
		}
	}
	u, err := c.usageV1()
	if err != nil {
		return u, err
	}
	if d, ok := c.dirs["memory"]; ok {
		if u.MemoryPeak, err = readUint(filepath.Join(d, "memory.usage_in_bytes")); err != nil {
			return u, err
		}
	}
	return u, nil
}
