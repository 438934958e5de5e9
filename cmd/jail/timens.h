/* timens.h: the time namespace of the sandbox, created before the Go
 * runtime of stage 2 starts (see timens.c and timens.go). */
#ifndef JAIL_TIMENS_H
#define JAIL_TIMENS_H

/* The environment variable that asks stage 2's constructor for the time
 * namespace: its value is the offsets, one "CLOCK SECS NANOS\n" line each
 * (possibly none). */
#define JAIL_TIMENS_ENV "_JAIL_TIMENS"

/* What the constructor did: done is 1 once the process is in its new time
 * namespace; on a failure, step names the failed step (a static string),
 * clock the clock whose offset the kernel refused (or ""), and err the
 * errno. */
struct jail_timens_result {
	int done;
	int err;
	const char *step;
	char clock[16];
};

extern struct jail_timens_result jail_timens;

/* jail_timens_enter makes the time namespace from JAIL_TIMENS_ENV and enters
 * it; the caller has a single thread (stage 2's constructor). */
void jail_timens_enter(void);

#endif
