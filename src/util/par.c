/* par - see par.h. */
#include "util/par.h"
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

struct par {
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n;
    atomic_size_t next;
};

static void *par_run(void *arg)
{
    struct par *p = arg;
    for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n;) p->fn(p->ctx, i);
    return NULL;
}

int par_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

void par_for(size_t n, void (*fn)(void *ctx, size_t i), void *ctx, int threads)
{
    struct par p = { fn, ctx, n, 0 };
    if (threads > 8) threads = 8;
    if ((size_t)threads > n) threads = (int)n;
    pthread_t tid[8];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, par_run, &p) == 0) started++;
    par_run(&p);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
}
