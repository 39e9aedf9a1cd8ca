/*
 * action_cmd - the command backend (see action.h): argv templates split once at load
 * (argv_split: no shell, no expansion), <ip> <jail> <bantime> <failures> substituted per
 * word (so an address can never become a second argument), run with posix_spawnp with
 * stdin and stdout on /dev/null, through action_spawn (a timeout, SIGKILL when it expires;
 * stderr's first line becomes the error message). A non-zero exit is a failure: the
 * operation stays queued and is retried with back-off by the caller's actq.
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

/* Run argv, wait at most timeout seconds. 0 on exit status 0. */
static int run_argv(char *const *argv, int timeout, char *err, size_t errlen)
{
    if (!argv || !argv[0]) return 0;
    return action_spawn(argv, NULL, 0, NULL, timeout, err, errlen) == 0 ? 0 : -1;
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

static size_t cmd_apply(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen)
{
    struct cmd_state *s = st;
    for (size_t i = 0; i < n; i++) {
        const struct fw_op *op = &ops[i];
        char **tmpl = op->kind == FW_BAN || op->kind == FW_BLOCK ? s->ban : s->unban;
        if (!tmpl) continue;
        const char *jail = op->jail >= 0 && (size_t)op->jail < s->nj ? s->jails[op->jail] : "block";
        char **av = argv_subst(tmpl, op, jail);
        int rc = run_argv(av, s->timeout, err, errlen);
        argv_free(av);
        if (rc < 0) return i;
    }
    return n;
}

static int cmd_flush(void *st, char *err, size_t errlen)
{
    struct cmd_state *s = st;
    if (!s->flush) return 0;
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
