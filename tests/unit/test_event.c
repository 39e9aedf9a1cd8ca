/* Unit tests for the line model (parse/event.h): real Postfix/Dovecot/sshd lines from the
 * corpus, and hostile lines whose attacker-controlled fields try to supply another IP. */
#include "check.h"
#include "parse/event.h"
#include <stdlib.h>
#include <time.h>

static struct syslog_ctx ctx;

static struct event ev;
static char ipbuf[IPADDR_STRLEN];

static const struct event *P(const char *line)
{
    parse_line(&ctx, NULL, str_c(line), &ev);
    ipbuf[0] = 0;
    if (ev.client.family) ipaddr_format(&ev.client, ipbuf, sizeof ipbuf);
    return &ev;
}

static void t_smtpd_connect_client(void)
{
    P("Nov 22 21:12:13 mail postfix/smtpd[29001]: connect from mx1.partner.test[127.0.0.20]");
    CHECK_INT(ev.src, SRC_POSTFIX);
    CHECK_INT(ev.kind, EV_CONNECT);
    CHECK_SLICE(ev.service, "smtpd");
    CHECK_SLICE(ev.instance, "postfix");
    CHECK_SLICE(ev.client_name, "mx1.partner.test");
    CHECK_STR(ipbuf, "127.0.0.20");
    CHECK_INT(ev.h.pid, 29001);

    P("Nov 22 21:12:15 mail postfix/submission/smtpd[28971]: 4jXhgS3WcNz81xv: client=unknown[127.0.0.52], sasl_method=PLAIN, sasl_username=carol@example.com");
    CHECK_INT(ev.kind, EV_CLIENT);
    CHECK_SLICE(ev.instance, "postfix/submission");
    CHECK_SLICE(ev.qid, "4jXhgS3WcNz81xv");
    CHECK_STR(ipbuf, "127.0.0.52");
    CHECK_SLICE(ev.f.sasl_method, "PLAIN");
    CHECK_SLICE(ev.user, "carol@example.com");

    P("Nov 22 21:12:20 mail postfix/smtpd[29010]: 8B9AB1045C3: client=unknown[::1]");
    CHECK_STR(ipbuf, "::1");
    CHECK_SLICE(ev.qid, "8B9AB1045C3");

    P("Nov 22 21:12:30 mail postfix/smtpd[29010]: disconnect from unknown[127.0.0.31] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4");
    CHECK_INT(ev.kind, EV_DISCONNECT);
    CHECK_SLICE(ev.text, "ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4");
}

static void t_reject(void)
{
    P("Nov 22 21:12:40 mail postfix/smtpd[29001]: NOQUEUE: reject: RCPT from unknown[127.0.0.31]: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table; from=<spam@x.test> to=<nobody@example.com> proto=ESMTP helo=<spam.x.test>");
    CHECK_INT(ev.kind, EV_REJECT);
    CHECK(ev.noqueue);
    CHECK_SLICE(ev.stage, "RCPT");
    CHECK_STR(ipbuf, "127.0.0.31");
    CHECK_SLICE(ev.text, "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table");
    CHECK_SLICE(ev.f.from, "spam@x.test");
    CHECK_SLICE(ev.f.to, "nobody@example.com");
    CHECK_SLICE(ev.f.proto, "ESMTP");
    CHECK_SLICE(ev.f.helo, "spam.x.test");

    P("Nov 22 21:12:58 mail postfix/postscreen[28963]: NOQUEUE: reject: RCPT from [127.0.0.35]:51419: 550 5.5.1 Protocol error; from=<bot@spamhost.test>, to=<alice@example.com>, proto=ESMTP, helo=<bot.spamhost.test>");
    CHECK_INT(ev.kind, EV_REJECT);
    CHECK_STR(ipbuf, "127.0.0.35");
    CHECK_INT(ev.port, 51419);
    CHECK_SLICE(ev.f.to, "alice@example.com");

    /* cleanup reject: the client sits after the Subject, so the parser does not take it */
    P("Nov 22 21:13:00 mail postfix/cleanup[29100]: 1A2B3C4D5E: reject: header Subject: Win now [REJECTME] from unknown[127.0.0.22]; from=<a@b.test> to=<c@example.com> proto=ESMTP helo=<h.test>: 5.7.1 message content rejected");
    CHECK_INT(ev.kind, EV_REJECT);
    CHECK_SLICE(ev.stage, "header");
    CHECK_INT(ev.client.family, 0);
    CHECK_SLICE(ev.qid, "1A2B3C4D5E");
}

static void t_queue_lines(void)
{
    P("Nov 22 21:13:18 mail postfix/smtp[29050]: BFF7F10456F: to=<it11@remote-defer.test>, relay=127.0.0.3[127.0.0.3]:2525, delay=0.09, delays=0.02/0/0.01/0.06, dsn=4.7.1, status=deferred (host 127.0.0.3[127.0.0.3] said: 451 4.7.1 Service temporarily unavailable, try again later (in reply to RCPT TO command))");
    CHECK_INT(ev.kind, EV_DELIVERY);
    CHECK_SLICE(ev.f.to, "it11@remote-defer.test");
    CHECK_SLICE(ev.f.relay, "127.0.0.3[127.0.0.3]:2525");
    CHECK_SLICE(ev.f.delay, "0.09");
    CHECK_SLICE(ev.f.delays, "0.02/0/0.01/0.06");
    CHECK_SLICE(ev.f.dsn, "4.7.1");
    CHECK_SLICE(ev.f.status, "deferred");
    CHECK_SLICE(ev.f.reply, "host 127.0.0.3[127.0.0.3] said: 451 4.7.1 Service temporarily unavailable, try again later (in reply to RCPT TO command)");
    CHECK_INT(ev.client.family, 0);   /* relays are never clients */

    P("Nov 22 21:14:14 mail postfix/local[31224]: A70BE1045DB: to=<remotefwd@mail.example.test>, orig_to=<x@y>, relay=local, delay=0.04, delays=0.01/0.03/0/0, dsn=2.0.0, status=sent (forwarded as B06201045DC)");
    CHECK_SLICE(ev.f.orig_to, "x@y");
    CHECK_SLICE(ev.f.status, "sent");
    CHECK_SLICE(ev.f.reply, "forwarded as B06201045DC");

    P("Nov 22 21:12:20 mail postfix/qmgr[28920]: 83C0C1045BE: from=<sender@partner.test>, size=1234, nrcpt=2 (queue active)");
    CHECK_INT(ev.kind, EV_QMGR_FROM);
    CHECK_SLICE(ev.f.from, "sender@partner.test");
    CHECK_SLICE(ev.f.size, "1234");
    CHECK_SLICE(ev.f.nrcpt, "2");

    P("Nov 22 21:19:16 mail postfix/qmgr[28920]: BFF7F10456F: from=<carol@example.com>, status=expired, returned to sender");
    CHECK_INT(ev.kind, EV_EXPIRED);

    P("Nov 22 21:12:20 mail postfix/bounce[29079]: 83C0C1045BE: sender non-delivery notification: 8B9AB1045C3");
    CHECK_INT(ev.kind, EV_BOUNCE_NOTICE);
    CHECK_SLICE(ev.text, "8B9AB1045C3");

    P("Nov 22 21:12:20 mail postfix/cleanup[29000]: 4jXhfp1XK4z820l: message-id=<20261122.abc@example.com>");
    CHECK_INT(ev.kind, EV_MESSAGE_ID);
    CHECK_SLICE(ev.qid, "4jXhfp1XK4z820l");
    CHECK_SLICE(ev.f.message_id, "20261122.abc@example.com");

    P("Nov 22 21:12:20 mail postfix/qmgr[28920]: 4jXhfp1XK4z820l: removed");
    CHECK_INT(ev.kind, EV_REMOVED);

    /* a quoted local part holding '>' and ", relay=" does not shift the fields */
    P("Nov 22 21:12:20 mail postfix/smtp[1]: ABCDEF1234: to=<\"x>, relay=6.6.6.6[6.6.6.6]:25, \"@evil.test>, relay=127.0.0.2[127.0.0.2]:2525, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
    CHECK_SLICE(ev.f.relay, "127.0.0.2[127.0.0.2]:2525");
    CHECK_SLICE(ev.f.status, "sent");
}

static void t_sasl_and_postscreen(void)
{
    P("Nov 22 21:12:15 mail postfix/submission/smtpd[28971]: warning: unknown[127.0.0.50]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=test");
    CHECK_INT(ev.kind, EV_SASL_FAIL);
    CHECK_STR(ipbuf, "127.0.0.50");
    CHECK_SLICE(ev.f.sasl_method, "PLAIN");
    CHECK_SLICE(ev.user, "test");
    CHECK_SLICE(ev.text, "(reason unavailable)");

    P("Nov 22 21:12:15 mail postfix/smtpd[1]: warning: unknown[2001:db8::7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6");
    CHECK_INT(ev.kind, EV_SASL_FAIL);
    CHECK_STR(ipbuf, "2001:db8::7");
    CHECK_SLICE(ev.text, "UGFzc3dvcmQ6");

    P("Nov 22 21:12:55 mail postfix/postscreen[28963]: PREGREET 24 after 0 from [127.0.0.35]:51419: EHLO bot.spamhost.test\\r\\n");
    CHECK_INT(ev.kind, EV_PREGREET);
    CHECK_STR(ipbuf, "127.0.0.35");
    CHECK_INT(ev.port, 51419);

    P("Nov 22 21:12:55 mail postfix/postscreen[28963]: DENYLISTED [127.0.0.66]:45535");
    CHECK_INT(ev.kind, EV_PS_DENYLISTED);
    CHECK_STR(ipbuf, "127.0.0.66");

    P("Nov 22 21:12:55 mail postfix/postscreen[28963]: CONNECT from [::1]:4000 to [::1]:25");
    CHECK_INT(ev.kind, EV_PS_CONNECT);
    CHECK_STR(ipbuf, "::1");
}

static void t_dovecot(void)
{
    P("Nov 22 21:12:21 mail dovecot: imap-login: Login: user=<carol@example.com>, method=PLAIN, rip=127.0.0.72, lip=127.0.0.1, mpid=29120, TLS, session=<QCfe7uNgZ69/AABI>");
    CHECK_INT(ev.src, SRC_DOVECOT);
    CHECK_INT(ev.kind, EV_DV_LOGIN);
    CHECK_SLICE(ev.instance, "imap");
    CHECK_SLICE(ev.user, "carol@example.com");
    CHECK_STR(ipbuf, "127.0.0.72");
    CHECK_SLICE(ev.session, "QCfe7uNgZ69/AABI");
    CHECK(ev.tls);

    P("Nov 22 21:12:26 mail dovecot: imap-login: Disconnected: Aborted login by logging out (auth failed, 3 attempts in 14 secs): user=<support@example.com>, method=PLAIN, rip=127.0.0.60, lip=127.0.0.1, session=<XAJX7uNgJ65/AAA8>");
    CHECK_INT(ev.kind, EV_DV_LOGIN_FAIL);
    CHECK_INT(ev.attempts, 3);
    CHECK_STR(ipbuf, "127.0.0.60");
    CHECK_SLICE(ev.user, "support@example.com");

    P("Nov 22 21:12:12 mail dovecot: auth: passwd-file(support@example.com,127.0.0.60,<zQBX7uNgg9Z/AAA8>): unknown user");
    CHECK_INT(ev.kind, EV_DV_AUTH_FAIL);
    CHECK_SLICE(ev.user, "support@example.com");
    CHECK_STR(ipbuf, "127.0.0.60");
    CHECK_SLICE(ev.session, "zQBX7uNgg9Z/AAA8");

    P("Nov 22 21:12:13 mail dovecot: auth: passwd-file(alice@example.com,::1): Password mismatch");
    CHECK_INT(ev.kind, EV_DV_AUTH_FAIL);
    CHECK_STR(ipbuf, "::1");
    CHECK_INT(ev.session.len, 0);

    P("Nov 22 21:12:13 mail dovecot: lmtp(carol@example.com)<29001><abc>: msgid=<x@y>: saved mail to INBOX");
    CHECK_INT(ev.kind, EV_DV_DELIVERED);
    CHECK_SLICE(ev.user, "carol@example.com");
    CHECK_SLICE(ev.f.message_id, "x@y");

    P("Nov 22 21:12:13 mail dovecot: lmtp(28999): Connect from local");
    CHECK_INT(ev.kind, EV_OTHER);
    CHECK_INT(ev.user.len, 0);
}

static void t_sshd(void)
{
    P("Nov 22 21:30:01 mail sshd[4242]: Failed password for invalid user admin from 203.0.113.9 port 50022 ssh2");
    CHECK_INT(ev.kind, EV_SSH_FAIL);
    CHECK_STR(ipbuf, "203.0.113.9");
    CHECK_INT(ev.port, 50022);
    CHECK_SLICE(ev.user, "admin");
    CHECK_SLICE(ev.stage, "invalid");

    P("Nov 22 21:30:01 mail sshd[4242]: Invalid user oracle from 2001:db8::5 port 4444");
    CHECK_INT(ev.kind, EV_SSH_INVALID_USER);
    CHECK_STR(ipbuf, "2001:db8::5");

    P("Nov 22 21:30:01 mail sshd[4243]: Accepted publickey for root from 198.51.100.2 port 5000 ssh2: ED25519 SHA256:abc");
    CHECK_INT(ev.kind, EV_SSH_ACCEPTED);
    CHECK_SLICE(ev.user, "root");
    CHECK_STR(ipbuf, "198.51.100.2");

    P("Nov 22 21:30:01 mail sshd[4244]: Connection closed by authenticating user root 198.51.100.3 port 5001 [preauth]");
    CHECK_INT(ev.kind, EV_SSH_PREAUTH);
    CHECK_SLICE(ev.user, "root");
}

/* Attacker-controlled text must never supply the client address. */
static void t_injection(void)
{
    P("Nov 22 21:30:01 mail sshd[1]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 203.0.113.7 port 2222 ssh2");
    CHECK_STR(ipbuf, "203.0.113.7");
    P("Nov 22 21:30:01 mail sshd[1]: Invalid user a from 6.6.6.6 port 22 from 203.0.113.8 port 2");
    CHECK_STR(ipbuf, "203.0.113.8");
    P("Nov 22 21:30:01 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, rip=6.6.6.6, lip=1.1.1.1>, method=PLAIN, rip=203.0.113.10, lip=10.0.0.1, session=<abc>");
    CHECK_STR(ipbuf, "203.0.113.10");
    CHECK_SLICE(ev.user, "x>, rip=6.6.6.6, lip=1.1.1.1");
    P("Nov 22 21:30:01 mail dovecot: auth: passwd-file(evil,6.6.6.6,<s>): unknown user,203.0.113.11,<t>): unknown user");
    CHECK_STR(ipbuf, "203.0.113.11");
    P("Nov 22 21:30:01 mail dovecot: auth: passwd-file(a),(b,6.6.6.6): x,203.0.113.12): Password mismatch");
    CHECK_STR(ipbuf, "203.0.113.12");
    /* "no auth attempts" reason, user name forging an "auth failed" count */
    P("Nov 22 21:30:01 mail dovecot: imap-login: Disconnected (no auth attempts in 0 secs): user=<(auth failed, 99 attempts>, rip=203.0.113.13, lip=10.0.0.1, session=<q>");
    CHECK_INT(ev.kind, EV_DV_NO_AUTH);
    CHECK_INT(ev.attempts, 0);
    /* SASL user name holding a bracketed IP */
    P("Nov 22 21:30:01 mail postfix/smtpd[1]: warning: unknown[203.0.113.14]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=x[6.6.6.6]: SASL");
    CHECK_STR(ipbuf, "203.0.113.14");
    /* reject line whose HELO and sender hold addresses */
    P("Nov 22 21:30:01 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[203.0.113.15]: 554 5.7.1 <r@x>: Relay access denied; from=<a[6.6.6.6]@x> to=<r@x> proto=ESMTP helo=<[6.6.6.6]>");
    CHECK_STR(ipbuf, "203.0.113.15");
    /* #012-escaped newline in a user name (rsyslog escapes control characters) */
    P("Nov 22 21:30:01 mail dovecot: auth: passwd-file(x#012Nov 22 21:30:01 mail dovecot: auth: passwd-file(y,6.6.6.6): unknown user,203.0.113.16): unknown user");
    CHECK_STR(ipbuf, "203.0.113.16");
    /* a queue ID in a Subject of a WARN line is not the line's queue ID */
    P("Nov 22 21:30:01 mail postfix/cleanup[1]: 4jXhgr4zzjz821f: warning: header Subject: BFF7F10456F: removed from unknown[127.0.0.22]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>");
    CHECK_SLICE(ev.qid, "4jXhgr4zzjz821f");
    CHECK_INT(ev.kind, EV_HEADER_WARNING);
}

static void t_hostile(void)
{
    static const char *const lines[] = {
        "", "x", "Nov", "Nov 22", "Nov 22 21:12:13", "Nov 22 21:12:13 mail", "Nov 22 21:12:13 mail postfix/smtpd[",
        "Nov 22 21:12:13 mail postfix/smtpd[1]:", "Nov 22 21:12:13 mail postfix/smtpd[1]: connect from",
        "Nov 22 21:12:13 mail postfix/smtpd[1]: connect from x[", "Nov 22 21:12:13 mail postfix/smtpd[1]: connect from x[1.2.3.4",
        "Nov 22 21:12:13 mail postfix/smtpd[1]: ABCDEF: to=<", "Nov 22 21:12:13 mail postfix/smtpd[1]: ABCDEF: to=<\"",
        "Nov 22 21:12:13 mail postfix/smtpd[1]: NOQUEUE: reject: ", "Nov 22 21:12:13 mail dovecot: auth: x(",
        "Nov 22 21:12:13 mail dovecot: auth: passwd-file(): ", "Nov 22 21:12:13 mail dovecot: imap-login: , rip=",
        "Nov 22 21:12:13 mail dovecot: lmtp(", "Nov 22 21:12:13 mail dovecot: lmtp(x)<", "Nov 22 21:12:13 mail sshd[1]: Failed  for  from  port ",
        "Nov 22 21:12:13 mail sshd[1]: Connection closed by  port 99999999999999999999",
        "Nov 22 21:12:13 mail postfix/postscreen[1]: PREGREET from [", "Nov 22 21:12:13 mail postfix/postscreen[1]: CONNECT from [1.2.3.4]:",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        P(lines[i]);
        CHECK(ev.kind < EV_KIND_MAX);
    }
    P("Nov 22 21:12:13 mail postfix/smtpd[1]: connect from x[999.1.1.1]");
    CHECK_INT(ev.client.family, 0);
    P("garbage line without envelope");
    CHECK_INT(ev.kind, EV_UNPARSED);
}

static void t_qid(void)
{
    CHECK(pf_is_qid(STR_LIT("BFF7F10456F")));
    CHECK(pf_is_qid(STR_LIT("4jXhgr4zzjz821f")));
    CHECK(!pf_is_qid(STR_LIT("warning")));
    CHECK(!pf_is_qid(STR_LIT("NOQUEUE")));
    CHECK(!pf_is_qid(STR_LIT("statistics")));
    CHECK(!pf_is_qid(STR_LIT("ABC")));
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    ctx.ref = 1795383000;   /* 2026-11-22T21:30:00Z */
    RUN(t_smtpd_connect_client);
    RUN(t_reject);
    RUN(t_queue_lines);
    RUN(t_sasl_and_postscreen);
    RUN(t_dovecot);
    RUN(t_sshd);
    RUN(t_injection);
    RUN(t_hostile);
    RUN(t_qid);
    return check_done();
}
