/* action - shared parts of the firewall layer (see action.h): argv templates and the retry
 * queue. */
#include "guard/action.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGV_MAX 64
#define WORD_MAX 4096

void action_free(struct action *a)
{
    if (!a) return;
    if (a->ops && a->ops->free) a->ops->free(a->st);
    free(a->name);
    free(a);
}

int argv_split(const char *s, char ***argvp, char *err, size_t errlen)
{
    char **argv = xcalloc(ARGV_MAX + 1, sizeof *argv);
    int argc = 0;
    struct buf w = BUF_INIT(WORD_MAX);
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        if (argc == ARGV_MAX) {
            snprintf(err, errlen, "more than %d words", ARGV_MAX);
            goto fail;
        }
        buf_reset(&w);
        char q = 0;
        bool any = false;
        while (*p && (q || (*p != ' ' && *p != '\t' && *p != '\n'))) {
            char c = *p++;
            if (q) {
                if (c == q) { q = 0; continue; }
                if (c == '\\' && q == '"' && *p) c = *p++;
            } else if (c == '\'' || c == '"') {
                q = c;
                any = true;
                continue;
            } else if (c == '\\' && *p) {
                c = *p++;
            }
            if (buf_putc(&w, c) < 0) {
                snprintf(err, errlen, "word longer than %d bytes", WORD_MAX);
                goto fail;
            }
            any = true;
        }
        if (q) {
            snprintf(err, errlen, "unterminated %c quote", q);
            goto fail;
        }
        if (any) argv[argc++] = xstrdup(buf_cstr(&w));
    }
    buf_free(&w);
    *argvp = argv;
    return argc;
fail:
    buf_free(&w);
    argv_free(argv);
    *argvp = NULL;
    return -1;
}

void argv_free(char **argv)
{
    if (!argv) return;
    for (char **a = argv; *a; a++) free(*a);
    free(argv);
}

char **argv_subst(char *const *tmpl, const struct fw_op *op, const char *jail)
{
    size_t n = 0;
    while (tmpl[n]) n++;
    char **out = xcalloc(n + 1, sizeof *out);
    char ip[IPADDR_STRLEN + 4], bt[32], fl[32];
    if (op->target.addr.family && op->target.prefix == (op->target.addr.family == 4 ? 32 : 128))
        ipaddr_format(&op->target.addr, ip, sizeof ip);
    else
        cidr_format(&op->target, ip, sizeof ip);
    snprintf(bt, sizeof bt, "%lld", (long long)op->bantime);
    snprintf(fl, sizeof fl, "%lu", (unsigned long)op->failures);
    static const char *const tags[] = { "<ip>", "<jail>", "<name>", "<bantime>", "<failures>" };
    const char *vals[] = { ip, jail ? jail : "", jail ? jail : "", bt, fl };
    for (size_t i = 0; i < n; i++) {
        struct buf b = BUF_INIT(WORD_MAX * 2);
        const char *p = tmpl[i];
        while (*p) {
            size_t k;
            for (k = 0; k < sizeof tags / sizeof tags[0]; k++) {
                size_t tl = strlen(tags[k]);
                if (strncmp(p, tags[k], tl) == 0) {
                    buf_puts(&b, vals[k]);
                    p += tl;
                    break;
                }
            }
            if (k == sizeof tags / sizeof tags[0]) buf_putc(&b, *p++);
        }
        out[i] = xstrdup(buf_cstr(&b));
        buf_free(&b);
    }
    return out;
}

void actq_init(struct actq *q, struct action *a)
{
    memset(q, 0, sizeof *q);
    q->a = a;
}

void actq_push(struct actq *q, const struct fw_op *op)
{
    q->ops = xgrow(q->ops, &q->cap, q->n + 1, sizeof *q->ops);
    q->ops[q->n++] = *op;
}

static void backoff(struct actq *q, const char *err, int64_t now)
{
    q->errors++;
    q->backoff = q->backoff ? q->backoff * 2 : 1;
    if (q->backoff > 60) q->backoff = 60;
    q->next_try = now + q->backoff;
    snprintf(q->last_error, sizeof q->last_error, "%s", err);
    msg_warn_rl("action-failed", 20, "action %s: %s (%zu operation(s) pending, retry in %llds)",
                q->a->name, err, q->n, (long long)q->backoff);
}

int actq_run(struct actq *q, int64_t now)
{
    if (!q->n) return 0;
    if (now < q->next_try) return -1;
    char err[512] = "";
    size_t done = q->a->ops->apply(q->a->st, q->ops, q->n, err, sizeof err);
    if (done > q->n) done = q->n;
    q->applied += done;
    if (done) {
        memmove(q->ops, q->ops + done, (q->n - done) * sizeof *q->ops);
        q->n -= done;
    }
    if (!q->n) {
        /* an asynchronous backend has only started the work: its poll() says how it went */
        if (!q->a->ops->async) q->backoff = 0;
        q->next_try = 0;
        return 0;
    }
    if (!err[0]) {
        /* a partial batch without an error: the backend yields; more on the next turn */
        q->backoff = 0;
        q->next_try = now;
        return -1;
    }
    backoff(q, err, now);
    return -1;
}

void actq_fail(struct actq *q, const struct fw_op *op, const char *err, int64_t now)
{
    if (q->applied) q->applied--;
    /* at the front: it is older than anything still queued (a later unban of the same
     * target must not run before it) */
    actq_push(q, op);
    memmove(q->ops + 1, q->ops, (q->n - 1) * sizeof *q->ops);
    q->ops[0] = *op;
    backoff(q, err, now);
}

size_t actq_poll(struct actq *q, int64_t now)
{
    if (!q->a || !q->a->ops->poll) return 0;
    return q->a->ops->poll(q->a->st, q, now);
}

void actq_free(struct actq *q)
{
    free(q->ops);
    memset(q, 0, sizeof *q);
}
