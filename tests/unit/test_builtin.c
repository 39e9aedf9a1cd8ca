/* Unit tests for the built-in mail filters behind the generic filter interface
 * (guard/filter_builtin.c, guard/builtin_filters.c): failures and hosts on real lines,
 * injection lines whose forged address must never be reported, the counting rule (one
 * attempt logged twice counts once), and the batch forms (threads, prefilter) giving exactly
 * the results of feeding line by line. */
#include "check.h"
#include "guard/filter.h"
#include "guard/ini.h"
#include "guard/jailfilter.h"
#include "parse/event.h"
#include "util/buf.h"
#include <stdlib.h>
#include <string.h>

#define NOW 1795000000   /* 2026-11-18: the year-less lines below are from this November */

/* failures as text: "line host attempts user;" */
static void rec_failure(void *ud, const struct failure *f)
{
    struct buf *b = ud;
    buf_printf(b, "%llu %.*s %u %.*s;", (unsigned long long)f->line, (int)f->host.len, f->host.p, f->attempts,
               f->has_user ? (int)f->user.len : 4, f->has_user ? f->user.p : "none");
}

static void rec_verdict(void *ud, uint64_t lineno, struct str text, enum filter_verdict v)
{
    (void)text;
    struct buf *b = ud;
    if (v == FV_MATCHED) buf_printf(b, "m%llu;", (unsigned long long)lineno);
}

static struct filter *open_f(const char *name, const char *mode)
{
    const struct filter_builtin *bi = filter_builtin_find(name);
    CHECK(bi != NULL);
    if (!bi) return NULL;
    struct ini_vars o = { 0 };
    if (mode) ini_vars_setn(&o, "mode", 4, mode, strlen(mode));
    char err[256];
    struct filter *f = bi->open(&o, NOW, err, sizeof err);
    ini_vars_free(&o);
    CHECK(f != NULL);
    return f;
}

/* Feed text line by line (lines separated by '\n'); returns the failures as text (caller frees). */
static char *run_lines(const char *name, const char *mode, const char *text)
{
    struct filter *f = open_f(name, mode);
    struct buf out = BUF_INIT(1 << 26);
    if (!f) return strdup("");
    uint64_t no = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        struct filter_line ln = { str_make(p, len), ++no, false, 0 };
        if (len && p[0] != '#') {
            if (filter_feed(f, &ln, rec_failure, &out) == FV_MATCHED) buf_printf(&out, "m%llu;", (unsigned long long)no);
        }
        p = nl ? nl + 1 : p + len;
    }
    filter_close(f);
    char *s = strdup(buf_cstr(&out));
    buf_free(&out);
    return s;
}

/* The hosts reported for one line, space-separated. */
static char *hosts1(const char *name, const char *mode, const char *line)
{
    struct filter *f = open_f(name, mode);
    struct buf out = BUF_INIT(1 << 20);
    if (f) {
        struct filter_line ln = { str_c(line), 1, false, 0 };
        filter_feed(f, &ln, rec_failure, &out);
        filter_close(f);
    }
    char *s = strdup(buf_cstr(&out));
    buf_free(&out);
    return s;
}

#define HOSTS(name, mode, line, want) do { char *h_ = hosts1(name, mode, line); CHECK_STR(h_, want); free(h_); } while (0)

/* A mixed log of every daemon with sessions, pids and comments, big enough to be split
 * between threads. */
static char *mixed_log(size_t n)
{
    struct buf b = BUF_INIT((size_t)1 << 28);
    for (size_t i = 0; i < n; i++) {
        unsigned a = (unsigned)(i % 200), s = (unsigned)(i / 7), pid = 1000 + (unsigned)(i / 5) % 3000;
        switch (i % 13) {
        case 0: buf_printf(&b, "Nov 16 21:%02u:%02u mail postfix/smtpd[%u]: warning: unknown[192.0.2.%u]: SASL LOGIN authentication failed: UGFzc3dvcmQ6\n", (unsigned)(i / 60) % 60, (unsigned)i % 60, pid, a); break;
        case 1: buf_printf(&b, "Nov 16 21:00:%02u mail postfix/smtpd[%u]: NOQUEUE: reject: RCPT from unknown[198.51.100.%u]: 554 5.7.1 <x@y>: Relay access denied; from=<a@b> to=<x@y> proto=ESMTP helo=<h>\n", (unsigned)i % 60, pid, a); break;
        case 2: buf_printf(&b, "Nov 16 21:00:%02u mail postfix/qmgr[7]: ABC%05X: from=<a@b>, size=1, nrcpt=1 (queue active)\n", (unsigned)i % 60, (unsigned)i); break;
        case 3: buf_printf(&b, "Nov 16 21:00:%02u mail dovecot: auth: passwd-file(u%u,203.0.113.%u,<s%u>): Password mismatch\n", (unsigned)i % 60, a, a, s); break;
        case 4: buf_printf(&b, "Nov 16 21:00:%02u mail dovecot: imap-login: Disconnected (auth failed, %u attempts in 4 secs): user=<u%u>, method=PLAIN, rip=203.0.113.%u, lip=10.0.0.1, session=<s%u>\n", (unsigned)i % 60, 1 + (unsigned)i % 3, a, a, s); break;
        case 5: buf_printf(&b, "Nov 16 21:00:%02u mail sshd[%u]: Invalid user u%u from 192.0.2.%u port %u\n", (unsigned)i % 60, pid, a, a, 1024 + a); break;
        case 6: buf_printf(&b, "Nov 16 21:00:%02u mail sshd[%u]: Failed password for invalid user u%u from 192.0.2.%u port %u ssh2\n", (unsigned)i % 60, pid, a, a, 1024 + a); break;
        case 7: buf_printf(&b, "# comment %zu\n", i); break;
        case 8: buf_printf(&b, "\n"); break;
        case 9: buf_printf(&b, "Nov 16 21:00:%02u mail sshd[%u]: Connection closed by authenticating user root 192.0.2.%u port 22 [preauth]\n", (unsigned)i % 60, pid, a); break;
        case 10: buf_printf(&b, "Nov 16 21:00:%02u mail dovecot: pop3-login: Disconnected (no auth attempts in 0 secs): user=<>, rip=203.0.113.%u, lip=10.0.0.1, session=<n%u>\n", (unsigned)i % 60, a, s); break;
        case 11: buf_printf(&b, "Nov 16 21:00:%02u mail postfix/smtpd[%u]: lost connection after AUTH from unknown[192.0.2.%u]\n", (unsigned)i % 60, pid, a); break;
        default: buf_printf(&b, "not a syslog line %zu\n", i); break;
        }
    }
    char *s = strdup(buf_cstr(&b));
    buf_free(&b);
    return s;
}

static void t_batch_equals_sequential(void)
{
    static const char *const names[][2] = {
        { "mailwarden-postfix", NULL }, { "mailwarden-postfix", "aggressive" }, { "mailwarden-dovecot", NULL },
        { "mailwarden-dovecot", "aggressive" }, { "mailwarden-sshd", NULL }, { "mailwarden-sshd", "aggressive" },
    };
    char *log = mixed_log(40000);
    size_t len = strlen(log);
    CHECK(len > (2u << 20));             /* big enough to be split */
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char *seq = run_lines(names[k][0], names[k][1], log);
        CHECK(strlen(seq) > 1000);       /* the log holds failures for every filter */
        for (int threads = 1; threads <= 3; threads++) {
            /* feed_text over two buffers (the second starts mid-log at a line start) */
            struct filter *f = open_f(names[k][0], names[k][1]);
            if (!f) continue;
            CHECK(f->ops->feed_text != NULL && f->ops->feed_lines != NULL);
            struct buf out = BUF_INIT(1 << 26);
            struct filter_batch fb = { rec_failure, rec_verdict, &out, threads };
            const char *mid = strchr(log + len / 3, '\n') + 1;
            uint64_t n1 = f->ops->feed_text(f, log, (size_t)(mid - log), 1, FILTER_SKIP_COMMENTS, &fb);
            uint64_t n2 = f->ops->feed_text(f, mid, len - (size_t)(mid - log), n1 + 1, FILTER_SKIP_COMMENTS, &fb);
            CHECK_INT(n1 + n2, 40000);
            CHECK_STR(buf_cstr(&out), seq);
            filter_close(f);
            buf_free(&out);
            /* feed_lines on the non-comment lines */
            f = open_f(names[k][0], names[k][1]);
            if (!f) continue;
            struct filter_line *ls = calloc(40000, sizeof *ls);
            size_t nl = 0;
            uint64_t no = 0;
            for (const char *p = log; *p;) {
                const char *e = strchr(p, '\n');
                no++;
                if (e > p && p[0] != '#') ls[nl++] = (struct filter_line){ str_make(p, (size_t)(e - p)), no, false, 0 };
                p = e + 1;
            }
            out = BUF_INIT(1 << 26);
            fb.ud = &out;
            f->ops->feed_lines(f, ls, nl, &fb);
            CHECK_STR(buf_cstr(&out), seq);
            free(ls);
            filter_close(f);
            buf_free(&out);
        }
        free(seq);
    }
    free(log);
}

static void t_known_forms(void)
{
    HOSTS("mailwarden-sshd", NULL, "Nov 16 21:00:01 mail sshd[5]: Failed password for root from 192.0.2.7 port 2222 ssh2",
          "1 192.0.2.7 1 root;");
    HOSTS("mailwarden-sshd", NULL,
          "Nov 16 21:00:01 mail sshd[5]: Invalid user x from 6.6.6.6 port 1 from 192.0.2.8 port 2222",
          "1 192.0.2.8 1 x from 6.6.6.6 port 1;");
    HOSTS("mailwarden-dovecot", NULL,
          "Nov 16 21:00:01 mail dovecot: auth: passwd-file(x,6.6.6.6,203.0.113.9,<s>): Password mismatch",
          "1 203.0.113.9 1 x,6.6.6.6;");
    HOSTS("mailwarden-postfix", NULL, "Nov 16 21:00:01 mail sshd[5]: Failed password for root from 192.0.2.7 port 2222 ssh2", "");
}

#define D "Nov 16 21:00:01 mail "
#define DV "mailwarden-dovecot"
#define SSH "mailwarden-sshd"

static void t_dovecot_forms(void)
{
    /* Dovecot 2.3 auth-worker lines with the worker connection first */
    HOSTS(DV, NULL, D "dovecot: auth-worker(5787): conn unix:auth-worker (pid=27359,uid=97): auth-worker<55>: pam(webapps,192.0.2.7): unknown user",
          "1 192.0.2.7 1 webapps;");
    HOSTS(DV, NULL, D "dovecot: auth-worker(3270): Info: conn unix:auth-worker (uid=143): auth-worker<128>: sql(u@example.com,192.0.2.8,<Yx7+W8+Io>): Password mismatch",
          "1 192.0.2.8 1 u@example.com;");
    HOSTS(DV, NULL, D "dovecot[442]: dovecot: auth(default): pam(account@example.com,192.0.2.9): pam_authenticate() failed: User not known to the underlying authentication module: 2 Time(s)",
          "1 192.0.2.9 1 account@example.com;");
    /* PAM's own line for Dovecot's service, under the programs it is logged with */
    HOSTS(DV, NULL, D "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=informix rhost=80.255.3.104",
          "1 80.255.3.104 1 informix;");
    HOSTS(DV, NULL, D "dovecot-auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=root rhost=176.61.140.225  user=root",
          "1 176.61.140.225 1 root;");
    HOSTS(DV, NULL, D "dovecot: auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=web rhost=2001:db8::5",
          "1 2001:db8::5 1 web;");
    HOSTS(DV, NULL, D "auth: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.1", "");
    HOSTS(DV, NULL, D "auth: pam_unix(dovecot:auth): check pass; user unknown", "");
    /* credentials refused by policy and by the proxy's backend */
    HOSTS(DV, NULL, D "dovecot: pop3-login: Aborted login (tried to use disabled plaintext auth): rip=190.210.136.21, lip=113.212.99.193",
          "1 190.210.136.21 1 none;");
    HOSTS(DV, NULL, D "dovecot: imap-login: Disconnected: Too many invalid commands (tried to use disallowed plaintext auth): user=<test>, rip=192.0.2.1, lip=192.168.1.1, session=<S5dIdTFCDKUWWMbU>",
          "1 192.0.2.1 1 test;");
    HOSTS(DV, NULL, D "dovecot: imap-login: Disconnected (proxy dest auth failed): user=<r@example.com>, method=PLAIN, rip=192.0.2.4, lip=192.168.1.2, session=<NTI4FiZxcQCSud4G>",
          "1 192.0.2.4 1 r@example.com;");
    HOSTS(DV, NULL, D "dovecot: imap-login: Info: Aborted login (auth failed, 2 attempts in 4 secs): user=<a>, method=PLAIN, rip=192.0.2.3, lip=10.0.0.1, TLS",
          "1 192.0.2.3 2 a;");
}

static void t_dovecot_injection(void)
{
    /* pam_unix: ruser and user are the attacker's login name on both sides of rhost= */
    HOSTS(DV, NULL, D "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=rhost=1.2.3.4 rhost=192.0.43.10",
          "1 192.0.43.10 1 rhost=1.2.3.4;");
    /* reads as (x rhost=6.6.6.6 | 192.0.2.9 | user) or (... user=x | 6.6.6.6 | no user, as
     * pam_unix writes for unknown users): ambiguous, so no host at all */
    HOSTS(DV, NULL, D "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=x rhost=6.6.6.6 rhost=192.0.2.9 user=x rhost=6.6.6.6",
          "");
    HOSTS(DV, NULL, D "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=a rhost=6.6.6.6 user=a rhost=192.0.2.9 user=a rhost=6.6.6.6 user=a",
          "1 192.0.2.9 1 a rhost=6.6.6.6 user=a;");
    /* ambiguous (the names differ): nothing rather than a guess */
    HOSTS(DV, NULL, D "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=x rhost=6.6.6.6 rhost=192.0.2.9 user=y", "");
    HOSTS(DV, NULL, D "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=x rhost=6.6.6.6#012 rhost=host.example", "");
    /* auth-worker: the user comes first, the address is the right end */
    HOSTS(DV, NULL, D "dovecot: auth-worker(1): conn unix:auth-worker (uid=143): auth-worker<2>: sql(x,6.6.6.6,[6.6.6.7] from 6.6.6.8,192.0.2.7): Password mismatch",
          "1 192.0.2.7 1 x,6.6.6.6,[6.6.6.7] from 6.6.6.8;");
    HOSTS(DV, NULL, D "dovecot: auth-worker(1): conn unix:auth-worker (uid=143): auth-worker<2>: pam(x#012Nov 16 mail dovecot: auth: pam(y,6.6.6.6): unknown user,192.0.2.7): unknown user",
          "1 192.0.2.7 1 x#012Nov 16 mail dovecot: auth: pam(y,6.6.6.6): unknown user;");
    /* login lines: only the last rip= counts; a user name cannot fake the first-field form */
    HOSTS(DV, NULL, D "dovecot: imap-login: Disconnected (tried to use disallowed plaintext auth): user=<a): rip=6.6.6.6>, rip=192.0.2.1, lip=10.0.0.1",
          "1 192.0.2.1 1 a): rip=6.6.6.6;");
    HOSTS(DV, NULL, D "dovecot: imap-login: Disconnected (no auth attempts): user=<(tried to use disallowed plaintext auth): rip=6.6.6.6>, rip=192.0.2.2, lip=10.0.0.1", "");
}

static void t_dovecot_counting(void)
{
    char *r;
    /* PAM's line, Dovecot's pam(...) line and the login summary: one attempt */
    r = run_lines(DV, NULL,
        D "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=u rhost=192.0.2.1  user=u\n"
        D "dovecot: auth-worker(9): pam(u,192.0.2.1,<s1>): pam_authenticate() failed: Authentication failure (password mismatch?)\n"
        D "dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u>, method=PLAIN, rip=192.0.2.1, lip=10.0.0.1, session=<s1>\n");
    CHECK_STR(r, "1 192.0.2.1 1 u;m1;");
    free(r);
    /* session-less auth lines (older Dovecot) and the summary: 2 + 1 more = 3 */
    r = run_lines(DV, NULL,
        D "dovecot: auth: passwd-file(u,192.0.2.2): Password mismatch\n"
        D "dovecot: auth: passwd-file(u,192.0.2.2): Password mismatch\n"
        D "dovecot: pop3-login: Disconnected (auth failed, 3 attempts in 9 secs): user=<u>, method=PLAIN, rip=192.0.2.2, lip=10.0.0.1\n"
        D "dovecot: pop3-login: Disconnected (auth failed, 1 attempts in 9 secs): user=<u>, method=PLAIN, rip=192.0.2.2, lip=10.0.0.1\n");
    CHECK_STR(r, "1 192.0.2.2 1 u;m1;2 192.0.2.2 1 u;m2;3 192.0.2.2 1 u;m3;4 192.0.2.2 1 u;m4;");
    free(r);
    /* a successful login after a typo: the typo counted, nothing left for a later summary */
    r = run_lines(DV, NULL,
        D "dovecot: auth: passwd-file(u,192.0.2.3): Password mismatch\n"
        D "dovecot: imap-login: Login: user=<u>, method=PLAIN, rip=192.0.2.3, lip=10.0.0.1, mpid=1, session=<s2>\n"
        D "dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u>, method=PLAIN, rip=192.0.2.3, lip=10.0.0.1, session=<s3>\n");
    CHECK_STR(r, "1 192.0.2.3 1 u;m1;3 192.0.2.3 1 u;m3;");
    free(r);
    /* a PAM line of another address does not absorb this one's pam(...) line */
    r = run_lines(DV, NULL,
        D "auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=u rhost=192.0.2.4\n"
        D "dovecot: auth-worker(9): pam(u,192.0.2.5): pam_authenticate() failed: Authentication failure (password mismatch?)\n");
    CHECK_STR(r, "1 192.0.2.4 1 u;m1;2 192.0.2.5 1 u;m2;");
    free(r);
}

static void t_sshd_forms(void)
{
    HOSTS(SSH, NULL, D "sshd[7]: error: PAM: Authentication failure for root from 192.0.2.5", "1 192.0.2.5 1 root;");
    HOSTS(SSH, NULL, D "sshd[7]: error: PAM: Authentication failure for illegal user admin from 192.0.2.5", "1 192.0.2.5 1 admin;");
    HOSTS(SSH, NULL, D "sshd[7]: error: PAM: User not known to the underlying authentication module for illegal user x from 2001:db8::7",
          "1 2001:db8::7 1 x;");
    HOSTS(SSH, NULL, D "sshd[7]: User root from 192.0.2.6 not allowed because listed in DenyUsers", "1 192.0.2.6 1 root;");
    HOSTS(SSH, NULL, D "sshd[7]: User ftp from 192.0.2.6 not allowed because none of user's groups are listed in AllowGroups",
          "1 192.0.2.6 1 ftp;");
    HOSTS(SSH, NULL, D "sshd[7]: Illegal user test from 192.0.2.9", "1 192.0.2.9 1 test;");
    HOSTS(SSH, NULL, D "sshd[7]: error: PAM: Authentication failure for root from host.example", "");
}

static void t_sshd_injection(void)
{
    HOSTS(SSH, NULL, D "sshd[7]: error: PAM: Authentication failure for x from 6.6.6.6 from 192.0.2.5", "1 192.0.2.5 1 x from 6.6.6.6;");
    HOSTS(SSH, NULL, D "sshd[7]: error: PAM: Authentication failure for x from 6.6.6.6 from host.example", "");
    HOSTS(SSH, NULL, D "sshd[7]: error: PAM: Authentication failure for [6.6.6.6] rip=6.6.6.6#012 from 192.0.2.5",
          "1 192.0.2.5 1 [6.6.6.6] rip=6.6.6.6#012;");
    /* reasons without a client: a name ending in "from IP" must not become one */
    HOSTS(SSH, NULL, D "sshd[7]: User a from 6.6.6.6 not allowed because account is locked", "");
    HOSTS(SSH, NULL, D "sshd[7]: User a from 6.6.6.6 not allowed because shell /bin/false does not exist", "");
    HOSTS(SSH, NULL, D "sshd[7]: User a from 6.6.6.6 not allowed because listed in DenyUsers from host.example not allowed because not listed in AllowUsers", "");
    HOSTS(SSH, NULL, D "sshd[7]: Invalid user x#012Nov 16 sshd[1]: Failed password for root from 6.6.6.6 port 1 ssh2 from 192.0.2.8 port 22",
          "1 192.0.2.8 1 x#012Nov 16 sshd[1]: Failed password for root from 6.6.6.6 port 1 ssh2;");
}

static void t_sshd_counting(void)
{
    char *r;
    /* keyboard-interactive via PAM: the PAM error and the Failed line are one attempt */
    r = run_lines(SSH, NULL,
        D "sshd[7]: error: PAM: Authentication failure for root from 192.0.2.5\n"
        D "sshd[7]: Failed keyboard-interactive/pam for root from 192.0.2.5 port 4000 ssh2\n"
        D "sshd[7]: error: PAM: Authentication failure for root from 192.0.2.5\n"
        D "sshd[7]: Failed keyboard-interactive/pam for root from 192.0.2.5 port 4000 ssh2\n"
        D "sshd[7]: Failed password for root from 192.0.2.5 port 4000 ssh2\n");
    CHECK_STR(r, "1 192.0.2.5 1 root;m1;3 192.0.2.5 1 root;m3;5 192.0.2.5 1 root;m5;");
    free(r);
    /* an invalid user: Invalid user + PAM "illegal user" + Failed ... invalid user = 1 */
    r = run_lines(SSH, NULL,
        D "sshd[8]: Invalid user admin from 192.0.2.6 port 4001\n"
        D "sshd[8]: error: PAM: Authentication failure for illegal user admin from 192.0.2.6\n"
        D "sshd[8]: Failed keyboard-interactive/pam for invalid user admin from 192.0.2.6 port 4001 ssh2\n");
    CHECK_STR(r, "1 192.0.2.6 1 admin;m1;");
    free(r);
    /* a user refused by AllowUsers is invalid to sshd: its Failed line is the same attempt */
    r = run_lines(SSH, NULL,
        D "sshd[9]: User root from 192.0.2.7 not allowed because not listed in AllowUsers\n"
        D "sshd[9]: Failed password for invalid user root from 192.0.2.7 port 4002 ssh2\n"
        D "sshd[9]: Failed password for invalid user root from 192.0.2.7 port 4002 ssh2\n");
    CHECK_STR(r, "1 192.0.2.7 1 root;m1;3 192.0.2.7 1 root;m3;");
    free(r);
}

static void rec_host(void *ud, const struct failure *f)
{
    buf_printf(ud, "%llu %.*s %u;", (unsigned long long)f->line, (int)f->host.len, f->host.p, f->attempts);
}

/* The daemon (guard/core.c) parses every line fully and asks the jail filter; `regex` skips
 * what the filter does not look at. Both must count the same. */
static void t_daemon_path_agrees(void)
{
    static const char *const names[][2] = {
        { "mailwarden-postfix", "normal" }, { "mailwarden-postfix", "aggressive" }, { "mailwarden-dovecot", "normal" },
        { "mailwarden-dovecot", "aggressive" }, { "mailwarden-sshd", "normal" }, { "mailwarden-sshd", "aggressive" },
    };
    char *log = mixed_log(13000);
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        struct filter *f = open_f(names[k][0], names[k][1]);
        char err[256];
        struct jfilter *jf = jfilter_new_builtin(names[k][0], names[k][1], err, sizeof err);
        CHECK(f && jf);
        if (!f || !jf) continue;
        struct buf a = BUF_INIT(1 << 24), b = BUF_INIT(1 << 24);
        struct syslog_ctx ctx = { .ref = NOW };
        uint64_t no = 0;
        for (const char *p = log; *p;) {
            const char *e = strchr(p, '\n');
            struct str line = str_make(p, (size_t)(e - p));
            no++;
            if (line.len && p[0] != '#') {
                struct filter_line ln = { line, no, false, 0 };
                filter_feed(f, &ln, rec_host, &a);
                struct event ev;
                parse_line(&ctx, NULL, line, &ev);
                struct jfilter_hit h[JFILTER_MAXHITS];
                size_t n = jf->ops->match(jf->st, &ev, line, h, JFILTER_MAXHITS, NULL);
                for (size_t i = 0; i < n; i++) {
                    char ip[IPADDR_STRLEN];
                    ipaddr_format(&h[i].ip, ip, sizeof ip);
                    buf_printf(&b, "%llu %s %u;", (unsigned long long)no, ip, h[i].n);
                }
            }
            p = e + 1;
        }
        CHECK(a.len > 100);
        CHECK_STR(buf_cstr(&a), buf_cstr(&b));
        buf_free(&a);
        buf_free(&b);
        filter_close(f);
        jfilter_free(jf);
    }
    free(log);
}

int main(void)
{
    RUN(t_daemon_path_agrees);
    RUN(t_dovecot_forms);
    RUN(t_dovecot_injection);
    RUN(t_dovecot_counting);
    RUN(t_sshd_forms);
    RUN(t_sshd_injection);
    RUN(t_sshd_counting);
    RUN(t_known_forms);
    RUN(t_batch_equals_sequential);
    return check_done();
}
