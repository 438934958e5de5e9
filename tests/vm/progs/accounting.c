/* accounting: touches 64 MiB and keeps it, then spins until it has used
 * about 0.5 s of CPU (user + system, getrusage RUSAGE_SELF), and prints
 * what it measured itself to stderr as "cpu=SECONDS touched=BYTES".
 * RUSAGE_SELF counts from the process's fork, across execve: the time the
 * process spent in jail's set-up before it became this program is not
 * this program's, so the measure starts at main. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

static double self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(void)
{
	const double start = self_cpu();
	const size_t size = 64UL << 20;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("accounting: mmap");
		return 2;
	}
	memset(p, 0x5a, size);
	volatile unsigned long n = 0;
	while (self_cpu() - start < 0.5)
		for (int i = 0; i < 100000; i++)
			n++;
	unsigned long sum = 0;
	for (size_t i = 0; i < size; i += 4096)
		sum += (unsigned char)p[i];
	fprintf(stderr, "cpu=%.6f touched=%zu check=%lu\n", self_cpu() - start, size, sum);
	return 0;
}
