/* test_queue - report/queue: reason normalisation, both parsers on the corpus captures
 * (tests/data/queue, see /work/shared/corpus/README.md), grouping, reports, hostile input. */
#include "check.h"
#include "report/queue.h"
#include "util/buf.h"
#include "util/msg.h"
#include "util/timeparse.h"
#include <jansson.h>
#include <time.h>

#define DATA "tests/data/queue/"
/* Capture times of the main run (README: 21:14:34, 21:17:00, 21:20:30 UTC). */
#define T_PHASE1 1795382074
#define T_PHASE2 1795382220
#define T_FINAL 1795382430

static const char *norm(const char *in)
{
    static char out[QUEUE_REASON_MAX];
    queue_normalise_reason(str_c(in), out, sizeof out);
    return out;
}

/* Feed a whole file line by line; returns the number of lines (-1 if unreadable). */
static long feed_file(struct queue *q, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n && line[n - 1] == '\n') n--;
        queue_feed(q, str_make(line, (size_t)n), (unsigned long)++lineno);
    }
    free(line);
    fclose(f);
    return lineno;
}

static void feed_text(struct queue *q, const char *text)
{
    struct str s = str_c(text);
    unsigned long lineno = 0;
    while (s.len) {
        ptrdiff_t nl = str_chr(s, '\n');
        size_t n = nl < 0 ? s.len : (size_t)nl;
        queue_feed(q, str_make(s.p, n), ++lineno);
        s = str_from(s, nl < 0 ? s.len : n + 1);
    }
}

static void load(struct queue *q, const char *path, int64_t now)
{
    queue_init(q, path, now);
    CHECK(feed_file(q, path) > 0);
    queue_finish(q);
}

static const struct queue_group *grp(const struct hmap *m, const char *key)
{
    return queue_group_get(m, key);
}

static bool group_has(const struct queue *q, const struct queue_group *g, const char *id, bool del)
{
    if (!g) return false;
    uint32_t n = del ? g->ndel : g->nids;
    const uint32_t *v = del ? g->del : g->ids;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(q->msgs[v[i]]->id, id) == 0) return true;
    return false;
}

static char *report(const struct queue *q, bool json, unsigned top)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    if (json) queue_report_json(q, f, top);
    else queue_report_text(q, f, top);
    fclose(f);
    return p;
}

/* in a variable so that the check message stays short */
#define NORM_IS(in, want) do { const char *got_ = norm(in); CHECK_STR(got_, want); } while (0)

#define REFUSED "connect to *[*]:*: Connection refused"
#define DEFER451 "host *[*] said: 451 4.7.1 Service temporarily unavailable, try again later (in reply to RCPT TO command)"
#define FLAKY421 "host *[*] said: 421 4.4.2 Too many connections from your host, try later (in reply to RCPT TO command)"

/* ---- normalisation ---- */

static void t_norm_corpus_reasons(void)
{
    NORM_IS(("connect to 127.0.0.5[127.0.0.5]:2525: Connection refused"), REFUSED);
    NORM_IS(("connect to 10.1.2.3[10.1.2.3]:25: Connection refused"), REFUSED);
    NORM_IS(("connect to mx.example.net[2001:db8::25]:25: Connection refused"), REFUSED);
    NORM_IS(("host 127.0.0.3[127.0.0.3] said: 451 4.7.1 Service temporarily unavailable, "
                   "try again later (in reply to RCPT TO command)"), DEFER451);
    NORM_IS(("host mx1.other.example[192.0.2.7] said: 451 4.7.1 Service temporarily "
                   "unavailable, try again later (in reply to RCPT TO command)"), DEFER451);
}

static void t_norm_keeps_codes(void)
{
    /* DSN and SMTP codes carry meaning: a 4.7.1 and a 4.4.2 must not merge */
    NORM_IS(("host a[1.2.3.4] said: 550 5.1.1 <bob@x.test>: Recipient address rejected: User unknown"),
              "host *[*] said: 550 5.1.1 <*>: Recipient address rejected: User unknown");
    NORM_IS(("host gmail-smtp-in.l.google.com[142.250.1.26] said: 450-4.2.1 The user is "
                   "receiving mail too quickly. https://support.google.com/mail/?p=ReceivingRate "
                   "e9si123456qkf.101 - gsmtp (in reply to end of DATA command)"),
              "host *[*] said: 450-4.2.1 The user is receiving mail too quickly. "
              "https://support.google.com/mail/?p=ReceivingRate *.* - gsmtp (in reply to end of DATA command)");
    NORM_IS(("host mx.example.com said: 554 Transaction failed"), "host * said: 554 Transaction failed");
    NORM_IS(("delivery temporarily suspended: host b[10.0.0.1] refused to talk to me: 421 Busy"),
              "delivery temporarily suspended: host *[*] refused to talk to me: 421 Busy");
    NORM_IS(("host x[1.1.1.1] said: 451 4.7.1 Greylisted for 300 seconds (see [TSS04])"),
              "host *[*] said: 451 4.7.1 Greylisted for * seconds (see [TSS04])");
}

static void t_norm_other_rules(void)
{
    NORM_IS(("Host or domain name not found. Name service error for name=foo.example type=MX: "
                   "Host not found, try again"),
              "Host or domain name not found. Name service error for name=* type=MX: Host not found, try again");
    NORM_IS(("lost connection with mx[IPv6:2001:db8::1] while sending RCPT TO"),
              "lost connection with *[*] while sending RCPT TO");
    NORM_IS(("conversation with dyn-127-0-0-33.pool.spammy.test[127.0.0.33] timed out"),
              "conversation with *[*] timed out");
    NORM_IS(("connect to mail.example.test[private/dovecot-lmtp]: No such file or directory"),
              "connect to mail.example.test[private/dovecot-lmtp]: No such file or directory");
    NORM_IS(("server 198.51.100.7 said: queued as 4jXhgw1gCcz821p."), "server * said: queued as *.");
    NORM_IS(("Network is unreachable"), "Network is unreachable");
    NORM_IS(("connect to 192.0.2.1:25: timed out; from 192.0.2.9."), "connect to *:*: timed out; from *.");
    NORM_IS(("dead:beef is not deadbeef, fe80::1%eth0 is"), "dead:beef is not deadbeef, *%eth0 is");
    NORM_IS(("version 1.2.3 and 1.2.3.4.5"), "version *.*.* and *.*.*.*.*");
    NORM_IS(("  tabs\tand \r\n  spaces  "), "tabs and spaces");
    NORM_IS(("bell\x07" "esc\x1b[31m"), "bell?esc?[31m");
    NORM_IS((""), "");
}

static void t_norm_bounded(void)
{
    char big[5000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char out[64];
    size_t n = queue_normalise_reason(str_c(big), out, sizeof out);
    CHECK(n < sizeof out);
    CHECK_INT(strlen(out), n);
    CHECK(n >= 3 && strcmp(out + n - 3, "...") == 0);
    /* a long run of digits/IPs stays a single star */
    NORM_IS(("1 2 3 4 5 10.0.0.1 ::1"), "* * * * * * *");
    NORM_IS(("x 12345678901234567890123456789"), "x *");
}

/* ---- postqueue -j on the corpus ---- */

static void t_json_phase1_counts(void)
{
    struct queue q;
    load(&q, DATA "postqueue-j-phase1.jsonl", T_PHASE1);
    CHECK_INT(q.format, QF_JSON);
    CHECK_INT(q.bad_lines, 0);
    CHECK_INT(q.total.messages, 12);
    CHECK_INT(q.nrcpts, 15);
    CHECK_INT(q.total.bytes, 100247);
    /* README: deferred to remote-defer/-down/-flaky, two header_checks HOLD messages */
    CHECK_INT(q.by_queue[QN_DEFERRED].messages, 10);
    CHECK_INT(q.by_queue[QN_HOLD].messages, 2);
    CHECK_INT(q.by_queue[QN_HOLD].bytes, 1240 + 1253);
    CHECK_INT(q.by_queue[QN_ACTIVE].messages, 0);

    const struct queue_group *g = grp(&q.by_domain, "remote-flaky.test");
    CHECK(g && g->messages == 5 && g->recipients == 7);
    g = grp(&q.by_domain, "remote-defer.test");
    CHECK(g && g->messages == 3 && g->recipients == 3);
    g = grp(&q.by_domain, "remote-down.test");
    CHECK(g && g->messages == 2 && g->recipients == 3 && g->bytes == 2266 + 3944);
    g = grp(&q.by_domain, "example.com");
    CHECK(g && g->messages == 2);
    CHECK_INT(hmap_count(&q.by_domain), 4);

    /* the connection-refused entries (README: 1140D1045AD, AA5D01045AC) are one group */
    g = grp(&q.by_reason, REFUSED);
    CHECK(g && g->messages == 2 && g->recipients == 3);
    CHECK(group_has(&q, g, "1140D1045AD", true) && group_has(&q, g, "AA5D01045AC", true));
    g = grp(&q.by_reason, DEFER451);
    CHECK(g && g->messages == 3 && group_has(&q, g, "BFF7F10456F", true));
    g = grp(&q.by_reason, FLAKY421);
    CHECK(g && g->messages == 5 && g->recipients == 7 && group_has(&q, g, "0F12A1045D2", true));
    g = grp(&q.by_reason, "(none: hold)");
    CHECK(g && g->messages == 2 && group_has(&q, g, "84D35104599", true));
    CHECK_INT(hmap_count(&q.by_reason), 4);

    g = grp(&q.by_sender, "carol@example.com");
    CHECK(g && g->messages == 4);
    g = grp(&q.by_sender, "news@partner.test");
    CHECK(g && g->messages == 2);
    CHECK_INT(q.by_age[0].messages, 12);   /* all arrived within 5 minutes of 21:14:34 */
    queue_free(&q);
}

static void t_json_final_ages(void)
{
    /* final capture: long IDs that arrived 21:15:30..21:15:56, report at 21:20:30 */
    struct queue q;
    load(&q, DATA "postqueue-j-final.jsonl", T_FINAL);
    CHECK_INT(q.total.messages, 7);
    CHECK_INT(q.by_queue[QN_HOLD].messages, 2);          /* incl. 4jXhgQ5Ft5z821W */
    CHECK_INT(q.by_age[0].messages, 5);                  /* < 300 s */
    CHECK_INT(q.by_age[1].messages, 2);                  /* the two held at 21:15:30: 300 s */
    const struct queue_group *g = grp(&q.by_domain, "remote-defer.test");
    CHECK(g && g->messages == 3 && group_has(&q, g, "4jXhgr4zzjz821f", true));
    g = grp(&q.by_reason, REFUSED);
    CHECK(g && group_has(&q, g, "4jXhgw1gCcz821p", true));
    queue_free(&q);
}

/* ---- mailq text ---- */

static void same_report(const char *json, const char *text, int64_t now)
{
    struct queue a, b;
    load(&a, json, now);
    load(&b, text, now);
    CHECK_INT(b.format, QF_MAILQ);
    CHECK_INT(a.bad_lines + b.bad_lines, 0);
    CHECK(!b.truncated);
    CHECK_INT(a.total.messages, b.total.messages);
    CHECK_INT(a.total.bytes, b.total.bytes);
    CHECK_INT(a.nrcpts, b.nrcpts);
    for (int i = 0; i < QN_COUNT; i++) CHECK_INT(a.by_queue[i].messages, b.by_queue[i].messages);
    for (int i = 0; i < QUEUE_NBUCKETS; i++) CHECK_INT(a.by_age[i].messages, b.by_age[i].messages);
    /* the whole JSON reports agree except for the input block */
    char *ja = report(&a, true, 100), *jb = report(&b, true, 100);
    json_t *da = json_loads(ja, 0, NULL), *db = json_loads(jb, 0, NULL);
    CHECK(da && db);
    if (da && db) {
        json_object_del(da, "input");
        json_object_del(db, "input");
        CHECK(json_equal(da, db));
    }
    json_decref(da);
    json_decref(db);
    free(ja);
    free(jb);
    /* arrival times from the year-less text equal the epoch stamps of postqueue -j */
    for (size_t i = 0; i < a.nmsgs && i < b.nmsgs; i++) {
        CHECK_STR(a.msgs[i]->id, b.msgs[i]->id);
        CHECK_INT(a.msgs[i]->arrival, b.msgs[i]->arrival);
        CHECK_STR(a.msgs[i]->sender, b.msgs[i]->sender);
    }
    queue_free(&a);
    queue_free(&b);
}

static void t_mailq_equals_json(void)
{
    same_report(DATA "postqueue-j-phase1.jsonl", DATA "mailq-phase1.txt", T_PHASE1);
    same_report(DATA "postqueue-j-phase2.jsonl", DATA "mailq-phase2.txt", T_PHASE2);
    same_report(DATA "postqueue-j-final.jsonl", DATA "mailq-final.txt", T_FINAL);
    same_report(DATA "postqueue-j-phase1.jsonl", DATA "postqueue-p-phase1.txt", T_PHASE1);
    same_report(DATA "postlog-postqueue-j-phase1.jsonl", DATA "postlog-mailq-phase1.txt", T_FINAL);
    same_report(DATA "postlog-postqueue-j-final.jsonl", DATA "postlog-mailq-final.txt", T_FINAL);
}

static void t_mailq_phase1_entries(void)
{
    struct queue q;
    load(&q, DATA "mailq-phase1.txt", T_PHASE1);
    CHECK_INT(q.nmsgs, 12);
    CHECK(q.saw_header && q.saw_trailer);
    CHECK_INT(q.trailer_count, 12);
    const struct queue_msg *m = q.msgs[9];           /* 1140D1045AD, two recipients */
    CHECK_STR(m->id, "1140D1045AD");
    CHECK_INT(m->queue, QN_DEFERRED);
    CHECK_INT(m->size, 3944);
    CHECK_INT(m->nrcpt, 2);
    CHECK_STR(m->rcpt[1].address, "ops6@remote-down.test");
    CHECK_STR(m->rcpt[1].reason, "connect to 127.0.0.5[127.0.0.5]:2525: Connection refused");
    CHECK_STR(m->rcpt[1].norm, REFUSED);
    m = q.msgs[10];
    CHECK_STR(m->id, "84D35104599");                 /* "84D35104599!" = hold */
    CHECK_INT(m->queue, QN_HOLD);
    CHECK(m->rcpt[0].reason == NULL);
    CHECK_STR(m->rcpt[0].norm, "(none: hold)");
    CHECK_INT(q.msgs[0]->arrival, 1795381998);       /* E5D40104582 Sun Nov 22 21:13:18 */
    queue_free(&q);
}

static void t_mailq_year_rule(void)
{
    /* arrival "Dec 31" seen on Jan 1 belongs to the previous year */
    int64_t now = mwtime_local(NULL, 2027, 1, 1, 0, 10, 0);
    struct queue q;
    queue_init(&q, "t", now);
    feed_text(&q, "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
                  "ABC123*#     500 Thu Dec 31 23:59:00  MAILER-DAEMON\n"
                  "(host x[192.0.2.1] said: 450 4.1.1 mailbox busy)\n"
                  "                                         x@y.test\n"
                  "                                                     (reason unavailable)\n"
                  "                                         z@y.test\n"
                  "\n"
                  "-- 1 Kbytes in 1 Request.\n");
    queue_finish(&q);
    CHECK_INT(q.nmsgs, 1);
    CHECK_INT(q.bad_lines, 0);
    if (q.nmsgs) {
        CHECK_INT(q.msgs[0]->arrival, mwtime_local(NULL, 2026, 12, 31, 23, 59, 0));
        CHECK_INT(q.msgs[0]->queue, QN_ACTIVE);      /* "ABC123*#": active, forced to expire */
        CHECK(q.msgs[0]->forced_expire);
        CHECK_STR(q.msgs[0]->sender, "MAILER-DAEMON");
        CHECK_INT(q.msgs[0]->nrcpt, 2);
        CHECK(q.msgs[0]->nrcpt == 2 && q.msgs[0]->rcpt[1].reason == NULL);
    }
    CHECK_INT(q.by_queue[QN_ACTIVE].messages, 1);
    CHECK(grp(&q.by_reason, "(none: active)") != NULL);
    CHECK(grp(&q.by_reason, "host *[*] said: 450 4.1.1 mailbox busy") != NULL);
    queue_free(&q);
}

static void t_mailq_empty(void)
{
    struct queue q;
    queue_init(&q, "t", T_PHASE1);
    unsigned long w = msg_warn_count();
    feed_text(&q, "Mail queue is empty\n");
    queue_finish(&q);
    CHECK_INT(q.format, QF_MAILQ);
    CHECK_INT(q.nmsgs, 0);
    CHECK(!q.truncated);
    CHECK_INT(msg_warn_count(), w);
    char *t = report(&q, false, 10);
    CHECK(strstr(t, "Total: 0 messages") != NULL);
    free(t);
    queue_free(&q);

    queue_init(&q, "t", T_PHASE1);                  /* empty input, e.g. postqueue -j on an empty queue */
    queue_finish(&q);
    CHECK_INT(q.format, QF_UNKNOWN);
    t = report(&q, true, 10);
    json_t *d = json_loads(t, 0, NULL);
    CHECK(d && json_integer_value(json_object_get(json_object_get(d, "total"), "messages")) == 0);
    CHECK(d && json_is_null(json_object_get(json_object_get(d, "input"), "format")));
    json_decref(d);
    free(t);
    queue_free(&q);
}

static void t_mailq_truncated(void)
{
    /* the phase-1 capture cut in the middle of an entry: what was read is kept, and flagged */
    FILE *f = fopen(DATA "mailq-phase1.txt", "r");
    CHECK(f != NULL);
    if (!f) return;
    char all[8192];
    size_t n = fread(all, 1, sizeof all - 1, f);
    fclose(f);
    all[n] = 0;
    char *cutp = strstr(all, "                                         it13@remote-flaky.test");
    CHECK(cutp != NULL);
    if (!cutp) return;
    cutp[20] = 0;                                    /* mid-recipient line of 614B11045D1 */
    struct queue q;
    queue_init(&q, "cut", T_PHASE1);
    unsigned long w = msg_warn_count();
    feed_text(&q, all);
    queue_finish(&q);
    CHECK(q.truncated);
    CHECK(msg_warn_count() > w);
    CHECK_INT(q.nmsgs, 3);                           /* E5D40104582, 5B4CA1045D3, 614B11045D1 */
    CHECK_INT(q.bad_lines, 0);
    char *t = report(&q, true, 10);
    CHECK(strstr(t, "\"truncated\":true") != NULL);
    free(t);
    queue_free(&q);
}

static void t_mailq_garbage(void)
{
    struct queue q;
    queue_init(&q, "g", T_PHASE1);
    feed_text(&q, "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
                  "                 orphan@recipient.test\n"         /* before any entry */
                  "postqueue: warning: Mail system is down -- accessing queue directly\n"
                  "BAD;ID      12 Sun Nov 22 21:13:18  a@b.test\n"  /* invalid queue ID */
                  "     (reason of the bad entry)\n"                 /* skipped with it */
                  "     x@bad.test\n"
                  "\n"
                  "AAA111      12 Sun Xyz 22 21:13:18  a@b.test\n"  /* bad month */
                  "\n"
                  "AAA222      12 Sun Nov 22 21:13:18  a@b.test\n"
                  "(some reason 1.2.3.4)\n"
                  "                 ok@good.test\n"
                  "\n"
                  "-- 1 Kbytes in 2 Requests.\n");
    queue_finish(&q);
    CHECK_INT(q.nmsgs, 1);
    CHECK_INT(q.bad_lines, 4);
    CHECK(grp(&q.by_domain, "bad.test") == NULL);
    CHECK(grp(&q.by_reason, "some reason *") != NULL);
    CHECK(q.nmsgs && q.msgs[0]->queue == QN_DEFERRED);
    queue_free(&q);
}

/* ---- hostile postqueue -j ---- */

static void t_json_malformed_lines(void)
{
    struct queue q;
    queue_init(&q, "bad.jsonl", T_PHASE1);
    feed_text(&q,
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA1\",\"arrival_time\":1795381998,\"message_size\":10,"
        "\"sender\":\"s@x.test\",\"recipients\":[{\"address\":\"r@y.test\",\"delay_reason\":\"x\"}]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA2\",\n"                     /* cut */
        "not json at all\n"
        "[1,2,3]\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":123,\"arrival_time\":1,\"message_size\":1,\"sender\":\"\",\"recipients\":[]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA3\",\"arrival_time\":\"yesterday\",\"message_size\":1,\"sender\":\"\",\"recipients\":[]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA4\",\"arrival_time\":1,\"message_size\":-5,\"sender\":\"\",\"recipients\":[]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA5\",\"arrival_time\":1,\"message_size\":1,\"sender\":null,\"recipients\":[]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA6\",\"arrival_time\":1,\"message_size\":1,\"sender\":\"\",\"recipients\":{}}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA7\",\"arrival_time\":1,\"message_size\":1,\"sender\":\"\",\"recipients\":[{\"address\":5}]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA8\",\"arrival_time\":1,\"message_size\":1,\"sender\":\"\",\"recipients\":[\"a@b\"]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA9\",\"arrival_time\":1,\"message_size\":1,\"sender\":\"\",\"recipients\":[{\"address\":\"a@b\",\"delay_reason\":[]}]}\n"
        "{\"queue_name\":\"corrupt\",\"queue_id\":\"AAB1\",\"arrival_time\":1,\"message_size\":1,\"sender\":\"\",\"recipients\":[]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"$(rm -rf /)\",\"arrival_time\":1,\"message_size\":1,\"sender\":\"\",\"recipients\":[]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAA1\",\"arrival_time\":1,\"message_size\":1,\"sender\":\"\",\"recipients\":[]}\n" /* duplicate */
        "{\"queue_name\":\"deferred\",\"queue_id\":\"AAB2\",\"queue_id\":\"AAB3\",\"arrival_time\":1,\"message_size\":1,\"sender\":\"\",\"recipients\":[]}\n"
        "\n"
        "{\"queue_name\":\"hold\",\"queue_id\":\"AAB4\",\"arrival_time\":1795381999,\"message_size\":20,\"forced_expire\":true,"
        "\"sender\":\"s@x.test\",\"recipients\":[{\"address\":\"R@Y.TEST\"}],\"future_field\":{\"a\":[1]}}\n");
    queue_finish(&q);
    CHECK_INT(q.nmsgs, 2);
    CHECK_INT(q.bad_lines, 15);
    CHECK_INT(q.total.bytes, 30);
    const struct queue_group *g = grp(&q.by_domain, "y.test");     /* domains are lower-cased */
    CHECK(g && g->messages == 2);
    CHECK(q.nmsgs == 2 && q.msgs[1]->forced_expire);
    queue_free(&q);
}

static void t_huge_recipient_lists(void)
{
    enum { N = 20000 };
    struct buf b = BUF_INIT((size_t)64 << 20);
    buf_puts(&b, "{\"queue_name\":\"active\",\"queue_id\":\"BIG1\",\"arrival_time\":1795381998,"
                 "\"message_size\":999,\"sender\":\"bulk@x.test\",\"recipients\":[");
    for (int i = 0; i < N; i++)
        buf_printf(&b, "%s{\"address\":\"u%d@d%d.test\",\"delay_reason\":\"connect to 10.0.%d.%d[10.0.%d.%d]:25: Connection refused\"}",
                   i ? "," : "", i, i % 7, i / 250, i % 250, i / 250, i % 250);
    buf_puts(&b, "]}");
    struct queue q;
    queue_init(&q, "big", T_PHASE1);
    CHECK_INT(queue_parse_json_line(&q, buf_str(&b), 1), 0);
    queue_finish(&q);
    CHECK_INT(q.nrcpts, N);
    CHECK_INT(hmap_count(&q.by_domain), 7);
    const struct queue_group *g = grp(&q.by_reason, "connect to *[*]:*: Connection refused");
    CHECK(g && g->messages == 1 && g->recipients == N && g->ndel == 1);
    g = grp(&q.by_domain, "d0.test");
    CHECK(g && g->messages == 1 && g->ndel == 0);   /* also has recipients in d1..d6 */
    char *t = report(&q, false, 1);
    CHECK(strstr(t, "... 19995 more recipients") != NULL);
    free(t);
    queue_free(&q);

    /* the same in mailq text: one entry, N recipient lines */
    buf_reset(&b);
    buf_puts(&b, "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
                 "BIG1*     999 Sun Nov 22 21:13:18  bulk@x.test\n");
    for (int i = 0; i < N; i++) buf_printf(&b, "         u%d@d%d.test\n", i, i % 7);
    buf_puts(&b, "\n-- 1 Kbytes in 1 Request.\n");
    queue_init(&q, "big", T_PHASE1);
    feed_text(&q, buf_cstr(&b));
    queue_finish(&q);
    CHECK_INT(q.nmsgs, 1);
    CHECK_INT(q.nrcpts, N);
    g = grp(&q.by_reason, "(none: active)");
    CHECK(g && g->recipients == N);
    queue_free(&q);
    buf_free(&b);
}

/* ---- grouping and reports ---- */

static void t_deletable_only_whole_messages(void)
{
    struct queue q;
    queue_init(&q, "t", T_PHASE1);
    feed_text(&q,
        "{\"queue_name\":\"deferred\",\"queue_id\":\"M1\",\"arrival_time\":1795381000,\"message_size\":100,\"sender\":\"a@s.test\","
        "\"recipients\":[{\"address\":\"x@one.test\",\"delay_reason\":\"connect to 1.1.1.1[1.1.1.1]:25: Connection refused\"},"
        "{\"address\":\"y@two.test\",\"delay_reason\":\"connect to 2.2.2.2[2.2.2.2]:25: Connection refused\"}]}\n"
        "{\"queue_name\":\"deferred\",\"queue_id\":\"M2\",\"arrival_time\":1795382000,\"message_size\":50,\"sender\":\"a@s.test\","
        "\"recipients\":[{\"address\":\"z@one.test\",\"delay_reason\":\"host 1.1.1.1[1.1.1.1] said: 452 4.2.2 Mailbox full\"}]}\n");
    queue_finish(&q);
    const struct queue_group *g = grp(&q.by_domain, "one.test");
    CHECK(g && g->messages == 2 && g->bytes == 150);
    CHECK(group_has(&q, g, "M1", false) && !group_has(&q, g, "M1", true));
    CHECK(group_has(&q, g, "M2", true));
    g = grp(&q.by_reason, REFUSED);
    CHECK(g && g->messages == 1 && g->recipients == 2 && group_has(&q, g, "M1", true));
    g = grp(&q.by_reason, "host *[*] said: 452 4.2.2 Mailbox full");
    CHECK(g && group_has(&q, g, "M2", true));
    char *t = report(&q, false, 10);
    CHECK(strstr(t, "delete: postsuper -d M2\n") != NULL);
    CHECK(strstr(t, "(1 more with recipients elsewhere are not included)") != NULL);
    free(t);
    t = report(&q, true, 10);
    json_t *d = json_loads(t, 0, NULL);
    CHECK(d != NULL);
    json_t *dom = json_array_get(json_object_get(d, "by_domain"), 0);
    CHECK_STR(json_string_value(json_object_get(dom, "domain")), "one.test");
    CHECK_STR(json_string_value(json_object_get(dom, "postsuper")), "postsuper -d M2");
    CHECK_INT(json_array_size(json_object_get(dom, "queue_ids")), 2);
    dom = json_array_get(json_object_get(d, "by_domain"), 1);
    CHECK(json_is_null(json_object_get(dom, "postsuper")));       /* two.test: M1 only, not whole */
    json_decref(d);
    free(t);
    queue_free(&q);
}

static void t_json_report_schema(void)
{
    struct queue q;
    load(&q, DATA "postqueue-j-phase1.jsonl", T_PHASE1);
    char *t = report(&q, true, 3);
    json_error_t err;
    json_t *d = json_loads(t, 0, &err);
    CHECK(d != NULL);
    if (!d) { free(t); queue_free(&q); return; }
    json_t *tot = json_object_get(d, "total");
    CHECK_INT(json_integer_value(json_object_get(tot, "messages")), 12);
    CHECK_INT(json_integer_value(json_object_get(tot, "bytes")), 100247);
    CHECK_STR(json_string_value(json_object_get(d, "now")), "2026-11-22T21:14:34+00:00");
    json_t *r0 = json_array_get(json_object_get(d, "by_reason"), 0);
    CHECK_STR(json_string_value(json_object_get(r0, "reason")), FLAKY421);
    CHECK_INT(json_integer_value(json_object_get(r0, "messages")), 5);
    CHECK_INT(json_array_size(json_object_get(r0, "queue_ids")), 5);
    json_t *age = json_object_get(d, "by_age");
    CHECK_INT(json_array_size(age), 10);
    CHECK_STR(json_string_value(json_object_get(json_array_get(age, 0), "bucket")), "0-5m");
    CHECK_STR(json_string_value(json_object_get(json_array_get(age, 9), "bucket")), "1280m+");
    json_t *bq = json_object_get(d, "by_queue");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(bq, "hold"), "messages")), 2);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(bq, "maildrop"), "messages")), 0);
    CHECK_INT(json_array_size(json_object_get(d, "by_sender")), 5);
    json_t *old = json_object_get(d, "oldest");
    CHECK_INT(json_array_size(old), 3);
    json_t *o0 = json_array_get(old, 0);
    CHECK_STR(json_string_value(json_object_get(o0, "queue_id")), "84D35104599");
    CHECK_STR(json_string_value(json_object_get(o0, "queue")), "hold");
    CHECK_STR(json_string_value(json_object_get(o0, "arrival")), "2026-11-22T21:12:53+00:00");
    CHECK_INT(json_integer_value(json_object_get(o0, "age_seconds")), 101);
    json_t *rc = json_array_get(json_object_get(o0, "recipients"), 0);
    CHECK_STR(json_string_value(json_object_get(rc, "address")), "bob@example.com");
    CHECK(json_is_null(json_object_get(rc, "reason")));
    o0 = json_array_get(old, 2);
    CHECK_STR(json_string_value(json_object_get(o0, "queue_id")), "BFF7F10456F");
    json_decref(d);
    free(t);
    queue_free(&q);
}

static void t_text_report(void)
{
    struct queue q;
    load(&q, DATA "mailq-phase1.txt", T_PHASE1);
    char *t = report(&q, false, 10);
    CHECK(strstr(t, "Total: 12 messages, 15 recipients, 100247 bytes") != NULL);
    CHECK(strstr(t, "  deferred        10        97754\n") != NULL);
    CHECK(strstr(t, "        2       3         6210  " REFUSED "\n") != NULL);
    CHECK(strstr(t, "delete: postsuper -d AA5D01045AC 1140D1045AD\n") != NULL);
    CHECK(strstr(t, "  84D35104599      hold     2026-11-22 21:12:53   1m41s      1240  news@partner.test\n") != NULL);
    free(t);
    queue_free(&q);
}

static void t_many_ids_and_unsafe_keys(void)
{
    struct queue q;
    queue_init(&q, "t", T_PHASE1);
    struct buf b = BUF_INIT(1 << 20);
    for (int i = 0; i < 12; i++)
        buf_printf(&b, "{\"queue_name\":\"deferred\",\"queue_id\":\"Q%d\",\"arrival_time\":1795381000,\"message_size\":1,"
                       "\"sender\":\"\\u001b[2Jevil\",\"recipients\":[{\"address\":\"a@x'y.test\",\"delay_reason\":\"it's \\\"down\\\"\"},"
                       "{\"address\":\"b@x'y.test\",\"delay_reason\":\"it's \\\"down\\\"\"}]}\n", i);
    for (int i = 0; i < 11; i++)
        buf_printf(&b, "{\"queue_name\":\"deferred\",\"queue_id\":\"P%d\",\"arrival_time\":1795381000,\"message_size\":1,"
                       "\"sender\":\"s@t.test\",\"recipients\":[{\"address\":\"a@down.test\",\"delay_reason\":\"timeout\"}]}\n", i);
    feed_text(&q, buf_cstr(&b));
    buf_free(&b);
    queue_finish(&q);
    char *t = report(&q, false, 10);
    CHECK(strstr(t, "delete (11 msgs): mailwarden queue --json | jq -r '.by_domain[] | "
                    "select(.domain == \"down.test\") | .deletable_ids[]' | postsuper -d -\n") != NULL);
    CHECK(strstr(t, "delete (12 msgs): see deletable_ids in --json\n") != NULL);
    CHECK(strchr(t, '\x1b') == NULL);                /* terminal escapes from the input */
    CHECK(strstr(t, "?[2Jevil") != NULL);
    CHECK(strstr(t, "postsuper -d -") != NULL);
    free(t);
    queue_free(&q);
}

static void t_age_buckets(void)
{
    CHECK_INT(queue_age_bucket(-100), 0);
    CHECK_INT(queue_age_bucket(299), 0);
    CHECK_INT(queue_age_bucket(300), 1);
    CHECK_INT(queue_age_bucket(1199), 2);
    CHECK_INT(queue_age_bucket(1200), 3);
    CHECK_INT(queue_age_bucket(1280 * 60 - 1), 8);
    CHECK_INT(queue_age_bucket(1280 * 60), 9);
    CHECK_INT(queue_age_bucket(INT64_MAX / 2), 9);
    CHECK_STR(queue_bucket_label(9), "1280m+");
    CHECK_STR(queue_bucket_label(3), "20-40m");
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    msg_set_quiet(true);
    RUN(t_norm_corpus_reasons);
    RUN(t_norm_keeps_codes);
    RUN(t_norm_other_rules);
    RUN(t_norm_bounded);
    RUN(t_json_phase1_counts);
    RUN(t_json_final_ages);
    RUN(t_mailq_equals_json);
    RUN(t_mailq_phase1_entries);
    RUN(t_mailq_year_rule);
    RUN(t_mailq_empty);
    RUN(t_mailq_truncated);
    RUN(t_mailq_garbage);
    RUN(t_json_malformed_lines);
    RUN(t_huge_recipient_lists);
    RUN(t_deletable_only_whole_messages);
    RUN(t_json_report_schema);
    RUN(t_text_report);
    RUN(t_many_ids_and_unsafe_keys);
    RUN(t_age_buckets);
    return check_done();
}
