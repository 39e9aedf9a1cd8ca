/*
 * par - run n independent tasks on a few threads (the caller's included) and return when all
 * are done. For the report printers: sorting and formatting the large tables of one report
 * are independent of each other, and the machine's other cores are idle by then.
 * Tasks may run in any order and concurrently: fn must touch only what task i owns and
 * read-only shared data. Without threads (pthread_create failing) the caller runs them all.
 */
#ifndef MW_PAR_H
#define MW_PAR_H
#include <stddef.h>

void par_for(size_t n, void (*fn)(void *ctx, size_t i), void *ctx, int threads);
/* Threads worth using: the online CPUs, capped at 8. */
int par_cpus(void);

#endif
