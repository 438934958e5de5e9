package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Nest makes a cgroup v2 sandbox cgroup the parent of a series of per-run
// cgroups (jail batch's zygote, which stays between runs; see Child): its
// own limits are lifted, since each run's cgroup gets them and the
// processes that stay must not eat into a run's share, and a child named
// holder is made for those processes (cgroup v2 lets no process sit in a
// cgroup whose controllers its children use). It returns the holder, to be
// removed before c. Nest is for Cgroup2 only, before any process is in c.
func (c *Cgroup) Nest(holder string) (*Cgroup, error) {
	if c == nil || c.backend != Cgroup2 {
		return nil, fmt.Errorf("limits: Nest needs a cgroup v2 sandbox, not %s", c.Backend())
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

// Child creates the cgroup v2 leaf "jail-"+id below c (made a parent by
// Nest) with spec's limits, as Prepare would in a delegated parent: one
// run's cgroup, to be born in with CLONE_INTO_CGROUP (FD) and removed
// after the run (Remove). With spec.Require, a limit its controllers cannot
// hold is an error.
func (c *Cgroup) Child(spec Spec, id string) (*Cgroup, error) {
	if c == nil || c.backend != Cgroup2 || c.removed {
		return nil, errors.New("limits: Child needs a cgroup v2 sandbox")
	}
	if err := checkSpec(spec, id); err != nil {
		return nil, err
	}
	child, err := prepareV2(nil, spec, id, c.leaf, false)
	if err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	return finish(child, spec)
}
