/*
 * filter_builtin - the built-in mail filters (guard/jailfilter.h: mailwarden-postfix,
 * mailwarden-dovecot, mailwarden-sshd, structural parsers on the line model) behind the
 * generic filter interface of guard/filter.h, so `mailwarden regex` tests them exactly like
 * fail2ban filter files. The host of a failure is the address the parser took from the
 * daemon's own slot, never text of the line an attacker wrote.
 * Ownership: the instance owns the jail filter; filter_close() frees both.
 */
#include "guard/filter.h"
#include "guard/jailfilter.h"
#include "guard/ini.h"
#include "parse/event.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>

struct bimpl {
    struct jfilter *jf;
    struct syslog_ctx ctx;
};

static enum filter_verdict feed(struct filter *f, const struct filter_line *ln, failure_cb cb, void *ud)
{
    struct bimpl *b = f->impl;
    struct event ev;
    parse_line(&b->ctx, NULL, ln->text, &ev);
    if (ev.kind == EV_UNPARSED) return FV_MISSED;
    struct jfilter_hit hits[JFILTER_MAXHITS];
    size_t n = b->jf->ops->match(b->jf->st, &ev, ln->text, hits, JFILTER_MAXHITS, NULL);
    for (size_t i = 0; i < n; i++) {
        char host[IPADDR_STRLEN];
        size_t hl = ipaddr_format(&hits[i].ip, host, sizeof host);
        struct failure fl;
        memset(&fl, 0, sizeof fl);
        fl.line = ln->lineno;
        fl.has_time = true;
        fl.time = (double)hits[i].t + (ev.h.usec > 0 ? ev.h.usec / 1e6 : 0);
        fl.host = (struct str){ host, hl };
        fl.ip = hits[i].ip;
        fl.has_user = ev.user.len > 0;
        fl.user = ev.user;
        fl.attempts = hits[i].n ? hits[i].n : 1;
        fl.lines = &ln->text;
        fl.nlines = 1;
        fl.regex = -1;
        cb(ud, &fl);
    }
    return n ? FV_MATCHED : FV_MISSED;
}

static void bclose(struct filter *f)
{
    struct bimpl *b = f->impl;
    jfilter_free(b->jf);
    free(b);
    free(f->name);
    free(f);
}

static const struct filter_ops bops = { "builtin", feed, bclose };

static struct filter *open_named(const char *name, const struct ini_vars *opts, int64_t now,
                                 char *err, size_t errlen)
{
    const char *mode = opts ? ini_vars_get(opts, "mode") : NULL;
    struct jfilter *jf = jfilter_new_builtin(name, mode ? mode : "normal", err, errlen);
    if (!jf) return NULL;
    struct bimpl *b = xcalloc(1, sizeof *b);
    b->jf = jf;
    b->ctx.ref = now;
    struct filter *f = xcalloc(1, sizeof *f);
    f->ops = &bops;
    f->name = xstrdup(name);
    f->impl = b;
    return f;
}

struct filter *builtin_open_postfix(const struct ini_vars *opts, int64_t now, char *err, size_t errlen)
{
    return open_named("mailwarden-postfix", opts, now, err, errlen);
}

struct filter *builtin_open_dovecot(const struct ini_vars *opts, int64_t now, char *err, size_t errlen)
{
    return open_named("mailwarden-dovecot", opts, now, err, errlen);
}

struct filter *builtin_open_sshd(const struct ini_vars *opts, int64_t now, char *err, size_t errlen)
{
    return open_named("mailwarden-sshd", opts, now, err, errlen);
}
