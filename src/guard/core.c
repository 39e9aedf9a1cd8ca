/* core - see core.h. */
#include "guard/core.h"
#include "guard/prefix.h"
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
    struct pfxtab pfx;
    int64_t pfx_sweep_at;
};

#define NO_BANTIME INT64_MIN

struct core *core_new(const struct guard_conf *conf, const struct core_cb *cb, char *err, size_t errlen)
{
    struct core *c = xcalloc(1, sizeof *c);
    c->conf = conf;
    if (cb) c->cb = *cb;
    c->trk = tracker_new(conf->maxentries ? conf->maxentries : TRK_DEFAULT_CAP);
    bans_init(&c->bans, conf->maxbans);
    pfx_init(&c->pfx);
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
    pfx_free(&c->pfx);
    free(c);
}

size_t core_njails(const struct core *c) { return c->nj; }
struct gjail *core_jail(struct core *c, size_t i) { return i < c->nj ? &c->jails[i] : NULL; }
struct tracker *core_tracker(struct core *c) { return c->trk; }
struct bans *core_bans(struct core *c) { return &c->bans; }
uint64_t core_lines(const struct core *c) { return c->lines; }
size_t core_prefix_groups(const struct core *c) { return pfx_groups(&c->pfx); }

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

bool core_ignored_net(const struct gjail *j, const struct cidr *t)
{
    return j->c->ignore && cidrset_overlaps(j->c->ignore, t);
}

static unsigned host_len(const struct cidr *t) { return t->addr.family == 4 ? 32 : 128; }
static bool is_host(const struct cidr *t) { return t->prefix >= host_len(t); }

static struct cidr host_cidr(const struct ipaddr *ip)
{
    struct cidr t;
    memset(&t, 0, sizeof t);
    t.addr = *ip;
    t.prefix = ip->family == 4 ? 32 : 128;
    return t;
}

struct cidr core_fail_target(const struct gjail *j, const struct ipaddr *ip)
{
    struct cidr t = host_cidr(ip);
    if (ip->family == 6 && j->c->ipv6_prefix) {
        t.prefix = j->c->ipv6_prefix;
        ipaddr_mask(&t.addr, t.prefix);
    }
    return t;
}

/* ---- bookkeeping of every ban added or removed (wide bans, prefix groups) ---- */

static unsigned pfx_len(const struct gjail *j, const struct cidr *t)
{
    return t->addr.family == 4 ? j->c->pfx.len4 : j->c->pfx.len6;
}

/* Is t a member for prefix escalation in j (narrower than the jail's prefix length)? */
static bool pfx_member(const struct gjail *j, const struct cidr *t)
{
    return j->c->pfx.on && t->prefix > pfx_len(j, t);
}

static uint32_t *len_count(struct gjail *j, const struct cidr *t)
{
    if (t->addr.family == 4) return &j->nlen4[t->prefix <= 32 ? t->prefix : 32];
    return &j->nlen6[t->prefix <= 128 ? t->prefix : 128];
}

static void track_add(struct core *c, struct gjail *j, const struct ban *b, bool restore)
{
    if (!is_host(&b->target)) {
        j->nwide++;
        (*len_count(j, &b->target))++;
    }
    if (restore && pfx_member(j, &b->target))
        pfx_member_restore(&c->pfx, (uint16_t)j->id, &b->target, pfx_len(j, &b->target), j->c->pfx.count,
                           b->start, j->c->pfx.window);
}

static void track_del(struct core *c, struct gjail *j, const struct ban *b)
{
    if (!is_host(&b->target) && j->nwide) {
        j->nwide--;
        uint32_t *n = len_count(j, &b->target);
        if (*n) (*n)--;
    }
    if (pfx_member(j, &b->target)) pfx_member_end(&c->pfx, (uint16_t)j->id, &b->target, pfx_len(j, &b->target));
}

static void end_ban(struct core *c, struct gjail *j, struct ban *b, const char *how)
{
    if (c->cb.on_unban) c->cb.on_unban(c->cb.ud, j, b, how);
    track_del(c, j, b);
    bans_remove(&c->bans, b);
}

/* A ban of jail j on a network strictly containing t, if any (one lookup per shorter
 * prefix length that the jail has network bans of). */
static struct ban *covering(const struct core *c, const struct gjail *j, const struct cidr *t)
{
    if (!j->nwide) return NULL;
    const uint32_t *cnt = t->addr.family == 4 ? j->nlen4 : j->nlen6;
    for (int len = (int)t->prefix - 1; len >= 0; len--) {
        if (!cnt[len]) continue;
        struct cidr p = pfx_of(t, (unsigned)len);
        struct ban *b = bans_find(&c->bans, (uint16_t)j->id, &p);
        if (b) return b;
    }
    return NULL;
}

static bool inside(const struct cidr *net, const struct cidr *t)
{
    return t->addr.family == net->addr.family && t->prefix > net->prefix && cidr_contains(net, &t->addr);
}

/* The narrower bans of jail j inside network t end: the network's ban takes them over and
 * lasts at least as long as each (*bt grows; -1 when one of them is permanent). */
static void take_over(struct core *c, struct gjail *j, const struct cidr *t, int64_t now, int64_t *bt)
{
    struct cidr *v = NULL;
    size_t n = 0, cap = 0;
    if (j->c->pfx.on && t->prefix == pfx_len(j, t)) {
        v = pfx_active(&c->pfx, (uint16_t)j->id, t, &n);     /* owned here */
    } else {
        /* a network banned by hand: look at every ban of the jail (an admin's command) */
        size_t it = 0;
        struct ban *x;
        while ((x = bans_next(&c->bans, &it)))
            if (x->jail == (uint16_t)j->id && inside(t, &x->target)) {
                v = xgrow(v, &cap, n + 1, sizeof *v);
                v[n++] = x->target;
            }
    }
    for (size_t i = 0; i < n; i++) {
        struct ban *x = bans_find(&c->bans, (uint16_t)j->id, &v[i]);
        if (!x || !inside(t, &x->target)) continue;
        if (x->end == BAN_PERMANENT) *bt = -1;
        else if (*bt >= 0 && x->end - now > *bt) *bt = x->end - now;
        end_ban(c, j, x, "prefix");
    }
    free(v);
}

static const struct ban *do_ban(struct core *c, struct gjail *j, const struct cidr *t, int64_t now, uint32_t failures,
                                const struct cidr *members, size_t nmembers, int64_t bt_override);

/* Each recidive jail other than j counts this ban of t as a failure. */
static void recidive(struct core *c, struct gjail *j, const struct cidr *t, int64_t now)
{
    if (j->c->recidive) return;
    for (size_t i = 0; i < c->nj; i++) {
        struct gjail *r = &c->jails[i];
        if (!r->c->recidive || r == j || core_ignored_net(r, t)) continue;
        if (bans_find(&c->bans, (uint16_t)r->id, t) || covering(c, r, t)) continue;
        r->total_failed++;
        long n = c->cb.recent ? c->cb.recent(c->cb.ud, r, t, now - r->c->findtime) : -1;
        if (n < 0) n = (long)tracker_fail(c->trk, r->id, &t->addr, now, 1);
        if (n < (long)r->c->maxretry) continue;
        tracker_forget(c->trk, r->id, &t->addr);
        do_ban(c, r, t, now, (uint32_t)n, NULL, 0, NO_BANTIME);
    }
}

/* Ban t in j (after the checks of the callers). Returns the ban that now covers t (a
 * network's when t was taken over by an escalation), or NULL at the ban cap. */
static const struct ban *do_ban(struct core *c, struct gjail *j, const struct cidr *t, int64_t now, uint32_t failures,
                                const struct cidr *members, size_t nmembers, int64_t bt_override)
{
    struct ban *cov = covering(c, j, t);
    if (cov) return cov;
    long prev = c->cb.history ? c->cb.history(c->cb.ud, j, t, j->c->bt.overalljails) : 0;
    if (prev < 0) prev = 0;
    int64_t bt = bt_override != NO_BANTIME ? bt_override : bantime_calc(&j->c->bt, (uint32_t)prev, erand48(c->rnd));
    if (!is_host(t)) take_over(c, j, t, now, &bt);
    struct ban *b = bans_add(&c->bans, (uint16_t)j->id, t, now, bt, failures, (uint32_t)prev);
    if (!b) {
        msg_warn_rl("bans-cap", 5, "jail %s: %zu active bans (maxbans): no further ban until some end",
                    j->c->name, bans_count(&c->bans));
        return NULL;
    }
    if (nmembers) bans_set_members(b, members, nmembers);
    track_add(c, j, b, false);
    j->total_banned++;
    if (c->cb.on_ban) c->cb.on_ban(c->cb.ud, j, b);
    const struct ban *res = b;
    const struct cidr tt = b->target;           /* b may be taken over below */
    if (pfx_member(j, &tt)) {
        struct cidr mem[PFX_MAXNEED];
        unsigned plen = pfx_len(j, &tt);
        size_t n = pfx_member_ban(&c->pfx, (uint16_t)j->id, &tt, plen, j->c->pfx.count, now, j->c->pfx.window,
                                  mem, PFX_MAXNEED);
        if (n >= j->c->pfx.count) {
            struct cidr P = pfx_of(&tt, plen);
            char ps[IPADDR_STRLEN + 8];
            cidr_format(&P, ps, sizeof ps);
            if (core_ignored_net(j, &P)) {
                msg_warn_rl("prefix-ignored", 60, "jail %s: %s not banned as a network: it holds an ignored address",
                            j->c->name, ps);
            } else {
                pfx_reset_recent(&c->pfx, (uint16_t)j->id, &P);
                const struct ban *pb = do_ban(c, j, &P, now, (uint32_t)n, mem, n,
                                              j->c->pfx.bantime_set ? j->c->pfx.bantime : NO_BANTIME);
                res = pb;
            }
        }
    }
    recidive(c, j, &tt, now);
    return res;
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
    struct cidr target = core_fail_target(j, ip);
    if (bans_find(&c->bans, (uint16_t)j->id, &target)) return false;   /* already banned */
    if (covering(c, j, &target)) return false;                          /* its network is */
    j->total_failed += n ? n : 1;
    unsigned cnt = tracker_fail(c->trk, j->id, &target.addr, t, n);
    if (cnt < j->c->maxretry) return false;
    tracker_forget(c->trk, j->id, &target.addr);
    return do_ban(c, j, &target, now, cnt, NULL, 0, NO_BANTIME) != NULL;
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
        end_ban(c, j, b, "expired");
    }
    tracker_expire(c->trk, now);
    if (now >= c->pfx_sweep_at) {
        pfx_sweep(&c->pfx, now);
        c->pfx_sweep_at = now + 60;
    }
}

const struct ban *core_ban(struct core *c, struct gjail *j, const struct cidr *t, int64_t now, uint32_t failures)
{
    struct ban *old = bans_find(&c->bans, (uint16_t)j->id, t);
    if (old) return old;
    if (t->prefix == (t->addr.family == 4 ? 32 : 128)) tracker_forget(c->trk, j->id, &t->addr);
    return do_ban(c, j, t, now, failures, NULL, 0, NO_BANTIME);
}

void core_restore(struct core *c, struct gjail *j, const struct cidr *t, int64_t start, int64_t bantime,
                  uint32_t failures, uint32_t count, const struct cidr *members, size_t nmembers)
{
    struct ban *old = bans_find(&c->bans, (uint16_t)j->id, t);
    if (old) track_del(c, j, old);
    struct ban *b = bans_add(&c->bans, (uint16_t)j->id, t, start, bantime, failures, count);
    if (!b) {
        msg_warn_rl("bans-cap", 5, "jail %s: maxbans reached while restoring bans", j->c->name);
        return;
    }
    if (nmembers) bans_set_members(b, members, nmembers);
    track_add(c, j, b, true);
}

size_t core_unban(struct core *c, struct gjail *j, const struct cidr *t, const char *how)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nj; i++) {
        struct gjail *x = &c->jails[i];
        if (j && x != j) continue;
        struct ban *b = bans_find(&c->bans, (uint16_t)x->id, t);
        if (!b) continue;
        end_ban(c, x, b, how);
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
            if (core_ignored(j, &hits[h].ip)) {
                fprintf(out, "%s%s matched (%s) but is ignored (ignoreip/ignoreself)", h ? "; " : "", ip,
                        hits[h].rule ? hits[h].rule : "failregex");
            } else {
                struct cidr t = core_fail_target(j, &hits[h].ip);
                char net[IPADDR_STRLEN + 8] = "";
                if (t.prefix < 128 && t.addr.family == 6) cidr_format(&t, net, sizeof net);
                fprintf(out, "%scounts %u failure%s of %s%s%s (%s; bans after %u within %llds)", h ? "; " : "",
                        hits[h].n, hits[h].n == 1 ? "" : "s", ip, *net ? " for its network " : "", net,
                        hits[h].rule ? hits[h].rule : "failregex", j->c->maxretry, (long long)j->c->findtime);
            }
        }
        fputc('\n', out);
    }
}
