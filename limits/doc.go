// Package limits is where jail's resource limits live: cgroup limits (v2
// through a delegated subtree, v1 through a subtree root delegated once),
// rlimits, CPU-time, wall-time and output limits, and the accounting a judge
// reads after a run.
//
// It is empty on purpose: jail enforces no resource limit yet, and says so
// in its README. Nothing here may claim a limit it does not enforce.
package limits
