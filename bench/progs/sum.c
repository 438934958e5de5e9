/* sum: the judge benchmark's "solution". Reads integers from stdin and
 * writes their sum to stdout. Built static (gcc -static -O2), so it needs
 * nothing from the sandbox's root but itself. */
#include <stdio.h>

int main(void)
{
	long long x, s = 0;

	while (scanf("%lld", &x) == 1)
		s += x;
	printf("%lld\n", s);
	return 0;
}
