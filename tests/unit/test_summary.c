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

int main(void)
{
    setenv("TZ", "UTC", 1);
    RUN(t_gimme_domain);
    RUN(t_said_trim);
    RUN(t_reject_reasons);
    RUN(t_normalize_host);
    RUN(t_consumer_counts);
    RUN(t_consumer_chunking);
    return check_done();
}
