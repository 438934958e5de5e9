/* spawn.h: the command's process. The sandbox's init (stage 2) forks it
 * with vfork semantics once the root is built; it gives up every privilege
 * and executes the command (execcmd.c). It is C because until its execve
 * it runs in a copy of a thread of a Go process, sharing its memory, where
 * only system calls are safe (see spawn.c and spawn.go). */
#ifndef JAIL_SPAWN_H
#define JAIL_SPAWN_H

#include <stdint.h>

#include "execcmd.h"

struct jail_spawn {
	/* In: the command (its fail, before_exec and ctx are jail_spawn's).
	 * exec.candidates are the paths to try, in order: the command itself
	 * when its name has a slash (direct), else each PATH directory joined
	 * with it. */
	struct jail_exec exec;
	/* stdio: the descriptors to become the command's 0, 1 and 2 (all 3
	 * and above), or -1 each to keep the init's own. */
	int stdio[3];
	int parent; /* the caller's pid, for the parent-death check */
	/* Out: set by the child when a step (JAIL_STEP_*) fails, before it
	 * exits with code. */
	int step, err, arg, code;
	/* Out: the child's pid, written by the kernel before the child runs
	 * (CLONE_PARENT_SETTID), so that another thread can signal it while
	 * jail_spawn waits; read it with jail_spawn_pid. */
	int pid;
};

/* jail_spawn starts the command in a new cgroup namespace and session and
 * returns its pid once it has executed the command or failed (then step is
 * set and the child has exited with code); -errno when clone fails. */
int jail_spawn(struct jail_spawn *s);

/* jail_spawn_pid reads s->pid from any thread: 0 until the child exists. */
int jail_spawn_pid(struct jail_spawn *s);

#endif
