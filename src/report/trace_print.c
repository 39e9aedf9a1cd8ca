/*
 * trace_print - text and JSON output of a trace (formats in trace.h and docs/trace-json.md).
 *
 * Text: for a queue ID, and with -v, each message as a block: what happened to it and to
 * every recipient in words, then its log lines in input order (smtpd session lines
 * included), then its children indented below it. For an address or a Message-ID without
 * -v, one line per message, newest first. Log text is printed with control bytes escaped
 * (\xNN) so a hostile Subject cannot drive the terminal.
 */
#include "report/trace_int.h"
#include "util/json.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>

#define SUMMARY_RCPTS 4

static void put_safe(FILE *f, struct str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
}

static const char *tstr(int64_t t, char *buf, size_t cap)
{
    mwtime_human(t, buf, cap);
    return buf;
}

/* The sender of a message the queue manager never saw: from the trailer of its hold,
 * discard or reject line (p NULL when none). */
static struct str action_sender(struct story *s, const struct tinst *in)
{
    int a = in->hold >= 0 && s->ev[in->hold].kind == EV_HOLD ? in->hold
          : in->discard >= 0 ? in->discard : in->reject;
    if (a < 0) return STR_NULL;
    struct event ev;
    struct pf_fields tf;
    trace_action_trailer(story_event(s, a, &ev), &tf);
    return tf.from.p ? tf.from : STR_NULL;
}

static enum rstate msg_state(const struct tinst *in, bool *mixed)
{
    *mixed = false;
    if (in->nr) {
        enum rstate s = in->r[0].state;
        for (size_t i = 1; i < in->nr; i++)
            if (in->r[i].state != s) *mixed = true;
        return s;
    }
    if (in->discard >= 0) return RS_DISCARDED;
    if (in->reject >= 0) return RS_REJECTED;
    if (in->removed >= 0 && in->removed_by_postsuper) return RS_DELETED;
    if (in->expired >= 0) return RS_EXPIRED;
    if (in->hold >= 0 && in->release < in->hold) return RS_HELD;
    if (in->finished) return RS_OTHER;
    return RS_QUEUED;
}

static const char *msg_state_name(const struct tinst *in)
{
    bool mixed;
    enum rstate s = msg_state(in, &mixed);
    if (mixed) return "mixed";
    if (s == RS_OTHER) return "unknown";
    return story_state_name(s);
}

static const char *origin(struct story *s, const struct tinst *in)
{
    struct event ev;
    if (in->parent >= 0) {
        if (in->via == VIA_FORWARD) return "forward";
        if (in->via == VIA_QUEUED) return "hop";
        return "notification";
    }
    if (in->client >= 0) return "smtpd";
    if (in->pickup >= 0) return "pickup";
    if (in->qmgr >= 0 && story_event(s, in->qmgr, &ev)->f.from.len == 0) return "notification";
    return "local";
}

/* "1 delivered, 2 deferred" */
static void state_counts(FILE *f, const struct tinst *in)
{
    unsigned cnt[RS_MAX] = { 0 };
    for (size_t i = 0; i < in->nr; i++) cnt[in->r[i].state]++;
    bool first = true;
    for (int k = 0; k < RS_MAX; k++) {
        if (!cnt[k]) continue;
        fprintf(f, "%s%u %s", first ? "" : ", ", cnt[k], story_state_name((enum rstate)k));
        first = false;
    }
    if (first) fputs(msg_state_name(in), f);
}

static const char *dsn_words(const char *cls)
{
    if (!cls) return "";
    if (!strcmp(cls, "success")) return "success";
    if (!strcmp(cls, "temporary")) return "temporary failure: Postfix keeps the message and tries again";
    return "permanent failure: not retried; the sender gets a non-delivery notification";
}

static void print_delays(FILE *f, const char *ind, struct str d)
{
    double v[4];
    if (!trace_delays_parse(d, v)) return;
    struct str part[4];
    size_t b = 0;
    for (int k = 0; k < 4; k++) {
        ptrdiff_t e = k < 3 ? str_chr(str_from(d, b), '/') : (ptrdiff_t)(d.len - b);
        part[k] = str_sub(d, b, (size_t)e);
        b += (size_t)e + 1;
    }
    fprintf(f, "%s      delays %.*s: %.*ss before the queue manager (receiving, or waiting in the "
               "deferred queue), %.*ss in the queue manager, %.*ss connection set-up, %.*ss "
               "transmission\n", ind, STR_FMT(d), STR_FMT(part[0]), STR_FMT(part[1]),
            STR_FMT(part[2]), STR_FMT(part[3]));
}

static void print_rcpt(FILE *f, struct story *s, const struct tinst *in, const struct trcpt *r,
                       const char *ind)
{
    struct event dev;
    char tb[40];
    fprintf(f, "%s   to <", ind);
    put_safe(f, r->to);
    fputc('>', f);
    if (r->orig_to.len) {
        fputs(" (for <", f);
        put_safe(f, r->orig_to);
        fputs(">)", f);
    }
    fprintf(f, ": %s", story_state_name(r->state));
    switch (r->state) {
    case RS_DEFERRED: fputs(", still in the queue at the end of the log", f); break;
    case RS_EXPIRED: fputs(" (too long in the queue; returned to the sender)", f); break;
    case RS_DELETED: fputs(" by postsuper", f); break;
    case RS_HELD: fputs(" (in the hold queue)", f); break;
    case RS_QUEUED: fputs(" (no delivery attempt in the log)", f); break;
    default: break;
    }
    fprintf(f, ", %u attempt%s", r->attempts, r->attempts == 1 ? "" : "s");
    if (r->since) fprintf(f, ", %s", tstr(r->since, tb, sizeof tb));
    fputc('\n', f);
    if (r->last < 0) return;
    const struct event *d = story_event(s, r->last, &dev);
    const char *cls = trace_dsn_class(d->f.dsn);
    if (cls) {
        char mb[160];
        trace_dsn_meaning(d->f.dsn, mb, sizeof mb);
        if (!strcmp(cls, "success") && str_endswith(d->f.dsn, ".0.0"))
            fprintf(f, "%s      dsn %.*s: success\n", ind, STR_FMT(d->f.dsn));
        else
            fprintf(f, "%s      dsn %.*s: %s (%s)\n", ind, STR_FMT(d->f.dsn), dsn_words(cls), mb);
    }
    struct str who, stage, core = trace_reply_core(d->f.reply, &who, &stage);
    fprintf(f, "%s      ", ind);
    if (who.len) {
        put_safe(f, who);
        fputs(" said: ", f);
    } else {
        fputs("relay ", f);
        put_safe(f, d->f.relay);
        fputs(": ", f);
    }
    put_safe(f, core);
    if (stage.len) {
        fputs(" (after ", f);
        put_safe(f, stage);
        fputc(')', f);
    }
    fputc('\n', f);
    print_delays(f, ind, d->f.delays);
    struct str rid = trace_remote_id(d->f.reply);
    if (rid.len && r->state == RS_DELIVERED && !str_eqc(d->service, "local")) {
        bool inside = false;
        for (size_t j = 0; j < in->nkids; j++)
            if (in->kids[j].via == VIA_QUEUED && in->kids[j].child >= 0 && str_eq(in->kids[j].qid, rid)) inside = true;
        if (!inside) {
            fputs(ind, f);
            fputs("      remote queue ID ", f);
            put_safe(f, rid);
            fputs(" at ", f);
            put_safe(f, d->f.relay);
            fputs(" (no such message in the logs given): quote it to that server's postmaster\n", f);
        }
    }
}

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The message's lines in input order: session lines and its own. Caller frees. */
static int *story_lines(const struct tinst *in, size_t *n)
{
    size_t cap = in->nev + in->nsess + 2, k = 0;
    int *v = xmalloc(cap * sizeof *v);
    if (in->conn >= 0) v[k++] = in->conn;
    for (size_t i = 0; i < in->nsess; i++) v[k++] = in->sess[i];
    for (size_t i = 0; i < in->nev; i++) v[k++] = in->ev[i];
    if (in->conn_end >= 0) v[k++] = in->conn_end;
    qsort(v, k, sizeof *v, int_cmp);
    *n = k;
    return v;
}

static void print_story(FILE *f, struct trace *t, int k, int depth)
{
    struct story *s = &t->st;
    const struct tinst *in = &s->in[k];
    const struct tev *E = s->ev;
    struct event ev;
    char ind[64], tb[40];
    int il = depth * 3 < 60 ? depth * 3 : 60;
    memset(ind, ' ', (size_t)il);
    ind[il] = 0;

    fprintf(f, "%s== ", ind);
    put_safe(f, in->qid);
    fputs(" on ", f);
    put_safe(f, in->host);
    if (in->parent >= 0) {
        static const char *const of[VIA_MAX] = {
            "non-delivery notification of", "delay notification of",
            "delivery status notification of", "postmaster notification of",
            "forwarded copy of", "next hop (queued as) of",
        };
        fprintf(f, " (%s ", of[in->via]);
        put_safe(f, s->in[in->parent].qid);
        if (!str_eq(s->in[in->parent].host, in->host)) {
            fputs(" on ", f);
            put_safe(f, s->in[in->parent].host);
        }
        fputc(')', f);
    }
    fputs(": ", f);
    state_counts(f, in);
    fputc('\n', f);

    if (in->client >= 0) {
        const struct event *c = story_event(s, in->client, &ev);
        char ip[IPADDR_STRLEN] = "";
        if (c->client.family) ipaddr_format(&c->client, ip, sizeof ip);
        fprintf(f, "%s   received  %s by ", ind, tstr(c->h.t, tb, sizeof tb));
        put_safe(f, c->h.prog);
        fprintf(f, "[%ld] from ", c->h.pid);
        put_safe(f, c->client_name);
        fprintf(f, "[%s]", ip);
        if (c->f.sasl_username.len) {
            fputs(", SASL ", f);
            put_safe(f, c->f.sasl_method);
            fputs(" login ", f);
            put_safe(f, c->f.sasl_username);
        }
        fputc('\n', f);
    } else if (in->pickup >= 0) {
        const struct event *pk = story_event(s, in->pickup, &ev);
        fprintf(f, "%s   received  %s by pickup (local submission, uid ", ind, tstr(pk->h.t, tb, sizeof tb));
        put_safe(f, pk->f.uid);
        fputs(")\n", f);
    } else {
        fprintf(f, "%s   created   %s", ind, tstr(in->first_t, tb, sizeof tb));
        if (in->parent >= 0) fprintf(f, " (%s)", story_via_name(in->via));
        fputc('\n', f);
    }
    struct str shown = STR_NULL;
    for (size_t i = 0; in->parent < 0 && i < s->nparents; i++) {
        const struct event *p = story_event(s, s->parents[i], &ev);
        if (shown.len && str_eq(shown, p->qid)) continue;       /* one line per parent */
        struct str child;
        bool named = (p->kind == EV_BOUNCE_NOTICE && str_eq(p->text, in->qid)) ||
                     (p->kind == EV_DELIVERY && (trace_reply_forwarded_as(p->f.reply, &child) ||
                                                 trace_reply_queued_as(p->f.reply, &child)) &&
                      str_eq(child, in->qid));
        if (!named || p->h.t > in->last_t + 600 || p->h.t + 3600 < in->first_t) continue;
        shown = p->qid;
        fprintf(f, "%s   made by   ", ind);
        put_safe(f, p->qid);
        fputs(" on ", f);
        put_safe(f, p->h.host);
        fputs(": ", f);
        put_safe(f, p->h.msg);
        fputc('\n', f);
    }
    if (in->qmgr >= 0) {
        const struct event *q = story_event(s, in->qmgr, &ev);
        fprintf(f, "%s   sender    <", ind);
        put_safe(f, q->f.from);
        fputs(">, ", f);
        put_safe(f, q->f.size);
        fputs(" bytes, ", f);
        put_safe(f, q->f.nrcpt);
        fputs(" recipient(s)\n", f);
    } else {
        struct str from = action_sender(s, in);
        if (from.p) {
            fprintf(f, "%s   sender    <", ind);
            put_safe(f, from);
            fputs("> (from the cleanup line; the queue manager never saw the message)\n", f);
        }
    }
    if (in->msgid_ev >= 0) {
        fprintf(f, "%s   msg-id    <", ind);
        put_safe(f, in->msgid);
        fputs(">\n", f);
    }
    if (in->hold >= 0) {
        fprintf(f, "%s   held      %s (%s)", ind, tstr(E[in->hold].t, tb, sizeof tb),
                E[in->hold].kind == EV_HOLD ? "header/body checks" : "postsuper -h");
        if (in->release > in->hold) fprintf(f, ", released %s by postsuper -H", tstr(E[in->release].t, tb, sizeof tb));
        fputc('\n', f);
    }
    if (in->discard >= 0) fprintf(f, "%s   discarded %s by header/body checks (silently: the sender was told it was delivered)\n", ind, tstr(E[in->discard].t, tb, sizeof tb));
    if (in->reject >= 0) {
        fprintf(f, "%s   rejected  %s by cleanup: ", ind, tstr(E[in->reject].t, tb, sizeof tb));
        put_safe(f, story_event(s, in->reject, &ev)->h.msg);
        fputc('\n', f);
    }
    if (in->expired >= 0) fprintf(f, "%s   expired   %s: too long in the queue, returned to the sender\n", ind, tstr(E[in->expired].t, tb, sizeof tb));
    if (in->removed >= 0)
        fprintf(f, "%s   removed   %s%s\n", ind, tstr(E[in->removed].t, tb, sizeof tb),
                in->removed_by_postsuper ? " by postsuper -d (deleted by an administrator)" : "");
    else if (!in->finished)
        fprintf(f, "%s   queued    still in the queue at the end of the log (last line %s)\n", ind, tstr(in->last_t, tb, sizeof tb));
    for (size_t i = 0; i < in->nr; i++) print_rcpt(f, s, in, &in->r[i], ind);
    for (size_t j = 0; j < in->nkids; j++) {
        const struct tlink *l = &in->kids[j];
        if (l->via == VIA_QUEUED && l->child < 0) continue;   /* a remote ID: told per recipient */
        fprintf(f, "%s   child     ", ind);
        put_safe(f, l->qid);
        fprintf(f, " (%s): ", story_via_name(l->via));
        if (l->child >= 0) fputs("below\n", f);
        else fputs("not in the logs given\n", f);
    }
    size_t n;
    int *lines = story_lines(in, &n);
    fprintf(f, "%s   lines (%zu%s):\n", ind, n, in->omitted ? ", more omitted" : "");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s     ", ind);
        put_safe(f, s->recs[lines[i]].line);
        fputc('\n', f);
    }
    if (in->omitted) fprintf(f, "%s     ... %zu more lines\n", ind, in->omitted);
    free(lines);
    for (size_t j = 0; j < in->nkids; j++)
        if (in->kids[j].child >= 0 && s->in[in->kids[j].child].parent == k && depth < 4 * TRACE_MAX_DEPTH)
            print_story(f, t, in->kids[j].child, depth + 1);
}

static void print_summary(FILE *f, struct trace *t, int k)
{
    struct story *s = &t->st;
    const struct tinst *in = &s->in[k];
    struct event ev;
    char tb[40];
    fprintf(f, "%s  ", tstr(in->first_t, tb, sizeof tb));
    put_safe(f, in->host);
    fputs("  ", f);
    put_safe(f, in->qid);
    fputs("  <", f);
    if (in->qmgr >= 0) put_safe(f, story_event(s, in->qmgr, &ev)->f.from);
    else {
        struct str from = action_sender(s, in);
        if (from.p) put_safe(f, from);
        else fputc('?', f);
    }
    fputs("> ->", f);
    if (!in->nr) fprintf(f, " %s", msg_state_name(in));
    /* the recipients that matched the search first */
    size_t order[SUMMARY_RCPTS], no = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < in->nr && no < SUMMARY_RCPTS; i++) {
            bool m = trace_addr_match(t, in->r[i].to) || trace_addr_match(t, in->r[i].orig_to);
            if (m == (pass == 0)) order[no++] = i;
        }
    for (size_t j = 0; j < no; j++) {
        const struct trcpt *r = &in->r[order[j]];
        fprintf(f, "%s <", j ? "," : "");
        put_safe(f, r->to);
        fputc('>', f);
        if (r->orig_to.len && !str_eq(r->orig_to, r->to)) {
            fputs(" (for <", f);
            put_safe(f, r->orig_to);
            fputs(">)", f);
        }
        fprintf(f, ": %s", story_state_name(r->state));
        if (r->attempts > 1) fprintf(f, " after %u attempts", r->attempts);
        if (r->last >= 0 && r->state != RS_DELIVERED) {
            fputc(' ', f);
            put_safe(f, story_event(s, r->last, &ev)->f.dsn);
        }
    }
    if (in->nr > SUMMARY_RCPTS) fprintf(f, ", +%zu more", in->nr - SUMMARY_RCPTS);
    if (!in->finished && in->nr) fputs("; still queued", f);
    for (size_t j = 0; j < in->nkids; j++) {
        fprintf(f, "%s", j ? ", " : "; ");
        fprintf(f, "%s ", story_via_name(in->kids[j].via));
        put_safe(f, in->kids[j].qid);
    }
    fputc('\n', f);
}

static void print_noqueue(FILE *f, struct story *s, int i)
{
    struct event ev;
    const struct event *e = story_event(s, i, &ev);
    char tb[40], ip[IPADDR_STRLEN] = "";
    if (e->client.family) ipaddr_format(&e->client, ip, sizeof ip);
    fprintf(f, "%s  ", tstr(e->h.t, tb, sizeof tb));
    put_safe(f, e->h.host);
    fputs("  NOQUEUE  <", f);
    put_safe(f, e->f.from);
    fputs("> -> <", f);
    put_safe(f, e->f.to);
    fputs(">: rejected at ", f);
    put_safe(f, e->stage);
    fprintf(f, " from %s: ", ip);
    put_safe(f, e->text);
    fputc('\n', f);
}

/* NOQUEUE rejects are stored oldest first; j-th newest. */
static int noq_newest(const struct story *s, size_t j) { return s->noq[s->nnoq - 1 - j]; }

void trace_print_text(struct trace *t, FILE *f)
{
    struct story *s = &t->st;
    if (!s->nout && !s->nnoq) {
        fprintf(f, "no message found for %s\n", t->whatbuf);
        return;
    }
    if (t->what == TW_QID && s->nout > 1)
        fprintf(f, "(queue ID %s was used by %zu messages in the logs given: Postfix reuses IDs)\n\n",
                t->whatbuf, s->nout);
    if (t->what == TW_QID || t->o.verbose) {
        for (size_t i = 0; i < s->nout; i++) {
            if (i) fputc('\n', f);
            print_story(f, t, s->out[i], 0);
        }
        if (s->nnoq) fprintf(f, "%s", s->nout ? "\n" : "");
        for (size_t j = 0; j < s->nnoq; j++) print_noqueue(f, s, noq_newest(s, j));
    } else {
        /* merge messages and NOQUEUE rejects, newest first */
        size_t i = 0, j = 0;
        while (i < s->nout || j < s->nnoq) {
            bool take_msg = j >= s->nnoq ||
                            (i < s->nout && s->in[s->out[i]].first_t >= s->ev[noq_newest(s, j)].t);
            if (take_msg) print_summary(f, t, s->out[i++]);
            else print_noqueue(f, s, noq_newest(s, j++));
        }
    }
    if (t->dropped_old)
        fprintf(f, "(%zu older messages not shown: narrow the search with --since/--until or raise --max)\n",
                t->dropped_old);
}

/* ---- JSON ---- */

static void jw_strn(struct jw *w, struct str s)
{
    if (s.len) jw_str(w, s);
    else jw_null(w);
}

static void jw_time(struct jw *w, int64_t t)
{
    char b[48];
    mwtime_rfc3339(t, -1, b, sizeof b);
    jw_cstr(w, b);
}

static void jw_num(struct jw *w, struct str s)
{
    uint64_t v;
    if (str_to_u64(s, &v)) jw_uint(w, v);
    else jw_null(w);
}

static void json_rcpt(struct jw *w, struct story *s, const struct trcpt *r)
{
    struct event dev;
    jw_obj(w);
    jw_key(w, "to"); jw_str(w, r->to);
    jw_key(w, "orig_to"); jw_strn(w, r->orig_to);
    jw_key(w, "state"); jw_cstr(w, story_state_name(r->state));
    jw_key(w, "attempts"); jw_uint(w, r->attempts);
    const struct event *d = r->last >= 0 ? story_event(s, r->last, &dev) : NULL;
    jw_key(w, "dsn"); jw_strn(w, d ? d->f.dsn : STR_NULL);
    jw_key(w, "dsn_class"); jw_cstr(w, d ? trace_dsn_class(d->f.dsn) : NULL);
    char mb[160] = "";
    if (d) trace_dsn_meaning(d->f.dsn, mb, sizeof mb);
    jw_key(w, "dsn_meaning"); jw_cstr(w, mb[0] ? mb : NULL);
    jw_key(w, "relay"); jw_strn(w, d ? d->f.relay : STR_NULL);
    jw_key(w, "reply"); jw_strn(w, d ? d->f.reply : STR_NULL);
    jw_key(w, "remote_queue_id");
    jw_strn(w, d && !str_eqc(d->service, "local") ? trace_remote_id(d->f.reply) : STR_NULL);
    jw_key(w, "delay");
    double dl[4];
    char *end;
    if (d && d->f.delay.len) {
        char tmp[32];
        str_copy(tmp, sizeof tmp, d->f.delay);
        double v = strtod(tmp, &end);
        if (*end == 0) jw_double(w, v, 2);
        else jw_null(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "delays");
    if (d && trace_delays_parse(d->f.delays, dl)) {
        jw_obj(w);
        jw_key(w, "before_qmgr"); jw_double(w, dl[0], 2);
        jw_key(w, "in_qmgr"); jw_double(w, dl[1], 2);
        jw_key(w, "conn_setup"); jw_double(w, dl[2], 2);
        jw_key(w, "transmission"); jw_double(w, dl[3], 2);
        jw_obj_end(w);
    } else {
        jw_null(w);
    }
    jw_key(w, "last_attempt");
    if (d) jw_time(w, d->h.t);
    else jw_null(w);
    jw_obj_end(w);
}

static void json_story(FILE *f, struct trace *t, int k, int depth)
{
    struct story *s = &t->st;
    const struct tinst *in = &s->in[k];
    struct event qev, ev;
    struct jw w;
    jw_init(&w, f, false);
    jw_obj(&w);
    jw_key(&w, "queue_id"); jw_str(&w, in->qid);
    jw_key(&w, "host"); jw_str(&w, in->host);
    jw_key(&w, "first"); jw_time(&w, in->first_t);
    jw_key(&w, "last"); jw_time(&w, in->last_t);
    jw_key(&w, "state"); jw_cstr(&w, msg_state_name(in));
    jw_key(&w, "finished"); jw_bool(&w, in->finished);
    const struct event *q = in->qmgr >= 0 ? story_event(s, in->qmgr, &qev) : NULL;
    jw_key(&w, "sender");
    if (q) jw_str(&w, q->f.from);
    else if (in->pickup >= 0) jw_str(&w, story_event(s, in->pickup, &ev)->f.from);
    else {
        struct str from = action_sender(s, in);
        if (from.p) jw_str(&w, from);
        else jw_null(&w);
    }
    jw_key(&w, "size"); if (q) jw_num(&w, q->f.size); else jw_null(&w);
    jw_key(&w, "nrcpt"); if (q) jw_num(&w, q->f.nrcpt); else jw_null(&w);
    jw_key(&w, "message_id");
    if (in->msgid_ev >= 0) jw_str(&w, in->msgid);
    else jw_null(&w);
    jw_key(&w, "origin"); jw_cstr(&w, origin(s, in));
    jw_key(&w, "client");
    if (in->client >= 0) {
        const struct event *c = story_event(s, in->client, &ev);
        char ip[IPADDR_STRLEN] = "";
        if (c->client.family) ipaddr_format(&c->client, ip, sizeof ip);
        jw_obj(&w);
        jw_key(&w, "name"); jw_strn(&w, c->client_name);
        jw_key(&w, "ip"); jw_cstr(&w, ip[0] ? ip : NULL);
        jw_key(&w, "service"); jw_str(&w, c->h.prog);
        jw_key(&w, "pid"); jw_int(&w, c->h.pid);
        jw_key(&w, "sasl_method"); jw_strn(&w, c->f.sasl_method);
        jw_key(&w, "sasl_username"); jw_strn(&w, c->f.sasl_username);
        jw_obj_end(&w);
    } else {
        jw_null(&w);
    }
    jw_key(&w, "recipients");
    jw_arr(&w);
    for (size_t i = 0; i < in->nr; i++) json_rcpt(&w, s, &in->r[i]);
    jw_arr_end(&w);
    jw_key(&w, "parent");
    if (in->parent >= 0) {
        jw_obj(&w);
        jw_key(&w, "queue_id"); jw_str(&w, s->in[in->parent].qid);
        jw_key(&w, "host"); jw_str(&w, s->in[in->parent].host);
        jw_key(&w, "via"); jw_cstr(&w, story_via_name(in->via));
        jw_obj_end(&w);
    } else {
        jw_null(&w);
    }
    jw_key(&w, "children");
    jw_arr(&w);
    for (size_t j = 0; j < in->nkids; j++) {
        const struct tlink *l = &in->kids[j];
        jw_obj(&w);
        jw_key(&w, "queue_id"); jw_str(&w, l->qid);
        jw_key(&w, "host");
        if (l->child >= 0) jw_str(&w, s->in[l->child].host);
        else jw_null(&w);
        jw_key(&w, "via"); jw_cstr(&w, story_via_name(l->via));
        jw_key(&w, "found"); jw_bool(&w, l->child >= 0);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    size_t n;
    int *lines = story_lines(in, &n);
    jw_key(&w, "lines");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) jw_str(&w, s->recs[lines[i]].line);
    jw_arr_end(&w);
    free(lines);
    jw_key(&w, "lines_omitted"); jw_uint(&w, in->omitted);
    jw_obj_end(&w);
    jw_end(&w);
    for (size_t j = 0; j < in->nkids; j++)
        if (in->kids[j].child >= 0 && s->in[in->kids[j].child].parent == k && depth < 4 * TRACE_MAX_DEPTH)
            json_story(f, t, in->kids[j].child, depth + 1);
}

static void json_noqueue(FILE *f, struct story *s, int i)
{
    struct event ev;
    const struct event *e = story_event(s, i, &ev);
    char ip[IPADDR_STRLEN] = "";
    if (e->client.family) ipaddr_format(&e->client, ip, sizeof ip);
    struct jw w;
    jw_init(&w, f, false);
    jw_obj(&w);
    jw_key(&w, "queue_id"); jw_null(&w);
    jw_key(&w, "host"); jw_str(&w, e->h.host);
    jw_key(&w, "first"); jw_time(&w, e->h.t);
    jw_key(&w, "last"); jw_time(&w, e->h.t);
    jw_key(&w, "state"); jw_cstr(&w, "rejected");
    jw_key(&w, "finished"); jw_bool(&w, true);
    jw_key(&w, "sender"); jw_str(&w, e->f.from);
    jw_key(&w, "size"); jw_null(&w);
    jw_key(&w, "nrcpt"); jw_null(&w);
    jw_key(&w, "message_id"); jw_null(&w);
    jw_key(&w, "origin"); jw_cstr(&w, "noqueue");
    jw_key(&w, "client");
    jw_obj(&w);
    jw_key(&w, "name"); jw_strn(&w, e->client_name);
    jw_key(&w, "ip"); jw_cstr(&w, ip[0] ? ip : NULL);
    jw_key(&w, "service"); jw_str(&w, e->h.prog);
    jw_key(&w, "pid"); jw_int(&w, e->h.pid);
    jw_obj_end(&w);
    jw_key(&w, "recipients");
    jw_arr(&w);
    jw_obj(&w);
    jw_key(&w, "to"); jw_str(&w, e->f.to);
    jw_key(&w, "state"); jw_cstr(&w, "rejected");
    jw_key(&w, "stage"); jw_str(&w, e->stage);
    jw_key(&w, "reply"); jw_str(&w, e->text);
    jw_obj_end(&w);
    jw_arr_end(&w);
    jw_key(&w, "parent"); jw_null(&w);
    jw_key(&w, "children"); jw_arr(&w); jw_arr_end(&w);
    jw_key(&w, "lines");
    jw_arr(&w);
    jw_str(&w, s->recs[i].line);
    jw_arr_end(&w);
    jw_key(&w, "lines_omitted"); jw_uint(&w, 0);
    jw_obj_end(&w);
    jw_end(&w);
}

void trace_print_json(struct trace *t, FILE *f)
{
    struct story *s = &t->st;
    for (size_t i = 0; i < s->nout; i++) json_story(f, t, s->out[i], 0);
    for (size_t j = 0; j < s->nnoq; j++) json_noqueue(f, s, noq_newest(s, j));
}
