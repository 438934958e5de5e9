package limits

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A sandbox id that starts with a decimal pid and a dash ("1234-9f0c...")
// names the jail process that owns the leaf. A jail killed with SIGKILL
// cannot remove its leaf (its sandbox dies with it, the empty directory
// stays); the next Prepare in the same parent removes such leaves: those
// whose owner is gone, that hold no process, and that are ours to remove.

// sweepStale removes the stale leaves of dead jails below parent.
func sweepStale(parent string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "jail-") {
			continue
		}
		if owner, ok := ownerPid(e.Name()); !ok || alive(owner) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if pids, err := readPids(filepath.Join(dir, "cgroup.procs")); err != nil || len(pids) > 0 {
			continue // not a leaf we understand, or still in use: leave it
		}
		_ = unix.Rmdir(dir)
	}
}

// ownerPid reads the pid at the start of a leaf's id.
func ownerPid(name string) (int, bool) {
	id := strings.TrimPrefix(name, "jail-")
	digits, _, ok := strings.Cut(id, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

// alive reports whether pid exists (EPERM: it exists, someone else's).
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}
