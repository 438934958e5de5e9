/* flood: writes 1 GiB to stdout in 64 KiB writes. Exits 0 when all of it
 * was written, 1 on a write error (EPIPE and the like). */
#include <string.h>
#include <unistd.h>

int main(void)
{
	static char buf[64 * 1024];
	memset(buf, 'x', sizeof buf);
	for (long total = 0; total < (1L << 30);) {
		ssize_t n = write(1, buf, sizeof buf);
		if (n <= 0)
			return 1;
		total += n;
	}
	return 0;
}
