/*
 * summary - the consumer of `mailwarden summary` (see summary.h for the counting rules).
 *
 * Parallel counting: each chunk of the input gets a struct chunk with its own figures
 * (struct sm_stats) and a local queue-ID table. A line whose effect depends only on the
 * chunk (or on nothing) is counted at once. A line whose effect depends on earlier lines of
 * the same queue ID that may lie in an earlier chunk (the qmgr "from=, size=" line needs to
 * know whether a client= line was seen and whether a size was already recorded; a delivered
 * line needs the size; a deferral needs to know whether the message was already counted as
 * deferred; "removed" ends the message) becomes a pending record when the chunk has not
 * seen that queue ID start. merge() replays the pending records in order against the global
 * queue-ID table, then lays the chunk's surviving queue IDs over it, then adds the figures.
 * smtpd connect/disconnect pairs (--smtpd-stats) are handled the same way. The result is
 * exactly what one pass over the whole input in order gives.
 */
#include "report/summary_int.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define WORKBUF 140000        /* two lines of READER_MAX_LINE plus slack */
#define QID_SWEEP_AGE (7 * 86400)
#define CONN_SWEEP_AGE 86400

/* qstate flags */
enum {
    Q_RCVD = 1,       /* client=/pickup seen, sender not counted yet (pflogsumm's %rcvdMsg) */
    Q_SIZE = 2,       /* a non-zero size is known (pflogsumm's %msgSizes true) */
    Q_DEFER = 4,      /* counted as deferred (pflogsumm's %msgDfrdFlgs) */
    Q_START = 8,      /* chunk: the queue ID started (or ended) in this chunk: global ignored */
    Q_REINJ = 16,     /* re-injected by a content filter: not received again */
    Q_RCOUNT = 32,    /* its client= line was counted as received (rhour/rday valid) */
    Q_SCOUNT = 64,    /* its sender was counted (sender/sdom/size valid) */
};

struct qstate {
    uint8_t flags;
    int8_t rhour;
    int32_t rday;
    int64_t size, t;
    struct str rdom;          /* pflogsumm's $rcvdMsg{$qid}: client domain or "pickup" */
    struct str sender, sdom;  /* counted sender, for undoing a re-injection */
    struct str rhost;         /* syslog host of the client= line (--by-host) */
};

struct openconn { int64_t t; uint8_t open; };

enum ptype { P_FROM, P_SENT, P_DEFER, P_REMOVED, P_DISC, P_REINJ };
struct pend {
    uint8_t type;
    int8_t hour;
    int32_t day;
    int64_t t, size;
    struct str key, a, b, host;   /* qid (or conn key); address; domain; syslog host */
};

struct chunk {
    const struct summary *s;
    struct sm_stats st;
    struct hmap q;            /* qid -> struct qstate */
    struct hmap conn;         /* conn key -> struct openconn */
    struct hmap intern;
    struct arena ar;
    struct pend *p;
    size_t np, capp;
    /* time cache */
    int64_t hs;
    int hour;
    int32_t day;
    struct sm_day *dayrow;
    char *w1, *w2;            /* scratch */
    /* the last "client=" value and what was derived from it (values repeat, above all
     * the content filter's localhost[127.0.0.1]) */
    char clbuf[256];
    size_t cllen;             /* 0: none cached */
    struct str clrdom;        /* interned client domain */
    int8_t cllb;              /* loopback client: -1 not known yet, else 0/1 */
};

/* ---------------------------------------------------------------- stats */

void sm_stats_init(struct sm_stats *s, struct arena *ar)
{
    memset(s, 0, sizeof *s);
    hmap_init_arena(&s->days, sizeof(struct sm_day), ar);
    hmap_init_arena(&s->recip_dom, sizeof(struct sm_rdom), ar);
    hmap_init_arena(&s->sendg_dom, sizeof(struct sm_ucnt), ar);
    hmap_init_arena(&s->recip_user, sizeof(struct sm_ucnt), ar);
    hmap_init_arena(&s->sendg_user, sizeof(struct sm_ucnt), ar);
    hmap_init_arena(&s->smtpd_dom, sizeof(struct sm_conn), ar);
    hmap_init_arena(&s->hosts, sizeof(struct sm_host), ar);
    hmap_init_arena(&s->nosize, sizeof(struct sm_nosize), ar);
    for (int i = 0; i < NT_MAX; i++) hmap_init_arena(&s->t[i], sizeof(int64_t), ar);
}

/* Apply f to every map of s. */
static void stats_maps(struct sm_stats *s, void (*f)(struct hmap *))
{
    struct hmap *fixed[] = { &s->days, &s->recip_dom, &s->sendg_dom, &s->recip_user, &s->sendg_user,
                             &s->smtpd_dom, &s->hosts, &s->nosize };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) f(fixed[i]);
    for (int i = 0; i < NT_MAX; i++) f(&s->t[i]);
}

void sm_stats_free(struct sm_stats *s) { stats_maps(s, hmap_free); }

void sm_stats_clear(struct sm_stats *s)
{
    memset(s, 0, offsetof(struct sm_stats, days));
    stats_maps(s, hmap_clear);
    s->overflow = 0;
}

/* A map entry, or NULL when the map is full (counted in overflow). */
static inline void *cap_put(struct sm_stats *st, struct hmap *m, struct str key)
{
    if (hmap_count(m) >= SM_TABLE_MAX) {
        void *v = hmap_get(m, key);
        if (v) return v;
        st->overflow++;
        return hmap_put(m, STR_LIT("(other)"), NULL);
    }
    return hmap_put(m, key, NULL);
}

static void tadd(struct sm_stats *st, enum sm_table t, struct str key, int64_t n)
{
    if (key.len > 1024) key.len = 1024;
    int64_t *v = cap_put(st, &st->t[t], key);
    *v += n;
}

/* nested key a SEP b [SEP c] into buf */
static struct str join3(char *buf, size_t cap, struct str a, struct str b, struct str c, int n)
{
    size_t o = 0;
    struct str parts[3] = { a, b, c };
    for (int i = 0; i < n; i++) {
        if (i) buf[o++] = SM_SEP;
        size_t l = parts[i].len;
        if (l > 1000) l = 1000;
        if (o + l + 1 > cap) l = cap - o - 1;
        sm_copy(buf + o, parts[i].p, l);
        o += l;
    }
    return (struct str){ buf, o };
}

static void tadd2(struct sm_stats *st, enum sm_table t, struct str a, struct str b, int64_t n)
{
    char k[2100];
    tadd(st, t, join3(k, sizeof k, a, b, STR_NULL, 2), n);
}

static void tadd3(struct sm_stats *st, enum sm_table t, struct str a, struct str b, struct str c)
{
    char k[3200];
    tadd(st, t, join3(k, sizeof k, a, b, c, 3), 1);
}

static struct str intern(struct hmap *m, struct arena *ar, struct str s)
{
    bool isnew;
    struct str *v = hmap_put(m, s, &isnew);
    if (isnew) *v = arena_str(ar, s);
    return *v;
}

/* ---------------------------------------------------------------- chunk */

static void *chunk_new(void *global)
{
    struct summary *s = global;
    struct chunk *c = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool) c = s->pool[--s->npool];
    pthread_mutex_unlock(&s->pool_mu);
    if (c) return c;                  /* emptied by chunk_free() */
    c = xcalloc(1, sizeof *c);
    c->s = s;
    /* the chunk's maps die with it: their nodes come from its arena */
    sm_stats_init(&c->st, &c->ar);
    hmap_init_arena(&c->q, sizeof(struct qstate), &c->ar);
    hmap_init_arena(&c->conn, sizeof(struct openconn), &c->ar);
    hmap_init_arena(&c->intern, sizeof(struct str), &c->ar);
    c->hs = INT64_MIN;
    c->w1 = xmalloc(WORKBUF);
    c->w2 = xmalloc(WORKBUF);
    return c;
}

static void chunk_destroy(struct chunk *c)
{
    sm_stats_free(&c->st);
    hmap_free(&c->q);
    hmap_free(&c->conn);
    hmap_free(&c->intern);
    arena_free(&c->ar);
    free(c->p);
    free(c->w1);
    free(c->w2);
    free(c);
}

/* A merged chunk: emptied into the pool (or freed when the pool is full). Its tables keep
 * their size, so the next chunk neither rehashes nor page-faults refilling them. */
static void chunk_free(struct summary *s, struct chunk *c)
{
    sm_stats_clear(&c->st);
    hmap_clear(&c->q);
    hmap_clear(&c->conn);
    hmap_clear(&c->intern);
    arena_clear(&c->ar);
    c->np = 0;
    c->hs = INT64_MIN;
    c->dayrow = NULL;
    c->cllen = 0;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool < (int)(sizeof s->pool / sizeof s->pool[0])) {
        s->pool[s->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (c) chunk_destroy(c);
}

static struct pend *pend_add(struct chunk *c, enum ptype type, struct str key)
{
    c->p = xgrow(c->p, &c->capp, c->np + 1, sizeof *c->p);
    struct pend *p = &c->p[c->np++];
    memset(p, 0, sizeof *p);
    p->type = (uint8_t)type;
    p->key = intern(&c->intern, &c->ar, key);
    p->hour = (int8_t)c->hour;
    p->day = c->day;
    return p;
}

static struct sm_day *day_get(struct hmap *m, int32_t day)
{
    return hmap_put(m, (struct str){ (const char *)&day, sizeof day }, NULL);
}

/* local hour and date of t, cached per hour */
static void set_time(struct chunk *c, int64_t t)
{
    if (t >= c->hs && t < c->hs + 3600) return;
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    c->hour = tm.tm_hour;
    c->day = (int32_t)((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
    c->hs = t - tm.tm_min * 60 - tm.tm_sec;
    c->dayrow = day_get(&c->st.days, c->day);
}

static void col_add(struct chunk *c, int col, struct str host)
{
    c->st.hour[c->hour][col]++;
    c->dayrow->v[col]++;
    if (c->s->o.by_host) {
        struct sm_host *h = cap_put(&c->st, &c->st.hosts, host);
        h->v[col]++;
    }
}

/* Bytes of s before the first c (all of s when there is none). */
static inline size_t span_to(struct str s, char c)
{
    size_t i = 0;
#ifdef __SSE2__
    /* inline: the spans are short (field values), where a memchr call costs more */
    const __m128i v = _mm_set1_epi8(c);
    for (; i + 16 <= s.len; i += 16) {
        unsigned mk = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s.p + i)), v));
        if (mk) return i + (unsigned)__builtin_ctz(mk);
    }
#endif
    for (; i < s.len; i++)
        if (s.p[i] == c) return i;
    return s.len;
}

/* [:\s] and \w as byte tables (these loops run over every Postfix line) */
static const bool tok_stop[256] = { [':'] = 1, [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1, ['\f'] = 1, ['\v'] = 1 };
#define W10(c) [c] = 1, [c + 1] = 1, [c + 2] = 1, [c + 3] = 1, [c + 4] = 1, [c + 5] = 1, [c + 6] = 1, [c + 7] = 1, [c + 8] = 1, [c + 9] = 1
#define W6(c) [c] = 1, [c + 1] = 1, [c + 2] = 1, [c + 3] = 1, [c + 4] = 1, [c + 5] = 1
static const bool word_ch[256] = { W10('0'), W10('A'), W10('K'), W6('U'), W10('a'), W10('k'), W6('u'), ['_'] = 1 };
#undef W10
#undef W6

/* The end of the [^:\s]+ run from e on (the first byte of tok_stop: ':', ' ', \t..\r). */
static inline size_t tok_end(struct str m, size_t e)
{
#ifdef __SSE2__
    const __m128i colon = _mm_set1_epi8(':'), sp = _mm_set1_epi8(' '), ht = _mm_set1_epi8('\t'),
                  four = _mm_set1_epi8(4);
    for (; e + 16 <= m.len; e += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(m.p + e));
        __m128i d = _mm_sub_epi8(x, ht);                          /* \t..\r -> 0..4 */
        __m128i ws = _mm_cmpeq_epi8(_mm_min_epu8(d, four), d);    /* d <= 4 (unsigned) */
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, colon), _mm_cmpeq_epi8(x, sp)), ws);
        unsigned mk = (unsigned)_mm_movemask_epi8(hit);
        if (mk) return e + (unsigned)__builtin_ctz(mk);
    }
#endif
    while (e < m.len && !tok_stop[(unsigned char)m.p[e]]) e++;
    return e;
}

/* pflogsumm's program match: "postfix|NAME[/smtps|/submission]/CMD" or "postfix[-script]" */
static bool pfs_cmd(const struct summary *s, const struct event *ev, struct str *cmd, struct str *tok)
{
    struct str prog = ev->h.prog, rest;
    bool alt2 = false;
    if (str_startswith(prog, "postfix/")) {
        rest = str_from(prog, 8);
    } else if (s->o.syslog_name.len && prog.len > s->o.syslog_name.len &&
               memcmp(prog.p, s->o.syslog_name.p, s->o.syslog_name.len) == 0 &&
               prog.p[s->o.syslog_name.len] == '/') {
        rest = str_from(prog, s->o.syslog_name.len + 1);
    } else if (str_eqc(prog, "postfix") || str_eqc(prog, "postfix-script")) {
        rest = prog;
        alt2 = true;
    } else {
        return false;
    }
    if (!alt2) {
        if (str_startswith(rest, "smtps/")) rest = str_from(rest, 6);
        else if (str_startswith(rest, "submission/")) rest = str_from(rest, 11);
    }
    *cmd = rest;
    /* the first [^:\s]+ after ": " */
    struct str m = ev->h.msg;
    size_t p = 0;
    for (;;) {
        size_t e = tok_end(m, p);
        if (e > p) { *tok = str_sub(m, p, e - p); return true; }
        if (alt2) return false;
        ptrdiff_t n = str_findc(str_from(m, p), ": ");
        if (n < 0) return false;
        p += (size_t)n + 2;
    }
}

static bool all_word(struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!word_ch[(unsigned char)s.p[i]]) return false;
    return s.len > 0;
}

/* Does s hold a byte in 'A'..'Z'? Eight bytes per step (Bit Twiddling Hacks' hasbetween:
 * exact for bytes < 0x80; a byte >= 0x80 is never flagged, as it must not be). */
static bool has_upper(struct str s)
{
    const uint64_t ones = ~(uint64_t)0 / 255, c127 = ones * 127, hi = ones * 128;
    size_t i = 0;
    for (; i + 8 <= s.len; i += 8) {
        uint64_t x;
        memcpy(&x, s.p + i, 8);
        if (((ones * (127 + 'Z' + 1) - (x & c127)) & ~x & ((x & c127) + ones * (127 - ('A' - 1))) & hi)) return true;
    }
    for (; i < s.len; i++)
        if (s.p[i] >= 'A' && s.p[i] <= 'Z') return true;
    return false;
}

/* s/(@.+)/\L$1/ (or lc() with --ignore-case) into out */
static struct str addr_norm(const struct summary *s, struct str a, char *out)
{
    if (a.len > 4096) a.len = 4096;
    ptrdiff_t at = s->o.ignore_case ? 0 : str_chr(a, '@');
    if (at < 0 || (!s->o.ignore_case && (size_t)at + 1 >= a.len)) return a;
    if (!has_upper(str_from(a, (size_t)at))) return a;     /* nothing to lower-case: no copy */
    for (size_t i = 0; i < a.len; i++) {
        char ch = a.p[i];
        out[i] = ((size_t)at <= i && ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    return (struct str){ out, a.len };
}

/* (my $domAddr = $addr) =~ s/^[^@]+\@// */
static struct str rcpt_domain(struct str a)
{
    ptrdiff_t at = str_chr(a, '@');
    if (at > 0) return str_from(a, (size_t)at + 1);
    return a;
}

/* fixed-point microseconds of a delay value (Perl numeric conversion of "0.41") */
static int64_t delay_us(struct str d)
{
    int64_t v = 0;
    size_t i = 0;
    while (i < d.len && d.p[i] >= '0' && d.p[i] <= '9' && v < 1000000000000LL) v = v * 10 + (d.p[i++] - '0');
    v *= 1000000;
    if (i < d.len && d.p[i] == '.') {
        int64_t f = 100000;
        for (i++; i < d.len && d.p[i] >= '0' && d.p[i] <= '9' && f; i++, f /= 10) v += (d.p[i] - '0') * f;
    }
    return v;
}

/* ---- the qmgr "from=<>, size=N" line ---- */

/* in: the intern map for remembered strings (global state), NULL in a chunk */
static void count_sender(const struct summary *s, struct sm_stats *st, struct qstate *qs, struct str addr,
                         int64_t size, struct arena *ar, struct hmap *in)
{
    /* domain of the address, else the client's */
    struct str dom;
    ptrdiff_t at = str_chr(addr, '@');
    if (at > 0 && (size_t)at + 1 < addr.len) dom = str_from(addr, (size_t)at + 1);
    else dom = str_eqc(qs->rdom, "pickup") ? addr : qs->rdom;
    struct sm_ucnt *d = cap_put(st, &st->sendg_dom, dom);
    d->cnt++;
    d->size += size;
    struct sm_ucnt *u = cap_put(st, &st->sendg_user, addr);
    u->cnt++;
    u->size += size;
    st->size_rcvd += size;
    qs->flags &= (uint8_t)~Q_RCVD;
    if (qs->flags & Q_RCOUNT) {
        /* a message received from a client that may turn out to be a content filter:
         * remember what was counted so that a later "queued as" can undo it */
        if (in) {
            qs->sender = intern(in, ar, addr);
            qs->sdom = intern(in, ar, dom);
        } else {
            /* a chunk: plain arena copies (merge interns what survives the chunk) */
            qs->sender = arena_str(ar, addr);
            if (dom.len && dom.p >= addr.p && dom.p + dom.len <= addr.p + addr.len)
                qs->sdom = (struct str){ qs->sender.p + (dom.p - addr.p), dom.len };
            else
                qs->sdom = arena_str(ar, dom);
        }
        qs->flags |= Q_SCOUNT;
    }
    (void)s;
}

/* Undo the counting of a re-injected message (summary.h: content filter). */
static void undo_received(struct sm_stats *st, struct qstate *qs)
{
    if (qs->flags & Q_REINJ) return;
    qs->flags |= Q_REINJ;
    st->reinjected++;
    if (qs->flags & Q_RCOUNT) {
        st->rcvd--;
        st->hour[qs->rhour][COL_RCVD]--;
        day_get(&st->days, qs->rday)->v[COL_RCVD]--;
        if (qs->rhost.len) {
            struct sm_host *h = hmap_get(&st->hosts, qs->rhost);
            if (h) h->v[COL_RCVD]--;
        }
    }
    if (qs->flags & Q_SCOUNT) {
        struct sm_ucnt *d = cap_put(st, &st->sendg_dom, qs->sdom);
        d->cnt--;
        d->size -= qs->size;
        struct sm_ucnt *u = cap_put(st, &st->sendg_user, qs->sender);
        u->cnt--;
        u->size -= qs->size;
        st->size_rcvd -= qs->size;
    }
    qs->flags &= (uint8_t)~(Q_RCVD | Q_RCOUNT | Q_SCOUNT);
}

static bool is_loopback(const struct ipaddr *a)
{
    if (a->family == 4) return a->b[0] == 127;
    if (a->family == 6) {
        for (int i = 0; i < 15; i++) if (a->b[i]) return false;
        return a->b[15] == 1;
    }
    return false;
}

/* A cheap necessary condition for "pf_name_addr(s) names a loopback address": the address
 * pf_name_addr reads lies within the first 322 bytes and before the first ']'; an IPv4
 * loopback address is written "127." (no leading zeros), anything else needs a ':'. */
static bool may_be_loopback(struct str s)
{
    if (s.len > 322) s.len = 322;
    s.len = span_to(s, ']');
    return memchr(s.p, ':', s.len) || str_findc(s, "127.") >= 0;
}

/* ---- per-line work ---- */

static bool feed_from(struct chunk *c, const struct event *ev, struct str qid, struct str m, size_t off)
{
    /* from=<([^>]*)>, size=(\d+) : the first "from=<" with that shape (from off on: the
     * queue ID token before it cannot hold one) */
    struct str addr = STR_NULL;
    int64_t size = -1;
    for (;;) {
        ptrdiff_t p = str_startswith(str_from(m, off), "from=<") ? 0 : str_findc(str_from(m, off), "from=<");
        if (p < 0) return false;
        size_t a = off + (size_t)p + 6, e = a;
        e = a + span_to(str_from(m, a), '>');
        off = a;
        if (e >= m.len || !str_startswith(str_from(m, e), ">, size=")) continue;
        uint64_t v;
        size_t n = str_lead_u64(str_from(m, e + 8), &v);
        if (!n) continue;
        addr = str_sub(m, a, e - a);
        size = (int64_t)v;
        break;
    }
    const struct summary *s = c->s;
    struct str na = addr.len ? addr_norm(s, addr, c->w1) : STR_LIT("from=<>");
    bool isnew;
    struct qstate *qs = hmap_put(&c->q, qid, &isnew);
    qs->t = ev->h.t;
    if (qs->flags & Q_SIZE) return true;                  /* next if $msgSizes{$qid} */
    if (qs->flags & Q_START) {
        if (size > 0) { qs->flags |= Q_SIZE; qs->size = size; }
        if ((qs->flags & Q_RCVD) && !(qs->flags & Q_REINJ))
            count_sender(s, &c->st, qs, na, size, &c->ar, NULL);
        qs->flags &= (uint8_t)~Q_RCVD;
        return true;
    }
    struct pend *p = pend_add(c, P_FROM, qid);
    p->a = intern(&c->intern, &c->ar, na);
    p->size = size;
    p->t = ev->h.t;
    if (size > 0) { qs->flags |= Q_SIZE; qs->size = size; }
    return true;
}

static bool feed_delivery(struct chunk *c, const struct event *ev, struct str cmd, struct str qid,
                          struct str m, size_t off)
{
    /* to=<([^>]*)>, (?:orig_to=<[^>]*>, )?relay=([^,]+), (?:conn_use=[^,]+, )?delay=([^,]+),
     * (?:delays=[^,]+, )?(?:dsn=[^,]+, )?status=(\S+)(.*)$ */
    struct str addr, relay, delay, status, rest;
    for (;;) {
        ptrdiff_t p = str_startswith(str_from(m, off), "to=<") ? 0 : str_findc(str_from(m, off), "to=<");
        if (p < 0) return false;
        size_t i = off + (size_t)p + 4, e = i;
        off = i;
        e = i + span_to(str_from(m, i), '>');
        if (e >= m.len || !str_startswith(str_from(m, e), ">, ")) continue;
        addr = str_sub(m, i, e - i);
        i = e + 3;
        if (str_startswith(str_from(m, i), "orig_to=<")) {
            size_t k = i + 9;
            k += span_to(str_from(m, k), '>');
            if (str_startswith(str_from(m, k), ">, ")) i = k + 3;
        }
#define FIELD(name, out, opt) do { \
            if (str_startswith(str_from(m, i), name)) { \
                size_t a_ = i + strlen(name), k_ = a_ + span_to(str_from(m, a_), ','); \
                if (k_ > a_ && str_startswith(str_from(m, k_), ", ")) { out = str_sub(m, a_, k_ - a_); i = k_ + 2; } \
                else if (!(opt)) goto next; \
            } else if (!(opt)) goto next; \
        } while (0)
        struct str dummy;
        FIELD("relay=", relay, false);
        FIELD("conn_use=", dummy, true);
        FIELD("delay=", delay, false);
        FIELD("delays=", dummy, true);
        FIELD("dsn=", dummy, true);
#undef FIELD
        (void)dummy;
        if (!str_startswith(str_from(m, i), "status=")) goto next;
        {
            size_t a = i + 7, k = a;
            while (k < m.len && m.p[k] != ' ' && m.p[k] != '\t') k++;
            if (k == a) goto next;
            status = str_sub(m, a, k - a);
            rest = str_from(m, k);
        }
        break;
    next:
        continue;
    }
    const struct summary *s = c->s;
    struct str na = addr_norm(s, addr, c->w1);
    struct str relay_raw = relay;
    char rl[1024];
    if (s->o.ignore_case) {
        size_t n = relay.len < sizeof rl ? relay.len : sizeof rl;
        for (size_t k = 0; k < n; k++) rl[k] = (relay.p[k] >= 'A' && relay.p[k] <= 'Z') ? (char)(relay.p[k] + 32) : relay.p[k];
        relay = (struct str){ rl, n };
    }
    struct str dom = rcpt_domain(na);
    int64_t dly = delay_us(delay);
    if (str_eqc(status, "sent")) {
        /* "forwarded as " (pflogsumm: forwarded) and "queued as " (a content filter hop)
         * both end in "ed as ": one search for the two */
        ptrdiff_t ea = str_findc(rest, "ed as ");
        if (ea >= 0 && str_findc(rest, "forwarded as ") >= 0) { c->st.fwdd++; return true; }
        ptrdiff_t qa = ea >= 0 ? str_findc(rest, "queued as ") : -1;
        if (qa >= 0) {
            struct str rn;
            struct ipaddr ra;
            size_t used;
            if (pf_name_addr(relay_raw, &rn, &ra, &used) && is_loopback(&ra)) {
                struct str nq = str_from(rest, (size_t)qa + 10);
                size_t k = 0;
                while (k < nq.len && k < 40 && ((nq.p[k] >= '0' && nq.p[k] <= '9') || (nq.p[k] >= 'A' && nq.p[k] <= 'Z') || (nq.p[k] >= 'a' && nq.p[k] <= 'z'))) k++;
                nq = str_sub(nq, 0, k);
                if (pf_is_qid(nq)) {
                    c->st.filter_hops++;
                    bool isnew;
                    struct qstate *q2 = hmap_put(&c->q, nq, &isnew);
                    if (isnew) q2->t = ev->h.t;
                    if (q2->flags & Q_START) {
                        undo_received(&c->st, q2);
                    } else {
                        pend_add(c, P_REINJ, nq);
                        q2->flags |= Q_REINJ;
                    }
                    return true;
                }
            }
        }
        struct sm_rdom *rd = cap_put(&c->st, &c->st.recip_dom, dom);
        rd->cnt++;
        rd->dly_sum += (double)dly;
        if (!rd->dly_max || (double)dly > rd->dly_max) rd->dly_max = (double)dly;
        struct sm_ucnt *ru = cap_put(&c->st, &c->st.recip_user, na);
        ru->cnt++;
        col_add(c, COL_DLVD, ev->h.host);
        c->st.dlvrd++;
        bool isnew;
        struct qstate *qs = hmap_put(&c->q, qid, &isnew);
        if (isnew) qs->t = ev->h.t;
        if (qs->flags & Q_SIZE) {
            rd->size += qs->size;
            ru->size += qs->size;
            c->st.size_dlvrd += qs->size;
        } else if (qs->flags & Q_START) {
            struct sm_nosize *ns = cap_put(&c->st, &c->st.nosize, qid);
            ns->len = (uint16_t)(na.len < sizeof ns->addr ? na.len : sizeof ns->addr);
            sm_copy(ns->addr, na.p, ns->len);
        } else {
            struct pend *p = pend_add(c, P_SENT, qid);
            p->a = intern(&c->intern, &c->ar, na);
            p->b = intern(&c->intern, &c->ar, dom);
        }
    } else if (str_eqc(status, "deferred")) {
        if (s->o.deferral_detail != 0) {
            /* , status=deferred \(([^\)]+) */
            struct str reas = STR_NULL;
            ptrdiff_t p = str_findc(m, ", status=deferred (");
            while (p >= 0) {
                struct str r = str_from(m, (size_t)p + 19);
                ptrdiff_t e = str_chr(r, ')');
                if (e != 0 && r.len) { reas = e > 0 ? str_sub(r, 0, (size_t)e) : r; break; }
                ptrdiff_t n = str_findc(str_from(m, (size_t)p + 1), ", status=deferred (");
                p = n < 0 ? -1 : p + 1 + n;
            }
            if (!s->o.verbose_msg_detail) {
                reas = pfs_said_trim(reas, 65, c->w2);
                if (reas.len >= 4 && reas.p[0] >= '0' && reas.p[0] <= '9' && reas.p[1] >= '0' && reas.p[1] <= '9' &&
                    reas.p[2] >= '0' && reas.p[2] <= '9' && reas.p[3] == ' ')
                    reas = str_from(reas, 4);
                if (str_startswith(reas, "connect to ")) reas = str_from(reas, 11);
            }
            tadd2(&c->st, NT_DEFER, cmd, reas, 1);
        }
        col_add(c, COL_DFRD, ev->h.host);
        c->st.dfrd_cnt++;
        bool isnew;
        struct qstate *qs = hmap_put(&c->q, qid, &isnew);
        if (isnew) qs->t = ev->h.t;
        if (!(qs->flags & Q_DEFER)) {
            if (qs->flags & Q_START) c->st.dfrd++;
            else pend_add(c, P_DEFER, qid);
            qs->flags |= Q_DEFER;
        }
        struct sm_rdom *rd = cap_put(&c->st, &c->st.recip_dom, dom);
        rd->defers++;
        if (!rd->dly_max || (double)dly > rd->dly_max) rd->dly_max = (double)dly;
    } else if (str_eqc(status, "bounced")) {
        if (s->o.bounce_detail != 0) {
            /* , status=bounced \((.+)\) : up to the last ')' */
            struct str reas = STR_NULL;
            ptrdiff_t p = str_findc(m, ", status=bounced (");
            if (p >= 0) {
                struct str r = str_from(m, (size_t)p + 18);
                ptrdiff_t e = str_rchr(r, ')');
                if (e > 0) reas = str_sub(r, 0, (size_t)e);
            }
            if (!s->o.verbose_msg_detail) {
                reas = pfs_said_trim(reas, 66, c->w2);
                if (reas.len >= 4 && reas.p[0] >= '0' && reas.p[0] <= '9' && reas.p[1] >= '0' && reas.p[1] <= '9' &&
                    reas.p[2] >= '0' && reas.p[2] <= '9' && reas.p[3] == ' ')
                    reas = str_from(reas, 4);
            }
            tadd2(&c->st, NT_BOUNCE, relay, reas, 1);
        }
        col_add(c, COL_BNCD, ev->h.host);
        c->st.bncd++;
    }
    return true;
}

/* pflogsumm's proc_smtpd_reject: counters, and the detail table */
static void feed_reject(struct chunk *c, const struct event *ev, enum sm_table t, int64_t *counter, struct str logrmdr)
{
    (*counter)++;
    col_add(c, COL_RJCT, ev->h.host);
    if (c->s->o.reject_detail == 0) return;
    struct pfs_reject r;
    if (!pfs_reject_detail(logrmdr, c->s->o.verbose_msg_detail, c->s->o.ignore_case, c->w2, WORKBUF, &r)) {
        /* the Perl code goes on with undefined values: everything lands under "" */
        tadd3(&c->st, t, STR_NULL, STR_NULL, STR_NULL);
        return;
    }
    tadd3(&c->st, t, r.type, r.reason, r.data);
}

/* The cleanup header/body checks line:
 * /cleanup\[\d+\]: .*?\b((?:milter-)?reject|warning|hold|discard): (header|body|END-OF-MESSAGE) (.*)$/
 * The action word ends right before a ": ", so the leftmost match is found by walking the
 * colons (action words hold none, so colon order is start order). */
static bool feed_cleanup(struct chunk *c, const struct event *ev, struct str m)
{
    static const char *const subs[] = { "milter-reject", "reject", "warning", "hold", "discard" };
    static const char *const reasons[] = { "header ", "body ", "END-OF-MESSAGE " };
    size_t from = 0;
    for (;;) {
        ptrdiff_t cp = str_chr(str_from(m, from), ':');
        if (cp < 0) return false;
        size_t colon = from + (size_t)cp;
        from = colon + 1;
        if (colon + 1 >= m.len || m.p[colon + 1] != ' ') continue;
        struct str r = str_from(m, colon + 2);
        /* "header ", "body ", "END-OF-MESSAGE " (first bytes differ) */
        int j = !r.len ? -1 : r.p[0] == 'h' ? 0 : r.p[0] == 'b' ? 1 : r.p[0] == 'E' ? 2 : -1;
        if (j < 0 || !str_startswith(r, reasons[j])) continue;
        int k = -1;
        for (int x = 0; x < 5 && k < 0; x++) {
            size_t n = strlen(subs[x]);
            if (colon < n || memcmp(m.p + colon - n, subs[x], n) != 0) continue;
            size_t st = colon - n;
            if (st > 0) {
                char pc = m.p[st - 1];
                if ((pc >= '0' && pc <= '9') || (pc >= 'A' && pc <= 'Z') || (pc >= 'a' && pc <= 'z') || pc == '_') continue;
            }
            k = x;
        }
        if (k < 0) continue;
        size_t rn = strlen(reasons[j]);
        struct str reas = str_sub(r, 0, rn - 1);
        struct str rmdr = str_from(r, rn);
        const struct summary *s = c->s;
        if (!s->o.verbose_msg_detail) {
            /* s/( from \S+?)?; from=<.*$// */
            ptrdiff_t j0 = str_findc(rmdr, "; from=<");
            if (j0 >= 0) {
                size_t cut = (size_t)j0;
                ptrdiff_t k0 = str_rfindc(str_sub(rmdr, 0, (size_t)j0), " from ");
                if (k0 >= 0 && (size_t)k0 + 6 < (size_t)j0) {
                    bool sp = false;
                    for (size_t x = (size_t)k0 + 6; x < (size_t)j0; x++)
                        if (rmdr.p[x] == ' ' || rmdr.p[x] == '\t') sp = true;
                    if (!sp) cut = (size_t)k0;
                }
                rmdr = str_sub(rmdr, 0, cut);
            }
        }
        rmdr = pfs_string_trim(rmdr, 64, s->o.verbose_msg_detail, c->w2);
        enum sm_table t;
        int64_t *cnt;
        if (k <= 1) { t = NT_REJECT; cnt = &c->st.rjctd; }
        else if (k == 2) { t = NT_WARN; cnt = &c->st.wrnd; }
        else if (k == 3) { t = NT_HOLD; cnt = &c->st.hld; }
        else { t = NT_DISCARD; cnt = &c->st.dscrdd; }
        if (s->o.reject_detail != 0) tadd3(&c->st, t, STR_LIT("cleanup"), reas, rmdr);
        (*cnt)++;
        col_add(c, COL_RJCT, ev->h.host);
        return true;
    }
}

static void conn_key(const struct event *ev, char *buf, size_t cap, struct str *key)
{
    size_t hl = ev->h.host.len < 200 ? ev->h.host.len : 200;
    sm_copy(buf, ev->h.host.p, hl);
    buf[hl] = '|';
    long pid = ev->h.pid;
    memcpy(buf + hl + 1, &pid, sizeof pid);
    *key = (struct str){ buf, hl + 1 + sizeof pid };
    (void)cap;
}

static void conn_count(struct sm_stats *st, int hour, int32_t day, struct str dom, int64_t secs)
{
    st->hconn[hour].cnt++;
    st->hconn[hour].secs += secs;
    if (secs > st->hconn[hour].max) st->hconn[hour].max = secs;
    struct sm_day *d = day_get(&st->days, day);
    d->conn.cnt++;
    d->conn.secs += secs;
    if (secs > d->conn.max) d->conn.max = secs;
    struct sm_conn *sd = cap_put(st, &st->smtpd_dom, dom);
    sd->cnt++;
    sd->secs += secs;
    if (secs > sd->max) sd->max = secs;
    st->smtpd_conn++;
    st->smtpd_secs += secs;
}

/* --smtpd-stats: connect / disconnect of one smtpd process */
static void feed_smtpd_conn(struct chunk *c, const struct event *ev, struct str m)
{
    if (ev->h.pid < 0 || !str_endswith(ev->h.prog, "/smtpd")) return;
    char kb[256];
    struct str key;
    if (str_startswith(m, "connect from ") || str_findc(m, ": connect from ") >= 0) {
        conn_key(ev, kb, sizeof kb, &key);
        struct openconn *oc = hmap_put(&c->conn, key, NULL);
        oc->t = ev->h.t;
        oc->open = 1;
        return;
    }
    if (!str_startswith(m, "disconnect from ")) return;
    conn_key(ev, kb, sizeof kb, &key);
    struct str host = pfs_gimme_domain(str_from(m, 16), c->w2);
    char ipb[IPADDR_STRLEN];
    struct str cname;
    struct ipaddr caddr;
    size_t used;
    if (!host.len && pf_name_addr(str_from(m, 16), &cname, &caddr, &used)) {
        /* pflogsumm cannot split "unknown[2001:db8::1] ehlo=1 ..." and prints an empty
         * host; we name the client */
        if (cname.len && !str_eqc(cname, "unknown")) host = cname;
        else host = (struct str){ ipb, ipaddr_format(&caddr, ipb, sizeof ipb) };
    }
    struct openconn *oc = hmap_get(&c->conn, key);
    if (oc) {
        if (oc->open) {
            conn_count(&c->st, c->hour, c->day, host, ev->h.t - oc->t);
            oc->open = 0;
        }
        return;
    }
    struct pend *p = pend_add(c, P_DISC, key);
    p->t = ev->h.t;
    p->b = intern(&c->intern, &c->ar, host);
    oc = hmap_put(&c->conn, key, NULL);
    oc->open = 0;
}

static void ip_key(const struct ipaddr *a, char *buf, struct str *out)
{
    *out = (struct str){ buf, a->family ? ipaddr_format(a, buf, IPADDR_STRLEN) : 0 };
}

/* Beyond pflogsumm: Dovecot, SASL, TLS, postscreen, expired, address families. */
static void feed_extras(struct chunk *c, const struct event *ev, bool pf)
{
    struct sm_stats *st = &c->st;
    char ipb[IPADDR_STRLEN];
    struct str ip;
    switch (ev->kind) {
    case EV_EXPIRED:
        if (!pf) break;
        st->expired++;
        c->dayrow->expired++;
        tadd(st, NT_EXPIRED, ev->f.from.len ? ev->f.from : STR_LIT("from=<>"), 1);
        if (c->s->o.by_host) { struct sm_host *h = cap_put(st, &st->hosts, ev->h.host); h->expired++; }
        break;
    case EV_CLIENT:
        if (pf && ev->f.sasl_username.len) {
            st->sasl_ok++;
            tadd(st, NT_SASL_OK_USER, ev->f.sasl_username, 1);
            ip_key(&ev->client, ipb, &ip);
            tadd(st, NT_SASL_OK_IP, ip, 1);
        }
        break;
    case EV_SASL_FAIL:
        if (!pf) break;
        st->sasl_fail++;
        ip_key(&ev->client, ipb, &ip);
        tadd(st, NT_SASL_FAIL_IP, ip, 1);
        if (ev->user.len) tadd(st, NT_SASL_FAIL_USER, ev->user, 1);
        tadd(st, NT_SASL_FAIL_METHOD, ev->f.sasl_method, 1);
        break;
    case EV_TLS:
        if (!pf) break;
        tadd2(st, NT_TLS, ev->service, ev->text.len ? ev->text : STR_LIT("?"), 1);
        if (str_eqc(ev->service, "smtpd")) st->smtpd_tls++;
        break;
    case EV_CONNECT:
        if (pf && str_eqc(ev->service, "smtpd")) {
            st->smtpd_connects++;
            if (ev->client.family == 6) st->smtpd_connects_v6++;
        }
        break;
    case EV_PS_CONNECT:
        if (!pf) break;
        st->ps_connect++;
        break;
    case EV_PS_PASS:
        if (!pf) break;
        if (str_startswith(ev->h.msg, "PASS NEW")) st->ps_pass_new++;
        else if (str_startswith(ev->h.msg, "PASS OLD")) st->ps_pass_old++;
        else st->ps_allow++;
        break;
    case EV_PREGREET: case EV_PS_DNSBL: case EV_PS_HANGUP: case EV_PS_DENYLISTED: case EV_PS_OTHER:
        if (!pf) break;
        {
            struct str lbl = ev->kind == EV_PREGREET ? STR_LIT("PREGREET") : ev->kind == EV_PS_DNSBL ? STR_LIT("DNSBL") :
                             ev->kind == EV_PS_HANGUP ? STR_LIT("HANGUP") : ev->kind == EV_PS_DENYLISTED ? STR_LIT("DENYLISTED") :
                             STR_LIT("other");
            if (ev->kind == EV_PS_OTHER) {
                struct str m = ev->h.msg;
                ptrdiff_t f = str_findc(str_sub(m, 0, 40), " from ");
                if (f > 0) lbl = str_sub(m, 0, (size_t)f);
                else {
                    ptrdiff_t sp = str_chr(str_sub(m, 0, 40), ' ');
                    if (sp > 0) lbl = str_sub(m, 0, (size_t)sp);
                }
            }
            tadd(st, NT_PS, lbl, 1);
            if (ev->kind != EV_PS_HANGUP && !str_eqc(lbl, "DISCONNECT") && ev->client.family) {
                ip_key(&ev->client, ipb, &ip);
                tadd(st, NT_PS_IP, ip, 1);
            }
        }
        break;
    case EV_REJECT:
        if (pf && str_eqc(ev->service, "postscreen")) {
            st->ps_reject++;
            tadd(st, NT_PS, STR_LIT("reject"), 1);
            if (ev->client.family) { ip_key(&ev->client, ipb, &ip); tadd(st, NT_PS_IP, ip, 1); }
        }
        break;
    case EV_DV_LOGIN:
        st->dv_logins++;
        tadd2(st, NT_DV_LOGIN, ev->instance, ev->user, 1);
        ip_key(&ev->client, ipb, &ip);
        tadd(st, NT_DV_LOGIN_IP, ip, 1);
        break;
    case EV_DV_LOGIN_FAIL: {
        int64_t n = ev->attempts ? ev->attempts : 1;
        st->dv_login_fail_sessions++;
        st->dv_login_fail_attempts += n;
        ip_key(&ev->client, ipb, &ip);
        tadd2(st, NT_DV_FAIL_IP, ev->instance, ip, n);
        break;
    }
    case EV_DV_NO_AUTH:
        st->dv_no_auth++;
        break;
    case EV_DV_AUTH_FAIL:
        st->dv_auth_fail++;
        tadd(st, NT_DV_AUTH_USER, ev->user.len ? ev->user : STR_LIT("(none)"), 1);
        ip_key(&ev->client, ipb, &ip);
        tadd(st, NT_DV_AUTH_IP, ip, 1);
        break;
    case EV_DV_DELIVERED:
        st->dv_lmtp_ok++;
        tadd(st, NT_DV_LMTP_USER, ev->user, 1);
        break;
    case EV_DV_DELIVERY_FAIL:
        st->dv_lmtp_fail++;
        break;
    default:
        break;
    }
}

static bool tls_word(struct str t)
{
    return str_eqc(t, "Anonymous") || str_eqc(t, "Trusted") || str_eqc(t, "Untrusted") || str_eqc(t, "Verified");
}

/* The full line model of a line the driver parsed only the envelope of (envelope_only). */
static const struct event *full_event(const struct event *ev, struct event *full)
{
    memset(full, 0, sizeof *full);
    full->port = -1;
    full->h = ev->h;
    parse_message(NULL, full);
    return full;
}

/* The Postfix daemon names and first tokens feed() tells apart, each classified once per
 * line instead of compared again at every step of the if/elsif chain. */
enum pcmd { PC_OTHER, PC_SMTPD, PC_POSTSCREEN, PC_CLEANUP, PC_MASTER, PC_PICKUP, PC_SMTP };
enum ptok { PT_OTHER, PT_WARNING, PT_FATAL, PT_PANIC, PT_REJECT, PT_REJECT_WARNING, PT_HOLD, PT_DISCARD };

static enum pcmd cmd_class(struct str c)
{
    switch (c.len) {
    case 4: return str_eqc(c, "smtp") ? PC_SMTP : PC_OTHER;
    case 5: return str_eqc(c, "smtpd") ? PC_SMTPD : PC_OTHER;
    case 6: return str_eqc(c, "master") ? PC_MASTER : str_eqc(c, "pickup") ? PC_PICKUP : PC_OTHER;
    case 7: return str_eqc(c, "cleanup") ? PC_CLEANUP : PC_OTHER;
    case 10: return str_eqc(c, "postscreen") ? PC_POSTSCREEN : PC_OTHER;
    default: return PC_OTHER;
    }
}

static enum ptok tok_class(struct str t)
{
    switch (t.len) {
    case 4: return str_eqc(t, "hold") ? PT_HOLD : PT_OTHER;
    case 5: return str_eqc(t, "fatal") ? PT_FATAL : str_eqc(t, "panic") ? PT_PANIC : PT_OTHER;
    case 6: return str_eqc(t, "reject") ? PT_REJECT : PT_OTHER;
    case 7: return str_eqc(t, "warning") ? PT_WARNING : str_eqc(t, "discard") ? PT_DISCARD : PT_OTHER;
    case 14: return str_eqc(t, "reject_warning") ? PT_REJECT_WARNING : PT_OTHER;
    default: return PT_OTHER;
    }
}

static void feed(void *state, const struct event *ev, struct str line)
{
    struct chunk *c = state;
    const struct summary *s = c->s;
    struct str cmd, tok;
    struct event full;
    bool pf = pfs_cmd(s, ev, &cmd, &tok);
    set_time(c, ev->h.t);
    if (!pf) {
        /* not a Postfix line for pflogsumm: only the Dovecot figures */
        if (str_startswith(ev->h.prog, "dovecot")) {
            /* only logins, login failures, auth failures and deliveries are counted */
            struct str dm = ev->h.msg;
            if ((str_startswith(dm, "imap(") || str_startswith(dm, "pop3(")) && str_findc(dm, "Disconnected") >= 0 &&
                str_findc(dm, "auth failed") < 0)
                return;
            if ((str_startswith(dm, "lmtp(") || str_startswith(dm, "lda(")) && str_findc(dm, "msgid=") < 0)
                return;
            const struct event *fe = full_event(ev, &full);
            if (fe->src != SRC_DOVECOT) return;
            if (s->o.by_host) { struct sm_host *h = cap_put(&c->st, &c->st.hosts, ev->h.host); h->lines++; }
            feed_extras(c, fe, false);
        }
        return;
    }
    if (s->o.by_host) {
        struct sm_host *h = cap_put(&c->st, &c->st.hosts, ev->h.host);
        h->lines++;
    }
    c->dayrow->pflines++;
    enum pcmd pc = cmd_class(cmd);
    enum ptok pt = tok_class(tok);
    struct str m = ev->h.msg;
    bool tok0 = tok.p == m.p;
    struct str after = tok0 ? str_from(m, tok.len) : STR_NULL;
    /* lines whose figures beyond pflogsumm need the full line model */
    bool need = false;
    if (pc == PC_POSTSCREEN) {
        /* the frequent events are counted here, the rest from the line model */
        if (str_startswith(m, "CONNECT from [")) c->st.ps_connect++;
        else if (str_startswith(m, "PASS NEW [")) c->st.ps_pass_new++;
        else if (str_startswith(m, "PASS OLD [")) c->st.ps_pass_old++;
        else if (str_startswith(m, "ALLOWLISTED [") || str_startswith(m, "WHITELISTED [")) c->st.ps_allow++;
        else need = true;
    } else if (pc == PC_SMTPD) {
        if (str_startswith(m, "connect from ") && str_endswith(ev->h.prog, "/smtpd")) {
            /* "connect from name[addr]": IPv6 when the brackets hold a ':' */
            ptrdiff_t b = str_rchr(m, '[');
            c->st.smtpd_connects++;
            if (b > 0 && str_chr(str_from(m, (size_t)b), ':') >= 0) c->st.smtpd_connects_v6++;
        } else {
            /* of the warnings only "warning: name[addr]: SASL ... authentication failed"
             * gives a figure (EV_SASL_FAIL) */
            need = (pt == PT_WARNING && str_findc(m, "]: SASL ") >= 0) || tls_word(tok) ||
                   (str_startswith(after, ": client=") && str_findc(after, "sasl_username=") >= 0);
        }
    }
    else if (str_startswith(after, ": from=<")) {
        /* qmgr "from=<s>, status=expired, returned to sender": right after the address */
        ptrdiff_t gt = str_chr(str_from(after, 8), '>');
        need = gt >= 0 && str_startswith(str_from(after, 8 + (size_t)gt + 1), ", status=expired");
    }
    if (need) feed_extras(c, full_event(ev, &full), true);
    /* logRmdr: "prog[pid]: msg" */
    struct str logrmdr = { ev->h.prog.p, (size_t)(line.p + line.len - ev->h.prog.p) };

    if (pc == PC_CLEANUP && ev->h.pid >= 0 && feed_cleanup(c, ev, m)) return;
    if (pt == PT_WARNING || pt == PT_FATAL || pt == PT_PANIC) {
        const char *lead = tok.p[0] == 'w' ? "warning: " : tok.p[0] == 'f' ? "fatal: " : "panic: ";
        enum sm_table t = tok.p[0] == 'w' ? NT_WARNING : tok.p[0] == 'f' ? NT_FATAL : NT_PANIC;
        ptrdiff_t p = str_rfindc(m, lead);
        struct str r = p >= 0 ? str_from(m, (size_t)p + strlen(lead)) : m;
        r = pfs_string_trim(r, 66, s->o.verbose_msg_detail, c->w2);
        tadd2(&c->st, t, cmd, r, 1);
        return;
    }
    if (pt == PT_REJECT) { feed_reject(c, ev, NT_REJECT, &c->st.rjctd, logrmdr); return; }
    if (pt == PT_REJECT_WARNING) { feed_reject(c, ev, NT_WARN, &c->st.wrnd, logrmdr); return; }
    if (pt == PT_HOLD) { feed_reject(c, ev, NT_HOLD, &c->st.hld, logrmdr); return; }
    if (pt == PT_DISCARD) { feed_reject(c, ev, NT_DISCARD, &c->st.dscrdd, logrmdr); return; }
    if (pc == PC_MASTER) {
        ptrdiff_t p = str_rfindc(m, ": ");
        tadd(&c->st, NT_MASTER, p >= 0 ? str_from(m, (size_t)p + 2) : m, 1);
        return;
    }
    if (pc == PC_SMTPD || pc == PC_POSTSCREEN) {
        if (ev->h.pid >= 0 && tok0 && str_startswith(after, ": client=") && all_word(tok)) {
            /* client=(.+?)(,|$) */
            struct str cl = str_from(after, 9);
            ptrdiff_t comma = cl.len > 1 ? str_chr(str_from(cl, 1), ',') : -1;
            if (comma >= 0) cl = str_sub(cl, 0, (size_t)comma + 1);
            if (!cl.len) return;
            bool isnew;
            struct qstate *qs = hmap_put(&c->q, tok, &isnew);
            uint8_t reinj = qs->flags & Q_REINJ;
            if (reinj && !(qs->flags & Q_START)) reinj = 0;     /* decided in merge */
            qs->flags = Q_START | Q_RCVD | reinj;
            qs->t = ev->h.t;
            /* the domain and the loopback test depend only on the rest of the line */
            struct str rem = str_from(after, 9);
            bool cached = rem.len == c->cllen && memcmp(rem.p, c->clbuf, rem.len) == 0;
            if (!cached && rem.len <= sizeof c->clbuf) {
                memcpy(c->clbuf, rem.p, rem.len);
                c->cllen = rem.len;
                c->clrdom = intern(&c->intern, &c->ar, pfs_gimme_domain(cl, c->w2));
                c->cllb = -1;
                cached = true;
            }
            qs->rdom = cached ? c->clrdom : intern(&c->intern, &c->ar, pfs_gimme_domain(cl, c->w2));
            if (reinj) { c->st.reinjected++; qs->flags &= (uint8_t)~Q_RCVD; return; }
            c->st.rcvd++;
            col_add(c, COL_RCVD, ev->h.host);
            bool lb;
            if (cached && c->cllb >= 0) {
                lb = c->cllb;
            } else {
                struct str cn;
                struct ipaddr ca;
                size_t used;
                lb = may_be_loopback(rem) && pf_name_addr(rem, &cn, &ca, &used) && is_loopback(&ca);
                if (cached) c->cllb = lb;
            }
            if (lb) {
                qs->flags |= Q_RCOUNT;
                qs->rhour = (int8_t)c->hour;
                qs->rday = c->day;
                if (s->o.by_host) qs->rhost = intern(&c->intern, &c->ar, ev->h.host);
            }
            return;
        }
        /* ": reject: ", ": reject_warning: ", ": hold: ", ": discard: " (checked first: cheap) */
        char a2 = after.len > 2 && after.p[0] == ':' && after.p[1] == ' ' ? after.p[2] : 0;
        if ((a2 == 'r' || a2 == 'h' || a2 == 'd') && ev->h.pid >= 0 && tok0 && all_word(tok)) {
            static const struct { const char *lead; enum sm_table t; size_t off; } acts[] = {
                { ": reject: ", NT_REJECT, offsetof(struct sm_stats, rjctd) },
                { ": reject_warning: ", NT_WARN, offsetof(struct sm_stats, wrnd) },
                { ": hold: ", NT_HOLD, offsetof(struct sm_stats, hld) },
                { ": discard: ", NT_DISCARD, offsetof(struct sm_stats, dscrdd) },
            };
            for (int k = 0; k < 4; k++)
                if (str_startswith(after, acts[k].lead)) {
                    feed_reject(c, ev, acts[k].t, (int64_t *)((char *)&c->st + acts[k].off), logrmdr);
                    return;
                }
        }
        if (s->o.smtpd_stats) feed_smtpd_conn(c, ev, m);
        return;
    }
    /* everything else: qmgr, delivery agents, pickup, bounce ... (an if/elsif chain) */
    if (str_eqc(after, ": removed") && pf_is_qid(tok)) {
        bool isnew;
        struct qstate *qs = hmap_put(&c->q, tok, &isnew);
        if (!(qs->flags & Q_START)) pend_add(c, P_REMOVED, tok);
        memset(qs, 0, sizeof *qs);
        qs->flags = Q_START;
        qs->t = ev->h.t;
        return;
    }
    /* the queue ID token cannot hold "from=<" or "to=<": start after it */
    size_t skip = tok0 && after.len >= 2 ? tok.len + 2 : 0;
    if (skip && str_startswith(after, ": to=<")) {
        /* a delivery line: pflogsumm would first try the from=<..>, size= shape, which
         * only a remote reply quoting one could add */
        if (feed_delivery(c, ev, cmd, tok, m, skip)) return;
    }
    if (feed_from(c, ev, tok, m, skip)) return;
    if (feed_delivery(c, ev, cmd, tok, m, skip)) return;
    if (pc == PC_PICKUP && (str_findc(logrmdr, ": sender=") >= 0 || str_findc(logrmdr, ": uid=") >= 0)) {
        bool isnew;
        struct qstate *qs = hmap_put(&c->q, tok, &isnew);
        qs->flags = Q_START | Q_RCVD;
        qs->t = ev->h.t;
        qs->rdom = STR_LIT("pickup");
        c->st.rcvd++;
        col_add(c, COL_RCVD, ev->h.host);
        return;
    }
    if (pc == PC_SMTP && s->o.smtp_detail != 0) {
        /* .* connect to (\S+?): ([^;]+); address \S+ port.*$  |
         * .* connect to ([^[]+)\[\S+?\]: (.+?) \(port \d+\)$ */
        struct str host = STR_NULL, reason = STR_NULL;
        for (ptrdiff_t p = str_rfindc(m, " connect to "); p >= 0 && !host.len;
             p = p > 0 ? str_rfindc(str_sub(m, 0, (size_t)p), " connect to ") : -1) {
            struct str r = str_from(m, (size_t)p + 12);
            for (size_t i = 1; i + 1 < r.len && r.p[i - 1] != ' '; i++) {
                if (r.p[i] == ':' && r.p[i + 1] == ' ') {
                    struct str rest = str_from(r, i + 2);
                    ptrdiff_t semi = str_chr(rest, ';');
                    if (semi > 0 && str_startswith(str_from(rest, (size_t)semi), "; address ") &&
                        str_findc(str_from(rest, (size_t)semi + 10), " port") >= 0) {
                        host = str_sub(r, 0, i);
                        reason = str_sub(rest, 0, (size_t)semi);
                    }
                    break;
                }
                if (r.p[i] == ' ') break;
            }
        }
        if (!host.len) {
            for (ptrdiff_t p = str_rfindc(m, " connect to "); p >= 0 && !host.len;
                 p = p > 0 ? str_rfindc(str_sub(m, 0, (size_t)p), " connect to ") : -1) {
                struct str r = str_from(m, (size_t)p + 12);
                ptrdiff_t b = str_chr(r, '[');
                if (b <= 0) continue;
                ptrdiff_t e = str_findc(r, "]: ");
                if (e < b) continue;
                struct str rest = str_from(r, (size_t)e + 3);
                ptrdiff_t pp = str_rfindc(rest, " (port ");
                if (pp <= 0 || !str_endswith(rest, ")")) continue;
                host = str_sub(r, 0, (size_t)b);
                reason = str_sub(rest, 0, (size_t)pp);
            }
        }
        if (host.len) {
            char lb[1024];
            size_t n = reason.len < sizeof lb ? reason.len : sizeof lb;
            for (size_t k = 0; k < n; k++) lb[k] = (reason.p[k] >= 'A' && reason.p[k] <= 'Z') ? (char)(reason.p[k] + 32) : reason.p[k];
            tadd2(&c->st, NT_SMTP, (struct str){ lb, n }, host, 1);
        }
    }
}

/* ---------------------------------------------------------------- merge */

static void add_conn(struct sm_conn *d, const struct sm_conn *s)
{
    d->cnt += s->cnt;
    d->secs += s->secs;
    if (s->max > d->max) d->max = s->max;
}

static void merge_stats(struct sm_stats *d, struct sm_stats *s)
{
    int64_t *dv = &d->rcvd, *sv = &s->rcvd;
    /* the scalar counters from rcvd through reinjected are consecutive int64_t */
    size_t nsc = (size_t)(&d->reinjected - &d->rcvd) + 1;
    for (size_t i = 0; i < nsc; i++) dv[i] += sv[i];
    for (int h = 0; h < 24; h++) {
        for (int k = 0; k < COL_MAX; k++) d->hour[h][k] += s->hour[h][k];
        add_conn(&d->hconn[h], &s->hconn[h]);
    }
    d->smtpd_conn += s->smtpd_conn;
    d->smtpd_secs += s->smtpd_secs;
    int64_t *de = &d->smtpd_connects, *se = &s->smtpd_connects;
    size_t nex = (size_t)(&d->ps_allow - &d->smtpd_connects) + 1;
    for (size_t i = 0; i < nex; i++) de[i] += se[i];
    d->overflow += s->overflow;

    size_t it;
    struct str k;
    void *v;
    for (it = 0; hmap_next(&s->days, &it, &k, &v);) {
        struct sm_day *a = hmap_put(&d->days, k, NULL), *b = v;
        for (int c = 0; c < COL_MAX; c++) a->v[c] += b->v[c];
        add_conn(&a->conn, &b->conn);
        a->expired += b->expired;
        a->pflines += b->pflines;
    }
    for (it = 0; hmap_next(&s->recip_dom, &it, &k, &v);) {
        struct sm_rdom *a = cap_put(d, &d->recip_dom, k), *b = v;
        a->cnt += b->cnt;
        a->size += b->size;
        a->defers += b->defers;
        a->dly_sum += b->dly_sum;
        if (!a->dly_max || b->dly_max > a->dly_max) a->dly_max = b->dly_max;
    }
    struct hmap *um[3][2] = { { &d->sendg_dom, &s->sendg_dom }, { &d->recip_user, &s->recip_user },
                              { &d->sendg_user, &s->sendg_user } };
    for (int m = 0; m < 3; m++)
        for (it = 0; hmap_next(um[m][1], &it, &k, &v);) {
            struct sm_ucnt *a = cap_put(d, um[m][0], k), *b = v;
            a->cnt += b->cnt;
            a->size += b->size;
        }
    for (it = 0; hmap_next(&s->smtpd_dom, &it, &k, &v);)
        add_conn(cap_put(d, &d->smtpd_dom, k), v);
    for (it = 0; hmap_next(&s->hosts, &it, &k, &v);) {
        struct sm_host *a = cap_put(d, &d->hosts, k), *b = v;
        for (int c = 0; c < COL_MAX; c++) a->v[c] += b->v[c];
        a->lines += b->lines;
        a->expired += b->expired;
    }
    for (it = 0; hmap_next(&s->nosize, &it, &k, &v);)
        memcpy(cap_put(d, &d->nosize, k), v, sizeof(struct sm_nosize));
    for (int t = 0; t < NT_MAX; t++)
        for (it = 0; hmap_next(&s->t[t], &it, &k, &v);) {
            int64_t *a = cap_put(d, &d->t[t], k);
            *a += *(int64_t *)v;
        }
}

static struct str gintern(struct summary *s, struct str x)
{
    return x.len ? intern(&s->intern, &s->arena, x) : STR_NULL;
}

static void sweep(struct summary *s)
{
    size_t n = hmap_count(&s->qids) + hmap_count(&s->conns);
    if (n < (size_t)s->sweep_at) return;
    struct hmap *maps[2] = { &s->qids, &s->conns };
    for (int m = 0; m < 2; m++) {
        size_t it = 0, nk = 0, cap = 0;
        char **keys = NULL;
        size_t *lens = NULL, capl = 0;
        struct str k;
        void *v;
        while (hmap_next(maps[m], &it, &k, &v)) {
            int64_t t = m == 0 ? ((struct qstate *)v)->t : ((struct openconn *)v)->t;
            if (t >= s->last_t - (m == 0 ? QID_SWEEP_AGE : CONN_SWEEP_AGE)) continue;
            keys = xgrow(keys, &cap, nk + 1, sizeof *keys);
            lens = xgrow(lens, &capl, nk + 1, sizeof *lens);
            keys[nk] = xstrndup(k.p, k.len);
            lens[nk++] = k.len;
        }
        for (size_t i = 0; i < nk; i++) {
            hmap_del(maps[m], (struct str){ keys[i], lens[i] });
            free(keys[i]);
        }
        free(keys);
        free(lens);
    }
    n = hmap_count(&s->qids) + hmap_count(&s->conns);
    s->sweep_at = n * 2 > 200000 ? (int64_t)n * 2 : 200000;
}

static void merge(void *global, void *state)
{
    struct summary *s = global;
    struct chunk *c = state;
    /* 1. pending records, in input order, against the global state */
    for (size_t i = 0; i < c->np; i++) {
        struct pend *p = &c->p[i];
        struct qstate *g;
        switch (p->type) {
        case P_FROM:
            g = hmap_get(&s->qids, p->key);
            if (g && (g->flags & Q_SIZE)) break;
            if (!g && p->size > 0) g = hmap_put(&s->qids, p->key, NULL);
            if (!g) break;
            if (p->size > 0) { g->flags |= Q_SIZE; g->size = p->size; }
            if ((g->flags & Q_RCVD) && !(g->flags & Q_REINJ))
                count_sender(s, &s->g, g, p->a, p->size, &s->arena, &s->intern);
            g->flags &= (uint8_t)~Q_RCVD;
            g->t = p->t;
            break;
        case P_SENT:
            g = hmap_get(&s->qids, p->key);
            if (g && (g->flags & Q_SIZE)) {
                struct sm_rdom *rd = cap_put(&s->g, &s->g.recip_dom, p->b);
                rd->size += g->size;
                struct sm_ucnt *ru = cap_put(&s->g, &s->g.recip_user, p->a);
                ru->size += g->size;
                s->g.size_dlvrd += g->size;
            } else {
                struct sm_nosize *ns = cap_put(&s->g, &s->g.nosize, p->key);
                ns->len = (uint16_t)(p->a.len < sizeof ns->addr ? p->a.len : sizeof ns->addr);
                sm_copy(ns->addr, p->a.p, ns->len);
            }
            break;
        case P_DEFER:
            g = hmap_put(&s->qids, p->key, NULL);
            if (!(g->flags & Q_DEFER)) { g->flags |= Q_DEFER; s->g.dfrd++; }
            if (p->t > g->t) g->t = p->t;
            break;
        case P_REMOVED:
            hmap_del(&s->qids, p->key);
            break;
        case P_DISC: {
            struct openconn *oc = hmap_get(&s->conns, p->key);
            if (oc) {
                if (oc->open) conn_count(&s->g, p->hour, p->day, p->b, p->t - oc->t);
                hmap_del(&s->conns, p->key);
            }
            break;
        }
        case P_REINJ: {
            bool isnew;
            g = hmap_put(&s->qids, p->key, &isnew);
            if (isnew) g->t = p->t;
            undo_received(&s->g, g);
            break;
        }
        }
    }
    /* 2. the chunk's queue IDs over the global ones */
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&c->q, &it, &k, &v)) {
        struct qstate *l = v;
        if (l->t > s->last_t) s->last_t = l->t;
        if (l->flags & Q_START) {
            if (l->flags == Q_START) { hmap_del(&s->qids, k); continue; }
            struct qstate *g = hmap_put(&s->qids, k, NULL);
            if ((g->flags & Q_REINJ) && !(l->flags & Q_REINJ)) {
                /* the chunk counted a message that an earlier chunk's filter hop named */
                g->flags = 0;
                undo_received(&s->g, l);
            }
            *g = *l;
            g->flags &= (uint8_t)~Q_START;
            g->rdom = gintern(s, l->rdom);
            g->sender = gintern(s, l->sender);
            g->sdom = gintern(s, l->sdom);
            g->rhost = gintern(s, l->rhost);
        } else {
            if (!(l->flags & (Q_SIZE | Q_DEFER))) continue;
            struct qstate *g = hmap_put(&s->qids, k, NULL);
            if ((l->flags & Q_SIZE) && !(g->flags & Q_SIZE)) { g->flags |= Q_SIZE; g->size = l->size; }
            g->flags |= l->flags & Q_DEFER;
            if (l->t > g->t) g->t = l->t;
        }
    }
    for (it = 0; hmap_next(&c->conn, &it, &k, &v);) {
        struct openconn *l = v;
        if (l->open) *(struct openconn *)hmap_put(&s->conns, k, NULL) = *l;
        else hmap_del(&s->conns, k);
    }
    /* 3. the figures */
    merge_stats(&s->g, &c->st);
    chunk_free(s, c);
    sweep(s);
}

/* ---------------------------------------------------------------- API */

void summary_opts_init(struct summary_opts *o)
{
    memset(o, 0, sizeof *o);
    o->top_hosts = o->top_users = -1;
    o->bounce_detail = o->deferral_detail = o->smtp_detail = o->smtpd_warn_detail = o->reject_detail = -1;
}

struct summary *summary_new(const struct summary_opts *o)
{
    struct summary *s = xcalloc(1, sizeof *s);
    s->o = *o;
    pthread_mutex_init(&s->pool_mu, NULL);
    sm_stats_init(&s->g, NULL);
    hmap_init(&s->qids, sizeof(struct qstate));
    hmap_init(&s->conns, sizeof(struct openconn));
    hmap_init(&s->intern, sizeof(struct str));
    hmap_init(&s->reinj, sizeof(int64_t));
    s->sweep_at = 200000;
    return s;
}

struct scan_consumer summary_consumer(struct summary *s)
{
    struct scan_consumer c = { .chunk_new = chunk_new, .feed = feed, .merge = merge, .global = s,
                               .envelope_only = true };
    return c;
}

void summary_finish(struct summary *s, const struct scan_stats *st)
{
    size_t it = 0;
    struct str k;
    void *v;
    struct { const char *name; int64_t n; } ps[] = {
        { "CONNECT", s->g.ps_connect }, { "PASS NEW", s->g.ps_pass_new },
        { "PASS OLD", s->g.ps_pass_old }, { "allowlisted", s->g.ps_allow },
    };
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        if (ps[i].n && !s->finished) *(int64_t *)hmap_put(&s->g.t[NT_PS], str_c(ps[i].name), NULL) += ps[i].n;
    s->ndays = 0;
    while (hmap_next(&s->g.days, &it, &k, &v))
        if (((struct sm_day *)v)->pflines) s->ndays++;
    if (st) {
        s->lines = st->lines;
        s->bytes = st->bytes;
        s->unparsed = st->unparsed;
        s->cut_lines = st->cut_lines;
        s->files = st->files;
        s->files_failed = st->files_failed;
        s->first_t = st->first_t;
        s->last_tt = st->last_t;
    }
    s->finished = true;
}

void summary_free(struct summary *s)
{
    if (!s) return;
    sm_stats_free(&s->g);
    hmap_free(&s->qids);
    hmap_free(&s->conns);
    hmap_free(&s->intern);
    hmap_free(&s->reinj);
    arena_free(&s->arena);
    for (int i = 0; i < s->npool; i++) chunk_destroy(s->pool[i]);
    pthread_mutex_destroy(&s->pool_mu);
    free(s);
}

/* ---------------------------------------------------------------- rows */

static int cmp_bytes(struct str a, struct str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* The first 8 bytes of s, big-endian, zero-padded: where two differ, they order as the
 * byte strings do (a shorter string pads with zeros, which sort first); where they are
 * equal, cmp_bytes decides. */
static uint64_t be_prefix(struct str s)
{
    unsigned char b[8] = { 0 };
    sm_copy((char *)b, s.p, s.len < 8 ? s.len : 8);
    return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 | (uint64_t)b[3] << 32 |
           (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 | (uint64_t)b[6] << 8 | b[7];
}

static inline int cmp_pfx(uint64_t pa, uint64_t pb, struct str a, struct str b)
{
    if (pa != pb) return pa < pb ? -1 : 1;
    return cmp_bytes(a, b);
}

struct xrow { struct sm_row r; struct str norm; int64_t size; uint64_t npfx, kpfx; };

static inline int row_cmp(const struct xrow *a, const struct xrow *b, enum sm_sort how)
{
    int c;
    switch (how) {
    case SORT_CNT_HOST:
        if (a->r.n != b->r.n) return a->r.n > b->r.n ? -1 : 1;
        if ((c = cmp_pfx(a->npfx, b->npfx, a->norm, b->norm))) return c;
        break;
    case SORT_CNT_SIZE:
        if (a->r.n != b->r.n) return a->r.n > b->r.n ? -1 : 1;
        if (a->size != b->size) return a->size > b->size ? -1 : 1;
        break;
    case SORT_SIZE_HOST:
        if (a->size != b->size) return a->size > b->size ? -1 : 1;
        if ((c = cmp_pfx(a->npfx, b->npfx, a->norm, b->norm))) return c;
        break;
    case SORT_KEY:
        break;
    }
    return cmp_pfx(a->kpfx, b->kpfx, a->r.key, b->r.key);
}

/* A merge sort of pointers with the comparison inlined: qsort's indirect call per
 * comparison and its element copies were most of the time to sort a report's large tables.
 * The orders compared here are total (keys are unique), so stability does not matter. */
#define MSORT_RUN 16
#define DEFINE_PTR_MSORT(name, T, LESS_EQ)                                                       \
    static void name(T **a, size_t n, enum sm_sort how)                                          \
    {                                                                                            \
        (void)how;                                                                               \
        for (size_t lo = 0; lo < n; lo += MSORT_RUN) {                                           \
            size_t hi = lo + MSORT_RUN < n ? lo + MSORT_RUN : n;                                 \
            for (size_t i = lo + 1; i < hi; i++) {                                               \
                T *v = a[i];                                                                     \
                size_t j = i;                                                                    \
                while (j > lo && !LESS_EQ(a[j - 1], v)) { a[j] = a[j - 1]; j--; }                \
                a[j] = v;                                                                        \
            }                                                                                    \
        }                                                                                        \
        if (n <= MSORT_RUN) return;                                                              \
        T **tmp = xmalloc(n * sizeof *tmp), **src = a, **dst = tmp;                              \
        for (size_t w = MSORT_RUN; w < n; w *= 2) {                                              \
            for (size_t lo = 0; lo < n; lo += 2 * w) {                                           \
                size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;      \
                size_t i = lo, j = mid, k = lo;                                                  \
                while (i < mid && j < hi) dst[k++] = LESS_EQ(src[i], src[j]) ? src[i++] : src[j++]; \
                while (i < mid) dst[k++] = src[i++];                                             \
                while (j < hi) dst[k++] = src[j++];                                              \
            }                                                                                    \
            T **t = src; src = dst; dst = t;                                                     \
        }                                                                                        \
        if (src != a) memcpy(a, src, n * sizeof *a);                                             \
        free(tmp);                                                                               \
    }

#define ROW_LE(x, y) (row_cmp((x), (y), how) <= 0)
DEFINE_PTR_MSORT(sort_rows, struct xrow, ROW_LE)

/* value kinds by map value size */
static void row_vals(const struct hmap *m, const void *v, int64_t *n, int64_t *size)
{
    if (m->valsize == sizeof(struct sm_rdom)) {
        const struct sm_rdom *r = v; *n = r->cnt; *size = r->size;
    } else if (m->valsize == sizeof(struct sm_ucnt)) {
        const struct sm_ucnt *u = v; *n = u->cnt; *size = u->size;
    } else if (m->valsize == sizeof(struct sm_conn)) {
        const struct sm_conn *cn = v; *n = cn->cnt; *size = cn->secs;
    } else {
        *n = *(const int64_t *)v; *size = 0;
    }
}

/* Rows x[0..n) (key, n, size and val set) sorted for display, compacted into one block that
 * holds its own copies of the keys (caller frees; x is left to the caller). */
static struct sm_row *rows_sort(struct xrow *x, size_t n, enum sm_sort how)
{
    bool norm = how == SORT_CNT_HOST || how == SORT_SIZE_HOST;
    size_t keybytes = 0;
    for (size_t i = 0; i < n; i++) keybytes += x[i].r.key.len;
    /* a normalised key is at most its key plus 4 bytes (a short dotted quad packs to 4) */
    char *nb = norm ? xmalloc(keybytes + 4 * n + 1) : NULL, *np = nb;
    struct xrow **px = xmalloc((n ? n : 1) * sizeof *px);
    for (size_t i = 0; i < n; i++) {
        x[i].kpfx = be_prefix(x[i].r.key);
        x[i].norm = STR_NULL;
        x[i].npfx = 0;
        if (norm) {
            size_t nl = pfs_normalize_host(x[i].r.key, np, x[i].r.key.len + 4);
            x[i].norm = (struct str){ np, nl };
            x[i].npfx = be_prefix(x[i].norm);
            np += nl;
        }
        px[i] = &x[i];
    }
    sort_rows(px, n, how);
    struct sm_row *rows = xmalloc((n ? n : 1) * sizeof *rows + keybytes + 1);
    char *dst = (char *)(rows + (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        rows[i] = px[i]->r;
        sm_copy(dst, px[i]->r.key.p, px[i]->r.key.len);
        rows[i].key.p = dst;
        dst += px[i]->r.key.len;
    }
    free(px);
    free(nb);
    return rows;
}

struct sm_row *sm_rows(const struct hmap *m, enum sm_sort how, size_t *np)
{
    size_t n = hmap_count(m), it = 0, i = 0;
    struct xrow *x = xmalloc((n ? n : 1) * sizeof *x);
    struct str k;
    void *v;
    while (hmap_next(m, &it, &k, &v) && i < n) {
        x[i].r.key = k;
        x[i].r.val = v;
        row_vals(m, v, &x[i].r.n, &x[i].size);
        i++;
    }
    struct sm_row *rows = rows_sort(x, i, how);
    free(x);
    *np = i;
    return rows;
}

struct nkv_s { struct sm_nkv e; uint64_t pfx; };
#define NKV_LE(x, y) (cmp_pfx((x)->pfx, (y)->pfx, (x)->e.k, (y)->e.k) <= 0)
DEFINE_PTR_MSORT(sort_nkv, struct nkv_s, NKV_LE)

void sm_nest_init(struct sm_nest *x, const struct hmap *m)
{
    size_t n = hmap_count(m), it = 0, i = 0;
    struct nkv_s *tmp = xmalloc((n ? n : 1) * sizeof *tmp);
    struct nkv_s **p = xmalloc((n ? n : 1) * sizeof *p);
    struct str k;
    void *v;
    while (hmap_next(m, &it, &k, &v) && i < n) {
        tmp[i].e.k = k;
        tmp[i].e.v = *(int64_t *)v;
        tmp[i].pfx = be_prefix(k);
        p[i] = &tmp[i];
        i++;
    }
    sort_nkv(p, i, SORT_KEY);
    x->n = i;
    x->e = xmalloc((i ? i : 1) * sizeof *x->e);
    for (size_t j = 0; j < i; j++) x->e[j] = p[j]->e;
    free(p);
    free(tmp);
}

struct str sm_child_prefix(char *buf, struct str prefix, struct str key)
{
    size_t kl = key.len < 2000 ? key.len : 2000;
    sm_copy(buf, prefix.p, prefix.len);
    sm_copy(buf + prefix.len, key.p, kl);
    buf[prefix.len + kl] = SM_SEP;
    return (struct str){ buf, prefix.len + kl + 1 };
}

void sm_nest_free(struct sm_nest *x)
{
    free(x->e);
    x->e = NULL;
    x->n = 0;
}

struct sm_row *sm_children(const struct sm_nest *x, struct str prefix, size_t *np, bool *leaf)
{
    /* the first key >= prefix: every key that starts with prefix follows it in one run */
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_bytes(x->e[mid].k, prefix) < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t end = lo;
    *leaf = true;
    for (; end < x->n; end++) {
        struct str k = x->e[end].k;
        if (k.len < prefix.len || (prefix.len && memcmp(k.p, prefix.p, prefix.len) != 0)) break;
        if (*leaf && memchr(k.p + prefix.len, SM_SEP, k.len - prefix.len)) *leaf = false;
    }
    struct sm_row *rows;
    if (*leaf) {
        /* every key of the run is a child of its own (keys are unique): no merging */
        size_t n = end - lo;
        struct xrow *r = xmalloc((n ? n : 1) * sizeof *r);
        for (size_t i = 0; i < n; i++) {
            r[i].r = (struct sm_row){ str_from(x->e[lo + i].k, prefix.len), x->e[lo + i].v, NULL };
            r[i].size = 0;
        }
        rows = rows_sort(r, n, SORT_CNT_HOST);
        free(r);
        *np = n;
        return rows;
    }
    /* inner children: the counts of the keys below each one add up */
    struct hmap tmp;
    hmap_init(&tmp, sizeof(int64_t));
    for (size_t i = lo; i < end; i++) {
        struct str rest = str_from(x->e[i].k, prefix.len);
        ptrdiff_t sep = str_chr(rest, SM_SEP);
        if (sep >= 0) rest = str_sub(rest, 0, (size_t)sep);
        int64_t *c = hmap_put(&tmp, rest, NULL);
        *c += x->e[i].v;
    }
    rows = sm_rows(&tmp, SORT_KEY, np);
    for (size_t i = 0; i < *np; i++) rows[i].val = NULL;
    hmap_free(&tmp);
    return rows;
}
