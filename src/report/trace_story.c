/*
 * trace_story - from the lines a search found to messages (see trace_int.h).
 *
 * Lines are taken in input order. A message is (host, queue ID) from its first line to its
 * "removed"; a line for the same (host, queue ID) after "removed", or a new client=/pickup
 * line after the queue manager saw the ID, starts a new message (Postfix reuses short IDs).
 * Per recipient (to=, orig_to=) the delivery lines give the attempts and the last status;
 * qmgr "expired", postsuper "removed" and hold/discard/reject say what became of the
 * recipients that were not delivered. Children are the messages a line names: bounce
 * notices, local(8) "forwarded as", and a "queued as" reply answered by a host whose log is
 * in the input; the child must exist at that time (and, for a hop, carry the same
 * Message-ID when both are known), so a forged ID in a remote reply links nothing.
 *
 * Memory: 16 bytes per line (struct tev) plus the messages; the details of a line are
 * parsed again when printed (story_event), which keeps big address searches small.
 * Every array here is rebuilt per call and freed by story_free().
 */
#include "report/trace_int.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINK_SLACK 600            /* s: a notification/forward child exists around its announcement */
#define HOP_BEFORE 3600           /* s: a hop child is created up to this long before the 250 reply */

static const char *const state_names[RS_MAX] = {
    "queued", "delivered", "deferred", "bounced", "expired", "deleted", "held", "discarded",
    "rejected", "other",
};
static const char *const via_names[VIA_MAX] = {
    "non-delivery notification", "delay notification", "delivery status notification",
    "postmaster notification", "forwarded", "queued as",
};

const char *story_state_name(enum rstate s) { return s < RS_MAX ? state_names[s] : "?"; }
const char *story_via_name(enum link_via v) { return v < VIA_MAX ? via_names[v] : "?"; }

const struct event *story_event(struct story *s, int i, struct event *ev)
{
    parse_line(&s->pctx, s->popts, s->recs[i].line, ev);
    ev->h.t = s->recs[i].t;
    ev->h.usec = s->recs[i].usec;
    return ev;
}

static int rec_cmp(const void *a, const void *b)
{
    const struct trec *x = a, *y = b;
    if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

static size_t hostkey(char *kb, size_t cap, struct str host, struct str id)
{
    size_t hl = host.len < 255 ? host.len : 255, ql = id.len < 40 ? id.len : 40;
    if (hl + 1 + ql > cap) return 0;
    memcpy(kb, host.p, hl);
    kb[hl] = 0;
    memcpy(kb + hl + 1, id.p, ql);
    return hl + 1 + ql;
}

static int inst_new(struct story *s, const struct event *ev, int i)
{
    s->in = xgrow(s->in, &s->capin, s->nin + 1, sizeof *s->in);
    s->next_same_qid = xrealloc(s->next_same_qid, s->capin * sizeof *s->next_same_qid);
    int k = (int)s->nin++;
    struct tinst *in = &s->in[k];
    memset(in, 0, sizeof *in);
    in->host = ev->h.host;
    in->qid = ev->qid;
    in->client = in->pickup = in->msgid_ev = in->qmgr = in->expired = in->removed = -1;
    in->hold = in->release = in->discard = in->reject = -1;
    in->parent = in->parent_ev = in->conn = in->conn_end = -1;
    in->first_pos = s->recs[i].pos;
    in->first_t = ev->h.t;
    bool isnew;
    int *head = hmap_put(&s->byqid, ev->qid, &isnew);
    s->next_same_qid[k] = isnew ? -1 : *head;
    *head = k;
    return k;
}

static bool starts_new(const struct tinst *in, const struct event *ev)
{
    if (in->removed >= 0) return true;
    return (ev->kind == EV_CLIENT || ev->kind == EV_PICKUP) &&
           (in->qmgr >= 0 || in->client >= 0 || in->pickup >= 0);
}

static int rcpt_get(struct tinst *in, struct str to, struct str orig_to, bool adopt)
{
    for (size_t i = 0; i < in->nr; i++)
        if (str_eq(in->r[i].to, to) && str_eq(in->r[i].orig_to, orig_to)) return (int)i;
    if (adopt) {
        /* a recipient first seen in a hold/discard trailer, now delivered (maybe via alias) */
        for (size_t i = 0; i < in->nr; i++)
            if (in->r[i].attempts == 0 && !in->r[i].orig_to.len &&
                (str_eq(in->r[i].to, to) || str_eq(in->r[i].to, orig_to))) {
                in->r[i].to = to;
                in->r[i].orig_to = orig_to;
                return (int)i;
            }
    }
    in->r = xgrow(in->r, &in->capr, in->nr + 1, sizeof *in->r);
    struct trcpt *r = &in->r[in->nr];
    memset(r, 0, sizeof *r);
    r->to = to;
    r->orig_to = orig_to;
    r->last = -1;
    r->state = RS_QUEUED;
    return (int)in->nr++;
}

static void rcpt_from_trailer(struct tinst *in, const struct event *ev, enum rstate st, bool trailer)
{
    struct pf_fields f;
    if (trailer) trace_action_trailer(ev, &f);
    else f = ev->f;
    if (!f.to.len) return;
    int k = rcpt_get(in, f.to, STR_NULL, false);
    if (in->r[k].attempts == 0) {
        in->r[k].state = st;
        in->r[k].since = ev->h.t;
    }
}

static void link_add(struct tinst *in, enum link_via via, struct str qid, int ev, struct str relay)
{
    if (!pf_is_qid(qid)) return;
    for (size_t i = 0; i < in->nkids; i++)
        if (str_eq(in->kids[i].qid, qid) && in->kids[i].via == via) return;
    in->kids = xgrow(in->kids, &in->capkids, in->nkids + 1, sizeof *in->kids);
    in->kids[in->nkids++] = (struct tlink){ via, qid, ev, -1, relay };
}

static enum rstate status_state(struct str st)
{
    if (str_eqc(st, "sent")) return RS_DELIVERED;
    if (str_eqc(st, "deferred")) return RS_DEFERRED;
    if (str_eqc(st, "bounced")) return RS_BOUNCED;
    if (str_eqc(st, "expired")) return RS_EXPIRED;
    return RS_OTHER;
}

static void inst_add(struct story *s, int k, int i, const struct event *ev)
{
    struct tinst *in = &s->in[k];
    if (in->nev < TRACE_MAX_LINES) {
        in->ev = xgrow(in->ev, &in->capev, in->nev + 1, sizeof *in->ev);
        in->ev[in->nev++] = i;
    } else {
        in->omitted++;
    }
    in->last_pos = s->recs[i].pos;
    in->last_t = ev->h.t;
    switch (ev->kind) {
    case EV_CLIENT:
        if (in->client < 0) {
            in->client = i;
            in->smtpd = str_eqc(ev->service, "smtpd") && ev->h.pid >= 0;
            in->smtpd_pid = ev->h.pid;
        }
        break;
    case EV_PICKUP: if (in->pickup < 0) in->pickup = i; break;
    case EV_MESSAGE_ID:
        if (in->msgid_ev < 0) {
            in->msgid_ev = i;
            in->msgid = ev->f.message_id;
        }
        break;
    case EV_QMGR_FROM:
        if (in->qmgr < 0) {
            in->qmgr = i;
            in->null_sender = ev->f.from.len == 0;
        }
        break;
    case EV_EXPIRED: in->expired = i; break;
    case EV_REMOVED:
        in->removed = i;
        in->removed_by_postsuper = str_eqc(ev->service, "postsuper");
        break;
    case EV_POSTSUPER:
        if (str_eqc(ev->text, "placed on hold")) in->hold = i;
        else if (str_eqc(ev->text, "released from hold")) in->release = i;
        break;
    case EV_HOLD:
        in->hold = i;
        rcpt_from_trailer(in, ev, RS_HELD, true);
        break;
    case EV_DISCARD:
        in->discard = i;
        rcpt_from_trailer(in, ev, RS_DISCARDED, true);
        break;
    case EV_REJECT:
        if (str_eqc(ev->service, "cleanup")) {
            in->reject = i;
            rcpt_from_trailer(in, ev, RS_REJECTED, true);
        } else {
            rcpt_from_trailer(in, ev, RS_REJECTED, false);   /* one RCPT refused by smtpd */
        }
        break;
    case EV_DELIVERY: {
        if (!ev->f.to.len) break;
        int r = rcpt_get(in, ev->f.to, ev->f.orig_to, true);
        in->r[r].attempts++;
        in->r[r].last = i;
        in->r[r].since = ev->h.t;
        s->ev[i].status = (uint8_t)status_state(ev->f.status);
        struct str id;
        if (s->ev[i].status == RS_DELIVERED) {
            if (str_eqc(ev->service, "local") && trace_reply_forwarded_as(ev->f.reply, &id))
                link_add(in, VIA_FORWARD, id, i, STR_NULL);
            else if ((str_eqc(ev->service, "smtp") || str_eqc(ev->service, "lmtp")) &&
                     trace_reply_queued_as(ev->f.reply, &id))
                link_add(in, VIA_QUEUED, id, i, ev->f.relay);
        }
        break;
    }
    case EV_BOUNCE_NOTICE: {
        enum link_via via = VIA_NDN;
        if (str_startswith(ev->stage, "postmaster")) via = VIA_POSTMASTER;
        else if (str_findc(ev->stage, "delay") >= 0) via = VIA_DELAY;
        else if (str_findc(ev->stage, "delivery status") >= 0) via = VIA_DSN;
        link_add(in, via, ev->text, i, STR_NULL);
        break;
    }
    default:
        break;
    }
}

static void inst_finish(struct story *s, struct tinst *in)
{
    const struct tev *E = s->ev;
    in->finished = in->removed >= 0 || in->discard >= 0 || in->reject >= 0;
    bool held = in->hold >= 0 && in->release < in->hold;
    for (size_t i = 0; i < in->nr; i++) {
        struct trcpt *r = &in->r[i];
        if (r->last >= 0) {
            r->state = (enum rstate)E[r->last].status;
            if (r->state != RS_DEFERRED) continue;
            if (in->expired > r->last) { r->state = RS_EXPIRED; r->since = E[in->expired].t; }
            else if (in->removed > r->last && in->removed_by_postsuper) { r->state = RS_DELETED; r->since = E[in->removed].t; }
            else if (held && in->hold > r->last) { r->state = RS_HELD; r->since = E[in->hold].t; }
            continue;
        }
        if (r->state == RS_REJECTED || r->state == RS_DISCARDED) continue;
        if (in->removed >= 0 && in->removed_by_postsuper) { r->state = RS_DELETED; r->since = E[in->removed].t; }
        else if (in->expired >= 0) { r->state = RS_EXPIRED; r->since = E[in->expired].t; }
        else if (held) { r->state = RS_HELD; r->since = E[in->hold].t; }
        else r->state = RS_QUEUED;
    }
}

static bool is_ancestor(const struct story *s, int a, int of)
{
    for (int k = of, depth = 0; k >= 0 && depth < 64; k = s->in[k].parent, depth++)
        if (k == a) return true;
    return false;
}

static int64_t iabs64(int64_t v) { return v < 0 ? -v : v; }

static int resolve_link(struct story *s, int pi, const struct tlink *l)
{
    const struct tinst *p = &s->in[pi];
    int64_t at = s->ev[l->ev].t;
    int *head = hmap_get(&s->byqid, l->qid);
    int best = -1;
    int64_t bestd = INT64_MAX;
    bool loop = str_findc(l->relay, "[127.") >= 0 || str_findc(l->relay, "[::1]") >= 0;
    for (int c = head ? *head : -1; c >= 0; c = s->next_same_qid[c]) {
        const struct tinst *ci = &s->in[c];
        if (c == pi || is_ancestor(s, c, pi)) continue;
        if (ci->parent >= 0 && ci->parent != pi) continue;
        int64_t d = iabs64(ci->first_t - at);
        if (l->via == VIA_QUEUED) {
            if (ci->first_t < at - HOP_BEFORE || ci->first_t > at + LINK_SLACK) continue;
            if (p->msgid_ev >= 0 && ci->msgid_ev >= 0 && !str_eq(p->msgid, ci->msgid)) continue;
            /* prefer the host the relay points at: ours for loopback, another one otherwise */
            if (str_eq(ci->host, p->host) != loop) d += 1;
        } else {
            if (!str_eq(ci->host, p->host)) continue;
            if (ci->first_t > at + LINK_SLACK || ci->last_t < at - LINK_SLACK) continue;
        }
        if (d < bestd) { bestd = d; best = c; }
    }
    return best;
}

static void mark_output(struct story *s, int k, int depth)
{
    if (depth > 4 * TRACE_MAX_DEPTH || s->in[k].in_output) return;
    s->in[k].in_output = true;
    for (size_t j = 0; j < s->in[k].nkids; j++)
        if (s->in[k].kids[j].child >= 0) mark_output(s, s->in[k].kids[j].child, depth + 1);
}

/* ---- smtpd sessions ---- */

struct ilist { int *v; size_t n, cap; };

static bool session_end(enum ev_kind k)
{
    return k == EV_DISCONNECT || k == EV_LOST_CONN || k == EV_TIMEOUT || k == EV_TOO_MANY_ERRORS;
}

static void session_line(struct story *s, int i, const struct event *ev)
{
    char kb[320], pb[24];
    int pl = snprintf(pb, sizeof pb, "%ld", ev->h.pid);
    size_t kl = hostkey(kb, sizeof kb, ev->h.host, str_make(pb, (size_t)pl));
    if (!kl) return;
    struct ilist *L = hmap_put(&s->sessions, str_make(kb, kl), NULL);
    L->v = xgrow(L->v, &L->cap, L->n + 1, sizeof *L->v);
    L->v[L->n++] = i;
}

static void sessions(struct story *s)
{
    char kb[320], pb[24];
    for (size_t k = 0; k < s->nin; k++) {
        struct tinst *in = &s->in[k];
        if (!in->in_output || in->client < 0 || !in->smtpd) continue;
        int pl = snprintf(pb, sizeof pb, "%ld", in->smtpd_pid);
        size_t kl = hostkey(kb, sizeof kb, in->host, str_make(pb, (size_t)pl));
        struct ilist *L = kl ? hmap_get(&s->sessions, str_make(kb, kl)) : NULL;
        if (!L) continue;
        size_t j = 0;
        while (j < L->n && L->v[j] < in->client) j++;
        for (size_t e = j; e < L->n; e++) {
            enum ev_kind kd = (enum ev_kind)s->ev[L->v[e]].kind;
            if (kd == EV_CONNECT) break;          /* our session's end is not in the input */
            if (session_end(kd)) { in->conn_end = L->v[e]; break; }
        }
        bool rejects = true;
        for (size_t e = j; e-- > 0;) {
            enum ev_kind kd = (enum ev_kind)s->ev[L->v[e]].kind;
            if (session_end(kd)) break;
            if (kd == EV_CONNECT) { in->conn = L->v[e]; break; }
            if (kd == EV_CLIENT) rejects = false;   /* an earlier transaction */
            if (kd == EV_TLS || (kd == EV_REJECT && rejects)) {
                in->sess = xgrow(in->sess, &in->capsess, in->nsess + 1, sizeof *in->sess);
                in->sess[in->nsess++] = L->v[e];
            }
        }
        /* collected backwards: restore input order */
        for (size_t a = 0, b = in->nsess; a + 1 < b; a++, b--) {
            int tmp = in->sess[a];
            in->sess[a] = in->sess[b - 1];
            in->sess[b - 1] = tmp;
        }
    }
}

/* ---- output order ---- */

static int newest_first(const void *a, const void *b, void *arg)
{
    const struct story *s = arg;
    const struct tinst *x = &s->in[*(const int *)a], *y = &s->in[*(const int *)b];
    if (x->first_t != y->first_t) return x->first_t > y->first_t ? -1 : 1;
    return x->first_pos > y->first_pos ? -1 : x->first_pos < y->first_pos;
}

static bool has_wanted_ancestor(const struct story *s, int k)
{
    for (int p = s->in[k].parent, depth = 0; p >= 0 && depth < 64; p = s->in[p].parent, depth++)
        if (s->in[p].wanted) return true;
    return false;
}

void story_build(struct trace *t)
{
    struct story *s = &t->st;
    if (t->built_nrecs == t->nrecs) return;     /* nothing new since the last build */
    t->built_nrecs = t->nrecs;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    story_free(s);
    s->n = t->nrecs;
    s->recs = xmalloc((s->n ? s->n : 1) * sizeof *s->recs);
    if (s->n) memcpy(s->recs, t->recs, s->n * sizeof *s->recs);
    qsort(s->recs, s->n, sizeof *s->recs, rec_cmp);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!w || s->recs[i].pos != s->recs[w - 1].pos) s->recs[w++] = s->recs[i];
    s->n = w;
    s->ev = xcalloc(s->n ? s->n : 1, sizeof *s->ev);
    hmap_init(&s->cur, sizeof(int));
    hmap_init(&s->byqid, sizeof(int));
    hmap_init(&s->sessions, sizeof(struct ilist));
    /* the time of each line is already known: parse with a reference far from every line
     * (no year decisions, the hour cache works) and put the time back */
    int64_t maxt = 0;
    for (size_t i = 0; i < s->n; i++) if (s->recs[i].t > maxt) maxt = s->recs[i].t;
    s->pctx = (struct syslog_ctx){ .ref = maxt + 7 * 86400 };
    s->popts = &t->popts;
    char kb[320];
    struct event ev;
    for (size_t i = 0; i < s->n; i++) {
        story_event(s, (int)i, &ev);
        s->ev[i].t = ev.h.t;
        s->ev[i].kind = (uint8_t)ev.kind;
        switch (s->recs[i].kind) {
        case REC_STORY: {
            if (!ev.qid.len) break;
            size_t kl = hostkey(kb, sizeof kb, ev.h.host, ev.qid);
            if (!kl) break;
            bool isnew;
            int *cur = hmap_put(&s->cur, str_make(kb, kl), &isnew);
            if (isnew || starts_new(&s->in[*cur], &ev)) *cur = inst_new(s, &ev, (int)i);
            inst_add(s, *cur, (int)i, &ev);
            break;
        }
        case REC_SESSION:
            session_line(s, (int)i, &ev);
            break;
        case REC_NOQUEUE:
            s->noq = xgrow(s->noq, &s->capnoq, s->nnoq + 1, sizeof *s->noq);
            s->noq[s->nnoq++] = (int)i;
            break;
        case REC_PARENT:
            s->parents = xgrow(s->parents, &s->capparents, s->nparents + 1, sizeof *s->parents);
            s->parents[s->nparents++] = (int)i;
            break;
        default:
            break;
        }
    }
    for (size_t k = 0; k < s->nin; k++) inst_finish(s, &s->in[k]);
    for (size_t k = 0; k < s->nin; k++) {
        for (size_t j = 0; j < s->in[k].nkids; j++) {
            struct tlink *l = &s->in[k].kids[j];
            int c = resolve_link(s, (int)k, l);
            l->child = c;
            if (c >= 0 && s->in[c].parent < 0) {
                s->in[c].parent = (int)k;
                s->in[c].via = l->via;
                s->in[c].parent_ev = l->ev;
            }
        }
    }
    /* which messages were asked for */
    for (size_t k = 0; k < s->nin; k++) {
        struct tinst *in = &s->in[k];
        if (t->what == TW_QID) {
            in->wanted = str_eq(in->qid, t->needle);
            continue;
        }
        size_t kl = hostkey(kb, sizeof kb, in->host, in->qid);
        const struct thit *h = kl ? hmap_get(&t->hits, str_make(kb, kl)) : NULL;
        in->wanted = h && h->n > 0 && in->first_pos <= h->last_pos && in->last_pos >= h->first_pos;
    }
    bool trees = t->what == TW_QID || t->o.verbose || t->o.json;
    for (size_t k = 0; k < s->nin; k++) {
        struct tinst *in = &s->in[k];
        if (!in->wanted) continue;
        if (trees && t->what != TW_QID && has_wanted_ancestor(s, (int)k)) {
            mark_output(s, (int)k, 0);
            continue;
        }
        s->out = xgrow(s->out, &s->capout, s->nout + 1, sizeof *s->out);
        s->out[s->nout++] = (int)k;
        if (trees) mark_output(s, (int)k, 0);
        else in->in_output = true;
    }
    if (t->what != TW_QID && s->nout > 1) qsort_r(s->out, s->nout, sizeof *s->out, newest_first, s);
    sessions(s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    msg_debug("trace story: %zu lines, %zu messages, %zu listed: %.3f s", s->n, s->nin, s->nout,
              (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

void story_free(struct story *s)
{
    for (size_t k = 0; k < s->nin; k++) {
        free(s->in[k].ev);
        free(s->in[k].r);
        free(s->in[k].kids);
        free(s->in[k].sess);
    }
    size_t it = 0;
    struct str key;
    void *v;
    while (s->sessions.count && hmap_next(&s->sessions, &it, &key, &v)) free(((struct ilist *)v)->v);
    hmap_free(&s->sessions);
    hmap_free(&s->cur);
    hmap_free(&s->byqid);
    free(s->in);
    free(s->recs);
    free(s->ev);
    free(s->next_same_qid);
    free(s->noq);
    free(s->out);
    free(s->parents);
    memset(s, 0, sizeof *s);
}
