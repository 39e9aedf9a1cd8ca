/*
 * action_cmd - the command backend (see action.h): argv templates split once at load
 * (argv_split: no shell, no expansion), <ip> <jail> <bantime> <failures> substituted per
 * word (so an address can never become a second argument), run with posix_spawnp with
 * stdin and stdout on /dev/null (the shared helper in action_spawn.c). Each run waits for
 * the child with a timeout (pidfd + poll; SIGKILL when it expires). A non-zero exit is a
 * failure: the operation stays queued and is retried with back-off by the caller's actq.
 */
#include "guard/action.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cmd_state {
    char **ban, **unban, **flush, **start;
    int timeout;
    char **jails;
    size_t nj;
};

static int64_t mono_ms(void) { return action_mono_ms(); }

/* Start argv (action_spawn_start: stdin and stdout on /dev/null, stderr inherited); the
 * child's pid, or -1 with err. */
static pid_t spawn_argv(char *const *argv, char *err, size_t errlen)
{
    return action_spawn_start(argv, NULL, 0, NULL, NULL, err, errlen);
}

/* Wait for pid until deadline (monotonic ms); SIGKILL after it. 0 on exit status 0. */
static int wait_child(pid_t pid, const char *name, int64_t deadline, int timeout, char *err, size_t errlen)
{
    return action_spawn_wait(pid, name, deadline, timeout, -1, err, errlen) == 0 ? 0 : -1;
}

/* Run argv, wait at most timeout seconds. 0 on exit status 0. */
static int run_argv(char *const *argv, int timeout, char *err, size_t errlen)
{
    if (!argv || !argv[0]) return 0;
    pid_t pid = spawn_argv(argv, err, errlen);
    if (pid < 0) return -1;
    return wait_child(pid, argv[0], mono_ms() + (int64_t)timeout * 1000, timeout, err, errlen);
}

static int cmd_setup(void *st, const struct fw_jail *jails, size_t n, char *err, size_t errlen)
{
    struct cmd_state *s = st;
    for (size_t i = 0; i < s->nj; i++) free(s->jails[i]);
    free(s->jails);
    s->jails = xcalloc(n + 1, sizeof *s->jails);
    for (size_t i = 0; i < n; i++) s->jails[i] = xstrdup(jails[i].name);
    s->nj = n;
    if (s->start) {
        for (size_t i = 0; i < n; i++) {
            struct fw_op op;
            memset(&op, 0, sizeof op);
            char **av = argv_subst(s->start, &op, jails[i].name);
            int rc = run_argv(av, s->timeout, err, errlen);
            argv_free(av);
            if (rc < 0) return -1;
        }
    }
    return 0;
}

/*
 * Up to CMD_PARALLEL commands run at once (process creation is what costs); a batch stops
 * starting new commands after CMD_TURN_MS so the daemon's loop stays responsive: the rest
 * is reported as not done without an error and comes back on the next turn. When one
 * command of a group fails, later ones of that group that succeeded run again on retry
 * (ban commands are expected to be idempotent, as fail2ban's are).
 */
#define CMD_PARALLEL 16
#define CMD_TURN_MS 100

static size_t cmd_apply(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen)
{
    struct cmd_state *s = st;
    int64_t t0 = mono_ms();
    size_t i = 0;
    err[0] = 0;
    while (i < n) {
        size_t k = n - i < CMD_PARALLEL ? n - i : CMD_PARALLEL;
        pid_t pids[CMD_PARALLEL];
        char *names[CMD_PARALLEL];
        int rc[CMD_PARALLEL];
        char errs[CMD_PARALLEL][256];
        for (size_t j = 0; j < k; j++) {
            const struct fw_op *op = &ops[i + j];
            char **tmpl = op->kind == FW_BAN || op->kind == FW_BLOCK ? s->ban : s->unban;
            pids[j] = 0;
            names[j] = NULL;
            rc[j] = 0;
            errs[j][0] = 0;
            if (!tmpl) continue;
            const char *jail = op->jail >= 0 && (size_t)op->jail < s->nj ? s->jails[op->jail] : "block";
            char **av = argv_subst(tmpl, op, jail);
            pids[j] = spawn_argv(av, errs[j], sizeof errs[j]);
            if (pids[j] < 0) rc[j] = -1;
            names[j] = xstrdup(av[0]);
            argv_free(av);
        }
        int64_t deadline = mono_ms() + (int64_t)s->timeout * 1000;
        for (size_t j = 0; j < k; j++)
            if (pids[j] > 0) rc[j] = wait_child(pids[j], names[j], deadline, s->timeout, errs[j], sizeof errs[j]);
        size_t firstbad = k;
        for (size_t j = 0; j < k; j++) {
            if (rc[j] < 0 && firstbad == k) firstbad = j;
            free(names[j]);
        }
        if (firstbad < k) {
            snprintf(err, errlen, "%s", errs[firstbad]);
            return i + firstbad;
        }
        i += k;
        if (mono_ms() - t0 >= CMD_TURN_MS) break;
    }
    return i;
}

static int cmd_flush(void *st, char *err, size_t errlen)
{
    struct cmd_state *s = st;
    if (!s->flush) return s->unban ? 1 : 0;     /* the caller unbans one by one */
    for (size_t i = 0; i < s->nj; i++) {
        struct fw_op op;
        memset(&op, 0, sizeof op);
        char **av = argv_subst(s->flush, &op, s->jails[i]);
        int rc = run_argv(av, s->timeout, err, errlen);
        argv_free(av);
        if (rc < 0) return -1;
    }
    return 0;
}

static void cmd_free(void *st)
{
    struct cmd_state *s = st;
    if (!s) return;
    argv_free(s->ban);
    argv_free(s->unban);
    argv_free(s->flush);
    argv_free(s->start);
    for (size_t i = 0; i < s->nj; i++) free(s->jails[i]);
    free(s->jails);
    free(s);
}

static const struct action_ops cmd_ops = {
    .name = "command", .setup = cmd_setup, .apply = cmd_apply, .flush = cmd_flush, .free = cmd_free,
};

static int tmpl(const char *src, char ***out, const char *what, char *err, size_t errlen)
{
    *out = NULL;
    if (!src || !*src) return 0;
    char e2[256];
    int n = argv_split(src, out, e2, sizeof e2);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", what, e2);
        return -1;
    }
    if (n == 0) {
        argv_free(*out);
        *out = NULL;
    }
    return 0;
}

struct action *action_cmd_new(const struct cmd_templates *t, char *err, size_t errlen)
{
    struct cmd_state *s = xcalloc(1, sizeof *s);
    s->timeout = t->timeout > 0 ? t->timeout : 30;
    if (tmpl(t->ban, &s->ban, "actionban", err, errlen) < 0 ||
        tmpl(t->unban, &s->unban, "actionunban", err, errlen) < 0 ||
        tmpl(t->flush, &s->flush, "actionflush", err, errlen) < 0 ||
        tmpl(t->start, &s->start, "actionstart", err, errlen) < 0) {
        cmd_free(s);
        return NULL;
    }
    struct action *a = xcalloc(1, sizeof *a);
    a->ops = &cmd_ops;
    a->st = s;
    a->name = xstrdup("command");
    return a;
}
