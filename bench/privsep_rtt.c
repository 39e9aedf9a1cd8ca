/* privsep_rtt - what one firewall request costs through the privileged helper, measured
 * precisely where the whole-daemon bench (bench/guard_privsep.sh) drowns in other load:
 * N single-ban apply() calls through the proxy to a real forked helper (privsep_start, the
 * null backend: --dry-run), against the same calls on an in-process null backend.
 * Prints median/p99 round trip in microseconds and CPU microseconds per request (this
 * process plus the helper, from getrusage and /proc/PID/stat). Needs root (the helper drops
 * to CAP_NET_ADMIN). Built and run by bench/guard_privsep.sh. usage: privsep_rtt CONFDIR [N] */
#include "guard/privsep.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double self_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static double pid_cpu_us(pid_t pid)
{
    char p[64], b[1024];
    snprintf(p, sizeof p, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    size_t n = fread(b, 1, sizeof b - 1, f);
    fclose(f);
    b[n] = 0;
    char *s = strrchr(b, ')');
    unsigned long long ut = 0, st = 0;
    if (s) sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run(const char *what, struct action *a, int n, pid_t helper)
{
    char err[512];
    struct fw_jail fj[] = { { "postfix", NULL, NULL } };
    if (a->ops->setup(a->st, fj, 1, err, sizeof err) < 0) {
        fprintf(stderr, "setup: %s\n", err);
        exit(1);
    }
    double *rt = calloc((size_t)n, sizeof *rt);
    double c0 = self_cpu_us() + (helper > 0 ? pid_cpu_us(helper) : 0);
    for (int i = 0; i < n; i++) {
        struct fw_op op;
        memset(&op, 0, sizeof op);
        op.kind = FW_BAN;
        op.jail = 0;
        op.target.addr.family = 4;
        op.target.addr.b[0] = 10;
        op.target.addr.b[1] = (uint8_t)(i >> 16);
        op.target.addr.b[2] = (uint8_t)(i >> 8);
        op.target.addr.b[3] = (uint8_t)i;
        op.target.prefix = 32;
        op.timeout = op.bantime = 3600;
        op.failures = 5;
        double t0 = now_us();
        if (a->ops->apply(a->st, &op, 1, err, sizeof err) != 1) {
            fprintf(stderr, "apply: %s\n", err);
            exit(1);
        }
        rt[i] = now_us() - t0;
        if (i % 1000 == 999 && helper <= 0) action_null_clear(a);
    }
    double c1 = self_cpu_us() + (helper > 0 ? pid_cpu_us(helper) : 0);
    qsort(rt, (size_t)n, sizeof *rt, cmpd);
    printf("%-34s n=%d  round trip median %7.1f us  p99 %7.1f us  CPU %6.1f us/request\n", what, n, rt[n / 2],
           rt[(size_t)((double)n * 0.99)], (c1 - c0) / n);
    free(rt);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: privsep_rtt CONFDIR [N]\n");
        return 2;
    }
    int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 20000;
    if (n < 1) n = 20000;
    guard_conf_set_resolve(false);
    char err[512];
    struct guard_conf *c = guard_conf_load(argv[1], NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct action *direct = action_null_new();
    run("in process (privsep = no)", direct, n, -1);
    action_free(direct);
    struct privsep *ps = privsep_start(c, true, NULL, err, sizeof err);
    if (!ps) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct action *px = privsep_action_new(ps, "null");
    run("through the helper (privsep = yes)", px, n, privsep_pid(ps));
    action_free(px);
    privsep_free(ps);
    guard_conf_free(c);
    return 0;
}
