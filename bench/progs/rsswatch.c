/* rsswatch: peak memory of a program that re-executes itself, such as jail.
 *
 *   rsswatch OUT.json BINARY INTERVAL_US -- COMMAND [ARG...]
 *
 * Starts COMMAND, and until it ends samples, every INTERVAL_US
 * microseconds, every descendant of it (found through the parent pids in
 * /proc/PID/stat, never by name) whose /proc/PID/exe is BINARY (same device
 * and inode). For each such process and stage (argv[1] when it starts with
 * "__", else "supervisor" for COMMAND itself; a process that re-executes itself counts once per
 * stage) it keeps the largest VmHWM, VmRSS and RssAnon seen, and the largest
 * sum of VmRSS over all of them at one instant. A stage shorter than the
 * interval can be missed, and the last moments of one before it execs are
 * not seen: the figures are lower bounds. Writes them to OUT.json.
 * Exits with COMMAND's status. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXPROC 65536
#define MAXREC 64

struct rec {
	int pid;
	char role[32];
	long hwm, rss, anon; /* kB */
};

static struct rec recs[MAXREC];
static int nrec;
static int pids[MAXPROC], ppids[MAXPROC];
static char isdesc[MAXPROC];
static long max_sum_rss;
static long samples;
static struct stat bin;

static int readfile(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

static long statusfield(const char *status, const char *key)
{
	const char *p = strstr(status, key);

	return p ? atol(p + strlen(key)) : 0;
}

static void sample(int root)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0, i, changed;
	long sum = 0;
	char path[64], buf[4096];

	if (!d)
		return;
	while ((e = readdir(d)) && n < MAXPROC) {
		char *p;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pids[n] = atoi(e->d_name);
		snprintf(path, sizeof path, "/proc/%d/stat", pids[n]);
		if (readfile(path, buf, sizeof buf) < 0 || !(p = strrchr(buf, ')')))
			continue;
		/* ") S PPID ..." */
		ppids[n] = atoi(p + 4);
		isdesc[n] = pids[n] == root;
		n++;
	}
	closedir(d);
	do {
		changed = 0;
		for (i = 0; i < n; i++) {
			int j;

			if (isdesc[i])
				continue;
			for (j = 0; j < n; j++)
				if (isdesc[j] && pids[j] == ppids[i]) {
					isdesc[i] = changed = 1;
					break;
				}
		}
	} while (changed);

	for (i = 0; i < n; i++) {
		struct stat st;
		char role[32];
		long hwm, rss, anon;
		int k, len;

		if (!isdesc[i])
			continue;
		snprintf(path, sizeof path, "/proc/%d/exe", pids[i]);
		if (stat(path, &st) < 0 || st.st_dev != bin.st_dev || st.st_ino != bin.st_ino)
			continue;
		snprintf(role, sizeof role, "%s", pids[i] == root ? "supervisor" : "other");
		snprintf(path, sizeof path, "/proc/%d/cmdline", pids[i]);
		len = readfile(path, buf, sizeof buf);
		if (len > 0) {
			size_t a0 = strlen(buf);

			if ((int)a0 + 1 < len && strncmp(buf + a0 + 1, "__", 2) == 0) {
				char *c;

				snprintf(role, sizeof role, "%s", buf + a0 + 1);
				for (c = role; *c; c++)
					if (!isalnum((unsigned char)*c) && *c != '_')
						*c = '_';
			}
		}
		snprintf(path, sizeof path, "/proc/%d/status", pids[i]);
		if (readfile(path, buf, sizeof buf) < 0)
			continue;
		hwm = statusfield(buf, "VmHWM:");
		rss = statusfield(buf, "VmRSS:");
		anon = statusfield(buf, "RssAnon:");
		if (hwm == 0 && rss == 0)
			continue; /* exiting: its memory is gone */
		sum += rss;
		for (k = 0; k < nrec; k++)
			if (recs[k].pid == pids[i] && strcmp(recs[k].role, role) == 0)
				break;
		if (k == nrec) {
			if (nrec == MAXREC)
				continue;
			nrec++;
			recs[k].pid = pids[i];
			snprintf(recs[k].role, sizeof recs[k].role, "%s", role);
		}
		if (hwm > recs[k].hwm)
			recs[k].hwm = hwm;
		if (rss > recs[k].rss)
			recs[k].rss = rss;
		if (anon > recs[k].anon)
			recs[k].anon = anon;
	}
	if (sum > max_sum_rss)
		max_sum_rss = sum;
	samples++;
}

int main(int argc, char **argv)
{
	struct timespec iv;
	struct rusage ru;
	int pid, st, k;
	long us, sum_hwm = 0;
	FILE *out;

	if (argc < 6 || strcmp(argv[4], "--") != 0) {
		fprintf(stderr, "usage: rsswatch OUT.json BINARY INTERVAL_US -- COMMAND [ARG...]\n");
		return 2;
	}
	if (stat(argv[2], &bin) < 0) {
		perror(argv[2]);
		return 2;
	}
	us = atol(argv[3]);
	iv.tv_sec = us / 1000000;
	iv.tv_nsec = (us % 1000000) * 1000;
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[5], argv + 5);
		perror(argv[5]);
		_exit(127);
	}
	for (;;) {
		int r = wait4(pid, &st, WNOHANG, &ru);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			perror("wait4");
			return 2;
		}
		sample(pid);
		nanosleep(&iv, NULL);
	}
	out = fopen(argv[1], "w");
	if (!out) {
		perror(argv[1]);
		return 2;
	}
	fprintf(out, "{\"processes\": [");
	for (k = 0; k < nrec; k++) {
		fprintf(out, "%s\n  {\"role\": \"%s\", \"pid\": %d, \"hwm_kb\": %ld, \"rss_kb\": %ld, \"anon_kb\": %ld}",
			k ? "," : "", recs[k].role, recs[k].pid, recs[k].hwm, recs[k].rss, recs[k].anon);
		sum_hwm += recs[k].hwm;
	}
	fprintf(out, "],\n \"sum_hwm_kb\": %ld, \"max_simultaneous_rss_kb\": %ld, \"ru_maxrss_kb\": %ld, \"samples\": %ld}\n",
		sum_hwm, max_sum_rss, ru.ru_maxrss, samples);
	fclose(out);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}
