/*
 * trace - the search (see trace.h for what it finds and the limits).
 *
 * Every pass is one scan_run() with this file's consumer:
 *   P_SELECT  (address / Message-ID) memmem for the search text over the whole input; a hit
 *             counts only when the text is in a structural slot (from=, to=, orig_to=, the
 *             trailer of a cleanup action, message-id=); hits are kept per (host, qid) as
 *             first/last position and time.
 *   P_STORY   lines whose queue-ID slot is one of the searched IDs, inside byte windows
 *             (plain files) or anywhere (streams). Per file one of: FM_NEEDLES (at most
 *             TRACE_MAX_NEEDLES IDs, each searched over all windows, answers cached per
 *             chunk), FM_TARGETS (each window searched for its own ID only: windows that
 *             overlap little), FM_KEYS (lines in the windows walked, their queue-ID slot
 *             looked up in a bloom filter + hash set: many overlapping windows).
 *   P_SESSION smtpd lines of the searched pids ("smtpd[PID]: ") in windows around client=.
 * Between passes the records are turned into messages (trace_story.c), and the next
 * targets are: messages not finished at the end of their window (continue to the end of the
 * input) and children named by a message but not found yet (a window around the naming
 * line). Passes stop when nothing is left to look for or after TRACE_MAX_DEPTH rounds.
 *
 * Threads: chunk states (struct tchunk) are private to a worker; the trace itself is only
 * written by merge/file_begin (main thread) and read by the workers while a pass runs.
 */
#include "report/trace_int.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

struct active { uint32_t tr; bool valid; uint64_t from, lim, hit; };

struct tchunk {
    struct trace *t;
    struct active *act;           /* FM_TARGETS: windows open at the current position */
    size_t nact, capact, next_tr;
    size_t file;
    const char *map;
    struct arena arena;
    struct trec *recs;
    size_t nrecs, caprecs, nnoq;
    struct hmap hits;
    uint64_t parsed;
    struct { bool valid; uint64_t from, lim, hit; } mc[TRACE_MAX_NEEDLES];
    size_t ri;
};

/* ---- addresses ---- */

bool trace_addr_match(const struct trace *t, struct str a)
{
    if (!a.len) return false;
    if (t->domain) return str_endswith(a, t->whatbuf) && a.len > t->needle.len;
    return str_eq(a, t->needle);
}

/* The trailer "; from=<s> to=<r> proto=P helo=<h>" of a cleanup action line. The text
 * before it holds the header (attacker text), so take the last "; from=<" that is followed
 * by " proto=" (a forged trailer inside the Subject comes first). */
void trace_action_trailer(const struct event *ev, struct pf_fields *f)
{
    memset(f, 0, sizeof *f);
    struct str m = ev->h.msg;
    ptrdiff_t pr = str_rfindc(m, " proto=");
    if (pr < 0) return;
    ptrdiff_t s = str_rfindc(str_sub(m, 0, (size_t)pr), "; from=<");
    if (s < 0) return;
    pf_fields_parse(str_from(m, (size_t)s + 2), f);
}

/* ---- records ---- */

static void rec_add(struct tchunk *c, enum rec_kind kind, const struct event *ev, struct str line,
                    uint64_t pos)
{
    c->recs = xgrow(c->recs, &c->caprecs, c->nrecs + 1, sizeof *c->recs);
    struct trec *r = &c->recs[c->nrecs++];
    r->pos = pos;
    r->t = ev->h.t;
    r->usec = ev->h.usec;
    r->kind = (uint8_t)kind;
    r->line = arena_str(&c->arena, line);
}

static void hit_add(struct hmap *m, const struct event *ev, uint64_t pos)
{
    char kb[320];
    size_t hl = ev->h.host.len < 255 ? ev->h.host.len : 255;
    memcpy(kb, ev->h.host.p, hl);
    kb[hl] = 0;
    size_t ql = ev->qid.len < 40 ? ev->qid.len : 40;
    memcpy(kb + hl + 1, ev->qid.p, ql);
    bool isnew;
    struct thit *h = hmap_put(m, str_make(kb, hl + 1 + ql), &isnew);
    if (isnew) {
        h->first_pos = pos;
        h->first_t = ev->h.t;
    }
    h->last_pos = pos;
    h->last_t = ev->h.t;
    h->n++;
}

/* ---- the per-line key: "prog[pid]: QID: " ---- */

/* Locate the syslog tag's "]: " and read the pid and queue-ID slot. */
static bool line_tag(struct str line, struct str *prog_end, struct str *pid, struct str *qid)
{
    size_t lim = line.len < 320 ? line.len : 320;
    const char *b = memchr(line.p, ']', lim);
    if (!b) return false;
    size_t bi = (size_t)(b - line.p);
    if (bi + 2 >= line.len || b[1] != ':' || b[2] != ' ') return false;
    size_t o = bi;
    while (o > 0 && line.p[o - 1] >= '0' && line.p[o - 1] <= '9' && bi - o < 10) o--;
    if (o == bi || o == 0 || line.p[o - 1] != '[') return false;
    *pid = str_sub(line, o, bi - o);
    *prog_end = str_sub(line, o >= 7 ? o - 7 : 0, o >= 7 ? 6 : o - 1);
    struct str r = str_from(line, bi + 3);
    *qid = STR_NULL;
    size_t n = 0;
    while (n < r.len && n < 34 && r.p[n] != ':') n++;
    if (n >= 6 && n < r.len && r.p[n] == ':' && n + 1 < r.len && r.p[n + 1] == ' ') *qid = str_sub(r, 0, n);
    return true;
}

static inline uint64_t key_hash(struct str k)
{
    uint64_t a = 0, b = 0;
    memcpy(&a, k.p, k.len < 8 ? k.len : 8);
    if (k.len > 8) memcpy(&b, k.p + k.len - 8, 8);
    uint64_t h = (a ^ k.len) * UINT64_C(0x9E3779B97F4A7C15) ^ b * UINT64_C(0xC2B2AE3D27D4EB4F);
    return h ^ (h >> 31);
}

static inline bool bloom_has(const struct trace *t, struct str k)
{
    uint64_t h = key_hash(k), m = TRACE_BLOOM_BITS - 1;
    uint64_t x = h & m, y = (h >> 32) & m;
    return (t->bloom[x / 64] >> (x % 64) & 1) && (t->bloom[y / 64] >> (y % 64) & 1);
}

static void bloom_add(struct trace *t, struct str k)
{
    uint64_t h = key_hash(k), m = TRACE_BLOOM_BITS - 1;
    uint64_t x = h & m, y = (h >> 32) & m;
    t->bloom[x / 64] |= UINT64_C(1) << (x % 64);
    t->bloom[y / 64] |= UINT64_C(1) << (y % 64);
}

static bool line_has_key(const struct trace *t, struct str line)
{
    struct str pe, pid, qid;
    if (!line_tag(line, &pe, &pid, &qid)) return false;
    if (t->pass == P_SESSION)
        return str_eqc(pe, "/smtpd") && bloom_has(t, pid) && hmap_get(&t->keys, pid) != NULL;
    return qid.len && bloom_has(t, qid) && hmap_get(&t->keys, qid) != NULL;
}

static bool want_line(void *global, struct str line)
{
    const struct trace *t = global;
    if (t->nneedles) {
        for (size_t i = 0; i < t->nneedles; i++)
            if (str_find(line, t->needles[i].p, t->needles[i].len) >= 0) return true;
        return false;
    }
    return line_has_key(t, line);
}

/* ---- find: jump to the next candidate line inside the windows ---- */

#define NO_HIT UINT64_MAX

/* memmem per needle; each needle's last answer is cached (as file offsets: the buffer the
 * driver hands us is reused) so a hit of one needle does not make the others search the
 * same bytes again. */
static const char *find_mem(struct tchunk *c, const char *lp, const char *hp, uint64_t lo)
{
    const struct trace *t = c->t;
    uint64_t hi = lo + (uint64_t)(hp - lp), best = NO_HIT;
    for (size_t i = 0; i < t->nneedles; i++) {
        uint64_t h;
        if (c->mc[i].valid && c->mc[i].from <= lo && c->mc[i].lim >= hi &&
            (c->mc[i].hit == NO_HIT || c->mc[i].hit >= lo)) {
            h = c->mc[i].hit < hi ? c->mc[i].hit : NO_HIT;
        } else {
            const char *m = finder_find(&t->finders[i], lp, (size_t)(hp - lp));
            h = m ? lo + (uint64_t)(m - lp) : NO_HIT;
            c->mc[i].valid = true;
            c->mc[i].from = lo;
            c->mc[i].lim = hi;
            c->mc[i].hit = h;
        }
        if (h < best) best = h;
    }
    return best == NO_HIT ? NULL : lp + (best - lo);
}

static const char *find_keys(struct tchunk *c, const char *lo, const char *hi, const char *end)
{
    const char *ls = lo;
    while (ls < hi) {
        const char *nl = memchr(ls, '\n', (size_t)(end - ls));
        const char *le = nl ? nl : end;
        if (line_has_key(c->t, str_make(ls, (size_t)(le - ls)))) return ls;
        ls = le + 1;
    }
    return NULL;
}

/* FM_TARGETS: each window is searched for its own needle only (results cached as offsets
 * per open window, so every byte is scanned once per window covering it). */
static const char *find_targets(struct tchunk *c, const char *p, const char *end, uint64_t off)
{
    const struct trace *t = c->t;
    uint64_t po = off, eo = off + (uint64_t)(end - p), best = NO_HIT;
    while (c->next_tr < t->ntr && t->tr[c->next_tr].lo < eo) {
        if (t->tr[c->next_tr].hi > po) {
            c->act = xgrow(c->act, &c->capact, c->nact + 1, sizeof *c->act);
            c->act[c->nact++] = (struct active){ (uint32_t)c->next_tr, false, 0, 0, 0 };
        }
        c->next_tr++;
    }
    size_t w = 0;
    for (size_t i = 0; i < c->nact; i++) {
        struct active *a = &c->act[i];
        const struct trange *r = &t->tr[a->tr];
        if (r->hi <= po) continue;                  /* closed: drop it */
        c->act[w++] = *a;
        a = &c->act[w - 1];
        uint64_t lo = r->lo > po ? r->lo : po, hi = r->hi < eo ? r->hi : eo;
        if (lo >= hi || lo >= best) continue;
        uint64_t h;
        if (a->valid && a->from <= lo && a->lim >= hi && (a->hit == NO_HIT || a->hit >= lo)) {
            h = a->hit < hi ? a->hit : NO_HIT;
        } else {
            const struct ttarget *g = &t->targets[r->target];
            const char *m = finder_find(&g->fnd, p + (lo - off), (size_t)(hi - lo));
            h = m ? off + (uint64_t)(m - p) : NO_HIT;
            *a = (struct active){ a->tr, true, lo, hi, h };
        }
        if (h < best) best = h;
    }
    c->nact = w;
    return best == NO_HIT ? NULL : p + (best - off);
}

/* The next candidate in [p, end) (file offsets off ..): inside the byte windows of the
 * current file only. */
static const char *find_hook(void *chunk, const char *p, const char *end, uint64_t off)
{
    struct tchunk *c = chunk;
    const struct trace *t = c->t;
    if (t->fmode == FM_TARGETS) return find_targets(c, p, end, off);
    uint64_t po = off, eo = off + (uint64_t)(end - p);
    while (po < eo) {
        while (c->ri < t->nranges && t->ranges[c->ri].hi <= po) c->ri++;
        if (c->ri >= t->nranges) return NULL;
        uint64_t lo = t->ranges[c->ri].lo, hi = t->ranges[c->ri].hi;
        if (lo >= eo) return NULL;
        if (lo < po) lo = po;
        if (hi > eo) hi = eo;
        const char *lp = p + (lo - off), *hp = p + (hi - off);
        if (!t->nneedles && lo > po && lp[-1] != '\n') {
            /* a window starting inside a line starts at the next line */
            const char *nl = memchr(lp, '\n', (size_t)(hp - lp));
            if (!nl) { po = hi; continue; }
            lp = nl + 1;
            lo = off + (uint64_t)(lp - p);
        }
        const char *h = t->nneedles ? find_mem(c, lp, hp, lo) : find_keys(c, lp, hp, end);
        if (h) return h;
        po = hi;
    }
    return NULL;
}

static uint64_t skip_hook(void *chunk, uint64_t off)
{
    struct tchunk *c = chunk;
    const struct trace *t = c->t;
    size_t i = c->ri;
    while (i < t->nranges && t->ranges[i].hi <= off) i++;
    if (i >= t->nranges) return UINT64_MAX;
    return t->ranges[i].lo > off ? t->ranges[i].lo : off;
}

/* ---- consumer ---- */

static void *chunk_new(void *global)
{
    struct trace *t = global;
    struct tchunk *c = xcalloc(1, sizeof *c);
    c->t = t;
    c->file = t->cur_file;
    c->map = t->cur_map;
    hmap_init(&c->hits, sizeof(struct thit));
    return c;
}

static void select_feed(struct tchunk *c, const struct event *ev, struct str line, uint64_t pos)
{
    struct trace *t = c->t;
    if (ev->src != SRC_POSTFIX) return;
    bool m = false;
    if (t->what == TW_MSGID) {
        m = ev->kind == EV_MESSAGE_ID && str_eq(ev->f.message_id, str_sub(t->needle, 1, t->needle.len - 2));
    } else {
        struct pf_fields f;
        switch (ev->kind) {
        case EV_QMGR_FROM: case EV_EXPIRED: case EV_PICKUP:
            m = trace_addr_match(t, ev->f.from);
            break;
        case EV_DELIVERY:
            m = trace_addr_match(t, ev->f.to) || trace_addr_match(t, ev->f.orig_to);
            break;
        case EV_REJECT: case EV_HOLD: case EV_DISCARD: case EV_HEADER_WARNING: case EV_REDIRECT:
        case EV_FILTER:
            if (ev->kind == EV_REJECT && !str_eqc(ev->service, "cleanup")) {
                m = trace_addr_match(t, ev->f.from) || trace_addr_match(t, ev->f.to);
                break;
            }
            /* cleanup action: the trailer after the header text */
            trace_action_trailer(ev, &f);
            m = trace_addr_match(t, f.from) || trace_addr_match(t, f.to);
            break;
        default:
            break;
        }
    }
    if (!m || ev->h.t < t->o.since || ev->h.t > t->o.until) return;
    if (ev->qid.len) hit_add(&c->hits, ev, pos);
    else if (ev->noqueue && ev->kind == EV_REJECT && c->nnoq < TRACE_MAX_NOQUEUE) {
        rec_add(c, REC_NOQUEUE, ev, line, pos);
        c->nnoq++;
    }
}

/* The child a line names: bounce notice "QID2", "forwarded as X", "queued as X". */
static bool names_child(const struct event *ev, struct str *child)
{
    if (ev->kind == EV_BOUNCE_NOTICE) { *child = ev->text; return true; }
    if (ev->kind == EV_DELIVERY)
        return trace_reply_forwarded_as(ev->f.reply, child) || trace_reply_queued_as(ev->f.reply, child);
    return false;
}

static void feed_at(void *chunk, const struct event *ev, struct str line, uint64_t off)
{
    struct tchunk *c = chunk;
    struct trace *t = c->t;
    uint64_t pos = POS(c->file, off);
    c->parsed++;
    switch (t->pass) {
    case P_SELECT:
        select_feed(c, ev, line, pos);
        break;
    case P_STORY: {
        if (ev->src != SRC_POSTFIX) break;
        struct str child;
        if (ev->qid.len && hmap_get(&t->keys, ev->qid)) rec_add(c, REC_STORY, ev, line, pos);
        else if (t->parent_links && ev->qid.len && names_child(ev, &child) && hmap_get(&t->keys, child))
            rec_add(c, REC_PARENT, ev, line, pos);
        break;
    }
    case P_SESSION: {
        if (ev->src != SRC_POSTFIX || !str_eqc(ev->service, "smtpd") || ev->h.pid < 0) break;
        char pb[24];
        int pl = snprintf(pb, sizeof pb, "%ld", ev->h.pid);
        if (!hmap_get(&t->keys, str_make(pb, (size_t)pl))) break;
        switch (ev->kind) {
        case EV_CONNECT: case EV_DISCONNECT: case EV_LOST_CONN: case EV_TIMEOUT:
        case EV_TOO_MANY_ERRORS: case EV_TLS: case EV_CLIENT:
            rec_add(c, REC_SESSION, ev, line, pos);
            break;
        case EV_REJECT:
            if (ev->noqueue) rec_add(c, REC_SESSION, ev, line, pos);
            break;
        default:
            break;
        }
        break;
    }
    }
}

static void feed_plain(void *chunk, const struct event *ev, struct str line) { feed_at(chunk, ev, line, 0); }

static void merge(void *global, void *chunk)
{
    struct trace *t = global;
    struct tchunk *c = chunk;
    t->parsed += c->parsed;
    t->arenas = xgrow(t->arenas, &t->caparenas, t->narenas + 1, sizeof *t->arenas);
    t->arenas[t->narenas++] = c->arena;
    size_t n = c->nrecs;
    if (t->nrecs + n > TRACE_MAX_RECORDS) {
        n = t->nrecs < TRACE_MAX_RECORDS ? TRACE_MAX_RECORDS - t->nrecs : 0;
        if (!t->warned_records) {
            msg_warn("trace: more than %d matching lines; the rest is not shown", TRACE_MAX_RECORDS);
            t->warned_records = true;
        }
    }
    if (n) {
        t->recs = xgrow(t->recs, &t->caprecs, t->nrecs + n, sizeof *t->recs);
        memcpy(t->recs + t->nrecs, c->recs, n * sizeof *c->recs);
        t->nrecs += n;
    }
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&c->hits, &it, &k, &v)) {
        const struct thit *src = v;
        bool isnew;
        if (hmap_count(&t->hits) >= TRACE_MAX_KEYS && !hmap_get(&t->hits, k)) {
            t->hits_capped = true;
            continue;
        }
        struct thit *d = hmap_put(&t->hits, k, &isnew);
        if (isnew) *d = *src;
        else {
            d->last_pos = src->last_pos;
            d->last_t = src->last_t;
            d->n += src->n;
        }
    }
    hmap_free(&c->hits);
    free(c->recs);
    free(c->act);
    free(c);
}

static int range_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static int trange_cmp(const void *a, const void *b)
{
    const struct trange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void file_begin(void *global, size_t idx, const char *path, const char *map, size_t len)
{
    struct trace *t = global;
    t->cur_file = idx;
    t->cur_map = map;
    t->cur_len = len;
    if (idx >= t->nflen) {
        t->flen = xgrow(t->flen, &t->capflen, idx + 1, sizeof *t->flen);
        memset(t->flen + t->nflen, 0, (idx + 1 - t->nflen) * sizeof *t->flen);
        t->nflen = idx + 1;
    }
    t->flen[idx] = map ? len : 0;
    t->nranges = 0;
    t->ntr = 0;
    if (!map) return;
    uint64_t flo = POS(idx, 0), fhi = POS(idx, len), sum = 0, uni = 0;
    for (size_t i = 0; i < t->ntargets; i++) {
        uint64_t lo = t->targets[i].lo > flo ? t->targets[i].lo : flo;
        uint64_t hi = t->targets[i].hi < fhi ? t->targets[i].hi : fhi;
        if (lo >= hi) continue;
        t->ranges = xgrow(t->ranges, &t->capranges, t->nranges + 1, sizeof *t->ranges);
        t->ranges[t->nranges].lo = POS_OFF(lo);
        t->ranges[t->nranges].hi = POS_OFF(hi);
        t->nranges++;
        t->tr = xgrow(t->tr, &t->captr, t->ntr + 1, sizeof *t->tr);
        t->tr[t->ntr++] = (struct trange){ POS_OFF(lo), POS_OFF(hi), (uint32_t)i };
        sum += hi - lo;
    }
    if (t->nranges > 1) qsort(t->ranges, t->nranges, sizeof *t->ranges, range_cmp);
    if (t->ntr > 1) qsort(t->tr, t->ntr, sizeof *t->tr, trange_cmp);
    size_t w = 0;
    for (size_t i = 0; i < t->nranges; i++) {
        if (w && t->ranges[i].lo <= t->ranges[w - 1].hi) {
            if (t->ranges[i].hi > t->ranges[w - 1].hi) t->ranges[w - 1].hi = t->ranges[i].hi;
        } else {
            t->ranges[w++] = t->ranges[i];
        }
    }
    t->nranges = w;
    for (size_t i = 0; i < w; i++) uni += t->ranges[i].hi - t->ranges[i].lo;
    /* one memmem per window beats looking at every line's ID while the windows overlap
     * little (a per-line lookup costs a few memmem scans of the same bytes) */
    for (size_t i = 0; i < t->nneedles; i++) finder_init(&t->finders[i], t->needles[i]);
    if (t->nneedles) t->fmode = FM_NEEDLES;
    else if (sum <= 3 * uni) t->fmode = FM_TARGETS;
    else t->fmode = FM_KEYS;
}

static int run_pass(struct trace *t, const struct scan_opts *so)
{
    struct scan_consumer c = {
        .chunk_new = chunk_new, .feed = feed_plain, .merge = merge, .want_line = want_line,
        .global = t, .find = find_hook, .skip = skip_hook, .feed_at = feed_at, .file_begin = file_begin,
    };
    struct scan_stats st, *stp = t->have_first ? &st : &t->first;
    struct timespec a, b;
    uint64_t parsed0 = t->parsed;
    size_t recs0 = t->nrecs;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = (t->o.scan_fn ? t->o.scan_fn : scan_run)(so, &c, stp);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (t->have_first) scan_stats_free(&st);
    t->have_first = true;
    t->passes++;
    msg_debug("trace pass %u (%s, %zu keys, %s): %.3f s, %llu lines parsed, %zu kept",
              t->passes, t->pass == P_SELECT ? "select" : t->pass == P_STORY ? "story" : "session",
              t->ntargets, t->nneedles ? "needles" : t->fmode == FM_TARGETS ? "per-window needles" : "per-line keys",
              (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
              (unsigned long long)(t->parsed - parsed0), t->nrecs - recs0);
    return rc;
}

/* ---- targets ---- */

static void targets_reset(struct trace *t)
{
    t->ntargets = 0;
    t->nneedles = 0;
    hmap_free(&t->keys);
    hmap_init(&t->keys, 0);
    memset(t->bloom, 0, sizeof t->bloom);
}

static void target_add(struct trace *t, struct str key, uint64_t lo, uint64_t hi)
{
    if (key.len >= sizeof t->targets[0].key) return;
    t->targets = xgrow(t->targets, &t->captargets, t->ntargets + 1, sizeof *t->targets);
    struct ttarget *g = &t->targets[t->ntargets++];
    memcpy(g->key, key.p, key.len);
    g->keylen = (uint8_t)key.len;
    g->lo = lo;
    g->hi = hi;
    int n = t->pass == P_SESSION ? snprintf(g->needle, sizeof g->needle, "smtpd[%.*s]: ", STR_FMT(key))
                                 : snprintf(g->needle, sizeof g->needle, "%.*s: ", STR_FMT(key));
    g->nlen = (uint8_t)(n > 0 && (size_t)n < sizeof g->needle ? n : 0);
    hmap_put(&t->keys, key, NULL);
    bloom_add(t, key);
}

/* Memmem needles when few keys; keys must stay valid during the pass (they live in the
 * targets array, which does not grow while a pass runs). */
static void targets_finish(struct trace *t, const char *prefix)
{
    /* the array does not move any more: the finders may point into it */
    for (size_t i = 0; i < t->ntargets; i++)
        finder_init(&t->targets[i].fnd, str_make(t->targets[i].needle, t->targets[i].nlen));
    size_t nk = hmap_count(&t->keys);
    t->nneedles = 0;
    if (nk == 0 || nk > TRACE_MAX_NEEDLES) return;
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&t->keys, &it, &k, &v)) {
        char *b = t->nbuf[t->nneedles];
        int n = prefix ? snprintf(b, sizeof t->nbuf[0], "%s%.*s]: ", prefix, STR_FMT(k))
                       : snprintf(b, sizeof t->nbuf[0], "%.*s: ", STR_FMT(k));
        if (n < 0 || (size_t)n >= sizeof t->nbuf[0]) { t->nneedles = 0; return; }
        t->needles[t->nneedles] = str_make(b, (size_t)n);
        t->nneedles++;
    }
}

/* A window of `before` bytes before pos and `after` bytes after pos2, spilling into the
 * neighbouring inputs when they are known. */
static void window(const struct trace *t, uint64_t pos, uint64_t pos2, size_t before, size_t after,
                   uint64_t *lo, uint64_t *hi)
{
    size_t f = POS_FILEOF(pos);
    uint64_t off = POS_OFF(pos);
    if (off >= before) *lo = pos - before;
    else if (f > 0 && f - 1 < t->nflen && t->flen[f - 1] > before - off) *lo = POS(f - 1, t->flen[f - 1] - (before - off));
    else *lo = f > 0 ? POS(f - 1, 0) : 0;
    f = POS_FILEOF(pos2);
    off = POS_OFF(pos2);
    size_t len = f < t->nflen ? t->flen[f] : 0;
    if (len && off + after > len && f + 1 < t->nflen) *hi = POS(f + 1, off + after - len);
    else *hi = pos2 + after;
}

static bool any_mapped(const struct trace *t)
{
    for (size_t i = 0; i < t->nflen; i++) if (t->flen[i]) return true;
    return false;
}

static struct span *searched_get(const struct trace *t, struct str qid)
{
    return hmap_get(&t->searched, qid);
}

static void searched_add(struct trace *t, struct str qid, uint64_t lo, uint64_t hi)
{
    bool isnew;
    struct span *v = hmap_put(&t->searched, qid, &isnew);
    if (isnew || lo < v->lo) v->lo = lo;
    if (isnew || hi > v->hi) v->hi = hi;
}

/* ---- selection (address / Message-ID) ---- */

struct keyref { struct str key; struct thit *h; };

static int keyref_newest(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    if (x->h->last_pos != y->h->last_pos) return x->h->last_pos > y->h->last_pos ? -1 : 1;
    return 0;
}

static void select_targets(struct trace *t)
{
    size_t n = hmap_count(&t->hits), k = 0;
    struct keyref *refs = xcalloc(n ? n : 1, sizeof *refs);
    size_t it = 0;
    struct str key;
    void *v;
    while (hmap_next(&t->hits, &it, &key, &v)) refs[k++] = (struct keyref){ key, v };
    qsort(refs, k, sizeof *refs, keyref_newest);
    if (k > t->max_messages) {
        t->dropped_old = k - t->max_messages;
        for (size_t i = t->max_messages; i < k; i++) refs[i].h->n = 0;   /* not wanted */
        k = t->max_messages;
    }
    targets_reset(t);
    t->pass = P_STORY;
    for (size_t i = 0; i < k; i++) {
        ptrdiff_t z = str_chr(refs[i].key, '\0');
        struct str qid = str_from(refs[i].key, (size_t)z + 1);
        uint64_t lo, hi;
        window(t, refs[i].h->first_pos, refs[i].h->last_pos, TRACE_WIN_BEFORE, TRACE_WIN_AFTER, &lo, &hi);
        target_add(t, qid, lo, hi);
        searched_add(t, qid, lo, hi);
    }
    free(refs);
    targets_finish(t, NULL);
}

/* ---- following: unfinished messages and children ---- */

static bool follow_children(const struct trace *t)
{
    return t->what == TW_QID || t->o.verbose || t->o.json;
}

/* Its first line (smtpd client= or pickup) is not among those found. Notifications and
 * forwarded copies start with cleanup: a child, or a message from <>, is complete without. */
static bool start_missing(const struct tinst *in)
{
    if (in->client >= 0 || in->pickup >= 0 || in->null_sender) return false;
    return in->parent < 0 || in->via == VIA_QUEUED;   /* a hop was received by smtpd */
}

static size_t next_targets(struct trace *t)
{
    struct story *s = &t->st;
    targets_reset(t);
    t->pass = P_STORY;
    t->parent_links = false;
    for (size_t i = 0; i < s->nin; i++) {
        struct tinst *in = &s->in[i];
        if (!in->in_output) continue;
        struct span *sp = searched_get(t, in->qid);
        if (sp && !in->finished && sp->hi != POS_EOF) {
            target_add(t, in->qid, sp->hi, POS_EOF);
            sp->hi = POS_EOF;
        }
        if (sp && start_missing(in) && sp->lo > 0 && sp->back < TRACE_MAX_BACK) {
            uint64_t lo, hi, step = (uint64_t)TRACE_WIN_EXTEND << (sp->back < 6 ? sp->back : 6);
            window(t, sp->lo, sp->lo, (size_t)step, 0, &lo, &hi);
            target_add(t, in->qid, lo, sp->lo);
            sp->lo = lo;
            sp->back++;
        }
        if (!follow_children(t)) continue;
        for (size_t j = 0; j < in->nkids; j++) {
            struct tlink *l = &in->kids[j];
            if (l->child >= 0 || !pf_is_qid(l->qid) || searched_get(t, l->qid)) continue;
            uint64_t pos = s->recs[l->ev].pos, lo, hi;
            window(t, pos, pos, TRACE_WIN_CHILD, TRACE_WIN_AFTER, &lo, &hi);
            target_add(t, l->qid, lo, hi);
            searched_add(t, l->qid, lo, hi);
        }
    }
    targets_finish(t, NULL);
    return t->ntargets;
}

/* Round 0: a window around each client= line; round 1: wider, for the sessions whose
 * connect or end was not in it. */
static size_t session_targets(struct trace *t, unsigned round)
{
    struct story *s = &t->st;
    targets_reset(t);
    t->pass = P_SESSION;
    size_t w = round ? TRACE_WIN_EXTEND : TRACE_WIN_SESSION;
    for (size_t i = 0; i < s->nin; i++) {
        struct tinst *in = &s->in[i];
        if (!in->in_output || in->client < 0 || !in->smtpd) continue;
        if (round && in->conn >= 0 && in->conn_end >= 0) continue;
        char pb[24];
        int pl = snprintf(pb, sizeof pb, "%ld", in->smtpd_pid);
        uint64_t lo, hi, pos = s->recs[in->client].pos;
        window(t, pos, pos, in->conn >= 0 && round ? 0 : w, in->conn_end >= 0 && round ? 0 : w, &lo, &hi);
        target_add(t, str_make(pb, (size_t)pl), lo, hi);
    }
    targets_finish(t, "smtpd[");
    return t->ntargets;
}

/* After a pass over streams only, every window was in fact the whole input. */
static void streams_searched_all(struct trace *t)
{
    if (any_mapped(t)) return;
    for (size_t i = 0; i < t->ntargets; i++)
        searched_add(t, str_make(t->targets[i].key, t->targets[i].keylen), 0, POS_EOF);
}

/* stdin can be read once, and a trace reads its input in several passes: copy it to a
 * temporary file (removed by trace_free) and read that instead. */
static int spool_stdin(struct trace *t, struct scan_opts *so)
{
    bool any = false;
    for (size_t i = 0; i < so->npaths; i++) any |= strcmp(so->paths[i], "-") == 0;
    if (!any || t->o.scan_fn) return 0;
    const char *dir = getenv("TMPDIR");
    t->spool = xasprintf("%s/mailwarden-trace.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(t->spool);
    if (fd < 0) {
        msg_error("cannot create a temporary file for stdin (%s): %s", t->spool, strerror(errno));
        free(t->spool);
        t->spool = NULL;
        return -1;
    }
    char *buf = xmalloc(1 << 20);
    ssize_t n;
    int rc = 0;
    while ((n = read(0, buf, 1 << 20)) != 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { msg_error("reading stdin: %s", strerror(errno)); rc = -1; break; }
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(fd, buf + w, (size_t)(n - w));
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) { msg_error("writing %s: %s", t->spool, strerror(errno)); rc = -1; break; }
            w += k;
        }
        if (rc) break;
    }
    free(buf);
    close(fd);
    t->paths = xcalloc(so->npaths, sizeof *t->paths);
    for (size_t i = 0; i < so->npaths; i++)
        t->paths[i] = strcmp(so->paths[i], "-") == 0 ? t->spool : so->paths[i];
    so->paths = t->paths;
    return rc;
}

int trace_run(struct trace *t, const struct scan_opts *so_in)
{
    struct scan_opts so = *so_in;
    if (spool_stdin(t, &so) < 0) return -1;
    t->popts = so.parse;
    so.since = INT64_MIN;
    so.until = INT64_MAX;
    so.last_lines = 0;
    int rc;
    if (t->what == TW_QID) {
        targets_reset(t);
        t->pass = P_STORY;
        t->parent_links = true;
        target_add(t, t->needle, 0, POS_EOF);
        searched_add(t, t->needle, 0, POS_EOF);
        targets_finish(t, NULL);
        t->needles[0] = t->needle;   /* the bare ID: also finds the lines naming it as a child */
        t->nneedles = 1;
        rc = run_pass(t, &so);
    } else {
        targets_reset(t);
        t->pass = P_SELECT;
        target_add(t, STR_LIT("*"), 0, POS_EOF);
        targets_finish(t, NULL);
        t->needles[0] = t->select_needle;
        t->nneedles = 1;
        rc = run_pass(t, &so);
        if (rc == 0) {
            if (t->hits_capped)
                msg_warn("trace: more than %d matching messages; the rest is not shown", TRACE_MAX_KEYS);
            select_targets(t);
            if (t->ntargets) {
                run_pass(t, &so);
                streams_searched_all(t);
            }
        }
    }
    if (rc < 0) return -1;
    t->parent_links = false;
    for (int round = 0; round < 2 * TRACE_MAX_DEPTH + 2; round++) {
        story_build(t);
        if (!next_targets(t)) break;
        run_pass(t, &so);
        streams_searched_all(t);
    }
    if (t->what == TW_QID || t->o.verbose || t->o.json) {
        for (unsigned round = 0; round < 2; round++) {
            if (!session_targets(t, round)) break;
            run_pass(t, &so);
            story_build(t);
            if (!any_mapped(t)) break;
        }
    }
    story_build(t);
    return 0;
}

struct trace *trace_new(const struct trace_opts *o, char *err, size_t errlen)
{
    struct str what = str_c(o->what), needle;
    enum trace_what w = trace_classify(what, &needle, err, errlen);
    if (w == TW_INVALID) return NULL;
    struct trace *t = xcalloc(1, sizeof *t);
    t->o = *o;
    t->what = w;
    t->whatbuf = xstrndup(what.p, what.len);
    t->needle = str_make(t->whatbuf, what.len);
    t->domain = w == TW_ADDR && t->whatbuf[0] == '@';
    /* Postfix writes every address slot as <addr> (from=<>, to=<>, orig_to=<>, the
     * trailers of rejects and cleanup actions): search for that, not for bare mentions */
    if (w == TW_ADDR) t->selbuf = xasprintf("%s%s>", t->domain ? "" : "<", t->whatbuf);
    else t->selbuf = xstrdup(t->whatbuf);
    t->select_needle = str_c(t->selbuf);
    t->built_nrecs = SIZE_MAX;
    t->max_messages = o->max_messages ? o->max_messages : TRACE_MAX_MESSAGES;
    hmap_init(&t->keys, 0);
    hmap_init(&t->hits, sizeof(struct thit));
    hmap_init(&t->searched, sizeof(struct span));
    return t;
}

size_t trace_count(const struct trace *t) { return t->st.nout; }

const struct scan_stats *trace_input_stats(const struct trace *t)
{
    return t->have_first ? &t->first : NULL;
}

void trace_stats(const struct trace *t, unsigned *passes, uint64_t *parsed)
{
    if (passes) *passes = t->passes;
    if (parsed) *parsed = t->parsed;
}

void trace_free(struct trace *t)
{
    if (!t) return;
    story_free(&t->st);
    for (size_t i = 0; i < t->narenas; i++) arena_free(&t->arenas[i]);
    free(t->arenas);
    free(t->recs);
    free(t->targets);
    free(t->ranges);
    free(t->tr);
    free(t->flen);
    hmap_free(&t->keys);
    hmap_free(&t->hits);
    hmap_free(&t->searched);
    if (t->have_first) scan_stats_free(&t->first);
    if (t->spool) unlink(t->spool);
    free(t->spool);
    free(t->paths);
    free(t->whatbuf);
    free(t->selbuf);
    free(t);
}
