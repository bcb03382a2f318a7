#include "core/cpus.h"

#include <sched.h>

int cpus_usable(int cpu)
{
	cpu_set_t set;
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return 0;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 0;
	return CPU_ISSET(cpu, &set) ? 1 : 0;
}
