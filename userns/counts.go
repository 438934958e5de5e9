package userns

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
)

// Per-user counts. The kernel counts some objects per user (inotify
// instances and watches, fanotify groups and marks, namespaces), in each
// user namespace, with a limit per namespace: /proc/sys/user/NAME shows and
// sets the limits of the reader's own namespace. A charge is made at every
// level from the creating process's namespace up to the initial one, so a
// sandbox's inotify instances also count against its caller's host limit
// (128 by default): without a bound of its own, one sandbox could take them
// all, and the caller's own programs then fail with EMFILE.
//
// A new namespace starts with no limit of its own (INT_MAX). Root of the
// sandbox's namespace (jail's set-up, which holds CAP_SYS_RESOURCE there)
// writes the bounds below before the command exists; the command, without
// that capability, cannot raise them (and /proc/sys is read-only inside).
// A nested user namespace it might create is charged at the sandbox's level
// too, so the bound holds for everything below.
//
// The counts are per uid of the namespace: each id the sandbox's processes
// run as gets the bound. A batch's runs share the zygote's namespace, so the
// bound is per batch, which a run's processes leave when they end.

// Count is the bound of one per-user count of the sandbox's user namespace:
// the value written to /proc/sys/user/Name.
type Count struct {
	Name string `json:"name"`
	Max  int64  `json:"max"`
}

// countCaps are the most a sandbox gets of each count, whatever the caller's
// own limit (which may be a container's unbounded INT_MAX).
var countCaps = []Count{
	{Name: "max_inotify_instances", Max: 32},
	{Name: "max_inotify_watches", Max: 65536},
	{Name: "max_fanotify_groups", Max: 32},
	{Name: "max_fanotify_marks", Max: 65536},
	{Name: "max_user_namespaces", Max: 1024},
}

// SandboxCounts returns the bounds of a sandbox's user namespace: a quarter
// of the caller's own limit (its namespace's, read by parent; at least 1),
// and at most countCaps. A count parent does not know gets its cap.
func SandboxCounts(parent func(name string) (int64, bool)) []Count {
	out := make([]Count, 0, len(countCaps))
	for _, c := range countCaps {
		if v, ok := parent(c.Name); ok {
			c.Max = min(c.Max, max(v/4, 1))
		}
		out = append(out, c)
	}
	return out
}

// HostCounts reads the caller's limits for SandboxCounts from
// /proc/sys/user.
func HostCounts(name string) (int64, bool) {
	return readSysctl("/proc/sys/user/" + name)
}

// SetCounts writes counts into dir (/proc/sys/user, as the calling process's
// user namespace sees it). A count this kernel lacks (fanotify's before
// Linux 5.13) is skipped.
func SetCounts(dir string, counts []Count) error {
	for _, c := range counts {
		path := dir + "/" + c.Name
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		_, err = f.WriteString(strconv.FormatInt(c.Max, 10))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
