/* mounts.h: the sandbox's root, built by stage 2 in C before its Go runtime
 * starts (mounts.c), from the mount plan stage 0 compiles in Go (fs.Compile,
 * encoded by mountPlan in mounts.go). Shared with Go: the layout of the plan
 * and of the failure record, and the step numbers (fs/failure.go decodes
 * them, and TestMountStepsMatch checks both sides agree). All integers are
 * the host's byte order, as in zygote.h.
 *
 * The plan travels as one ipc record (internal/ipc: packets flagged
 * FLAG_RECORD), right after {idmap-done}. Layout: this header, nops struct
 * jail_mop, ncounts int64_t (the per-user counts' bounds, userns.Count), then
 * NUL-terminated strings: for each op its source and target, then its
 * content_len bytes of content; each count's name; the devices; the /proc
 * paths made read-only, masked by /dev/null and masked by an empty tmpfs. */
#ifndef JAIL_MOUNTS_H
#define JAIL_MOUNTS_H

#include <stdint.h>

#define JAIL_MPLAN_MAGIC 0x6d706c31u
#define JAIL_MPLAN_MAX (64u << 20)

struct jail_mplan {
	uint32_t magic;
	uint32_t nops, ncounts;
	uint32_t ndevices, nproc_ro, nproc_files, nproc_dirs;
	uint32_t devpts_max;
	uint64_t root_size;    /* bytes of the root tmpfs */
	uint64_t dev_shm_size; /* bytes of /dev/shm */
};

/* Operation kinds (fs.OpKind) and flags. */
enum {
	JAIL_MOP_BIND = 1,
	JAIL_MOP_TMPFS,
	JAIL_MOP_DIR,
	JAIL_MOP_SYMLINK,
	JAIL_MOP_FILE,
};
#define JAIL_MOP_RW 1u     /* bind: writable */
#define JAIL_MOP_ISDIR 2u  /* bind: the source is a directory */

struct jail_mop {
	uint32_t kind, flags;
	uint32_t mode;        /* tmpfs, dir, file */
	uint32_t content_len; /* file */
	uint64_t size;        /* tmpfs */
	uint64_t dev, ino;    /* bind: the source's identity when stage 0 checked it */
};

/* Steps, the record's step: each names the call that failed and how
 * fs.Failure turns the record into the message fs.Setup would give. */
enum {
	JAIL_MS_NONE = 0,
	JAIL_MS_BAD_PLAN,       /* data: what is wrong */
	JAIL_MS_MOUNT,          /* mount(2): source, target, flags (MS_*), data */
	JAIL_MS_PIVOT,          /* pivot_root: source (new root), target (put old) */
	JAIL_MS_UMOUNT,         /* umount2: target */
	JAIL_MS_MKDIR,          /* mkdir: target */
	JAIL_MS_MKDIR_SYMLINK,  /* a component of target is a symlink */
	JAIL_MS_LSTAT,          /* lstat: target */
	JAIL_MS_CHDIR,          /* chdir: target */
	JAIL_MS_OPEN,           /* open: target */
	JAIL_MS_OPEN_BENEATH,   /* openat2 below the new root: target (ELOOP: a symlink) */
	JAIL_MS_SOURCE_NOID,    /* bind: the plan has no device and inode */
	JAIL_MS_SOURCE_LINK,    /* bind: a symlink is in the source's path now */
	JAIL_MS_SOURCE_GONE,    /* bind: ENOENT or ENOTDIR on the source */
	JAIL_MS_SOURCE_CHANGED, /* bind: dev, ino found instead of the plan's */
	JAIL_MS_FSTAT,          /* fstat: source */
	JAIL_MS_MKNOD,          /* mknodat: target */
	JAIL_MS_STAT,           /* fstatat: target */
	JAIL_MS_NOT_REGULAR,    /* mode: what is at target, not a regular file */
	JAIL_MS_OPEN_TREE,      /* open_tree: target (the source's name) */
	JAIL_MS_SETATTR,        /* mount_setattr: target, flags (MOUNT_ATTR_*) */
	JAIL_MS_MOVE_MOUNT,     /* move_mount: source, target */
	JAIL_MS_FSOPEN,         /* fsopen: source (fs type), target */
	JAIL_MS_FSCONFIG,       /* fsconfig: source, target, data */
	JAIL_MS_FSMOUNT,        /* fsmount: source, target */
	JAIL_MS_FCHMOD,         /* fchmod: target */
	JAIL_MS_SYMLINK,        /* symlinkat (a symlink op): target */
	JAIL_MS_LINK,           /* symlink: source (the link's text), target */
	JAIL_MS_CREATE,         /* openat(O_CREAT|O_EXCL): target */
	JAIL_MS_WRITE,          /* write: target */
	JAIL_MS_COUNT_OPEN,     /* a per-user count: open target */
	JAIL_MS_COUNT_WRITE,    /* ... write target */
	JAIL_MS_COUNT_CLOSE,    /* ... close target */
	JAIL_MS_UNKNOWN_OP,     /* mode: the op's kind */
	JAIL_MS_LAST
};

/* The failure record, stage 2 -> stage 0, one ipc record; then stage 2
 * exits 125. op is the index of the plan's operation that failed, -1 for
 * the steps around them. */
#define JAIL_MFAIL_MAGIC 0x6d666c31u
struct jail_mfail {
	uint32_t magic;
	int32_t op;
	uint32_t step;
	int32_t err; /* errno, 0 when not a system call's */
	uint32_t mode;
	uint32_t pad;
	uint64_t flags;
	uint64_t dev, ino;
	char data[256];
	char source[4096];
	char target[4096];
};

/* What the constructor did, for stage 2's Go code: done is 1 once the root
 * is built and is the process's root; plan is 1 when a plan came. */
struct jail_mounts_result {
	int plan;
	int done;
};

extern struct jail_mounts_result jail_mounts;

#endif
