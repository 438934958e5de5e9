/* loop: in-sandbox overhead. Runs one kind of operation N times and prints
 * the time per operation in nanoseconds, measured here with
 * clock_gettime(CLOCK_MONOTONIC) around the loop only, so that the
 * sandbox's start-up does not count.
 *
 *   loop getppid N        the getppid system call (cheapest: seccomp's
 *                         share of its cost is the largest)
 *   loop read N           read(2) of 1 byte from /dev/zero
 *   loop forkexec N PATH  fork, execve PATH (no arguments), wait
 *
 * Built static, so it runs the same inside and outside a sandbox. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n, i;
	double t0, t1;

	if (argc < 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: loop getppid|read|forkexec N [PATH]\n");
		return 2;
	}
	if (strcmp(argv[1], "getppid") == 0) {
		t0 = now_ns();
		for (i = 0; i < n; i++)
			syscall(SYS_getppid);
		t1 = now_ns();
	} else if (strcmp(argv[1], "read") == 0) {
		char c;
		int fd = open("/dev/zero", O_RDONLY);

		if (fd < 0) {
			perror("loop: /dev/zero");
			return 1;
		}
		t0 = now_ns();
		for (i = 0; i < n; i++)
			if (read(fd, &c, 1) != 1) {
				perror("loop: read");
				return 1;
			}
		t1 = now_ns();
	} else if (strcmp(argv[1], "forkexec") == 0 && argc == 4) {
		char *const av[] = { argv[3], NULL };
		char *const ev[] = { NULL };

		t0 = now_ns();
		for (i = 0; i < n; i++) {
			int st;
			pid_t pid = fork();

			if (pid < 0) {
				perror("loop: fork");
				return 1;
			}
			if (pid == 0) {
				execve(argv[3], av, ev);
				_exit(127);
			}
			if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "loop: %s failed (status %#x)\n", argv[3], st);
				return 1;
			}
		}
		t1 = now_ns();
	} else {
		fprintf(stderr, "loop: unknown operation %s\n", argv[1]);
		return 2;
	}
	printf("%.1f\n", (t1 - t0) / n);
	return 0;
}
