/* execcmd.h: the command's last steps before its execve, shared by the
 * single run's spawn (spawn.c, from the sandbox's init) and the batch
 * zygote's per-run init (zygote.c): a new session, the rlimits, the ids,
 * the capabilities, the directory, no_new_privs, the PATH lookup, the
 * inherited descriptors, the umask, the signal mask and the seccomp filter,
 * in the kernel's order (see execcmd.c). Only system calls: the caller is
 * a vfork-style child sharing its parent's memory. */
#ifndef JAIL_EXECCMD_H
#define JAIL_EXECCMD_H

#include <stdint.h>

/* A resource limit; also the wire layout of the zygote's requests. */
struct jail_rlimit {
	uint32_t resource, pad;
	uint64_t cur, max;
};

/* Steps of jail_exec_command, given to the failure callback. */
enum {
	JAIL_STEP_NONE = 0,
	JAIL_STEP_STDIO, /* arg: the fd (0-2); spawn.c's own */
	JAIL_STEP_PDEATHSIG, /* spawn.c's own */
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
	JAIL_STEP_CHDIR,         /* path: cwd */
	JAIL_STEP_NO_NEW_PRIVS,
	JAIL_STEP_NOT_EXECUTABLE, /* arg: candidate index; path: the file */
	JAIL_STEP_NOT_FOUND,      /* path: argv[0] */
	JAIL_STEP_CLOSE_RANGE,
	JAIL_STEP_BEFORE_EXEC, /* the caller's before_exec hook */
	JAIL_STEP_SIGMASK,
	JAIL_STEP_SECCOMP,
	JAIL_STEP_EXECVE, /* arg: candidate index; path: the file */
};

struct jail_exec {
	char *const *argv;
	char *const *envp;
	const char *cwd;
	/* direct: argv[0] has a slash and is executed as it is. Else the
	 * candidates to try, in order, when the caller made them (spawn.go
	 * joins each PATH directory with argv[0]); when candidates is NULL,
	 * each directory of envp's PATH joined with argv[0] here ("" is "."). */
	int direct;
	const char *const *candidates;
	int ncandidates;
	uint32_t uid, gid;
	int setgroups; /* setgroups(0, NULL) is allowed */
	int tty;       /* fd 0 becomes the controlling terminal */
	uint64_t keep_caps; /* bit n: keep capability n */
	const struct jail_rlimit *rlimits;
	int nrlimits;
	const void *bpf; /* struct sock_filter[bpf_len]; none when bpf_len is 0 */
	int bpf_len;

	/* fail reports a failed step (errno is the step's) and must not
	 * return: the caller exits with code (125, or 126 and 127 for the
	 * command itself). */
	void (*fail)(void *ctx, int step, int arg, const char *path, int code);
	/* before_exec, when set, runs after the umask and before the signals
	 * are unblocked; -1 (errno set) fails JAIL_STEP_BEFORE_EXEC. */
	int (*before_exec)(void *ctx);
	void *ctx;
};

/* jail_exec_command executes the command with every privilege given up,
 * or calls e->fail. It never returns. */
void jail_exec_command(const struct jail_exec *e) __attribute__((noreturn));

#endif
