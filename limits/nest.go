package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Nest makes a sandbox cgroup the parent of a series of per-run cgroups
// (jail batch's zygote, which stays between runs; see Child): its own
// limits are lifted, since each run's cgroup gets them and the processes
// that stay must not eat into a run's share. On cgroup v2 a child named
// holder is made for those processes (cgroup v2 lets no process sit in a
// cgroup whose controllers its children use), and returned, to be removed
// before c; Nest is then called before any process is in c. Cgroup v1
// lets processes sit beside child cgroups: they stay in c, and the holder
// is nil.
func (c *Cgroup) Nest(holder string) (*Cgroup, error) {
	switch c.Backend() {
	case Cgroup1:
		return nil, c.liftV1()
	case Cgroup2:
	default:
		return nil, fmt.Errorf("limits: Nest needs a cgroup, not %s", c.Backend())
	}
	for file, v := range map[string]string{"memory.max": "max", "memory.swap.max": "max", "pids.max": "max", "cpu.max": "max"} {
		f := filepath.Join(c.leaf, file)
		if !exists(f) {
			continue // controller not enabled: nothing was written
		}
		if err := writeFile(f, v); err != nil {
			return nil, err
		}
	}
	// The controllers for the runs' cgroups, while c holds no process.
	avail, err := readWords(filepath.Join(c.leaf, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	if _, err := enableControllers(c.leaf, avail, false); err != nil {
		return nil, err
	}
	dir := filepath.Join(c.leaf, holder)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Rmdir(dir)
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Cgroup{
		backend: Cgroup2, fd: fd, leaf: dir,
		dirs:    map[string]string{"": dir},
		applied: map[string]string{}, missing: map[string]string{},
	}, nil
}

// Child creates the leaf "jail-"+id below c (made a parent by Nest) with
// spec's limits, as Prepare would in a delegated parent, pids.max raised by
// extraPids (at least 1): one run's cgroup, whose counters start from zero
// whatever c's processes and earlier runs left charged. On cgroup v2 the
// run is born in it with CLONE_INTO_CGROUP (FD); on cgroup v1 its first
// process moves itself in through the tasks files (OpenTasks). It is
// removed after the run (Remove). With spec.Require, a limit its
// controllers cannot hold is an error.
func (c *Cgroup) Child(spec Spec, id string, extraPids int64) (*Cgroup, error) {
	if c == nil || c.removed || (c.backend != Cgroup1 && c.backend != Cgroup2) {
		return nil, errors.New("limits: Child needs a cgroup")
	}
	if err := checkSpec(spec, id); err != nil {
		return nil, err
	}
	if c.backend == Cgroup1 {
		parents := map[string]string{}
		for ctl, d := range c.dirs {
			parents[ctl] = d
		}
		child, err := makeV1(parents, spec, id, extraPids, false, func(ctl string) string {
			if why, ok := c.missing[ctl]; ok {
				return why
			}
			return "no " + ctl + " controller in the batch's cgroup"
		})
		if err != nil {
			return nil, fmt.Errorf("limits: %w", err)
		}
		return finish(child, spec)
	}
	child, err := prepareV2(nil, spec, id, c.leaf, false, extraPids)
	if err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	return finish(child, spec)
}

// liftV1 lifts the limits of a cgroup v1 sandbox (Nest).
func (c *Cgroup) liftV1() error {
	if d, ok := c.dirs["memory"]; ok {
		// memsw may never be below limit_in_bytes: lift it first.
		for _, f := range []string{"memory.memsw.limit_in_bytes", "memory.limit_in_bytes"} {
			if p := filepath.Join(d, f); exists(p) {
				if err := writeFile(p, "-1"); err != nil {
					return err
				}
			}
		}
	}
	if d, ok := c.dirs["pids"]; ok {
		if err := writeFile(filepath.Join(d, "pids.max"), "max"); err != nil {
			return err
		}
	}
	if d, ok := c.dirs["cpu"]; ok {
		if err := writeFile(filepath.Join(d, "cpu.cfs_quota_us"), "-1"); err != nil {
			return err
		}
	}
	return nil
}

// OpenTasks opens, for writing, the tasks file of each of a cgroup v1
// sandbox's directories (one per mount; none on another backend): a
// process that writes "0" to each moves itself into the cgroup. The
// descriptors carry the opener's rights (the kernel checks the writer
// against the credentials the file was opened with), so a process in a
// user namespace whose ids map to the caller's can use them without any
// access to the cgroup file system. The caller closes them.
func (c *Cgroup) OpenTasks() ([]*os.File, error) {
	if c == nil || c.backend != Cgroup1 || c.removed {
		return nil, nil
	}
	var out []*os.File
	for _, d := range c.Paths() {
		p := filepath.Join(d, "tasks")
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			for _, f := range out {
				f.Close()
			}
			return nil, &os.PathError{Op: "open", Path: p, Err: err}
		}
		out = append(out, os.NewFile(uintptr(fd), p))
	}
	return out, nil
}
