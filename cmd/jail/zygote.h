/* zygote.h: the batch zygote's per-run loop (zygote.c), shared with Go
 * (zygote.go, batchfast.go). All integers are the host's byte order. */
#ifndef JAIL_ZYGOTE_H
#define JAIL_ZYGOTE_H

#include <stdint.h>

#include "execcmd.h"

/* A request, stage 0 -> zygote, one SOCK_SEQPACKET packet with the
 * command's stdin, stdout and stderr as SCM_RIGHTS, then the run's cgroup
 * (ncgroup descriptors, as cgroup says): on cgroup v2 its directory, which
 * the per-run init is born in (clone3 with CLONE_INTO_CGROUP); on cgroup
 * v1 the tasks file of each of its hierarchies, opened for writing by
 * stage 0, through which the per-run init moves itself in (writing "0")
 * before it starts the command. Layout: this header,
 * nrlim struct jail_rlimit (execcmd.h), seccomp_len bytes of classic BPF, then cwd,
 * argv[0..nargv) and env[0..nenv) as NUL-terminated strings. */
#define JAIL_ZREQ_MAGIC 0x7a796731u
#define JAIL_ZREQ_MAX (256 * 1024)
#define JAIL_ZMAX_STRS 4096
#define JAIL_ZMAX_RLIM 16
#define JAIL_ZMAX_CGROUP_FDS 8

enum {
	JAIL_ZCG_NONE = 0, /* no cgroup of the run's own */
	JAIL_ZCG_V2,       /* one descriptor: the run's cgroup v2 directory */
	JAIL_ZCG_V1,       /* one per hierarchy: its tasks file, O_WRONLY */
};

struct jail_zreq {
	uint32_t magic;
	uint32_t uid, gid;
	uint32_t setgroups; /* setgroups(0, NULL) is allowed */
	uint32_t nargv, nenv;
	uint32_t nrlim;
	uint32_t seccomp_len; /* bytes, a multiple of 8 */
	uint32_t cgroup;      /* JAIL_ZCG_* */
	uint32_t ncgroup;     /* cgroup descriptors after the stdio */
	uint64_t keep_caps;   /* capability bits the command keeps */
};


/* Messages, zygote or per-run init -> stage 0: one packet each. */
enum {
	JAIL_ZM_INIT = 1,    /* fd: pidfd of the per-run init (from the zygote) */
	JAIL_ZM_COMMAND,     /* fd: pidfd of the command (from the init) */
	JAIL_ZM_STARTED,     /* execve succeeded; overhead */
	JAIL_ZM_FAILED,      /* code, step, path, err: set-up or exec failed */
	JAIL_ZM_EXITED,      /* code or sig, usage of what the init reaped; overhead */
	JAIL_ZM_DONE,        /* the init is reaped (from the zygote): the run is over */
};

struct jail_zmsg {
	uint32_t type;
	int32_t code, sig, err;
	int32_t setup;    /* failed: the run's own set-up failed, not the request or the command's start */
	int32_t reserved;
	int64_t user_usec, sys_usec, maxrss_kib; /* exited: the command's (RUSAGE_CHILDREN less the shim) */
	int64_t ov_user_usec, ov_sys_usec;       /* jail's own CPU in the sandbox for this run */
	char step[48];
	char path[208];
};

/* What the per-run init mounts afresh: over the template's (proc and its
 * masks), or where the zygote removed the template's (tmpfs, devpts),
 * reached without following a symlink. */
enum {
	JAIL_ZMNT_TMPFS = 1, /* size, mode, attr */
	JAIL_ZMNT_DEVPTS,    /* a new devpts instance */
	JAIL_ZMNT_PROC,      /* a new proc, replacing the template's */
	JAIL_ZMNT_ROBIND,    /* bind the path onto itself read-only (recursive) */
	JAIL_ZMNT_MASKFILE,  /* /dev/null read-only over the path */
	JAIL_ZMNT_TMPFS_OVER, /* a tmpfs over the path, nothing detached */
};

struct jail_zmount {
	int kind;
	uint64_t size;
	uint32_t mode;
	uint32_t attr; /* MOUNT_ATTR_* */
	const char *path;
};

struct jail_zconfig {
	int ctl;                    /* the socket to stage 0 */
	int lo_up;                  /* a new network namespace per run, lo up */
	int newnet;                 /* CLONE_NEWNET per run */
	int nmounts;
	const struct jail_zmount *mounts;
	int nshrink;                /* address ranges the loop gives back (MADV_DONTNEED) */
	const uintptr_t *shrink;    /* start, end pairs */
};

/* jail_zygote_loop serves requests until stage 0 goes away; it never
 * returns. */
void jail_zygote_loop(const struct jail_zconfig *cfg) __attribute__((noreturn));

#endif
