/* Unit tests for the built-in mail filters behind the generic filter interface
 * (guard/filter_builtin.c, guard/builtin_filters.c): failures and hosts on real lines,
 * injection lines whose forged address must never be reported, the counting rule (one
 * attempt logged twice counts once), and the batch forms (threads, prefilter) giving exactly
 * the results of feeding line by line. */
#include "check.h"
#include "guard/filter.h"
#include "guard/ini.h"
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

int main(void)
{
    RUN(t_known_forms);
    RUN(t_batch_equals_sequential);
    return check_done();
}
