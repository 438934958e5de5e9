/* stage1.c: stage 1 before the Go runtime starts.
 *
 * The first process in the new namespaces was executed before its ids were
 * mapped, so it holds no capabilities. All it does is wait for stage 0's
 * idmap-done message, which carries the time namespace's offsets, and
 * execute the binary again as stage 2 (uid 0 of the namespace, with full
 * capabilities in it) with the offsets in JAIL_TIMENS_ENV for timens.c.
 * Starting a Go runtime only for that cost a few milliseconds of CPU, on the
 * start-up's critical path and competing with newuidmap; this constructor
 * runs first when the binary is executed as stage 1, and does not return
 * when it understands the message.
 *
 * It reads the message as internal/ipc writes it: one final packet, a flag
 * byte then {"type":"idmap-done","data":"OFFSETS"} (or without data), where
 * OFFSETS is a JSON string of "CLOCK SECS NANOS\n" lines. It peeks first: a
 * message of any other shape (or a string it would have to unescape beyond
 * \n) stays queued, and the constructor returns to let stage1() in Go, which
 * decodes any JSON, handle it. Without glibc (which passes argc and argv to
 * constructors) it is left out, and stage1() does it all. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timens.h"

#if defined(__GLIBC__)

/* The stage protocol (internal/ipc): the socket is fd 3; a packet starts
 * with a flag byte, 1 on the last packet of a message. */
#define SYNC_FD 3
#define FLAG_FINAL 1
#define EXIT_SETUP 125

/* decode_offsets copies the JSON string that starts at in (after its
 * opening quote) to out, if it holds only what offsets are written with,
 * and returns the length of in it used, up to and including the closing
 * quote; -1 otherwise. */
static int decode_offsets(const char *in, size_t n, char *out, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '"') {
			out[o] = 0;
			return (int)i + 1;
		}
		if (o + 1 >= max)
			return -1;
		if (c == '\\') {
			if (i + 1 >= n || in[i + 1] != 'n')
				return -1;
			out[o++] = '\n';
			i++;
			continue;
		}
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ' || c == '-')
			out[o++] = c;
		else
			return -1;
	}
	return -1;
}

__attribute__((constructor)) static void jail_stage1(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 2 || argv == NULL || argv[1] == NULL || strcmp(argv[1], "__init") != 0 || getpid() != 1)
		return;
	static const char bare[] = "\x01{\"type\":\"idmap-done\"}";
	static const char prefix[] = "\x01{\"type\":\"idmap-done\",\"data\":\"";
	char buf[512];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;
	do
		n = recvmsg(SYNC_FD, &msg, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(EXIT_SETUP); /* stage 0 is gone or failed; it reports why */
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return;
	static char env[sizeof JAIL_TIMENS_ENV + sizeof buf] = JAIL_TIMENS_ENV "=";
	char *offsets = env + sizeof JAIL_TIMENS_ENV;
	size_t max = sizeof env - sizeof JAIL_TIMENS_ENV;
	if ((size_t)n == sizeof bare - 1 && memcmp(buf, bare, sizeof bare - 1) == 0) {
		offsets[0] = 0;
	} else if ((size_t)n > sizeof prefix - 1 && memcmp(buf, prefix, sizeof prefix - 1) == 0) {
		size_t at = sizeof prefix - 1;
		int used = decode_offsets(buf + at, (size_t)n - at, offsets, max);
		if (used < 0 || at + (size_t)used + 1 != (size_t)n || buf[n - 1] != '}')
			return;
	} else {
		return;
	}
	/* Understood: take it off the queue. */
	do
		n = recv(SYNC_FD, buf, sizeof buf, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(EXIT_SETUP);
	char *const args[] = {"jail", "__init2", NULL};
	char *const newenv[] = {env, NULL};
	execve("/proc/self/exe", args, newenv);
	int len = snprintf(buf, sizeof buf,
			   "%c{\"type\":\"error\",\"err\":{\"stage\":\"init\",\"op\":\"execve\",\"path\":\"/proc/self/exe\",\"errno\":%d}}",
			   FLAG_FINAL, errno);
	if (len > 0 && len < (int)sizeof buf)
		send(SYNC_FD, buf, (size_t)len, MSG_NOSIGNAL);
	_exit(EXIT_SETUP);
}
#endif
