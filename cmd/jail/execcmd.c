/* execcmd.c: the command's privilege drop and execve (see execcmd.h), for
 * spawn.c and zygote.c. It runs in a vfork-style child that shares its
 * parent's memory: system calls and their thin libc wrappers only, no
 * malloc, nothing static written. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "execcmd.h"

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

#define EXEC_PATH_MAX 4096

static void fail(const struct jail_exec *e, int step, int arg, const char *path, int code) __attribute__((noreturn));
static void fail(const struct jail_exec *e, int step, int arg, const char *path, int code)
{
	e->fail(e->ctx, step, arg, path ? path : "", code);
	syscall(SYS_exit_group, code); /* fail does not return */
	for (;;)
		;
}

static int keep(const struct jail_exec *e, int cap)
{
	return cap < 64 && (e->keep_caps >> cap) & 1;
}

static void copy_str(char *dst, const char *src, size_t size)
{
	size_t i = 0;
	for (; src[i] && i + 1 < size; i++)
		dst[i] = src[i];
	dst[i] = 0;
}

/* candidate puts the i-th file to try in buf (or points at the caller's):
 * NULL past the last, "" for a PATH entry too long to join. *cursor walks
 * PATH (NULL before the first). */
static const char *candidate(const struct jail_exec *e, int i, const char **cursor, char *buf)
{
	if (e->candidates)
		return i < e->ncandidates ? e->candidates[i] : NULL;
	if (i == 0) {
		const char *path = "";
		for (char *const *env = e->envp; *env; env++)
			if (strncmp(*env, "PATH=", 5) == 0)
				path = *env + 5;
		*cursor = path;
	} else if (*cursor == NULL) {
		return NULL;
	}
	const char *dir = *cursor, *end = dir;
	while (*end && *end != ':')
		end++;
	*cursor = *end ? end + 1 : NULL;
	size_t dlen = (size_t)(end - dir), nlen = strlen(e->argv[0]);
	if (dlen == 0) {
		dir = ".";
		dlen = 1;
	}
	if (dlen + 1 + nlen + 1 > EXEC_PATH_MAX)
		return "";
	memcpy(buf, dir, dlen);
	buf[dlen] = '/';
	memcpy(buf + dlen + 1, e->argv[0], nlen + 1);
	return buf;
}

/* look_path finds the command as a shell would: a file that exists but
 * cannot be executed is remembered, so "not executable" (126) wins over
 * "not found" (127). It returns the file to execute and its index. */
static const char *look_path(const struct jail_exec *e, char *found, int *index)
{
	*index = 0;
	if (e->direct)
		return e->candidates ? e->candidates[0] : e->argv[0];
	char denied[EXEC_PATH_MAX];
	int ndenied = -1;
	const char *cursor = NULL;
	for (int i = 0;; i++) {
		const char *p = candidate(e, i, &cursor, found);
		if (p == NULL)
			break;
		struct stat st;
		if (!*p || stat(p, &st) < 0 || S_ISDIR(st.st_mode))
			continue;
		if ((st.st_mode & 0111) && access(p, X_OK) == 0) {
			*index = i;
			return p;
		}
		if (ndenied < 0) {
			ndenied = i;
			copy_str(denied, p, sizeof denied);
		}
	}
	if (ndenied >= 0) {
		errno = EACCES;
		fail(e, JAIL_STEP_NOT_EXECUTABLE, ndenied, denied, 126);
	}
	errno = ENOENT;
	fail(e, JAIL_STEP_NOT_FOUND, 0, e->argv[0], 127);
}

/* The order is the kernel's: groups and gid while CAP_SETGID is held, the
 * bounding set while CAP_SETPCAP is held, the uid (which empties the
 * permitted set unless keepcaps), capset, then, with the command's own
 * rights, the directory, no_new_privs, the PATH lookup, the inherited
 * descriptors, the umask, the signal mask, and the seccomp filter last. */
void jail_exec_command(const struct jail_exec *e)
{
	/* A new session: no controlling terminal, so TIOCSTI into the caller's
	 * terminal is refused; jail's pseudo-terminal on fd 0 becomes it. */
	if (setsid() < 0)
		fail(e, JAIL_STEP_SETSID, 0, NULL, 125);
	if (e->tty && ioctl(0, TIOCSCTTY, 1) < 0)
		fail(e, JAIL_STEP_SETCTTY, 0, NULL, 125);
	/* Lowering limits needs no privilege; done while nothing is dropped
	 * yet so that a failure is reported like any other set-up step. */
	for (int i = 0; i < e->nrlimits; i++) {
		struct rlimit rl = {.rlim_cur = e->rlimits[i].cur, .rlim_max = e->rlimits[i].max};
		if (syscall(SYS_setrlimit, (int)e->rlimits[i].resource, &rl) < 0)
			fail(e, JAIL_STEP_RLIMIT, i, NULL, 125);
	}
	/* Raw system calls for the ids: glibc's wrappers would signal the
	 * threads of the caller's process to change theirs too. */
	if (e->setgroups && syscall(SYS_setgroups, 0, NULL) < 0)
		fail(e, JAIL_STEP_SETGROUPS, 0, NULL, 125);
	if (syscall(SYS_setresgid, e->gid, e->gid, e->gid) < 0)
		fail(e, JAIL_STEP_SETRESGID, 0, NULL, 125);
	/* The bounding set, so that no later execve (of a file with
	 * capabilities, or as uid 0) regains any. */
	for (int c = 0;; c++) {
		if (keep(e, c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL && c > 0)
				break; /* past CAP_LAST_CAP */
			fail(e, JAIL_STEP_CAPBSET_DROP, c, NULL, 125);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		fail(e, JAIL_STEP_AMBIENT_CLEAR, 0, NULL, 125);
	/* Or setresuid to a non-zero uid would empty the permitted set. */
	if (e->keep_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(e, JAIL_STEP_KEEPCAPS, 0, NULL, 125);
	if (syscall(SYS_setresuid, e->uid, e->uid, e->uid) < 0)
		fail(e, JAIL_STEP_SETRESUID, 0, NULL, 125);
	/* capset empties what remains (uid 0 keeps it otherwise). */
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	for (int c = 0; c < 64; c++) {
		if (keep(e, c)) {
			data[c / 32].permitted |= 1U << (c % 32);
			data[c / 32].effective |= 1U << (c % 32);
			data[c / 32].inheritable |= 1U << (c % 32);
		}
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		fail(e, JAIL_STEP_CAPSET, 0, NULL, 125);
	/* Ambient: kept across execve whatever the uid and the file. */
	for (int c = 0; c < 64; c++) {
		if (keep(e, c) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			fail(e, JAIL_STEP_AMBIENT_RAISE, c, NULL, 125);
	}
	/* With the command's own rights from here: a directory it could not
	 * enter itself is an error, not a favour of CAP_DAC_OVERRIDE. */
	if (chdir(e->cwd) < 0)
		fail(e, JAIL_STEP_CHDIR, 0, e->cwd, 125);
	/* No setuid binary or file capability can give anything back. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(e, JAIL_STEP_NO_NEW_PRIVS, 0, NULL, 125);
	char found[EXEC_PATH_MAX];
	int index;
	const char *file = look_path(e, found, &index);
	/* Every descriptor but 0-2 closes at execve: the parent's sockets and
	 * pipes, and whatever it inherited. */
	if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		fail(e, JAIL_STEP_CLOSE_RANGE, 0, NULL, 125);
	/* A private umask: the caller's does not leak in. */
	umask(022);
	if (e->before_exec && e->before_exec(e->ctx) < 0)
		fail(e, JAIL_STEP_BEFORE_EXEC, 0, NULL, 125);
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		fail(e, JAIL_STEP_SIGMASK, 0, NULL, 125);
	/* The filter goes last, so the set-up is not filtered and the command
	 * is, from its first instruction. This process has a single thread. */
	if (e->bpf_len > 0) {
		struct sock_fprog prog = {.len = (unsigned short)e->bpf_len, .filter = (struct sock_filter *)e->bpf};
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			fail(e, JAIL_STEP_SECCOMP, 0, NULL, 125);
	}
	execve(file, e->argv, e->envp);
	fail(e, JAIL_STEP_EXECVE, index, file, errno == ENOENT ? 127 : 126);
}
