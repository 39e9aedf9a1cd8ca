/* Unit tests for report/summary: pflogsumm's text helpers rule by rule, and the consumer's
 * chunk merging (every way of cutting the input into chunks gives the same figures). */
#include "check.h"
#include "report/summary_int.h"
#include "parse/event.h"
#include <stdlib.h>
#include <string.h>

static char out[4096];

static const char *S(struct str s)
{
    static char b[4096];
    return str_copy(b, sizeof b, s);
}

static void t_gimme_domain(void)
{
    CHECK_STR(S(pfs_gimme_domain(str_c("unknown[127.0.0.22]"), out)), "127.0.0.22");
    CHECK_STR(S(pfs_gimme_domain(str_c("mx1.partner.test[127.0.0.20]"), out)), "mx1.partner.test");
    CHECK_STR(S(pfs_gimme_domain(str_c("Mail.Example.COM[10.0.0.1]"), out)), "example.com");
    CHECK_STR(S(pfs_gimme_domain(str_c("a.b.example.co.uk[10.0.0.1]"), out)), "example.co.uk");
    CHECK_STR(S(pfs_gimme_domain(str_c("localhost[127.0.0.1]"), out)), "localhost");
    CHECK_STR(S(pfs_gimme_domain(str_c("unknown[::1]"), out)), "::1");
    CHECK_STR(S(pfs_gimme_domain(str_c("[127.0.0.35]:45678"), out)), "127.0.0.35");
    /* pflogsumm's failure on IPv6 disconnect lines: nothing */
    CHECK_INT(pfs_gimme_domain(str_c("unknown[::1] ehlo=1 quit=1 commands=2"), out).len, 0);
    CHECK_STR(S(pfs_gimme_domain(str_c("host.example.org/192.0.2.1"), out)), "example.org");
}

static void t_said_trim(void)
{
    struct str r = pfs_said_trim(str_c("host 127.0.0.3[127.0.0.3] said: 451 4.7.1 Service temporarily unavailable, try again later (in reply to RCPT TO command"), 65, out);
    CHECK_STR(S(r), "451 4.7.1 Service temporarily unavailable, try again later (in...");
    r = pfs_said_trim(str_c("host 127.0.0.4[127.0.0.4] said: 550 5.1.1 <x@remote-bounce.test>: Recipient address rejected: User unknown in relay recipient table (in reply to RCPT TO command)"), 66, out);
    CHECK_STR(S(r), "User unknown in relay recipient table (in reply to RCPT TO comm...");
    r = pfs_said_trim(str_c("connect to 127.0.0.5[127.0.0.5]:2525: Connection refused"), 65, out);
    CHECK_STR(S(r), "connect to 127.0.0.5[127.0.0.5]:2525: Connection refused");
    CHECK_STR(S(pfs_string_trim(str_c("0123456789"), 8, false, out)), "01234...");
    CHECK_STR(S(pfs_string_trim(str_c("0123456789"), 8, true, out)), "0123456789");
}

static void reject(const char *line, const char *typ, const char *reason, const char *data)
{
    char buf[8192];
    struct pfs_reject r;
    CHECK(pfs_reject_detail(str_c(line), false, false, buf, sizeof buf, &r));
    CHECK_STR(S(r.type), typ);
    CHECK_STR(S(r.reason), reason);
    CHECK_STR(S(r.data), data);
}

static void t_reject_reasons(void)
{
    reject("postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[127.0.0.67]: 554 5.7.1 <unknown[127.0.0.67]>: Client host rejected: Your host is listed in our local blocklist; from=<a@b.test> to=<c@example.com> proto=ESMTP helo=<x>",
           "RCPT", "Client host rejected: Your host is listed in our local blocklist", "127.0.0.67");
    reject("postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[127.0.0.22]: 550 5.1.1 <nosuch62@example.com>: Recipient address rejected: User unknown in virtual mailbox table; from=<a@b.test> to=<nosuch62@example.com> proto=ESMTP helo=<x>",
           "RCPT", "Recipient address rejected: User unknown in virtual mailbox table", "nosuch62@example.com");
    reject("postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[127.0.0.31]: 554 5.7.1 <spammer@bad-sender.test>: Sender address rejected: Sender blocked by policy; from=<spammer@bad-sender.test> to=<a@example.com> proto=ESMTP helo=<x>",
           "RCPT", "blocked by policy", "127.0.0.31");
    reject("postfix/postscreen[1]: NOQUEUE: reject: RCPT from [127.0.0.35]:45678: 550 5.5.1 Protocol error; from=<a@b.test>, to=<c@example.com>, proto=SMTP, helo=<x>",
           "RCPT", "Protocol error", "127.0.0.35");
    reject("postfix/smtpd[1]: NOQUEUE: reject: MAIL from unknown[127.0.0.22]: 552 5.3.4 Message size exceeds fixed limit; proto=ESMTP helo=<x>",
           "MAIL", "5.3.4 Message size exceeds fixed limit", "127.0.0.22");
    reject("postfix/submission/smtpd[1]: NOQUEUE: reject: RCPT from unknown[127.0.0.70]: 553 5.7.1 <bob@example.com>: Sender address rejected: not owned by user alice@example.com; from=<bob@example.com> to=<x@remote-ok.test> proto=ESMTP helo=<x>",
           "RCPT", "Sender address rejected: not owned by user alice@example.com", "bob@example.com");
    char buf[256];
    struct pfs_reject r;
    CHECK(!pfs_reject_detail(str_c("postfix/smtpd[1]: NOQUEUE: reject:"), false, false, buf, sizeof buf, &r));
}

static void t_normalize_host(void)
{
    char a[64];
    size_t n = pfs_normalize_host(str_c("bulk@Example.test"), a, sizeof a);
    CHECK_INT(n, 15);
    CHECK(memcmp(a, "testexamplebulk", 15) == 0);
    n = pfs_normalize_host(str_c("127.0.0.31 extra"), a, sizeof a);
    CHECK_INT(n, 4);
    CHECK(a[0] == 127 && a[1] == 0 && a[3] == 31);
    int64_t v;
    char u;
    pfs_int_units(6631106, &v, &u);
    CHECK_INT(v, 6475);
    CHECK(u == 'k');
    pfs_int_units(524288, &v, &u);
    CHECK_INT(v, 524288);
    CHECK(u == ' ');
}

/* ---- the consumer ---- */

static const char *const msg_lines[] = {
    "Nov 22 21:00:00 mail postfix/smtpd[10]: connect from mx1.partner.test[127.0.0.20]",
    "Nov 22 21:00:01 mail postfix/smtpd[10]: 1A2B3C4D5E: client=mx1.partner.test[127.0.0.20]",
    "Nov 22 21:00:01 mail postfix/cleanup[11]: 1A2B3C4D5E: message-id=<x@partner.test>",
    "Nov 22 21:00:01 mail postfix/qmgr[12]: 1A2B3C4D5E: from=<News@Partner.TEST>, size=1000, nrcpt=2 (queue active)",
    "Nov 22 21:00:01 mail postfix/smtpd[10]: disconnect from mx1.partner.test[127.0.0.20] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6",
    "Nov 22 21:00:02 mail postfix/lmtp[13]: 1A2B3C4D5E: to=<alice@Example.COM>, relay=mail[private/dovecot-lmtp], delay=0.5, delays=0/0/0/0.5, dsn=2.0.0, status=sent (250 2.0.0 ok)",
    "Nov 22 21:00:02 mail postfix/smtp[14]: 1A2B3C4D5E: to=<x@remote-defer.test>, relay=127.0.0.3[127.0.0.3]:2525, delay=1, delays=0/0/0/1, dsn=4.7.1, status=deferred (host 127.0.0.3[127.0.0.3] said: 451 4.7.1 try later (in reply to RCPT TO command))",
    "Nov 22 21:05:02 mail postfix/qmgr[12]: 1A2B3C4D5E: from=<News@Partner.TEST>, size=1000, nrcpt=2 (queue active)",
    "Nov 22 21:05:03 mail postfix/smtp[14]: 1A2B3C4D5E: to=<x@remote-defer.test>, relay=127.0.0.3[127.0.0.3]:2525, delay=301, delays=0/0/0/1, dsn=4.7.1, status=deferred (host 127.0.0.3[127.0.0.3] said: 451 4.7.1 try later (in reply to RCPT TO command))",
    "Nov 22 21:10:03 mail postfix/qmgr[12]: 1A2B3C4D5E: from=<News@Partner.TEST>, status=expired, returned to sender",
    "Nov 22 21:10:03 mail postfix/qmgr[12]: 1A2B3C4D5E: removed",
    /* a content filter round trip: 2222222222 goes to amavis, comes back as 3333333333 */
    "Nov 22 21:11:00 mail postfix/smtpd[20]: 2222222222: client=unknown[198.51.100.7]",
    "Nov 22 21:11:00 mail postfix/qmgr[12]: 2222222222: from=<a@spam.test>, size=500, nrcpt=1 (queue active)",
    "Nov 22 21:11:01 mail postfix/smtpd[21]: 3333333333: client=localhost[127.0.0.1]",
    "Nov 22 21:11:01 mail postfix/qmgr[12]: 3333333333: from=<a@spam.test>, size=900, nrcpt=1 (queue active)",
    "Nov 22 21:11:01 mail postfix/smtp[22]: 2222222222: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 3333333333)",
    "Nov 22 21:11:01 mail postfix/qmgr[12]: 2222222222: removed",
    "Nov 22 21:11:02 mail postfix/lmtp[13]: 3333333333: to=<bob@example.com>, relay=mail[private/dovecot-lmtp], delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 ok)",
    "Nov 22 21:11:02 mail postfix/qmgr[12]: 3333333333: removed",
    "Nov 22 21:12:00 mail dovecot: imap-login: Login: user=<alice@example.com>, method=PLAIN, rip=192.0.2.5, lip=192.0.2.1, mpid=1, TLS, session=<abc>",
};
#define NLINES (sizeof msg_lines / sizeof msg_lines[0])

/* Run the lines through the consumer, cutting a chunk after every line whose bit is set. */
static struct summary *run_cut(unsigned long cuts, bool smtpd)
{
    struct summary_opts o;
    summary_opts_init(&o);
    o.smtpd_stats = smtpd;
    struct summary *s = summary_new(&o);
    struct scan_consumer c = summary_consumer(s);
    struct syslog_ctx ctx = { .ref = 1795000000 };   /* 2026-11-18 */
    ctx.ref = 1795900000;                            /* 2026-11-28: year 2026 */
    void *st = c.chunk_new(c.global);
    for (size_t i = 0; i < NLINES; i++) {
        struct event ev;
        parse_line(&ctx, NULL, str_c(msg_lines[i]), &ev);
        c.feed(st, &ev, str_c(msg_lines[i]));
        if (cuts & (1ul << i)) {
            c.merge(c.global, st);
            st = c.chunk_new(c.global);
        }
    }
    c.merge(c.global, st);
    summary_finish(s, NULL);
    return s;
}

static void t_consumer_counts(void)
{
    struct summary *s = run_cut(0, true);
    const struct sm_stats *g = &s->g;
    CHECK_INT(g->rcvd, 2);            /* 3333333333 is the re-injected copy */
    CHECK_INT(g->reinjected, 1);
    CHECK_INT(g->filter_hops, 1);
    CHECK_INT(g->dlvrd, 2);           /* alice once, bob once (not the hop to amavis) */
    CHECK_INT(g->dfrd, 1);
    CHECK_INT(g->dfrd_cnt, 2);
    CHECK_INT(g->expired, 1);
    CHECK_INT(g->size_rcvd, 1500);
    CHECK_INT(g->size_dlvrd, 1900);   /* pflogsumm's rule: the size of the delivering qid */
    CHECK_INT(hmap_count(&g->sendg_user), 2);
    struct sm_ucnt *u = hmap_get(&g->sendg_user, str_c("News@partner.test"));
    CHECK(u != NULL);
    if (u) CHECK_INT(u->cnt, 1);
    struct sm_rdom *d = hmap_get(&g->recip_dom, str_c("example.com"));
    CHECK(d != NULL);
    if (d) CHECK_INT(d->cnt, 2);
    CHECK_INT(g->dv_logins, 1);
    CHECK_INT(g->smtpd_conn, 1);
    CHECK_INT(g->hour[21][COL_RCVD], 2);
    CHECK_INT(s->ndays, 1);
    summary_free(s);
}

/* every way of cutting gives the same text report */
static void t_consumer_chunking(void)
{
    char *ref = NULL, *got = NULL;
    size_t rl = 0, gl = 0;
    struct summary *s = run_cut(0, true);
    FILE *f = open_memstream(&ref, &rl);
    summary_print_text(s, f);
    summary_print_json(s, f);
    fclose(f);
    summary_free(s);
    unsigned long patterns[] = { ~0ul, 0x5555ul, 0xaaaaul, 1ul << 1, 1ul << 3, (1ul << 13) | (1ul << 14),
                                 (1ul << 12) | (1ul << 15), 0x0f0ful, 0x1248ul };
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        s = run_cut(patterns[p], true);
        f = open_memstream(&got, &gl);
        summary_print_text(s, f);
        summary_print_json(s, f);
        fclose(f);
        summary_free(s);
        if (gl != rl || memcmp(ref, got, rl) != 0) {
            char m[64];
            snprintf(m, sizeof m, "cut pattern %#lx differs", patterns[p]);
            check_report(__FILE__, __LINE__, m);
        }
        free(got);
        got = NULL;
    }
    free(ref);
}

/* ---- sm_rows / sm_nest_init order against a plain reference comparator ---- */

struct refrow { struct str key; int64_t n, size; char norm[300]; size_t nlen; };

static int ref_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    return al < bl ? -1 : al > bl;
}

static enum sm_sort ref_how;
static int ref_cmp(const void *pa, const void *pb)
{
    const struct refrow *a = pa, *b = pb;
    int c;
    if (ref_how == SORT_CNT_HOST || ref_how == SORT_CNT_SIZE)
        if (a->n != b->n) return a->n > b->n ? -1 : 1;
    if (ref_how == SORT_CNT_SIZE || ref_how == SORT_SIZE_HOST)
        if (a->size != b->size) return a->size > b->size ? -1 : 1;
    if (ref_how == SORT_CNT_HOST || ref_how == SORT_SIZE_HOST)
        if ((c = ref_bytes(a->norm, a->nlen, b->norm, b->nlen))) return c;
    return ref_bytes(a->key.p, a->key.len, b->key.p, b->key.len);
}

static void t_rows_order(void)
{
    /* keys that share 8-byte prefixes, are shorter than 8 bytes, hold NUL and high bytes,
     * dotted quads and domains (normalize_host), with counts and sizes that tie often */
    static const char *const stems[] = { "cleanup", "cleanup\x1f", "198.51.100.", "mail.example.", "a", "",
                                          "ab\0", "\xff\xfe", "user@Example.COM.", "10.0.0" };
    enum { N = 3000 };
    struct hmap m;
    hmap_init(&m, sizeof(struct sm_ucnt));
    static struct refrow ref[N];
    size_t nref = 0;
    unsigned seed = 12345;
    for (int i = 0; nref < N && i < 10 * N; i++) {
        char k[64];
        seed = seed * 1103515245u + 12345u;
        const char *st = stems[(seed >> 16) % 10];
        size_t sl = strlen(st) + (st[0] == 'a' && st[1] == 'b' ? 1 : 0);   /* "ab\0" keeps its NUL */
        memcpy(k, st, sl);
        int tail = (int)((seed >> 8) % 300);
        int tl = snprintf(k + sl, sizeof k - sl, "%d", tail);
        struct str key = { k, sl + (size_t)tl };
        bool isnew;
        struct sm_ucnt *u = hmap_put(&m, key, &isnew);
        if (!isnew) continue;
        u->cnt = (int64_t)((seed >> 4) % 4);
        u->size = (int64_t)((seed >> 12) % 3) * 100;
        ref[nref].n = u->cnt;
        ref[nref].size = u->size;
        nref++;
    }
    /* the reference rows point at the map's own keys */
    size_t it = 0, r = 0;
    struct str k;
    void *v;
    while (hmap_next(&m, &it, &k, &v)) {
        const struct sm_ucnt *u = v;
        ref[r].key = k;
        ref[r].n = u->cnt;
        ref[r].size = u->size;
        ref[r].nlen = pfs_normalize_host(k, ref[r].norm, sizeof ref[r].norm);
        r++;
    }
    CHECK_INT(r, nref);
    enum sm_sort hows[] = { SORT_CNT_HOST, SORT_CNT_SIZE, SORT_SIZE_HOST, SORT_KEY };
    for (size_t h = 0; h < 4; h++) {
        ref_how = hows[h];
        qsort(ref, nref, sizeof ref[0], ref_cmp);
        size_t n;
        struct sm_row *rows = sm_rows(&m, hows[h], &n);
        CHECK_INT(n, nref);
        int bad = 0;
        for (size_t i = 0; i < n && i < nref; i++)
            bad += rows[i].key.len != ref[i].key.len || memcmp(rows[i].key.p, ref[i].key.p, ref[i].key.len) != 0;
        CHECK_INT(bad, 0);
        free(rows);
    }
    /* the nested-table index: keys in byte order */
    struct hmap t;
    hmap_init(&t, sizeof(int64_t));
    for (size_t i = 0; i < nref; i++) *(int64_t *)hmap_put(&t, ref[i].key, NULL) = (int64_t)i;
    struct sm_nest x;
    sm_nest_init(&x, &t);
    CHECK_INT(x.n, nref);
    int bad = 0;
    for (size_t i = 1; i < x.n; i++) bad += ref_bytes(x.e[i - 1].k.p, x.e[i - 1].k.len, x.e[i].k.p, x.e[i].k.len) >= 0;
    CHECK_INT(bad, 0);
    sm_nest_free(&x);
    hmap_free(&t);
    hmap_free(&m);
}

/* sm_children: inner levels add up the counts below each child (sorted by key); a leaf
 * level is sorted by count, then pflogsumm's host order (dotted quads as numbers) */
static void t_children(void)
{
    struct hmap t;
    hmap_init(&t, sizeof(int64_t));
    struct { const char *k; int64_t v; } in[] = {
        { "x\x1f" "10.0.0.1", 3 }, { "x\x1f" "1.2.3.4", 3 }, { "x\x1fhost", 5 },
        { "y", 1 }, { "y\x1fz", 2 }, { "\x1f\x1f", 4 },
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) *(int64_t *)hmap_put(&t, str_c(in[i].k), NULL) = in[i].v;
    struct sm_nest x;
    sm_nest_init(&x, &t);
    size_t n;
    bool leaf;
    struct sm_row *r = sm_children(&x, STR_NULL, &n, &leaf);
    CHECK(!leaf);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_SLICE(r[0].key, "");
        CHECK_INT(r[0].n, 4);
        CHECK_SLICE(r[1].key, "x");
        CHECK_INT(r[1].n, 11);
        CHECK_SLICE(r[2].key, "y");
        CHECK_INT(r[2].n, 3);
    }
    free(r);
    r = sm_children(&x, str_c("x\x1f"), &n, &leaf);
    CHECK(leaf);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_SLICE(r[0].key, "host");
        CHECK_SLICE(r[1].key, "1.2.3.4");
        CHECK_SLICE(r[2].key, "10.0.0.1");
        CHECK_INT(r[2].n, 3);
    }
    free(r);
    r = sm_children(&x, str_c("y\x1f"), &n, &leaf);
    CHECK(leaf && n == 1 && r[0].n == 2);
    free(r);
    r = sm_children(&x, str_c("\x1f"), &n, &leaf);
    CHECK(!leaf && n == 1 && r[0].key.len == 0 && r[0].n == 4);
    free(r);
    r = sm_children(&x, str_c("nothing\x1f"), &n, &leaf);
    CHECK_INT(n, 0);
    free(r);
    sm_nest_free(&x);
    hmap_free(&t);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    RUN(t_gimme_domain);
    RUN(t_said_trim);
    RUN(t_reject_reasons);
    RUN(t_normalize_host);
    RUN(t_consumer_counts);
    RUN(t_consumer_chunking);
    RUN(t_rows_order);
    RUN(t_children);
    return check_done();
}
