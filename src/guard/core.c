/* core - see core.h. */
#include "guard/core.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include "util/timeparse.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct core {
    const struct guard_conf *conf;
    struct gjail *jails;
    size_t nj;
    struct tracker *trk;
    struct bans bans;
    struct core_cb cb;
    struct syslog_ctx sctx;
    struct parse_opts popts;
    uint64_t lines;
    int64_t replay_now;
    unsigned short rnd[3];
};

struct core *core_new(const struct guard_conf *conf, const struct core_cb *cb, char *err, size_t errlen)
{
    struct core *c = xcalloc(1, sizeof *c);
    c->conf = conf;
    if (cb) c->cb = *cb;
    c->trk = tracker_new(conf->maxentries ? conf->maxentries : TRK_DEFAULT_CAP);
    bans_init(&c->bans, conf->maxbans);
    c->jails = xcalloc(conf->njails + 1, sizeof *c->jails);
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    memcpy(c->rnd, &seed, sizeof c->rnd);
    for (size_t i = 0; i < conf->njails; i++) {
        const struct jail_conf *jc = &conf->jails[i];
        struct gjail *j = &c->jails[i];
        j->c = jc;
        j->id = tracker_add_jail(c->trk, jc->maxretry, jc->findtime);
        char e2[512];
        if (jfilter_is_builtin(jc->filter))
            j->filter = jfilter_new_builtin(jc->filter, jc->filter_mode, e2, sizeof e2);
        else
            j->filter = jfilter_new_f2b(conf->f2bdir ? conf->f2bdir : conf->dir, jc->filter_spec, e2, sizeof e2);
        if (!j->filter) {
            snprintf(err, errlen, "[%s] filter %s: %s", jc->name, jc->filter_spec, e2);
            c->nj = i;
            core_free(c);
            return NULL;
        }
        c->nj = i + 1;
    }
    return c;
}

void core_free(struct core *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nj; i++) jfilter_free(c->jails[i].filter);
    free(c->jails);
    tracker_free(c->trk);
    bans_free(&c->bans);
    free(c);
}

size_t core_njails(const struct core *c) { return c->nj; }
struct gjail *core_jail(struct core *c, size_t i) { return i < c->nj ? &c->jails[i] : NULL; }
struct tracker *core_tracker(struct core *c) { return c->trk; }
struct bans *core_bans(struct core *c) { return &c->bans; }
uint64_t core_lines(const struct core *c) { return c->lines; }

struct gjail *core_jail_by_name(struct core *c, const char *name)
{
    for (size_t i = 0; i < c->nj; i++)
        if (!strcmp(c->jails[i].c->name, name)) return &c->jails[i];
    return NULL;
}

bool core_ignored(const struct gjail *j, const struct ipaddr *ip)
{
    return j->c->ignore && cidrset_contains(j->c->ignore, ip);
}

static struct cidr host_cidr(const struct ipaddr *ip)
{
    struct cidr t;
    memset(&t, 0, sizeof t);
    t.addr = *ip;
    t.prefix = ip->family == 4 ? 32 : 128;
    return t;
}

static const struct ban *do_ban(struct core *c, struct gjail *j, const struct cidr *t, int64_t now, uint32_t failures)
{
    long prev = c->cb.history ? c->cb.history(c->cb.ud, j, t, j->c->bt.overalljails) : 0;
    if (prev < 0) prev = 0;
    int64_t bt = bantime_calc(&j->c->bt, (uint32_t)prev, erand48(c->rnd));
    struct ban *b = bans_add(&c->bans, (uint16_t)j->id, t, now, bt, failures, (uint32_t)prev);
    if (!b) {
        msg_warn_rl("bans-cap", 5, "jail %s: %zu active bans (maxbans): no further ban until some end",
                    j->c->name, bans_count(&c->bans));
        return NULL;
    }
    j->total_banned++;
    if (c->cb.on_ban) c->cb.on_ban(c->cb.ud, j, b);
    return b;
}

bool core_failure(struct core *c, struct gjail *j, const struct ipaddr *ip, int64_t t, unsigned n, int64_t now)
{
    if (!ip->family) return false;
    if (core_ignored(j, ip)) {
        j->total_ignored++;
        return false;
    }
    if (t <= 0 || t > now + 86400) t = now;
    if (t < now - j->c->findtime) return false;
    struct cidr host = host_cidr(ip);
    if (bans_find(&c->bans, (uint16_t)j->id, &host)) return false;   /* already banned */
    j->total_failed += n ? n : 1;
    unsigned cnt = tracker_fail(c->trk, j->id, ip, t, n);
    if (cnt < j->c->maxretry) return false;
    tracker_forget(c->trk, j->id, ip);
    return do_ban(c, j, &host, now, cnt) != NULL;
}

static void feed_event(struct core *c, const int *jails, size_t njails, const struct event *ev,
                       struct str line, int64_t now);

/* The reference time of the jails' filters for the lines that follow. */
static void set_ref(struct core *c, int64_t ref)
{
    for (size_t i = 0; i < c->nj; i++) {
        struct jfilter *f = c->jails[i].filter;
        if (f->ops->set_ref) f->ops->set_ref(f->st, ref);
    }
}

void core_line(struct core *c, const int *jails, size_t njails, struct str line, int64_t now)
{
    struct event ev;
    c->sctx.ref = now;
    set_ref(c, now);
    parse_line(&c->sctx, &c->popts, line, &ev);
    feed_event(c, jails, njails, &ev, line, now);
}

void core_line_replay(struct core *c, const int *jails, size_t njails, struct str line, int64_t ref)
{
    struct event ev;
    c->sctx.ref = ref;
    set_ref(c, ref);
    parse_line(&c->sctx, &c->popts, line, &ev);
    if (ev.kind != EV_UNPARSED && ev.h.t > 0) c->replay_now = ev.h.t;
    core_expire(c, c->replay_now);
    feed_event(c, jails, njails, &ev, line, c->replay_now);
}

static void feed_event(struct core *c, const int *jails, size_t njails, const struct event *evp,
                       struct str line, int64_t now)
{
    const struct event ev = *evp;
    c->lines++;
    if ((ev.kind == EV_UNPARSED || ev.kind == EV_OTHER) && c->cb.on_unparsed)
        c->cb.on_unparsed(c->cb.ud, ev.kind == EV_UNPARSED ? (struct str){ "", 0 } : ev.h.prog);
    size_t n = jails ? njails : c->nj;
    for (size_t k = 0; k < n; k++) {
        size_t ji = jails ? (size_t)jails[k] : k;
        if (ji >= c->nj) continue;
        struct gjail *j = &c->jails[ji];
        j->lines++;
        struct jfilter_hit hits[JFILTER_MAXHITS];
        size_t nh = j->filter->ops->match(j->filter->st, &ev, line, hits, JFILTER_MAXHITS, NULL);
        for (size_t h = 0; h < nh; h++) {
            int64_t t = hits[h].t ? hits[h].t : ev.h.t;
            core_failure(c, j, &hits[h].ip, t, hits[h].n, now);
        }
    }
}

void core_expire(struct core *c, int64_t now)
{
    struct ban *b;
    while ((b = bans_due(&c->bans, now))) {
        struct gjail *j = &c->jails[b->jail < c->nj ? b->jail : 0];
        if (c->cb.on_unban) c->cb.on_unban(c->cb.ud, j, b, "expired");
        bans_remove(&c->bans, b);
    }
    tracker_expire(c->trk, now);
}

const struct ban *core_ban(struct core *c, struct gjail *j, const struct cidr *t, int64_t now, uint32_t failures)
{
    struct ban *old = bans_find(&c->bans, (uint16_t)j->id, t);
    if (old) return old;
    if (t->prefix == (t->addr.family == 4 ? 32 : 128)) tracker_forget(c->trk, j->id, &t->addr);
    return do_ban(c, j, t, now, failures);
}

void core_restore(struct core *c, struct gjail *j, const struct cidr *t, int64_t start, int64_t bantime,
                  uint32_t failures, uint32_t count)
{
    if (!bans_add(&c->bans, (uint16_t)j->id, t, start, bantime, failures, count))
        msg_warn_rl("bans-cap", 5, "jail %s: maxbans reached while restoring bans", j->c->name);
}

size_t core_unban(struct core *c, struct gjail *j, const struct cidr *t, const char *how)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nj; i++) {
        struct gjail *x = &c->jails[i];
        if (j && x != j) continue;
        struct ban *b = bans_find(&c->bans, (uint16_t)x->id, t);
        if (!b) continue;
        if (c->cb.on_unban) c->cb.on_unban(c->cb.ud, x, b, how);
        bans_remove(&c->bans, b);
        n++;
    }
    return n;
}

void core_explain(struct core *c, struct str line, int64_t now, FILE *out)
{
    struct event ev;
    c->sctx.ref = now;
    set_ref(c, now);
    parse_line(&c->sctx, &c->popts, line, &ev);
    static const char *const srcs[] = { "none", "postfix", "dovecot", "sshd", "other" };
    if (ev.kind == EV_UNPARSED) {
        fputs("parser: no syslog envelope (time host program[pid]: message); the built-in filters see nothing\n", out);
    } else {
        char ts[64];
        mwtime_rfc3339(ev.h.t, -1, ts, sizeof ts);
        fprintf(out, "envelope: time %s, host %.*s, program %.*s, pid %ld\n", ts, STR_FMT(ev.h.host),
                STR_FMT(ev.h.prog), ev.h.pid);
        fprintf(out, "parser: %s, event %s\n", srcs[ev.src <= SRC_OTHER ? ev.src : 0], ev_kind_name(ev.kind));
        if (ev.service.len) fprintf(out, "  service: %.*s\n", STR_FMT(ev.service));
        if (ev.instance.len) fprintf(out, "  instance: %.*s\n", STR_FMT(ev.instance));
        if (ev.qid.len) fprintf(out, "  queue id: %.*s\n", STR_FMT(ev.qid));
        if (ev.client.family) {
            char ip[IPADDR_STRLEN];
            ipaddr_format(&ev.client, ip, sizeof ip);
            fprintf(out, "  host: %s (from its structural slot)\n", ip);
        } else {
            fputs("  host: none\n", out);
        }
        if (ev.client_name.len) fprintf(out, "  client name: %.*s\n", STR_FMT(ev.client_name));
        if (ev.user.len) {
            fputs("  user: ", out);
            for (size_t i = 0; i < ev.user.len && i < 200; i++) {
                unsigned char ch = (unsigned char)ev.user.p[i];
                if (ch < 0x20 || ch == 0x7f) fprintf(out, "\\x%02x", ch); else fputc(ch, out);
            }
            fputs(" (attacker-controlled text)\n", out);
        }
        if (ev.attempts) fprintf(out, "  attempts: %u\n", ev.attempts);
        if (ev.stage.len) fprintf(out, "  stage: %.*s\n", STR_FMT(ev.stage));
        if (ev.session.len) fprintf(out, "  session: %.*s\n", STR_FMT(ev.session));
    }
    if (!c->nj) fputs("no jail is enabled\n", out);
    for (size_t i = 0; i < c->nj; i++) {
        struct gjail *j = &c->jails[i];
        struct jfilter_hit hits[JFILTER_MAXHITS];
        const char *why = NULL;
        size_t nh = j->filter->ops->match(j->filter->st, &ev, line, hits, JFILTER_MAXHITS, &why);
        fprintf(out, "jail %s (filter %s): ", j->c->name, j->filter->name);
        if (!nh) {
            fprintf(out, "not counted: %s\n", why ? why : "the filter does not match this line");
            continue;
        }
        for (size_t h = 0; h < nh; h++) {
            char ip[IPADDR_STRLEN];
            ipaddr_format(&hits[h].ip, ip, sizeof ip);
            if (core_ignored(j, &hits[h].ip))
                fprintf(out, "%s%s matched (%s) but is ignored (ignoreip/ignoreself)", h ? "; " : "", ip,
                        hits[h].rule ? hits[h].rule : "failregex");
            else
                fprintf(out, "%scounts %u failure%s of %s (%s; bans after %u within %llds)", h ? "; " : "",
                        hits[h].n, hits[h].n == 1 ? "" : "s", ip, hits[h].rule ? hits[h].rule : "failregex",
                        j->c->maxretry, (long long)j->c->findtime);
        }
        fputc('\n', out);
    }
}
