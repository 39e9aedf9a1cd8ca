/* offenders - see offenders.h. */
#include "report/offenders.h"
#include "util/arena.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/msg.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>

#define QID_MAP_MAX 200000     /* in-flight queue IDs remembered for content rejects */
#define PS_MAX 100000          /* postscreen connections remembered */
#define SESS_MAX 100000        /* Dovecot sessions with pending auth failures */
#define KEYMAX 48

static const char *const cat_names[OC_MAX] = {
    "reject", "content", "postscreen", "sasl", "imap", "pop3", "submission", "managesieve",
    "dovecot", "ssh",
};

const char *offenders_cat_name(enum ocat c) { return c < OC_MAX ? cat_names[c] : "?"; }

struct ipstat {
    int64_t first, last;
    uint32_t cat[OC_MAX];
    uint32_t sasl_pf, sasl_dv;  /* the two views of SMTP AUTH failures */
};

/* Order-dependent observations, resolved in the merge step. */
enum rtype { R_CLEANUP, R_PS, R_DV_AUTH, R_DV_FAIL, R_DV_LOGIN, R_SSH_FAIL, R_SSH_INVALID };
struct rec {
    int64_t t;
    struct ipaddr ip;
    uint8_t type, cat, keylen;
    uint32_t n;
    int32_t port;
    long pid;
    char key[KEYMAX];           /* queue ID or Dovecot session */
};

struct chunk {
    struct hmap ips;            /* ipaddr key -> struct ipstat */
    struct rec *recs;
    size_t nrec, caprec;
    struct hmap qids;           /* qid -> struct ipaddr (client= lines of this chunk) */
    char (*removed)[KEYMAX];    /* qids removed here whose client= was in an earlier chunk */
    size_t nremoved, capremoved;
    struct arena ar;            /* the nodes of ips and qids: no malloc/free per queue ID */
};

struct pending {                /* Dovecot session with auth failures and no verdict yet */
    struct ipaddr ip;
    uint32_t n;
    int64_t first, last;
};

struct offenders {
    struct hmap ips;            /* ipaddr key -> struct ipstat */
    struct hmap qids;           /* in-flight qid -> struct ipaddr */
    struct hmap ps;             /* "ip|port" -> int64_t time of the counted event */
    struct hmap sess;           /* session -> struct pending */
    struct hmap sshpid;         /* pid -> struct rec (pending Invalid user) */
    struct offender *rows;
    size_t nrows;
    bool capped_warned;
};

static struct ipstat *ipstat_get(struct hmap *m, const struct ipaddr *ip, int64_t t)
{
    bool isnew;
    if (hmap_count(m) >= OFFENDERS_MAX_IPS && !hmap_get(m, ipaddr_key(ip))) return NULL;
    struct ipstat *s = hmap_put(m, ipaddr_key(ip), &isnew);
    if (isnew || t < s->first) s->first = t;
    if (t > s->last) s->last = t;
    return s;
}

static void count(struct hmap *m, const struct ipaddr *ip, int64_t t, enum ocat c, uint32_t n)
{
    struct ipstat *s = ipstat_get(m, ip, t);
    if (s) s->cat[c] += n;
}

static struct rec *rec_add(struct chunk *ch, enum rtype type, const struct event *ev)
{
    ch->recs = xgrow(ch->recs, &ch->caprec, ch->nrec + 1, sizeof *ch->recs);
    struct rec *r = &ch->recs[ch->nrec++];
    memset(r, 0, sizeof *r);
    r->type = (uint8_t)type;
    r->t = ev->h.t;
    r->ip = ev->client;
    r->port = ev->port;
    r->pid = ev->h.pid;
    return r;
}

static void rec_key(struct rec *r, struct str k)
{
    if (k.len >= KEYMAX) k.len = KEYMAX - 1;
    memcpy(r->key, k.p, k.len);
    r->keylen = (uint8_t)k.len;
}

static enum ocat proto_cat(struct str proto)
{
    if (str_eqc(proto, "imap")) return OC_IMAP;
    if (str_eqc(proto, "pop3")) return OC_POP3;
    if (str_eqc(proto, "submission")) return OC_SUBMISSION;
    if (str_eqc(proto, "managesieve")) return OC_MANAGESIEVE;
    return OC_DOVECOT;
}

static void *chunk_new(void *global)
{
    struct chunk *ch = xcalloc(1, sizeof *ch);
    hmap_init_arena(&ch->ips, sizeof(struct ipstat), &ch->ar);
    hmap_init_arena(&ch->qids, sizeof(struct ipaddr), &ch->ar);
    return ch;
}

static void feed(void *state, const struct event *ev, struct str line)
{
    struct chunk *ch = state;
    switch (ev->kind) {
    case EV_CLIENT:
        if (ev->client.family && ev->qid.len && hmap_count(&ch->qids) < QID_MAP_MAX) {
            struct ipaddr *a = hmap_put(&ch->qids, ev->qid, NULL);
            *a = ev->client;
        }
        break;
    case EV_REMOVED:
        if (!hmap_del(&ch->qids, ev->qid) && ev->qid.len < KEYMAX) {
            ch->removed = xgrow(ch->removed, &ch->capremoved, ch->nremoved + 1, KEYMAX);
            str_copy(ch->removed[ch->nremoved++], KEYMAX, ev->qid);
        }
        break;
    case EV_REJECT:
        if (str_eqc(ev->service, "cleanup")) {
            struct ipaddr *a = ev->qid.len ? hmap_get(&ch->qids, ev->qid) : NULL;
            if (a) {
                count(&ch->ips, a, ev->h.t, OC_CONTENT, 1);
            } else if (ev->qid.len) {
                rec_key(rec_add(ch, R_CLEANUP, ev), ev->qid);
            }
        } else if (ev->client.family) {
            if (str_eqc(ev->service, "postscreen")) rec_add(ch, R_PS, ev);
            else count(&ch->ips, &ev->client, ev->h.t, OC_REJECT, 1);
        }
        break;
    case EV_PREGREET: case EV_PS_DNSBL: case EV_PS_DENYLISTED:
        if (ev->client.family) rec_add(ch, R_PS, ev);
        break;
    case EV_PS_OTHER:
        if (ev->client.family && (str_startswith(ev->h.msg, "COMMAND PIPELINING") ||
                                  str_startswith(ev->h.msg, "NON-SMTP COMMAND") ||
                                  str_startswith(ev->h.msg, "BARE NEWLINE")))
            rec_add(ch, R_PS, ev);
        break;
    case EV_SASL_FAIL: {
        struct ipstat *s = ev->client.family ? ipstat_get(&ch->ips, &ev->client, ev->h.t) : NULL;
        if (s) s->sasl_pf++;
        break;
    }
    case EV_DV_AUTH_FAIL:
        /* PAM's own pam_unix line repeats an attempt that Dovecot's login summary or
         * Postfix's SASL warning reports too */
        if (!ev->client.family || str_eqc(ev->stage, "pam_unix")) break;
        if (ev->session.len) {
            struct rec *r = rec_add(ch, R_DV_AUTH, ev);
            rec_key(r, ev->session);
        } else {
            struct ipstat *s = ipstat_get(&ch->ips, &ev->client, ev->h.t);
            if (s) s->sasl_dv++;
        }
        break;
    case EV_DV_LOGIN_FAIL:
        if (ev->client.family) {
            struct rec *r = rec_add(ch, R_DV_FAIL, ev);
            rec_key(r, ev->session);
            r->n = ev->attempts;
            r->cat = (uint8_t)proto_cat(ev->instance);
        }
        break;
    case EV_DV_LOGIN:
        if (ev->session.len) {
            struct rec *r = rec_add(ch, R_DV_LOGIN, ev);
            rec_key(r, ev->session);
            r->cat = (uint8_t)proto_cat(ev->instance);
        }
        break;
    case EV_SSH_FAIL:
        if (ev->client.family) {
            struct rec *r = rec_add(ch, R_SSH_FAIL, ev);
            r->n = str_eqc(ev->stage, "invalid");
        }
        break;
    case EV_SSH_INVALID_USER:
        if (ev->client.family) rec_add(ch, R_SSH_INVALID, ev);
        break;
    default:
        break;
    }
}

static void merge_ipstat(struct offenders *o, struct str key, const struct ipstat *src)
{
    struct ipaddr ip;
    memset(&ip, 0, sizeof ip);
    memcpy(&ip, key.p, key.len);
    struct ipstat *d = ipstat_get(&o->ips, &ip, src->first);
    if (!d) {
        if (!o->capped_warned) {
            msg_warn("more than %d distinct client IPs: further ones are not counted", OFFENDERS_MAX_IPS);
            o->capped_warned = true;
        }
        return;
    }
    if (src->last > d->last) d->last = src->last;
    for (int c = 0; c < OC_MAX; c++) d->cat[c] += src->cat[c];
    d->sasl_pf += src->sasl_pf;
    d->sasl_dv += src->sasl_dv;
}

static void gcount(struct offenders *o, const struct ipaddr *ip, int64_t t, enum ocat c, uint32_t n)
{
    struct ipstat s;
    memset(&s, 0, sizeof s);
    s.first = s.last = t;
    s.cat[c] = n;
    merge_ipstat(o, ipaddr_key(ip), &s);
}

static void flush_session(struct offenders *o, struct str key, enum ocat c)
{
    struct pending *p = hmap_get(&o->sess, key);
    if (!p) return;
    gcount(o, &p->ip, p->first, c, p->n);
    if (p->n > 1) gcount(o, &p->ip, p->last, c, 0);
    hmap_del(&o->sess, key);
}

static void flush_ssh(struct offenders *o, long pid)
{
    struct str k = { (const char *)&pid, sizeof pid };
    struct rec *r = hmap_get(&o->sshpid, k);
    if (!r) return;
    gcount(o, &r->ip, r->t, OC_SSH, 1);
    hmap_del(&o->sshpid, k);
}

static void merge_rec(struct offenders *o, const struct rec *r)
{
    struct str key = { r->key, r->keylen };
    switch ((enum rtype)r->type) {
    case R_CLEANUP: {
        struct ipaddr *a = hmap_get(&o->qids, key);
        if (a) gcount(o, a, r->t, OC_CONTENT, 1);
        break;
    }
    case R_PS: {
        char kb[IPADDR_STRLEN + 8];
        size_t kl = ipaddr_format(&r->ip, kb, sizeof kb);
        kl += (size_t)snprintf(kb + kl, sizeof kb - kl, "|%d", r->port);
        struct str k = { kb, kl };
        if (r->port >= 0 && hmap_get(&o->ps, k)) break;      /* same connection: counted */
        if (hmap_count(&o->ps) >= PS_MAX) hmap_free(&o->ps), hmap_init(&o->ps, sizeof(int64_t));
        *(int64_t *)hmap_put(&o->ps, k, NULL) = r->t;
        gcount(o, &r->ip, r->t, OC_POSTSCREEN, 1);
        break;
    }
    case R_DV_AUTH: {
        bool isnew;
        if (hmap_count(&o->sess) >= SESS_MAX && !hmap_get(&o->sess, key)) {
            gcount(o, &r->ip, r->t, OC_DOVECOT, 1);
            break;
        }
        struct pending *p = hmap_put(&o->sess, key, &isnew);
        if (isnew) { p->ip = r->ip; p->first = r->t; }
        p->n++;
        p->last = r->t;
        break;
    }
    case R_DV_FAIL:
        hmap_del(&o->sess, key);               /* its auth: lines are these N attempts */
        gcount(o, &r->ip, r->t, (enum ocat)r->cat, r->n);
        break;
    case R_DV_LOGIN:
        flush_session(o, key, (enum ocat)r->cat);   /* typos before a successful login */
        break;
    case R_SSH_FAIL: {
        struct str k = { (const char *)&r->pid, sizeof r->pid };
        struct rec *pend = r->pid >= 0 ? hmap_get(&o->sshpid, k) : NULL;
        if (pend && r->n) hmap_del(&o->sshpid, k);   /* "Invalid user" + this = one attempt */
        else if (pend) flush_ssh(o, r->pid);
        gcount(o, &r->ip, r->t, OC_SSH, 1);
        break;
    }
    case R_SSH_INVALID: {
        flush_ssh(o, r->pid);
        if (r->pid < 0) { gcount(o, &r->ip, r->t, OC_SSH, 1); break; }
        struct str k = { (const char *)&r->pid, sizeof r->pid };
        *(struct rec *)hmap_put(&o->sshpid, k, NULL) = *r;
        break;
    }
    }
}

static void merge(void *global, void *state)
{
    struct offenders *o = global;
    struct chunk *ch = state;
    /* order matters: the records of this chunk see the queue IDs of earlier chunks */
    for (size_t i = 0; i < ch->nrec; i++) merge_rec(o, &ch->recs[i]);
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&ch->ips, &it, &k, &v)) merge_ipstat(o, k, v);
    for (size_t i = 0; i < ch->nremoved; i++) hmap_del(&o->qids, str_c(ch->removed[i]));
    if (hmap_count(&o->qids) + hmap_count(&ch->qids) > QID_MAP_MAX) {
        hmap_free(&o->qids);
        hmap_init(&o->qids, sizeof(struct ipaddr));
    }
    it = 0;
    while (hmap_next(&ch->qids, &it, &k, &v)) *(struct ipaddr *)hmap_put(&o->qids, k, NULL) = *(struct ipaddr *)v;
    hmap_free(&ch->ips);
    hmap_free(&ch->qids);
    arena_free(&ch->ar);
    free(ch->recs);
    free(ch->removed);
    free(ch);
}

struct offenders *offenders_new(void)
{
    struct offenders *o = xcalloc(1, sizeof *o);
    hmap_init(&o->ips, sizeof(struct ipstat));
    hmap_init(&o->qids, sizeof(struct ipaddr));
    hmap_init(&o->ps, sizeof(int64_t));
    hmap_init(&o->sess, sizeof(struct pending));
    hmap_init(&o->sshpid, sizeof(struct rec));
    return o;
}

uint64_t offenders_kinds(void)
{
    return EV_BIT(EV_CLIENT) | EV_BIT(EV_REMOVED) | EV_BIT(EV_REJECT) | EV_BIT(EV_PREGREET) |
           EV_BIT(EV_PS_DNSBL) | EV_BIT(EV_PS_DENYLISTED) | EV_BIT(EV_PS_OTHER) |
           EV_BIT(EV_SASL_FAIL) | EV_BIT(EV_DV_AUTH_FAIL) | EV_BIT(EV_DV_LOGIN_FAIL) |
           EV_BIT(EV_DV_LOGIN) | EV_BIT(EV_SSH_FAIL) | EV_BIT(EV_SSH_INVALID_USER);
}

static bool has(struct str s, const char *needle) { return str_findc(s, needle) >= 0; }

/* Dovecot: only "-login" processes (Login:, auth failed) and auth / auth-worker lines with
 * a failure text give kinds feed() uses (parse/dovecot.c: parse_login, is_auth_failure). */
static bool dovecot_may(struct str m)
{
    /* as parse_dovecot(): "dovecot[N]: dovecot: auth(...): ..." carries a second program tag */
    if (str_startswith(m, "dovecot: ")) m = str_from(m, 9);
    size_t i = 0;
    while (i < m.len && i < 40 && m.p[i] != ':' && m.p[i] != '(' && m.p[i] != ' ') i++;
    struct str proc = str_sub(m, 0, i);
    if (str_endswith(proc, "-login")) return has(m, "Login: ") || has(m, "(auth failed, ");
    if (!str_startswith(proc, "auth")) return false;
    return has(m, "unknown user") || has(m, "assword mismatch") || has(m, "pam_authenticate() failed") ||
           has(m, "user not found") || has(m, "nvalid credentials");
}

bool offenders_may_count(const struct syslog_hdr *h)
{
    struct str prog = h->prog, m = h->msg;
    /* the dispatch of parse_message(): dovecot*, then sshd, then Postfix */
    if (str_startswith(prog, "dovecot")) return dovecot_may(m);
    if (str_eqc(prog, "sshd") || str_eqc(prog, "sshd-session")) return true;
    /* Postfix "QID: " / "NOQUEUE: " lines: client=, removed, reject: (parse_queue_line,
     * parse_action); with another first word the line falls through to the shapes below */
    ptrdiff_t colon = str_chr_head(m, ':', 34);
    if (colon > 0 && (size_t)colon + 1 < m.len && m.p[colon + 1] == ' ') {
        struct str r = str_from(m, (size_t)colon + 2);
        if (str_startswith(r, "reject: ") || str_startswith(r, "client=") || str_eqc(r, "removed"))
            return true;
    }
    if (!m.len) return false;
    switch (m.p[0]) {
    case 'P': return str_startswith(m, "PREGREET ");
    case 'D': return str_startswith(m, "DNSBL rank ") || str_startswith(m, "DENYLISTED ");
    case 'B': return str_startswith(m, "BLACKLISTED ") || str_startswith(m, "BARE NEWLINE");
    case 'C': return str_startswith(m, "COMMAND PIPELINING");
    case 'N': return str_startswith(m, "NON-SMTP COMMAND");
    case 'w': return str_startswith(m, "warning: ") && has(m, " authentication failed");
    default: return false;
    }
}

static bool want_msg(void *global, const struct syslog_hdr *h)
{
    (void)global;
    return offenders_may_count(h);
}

struct scan_consumer offenders_consumer(struct offenders *o, bool prefilter)
{
    /* 1 MiB jobs: 0.40 s instead of 0.47 s on the 1 GB bench log (bench/offenders.sh; the
     * buffer stays in cache between the kernel's copy and the parse) */
    return (struct scan_consumer){ .chunk_new = chunk_new, .feed = feed, .merge = merge, .global = o,
                                   .want_msg = prefilter ? want_msg : NULL, .chunk_bytes = 1u << 20 };
}

static int row_cmp(const void *a, const void *b)
{
    const struct offender *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return ipaddr_cmp(&x->ip, &y->ip);
}

const struct offender *offenders_result(struct offenders *o, uint64_t min, size_t *n)
{
    /* what is still pending counts as it stands */
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&o->sess, &it, &k, &v)) {
        struct pending *p = v;
        gcount(o, &p->ip, p->first, OC_DOVECOT, p->n);
        gcount(o, &p->ip, p->last, OC_DOVECOT, 0);
    }
    hmap_free(&o->sess);
    hmap_init(&o->sess, sizeof(struct pending));
    it = 0;
    while (hmap_next(&o->sshpid, &it, &k, &v)) {
        struct rec *r = v;
        gcount(o, &r->ip, r->t, OC_SSH, 1);
    }
    hmap_free(&o->sshpid);
    hmap_init(&o->sshpid, sizeof(struct rec));

    free(o->rows);
    o->rows = xcalloc(hmap_count(&o->ips) + 1, sizeof *o->rows);
    o->nrows = 0;
    it = 0;
    while (hmap_next(&o->ips, &it, &k, &v)) {
        struct ipstat *s = v;
        struct offender *r = &o->rows[o->nrows];
        memset(r, 0, sizeof *r);
        memcpy(&r->ip, k.p, k.len);
        for (int c = 0; c < OC_MAX; c++) r->cat[c] = s->cat[c];
        r->cat[OC_SASL] += s->sasl_pf > s->sasl_dv ? s->sasl_pf : s->sasl_dv;
        for (int c = 0; c < OC_MAX; c++) r->count += r->cat[c];
        r->first = s->first;
        r->last = s->last;
        if (r->count >= min && r->count > 0) o->nrows++;
    }
    qsort(o->rows, o->nrows, sizeof *o->rows, row_cmp);
    *n = o->nrows;
    return o->rows;
}

/* "sasl=25,imap=12": categories by count, then by name order of the table */
static void cats_text(const struct offender *r, char *buf, size_t cap)
{
    int idx[OC_MAX], n = 0;
    for (int c = 0; c < OC_MAX; c++) if (r->cat[c]) idx[n++] = c;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && r->cat[idx[j]] > r->cat[idx[j - 1]]; j--) {
            int t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t;
        }
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s=%llu", i ? "," : "", cat_names[idx[i]],
                                (unsigned long long)r->cat[idx[i]]);
}

void offenders_print_text(FILE *f, const struct offender *rows, size_t n)
{
    fprintf(f, "%7s  %-39s  %-36s  %-19s  %-19s\n", "COUNT", "IP", "CATEGORIES", "FIRST-SEEN", "LAST-SEEN");
    for (size_t i = 0; i < n; i++) {
        char ip[IPADDR_STRLEN], cats[256], t1[40], t2[40];
        ipaddr_format(&rows[i].ip, ip, sizeof ip);
        cats_text(&rows[i], cats, sizeof cats);
        mwtime_human(rows[i].first, t1, sizeof t1);
        mwtime_human(rows[i].last, t2, sizeof t2);
        fprintf(f, "%7llu  %-39s  %-36s  %-19s  %-19s\n", (unsigned long long)rows[i].count, ip, cats, t1, t2);
    }
}

void offenders_print_json(FILE *f, const struct offender *rows, size_t n)
{
    /* one object per line: greppable, and still one JSON document */
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        struct jw w;
        jw_init(&w, f, false);
        fputs(i ? ",\n" : "\n", f);
        char ip[IPADDR_STRLEN], t[48];
        ipaddr_format(&rows[i].ip, ip, sizeof ip);
        jw_obj(&w);
        jw_key(&w, "ip"); jw_cstr(&w, ip);
        jw_key(&w, "count"); jw_uint(&w, rows[i].count);
        jw_key(&w, "categories");
        jw_obj(&w);
        for (int c = 0; c < OC_MAX; c++)
            if (rows[i].cat[c]) { jw_key(&w, cat_names[c]); jw_uint(&w, rows[i].cat[c]); }
        jw_obj_end(&w);
        mwtime_rfc3339(rows[i].first, -1, t, sizeof t);
        jw_key(&w, "first"); jw_cstr(&w, t);
        mwtime_rfc3339(rows[i].last, -1, t, sizeof t);
        jw_key(&w, "last"); jw_cstr(&w, t);
        jw_obj_end(&w);
    }
    fputs(n ? "\n]\n" : "]\n", f);
}

void offenders_free(struct offenders *o)
{
    if (!o) return;
    hmap_free(&o->ips);
    hmap_free(&o->qids);
    hmap_free(&o->ps);
    hmap_free(&o->sess);
    hmap_free(&o->sshpid);
    free(o->rows);
    free(o);
}
