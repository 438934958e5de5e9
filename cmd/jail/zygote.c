/* zygote.c: the batch zygote's loop and the per-run init.
 *
 * `jail batch` starts one zygote (zygote.go): the user, mount, UTS, PID,
 * IPC (and network) namespaces made once, ids mapped once, the time
 * namespace made by timens.c's constructor, the sandbox's root built once
 * by fs.Setup. Then its Go code calls jail_zygote_loop, which never
 * returns: from here the thread that runs it is the only one that does
 * anything (the Go runtime's other threads sleep), and every process forked
 * from it uses raw system calls only, no malloc, no Go, no stdio.
 *
 * Per request the zygote clones a per-run init with new mount (a copy of
 * the finished root), PID, IPC, network, cgroup and UTS namespaces, sends
 * its pidfd to stage 0, and waits for it. With a cgroup the request brings
 * the run's own: on cgroup v2 the init is born in it (clone3 with
 * CLONE_INTO_CGROUP), on cgroup v1 it moves itself in through the tasks
 * files it was given before anything else; it then makes its cgroup
 * namespace itself, once there.
 * The per-run init (PID 1 of its PID namespace):
 *   - replaces every mount a run could write or that shows per-run state
 *     (the copies share their superblocks with the template): a new proc
 *     with jail's masks, a new tmpfs on each tmpfs target, a new /dev/shm
 *     and devpts instance; each new mount is made detached (fsmount), the
 *     template's is detached, then the new one moved in;
 *   - brings lo up in its new network namespace;
 *   - forks the command, which drops privileges and execs as a single
 *     run's does (execcmd.c); a close-on-exec pipe carries a failure back;
 *   - reaps every process until the command ends, kills the rest, and
 *     reports the command's status and usage to stage 0, then exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zygote.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#define SYS_move_mount 429
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define Z_RESOLVE_NO_MAGICLINKS 0x02
#define Z_RESOLVE_NO_SYMLINKS 0x04
#define Z_RESOLVE_BENEATH 0x08
#define Z_MOVE_MOUNT_T_EMPTY_PATH 0x40
#define Z_FSOPEN_CLOEXEC 0x1
#define Z_FSCONFIG_SET_STRING 1
#define Z_FSCONFIG_CMD_CREATE 6
#define Z_FSMOUNT_CLOEXEC 0x1
#define Z_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define Z_OPEN_TREE_CLONE 1
#define Z_OPEN_TREE_CLOEXEC O_CLOEXEC
#define Z_MOUNT_ATTR_RDONLY 0x1
#define Z_MOUNT_ATTR_NOSUID 0x2
#define Z_MOUNT_ATTR_NODEV 0x4
#define Z_MOUNT_ATTR_NOEXEC 0x8

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define Z_CLONE_INTO_CGROUP 0x200000000ULL

struct z_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

struct z_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

struct z_open_how {
	uint64_t flags, mode, resolve;
};

/* Exit codes, as in stage0.go. */
#define EXIT_SETUP 125

/* The request being served: parsed in the zygote, read by its children
 * (fork copies it). Static: nothing is allocated. */
static unsigned char req_buf[JAIL_ZREQ_MAX] __attribute__((aligned(8)));
static char *req_argv[JAIL_ZMAX_STRS + 1];
static char *req_env[JAIL_ZMAX_STRS + 1];
static const char *req_cwd;
static struct jail_zreq req;
static const struct jail_rlimit *req_rlim;
static const unsigned char *req_filter;

/* ---- small helpers, async-signal-safe ---- */

static size_t z_strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static void z_strlcpy(char *dst, const char *src, size_t size)
{
	size_t i = 0;
	if (src)
		for (; src[i] && i + 1 < size; i++)
			dst[i] = src[i];
	dst[i] = 0;
}

static int64_t tv_usec(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static int send_msg(int sock, const struct jail_zmsg *m, int fd)
{
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof *m};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&u, 0, sizeof u);
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof u.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

/* send_failure reports a failure: of the run's own set-up (setup: the
 * zygote's or the per-run init's, after which the batch replaces the
 * zygote) or of the request or the command's start. */
static void send_failure(int sock, int code, const char *step, const char *path, int err, int setup)
{
	struct jail_zmsg m;
	memset(&m, 0, sizeof m);
	m.type = JAIL_ZM_FAILED;
	m.code = code;
	m.err = err;
	m.setup = setup;
	z_strlcpy(m.step, step, sizeof m.step);
	z_strlcpy(m.path, path, sizeof m.path);
	send_msg(sock, &m, -1);
}

/* ---- the request ---- */

/* parse_request checks a request of n bytes in req_buf and points the
 * req_* variables into it. */
static int parse_request(size_t n)
{
	if (n < sizeof req)
		return -1;
	memcpy(&req, req_buf, sizeof req);
	if (req.magic != JAIL_ZREQ_MAGIC || req.nargv == 0 || req.nargv > JAIL_ZMAX_STRS ||
	    req.nenv > JAIL_ZMAX_STRS || req.nrlim > JAIL_ZMAX_RLIM || req.seccomp_len % 8 != 0 ||
	    req.seccomp_len / 8 > 65535)
		return -1;
	if (!((req.cgroup == JAIL_ZCG_NONE && req.ncgroup == 0) || (req.cgroup == JAIL_ZCG_V2 && req.ncgroup == 1) ||
	      (req.cgroup == JAIL_ZCG_V1 && req.ncgroup >= 1 && req.ncgroup <= JAIL_ZMAX_CGROUP_FDS)))
		return -1;
	size_t off = sizeof req;
	if (n - off < (size_t)req.nrlim * sizeof(struct jail_rlimit))
		return -1;
	req_rlim = (const struct jail_rlimit *)(req_buf + off);
	off += (size_t)req.nrlim * sizeof(struct jail_rlimit);
	if (n - off < req.seccomp_len)
		return -1;
	req_filter = req_buf + off;
	off += req.seccomp_len;
	uint32_t want = 1 + req.nargv + req.nenv, got = 0;
	char *p = (char *)req_buf + off, *end = (char *)req_buf + n;
	if (n == 0 || req_buf[n - 1] != 0)
		return -1;
	while (p < end && got < want) {
		if (got == 0)
			req_cwd = p;
		else if (got <= req.nargv)
			req_argv[got - 1] = p;
		else
			req_env[got - 1 - req.nargv] = p;
		got++;
		p += z_strlen(p) + 1;
	}
	if (got != want)
		return -1;
	req_argv[req.nargv] = NULL;
	req_env[req.nenv] = NULL;
	return 0;
}

/* ---- the per-run init's mounts ---- */

static const char *fail_step;
static const char *fail_path;

static int z_fail(const char *step, const char *path)
{
	fail_step = step;
	fail_path = path;
	return -1;
}

static int fsconfig_str(int fsfd, const char *key, const char *val)
{
	return (int)syscall(SYS_fsconfig, fsfd, Z_FSCONFIG_SET_STRING, key, val, 0);
}

static void fmt_u64(char *buf, uint64_t v, int base)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = 0;
}

/* new_mount makes a detached mount of fstype with its options and
 * attributes attr; the caller moves it in place. */
static int new_mount(const struct jail_zmount *m, const char *fstype, uint32_t attr)
{
	int fsfd = (int)syscall(SYS_fsopen, fstype, Z_FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return z_fail("fsopen", m->path);
	char num[24];
	if (m->kind == JAIL_ZMNT_TMPFS || m->kind == JAIL_ZMNT_TMPFS_OVER) {
		fmt_u64(num, m->size, 10);
		if (fsconfig_str(fsfd, "size", num) < 0)
			goto fail;
		fmt_u64(num, m->mode, 8);
		if (fsconfig_str(fsfd, "mode", num) < 0)
			goto fail;
	} else if (m->kind == JAIL_ZMNT_DEVPTS) {
		/* size is the instance's max= (fs.DevPtsMax). */
		fmt_u64(num, m->size, 10);
		if (fsconfig_str(fsfd, "ptmxmode", "0666") < 0 || fsconfig_str(fsfd, "mode", "0620") < 0 ||
		    fsconfig_str(fsfd, "max", num) < 0)
			goto fail;
	}
	if (syscall(SYS_fsconfig, fsfd, Z_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto fail;
	int mfd = (int)syscall(SYS_fsmount, fsfd, Z_FSMOUNT_CLOEXEC, attr);
	if (mfd < 0) {
		int e = errno;
		close(fsfd);
		errno = e;
		return z_fail("fsmount", m->path);
	}
	close(fsfd);
	return mfd;
fail: {
	int e = errno;
	close(fsfd);
	errno = e;
	return z_fail("fsconfig", m->path);
}
}

/* close_errno closes fd, keeping errno, and returns ret. */
static int close_errno(int fd, int ret)
{
	int e = errno;
	close(fd);
	errno = e;
	return ret;
}

/* open_target opens the directory path (absolute) for a mount onto it,
 * one component at a time from the root, without following a symlink
 * (openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), making a missing
 * component (0755) as fs.Setup does: what an earlier run left at the path
 * in a writable bind (a renamed or re-made directory, a symlink, a file) is
 * made anew or refused, never followed, and the mount lands on the
 * directory that was opened. */
static int open_target(const char *path)
{
	int dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return z_fail("open", "/");
	char comp[256];
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			return dfd;
		size_t n = 0;
		while (p[n] && p[n] != '/')
			n++;
		if (n >= sizeof comp || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			close(dfd);
			errno = EINVAL;
			return z_fail("open", path);
		}
		memcpy(comp, p, n);
		comp[n] = 0;
		p += n;
		struct z_open_how how = {
		    .flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		    .resolve = Z_RESOLVE_BENEATH | Z_RESOLVE_NO_SYMLINKS | Z_RESOLVE_NO_MAGICLINKS,
		};
		int fd = (int)syscall(SYS_openat2, dfd, comp, &how, sizeof how);
		if (fd < 0 && errno == ENOENT) {
			if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST)
				return close_errno(dfd, z_fail("mkdir", path));
			fd = (int)syscall(SYS_openat2, dfd, comp, &how, sizeof how);
		}
		int e = errno;
		close(dfd);
		if (fd < 0) {
			errno = e;
			/* ELOOP: a symlink; ENOTDIR: a file (or a symlink, with
			 * O_DIRECTORY): neither is followed or mounted on. */
			return z_fail(e == ELOOP || e == ENOTDIR ? "open (a symlink or not a directory: refused)" : "open", path);
		}
		dfd = fd;
	}
}

/* attach moves the detached mount mfd onto the directory path, opened by
 * open_target. */
static int attach(int mfd, const char *path)
{
	int tfd = open_target(path);
	if (tfd < 0)
		return -1;
	if (syscall(SYS_move_mount, mfd, "", tfd, "", Z_MOVE_MOUNT_F_EMPTY_PATH | Z_MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return close_errno(tfd, z_fail("move_mount", path));
	close(tfd);
	return 0;
}

/* replace detaches the template's mount at path (/proc, in the read-only
 * root: nothing a run could change) and moves mfd there. */
static int replace(int mfd, const char *path)
{
	if (umount2(path, MNT_DETACH) < 0)
		return z_fail("umount2", path);
	if (syscall(SYS_move_mount, mfd, "", AT_FDCWD, path, Z_MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return z_fail("move_mount", path);
	return 0;
}

/* bind_ro clones src (recursively), makes the clone read-only and moves it
 * onto dst. */
static int bind_ro(const char *src, const char *dst, uint32_t attr)
{
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, src, Z_OPEN_TREE_CLONE | Z_OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (fd < 0)
		return z_fail("open_tree", src);
	struct z_mount_attr a = {.attr_set = attr};
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return z_fail("mount_setattr", dst);
	}
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, dst, Z_MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return z_fail("move_mount", dst);
	}
	close(fd);
	return 0;
}

/* oom_first raises the init's OOM score (inherited by the command) to the
 * highest, through its new proc's detached mount procfd. */
static void oom_first(int procfd)
{
	int oom = openat(procfd, "self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (oom >= 0) {
		ssize_t n = write(oom, "1000", 4);
		(void)n;
		close(oom);
	}
}

static int fresh_mounts(const struct jail_zconfig *cfg)
{
	for (int i = 0; i < cfg->nmounts; i++) {
		const struct jail_zmount *m = &cfg->mounts[i];
		int mfd;
		switch (m->kind) {
		case JAIL_ZMNT_TMPFS:
		case JAIL_ZMNT_DEVPTS:
			/* The zygote removed the template's (zygote.go): nothing
			 * to detach, and nothing an earlier run moved is followed. */
			mfd = new_mount(m, m->kind == JAIL_ZMNT_TMPFS ? "tmpfs" : "devpts", m->attr);
			if (mfd < 0)
				return -1;
			if (attach(mfd, m->path) < 0)
				return close_errno(mfd, -1);
			close(mfd);
			break;
		case JAIL_ZMNT_PROC:
			/* Made before the template's is detached: the kernel lets
			 * a user namespace mount proc only while a proc is fully
			 * visible (mount_too_revealing). */
			mfd = new_mount(m, "proc", m->attr & ~(uint32_t)Z_MOUNT_ATTR_RDONLY);
			if (mfd < 0)
				return -1;
			/* The one write of the run to its proc, before it is
			 * read-only (m->attr): the host's OOM killer takes a
			 * run's processes before the zygote (raising the score
			 * needs no privilege). */
			oom_first(mfd);
			if (m->attr & Z_MOUNT_ATTR_RDONLY) {
				struct z_mount_attr a = {.attr_set = Z_MOUNT_ATTR_RDONLY};
				if (syscall(SYS_mount_setattr, mfd, "", AT_EMPTY_PATH, &a, sizeof a) < 0)
					return close_errno(mfd, z_fail("mount_setattr", m->path));
			}
			if (replace(mfd, m->path) < 0)
				return close_errno(mfd, -1);
			close(mfd);
			break;
		case JAIL_ZMNT_TMPFS_OVER:
			mfd = new_mount(m, "tmpfs", m->attr);
			if (mfd < 0)
				return -1;
			if (syscall(SYS_move_mount, mfd, "", AT_FDCWD, m->path, Z_MOVE_MOUNT_F_EMPTY_PATH) < 0)
				return close_errno(mfd, z_fail("move_mount", m->path));
			close(mfd);
			break;
		case JAIL_ZMNT_ROBIND:
			if (bind_ro(m->path, m->path, m->attr) < 0)
				return -1;
			break;
		case JAIL_ZMNT_MASKFILE:
			if (bind_ro("/dev/null", m->path, m->attr) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

static int loopback_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return z_fail("socket", "lo");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		close(fd);
		return z_fail("ioctl(SIOCGIFFLAGS)", "lo");
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		close(fd);
		return z_fail("ioctl(SIOCSIFFLAGS)", "lo");
	}
	close(fd);
	return 0;
}

/* ---- the command: execcmd.c's sequence ---- */

/* What the command's child writes to the init before execve: its own
 * usage, then (only on failure) a failure record. */
struct shim_report {
	int32_t kind; /* 0 usage, 1 failure */
	int32_t code, err;
	int64_t user_usec, sys_usec;
	char step[48];
	char path[208];
};

/* step_name words a failed step as stage 0 expects it (batchfast.go). */
static const char *step_name(int step)
{
	switch (step) {
	case JAIL_STEP_SETSID:
		return "setsid";
	case JAIL_STEP_SETCTTY:
		return "ioctl(TIOCSCTTY)";
	case JAIL_STEP_RLIMIT:
		return "setrlimit";
	case JAIL_STEP_SETGROUPS:
		return "setgroups";
	case JAIL_STEP_SETRESGID:
		return "setresgid";
	case JAIL_STEP_CAPBSET_DROP:
		return "prctl(PR_CAPBSET_DROP)";
	case JAIL_STEP_AMBIENT_CLEAR:
		return "prctl(PR_CAP_AMBIENT_CLEAR_ALL)";
	case JAIL_STEP_KEEPCAPS:
		return "prctl(PR_SET_KEEPCAPS)";
	case JAIL_STEP_SETRESUID:
		return "setresuid";
	case JAIL_STEP_CAPSET:
		return "capset";
	case JAIL_STEP_AMBIENT_RAISE:
		return "prctl(PR_CAP_AMBIENT_RAISE)";
	case JAIL_STEP_CHDIR:
		return "chdir";
	case JAIL_STEP_NO_NEW_PRIVS:
		return "prctl(PR_SET_NO_NEW_PRIVS)";
	case JAIL_STEP_NOT_EXECUTABLE:
		return "exec";
	case JAIL_STEP_NOT_FOUND:
		return "exec (command not found)";
	case JAIL_STEP_CLOSE_RANGE:
		return "close_range";
	case JAIL_STEP_BEFORE_EXEC:
		return "write";
	case JAIL_STEP_SIGMASK:
		return "sigprocmask";
	case JAIL_STEP_SECCOMP:
		return "seccomp";
	case JAIL_STEP_EXECVE:
		return "execve";
	}
	return "exec";
}

/* shim_fail sends the failure record through the pipe (ctx) and exits. */
static void shim_fail(void *ctx, int step, int arg, const char *path, int code) __attribute__((noreturn));
static void shim_fail(void *ctx, int step, int arg, const char *path, int code)
{
	(void)arg;
	struct shim_report r;
	memset(&r, 0, sizeof r);
	r.kind = 1;
	r.code = code;
	r.err = errno;
	z_strlcpy(r.step, step_name(step), sizeof r.step);
	z_strlcpy(r.path, path, sizeof r.path);
	ssize_t n = write((int)(intptr_t)ctx, &r, sizeof r);
	(void)n;
	_exit(code);
}

/* report_usage sends the shim's own usage, so that the command's is
 * RUSAGE_CHILDREN less it. */
static int report_usage(void *ctx)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	struct shim_report r;
	memset(&r, 0, sizeof r);
	r.user_usec = tv_usec(ru.ru_utime);
	r.sys_usec = tv_usec(ru.ru_stime);
	if (write((int)(intptr_t)ctx, &r, sizeof r) != sizeof r)
		return -1;
	return 0;
}

static void run_command(int pipefd) __attribute__((noreturn));
static void run_command(int pipefd)
{
	struct jail_exec e = {
		.argv = req_argv,
		.envp = req_env,
		.cwd = req_cwd,
		.direct = strchr(req_argv[0], '/') != NULL,
		.uid = req.uid,
		.gid = req.gid,
		.setgroups = (int)req.setgroups,
		.keep_caps = req.keep_caps,
		.rlimits = req_rlim,
		.nrlimits = (int)req.nrlim,
		.bpf = req_filter,
		.bpf_len = (int)(req.seccomp_len / 8),
		.fail = shim_fail,
		.before_exec = report_usage,
		.ctx = (void *)(intptr_t)pipefd,
	};
	jail_exec_command(&e);
}

/* ---- the per-run init ---- */

static char cmd_stack[128 * 1024] __attribute__((aligned(16)));
static int cmd_pipe = -1;

static int command_child(void *arg)
{
	(void)arg;
	run_command(cmd_pipe);
}

static void reset_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < 65; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);
}

/* join_cgroup_v1 moves the calling (single-threaded) init into the run's
 * cgroup v1, one hierarchy per tasks file, before anything of the run is
 * started: the command is born there, and the run's counters are its own. */
static int join_cgroup_v1(const int *tasks, int n)
{
	for (int i = 0; i < n; i++) {
		ssize_t w;
		do
			w = write(tasks[i], "0", 1);
		while (w < 0 && errno == EINTR);
		if (w != 1)
			return z_fail("write", "tasks (the run's cgroup)");
		close(tasks[i]);
	}
	return 0;
}

static void init_main(const struct jail_zconfig *cfg, int fds[3], const int *cgfds, int ncg) __attribute__((noreturn));
static void init_main(const struct jail_zconfig *cfg, int fds[3], const int *cgfds, int ncg)
{
	int ctl = cfg->ctl;
	int own_cgroup = req.cgroup != JAIL_ZCG_NONE;
	/* Signals stay blocked in the init: as PID 1 with default actions it
	 * ignores what comes from inside its namespace anyway. */
	reset_signals();
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, "jail-init", 0, 0, 0);
	if (req.cgroup == JAIL_ZCG_V1 && join_cgroup_v1(cgfds, ncg) < 0) {
		send_failure(ctl, EXIT_SETUP, fail_step, fail_path, errno, 1);
		_exit(EXIT_SETUP);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0) {
			send_failure(ctl, EXIT_SETUP, "dup2", "", errno, 1);
			_exit(EXIT_SETUP);
		}
	if (ctl != 3) {
		if (dup2(ctl, 3) < 0) {
			send_failure(ctl, EXIT_SETUP, "dup2", "", errno, 1);
			_exit(EXIT_SETUP);
		}
		ctl = 3;
	}
	/* Nothing of the zygote's but the socket to stage 0. */
	syscall(SYS_close_range, 4, ~0U, 0);
	/* In a cgroup of the run's own: the cgroup namespace, rooted there,
	 * for the init and the command. */
	if (own_cgroup && unshare(CLONE_NEWCGROUP) < 0) {
		send_failure(ctl, EXIT_SETUP, "unshare(CLONE_NEWCGROUP)", "", errno, 1);
		_exit(EXIT_SETUP);
	}
	if (fresh_mounts(cfg) < 0) {
		send_failure(ctl, EXIT_SETUP, fail_step, fail_path, errno, 1);
		_exit(EXIT_SETUP);
	}
	if (cfg->lo_up && loopback_up() < 0) {
		send_failure(ctl, EXIT_SETUP, fail_step, fail_path, errno, 1);
		_exit(EXIT_SETUP);
	}
	int pp[2];
	if (pipe2(pp, O_CLOEXEC) < 0) {
		send_failure(ctl, EXIT_SETUP, "pipe2", "", errno, 1);
		_exit(EXIT_SETUP);
	}
	/* As posix_spawn does: the child borrows the init's memory (on a
	 * stack of its own) until its execve or _exit, while the init waits,
	 * so no page table is copied. It changes only its own credentials,
	 * limits and namespaces-free state, and static buffers the init does
	 * not read. */
	cmd_pipe = pp[1];
	pid_t cmd = clone(command_child, cmd_stack + sizeof cmd_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	if (cmd < 0) {
		send_failure(ctl, EXIT_SETUP, "fork", "", errno, 1);
		_exit(EXIT_SETUP);
	}
	close(pp[1]);
	struct jail_zmsg m;
	memset(&m, 0, sizeof m);
	m.type = JAIL_ZM_COMMAND;
	int cfd = (int)syscall(SYS_pidfd_open, cmd, 0);
	send_msg(ctl, &m, cfd);
	if (cfd >= 0)
		close(cfd);

	struct shim_report r, usage;
	memset(&usage, 0, sizeof usage);
	int failed = 0;
	for (;;) {
		ssize_t n = read(pp[0], &r, sizeof r);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof r)
			break; /* EOF: execve succeeded (or the shim died) */
		if (r.kind == 0) {
			usage = r;
			continue;
		}
		failed = 1;
		send_failure(ctl, r.code, r.step, r.path, r.err, 0);
		break;
	}
	close(pp[0]);
	struct rusage self;
	getrusage(RUSAGE_SELF, &self);
	if (!failed) {
		memset(&m, 0, sizeof m);
		m.type = JAIL_ZM_STARTED;
		m.ov_user_usec = tv_usec(self.ru_utime) + usage.user_usec;
		m.ov_sys_usec = tv_usec(self.ru_stime) + usage.sys_usec;
		send_msg(ctl, &m, -1);
	}

	int status = 0;
	for (;;) {
		int st;
		pid_t got = wait4(-1, &st, __WALL, NULL);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			send_failure(ctl, EXIT_SETUP, "wait4", "", errno, 1);
			_exit(EXIT_SETUP);
		}
		if (got == cmd && WIFSTOPPED(st)) {
			/* Only a tracee reports a stop here: let it go on. */
			syscall(SYS_ptrace, 17 /* PTRACE_DETACH */, got, 0, WSTOPSIG(st));
			continue;
		}
		if (got == cmd) {
			status = st;
			break;
		}
	}
	/* The command ended: so does everything it left. */
	kill(-1, SIGKILL);
	while (wait4(-1, NULL, __WALL, NULL) > 0 || errno == EINTR)
		;
	struct rusage ch;
	getrusage(RUSAGE_CHILDREN, &ch);
	getrusage(RUSAGE_SELF, &self);
	memset(&m, 0, sizeof m);
	m.type = JAIL_ZM_EXITED;
	if (WIFSIGNALED(status))
		m.sig = WTERMSIG(status);
	else
		m.code = WEXITSTATUS(status);
	m.user_usec = tv_usec(ch.ru_utime) - usage.user_usec;
	m.sys_usec = tv_usec(ch.ru_stime) - usage.sys_usec;
	if (m.user_usec < 0)
		m.user_usec = 0;
	if (m.sys_usec < 0)
		m.sys_usec = 0;
	m.maxrss_kib = ch.ru_maxrss;
	m.ov_user_usec = tv_usec(self.ru_utime) + usage.user_usec;
	m.ov_sys_usec = tv_usec(self.ru_stime) + usage.sys_usec;
	send_msg(ctl, &m, -1);
	_exit(failed ? EXIT_SETUP : 0);
}

/* ---- the zygote ---- */

/* recv_request reads a request with the command's stdio in fds[0..2] and
 * the run's cgroup descriptors (req.ncgroup of them) in cgfds. */
static int recv_request(int ctl, int fds[3], int cgfds[JAIL_ZMAX_CGROUP_FDS])
{
	struct iovec iov = {.iov_base = req_buf, .iov_len = sizeof req_buf};
	enum { MAXFDS = 3 + JAIL_ZMAX_CGROUP_FDS };
	int got_fds[MAXFDS];
	union {
		char buf[CMSG_SPACE(MAXFDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	ssize_t n;
	do
		n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -2; /* stage 0 is gone */
	int got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
			if (got < MAXFDS)
				got_fds[got++] = fd;
			else
				close(fd);
		}
	}
	if (got < 3 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || parse_request((size_t)n) < 0 ||
	    (uint32_t)got != 3 + req.ncgroup) {
		for (int i = 0; i < got; i++)
			close(got_fds[i]);
		return -1;
	}
	for (int i = 0; i < 3; i++)
		fds[i] = got_fds[i];
	for (int i = 3; i < got; i++)
		cgfds[i - 3] = got_fds[i];
	return 0;
}

void jail_zygote_loop(const struct jail_zconfig *cfg)
{
	int ctl = cfg->ctl;
	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_PIDFD | SIGCHLD;
	if (cfg->newnet)
		flags |= CLONE_NEWNET;
	/* Here, past the Go code that ran before: the pages of these
	 * read-only file mappings (zygote.go's shrink) leave the resident set
	 * until touched again. */
	for (int i = 0; i < cfg->nshrink; i++)
		madvise((void *)cfg->shrink[2 * i], cfg->shrink[2 * i + 1] - cfg->shrink[2 * i], MADV_DONTNEED);
	for (;;) {
		int fds[3], cgfds[JAIL_ZMAX_CGROUP_FDS];
		struct rusage before, after;
		int r = recv_request(ctl, fds, cgfds);
		if (r == -2)
			_exit(0);
		getrusage(RUSAGE_THREAD, &before);
		struct jail_zmsg m;
		if (r < 0) {
			send_failure(ctl, EXIT_SETUP, "zygote", "bad request", EINVAL, 0);
			memset(&m, 0, sizeof m);
			m.type = JAIL_ZM_DONE;
			send_msg(ctl, &m, -1);
			continue;
		}
		/* Blocked across the clone: the child must not run one of the
		 * Go runtime's handlers before it resets them. */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		int pidfd = -1;
		pid_t pid;
		int ncg = (int)req.ncgroup;
		if (req.cgroup == JAIL_ZCG_V2) {
			/* cgroup v2: born in the run's cgroup. Its cgroup namespace
			 * is made by the init itself once there (a namespace made
			 * by this clone would be rooted at the zygote's cgroup). */
			struct z_clone_args ca;
			memset(&ca, 0, sizeof ca);
			ca.flags = (flags & ~(unsigned long)(CLONE_NEWCGROUP | CSIGNAL)) | Z_CLONE_INTO_CGROUP;
			ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
			ca.exit_signal = SIGCHLD;
			ca.cgroup = (uint64_t)cgfds[0];
			pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
		} else if (req.cgroup == JAIL_ZCG_V1) {
			/* cgroup v1: the init moves itself in, then makes its
			 * cgroup namespace. */
			pid = (pid_t)syscall(SYS_clone, flags & ~(unsigned long)CLONE_NEWCGROUP, 0, &pidfd, 0, 0);
		} else {
			pid = (pid_t)syscall(SYS_clone, flags, 0, &pidfd, 0, 0);
		}
		if (pid == 0)
			init_main(cfg, fds, cgfds, ncg);
		int err = errno;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		for (int i = 0; i < 3; i++)
			close(fds[i]);
		for (int i = 0; i < ncg; i++)
			close(cgfds[i]);
		getrusage(RUSAGE_THREAD, &after);
		memset(&m, 0, sizeof m);
		if (pid < 0) {
			send_failure(ctl, EXIT_SETUP, "clone", "", err, 1);
		} else {
			m.type = JAIL_ZM_INIT;
			m.ov_user_usec = tv_usec(after.ru_utime) - tv_usec(before.ru_utime);
			m.ov_sys_usec = tv_usec(after.ru_stime) - tv_usec(before.ru_stime);
			send_msg(ctl, &m, pidfd);
			close(pidfd);
			int st;
			while (wait4(pid, &st, __WALL, NULL) < 0 && errno == EINTR)
				;
			m.code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
			m.sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
		}
		m.type = JAIL_ZM_DONE;
		send_msg(ctl, &m, -1);
	}
}
