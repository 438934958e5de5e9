// Package limits puts a sandbox into its own cgroup and reads its accounting.
//
// Two cgroup backends exist, plus "none":
//
//   - cgroup2: a leaf "jail-<id>" below a delegated cgroup2 directory. The
//     limits are written with containerd/cgroups/v3's cgroup2 package
//     (Manager.Update) and read back with Manager.StatFiltered; the leaf is
//     opened as a directory fd so that the caller can start the sandbox
//     inside it with CLONE_INTO_CGROUP (SysProcAttr.UseCgroupFD), which has
//     no window in which the child runs unlimited.
//   - cgroup1: one leaf "jail-<id>" per mounted v1 controller (memory, pids,
//     cpu, cpuacct, freezer), each below a directory that root delegated
//     once with SetupV1 (`jail setup-cgroup --user NAME`). v1 is done with
//     plain file writes: containerd's cgroup1 package wants to own the whole
//     path from each controller root and expects root, which does not fit a
//     subtree chowned to an ordinary user.
//   - none: no usable cgroup was found. Prepare returns a Cgroup whose
//     methods are no-ops, and Enforced says what the caller must fall back
//     to (rlimits) and why.
//
// # The v1 delegated layout
//
// SetupV1(user, uid, gid, underOwnCgroup) creates, for every mounted
// controller among memory, pids, cpu, cpuacct and freezer (co-mounted
// controllers such as "cpu,cpuacct" share one directory):
//
//	<controller mount><parent>/jail          owned by root, mode 0755
//	<controller mount><parent>/jail/<user>   chowned to uid:gid, as are its
//	                                         cgroup.procs and tasks
//
// parent is "" for the admin use, or the caller's own cgroup of that
// controller (from /proc/self/cgroup) with underOwnCgroup, which keeps tests
// below their own cgroup. It returns one "controller=relative-dir" string per
// controller, for example "memory=/process_api/x/jail/alice"; joined with ","
// they are a valid Spec.CgroupDir or JAIL_CGROUP value for v1. A single
// relative path such as "/jail/alice" is also accepted and applies to every
// controller.
//
// Without CgroupDir or JAIL_CGROUP, Prepare looks for each controller's
// delegated directory at "<own cgroup>/jail/<user>" and then at
// "/jail/<user>", and takes the first that exists and that we may write.
//
// # The v2 parent
//
// The parent is Spec.CgroupDir (an absolute cgroup2 directory), else
// JAIL_CGROUP, else our own cgroup2 directory when we may write it and its
// cgroup.controllers offers memory, pids and cpu. Because of cgroup2's "no
// internal processes" rule, a parent found this way that holds processes
// (us) is first evacuated: jail moves itself into "<own>/jail-supervisor",
// which is inside its own subtree, then enables +memory +pids +cpu in the
// parent's cgroup.subtree_control. This is what makes
// `systemd-run --user --scope -p Delegate=yes jail ...` work. A parent the
// user named is used as it is.
//
// Nothing here runs at package init.
package limits
