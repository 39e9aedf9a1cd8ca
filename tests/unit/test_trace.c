/* Unit tests for trace (report/trace.h): the small parsers (what to search, delivery replies,
 * DSN, delays, the substring finder) and the search engine on generated logs: windows that
 * must grow backwards and forwards, sessions far from their client= line, lines longer than
 * the read block, queue-ID reuse, hold/release, postsuper, forged IDs. */
#include "check.h"
#include "report/trace.h"
#include "parse/scan.h"
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

static enum trace_what W(const char *s)
{
    struct str n;
    char err[128];
    return trace_classify(str_c(s), &n, err, sizeof err);
}

static void t_classify(void)
{
    CHECK_INT(W("5876D1045C9"), TW_QID);
    CHECK_INT(W("4jXhgS3WcNz81xv"), TW_QID);
    CHECK_INT(W("<179538197353.28914.3314716402558538163@partner.test>"), TW_MSGID);
    CHECK_INT(W("alice@example.com"), TW_ADDR);
    CHECK_INT(W("@example.com"), TW_ADDR);
    CHECK_INT(W("weird.+*?[x]^$|(y)@example.org"), TW_ADDR);
    CHECK_INT(W(""), TW_INVALID);
    CHECK_INT(W("hello"), TW_INVALID);
    CHECK_INT(W("<abc"), TW_INVALID);
    CHECK_INT(W("<a>b>"), TW_INVALID);
    CHECK_INT(W("<alice@example.com"), TW_INVALID);
    CHECK_INT(W("alice@exa\nmple.com"), TW_INVALID);
    CHECK_INT(W("@"), TW_INVALID);
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    big[10] = '@';
    CHECK_INT(W(big), TW_INVALID);
}

static void t_reply(void)
{
    struct str id;
    CHECK(trace_reply_queued_as(str_c("250 2.0.0 Ok: queued as 4jXhgS3WcNz81xv"), &id));
    CHECK_SLICE(id, "4jXhgS3WcNz81xv");
    /* amavis: its own reply quotes the re-injection's; the last one is ours */
    CHECK(trace_reply_queued_as(str_c("250 2.0.0 from MTA(smtp:[127.0.0.1]:10026): 250 2.0.0 Ok: queued as 6F7E8D9C0B"), &id));
    CHECK_SLICE(id, "6F7E8D9C0B");
    CHECK(!trace_reply_queued_as(str_c("250 2.0.0 Ok"), &id));
    CHECK(!trace_reply_queued_as(str_c("250 queued as "), &id));
    CHECK(!trace_reply_queued_as(str_c("250 queued as ab$cd"), &id));
    CHECK(trace_reply_forwarded_as(str_c("forwarded as B06201045DC"), &id));
    CHECK_SLICE(id, "B06201045DC");
    CHECK(!trace_reply_forwarded_as(str_c("250 Ok forwarded as X"), &id));
    CHECK_SLICE(trace_remote_id(str_c("250 OK id=1vABCd-000Xyz-7Q")), "1vABCd-000Xyz-7Q");
    CHECK_SLICE(trace_remote_id(str_c("250 2.0.0 5AMLx1Q4012345 Message accepted for delivery")), "5AMLx1Q4012345");
    CHECK_SLICE(trace_remote_id(str_c("250 2.0.0 OK  1700000000 a1b2c3si123456qkd.123 - gsmtp")), "a1b2c3si123456qkd.123");
    CHECK_SLICE(trace_remote_id(str_c("250 2.6.0 <x@y> [InternalId=123456789, Hostname=EX1] Queued mail for delivery")), "123456789");
    CHECK_INT(trace_remote_id(str_c("250 2.0.0 Ok")).len, 0);
    struct str who, stage;
    struct str core = trace_reply_core(str_c("host 127.0.0.3[127.0.0.3] said: 451 4.7.1 Try later (in reply to RCPT TO command)"), &who, &stage);
    CHECK_SLICE(core, "451 4.7.1 Try later");
    CHECK_SLICE(who, "127.0.0.3[127.0.0.3]");
    CHECK_SLICE(stage, "RCPT TO");
    core = trace_reply_core(str_c("connect to 127.0.0.5[127.0.0.5]:2525: Connection refused"), &who, &stage);
    CHECK_SLICE(core, "connect to 127.0.0.5[127.0.0.5]:2525: Connection refused");
    CHECK_INT(who.len, 0);
}

static void t_dsn_delays(void)
{
    char b[160];
    CHECK_STR(trace_dsn_class(str_c("2.0.0")), "success");
    CHECK_STR(trace_dsn_class(str_c("4.4.1")), "temporary");
    CHECK_STR(trace_dsn_class(str_c("5.1.1")), "permanent");
    CHECK(trace_dsn_class(str_c("3.1.1")) == NULL);
    CHECK(trace_dsn_class(str_c("5.1")) == NULL);
    CHECK(trace_dsn_class(str_c("5.1.1x")) == NULL);
    CHECK(trace_dsn_class(str_c("5.1234.1")) == NULL);
    trace_dsn_meaning(str_c("5.2.2"), b, sizeof b);
    CHECK_STR(b, "mailbox full (over quota)");
    trace_dsn_meaning(str_c("4.4.9"), b, sizeof b);
    CHECK_STR(b, "network or routing status");
    trace_dsn_meaning(str_c("4.7.1"), b, 8);
    CHECK_INT(strlen(b), 7);
    double d[4];
    CHECK(trace_delays_parse(str_c("99/0.43/0.29/0.02"), d));
    CHECK(d[0] == 99 && d[1] == 0.43 && d[2] == 0.29 && d[3] == 0.02);
    CHECK(!trace_delays_parse(str_c("1/2/3"), d));
    CHECK(!trace_delays_parse(str_c("1/2/3/4/5"), d));
    CHECK(!trace_delays_parse(str_c("1/2/3/-4"), d));
    CHECK(!trace_delays_parse(str_c("1/2/3/4.5.6"), d));
    CHECK(!trace_delays_parse(str_c(""), d));
}

static void t_finder(void)
{
    srand(7);
    const char *al = "AB: Cz<@>\n";
    char hay[512], nd[8];
    int bad = 0;
    for (int it = 0; it < 100000; it++) {
        size_t n = (size_t)(rand() % 300), nl = 1 + (size_t)(rand() % 7);
        for (size_t i = 0; i < n; i++) hay[i] = al[rand() % 10];
        for (size_t i = 0; i < nl; i++) nd[i] = al[rand() % 10];
        struct finder f;
        finder_init(&f, str_make(nd, nl));
        if (finder_find(&f, hay, n) != memmem(hay, n, nd, nl)) bad++;
    }
    CHECK_INT(bad, 0);
}

/* ---- the engine on generated logs ---- */

static char *write_log(const char *text)
{
    char *path = strdup("/tmp/mw-test-trace.XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Run a trace on the file and return its output (JSON or text); caller frees. */
static char *run(const char *path, const char *what, bool json, bool verbose, unsigned *passes)
{
    struct trace_opts o = { .what = what, .json = json, .verbose = verbose,
                            .since = INT64_MIN, .until = INT64_MAX };
    char err[128];
    struct trace *t = trace_new(&o, err, sizeof err);
    if (!t) return strdup(err);
    char *paths[1] = { (char *)path };
    struct scan_opts so = { .paths = paths, .npaths = 1, .since = INT64_MIN, .until = INT64_MAX,
                            .ref = 1795500000, .threads = 2 };
    trace_run(t, &so);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (json) trace_print_json(t, f);
    else trace_print_text(t, f);
    fclose(f);
    if (passes) trace_stats(t, passes, NULL);
    trace_free(t);
    return buf;
}

static void filler(FILE *f, size_t bytes, const char *stamp)
{
    for (size_t n = 0; n < bytes;) {
        int k = fprintf(f, "%s mx dovecot: imap(alice@example.com)<123><abc>: Disconnected: Logged out in=10 out=%zu\n", stamp, n);
        n += (size_t)k;
    }
}

static char *big_log(void)
{
    char *path = strdup("/tmp/mw-test-trace.XXXXXX");
    FILE *f = fdopen(mkstemp(path), "w");
    fputs("Nov 23 10:00:00 mx postfix/smtpd[500]: connect from far.test[192.0.2.9]\n", f);
    filler(f, 900 << 10, "Nov 23 10:00:01");           /* session start far before client= */
    fputs("Nov 23 10:00:02 mx postfix/smtpd[500]: 1234ABCDE1: client=far.test[192.0.2.9]\n", f);
    filler(f, 700 << 10, "Nov 23 10:00:03");           /* client= far before the first hit */
    fputs("Nov 23 10:00:04 mx postfix/cleanup[501]: 1234ABCDE1: message-id=<big@far.test>\n", f);
    fputs("Nov 23 10:00:04 mx postfix/qmgr[502]: 1234ABCDE1: from=<sender@far.test>, size=10, nrcpt=1 (queue active)\n", f);
    fputs("Nov 23 10:00:05 mx postfix/smtp[503]: 1234ABCDE1: to=<rcpt@example.org>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to x[192.0.2.1]:25: Connection refused)\n", f);
    fputs("Nov 23 10:00:05 mx postfix/smtpd[500]: disconnect from far.test[192.0.2.9] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5\n", f);
    /* a line longer than the read block, with the ID inside (not in its slot) */
    fputs("Nov 23 10:00:06 mx postfix/cleanup[501]: 5555ABCDE5: warning: header Subject: ", f);
    for (int i = 0; i < 40000; i++) fputs("1234ABCDE1 ", f);
    fputs("\n", f);
    filler(f, 2 << 20, "Nov 23 11:00:00");             /* the end far after the last hit */
    fputs("Nov 23 12:00:00 mx postfix/smtp[503]: 1234ABCDE1: to=<rcpt@example.org>, relay=x[192.0.2.1]:25, delay=7200, delays=7199/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as ZQ1)\n", f);
    filler(f, 2 << 20, "Nov 23 12:00:01");
    fputs("Nov 23 13:00:00 mx postfix/qmgr[502]: 1234ABCDE1: removed\n", f);
    fclose(f);
    return path;
}

static void t_engine_windows(void)
{
    char *path = big_log();
    unsigned passes = 0;
    char *out = run(path, "rcpt@example.org", true, true, &passes);
    CHECK(strstr(out, "\"queue_id\":\"1234ABCDE1\"") != NULL);
    CHECK(strstr(out, "\"state\":\"delivered\"") != NULL);
    CHECK(strstr(out, "\"attempts\":2") != NULL);
    CHECK(strstr(out, "\"finished\":true") != NULL);            /* forward extension */
    CHECK(strstr(out, "1234ABCDE1: client=far.test") != NULL);  /* backward extension */
    CHECK(strstr(out, "connect from far.test") != NULL);        /* wider session window */
    CHECK(strstr(out, "disconnect from far.test") != NULL);
    CHECK(strstr(out, "\"remote_queue_id\":\"ZQ1\"") != NULL);
    CHECK(strstr(out, "5555ABCDE5") == NULL);                   /* the ID in a Subject */
    CHECK(passes >= 4);
    free(out);
    out = run(path, "1234ABCDE1", false, false, NULL);
    CHECK(strstr(out, "== 1234ABCDE1 on mx: 1 delivered") != NULL);
    CHECK(strstr(out, "lines (8)") != NULL);
    CHECK(strstr(out, "5555ABCDE5") == NULL);
    free(out);
    unlink(path);
    free(path);
}

static void t_engine_states(void)
{
    char *path = write_log(
        "Nov 23 10:00:00 mx postfix/pickup[1]: 0A0A0A0A0A: uid=0 from=<root>\n"
        "Nov 23 10:00:00 mx postfix/cleanup[2]: 0A0A0A0A0A: message-id=<one@mx>\n"
        "Nov 23 10:00:00 mx postfix/qmgr[3]: 0A0A0A0A0A: from=<root@mx>, size=5, nrcpt=1 (queue active)\n"
        "Nov 23 10:00:01 mx postfix/smtp[4]: 0A0A0A0A0A: to=<a@far.test>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to far.test[192.0.2.1]:25: Connection refused)\n"
        "Nov 23 10:00:02 mx postfix/postsuper[5]: 0A0A0A0A0A: placed on hold\n"
        "Nov 23 10:00:03 mx postfix/postsuper[5]: 0A0A0A0A0A: released from hold\n"
        "Nov 23 10:00:04 mx postfix/qmgr[3]: 0A0A0A0A0A: from=<root@mx>, size=5, nrcpt=1 (queue active)\n"
        "Nov 23 10:00:05 mx postfix/smtp[4]: 0A0A0A0A0A: to=<a@far.test>, relay=none, delay=5, delays=5/0/0/0, dsn=4.4.1, status=deferred (connect to far.test[192.0.2.1]:25: Connection refused)\n"
        "Nov 23 10:00:06 mx postfix/postsuper[5]: 0A0A0A0A0A: placed on hold\n"
        "Nov 23 11:00:00 mx postfix/pickup[1]: 0A0A0A0A0A: uid=0 from=<root>\n"
        "Nov 23 11:00:00 mx postfix/qmgr[3]: 0A0A0A0A0A: from=<root@mx>, size=6, nrcpt=1 (queue active)\n"
        "Nov 23 11:00:01 mx postfix/local[6]: 0A0A0A0A0A: to=<root@mx>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)\n"
        "Nov 23 11:00:01 mx postfix/qmgr[3]: 0A0A0A0A0A: removed\n"
        "Nov 23 11:00:02 mx postfix/bounce[7]: 0A0A0A0A0A: sender non-delivery notification: 0B0B0B0B0B\n");
    char *out = run(path, "0A0A0A0A0A", true, false, NULL);
    /* two messages: the second pickup starts a new one although the first never ended */
    const char *second = strstr(out, "\n{");
    CHECK(second != NULL);
    CHECK(strstr(out, "\"state\":\"held\"") != NULL && strstr(out, "\"state\":\"held\"") < second);
    CHECK(strstr(out, "\"attempts\":2") != NULL);
    CHECK(second && strstr(second, "\"state\":\"delivered\"") != NULL);
    CHECK(second && strstr(second, "\"origin\":\"pickup\"") != NULL);
    /* the bounce line after "removed" is not the removed message's: it starts a third one */
    CHECK(second && strstr(second + 1, "\n{") != NULL);
    free(out);
    unlink(path);
    free(path);
}

static void t_engine_expired_deleted(void)
{
    char *path = write_log(
        "Nov 23 10:00:00 mx postfix/qmgr[3]: 1C1C1C1C1C: from=<s@mx>, size=5, nrcpt=2 (queue active)\n"
        "Nov 23 10:00:01 mx postfix/smtp[4]: 1C1C1C1C1C: to=<a@far.test>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (x)\n"
        "Nov 23 10:00:01 mx postfix/smtp[4]: 1C1C1C1C1C: to=<b@far.test>, relay=far.test[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)\n"
        "Nov 23 15:00:00 mx postfix/qmgr[3]: 1C1C1C1C1C: from=<s@mx>, status=expired, returned to sender\n"
        "Nov 23 15:00:00 mx postfix/bounce[7]: 1C1C1C1C1C: sender non-delivery notification: 2D2D2D2D2D\n"
        "Nov 23 15:00:00 mx postfix/qmgr[3]: 1C1C1C1C1C: removed\n"
        "Nov 23 15:00:00 mx postfix/cleanup[2]: 2D2D2D2D2D: message-id=<ndn@mx>\n"
        "Nov 23 15:00:00 mx postfix/qmgr[3]: 2D2D2D2D2D: from=<>, size=50, nrcpt=1 (queue active)\n"
        "Nov 23 15:00:01 mx postfix/postsuper[5]: 2D2D2D2D2D: removed\n");
    char *out = run(path, "1C1C1C1C1C", true, false, NULL);
    CHECK(strstr(out, "{\"to\":\"a@far.test\",\"orig_to\":null,\"state\":\"expired\"") != NULL);
    CHECK(strstr(out, "{\"to\":\"b@far.test\",\"orig_to\":null,\"state\":\"delivered\"") != NULL);
    CHECK(strstr(out, "\"state\":\"mixed\"") != NULL);
    CHECK(strstr(out, "\"queue_id\":\"2D2D2D2D2D\",\"host\":\"mx\"") != NULL);
    CHECK(strstr(out, "\"via\":\"non-delivery notification\",\"found\":true") != NULL);
    /* the notification had no delivery line and was deleted: the message state says so */
    CHECK(strstr(out, "\"queue_id\":\"2D2D2D2D2D\",\"host\":\"mx\",\"first\":\"2026-11-23T15:00:00+00:00\",\"last\":\"2026-11-23T15:00:01+00:00\",\"state\":\"deleted\"") != NULL);
    free(out);
    out = run(path, "s@mx", false, false, NULL);
    CHECK(strstr(out, "1C1C1C1C1C  <s@mx> -> <a@far.test>: expired 4.4.1, <b@far.test>: delivered") != NULL);
    free(out);
    unlink(path);
    free(path);
}

static void t_engine_hostile_hop(void)
{
    /* a remote reply names a local ID created long before: no hop; the message-id differs */
    char *path = write_log(
        "Nov 23 08:00:00 mx postfix/pickup[1]: 3E3E3E3E3E: uid=0 from=<v>\n"
        "Nov 23 08:00:00 mx postfix/cleanup[2]: 3E3E3E3E3E: message-id=<victim@mx>\n"
        "Nov 23 10:00:00 mx postfix/pickup[1]: 4F4F4F4F4F: uid=0 from=<m>\n"
        "Nov 23 10:00:00 mx postfix/cleanup[2]: 4F4F4F4F4F: message-id=<m@mx>\n"
        "Nov 23 10:00:00 mx postfix/cleanup[2]: 5A5A5A5A5A: message-id=<other@mx>\n"
        "Nov 23 10:00:01 mx postfix/smtp[4]: 4F4F4F4F4F: to=<x@evil.test>, relay=evil.test[192.0.2.66]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 queued as 3E3E3E3E3E)\n"
        "Nov 23 10:00:01 mx postfix/smtp[4]: 4F4F4F4F4F: to=<y@evil.test>, relay=evil.test[192.0.2.66]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 queued as 5A5A5A5A5A)\n"
        "Nov 23 10:00:02 mx postfix/qmgr[3]: 4F4F4F4F4F: removed\n");
    char *out = run(path, "4F4F4F4F4F", true, false, NULL);
    CHECK(strstr(out, "\"found\":true") == NULL);
    CHECK(strstr(out, "\"remote_queue_id\":\"3E3E3E3E3E\"") != NULL);
    CHECK(strstr(out, "\n{") == NULL);                             /* one document */
    free(out);
    unlink(path);
    free(path);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    RUN(t_classify);
    RUN(t_reply);
    RUN(t_dsn_delays);
    RUN(t_finder);
    RUN(t_engine_windows);
    RUN(t_engine_states);
    RUN(t_engine_expired_deleted);
    RUN(t_engine_hostile_hop);
    return check_done();
}
