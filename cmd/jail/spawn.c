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
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spawn.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* The child's stack: it needs little before its execve. */
#define JAIL_SPAWN_STACK (64 * 1024)

/* fail records the failed step for the parent (which reads it once the
 * child is gone: CLONE_VFORK) and exits. */
static void fail(struct jail_spawn *s, int step, int arg, int code)
{
	s->step = step;
	s->err = errno;
	s->arg = arg;
	s->code = code;
	syscall(SYS_exit_group, code);
}

static int keep(const struct jail_spawn *s, int cap)
{
	return cap < 64 && (s->keep_caps >> cap) & 1;
}

/* child runs in the new cgroup namespace with every signal blocked. Only
 * system calls and their thin libc wrappers from here: it is a copy of one
 * thread of a Go process and shares its memory; it reads only the C memory
 * spawn.go prepared. The order is the kernel's: groups and gid while
 * CAP_SETGID is held, the bounding set while CAP_SETPCAP is held, the uid
 * (which empties the permitted set unless keepcaps), capset, then, with the
 * command's own rights, the directory, no_new_privs, the PATH lookup, the
 * inherited descriptors, the umask, the signal mask, and the seccomp filter
 * last. */
static int child(void *arg)
{
	struct jail_spawn *s = arg;
	/* The handlers are the Go runtime's and the dispositions the init's
	 * (which ignores most signals): back to the defaults, so that a signal
	 * between the unblocking below and execve acts as on the command, and
	 * the command starts with no signal ignored. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL); /* glibc's own signals fail: harmless */
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail(s, JAIL_STEP_PDEATHSIG, 0, 125);
	if (getppid() != s->parent)
		syscall(SYS_exit_group, 125); /* the init is gone */
	/* The command's stdin, stdout and stderr, when jail sent its own. */
	for (int fd = 0; fd < 3; fd++) {
		if (s->stdio[fd] >= 0 && dup2(s->stdio[fd], fd) < 0)
			fail(s, JAIL_STEP_STDIO, fd, 125);
	}
	/* A new session: no controlling terminal, so TIOCSTI into the caller's
	 * terminal is refused; jail's pseudo-terminal on fd 0 becomes it. */
	if (setsid() < 0)
		fail(s, JAIL_STEP_SETSID, 0, 125);
	if (s->tty && ioctl(0, TIOCSCTTY, 1) < 0)
		fail(s, JAIL_STEP_SETCTTY, 0, 125);
	/* Lowering limits needs no privilege; done while nothing is dropped
	 * yet so that a failure is reported like any other set-up step. */
	for (int i = 0; i < s->nrlimits; i++) {
		struct rlimit rl = {.rlim_cur = s->rlimits[i].cur, .rlim_max = s->rlimits[i].max};
		if (syscall(SYS_setrlimit, s->rlimits[i].resource, &rl) < 0)
			fail(s, JAIL_STEP_RLIMIT, i, 125);
	}
	/* Raw system calls for the ids: glibc's wrappers would signal the
	 * threads of the caller's process to change theirs too. */
	if (s->setgroups && syscall(SYS_setgroups, 0, NULL) < 0)
		fail(s, JAIL_STEP_SETGROUPS, 0, 125);
	if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0)
		fail(s, JAIL_STEP_SETRESGID, 0, 125);
	/* The bounding set, so that no later execve (of a file with
	 * capabilities, or as uid 0) regains any. */
	for (int c = 0;; c++) {
		if (keep(s, c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL && c > 0)
				break; /* past CAP_LAST_CAP */
			fail(s, JAIL_STEP_CAPBSET_DROP, c, 125);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		fail(s, JAIL_STEP_AMBIENT_CLEAR, 0, 125);
	/* Or setresuid to a non-zero uid would empty the permitted set. */
	if (s->keep_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(s, JAIL_STEP_KEEPCAPS, 0, 125);
	if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0)
		fail(s, JAIL_STEP_SETRESUID, 0, 125);
	/* capset empties what remains (uid 0 keeps it otherwise). */
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	for (int c = 0; c < 64; c++) {
		if (keep(s, c)) {
			data[c / 32].permitted |= 1U << (c % 32);
			data[c / 32].effective |= 1U << (c % 32);
			data[c / 32].inheritable |= 1U << (c % 32);
		}
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail(s, JAIL_STEP_CAPSET, 0, 125);
	/* Ambient: kept across execve whatever the uid and the file. */
	for (int c = 0; c < 64; c++) {
		if (keep(s, c) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			fail(s, JAIL_STEP_AMBIENT_RAISE, c, 125);
	}
	/* With the command's own rights from here: a directory it could not
	 * enter itself is an error, not a favour of CAP_DAC_OVERRIDE. */
	if (chdir(s->cwd) < 0)
		fail(s, JAIL_STEP_CHDIR, 0, 125);
	/* No setuid binary or file capability can give anything back. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(s, JAIL_STEP_NO_NEW_PRIVS, 0, 125);
	/* The command is looked up as a shell would, in the sandbox's PATH: a
	 * file that exists but cannot be executed is remembered, so "not
	 * executable" (126) wins over "not found" (127). */
	int found = 0, denied = -1;
	if (!s->direct) {
		found = -1;
		for (int i = 0; i < s->ncandidates && found < 0; i++) {
			struct stat st;
			if (stat(s->candidates[i], &st) < 0 || S_ISDIR(st.st_mode))
				continue;
			if ((st.st_mode & 0111) && access(s->candidates[i], X_OK) == 0)
				found = i;
			else if (denied < 0)
				denied = i;
		}
		if (found < 0 && denied >= 0) {
			errno = EACCES;
			fail(s, JAIL_STEP_NOT_EXECUTABLE, denied, 126);
		}
		if (found < 0) {
			errno = ENOENT;
			fail(s, JAIL_STEP_NOT_FOUND, 0, 127);
		}
	}
	/* Every descriptor but 0-2 closes at execve: the init's socket, and
	 * whatever it inherited. */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		fail(s, JAIL_STEP_CLOSE_RANGE, 0, 125);
	/* A private umask: the caller's does not leak in. */
	umask(022);
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		fail(s, JAIL_STEP_SIGMASK, 0, 125);
	/* The filter goes last, so the set-up is not filtered and the command
	 * is, from its first instruction. This process has a single thread. */
	if (s->bpf_len > 0) {
		struct sock_fprog prog = {.len = (unsigned short)s->bpf_len, .filter = (struct sock_filter *)s->bpf};
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			fail(s, JAIL_STEP_SECCOMP, 0, 125);
	}
	execve(s->candidates[found], s->argv, s->envp);
	fail(s, JAIL_STEP_EXECVE, found, errno == ENOENT ? 127 : 126);
	return 0;
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
