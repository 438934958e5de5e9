/* mounts.c: stage 2 builds the sandbox's root before its Go runtime starts.
 *
 * Stage 2 is PID 1 of the sandbox, re-executed by stage 1 once its ids are
 * mapped: uid 0 of the user namespace with every capability in it (a
 * batch's zygote, `jail __zygote2`, builds its template root the same way). Its one
 * constructor (jail_stage2, below) enters the time namespace (timens.c),
 * then reads the mount plan stage 0 sent right after {idmap-done} (an ipc
 * record: see mounts.h) and executes it, in the order and with the flags
 * the kernel requires:
 *  1. write the per-user counts' bounds into /proc/sys/user (while this
 *     process holds CAP_SYS_RESOURCE and the host's proc is still there);
 *  2. make every mount private, so nothing propagates back to the host;
 *  3. pivot onto a staging tmpfs, keeping the host root at /oldroot
 *     (bubblewrap's scheme: a bind source under the host's /tmp stays
 *     reachable);
 *  4. build /newroot: a tmpfs root, the plan's operations, /proc, /dev (proc
 *     must be mounted while the host's proc is still visible, or the
 *     kernel's mnt_already_visible check refuses it), the /proc masks;
 *  5. detach the host root, pivot into /newroot, detach the staging tmpfs;
 *  6. remount / and /dev read-only.
 * Stage 2's Go code then checks the mount table (fs.Verify) as before.
 *
 * Targets are created below the new root one component at a time,
 * refusing a symlink (mkdir_in), then opened with openat2 and
 * RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS and acted on through that descriptor:
 * a symlink swapped in between (inside a writable bind) cannot redirect a
 * mount or a file out of the new root. A bind source is opened without
 * following any symlink and mounted only if it is still the device and
 * inode stage 0 checked. A file mount point is made with mknodat, which
 * opens nothing (a FIFO a run left there cannot block the set-up), and
 * must be a regular file.
 *
 * A failure is one record (struct jail_mfail: the step, the operation's
 * index, the errno, the paths) sent to stage 0, which turns it into the
 * message the user sees (fs.Failure); then the process exits 125, before any
 * Go runtime starts. Only system calls and libc's string functions. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <signal.h>
#include <unistd.h>

#include "mounts.h"
#include "timens.h"

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

/* The new mount API's constants, as the kernel's uapi defines them (libc's
 * headers may lack them). */
#define M_OPEN_TREE_CLONE 1
#define M_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define M_MOVE_MOUNT_T_EMPTY_PATH 0x40
#define M_FSOPEN_CLOEXEC 0x1
#define M_FSCONFIG_SET_STRING 1
#define M_FSCONFIG_CMD_CREATE 6
#define M_FSMOUNT_CLOEXEC 0x1
#define M_ATTR_RDONLY 0x1
#define M_ATTR_NOSUID 0x2
#define M_ATTR_NODEV 0x4
#define M_ATTR_NOEXEC 0x8

struct m_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* The stage protocol (internal/ipc): the socket is fd 3; a packet starts
 * with a flag byte: bit 0 on the last packet of a message, bit 1 on the
 * packets of a record (binary) rather than a JSON message. A packet holds at
 * most IPC_CHUNK bytes after the flag. */
#define SYNC_FD 3
#define FLAG_FINAL 1
#define FLAG_RECORD 2
#define IPC_CHUNK (32 << 10)
#define EXIT_SETUP 125

struct jail_mounts_result jail_mounts;

static const char staging[] = "/tmp";
static const char staging_old[] = "/tmp/oldroot";
static const char staging_new[] = "/tmp/newroot";
#define OLD "/oldroot"
#define NEW "/newroot"

/* The plan, as parsed. */
struct mop {
	struct jail_mop w;
	const char *source, *target, *content;
};

struct mplan {
	struct jail_mplan h;
	struct mop *ops;
	const int64_t *counts;
	const char **count_names, **devices, **proc_ro, **proc_files, **proc_dirs;
};

static struct jail_mfail rec;
static int cur_op = -1;

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = 0;
}

/* fail records a failed step (err is an errno, or 0) and returns -1; the
 * caller may add flags, data, mode, dev and ino to rec first. */
static int fail(uint32_t step, int err, const char *source, const char *target)
{
	rec.magic = JAIL_MFAIL_MAGIC;
	rec.op = cur_op;
	rec.step = step;
	rec.err = err;
	copy_str(rec.source, sizeof rec.source, source);
	copy_str(rec.target, sizeof rec.target, target);
	return -1;
}

/* after_new is path less the staging root's /newroot prefix, as the Go
 * set-up named mount targets. */
static const char *after_new(const char *path)
{
	size_t n = sizeof NEW - 1;
	if (strncmp(path, NEW, n) == 0)
		return path + n;
	return path;
}

static int x_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)
{
	for (;;) {
		if (mount(source, target, fstype, flags, data && *data ? data : NULL) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		rec.flags = flags;
		copy_str(rec.data, sizeof rec.data, data);
		return fail(JAIL_MS_MOUNT, errno, source, after_new(target));
	}
}

static int x_pivot(const char *newroot, const char *putold)
{
	if (syscall(SYS_pivot_root, newroot, putold) != 0)
		return fail(JAIL_MS_PIVOT, errno, newroot, putold);
	return 0;
}

static int x_unmount(const char *target)
{
	if (umount2(target, MNT_DETACH) != 0)
		return fail(JAIL_MS_UMOUNT, errno, NULL, target);
	return 0;
}

static int x_chdir(const char *path)
{
	if (chdir(path) != 0)
		return fail(JAIL_MS_CHDIR, errno, NULL, path);
	return 0;
}

/* join writes a then b into out; -1 (ENAMETOOLONG recorded by the caller's
 * step) when it does not fit. */
static int join(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s%s", a, b);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* mkdir_in creates path (absolute, inside the sandbox) below root (a path
 * of this process's), one component at a time, and refuses to walk through
 * a symlink: a writable bind could hold a link that points a later mount
 * out of the new root. */
static int mkdir_in(const char *root, const char *path, uint32_t mode)
{
	char cur[4096];
	size_t rl = strlen(root);
	if (rl >= sizeof cur)
		return fail(JAIL_MS_MKDIR, ENAMETOOLONG, NULL, path);
	memcpy(cur, root, rl + 1);
	size_t at = rl;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			/* Compile's targets are clean: a dot is not one of them. */
			return fail(JAIL_MS_MKDIR, EINVAL, NULL, path);
		}
		if (at + 1 + n >= sizeof cur)
			return fail(JAIL_MS_MKDIR, ENAMETOOLONG, NULL, path);
		cur[at++] = '/';
		memcpy(cur + at, p, n);
		at += n;
		cur[at] = 0;
		p += n;
		struct stat st;
		if (lstat(cur, &st) == 0) {
			if (S_ISLNK(st.st_mode))
				return fail(JAIL_MS_MKDIR_SYMLINK, 0, NULL, cur + rl);
			if (!S_ISDIR(st.st_mode))
				return fail(JAIL_MS_MKDIR, ENOTDIR, NULL, cur + rl);
			continue;
		}
		if (errno != ENOENT)
			return fail(JAIL_MS_LSTAT, errno, NULL, cur);
		if (mkdir(cur, mode & 0777) != 0)
			return fail(JAIL_MS_MKDIR, errno, NULL, cur + rl);
	}
	return 0;
}

/* open_beneath opens path (absolute, inside the sandbox) below the new root
 * without following any symlink and without leaving the root. */
static int open_beneath(int root, const char *path, int flags)
{
	const char *rel = path;
	while (*rel == '/')
		rel++;
	if (!*rel)
		rel = ".";
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof how);
	if (fd < 0)
		return fail(JAIL_MS_OPEN_BENEATH, errno, NULL, path);
	return fd;
}

/* parent_beneath creates and opens the directory holding path, for the *at
 * calls, and points *name at path's last component. */
static int parent_beneath(int root, const char *path, const char **name)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (slash == NULL || (size_t)(slash - path) >= sizeof dir)
		return fail(JAIL_MS_OPEN_BENEATH, EINVAL, NULL, path);
	size_t n = (size_t)(slash - path);
	if (n == 0)
		n = 1; /* "/name": the root itself */
	memcpy(dir, path, n);
	dir[n] = 0;
	*name = slash + 1;
	if (mkdir_in(NEW, dir, 0755) != 0)
		return -1;
	return open_beneath(root, dir, O_PATH | O_DIRECTORY);
}

/* attach moves the detached mount mfd onto target below root. */
static int attach(int root, int mfd, const char *source, const char *target, int dir)
{
	int tfd = open_beneath(root, target, O_PATH | (dir ? O_DIRECTORY : 0));
	if (tfd < 0)
		return -1;
	int r = (int)syscall(SYS_move_mount, mfd, "", tfd, "", M_MOVE_MOUNT_F_EMPTY_PATH | M_MOVE_MOUNT_T_EMPTY_PATH);
	int err = errno;
	close(tfd);
	if (r < 0)
		return fail(JAIL_MS_MOVE_MOUNT, err, source, target);
	return 0;
}

/* bind_fd clones the tree at the O_PATH descriptor src (recursively, with
 * its submounts), sets attr on every mount of the clone before it is
 * attached (so it is never visible writable; mount_setattr only adds flags,
 * keeping what the kernel locked on mounts from the host), and attaches it
 * at target below root; name is src's path, for messages. */
static int bind_fd(int root, int src, const char *name, const char *target, int dir, uint64_t attr)
{
	int fd = (int)syscall(SYS_open_tree, src, "", AT_EMPTY_PATH | M_OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);
	if (fd < 0)
		return fail(JAIL_MS_OPEN_TREE, errno, NULL, name);
	struct m_mount_attr a = {.attr_set = attr};
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) != 0) {
		rec.flags = attr;
		int err = errno;
		close(fd);
		return fail(JAIL_MS_SETATTR, err, NULL, target);
	}
	int r = attach(root, fd, name, target, dir);
	close(fd);
	return r;
}

/* bind_at binds src, a path followed as it is (the host's device nodes, the
 * new proc's own files), as bind_fd does. */
static int bind_at(int root, const char *src, const char *target, int dir, uint64_t attr)
{
	const char *name = src;
	if (strncmp(src, OLD, sizeof OLD - 1) == 0)
		name = src + sizeof OLD - 1;
	int fd = open(src, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return fail(JAIL_MS_OPEN, errno, NULL, name);
	int r = bind_fd(root, fd, name, target, dir, attr);
	close(fd);
	return r;
}

static void fmt_u64(char *buf, size_t size, const char *key, uint64_t v, int octal)
{
	snprintf(buf, size, octal ? "%s=%llo" : "%s=%llu", key, (unsigned long long)v);
}

/* tmpfs_at creates a tmpfs with the new mount API and attaches it at target
 * through a descriptor: no path is resolved at mount time. */
static int tmpfs_at(int root, const char *target, uint64_t size, uint32_t mode, uint64_t attr)
{
	int fsfd = (int)syscall(SYS_fsopen, "tmpfs", M_FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return fail(JAIL_MS_FSOPEN, errno, "tmpfs", target);
	char kv[2][48];
	fmt_u64(kv[0], sizeof kv[0], "size", size, 0);
	fmt_u64(kv[1], sizeof kv[1], "mode", mode, 1);
	for (int i = 0; i < 2; i++) {
		char *eq = strchr(kv[i], '=');
		*eq = 0;
		long r = syscall(SYS_fsconfig, fsfd, M_FSCONFIG_SET_STRING, kv[i], eq + 1, 0);
		*eq = '=';
		if (r != 0) {
			int err = errno;
			close(fsfd);
			copy_str(rec.data, sizeof rec.data, kv[i]);
			return fail(JAIL_MS_FSCONFIG, err, "tmpfs", target);
		}
	}
	if (syscall(SYS_fsconfig, fsfd, M_FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) {
		int err = errno;
		close(fsfd);
		return fail(JAIL_MS_FSCONFIG, err, "tmpfs", target);
	}
	int mfd = (int)syscall(SYS_fsmount, fsfd, M_FSMOUNT_CLOEXEC, (unsigned)attr);
	int err = errno;
	close(fsfd);
	if (mfd < 0)
		return fail(JAIL_MS_FSMOUNT, err, "tmpfs", target);
	int r = attach(root, mfd, "tmpfs", target, 1);
	close(mfd);
	return r;
}

/* mountpoint creates what a bind lands on: a directory, or an empty file
 * made with mknodat, which opens nothing (inside a writable bind the target
 * may be anything a run left there, and opening a FIFO would block the
 * set-up for good). What is there already must be a regular file. */
static int mountpoint(int root, const char *target, int dir)
{
	if (dir)
		return mkdir_in(NEW, target, 0755);
	const char *name;
	int parent = parent_beneath(root, target, &name);
	if (parent < 0)
		return -1;
	int r = 0;
	struct stat st;
	if (mknodat(parent, name, S_IFREG | 0644, 0) != 0 && errno != EEXIST)
		r = fail(JAIL_MS_MKNOD, errno, NULL, target);
	else if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		r = fail(JAIL_MS_STAT, errno, NULL, target);
	else if (!S_ISREG(st.st_mode)) {
		rec.mode = st.st_mode;
		r = fail(JAIL_MS_NOT_REGULAR, 0, NULL, target);
	}
	close(parent);
	return r;
}

/* open_source opens a bind source for open_tree: the real path stage 0
 * found, below the host's root at /oldroot, without following any symlink
 * (the path had none when it was checked), and only if it is still the
 * object of the plan's device and inode. */
static int open_source(const struct mop *op)
{
	if (op->w.dev == 0 && op->w.ino == 0)
		return fail(JAIL_MS_SOURCE_NOID, 0, op->source, NULL);
	char path[4096];
	if (join(path, sizeof path, OLD, op->source) != 0)
		return fail(JAIL_MS_OPEN, ENAMETOOLONG, op->source, op->source);
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
	if (fd < 0) {
		int err = errno;
		if (err == ELOOP)
			return fail(JAIL_MS_SOURCE_LINK, err, op->source, NULL);
		if (err == ENOENT || err == ENOTDIR)
			return fail(JAIL_MS_SOURCE_GONE, err, op->source, NULL);
		return fail(JAIL_MS_OPEN, err, op->source, op->source);
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int err = errno;
		close(fd);
		return fail(JAIL_MS_FSTAT, err, op->source, op->source);
	}
	if ((uint64_t)st.st_dev != op->w.dev || (uint64_t)st.st_ino != op->w.ino) {
		close(fd);
		rec.dev = st.st_dev;
		rec.ino = st.st_ino;
		return fail(JAIL_MS_SOURCE_CHANGED, 0, op->source, NULL);
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* apply executes one operation of the plan. */
static int apply(int root, const struct mop *op)
{
	const char *t = op->target;
	switch (op->w.kind) {
	case JAIL_MOP_BIND: {
		int src = open_source(op);
		if (src < 0)
			return -1;
		int dir = (op->w.flags & JAIL_MOP_ISDIR) != 0;
		uint64_t attr = M_ATTR_NOSUID | M_ATTR_NODEV;
		if (!(op->w.flags & JAIL_MOP_RW))
			attr |= M_ATTR_RDONLY;
		int r = mountpoint(root, t, dir);
		if (r == 0)
			r = bind_fd(root, src, op->source, t, dir, attr);
		close(src);
		return r;
	}
	case JAIL_MOP_TMPFS:
		if (mkdir_in(NEW, t, 0755) != 0)
			return -1;
		return tmpfs_at(root, t, op->w.size, op->w.mode, M_ATTR_NOSUID | M_ATTR_NODEV);
	case JAIL_MOP_DIR: {
		if (mkdir_in(NEW, t, op->w.mode) != 0)
			return -1;
		int fd = open_beneath(root, t, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return -1;
		/* mkdir's mode is filtered by the umask: set it exactly. */
		int r = fchmod(fd, op->w.mode) == 0 ? 0 : fail(JAIL_MS_FCHMOD, errno, NULL, t);
		close(fd);
		return r;
	}
	case JAIL_MOP_SYMLINK: {
		const char *name;
		int dir = parent_beneath(root, t, &name);
		if (dir < 0)
			return -1;
		int r = symlinkat(op->source, dir, name) == 0 ? 0 : fail(JAIL_MS_SYMLINK, errno, NULL, t);
		close(dir);
		return r;
	}
	case JAIL_MOP_FILE: {
		const char *name;
		int dir = parent_beneath(root, t, &name);
		if (dir < 0)
			return -1;
		int fd = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, op->w.mode);
		int err = errno;
		close(dir);
		if (fd < 0)
			return fail(JAIL_MS_CREATE, err, NULL, t);
		int r = 0;
		if (write_all(fd, op->content, op->w.content_len) != 0)
			r = fail(JAIL_MS_WRITE, errno, NULL, t);
		else if (fchmod(fd, op->w.mode) != 0)
			r = fail(JAIL_MS_FCHMOD, errno, NULL, t);
		close(fd);
		return r;
	}
	}
	rec.mode = op->w.kind;
	return fail(JAIL_MS_UNKNOWN_OP, 0, NULL, t);
}

/* setup_dev builds a minimal /dev: a tmpfs holding bind mounts of the
 * host's harmless device nodes (device nodes cannot be created in a user
 * namespace), a private devpts instance, /dev/shm and the usual links. */
static int setup_dev(int root, const struct mplan *p)
{
	char a[4096], b[4096];
	if (mkdir_in(NEW, "/dev", 0755) != 0)
		return -1;
	if (x_mount("tmpfs", NEW "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") != 0)
		return -1;
	for (uint32_t i = 0; i < p->h.ndevices; i++) {
		if (join(a, sizeof a, "/dev/", p->devices[i]) != 0 || join(b, sizeof b, OLD, a) != 0)
			return fail(JAIL_MS_OPEN, ENAMETOOLONG, NULL, p->devices[i]);
		if (mountpoint(root, a, 0) != 0)
			return -1;
		/* No MOUNT_ATTR_NODEV here, or the nodes could not be opened. */
		if (bind_at(root, b, a, 0, M_ATTR_NOSUID | M_ATTR_NOEXEC) != 0)
			return -1;
	}
	static const char *const dirs[] = {NEW "/dev/pts", NEW "/dev/shm"};
	for (int i = 0; i < 2; i++)
		if (mkdir(dirs[i], 0755) != 0)
			return fail(JAIL_MS_MKDIR, errno, NULL, dirs[i]);
	snprintf(a, sizeof a, "newinstance,ptmxmode=0666,mode=0620,max=%u", p->h.devpts_max);
	if (x_mount("devpts", NEW "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, a) != 0)
		return -1;
	snprintf(a, sizeof a, "mode=1777,size=%llu", (unsigned long long)p->h.dev_shm_size);
	if (x_mount("tmpfs", NEW "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, a) != 0)
		return -1;
	static const char *const links[][2] = {
		{"pts/ptmx", NEW "/dev/ptmx"},      {"/proc/self/fd", NEW "/dev/fd"},
		{"/proc/self/fd/0", NEW "/dev/stdin"}, {"/proc/self/fd/1", NEW "/dev/stdout"},
		{"/proc/self/fd/2", NEW "/dev/stderr"},
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		if (symlink(links[i][0], links[i][1]) != 0)
			return fail(JAIL_MS_LINK, errno, links[i][0], links[i][1]);
	return 0;
}

/* mask_proc makes read-only, or covers, the parts of /proc the command has
 * no business with (the plan's lists), where this kernel has them. */
static int mask_proc(int root, const struct mplan *p)
{
	const uint64_t ro = M_ATTR_RDONLY | M_ATTR_NOSUID | M_ATTR_NODEV | M_ATTR_NOEXEC;
	char path[4096];
	struct stat st;
	for (uint32_t i = 0; i < p->h.nproc_ro; i++) {
		if (join(path, sizeof path, NEW, p->proc_ro[i]) != 0 || lstat(path, &st) != 0)
			continue;
		if (bind_at(root, path, p->proc_ro[i], S_ISDIR(st.st_mode), ro) != 0)
			return -1;
	}
	for (uint32_t i = 0; i < p->h.nproc_files; i++) {
		if (join(path, sizeof path, NEW, p->proc_files[i]) != 0 || lstat(path, &st) != 0)
			continue;
		if (bind_at(root, NEW "/dev/null", p->proc_files[i], 0, ro) != 0)
			return -1;
	}
	for (uint32_t i = 0; i < p->h.nproc_dirs; i++) {
		if (join(path, sizeof path, NEW, p->proc_dirs[i]) != 0 || lstat(path, &st) != 0)
			continue;
		if (tmpfs_at(root, p->proc_dirs[i], 4096, 0555, ro) != 0)
			return -1;
	}
	return 0;
}

/* set_counts writes the per-user counts' bounds of the sandbox's user
 * namespace (userns.SetCounts); a count this kernel lacks is skipped. */
static int set_counts(const struct mplan *p)
{
	char path[256], val[32];
	for (uint32_t i = 0; i < p->h.ncounts; i++) {
		if (join(path, sizeof path, "/proc/sys/user/", p->count_names[i]) != 0)
			return fail(JAIL_MS_COUNT_OPEN, ENAMETOOLONG, NULL, p->count_names[i]);
		int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd < 0)
			return fail(JAIL_MS_COUNT_OPEN, errno, NULL, path);
		int n = snprintf(val, sizeof val, "%lld", (long long)p->counts[i]);
		if (write_all(fd, val, (size_t)n) != 0) {
			int err = errno;
			close(fd);
			return fail(JAIL_MS_COUNT_WRITE, err, NULL, path);
		}
		if (close(fd) != 0)
			return fail(JAIL_MS_COUNT_CLOSE, errno, NULL, path);
	}
	return 0;
}

static int x_setattr(const char *path, uint64_t set)
{
	struct m_mount_attr a = {.attr_set = set};
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, 0, &a, sizeof a) != 0) {
		rec.flags = set;
		return fail(JAIL_MS_SETATTR, errno, NULL, path);
	}
	return 0;
}

/* build executes the plan: see the top of this file for the order. */
static int build(const struct mplan *p)
{
	if (set_counts(p) != 0)
		return -1;
	if (x_mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return -1;
	if (x_mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") != 0)
		return -1;
	if (mkdir(staging_old, 0755) != 0)
		return fail(JAIL_MS_MKDIR, errno, NULL, staging_old);
	if (mkdir(staging_new, 0755) != 0)
		return fail(JAIL_MS_MKDIR, errno, NULL, staging_new);
	if (x_pivot(staging, staging_old) != 0 || x_chdir("/") != 0)
		return -1;
	char data[64];
	snprintf(data, sizeof data, "mode=0755,size=%llu", (unsigned long long)p->h.root_size);
	if (x_mount("tmpfs", NEW, "tmpfs", MS_NOSUID | MS_NODEV, data) != 0)
		return -1;
	int root = open(NEW, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return fail(JAIL_MS_OPEN, errno, NULL, NEW);
	int r = 0;
	for (uint32_t i = 0; i < p->h.nops && r == 0; i++) {
		cur_op = (int)i;
		r = apply(root, &p->ops[i]);
	}
	if (r == 0)
		cur_op = -1;
	if (r == 0)
		r = mkdir_in(NEW, "/proc", 0555);
	if (r == 0)
		r = x_mount("proc", NEW "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	/* Read-only: nothing in /proc opens for writing (EROFS), so that a
	 * process cannot reset its own accounting (clear_refs resets the peak
	 * resident set a run without a cgroup is judged by) or change what the
	 * init and the kernel keep about it (/proc/1/*, oom_score_adj). The
	 * mount, not the superblock (MS_RDONLY on mount(2)): a read-only proc
	 * superblock makes the kernel refuse every later proc mount in this
	 * user namespace that is not read-only (mnt_already_visible), and the
	 * batch's runs mount their own. */
	if (r == 0)
		r = x_setattr(NEW "/proc", M_ATTR_RDONLY);
	if (r == 0)
		r = setup_dev(root, p);
	if (r == 0)
		r = mask_proc(root, p);
	close(root);
	if (r != 0)
		return -1;
	if (x_unmount(OLD) != 0)
		return -1;
	/* pivot_root(".", ".") stacks the old root on top of the new one at
	 * "/", and the detach below removes it: no directory for it is
	 * needed. */
	if (x_chdir(NEW) != 0 || x_pivot(".", ".") != 0 || x_unmount(".") != 0 || x_chdir("/") != 0)
		return -1;
	if (x_setattr("/dev", M_ATTR_RDONLY | M_ATTR_NOSUID) != 0 || x_setattr("/", M_ATTR_RDONLY | M_ATTR_NOSUID) != 0)
		return -1;
	return 0;
}

/* A cursor over the plan's bytes. */
struct cur {
	const unsigned char *p, *end;
};

static int take(struct cur *c, void *out, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return -1;
	memcpy(out, c->p, n);
	c->p += n;
	return 0;
}

static const char *take_str(struct cur *c)
{
	const unsigned char *nul = memchr(c->p, 0, (size_t)(c->end - c->p));
	if (nul == NULL)
		return NULL;
	const char *s = (const char *)c->p;
	c->p = nul + 1;
	return s;
}

static const char **take_strs(struct cur *c, uint32_t n)
{
	const char **v = calloc(n + 1, sizeof *v);
	if (v == NULL)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		if ((v[i] = take_str(c)) == NULL)
			return NULL;
	return v;
}

static int bad_plan(const char *why)
{
	copy_str(rec.data, sizeof rec.data, why);
	return fail(JAIL_MS_BAD_PLAN, 0, NULL, NULL);
}

/* parse reads the plan in buf (n bytes) into p; the strings point into buf. */
static int parse(const unsigned char *buf, size_t n, struct mplan *p)
{
	struct cur c = {buf, buf + n};
	if (take(&c, &p->h, sizeof p->h) != 0 || p->h.magic != JAIL_MPLAN_MAGIC)
		return bad_plan("not a mount plan of this binary's");
	const uint32_t lim = JAIL_MPLAN_MAX / 8;
	if (p->h.nops > lim || p->h.ncounts > lim || p->h.ndevices > lim || p->h.nproc_ro > lim ||
	    p->h.nproc_files > lim || p->h.nproc_dirs > lim)
		return bad_plan("too many entries");
	p->ops = calloc(p->h.nops + 1, sizeof *p->ops);
	int64_t *counts = calloc(p->h.ncounts + 1, sizeof *counts);
	if (p->ops == NULL || counts == NULL)
		return bad_plan("out of memory");
	for (uint32_t i = 0; i < p->h.nops; i++)
		if (take(&c, &p->ops[i].w, sizeof p->ops[i].w) != 0)
			return bad_plan("truncated operations");
	for (uint32_t i = 0; i < p->h.ncounts; i++)
		if (take(&c, &counts[i], sizeof counts[i]) != 0)
			return bad_plan("truncated counts");
	p->counts = counts;
	for (uint32_t i = 0; i < p->h.nops; i++) {
		struct mop *op = &p->ops[i];
		op->source = take_str(&c);
		op->target = take_str(&c);
		if (op->source == NULL || op->target == NULL || op->target[0] != '/' ||
		    (size_t)(c.end - c.p) < op->w.content_len)
			return bad_plan("truncated operation strings");
		op->content = (const char *)c.p;
		c.p += op->w.content_len;
	}
	if ((p->count_names = take_strs(&c, p->h.ncounts)) == NULL || (p->devices = take_strs(&c, p->h.ndevices)) == NULL ||
	    (p->proc_ro = take_strs(&c, p->h.nproc_ro)) == NULL || (p->proc_files = take_strs(&c, p->h.nproc_files)) == NULL ||
	    (p->proc_dirs = take_strs(&c, p->h.nproc_dirs)) == NULL)
		return bad_plan("truncated names");
	if (c.p != c.end)
		return bad_plan("trailing bytes");
	return 0;
}

/* recv_record reads the record whose first packet is next on sock into a
 * buffer it allocates; 0 and *out NULL on EOF. */
static int recv_record(int sock, unsigned char **out, size_t *len)
{
	unsigned char *pkt = malloc(IPC_CHUNK + 1);
	unsigned char *buf = NULL;
	size_t n = 0;
	*out = NULL;
	if (pkt == NULL)
		return bad_plan("out of memory");
	for (;;) {
		struct iovec iov = {.iov_base = pkt, .iov_len = IPC_CHUNK + 1};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			free(pkt);
			free(buf);
			return 0; /* stage 0 is gone: it has nothing to be told */
		}
		if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !(pkt[0] & FLAG_RECORD)) {
			free(pkt);
			free(buf);
			return bad_plan("a message inside the mount plan's record");
		}
		size_t add = (size_t)got - 1;
		if (n + add > JAIL_MPLAN_MAX) {
			free(pkt);
			free(buf);
			return bad_plan("larger than the most a plan may be");
		}
		unsigned char *nb = realloc(buf, n + add + 1);
		if (nb == NULL) {
			free(pkt);
			free(buf);
			return bad_plan("out of memory");
		}
		buf = nb;
		memcpy(buf + n, pkt + 1, add);
		n += add;
		if (pkt[0] & FLAG_FINAL)
			break;
	}
	free(pkt);
	*out = buf;
	*len = n;
	return 0;
}

static void send_failure(int sock)
{
	static unsigned char pkt[1 + sizeof rec];
	pkt[0] = FLAG_RECORD | FLAG_FINAL;
	memcpy(pkt + 1, &rec, sizeof rec);
	ssize_t r;
	do
		r = send(sock, pkt, sizeof pkt, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
}

/* jail_mounts_build builds the root from the plan that is next on sock, if
 * what is next is a record: on a failure it reports it and exits. It leaves
 * the plan unexecuted when the time namespace failed, which the Go code
 * reports first. */
static void jail_mounts_build(int sock)
{
	unsigned char flag;
	ssize_t n;
	do
		n = recv(sock, &flag, 1, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n != 1 || !(flag & FLAG_RECORD))
		return;
	/* The exec reset the parent-death signal (the capabilities changed):
	 * the set-up dies with stage 0 again. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	unsigned char *buf;
	size_t len;
	struct mplan plan;
	memset(&plan, 0, sizeof plan);
	if (recv_record(sock, &buf, &len) != 0) {
		send_failure(sock);
		_exit(EXIT_SETUP);
	}
	if (buf == NULL)
		_exit(EXIT_SETUP);
	jail_mounts.plan = 1;
	if (!jail_timens.done && jail_timens.step != NULL)
		return;
	if (parse(buf, len, &plan) != 0 || build(&plan) != 0) {
		send_failure(sock);
		_exit(EXIT_SETUP);
	}
	/* The plan's strings are not needed any more; the small arrays are
	 * left (a few hundred bytes). */
	free(buf);
	jail_mounts.done = 1;
}

/* jail_stage2 is the binary's constructor for stage 2 and a batch's
 * zygote (PID 1 with JAIL_TIMENS_ENV set, which stage 1 and the zygote's
 * first stage always set): the time namespace, then the root. Every other
 * run of the binary costs a getenv. */
__attribute__((constructor)) static void jail_stage2(void)
{
	if (getenv(JAIL_TIMENS_ENV) == NULL || getpid() != 1)
		return;
	jail_timens_enter();
	jail_mounts_build(SYNC_FD);
}
