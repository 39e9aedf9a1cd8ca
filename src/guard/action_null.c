/*
 * action_null - the backend that does nothing but record (see action.h): tests check the
 * exact sequence of calls, dry runs and --test-config use it. The record is capped (1 MB;
 * older lines are dropped when it would grow beyond) so a long-running dry run stays small.
 */
#include "guard/action.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NULL_LOG_MAX (1u << 20)

struct null_state {
    struct buf log;
    char **jails;
    size_t nj;
    int fail;
};

static void rec(struct null_state *s, const char *line)
{
    size_t n = strlen(line);
    if (s->log.len + n + 1 > NULL_LOG_MAX) buf_reset(&s->log);
    buf_puts(&s->log, line);
    buf_putc(&s->log, '\n');
}

static int null_setup(void *st, const struct fw_jail *jails, size_t n, char *err, size_t errlen)
{
    struct null_state *s = st;
    for (size_t i = 0; i < s->nj; i++) free(s->jails[i]);
    free(s->jails);
    s->jails = xcalloc(n + 1, sizeof *s->jails);
    struct buf b = BUF_INIT(1u << 16);
    buf_puts(&b, "setup");
    for (size_t i = 0; i < n; i++) {
        s->jails[i] = xstrdup(jails[i].name);
        buf_printf(&b, "%s%s", i ? "," : " ", jails[i].name);
    }
    s->nj = n;
    rec(s, buf_cstr(&b));
    buf_free(&b);
    return 0;
}

static size_t null_apply(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen)
{
    struct null_state *s = st;
    if (s->fail > 0) {
        s->fail--;
        snprintf(err, errlen, "null: failure injected");
        rec(s, "apply-failed");
        return 0;
    }
    static const char *const kn[] = { "ban", "unban", "block", "unblock" };
    for (size_t i = 0; i < n; i++) {
        const struct fw_op *op = &ops[i];
        char t[IPADDR_STRLEN + 8], line[512];
        if (op->target.prefix == (op->target.addr.family == 4 ? 32 : 128))
            ipaddr_format(&op->target.addr, t, sizeof t);
        else
            cidr_format(&op->target, t, sizeof t);
        const char *j = op->jail >= 0 && (size_t)op->jail < s->nj ? s->jails[op->jail] : "-";
        if (op->kind == FW_BAN)
            snprintf(line, sizeof line, "ban %s %s timeout=%lld bantime=%lld failures=%u", j, t,
                     (long long)op->timeout, (long long)op->bantime, (unsigned)op->failures);
        else
            snprintf(line, sizeof line, "%s %s %s", kn[op->kind], j, t);
        rec(s, line);
    }
    return n;
}

static int null_flush(void *st, char *err, size_t errlen)
{
    rec(st, "flush");
    return 0;
}

static void null_free(void *st)
{
    struct null_state *s = st;
    if (!s) return;
    buf_free(&s->log);
    for (size_t i = 0; i < s->nj; i++) free(s->jails[i]);
    free(s->jails);
    free(s);
}

static const struct action_ops null_ops = {
    .name = "null", .setup = null_setup, .apply = null_apply, .flush = null_flush, .free = null_free,
};

struct action *action_null_new(void)
{
    struct null_state *s = xcalloc(1, sizeof *s);
    s->log = BUF_INIT(NULL_LOG_MAX * 2);
    struct action *a = xcalloc(1, sizeof *a);
    a->ops = &null_ops;
    a->st = s;
    a->name = xstrdup("null");
    return a;
}

const char *action_null_log(const struct action *a)
{
    return a->ops == &null_ops ? buf_cstr(&((struct null_state *)a->st)->log) : "";
}

void action_null_clear(struct action *a)
{
    if (a->ops == &null_ops) buf_reset(&((struct null_state *)a->st)->log);
}

void action_null_fail(struct action *a, int n)
{
    if (a->ops == &null_ops) ((struct null_state *)a->st)->fail = n;
}
