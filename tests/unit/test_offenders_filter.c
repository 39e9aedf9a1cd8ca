/* test_offenders_filter - offenders_may_count(), the prefilter that lets `offenders` skip
 * most lines before their message is parsed, must never refuse a line whose event the
 * offenders consumer acts on. Checked against the full parser on every corpus log, the
 * offenders test logs and hand-written edge and hostile lines; and it must refuse most
 * corpus lines (else it is no use). */
#include "check.h"
#include "parse/event.h"
#include "report/offenders.h"
#include "util/reader.h"

static struct syslog_ctx ctx;

/* Does offenders' feed() act on this event? (its switch: the kinds of offenders_kinds(),
 * postscreen's "other" events only with these three texts) */
static bool acted_on(const struct event *ev)
{
    if (!(offenders_kinds() & EV_BIT(ev->kind))) return false;
    if (ev->kind != EV_PS_OTHER) return true;
    return str_startswith(ev->h.msg, "COMMAND PIPELINING") || str_startswith(ev->h.msg, "NON-SMTP COMMAND") ||
           str_startswith(ev->h.msg, "BARE NEWLINE");
}

static unsigned long nlines, nrefused, nmissed;

static void check_line(struct str line)
{
    struct event ev;
    parse_line(&ctx, NULL, line, &ev);
    struct syslog_hdr h;
    if (syslog_parse_lazy(&ctx, line, &h) < 0) {
        CHECK_INT(ev.kind, EV_UNPARSED);
        return;
    }
    nlines++;
    bool may = offenders_may_count(&h);
    if (!may) nrefused++;
    if (acted_on(&ev) && !may) {
        if (nmissed++ < 5) fprintf(stderr, "  refused but counted (%s): %.*s\n", ev_kind_name(ev.kind), STR_FMT(line));
    }
}

static void check_file(const char *path)
{
    char err[512];
    struct reader *r = reader_open(path, err, sizeof err);
    CHECK(r != NULL);
    if (!r) return;
    struct str line;
    while (reader_next(r, &line) > 0) check_line(line);
    reader_close(r);
}

static void t_corpus(void)
{
    nlines = nrefused = nmissed = 0;
    check_file("tests/data/mail-traditional.log.gz");
    check_file("tests/data/mail-rfc3339.log.gz");
    check_file("tests/data/mail-postlog.log.gz");
    check_file("tests/data/mail-postlog-dovecot.log.gz");
    CHECK_INT(nmissed, 0);
    CHECK(nlines > 10000);
    CHECK(nrefused > nlines / 2);         /* the point of the filter */
}

static void t_offenders_logs(void)
{
    nmissed = 0;
    check_file("tests/data/offenders/ssh-and-probes.log");
    check_file("tests/data/offenders/injection.log");
    CHECK_INT(nmissed, 0);
}

/* Shapes near the edges of the filter's tests: no space after the program's ':', levels,
 * auth-worker, the other -login processes, other Postfix instances, attacker text that
 * imitates a keyword, and lines that must be refused. */
static void t_edges(void)
{
    static const char *const lines[] = {
        "Nov 22 21:12:13 mail postfix/postscreen[1]:PREGREET 11 after 0.1 from [192.0.2.1]:4711: EHLO x\\r\\n",
        "Nov 22 21:12:13 mail postfix/postscreen[1]: DNSBL rank 3 for [192.0.2.2]:4711",
        "Nov 22 21:12:13 mail postfix/postscreen[1]: BLACKLISTED [192.0.2.3]:4711",
        "Nov 22 21:12:13 mail postfix/postscreen[1]: DENYLISTED [192.0.2.3]:4711",
        "Nov 22 21:12:13 mail postfix/postscreen[1]: BARE NEWLINE from [192.0.2.4]:4711 after DATA",
        "Nov 22 21:12:13 mail postfix/postscreen[1]: NON-SMTP COMMAND from [192.0.2.4]:4711 after CONNECT: GET / HTTP/1.1",
        "Nov 22 21:12:13 mail postfix/postscreen[1]: COMMAND PIPELINING from [192.0.2.4]:4711 after EHLO: QUIT\\r\\n",
        "Nov 22 21:12:13 mail postfix/postscreen[1]: NOQUEUE: reject: RCPT from [192.0.2.5]:4711: 550 5.7.1 Service unavailable; from=<a@b>, to=<c@d>, proto=ESMTP, helo=<x>",
        "Nov 22 21:12:13 mail postfix-out/smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.6]: 554 5.7.1 <c@d>: Relay access denied; from=<a@b> to=<c@d> proto=ESMTP helo=<x>",
        "Nov 22 21:12:13 mail postfix/cleanup[1]: 8B9AB1045C3: reject: header Subject: hi from x[192.0.2.7]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: 5.7.1 no",
        "Nov 22 21:12:13 mail postfix/smtpd[1]: 8B9AB1045C3: client=x[192.0.2.8]",
        "Nov 22 21:12:13 mail postfix/qmgr[1]: 8B9AB1045C3: removed",
        "Nov 22 21:12:13 mail postfix/smtps/smtpd[1]: warning: x[192.0.2.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
        "Nov 22 21:12:13 mail postfix/submission/smtpd[1]: warning: unknown[2001:db8::1]: SASL PLAIN authentication failed: , sasl_username=u",
        "Nov 22 21:12:13 mail dovecot: auth-worker(12): Info: pam(u,192.0.2.10,<AbCd>): pam_authenticate() failed: Authentication failure (Password mismatch?)",
        "Nov 22 21:12:13 mail dovecot: auth: Error: passwd-file(u,192.0.2.11): unknown user",
        /* a second program tag, as parse_dovecot() accepts (found by fuzz_parse) */
        "Nov 22 21:12:13 mail dovecot: dovecot: auth-worker(9): pam(u,192.0.2.11,<s1>): pam_authenticate() failed: Authentication failure (Password mismatch?)",
        "Nov 22 21:12:13 mail dovecot[3]: dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u>, rip=192.0.2.11, lip=192.0.2.1",
        "Nov 22 21:12:13 mail dovecot: auth: sql(u,192.0.2.12,<x>): Password mismatch",
        "Nov 22 21:12:13 mail dovecot: auth: ldap(u,192.0.2.12,<x>): invalid credentials",
        "Nov 22 21:12:13 mail dovecot: auth: ldap(u,192.0.2.12,<x>): user not found",
        "Nov 22 21:12:13 mail dovecot: managesieve-login: Disconnected (auth failed, 3 attempts in 9 secs): user=<u>, method=PLAIN, rip=192.0.2.13, lip=192.0.2.1, session=<x>",
        "Nov 22 21:12:13 mail dovecot: submission-login:Info: Login: user=<u>, method=PLAIN, rip=192.0.2.14, lip=192.0.2.1, mpid=1, TLS, session=<y>",
        "Nov 22 21:12:13 mail dovecot[77]: pop3-login: Aborted login (auth failed, 1 attempts in 2 secs): user=<u>, rip=192.0.2.15, lip=192.0.2.1",
        "Nov 22 21:12:13 mail sshd[5]: Failed password for invalid user admin from 192.0.2.16 port 22 ssh2",
        "Nov 22 21:12:13 mail sshd-session[5]: Invalid user admin from 192.0.2.17 port 22",
        "Nov 22 21:12:13 mail sshd[5]: error: Failed keyboard-interactive/pam for root from 192.0.2.18 port 22 ssh2",
        /* refused: */
        "Nov 22 21:12:13 mail postfix/smtpd[1]: connect from x[192.0.2.20]",
        "Nov 22 21:12:13 mail postfix/smtpd[1]: warning: hostname x does not resolve to address 192.0.2.21",
        "Nov 22 21:12:13 mail postfix/smtpd[1]: 8B9AB1045C3: reject_warning: RCPT from x[192.0.2.22]: 450 test",
        "Nov 22 21:12:13 mail postfix/qmgr[1]: 8B9AB1045C3: from=<reject: @x>, size=1, nrcpt=1 (queue active)",
        "Nov 22 21:12:13 mail postfix/postscreen[1]: CONNECT from [192.0.2.23]:1 to [192.0.2.1]:25",
        "Nov 22 21:12:13 mail dovecot: imap(u)<1><s>: Disconnected: Logged out in=1 out=2",
        "Nov 22 21:12:13 mail dovecot: lmtp(u)<1><s>: msgid=<Password mismatch>: saved mail to INBOX",
        "Nov 22 21:12:13 mail amavis[1]: (x) Blocked SPAM {DiscardedInbound}, [192.0.2.24]:1 -> <a@b>, reject: x",
    };
    nmissed = nlines = nrefused = 0;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) check_line(str_c(lines[i]));
    CHECK_INT(nmissed, 0);
    CHECK_INT(nrefused, 8);
}

int main(void)
{
    ctx.ref = 1795383000;
    RUN(t_corpus);
    RUN(t_offenders_logs);
    RUN(t_edges);
    return check_done();
}
