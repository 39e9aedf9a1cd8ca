/* logins - see logins.h. */
#include "report/logins.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/msg.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <stdlib.h>
#include <string.h>

#define SESS_MAX 200000               /* smtpd sessions remembered for the SASL dedupe */
#define KEYCAP (LOGINS_USER_MAX + LOGINS_PROTO_MAX + 1)

enum { SS_FRESH = 1, SS_COUNTED = 2 };   /* smtpd session state */

/* A Postfix SASL login whose session started before this chunk: resolved in merge. */
struct pend {
    struct str skey;                  /* session key (in the chunk arena) */
    struct str user;                  /* (in the chunk arena) */
    int64_t t;
    struct ipaddr ip;
};

struct chunk {
    const struct logins *l;
    struct hmap logins;               /* key -> struct login_agg */
    struct hmap fails;                /* user -> struct fail_agg */
    struct hmap sess;                 /* session key -> uint8_t state */
    struct pend *pend;
    size_t npend, cappend;
    struct arena ar;
    uint64_t skipped;
};

struct logins {
    struct hmap marks;                /* key -> struct login_mark (read-only during a scan) */
    struct hmap logins;
    struct hmap fails;
    struct hmap sess;
    uint64_t skipped;
    bool warned_users, warned_fails;
};

size_t logins_key(char *buf, size_t cap, struct str user, struct str proto)
{
    if (proto.len >= LOGINS_PROTO_MAX) proto.len = LOGINS_PROTO_MAX - 1;
    if (user.len + 1 + proto.len > cap) return 0;
    if (user.len) memcpy(buf, user.p, user.len);
    buf[user.len] = 0;
    if (proto.len) memcpy(buf + user.len + 1, proto.p, proto.len);
    return user.len + 1 + proto.len;
}

void logins_key_split(struct str key, struct str *user, struct str *proto)
{
    ptrdiff_t z = str_chr(key, 0);
    if (z < 0) { *user = key; *proto = STR_NULL; return; }
    *user = str_sub(key, 0, (size_t)z);
    *proto = str_from(key, (size_t)z + 1);
}

static void agg_login(struct hmap *m, const struct hmap *marks, struct str key, int64_t t,
                      const struct ipaddr *ip, const struct ipaddr *lip, bool *capped)
{
    bool isnew;
    if (hmap_count(m) >= LOGINS_MAX_USERS && !hmap_get(m, key)) { *capped = true; return; }
    struct login_agg *a = hmap_put(m, key, &isnew);
    const struct login_mark *mk = hmap_get(marks, key);
    a->n++;
    if (!mk || t > mk->last) a->n_new++;
    else if (t == mk->last) a->n_eq++;
    if (isnew || t < a->first) a->first = t;
    if (isnew || t > a->last) {
        a->last = t;
        a->n_at_last = 1;
        a->ip = *ip;
        if (lip) a->lip = *lip;
    } else if (t == a->last) {
        a->n_at_last++;
        a->ip = *ip;                  /* the later line of the same second */
        if (lip) a->lip = *lip;
    }
}

static void agg_fail(struct hmap *m, struct str user, struct str proto, int64_t t,
                     const struct ipaddr *ip, bool *capped)
{
    bool isnew;
    if (hmap_count(m) >= LOGINS_MAX_FAIL_NAMES && !hmap_get(m, user)) { *capped = true; return; }
    struct fail_agg *f = hmap_put(m, user, &isnew);
    if (isnew || t < f->first) f->first = t;
    /* same second: a line that names the protocol beats an auth: line that does not */
    if (isnew || t > f->last || (t == f->last && proto.len)) {
        f->last = t;
        f->ip = *ip;
        str_copy(f->proto, sizeof f->proto, proto);
    }
}

static bool user_ok(struct str u)
{
    return u.len > 0 && u.len <= LOGINS_USER_MAX && !memchr(u.p, 0, u.len) &&
           !str_eqc(u, "(unavailable)");
}

/* smtpd session: host and pid */
static struct str sess_key(char *buf, size_t cap, const struct event *ev)
{
    long pid = ev->h.pid;
    size_t hl = ev->h.host.len < cap - sizeof pid ? ev->h.host.len : cap - sizeof pid;
    memcpy(buf, &pid, sizeof pid);
    if (hl) memcpy(buf + sizeof pid, ev->h.host.p, hl);
    return str_make(buf, sizeof pid + hl);
}

static void *chunk_new(void *global)
{
    struct chunk *ch = xcalloc(1, sizeof *ch);
    ch->l = global;
    hmap_init(&ch->logins, sizeof(struct login_agg));
    hmap_init(&ch->fails, sizeof(struct fail_agg));
    hmap_init(&ch->sess, sizeof(uint8_t));
    return ch;
}

static void chunk_login(struct chunk *ch, struct str user, struct str proto, int64_t t,
                        const struct ipaddr *ip)
{
    char kb[KEYCAP];
    bool capped = false;
    size_t kl = logins_key(kb, sizeof kb, user, proto);
    if (!kl) { ch->skipped++; return; }
    agg_login(&ch->logins, &ch->l->marks, str_make(kb, kl), t, ip, NULL, &capped);
    if (capped) ch->skipped++;
}

static void chunk_fail(struct chunk *ch, struct str user, struct str proto, const struct event *ev)
{
    bool capped = false;
    if (!user_ok(user)) { if (user.len > LOGINS_USER_MAX) ch->skipped++; return; }
    agg_fail(&ch->fails, user, proto, ev->h.t, &ev->client, &capped);
    if (capped) ch->skipped++;
}

static void feed(void *state, const struct event *ev, struct str line)
{
    struct chunk *ch = state;
    char kb[80];
    switch (ev->kind) {
    case EV_DV_LOGIN:
        if (!user_ok(ev->user)) { if (ev->user.len) ch->skipped++; break; }
        chunk_login(ch, ev->user, ev->instance, ev->h.t, &ev->client);
        break;
    case EV_CONNECT:
        if (ev->src == SRC_POSTFIX && ev->h.pid >= 0) {
            if (hmap_count(&ch->sess) >= SESS_MAX) break;
            *(uint8_t *)hmap_put(&ch->sess, sess_key(kb, sizeof kb, ev), NULL) = SS_FRESH;
        }
        break;
    case EV_CLIENT: {
        struct str u = ev->f.sasl_username;
        if (ev->src != SRC_POSTFIX || !u.len) break;
        if (!user_ok(u)) { ch->skipped++; break; }
        if (ev->h.pid < 0) { chunk_login(ch, u, STR_LIT("smtp"), ev->h.t, &ev->client); break; }
        struct str sk = sess_key(kb, sizeof kb, ev);
        uint8_t *st = hmap_get(&ch->sess, sk);
        if (st && *st == SS_COUNTED) break;       /* next message of the same session */
        if (st) {
            *st = SS_COUNTED;
            chunk_login(ch, u, STR_LIT("smtp"), ev->h.t, &ev->client);
            break;
        }
        /* the session began in an earlier chunk: the merge step knows its state */
        ch->pend = xgrow(ch->pend, &ch->cappend, ch->npend + 1, sizeof *ch->pend);
        struct pend *p = &ch->pend[ch->npend++];
        p->skey = arena_str(&ch->ar, sk);
        p->user = arena_str(&ch->ar, u);
        p->t = ev->h.t;
        p->ip = ev->client;
        if (hmap_count(&ch->sess) < SESS_MAX)
            *(uint8_t *)hmap_put(&ch->sess, sk, NULL) = SS_COUNTED;
        break;
    }
    case EV_DV_AUTH_FAIL:
        chunk_fail(ch, ev->user, STR_NULL, ev);
        break;
    case EV_DV_LOGIN_FAIL:
        chunk_fail(ch, ev->user, ev->instance, ev);
        break;
    case EV_SASL_FAIL:
        chunk_fail(ch, ev->user, STR_LIT("smtp"), ev);
        break;
    default:
        break;
    }
    (void)line;
}

static bool has(struct str s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len < n) return false;
    const char *p = s.p, *e = s.p + s.len - n + 1;
    while (p < e && (p = memchr(p, lit[0], (size_t)(e - p))) != NULL) {
        if (memcmp(p, lit, n) == 0) return true;
        p++;
    }
    return false;
}

/* "QUEUEID: client=" (queue IDs are 5..20 alphanumerics) */
static bool qid_client(struct str msg)
{
    size_t i = 0;
    while (i < msg.len && i < 24 && ((msg.p[i] >= '0' && msg.p[i] <= '9') ||
           (msg.p[i] >= 'A' && msg.p[i] <= 'Z') || (msg.p[i] >= 'a' && msg.p[i] <= 'z')))
        i++;
    return i >= 5 && str_startswith(str_from(msg, i), ": client=");
}

/*
 * Raw-line prefilter (hot: every line of the input). Only lines that can be one of the
 * events above are parsed. It finds the end of the syslog program ("prog[pid]: " or
 * "prog: ", the first ": " of the line: time stamps have no blank after their colons) and
 * looks at the program and the start of the message; a line it cannot place is parsed.
 */
static bool want_line(void *global, struct str line)
{
    (void)global;
    size_t lim = line.len < 160 ? line.len : 160, i = 8;  /* no ": " in the first bytes */
    const char *p = line.p;
    while (i + 1 < lim && !(p[i] == ':' && p[i + 1] == ' ')) i++;
    if (i + 1 >= lim) return true;
    i++;
    struct str head = str_sub(line, 0, i - 1);          /* "... host prog[pid]" */
    struct str msg = str_from(line, i + 1);
    ptrdiff_t sp = str_rchr(head, ' ');
    struct str prog = sp >= 0 ? str_from(head, (size_t)sp + 1) : head;
    if (str_startswith(prog, "dovecot")) {
        /* "imap-login: ...", "auth: ...", "auth-worker(N): ..." */
        struct str proc = str_sub(msg, 0, 24);
        return str_startswith(msg, "auth") || has(proc, "-login: ");
    }
    ptrdiff_t br = str_chr(prog, '[');
    struct str name = br >= 0 ? str_sub(prog, 0, (size_t)br) : prog;
    if (str_endswith(name, "/smtpd") || str_eqc(name, "smtpd"))
        /* a session starts with "connect from": "disconnect from" adds nothing */
        return str_startswith(msg, "connect from ") ||
               (str_startswith(msg, "warning: ") && has(msg, "SASL ")) ||
               (qid_client(msg) && has(msg, "sasl_username="));
    /* Postfix's other daemons and unrelated programs carry nothing for us; Dovecot's own
     * log file (no syslog envelope) is left to the parser */
    return false;
}

static void merge_login(struct logins *l, struct str key, const struct login_agg *src)
{
    bool isnew;
    if (hmap_count(&l->logins) >= LOGINS_MAX_USERS && !hmap_get(&l->logins, key)) {
        if (!l->warned_users) msg_warn("more than %d users with logins: further ones are not counted", LOGINS_MAX_USERS);
        l->warned_users = true;
        l->skipped++;
        return;
    }
    struct login_agg *d = hmap_put(&l->logins, key, &isnew);
    if (isnew) { *d = *src; return; }
    d->n += src->n;
    d->n_new += src->n_new;
    d->n_eq += src->n_eq;
    if (src->first < d->first) d->first = src->first;
    if (src->last > d->last) {
        d->last = src->last;
        d->n_at_last = src->n_at_last;
        d->ip = src->ip;
        d->lip = src->lip;
    } else if (src->last == d->last) {
        d->n_at_last += src->n_at_last;
        d->ip = src->ip;
        d->lip = src->lip;
    }
}

static void merge_fail(struct logins *l, struct str user, const struct fail_agg *src)
{
    bool isnew;
    if (hmap_count(&l->fails) >= LOGINS_MAX_FAIL_NAMES && !hmap_get(&l->fails, user)) {
        if (!l->warned_fails) msg_warn("more than %d user names in failed logins: further ones are not kept", LOGINS_MAX_FAIL_NAMES);
        l->warned_fails = true;
        l->skipped++;
        return;
    }
    struct fail_agg *d = hmap_put(&l->fails, user, &isnew);
    if (isnew) { *d = *src; return; }
    if (src->first < d->first) d->first = src->first;
    if (src->last > d->last || (src->last == d->last && src->proto[0])) {
        d->last = src->last;
        d->ip = src->ip;
        memcpy(d->proto, src->proto, sizeof d->proto);
    }
}

static void merge(void *global, void *state)
{
    struct logins *l = global;
    struct chunk *ch = state;
    /* pending SASL logins see the session states left by the earlier chunks */
    for (size_t i = 0; i < ch->npend; i++) {
        struct pend *p = &ch->pend[i];
        uint8_t *st = hmap_get(&l->sess, p->skey);
        if (st && *st == SS_COUNTED) continue;
        logins_add_login(l, p->user, STR_LIT("smtp"), p->t, &p->ip);
    }
    size_t it = 0;
    struct str k;
    void *v;
    if (hmap_count(&l->sess) + hmap_count(&ch->sess) > SESS_MAX) {
        hmap_free(&l->sess);              /* worst case: one session counted twice */
        hmap_init(&l->sess, sizeof(uint8_t));
    }
    while (hmap_next(&ch->sess, &it, &k, &v)) *(uint8_t *)hmap_put(&l->sess, k, NULL) = *(uint8_t *)v;
    it = 0;
    while (hmap_next(&ch->logins, &it, &k, &v)) merge_login(l, k, v);
    it = 0;
    while (hmap_next(&ch->fails, &it, &k, &v)) merge_fail(l, k, v);
    l->skipped += ch->skipped;
    hmap_free(&ch->logins);
    hmap_free(&ch->fails);
    hmap_free(&ch->sess);
    arena_free(&ch->ar);
    free(ch->pend);
    free(ch);
}

struct logins *logins_new(void)
{
    struct logins *l = xcalloc(1, sizeof *l);
    hmap_init(&l->marks, sizeof(struct login_mark));
    hmap_init(&l->logins, sizeof(struct login_agg));
    hmap_init(&l->fails, sizeof(struct fail_agg));
    hmap_init(&l->sess, sizeof(uint8_t));
    return l;
}

void logins_set_mark(struct logins *l, struct str user, struct str proto, int64_t last, uint64_t n_at_last)
{
    char kb[KEYCAP];
    size_t kl = logins_key(kb, sizeof kb, user, proto);
    if (!kl) return;
    struct login_mark *m = hmap_put(&l->marks, str_make(kb, kl), NULL);
    m->last = last;
    m->n_at_last = n_at_last;
}

uint64_t logins_kinds(void)
{
    return EV_BIT(EV_DV_LOGIN) | EV_BIT(EV_CONNECT) | EV_BIT(EV_CLIENT) | EV_BIT(EV_DV_AUTH_FAIL) |
           EV_BIT(EV_DV_LOGIN_FAIL) | EV_BIT(EV_SASL_FAIL);
}

struct scan_consumer logins_consumer(struct logins *l)
{
    return (struct scan_consumer){ .chunk_new = chunk_new, .feed = feed, .merge = merge,
                                   .want_line = want_line, .global = l };
}

void logins_add_login(struct logins *l, struct str user, struct str proto, int64_t t,
                      const struct ipaddr *ip)
{
    char kb[KEYCAP];
    struct login_agg a;
    struct ipaddr none;
    if (!user_ok(user)) { l->skipped++; return; }
    size_t kl = logins_key(kb, sizeof kb, user, proto);
    if (!kl) { l->skipped++; return; }
    struct str key = str_make(kb, kl);
    memset(&none, 0, sizeof none);
    memset(&a, 0, sizeof a);
    const struct login_mark *mk = hmap_get(&l->marks, key);
    a.first = a.last = t;
    a.n = a.n_at_last = 1;
    if (!mk || t > mk->last) a.n_new = 1;
    else if (t == mk->last) a.n_eq = 1;
    a.ip = ip ? *ip : none;
    merge_login(l, key, &a);
}

void logins_add_failure(struct logins *l, struct str user, struct str proto, int64_t t,
                        const struct ipaddr *ip)
{
    struct fail_agg f;
    if (!user_ok(user)) return;
    memset(&f, 0, sizeof f);
    f.first = f.last = t;
    if (ip) f.ip = *ip;
    str_copy(f.proto, sizeof f.proto, proto);
    merge_fail(l, user, &f);
}

uint64_t logins_new_count(const struct logins *l, struct str key, const struct login_agg *a)
{
    const struct login_mark *mk = hmap_get(&l->marks, key);
    uint64_t stored = mk ? mk->n_at_last : 0;
    return a->n_new + (a->n_eq > stored ? a->n_eq - stored : 0);
}

const struct hmap *logins_table(const struct logins *l) { return &l->logins; }
const struct hmap *logins_failures(const struct logins *l) { return &l->fails; }
uint64_t logins_skipped(const struct logins *l) { return l->skipped; }

void logins_free(struct logins *l)
{
    if (!l) return;
    hmap_free(&l->marks);
    hmap_free(&l->logins);
    hmap_free(&l->fails);
    hmap_free(&l->sess);
    free(l);
}

/* ---- rows ---- */

void login_rows_init(struct login_rows *r)
{
    memset(r, 0, sizeof *r);
    hmap_init(&r->idx, sizeof(size_t));
}

struct login_row *login_rows_find(struct login_rows *r, struct str user)
{
    size_t *i = hmap_get(&r->idx, user);
    return i ? &r->v[*i] : NULL;
}

static struct login_row *row_get(struct login_rows *r, struct str user, bool *isnew)
{
    size_t *i = hmap_put(&r->idx, user, isnew);
    if (*isnew) {
        r->v = xgrow(r->v, &r->cap, r->n + 1, sizeof *r->v);
        memset(&r->v[r->n], 0, sizeof r->v[r->n]);
        r->v[r->n].user = str_dup(user);
        *i = r->n++;
    }
    return &r->v[*i];
}

void login_rows_add(struct login_rows *r, struct str user, struct str proto, int64_t first,
                    int64_t last, uint64_t count, const char *ip)
{
    bool isnew;
    struct login_row *row = row_get(r, user, &isnew);
    if (!row->logged_in || first < row->first) row->first = first;
    if (!row->logged_in || last > row->last) {
        row->last = last;
        str_copy(row->proto, sizeof row->proto, proto);
        str_copy(row->ip, sizeof row->ip, str_c(ip ? ip : ""));
    }
    row->logged_in = true;
    row->count += count;
    size_t np = sizeof row->protos / sizeof row->protos[0];
    for (size_t i = 0; i < row->nprotos; i++) {
        if (str_eqc(proto, row->protos[i].name)) {
            row->protos[i].count += count;
            if (last > row->protos[i].last) row->protos[i].last = last;
            return;
        }
    }
    if (row->nprotos < np) {
        struct login_proto *p = &row->protos[row->nprotos++];
        str_copy(p->name, sizeof p->name, proto);
        p->count = count;
        p->last = last;
    }
}

void login_row_set_fail(struct login_row *row, int64_t t, const char *ip, const char *proto)
{
    row->has_fail = true;
    row->fail_t = t;
    str_copy(row->fail_ip, sizeof row->fail_ip, str_c(ip ? ip : ""));
    str_copy(row->fail_proto, sizeof row->fail_proto, str_c(proto ? proto : ""));
}

void login_rows_from_logins(struct login_rows *r, const struct logins *l)
{
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(&l->logins, &it, &k, &v)) {
        const struct login_agg *a = v;
        struct str user, proto;
        char ip[IPADDR_STRLEN] = "";
        logins_key_split(k, &user, &proto);
        if (a->ip.family) ipaddr_format(&a->ip, ip, sizeof ip);
        login_rows_add(r, user, proto, a->first, a->last, a->n, ip);
    }
}

void login_rows_fails_from_logins(struct login_rows *r, const struct logins *l)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct fail_agg *f = hmap_get(&l->fails, str_c(r->v[i].user));
        if (!f) continue;
        char ip[IPADDR_STRLEN] = "";
        if (f->ip.family) ipaddr_format(&f->ip, ip, sizeof ip);
        login_row_set_fail(&r->v[i], f->last, ip, f->proto);
    }
}

void login_rows_free(struct login_rows *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->v[i].user);
    free(r->v);
    hmap_free(&r->idx);
    memset(r, 0, sizeof *r);
}

/* ---- user list ---- */

static size_t lower_key(char *buf, size_t cap, struct str s)
{
    size_t n = s.len < cap ? s.len : cap;
    for (size_t i = 0; i < n; i++) {
        char c = s.p[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return n;
}

void user_list_init(struct user_list *u)
{
    memset(u, 0, sizeof *u);
    hmap_init(&u->names, sizeof(size_t));
}

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

static void ulist_add(struct user_list *u, struct str name)
{
    char kb[LOGINS_USER_MAX];
    size_t kl = lower_key(kb, sizeof kb, name);
    bool isnew;
    size_t *i = hmap_put(&u->names, str_make(kb, kl), &isnew);
    if (!isnew) return;
    u->order = xgrow(u->order, &u->cap, u->n + 1, sizeof *u->order);
    u->order[u->n] = str_dup(name);
    *i = u->n++;
}

void user_list_parse(struct user_list *u, struct str text)
{
    size_t pos = 0;
    while (pos < text.len) {
        size_t e = pos;
        while (e < text.len && text.p[e] != '\n') e++;
        struct str line = str_sub(text, pos, e - pos);
        pos = e + 1;
        size_t a = 0;
        while (a < line.len && blank(line.p[a])) a++;
        size_t b = a;
        while (b < line.len && !blank(line.p[b])) b++;
        struct str name = str_sub(line, a, b - a);
        if (!name.len || name.p[0] == '#') continue;
        if (name.len > LOGINS_USER_MAX || memchr(name.p, 0, name.len)) { u->skipped++; continue; }
        ulist_add(u, name);
    }
}

bool user_list_has(const struct user_list *u, struct str user)
{
    char kb[LOGINS_USER_MAX];
    if (user.len > LOGINS_USER_MAX) return false;
    size_t kl = lower_key(kb, sizeof kb, user);
    return hmap_get(&u->names, str_make(kb, kl)) != NULL;
}

void user_list_free(struct user_list *u)
{
    for (size_t i = 0; i < u->n; i++) free(u->order[i]);
    free(u->order);
    hmap_free(&u->names);
    memset(u, 0, sizeof *u);
}

/* ---- filter, sort, output ---- */

void login_rows_add_listed(struct login_rows *r, const struct user_list *u)
{
    /* the log may spell a listed name in another case: match case-insensitively */
    struct user_list have;
    user_list_init(&have);
    for (size_t i = 0; i < r->n; i++) {
        struct str s = str_c(r->v[i].user);
        if (s.len <= LOGINS_USER_MAX) ulist_add(&have, s);
    }
    for (size_t i = 0; i < u->n; i++) {
        if (user_list_has(&have, str_c(u->order[i]))) continue;
        bool isnew;
        row_get(r, str_c(u->order[i]), &isnew);
    }
    user_list_free(&have);
}

static int row_cmp(const void *a, const void *b)
{
    const struct login_row *x = a, *y = b;
    if (x->logged_in != y->logged_in) return x->logged_in ? 1 : -1;
    if (x->logged_in && x->last != y->last) return x->last < y->last ? -1 : 1;
    return strcmp(x->user, y->user);
}

void login_rows_finish(struct login_rows *r, const struct login_filter *f)
{
    size_t out = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct login_row *row = &r->v[i];
        bool keep = true;
        if (f->users && !user_list_has(f->users, str_c(row->user))) keep = false;
        if (f->never && row->logged_in) keep = false;
        if (f->inactive > 0 && row->logged_in && row->last > f->now - f->inactive) keep = false;
        if (keep) r->v[out++] = *row;
        else free(row->user);
    }
    r->n = out;
    if (r->n > 1) qsort(r->v, r->n, sizeof *r->v, row_cmp);
    /* the index is stale after compaction: rebuild it */
    hmap_free(&r->idx);
    hmap_init(&r->idx, sizeof(size_t));
    for (size_t i = 0; i < r->n; i++) *(size_t *)hmap_put(&r->idx, str_c(r->v[i].user), NULL) = i;
}

static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    unsigned v = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    if (v >= 0x80 && v < 0xa0) return 0;        /* C1 controls */
    return len;
}

void logins_put_safe(FILE *f, struct str s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    for (size_t i = 0; i < s.len;) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') { fputc(p[i], f); i++; continue; }
        if (p[i] == '\\') { fputs("\\\\", f); i++; continue; }
        size_t n = p[i] >= 0x80 ? utf8_seq(p + i, s.len - i) : 0;
        if (n) { fwrite(p + i, 1, n, f); i += n; continue; }
        fprintf(f, "\\x%02x", p[i]);
        i++;
    }
}

/* display width of what logins_put_safe writes (code points; good enough for alignment) */
static size_t safe_width(struct str s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t w = 0;
    for (size_t i = 0; i < s.len;) {
        if (p[i] >= 0x20 && p[i] < 0x7f) { w += p[i] == '\\' ? 2 : 1; i++; continue; }
        size_t n = p[i] >= 0x80 ? utf8_seq(p + i, s.len - i) : 0;
        if (n) { w++; i += n; continue; }
        w += 4;
        i++;
    }
    return w;
}

static void pad(FILE *f, size_t have, size_t want)
{
    for (size_t i = have; i < want; i++) fputc(' ', f);
}

void logins_print_text(FILE *f, const struct login_rows *r, int64_t now)
{
    size_t uw = 4, pw = 3, iw = 4;
    for (size_t i = 0; i < r->n; i++) {
        size_t w = safe_width(str_c(r->v[i].user));
        if (w > uw) uw = w;
        if (strlen(r->v[i].proto) > pw) pw = strlen(r->v[i].proto);
        if (strlen(r->v[i].ip) > iw) iw = strlen(r->v[i].ip);
    }
    if (uw > 48) uw = 48;
    fputs("USER", f);
    pad(f, 4, uw);
    fprintf(f, "  %-19s  %-14s  %-*s  %-*s  %6s  %s\n", "LAST LOGIN", "AGE", (int)pw, "VIA",
            (int)iw, "FROM", "LOGINS", "LAST FAILURE");
    for (size_t i = 0; i < r->n; i++) {
        const struct login_row *row = &r->v[i];
        struct str u = str_c(row->user);
        logins_put_safe(f, u);
        pad(f, safe_width(u), uw);
        char t[32] = "never", age[32] = "", fail[160] = "";
        if (row->logged_in) {
            mwtime_human(row->last, t, sizeof t);
            mwtime_ago(row->last, now, age, sizeof age);
        }
        if (row->has_fail) {
            char ft[32];
            mwtime_human(row->fail_t, ft, sizeof ft);
            snprintf(fail, sizeof fail, "%s%s%s%s%s%s", ft, row->fail_ip[0] ? " from " : "", row->fail_ip,
                     row->fail_proto[0] ? " (" : "", row->fail_proto, row->fail_proto[0] ? ")" : "");
        }
        fprintf(f, "  %-19s  %-14s  %-*s  %-*s  %6llu  %s\n", t, age,
                (int)pw, row->logged_in ? row->proto : "-", (int)iw, row->logged_in && row->ip[0] ? row->ip : "-",
                (unsigned long long)row->count, fail[0] ? fail : "-");
    }
}

void logins_print_json(FILE *f, const struct login_rows *r, int64_t now)
{
    fputc('[', f);
    for (size_t i = 0; i < r->n; i++) {
        const struct login_row *row = &r->v[i];
        struct jw w;
        char t[48];
        jw_init(&w, f, false);
        fputs(i ? ",\n" : "\n", f);
        jw_obj(&w);
        jw_key(&w, "user"); jw_cstr(&w, row->user);
        jw_key(&w, "logged_in"); jw_bool(&w, row->logged_in);
        if (row->logged_in) {
            mwtime_rfc3339(row->last, -1, t, sizeof t);
            jw_key(&w, "last_login"); jw_cstr(&w, t);
            jw_key(&w, "last_login_epoch"); jw_int(&w, row->last);
            jw_key(&w, "idle_days"); jw_int(&w, now > row->last ? (now - row->last) / 86400 : 0);
            jw_key(&w, "protocol"); jw_cstr(&w, row->proto);
            jw_key(&w, "ip"); if (row->ip[0]) jw_cstr(&w, row->ip); else jw_null(&w);
            mwtime_rfc3339(row->first, -1, t, sizeof t);
            jw_key(&w, "first_seen"); jw_cstr(&w, t);
        } else {
            jw_key(&w, "last_login"); jw_null(&w);
        }
        jw_key(&w, "logins"); jw_uint(&w, row->count);
        jw_key(&w, "protocols");
        jw_obj(&w);
        for (size_t p = 0; p < row->nprotos; p++) {
            jw_key(&w, row->protos[p].name);
            jw_obj(&w);
            jw_key(&w, "logins"); jw_uint(&w, row->protos[p].count);
            mwtime_rfc3339(row->protos[p].last, -1, t, sizeof t);
            jw_key(&w, "last_login"); jw_cstr(&w, t);
            jw_obj_end(&w);
        }
        jw_obj_end(&w);
        jw_key(&w, "last_failure");
        if (row->has_fail) {
            jw_obj(&w);
            mwtime_rfc3339(row->fail_t, -1, t, sizeof t);
            jw_key(&w, "time"); jw_cstr(&w, t);
            jw_key(&w, "ip"); if (row->fail_ip[0]) jw_cstr(&w, row->fail_ip); else jw_null(&w);
            jw_key(&w, "protocol"); if (row->fail_proto[0]) jw_cstr(&w, row->fail_proto); else jw_null(&w);
            jw_obj_end(&w);
        } else {
            jw_null(&w);
        }
        jw_obj_end(&w);
    }
    fputs(r->n ? "\n]\n" : "]\n", f);
}
