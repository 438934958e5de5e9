/* spawn.c: the command's process, forked by the sandbox's init (see
 * spawn.h). The child shares the init's memory (CLONE_VM) and the init's
 * calling thread waits (CLONE_VFORK) until the child has executed the
 * command or exited: no second copy of the Go process's memory, no second
 * Go runtime, and jail's binary is never loaded again inside the sandbox.
 *
 * CLONE_VM is allowed here although the init is in a time namespace of its
 * own: timens.c setns()es the init into that namespace before the Go runtime
 * starts, so its namespace and its children's are the same (Linux 6.1
 * refuses CLONE_VM while they differ). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spawn.h"

/* The child's stack: it needs little before its execve. */
#define JAIL_SPAWN_STACK (64 * 1024)

/* fail records the failed step for the parent (which reads it once the
 * child is gone: CLONE_VFORK) and exits. The parent words it from the step
 * and its arg (spawn.go): path is not needed. */
static void fail(void *ctx, int step, int arg, const char *path, int code) __attribute__((noreturn));
static void fail(void *ctx, int step, int arg, const char *path, int code)
{
	struct jail_spawn *s = ctx;
	(void)path;
	s->step = step;
	s->err = errno;
	s->arg = arg;
	s->code = code;
	syscall(SYS_exit_group, code);
	__builtin_unreachable();
}

/* child runs in the new cgroup namespace with every signal blocked. Only
 * system calls and their thin libc wrappers from here: it is a copy of one
 * thread of a Go process and shares its memory; it reads only the C memory
 * spawn.go prepared. Its own steps (the signal handlers, the parent-death
 * signal, the stdio), then execcmd.c's. */
static int child(void *arg)
{
	struct jail_spawn *s = arg;
	/* The handlers are the Go runtime's and the dispositions the init's
	 * (which ignores most signals): back to the defaults, so that a signal
	 * between the unblocking and execve acts as on the command, and the
	 * command starts with no signal ignored. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL); /* glibc's own signals fail: harmless */
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(s, JAIL_STEP_PDEATHSIG, 0, "", 125);
	if (getppid() != s->parent)
		syscall(SYS_exit_group, 125); /* the init is gone */
	/* The command's stdin, stdout and stderr, when jail sent its own. */
	for (int fd = 0; fd < 3; fd++) {
		if (s->stdio[fd] >= 0 && dup2(s->stdio[fd], fd) < 0)
			fail(s, JAIL_STEP_STDIO, fd, "", 125);
	}
	jail_exec_command(&s->exec);
}

int jail_spawn(struct jail_spawn *s)
{
	char *stack = malloc(JAIL_SPAWN_STACK);
	if (stack == NULL)
		return -ENOMEM;
	/* Every signal blocked across the clone: the child must not run a Go
	 * handler on the memory it shares with this process. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	s->step = JAIL_STEP_NONE;
	s->exec.fail = fail;
	s->exec.before_exec = NULL;
	s->exec.ctx = s;
	int pid = clone(child, stack + JAIL_SPAWN_STACK,
			CLONE_VM | CLONE_VFORK | CLONE_NEWCGROUP | CLONE_PARENT_SETTID | SIGCHLD, s, &s->pid);
	int err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free(stack);
	return pid < 0 ? -err : pid;
}

int jail_spawn_pid(struct jail_spawn *s)
{
	return __atomic_load_n(&s->pid, __ATOMIC_SEQ_CST);
}
