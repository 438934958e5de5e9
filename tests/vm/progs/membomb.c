/* membomb: touches up to 4 GiB, 1 MiB at a time, and never frees it.
 * Under a memory limit it must be OOM-killed long before the end.
 * Prints how far it got (every 64 MiB) to stderr; exits 0 if it survives. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
	const size_t step = 1UL << 20;
	const size_t steps = 4096; /* 4 GiB */
	for (size_t i = 0; i < steps; i++) {
		char *p = mmap(NULL, step, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("membomb: mmap");
			return 2;
		}
		memset(p, (int)(i & 0xff) | 1, step);
		if ((i + 1) % 64 == 0)
			fprintf(stderr, "membomb: %zu MiB\n", i + 1);
	}
	fprintf(stderr, "membomb: survived 4 GiB\n");
	return 0;
}
