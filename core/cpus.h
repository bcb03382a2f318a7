/* CPU sets: what this process may run on. */
#ifndef HERD_CPUS_H
#define HERD_CPUS_H

/* 1 when `cpu` is in this process's allowed set (online and permitted). */
int cpus_usable(int cpu);

#endif
