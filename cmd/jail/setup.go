package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"

	"github.com/jail-sandbox/jail/limits"
)

const setupUsage = `usage: jail setup-cgroup --user NAME [--under-own-cgroup] [--remove]

Delegate a cgroup v1 subtree to NAME, once, as root (like isolate --init):
for each of the memory, pids, cpu, cpuacct and freezer hierarchies, create
jail/NAME and give it to the user, so that NAME's sandboxes get cgroup limits
and accounting without root. On cgroup v2 hosts use systemd's delegation
instead (systemd-run --user --scope -p Delegate=yes jail ...) or name a
delegated directory with --cgroup or JAIL_CGROUP.

  --under-own-cgroup  create it below this process's own cgroups instead of
                      the hierarchy roots (for tests, which must stay inside
                      the cgroup they were started in)
  --remove            undo: remove the delegated directories
`

// setupCgroupMain is `jail setup-cgroup`, the one root-only command.
func setupCgroupMain(args []string, stdout, stderr io.Writer) int {
	var name string
	var under, remove bool
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--user":
			if i+1 < len(args) {
				i++
				name = args[i]
			}
		case "--under-own-cgroup":
			under = true
		case "--remove":
			remove = true
		case "-h", "--help":
			fmt.Fprint(stdout, setupUsage)
			return 0
		default:
			fmt.Fprintf(stderr, "jail setup-cgroup: unknown argument %q\n%s", args[i], setupUsage)
			return 2
		}
	}
	if name == "" {
		fmt.Fprintf(stderr, "jail setup-cgroup: --user NAME is required\n%s", setupUsage)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "jail setup-cgroup: must run as root (it gives a cgroup subtree to a user, once)")
		return 1
	}
	u, err := user.Lookup(name)
	if err != nil {
		fmt.Fprintf(stderr, "jail setup-cgroup: %v\n", err)
		return 1
	}
	if remove {
		if err := limits.RemoveV1(name, under); err != nil {
			fmt.Fprintf(stderr, "jail setup-cgroup: %v\n", err)
			return 1
		}
		return 0
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dirs, err := limits.SetupV1(name, uid, gid, under)
	if err != nil {
		fmt.Fprintf(stderr, "jail setup-cgroup: %v\n", err)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(stderr, "hint: no cgroup v1 hierarchies here; on cgroup v2 use systemd delegation (see --help)")
		}
		return 1
	}
	for _, d := range dirs {
		fmt.Fprintf(stdout, "delegated %s to %s\n", d, name)
	}
	return 0
}
