/* timens.c: stage 2 enters a new time namespace with the profile's clock
 * offsets before its Go runtime starts (called by its constructor,
 * jail_stage2 in mounts.c).
 *
 * The offsets of a time namespace can be written only while no process is
 * in it: after unshare(CLONE_NEWTIME), which makes a namespace for the
 * caller's future children only, and before anything enters it. A Go
 * program cannot do that itself on every kernel: on Linux 6.1, once the
 * caller's namespace and its children's differ, the kernel refuses every
 * clone with CLONE_VM (the Go runtime's new threads, os/exec's vfork), and
 * execve does not move the caller into the children's namespace either.
 * A constructor runs before the runtime, while the process has a single
 * thread: it unshares, writes the offsets, then setns()es into the new
 * namespace itself (setns into a time namespace wants a single-threaded
 * caller, and switches the vDSO's clocks at once). From then on the process
 * and its children live in the namespace, and the runtime's threads are
 * allowed again since the process's namespace and its children's are the
 * same.
 *
 * It acts only in the process that stage 1 starts as stage 2, which is PID 1
 * of the sandbox and has JAIL_TIMENS_ENV set (the constructor checks): every
 * other run of the binary (jail on the host, and stage 1, whose environment
 * is empty) costs a getenv. The command's process is forked from stage 2 and never runs
 * constructors: it executes the command. Failures are left in jail_timens for stage 2's Go code to
 * report to jail on the host. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timens.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

struct jail_timens_result jail_timens;

static void timens_fail(const char *step, int err)
{
	jail_timens.step = step;
	jail_timens.err = err;
}

/* write_offsets writes each line of spec on its own, so that a refusal
 * (ERANGE: the offset would take the clock below zero) names its clock. */
static int write_offsets(const char *spec)
{
	int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		timens_fail("open /proc/self/timens_offsets", errno);
		return -1;
	}
	while (*spec) {
		const char *end = strchr(spec, '\n');
		size_t len = end ? (size_t)(end - spec) + 1 : strlen(spec);
		if (write(fd, spec, len) != (ssize_t)len) {
			int err = errno;
			size_t n = strcspn(spec, " ");
			if (n >= sizeof(jail_timens.clock))
				n = sizeof(jail_timens.clock) - 1;
			memcpy(jail_timens.clock, spec, n);
			jail_timens.clock[n] = 0;
			timens_fail("write /proc/self/timens_offsets", err);
			close(fd);
			return -1;
		}
		spec += len;
	}
	close(fd);
	return 0;
}

void jail_timens_enter(void)
{
	const char *spec = getenv(JAIL_TIMENS_ENV);
	if (spec == NULL)
		return;
	if (unshare(CLONE_NEWTIME) != 0) {
		timens_fail("unshare(CLONE_NEWTIME)", errno);
		return;
	}
	if (write_offsets(spec) != 0)
		return;
	int fd = open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		timens_fail("open /proc/self/ns/time_for_children", errno);
		return;
	}
	if (setns(fd, CLONE_NEWTIME) != 0) {
		timens_fail("setns(CLONE_NEWTIME)", errno);
		close(fd);
		return;
	}
	close(fd);
	jail_timens.done = 1;
}
