/* clocks: prints CLOCK_MONOTONIC and CLOCK_BOOTTIME in seconds, one line
 * "monotonic=SECS boottime=SECS", for the time namespace scenario. */
#include <stdio.h>
#include <time.h>

static double secs(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) != 0)
		return -1;
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	printf("monotonic=%.3f boottime=%.3f\n", secs(CLOCK_MONOTONIC), secs(CLOCK_BOOTTIME));
	return 0;
}
