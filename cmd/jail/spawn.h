/* spawn.h: the command's process. The sandbox's init (stage 2) forks it
 * with vfork semantics once the root is built; it gives up every privilege
 * and executes the command. It is C because until its execve it runs in a
 * copy of a thread of a Go process, sharing its memory, where only system
 * calls are safe (see spawn.c and spawn.go). */
#ifndef JAIL_SPAWN_H
#define JAIL_SPAWN_H

#include <stdint.h>

struct jail_rlimit {
	int resource;
	uint64_t cur, max;
};

/* Steps of jail_spawn's child, reported in jail_spawn.step when one fails. */
enum {
	JAIL_STEP_NONE = 0,
	JAIL_STEP_STDIO, /* arg: the fd (0-2) */
	JAIL_STEP_PDEATHSIG,
	JAIL_STEP_SETSID,
	JAIL_STEP_SETCTTY,
	JAIL_STEP_RLIMIT, /* arg: index in rlimits */
	JAIL_STEP_SETGROUPS,
	JAIL_STEP_SETRESGID,
	JAIL_STEP_CAPBSET_DROP, /* arg: capability */
	JAIL_STEP_AMBIENT_CLEAR,
	JAIL_STEP_KEEPCAPS,
	JAIL_STEP_SETRESUID,
	JAIL_STEP_CAPSET,
	JAIL_STEP_AMBIENT_RAISE, /* arg: capability */
	JAIL_STEP_CHDIR,
	JAIL_STEP_NO_NEW_PRIVS,
	JAIL_STEP_NOT_EXECUTABLE, /* arg: index in candidates */
	JAIL_STEP_NOT_FOUND,
	JAIL_STEP_CLOSE_RANGE,
	JAIL_STEP_SIGMASK,
	JAIL_STEP_SECCOMP,
	JAIL_STEP_EXECVE, /* arg: index in candidates */
};

struct jail_spawn {
	/* In. */
	char *const *argv;
	char *const *envp;
	const char *cwd;
	/* candidates are the paths to try, in order: the command itself when
	 * its name has a slash (direct), else each PATH directory joined with
	 * it. */
	const char *const *candidates;
	int ncandidates;
	int direct;
	/* stdio: the descriptors to become the command's 0, 1 and 2 (all 3
	 * and above), or -1 each to keep the init's own. */
	int stdio[3];
	uint32_t uid, gid;
	int setgroups;
	int tty;
	uint64_t keep_caps; /* bit n: keep capability n */
	const struct jail_rlimit *rlimits;
	int nrlimits;
	const void *bpf; /* struct sock_filter[bpf_len]; none when bpf_len is 0 */
	int bpf_len;
	int parent; /* the caller's pid, for the parent-death check */
	/* Out: set by the child when a step fails, before it exits with code. */
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
