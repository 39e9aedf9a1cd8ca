/* Unit tests for the logins consumer (report/logins.h), the user list, the MySQL
 * configuration parser (report/lastlogin_mysql.h) and the SQLite store (guard/store.h). */
#include "check.h"
#include "guard/store.h"
#include "report/lastlogin_mysql.h"
#include "report/logins.h"
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct syslog_ctx ctx;

/* Feed lines as one chunk of the consumer (parse + feed + merge), like scan_run does. */
static void chunk(struct logins *l, const char *const *lines)
{
    struct scan_consumer c = logins_consumer(l);
    void *st = c.chunk_new(c.global);
    for (; *lines; lines++) {
        struct event ev;
        struct str line = str_c(*lines);
        if (c.want_line && !c.want_line(c.global, line)) continue;
        parse_line(&ctx, NULL, line, &ev);
        c.feed(st, &ev, line);
    }
    c.merge(c.global, st);
}

static const struct login_agg *agg(const struct logins *l, const char *user, const char *proto)
{
    char kb[LOGINS_USER_MAX + LOGINS_PROTO_MAX + 1];
    size_t kl = logins_key(kb, sizeof kb, str_c(user), str_c(proto));
    return hmap_get(logins_table(l), str_make(kb, kl));
}

static uint64_t newc(const struct logins *l, const char *user, const char *proto)
{
    char kb[LOGINS_USER_MAX + LOGINS_PROTO_MAX + 1];
    size_t kl = logins_key(kb, sizeof kb, str_c(user), str_c(proto));
    const struct login_agg *a = hmap_get(logins_table(l), str_make(kb, kl));
    return a ? logins_new_count(l, str_make(kb, kl), a) : 0;
}

static void t_dovecot_login_and_failures(void)
{
    static const char *const lines[] = {
        "Nov 22 21:12:12 mail dovecot: auth: passwd-file(support@example.com,127.0.0.60,<zQBX7uNgg9Z/AAA8>): unknown user",
        "Nov 22 21:12:12 mail dovecot: imap-login: Login: user=<bob@example.com>, method=PLAIN, rip=127.0.0.71, lip=127.0.0.1, mpid=28992, session=<+XtX7uNgN71/AABH>",
        "Nov 22 21:12:21 mail dovecot: imap-login: Login: user=<carol@example.com>, method=PLAIN, rip=127.0.0.72, lip=127.0.0.1, mpid=29120, TLS, session=<QCfe7uNgZ69/AABI>",
        "Nov 22 21:12:26 mail dovecot: imap-login: Disconnected: Aborted login by logging out (auth failed, 3 attempts in 14 secs): user=<support@example.com>, method=PLAIN, rip=127.0.0.60, lip=127.0.0.1, session=<XAJX7uNgJ65/AAA8>",
        "Nov 22 21:12:30 mail dovecot: auth: passwd-file(carol@example.com,127.0.0.72,<x>): Password mismatch",
        "Nov 22 21:12:31 mail dovecot: pop3-login: Login: user=<bob@example.com>, method=PLAIN, rip=127.0.0.74, lip=127.0.0.1, mpid=1, TLS, session=<y>",
        "Nov 22 21:12:32 mail dovecot: imap-login: Login: user=<bob@example.com>, method=PLAIN, rip=::1, lip=::1, mpid=2, session=<z>",
        /* a hostile user name that carries a fake rip: the address is taken from the right */
        "Nov 22 21:12:33 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x, rip=10.9.9.9>, method=PLAIN, rip=127.0.0.61, lip=127.0.0.1, session=<w>",
        NULL,
    };
    struct logins *l = logins_new();
    chunk(l, lines);
    const struct login_agg *b = agg(l, "bob@example.com", "imap");
    CHECK(b != NULL);
    if (b) {
        CHECK_INT(b->n, 2);
        char ip[IPADDR_STRLEN];
        ipaddr_format(&b->ip, ip, sizeof ip);
        CHECK_STR(ip, "::1");
        CHECK(b->last > b->first);
    }
    CHECK(agg(l, "bob@example.com", "pop3") != NULL);
    CHECK(agg(l, "carol@example.com", "imap") != NULL);
    /* a name that only failed is not a user who logged in */
    CHECK(agg(l, "support@example.com", "imap") == NULL);
    CHECK_INT(hmap_count(logins_table(l)), 3);
    const struct fail_agg *f = hmap_get(logins_failures(l), str_c("support@example.com"));
    CHECK(f != NULL);
    if (f) CHECK_STR(f->proto, "imap");
    f = hmap_get(logins_failures(l), str_c("carol@example.com"));
    CHECK(f != NULL);
    if (f) {
        char ip[IPADDR_STRLEN];
        ipaddr_format(&f->ip, ip, sizeof ip);
        CHECK_STR(ip, "127.0.0.72");
    }
    f = hmap_get(logins_failures(l), str_c("x, rip=10.9.9.9"));
    CHECK(f != NULL);
    if (f) {
        char ip[IPADDR_STRLEN];
        ipaddr_format(&f->ip, ip, sizeof ip);
        CHECK_STR(ip, "127.0.0.61");
    }
    logins_free(l);
}

/* One SMTP AUTH per smtpd session, also when the session spans chunks. */
static void t_smtp_sessions_across_chunks(void)
{
    static const char *const c1[] = {
        "Nov 22 10:00:00 mail postfix/submission/smtpd[100]: connect from unknown[192.0.2.10]",
        "Nov 22 10:00:01 mail postfix/submission/smtpd[100]: 1111111111A: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=sam@example.com",
        "Nov 22 10:00:01 mail postfix/submission/smtpd[200]: connect from unknown[192.0.2.20]",
        NULL,
    };
    static const char *const c2[] = {
        /* same session as in chunk 1: not a new login */
        "Nov 22 10:00:02 mail postfix/submission/smtpd[100]: 2222222222B: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=sam@example.com",
        "Nov 22 10:00:03 mail postfix/submission/smtpd[100]: 3333333333C: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=sam@example.com",
        /* session opened in chunk 1 without AUTH yet: a login */
        "Nov 22 10:00:04 mail postfix/submission/smtpd[200]: 4444444444D: client=unknown[192.0.2.20], sasl_method=PLAIN, sasl_username=sam@example.com",
        /* same pid on another host: another session */
        "Nov 22 10:00:04 mx2 postfix/submission/smtpd[100]: 5555555555E: client=unknown[192.0.2.30], sasl_method=PLAIN, sasl_username=sam@example.com",
        NULL,
    };
    static const char *const c3[] = {
        "Nov 22 10:00:05 mail postfix/submission/smtpd[100]: disconnect from unknown[192.0.2.10] ehlo=1 auth=1 mail=3 rcpt=3 data=3 quit=1 commands=12",
        "Nov 22 10:00:06 mail postfix/submission/smtpd[100]: connect from unknown[192.0.2.11]",
        "Nov 22 10:00:07 mail postfix/submission/smtpd[100]: 6666666666F: client=unknown[192.0.2.11], sasl_method=PLAIN, sasl_username=sam@example.com",
        /* no SASL: not a login */
        "Nov 22 10:00:08 mail postfix/smtpd[300]: 7777777777A: client=mx.example.org[198.51.100.1]",
        "Nov 22 10:00:09 mail postfix/submission/smtpd[100]: warning: unknown[192.0.2.66]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=(unavailable)",
        "Nov 22 10:00:10 mail postfix/submission/smtpd[100]: warning: unknown[192.0.2.66]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=admin",
        NULL,
    };
    struct logins *l = logins_new();
    chunk(l, c1);
    chunk(l, c2);
    chunk(l, c3);
    const struct login_agg *a = agg(l, "sam@example.com", "smtp");
    CHECK(a != NULL);
    if (a) CHECK_INT(a->n, 4);
    CHECK_INT(hmap_count(logins_table(l)), 1);
    CHECK_INT(hmap_count(logins_failures(l)), 1);
    CHECK(hmap_get(logins_failures(l), str_c("admin")) != NULL);
    logins_free(l);
}

static void t_watermark(void)
{
    static const char *const lines[] = {
        "Nov 22 10:00:00 mail dovecot: imap-login: Login: user=<u@x>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.9, mpid=1, session=<a>",
        "Nov 22 10:00:05 mail dovecot: imap-login: Login: user=<u@x>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.9, mpid=1, session=<b>",
        "Nov 22 10:00:05 mail dovecot: imap-login: Login: user=<u@x>, method=PLAIN, rip=192.0.2.1, lip=192.0.2.9, mpid=1, session=<c>",
        "Nov 22 10:00:09 mail dovecot: imap-login: Login: user=<u@x>, method=PLAIN, rip=192.0.2.2, lip=192.0.2.9, mpid=1, session=<d>",
        "Nov 22 10:00:09 mail dovecot: pop3-login: Login: user=<u@x>, method=PLAIN, rip=192.0.2.2, lip=192.0.2.9, mpid=1, session=<e>",
        NULL,
    };
    ctx.ref = 1795392000;   /* 2026-11-23 */
    struct logins *l = logins_new();
    /* stored: one login at 10:00:05 already counted */
    struct event ev;
    parse_line(&ctx, NULL, str_c(lines[1]), &ev);
    logins_set_mark(l, str_c("u@x"), str_c("imap"), ev.h.t, 1);
    chunk(l, lines);
    const struct login_agg *a = agg(l, "u@x", "imap");
    CHECK(a != NULL);
    if (a) {
        CHECK_INT(a->n, 4);
        CHECK_INT(a->n_at_last, 1);
    }
    CHECK_INT(newc(l, "u@x", "imap"), 2);   /* the second at :05 and the one at :09 */
    CHECK_INT(newc(l, "u@x", "pop3"), 1);   /* no watermark: all new */
    logins_free(l);
    ctx.ref = 0;
}

static void t_hostile_names(void)
{
    struct logins *l = logins_new();
    char big[LOGINS_USER_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    logins_add_login(l, str_c(big), str_c("imap"), 100, NULL);
    logins_add_login(l, str_make("a\0b", 3), str_c("imap"), 100, NULL);
    logins_add_login(l, str_c(""), str_c("imap"), 100, NULL);
    CHECK_INT(hmap_count(logins_table(l)), 0);
    CHECK_INT(logins_skipped(l), 3);
    logins_add_login(l, str_c("o'brien\"; DROP TABLE logins; --"), str_c("imap"), 100, NULL);
    CHECK_INT(hmap_count(logins_table(l)), 1);
    logins_free(l);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    logins_put_safe(f, str_c("ok\x1b[31m\n\\caf\xc3\xa9\xff"));
    fclose(f);
    CHECK_STR(buf, "ok\\x1b[31m\\x0a\\\\caf\xc3\xa9\\xff");
    free(buf);
}

static void t_user_list(void)
{
    struct user_list u;
    user_list_init(&u);
    user_list_parse(&u, str_c("# comment\n  Alice@Example.com  \n\nbob@example.com extra\r\n\tcarol\nalice@example.com\n"));
    char big[LOGINS_USER_MAX + 10];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    user_list_parse(&u, str_c(big));
    user_list_parse(&u, str_c("dave"));     /* last line without newline */
    CHECK_INT(u.n, 4);
    CHECK_INT(u.skipped, 1);
    if (u.n == 4) {
        CHECK_STR(u.order[0], "Alice@Example.com");
        CHECK_STR(u.order[1], "bob@example.com");
        CHECK_STR(u.order[2], "carol");
        CHECK_STR(u.order[3], "dave");
    }
    CHECK(user_list_has(&u, str_c("alice@example.com")));
    CHECK(user_list_has(&u, str_c("BOB@example.com")));
    CHECK(!user_list_has(&u, str_c("extra")));
    CHECK(!user_list_has(&u, str_c("# comment")));
    user_list_free(&u);
}

static void t_rows_filter_sort(void)
{
    struct login_rows r;
    struct user_list u;
    login_rows_init(&r);
    user_list_init(&u);
    int64_t now = 1000 * 86400;
    login_rows_add(&r, str_c("old@x"), str_c("imap"), 10, 100 * 86400, 3, "192.0.2.1");
    login_rows_add(&r, str_c("old@x"), str_c("smtp"), 5, 200 * 86400, 2, "192.0.2.2");
    login_rows_add(&r, str_c("new@x"), str_c("pop3"), 10, 990 * 86400, 1, "192.0.2.3");
    login_rows_add(&r, str_c("gone@x"), str_c("imap"), 10, 50 * 86400, 1, "192.0.2.4");
    user_list_parse(&u, str_c("OLD@x\nnew@x\nnever@x\n"));
    login_rows_add_listed(&r, &u);
    CHECK_INT(r.n, 4);
    struct login_filter f = { now, 90 * 86400, false, &u };
    login_rows_finish(&r, &f);
    CHECK_INT(r.n, 2);
    if (r.n == 2) {
        CHECK_STR(r.v[0].user, "never@x");
        CHECK(!r.v[0].logged_in);
        CHECK_STR(r.v[1].user, "old@x");
        CHECK_INT(r.v[1].count, 5);
        CHECK_INT(r.v[1].last, 200 * 86400);
        CHECK_STR(r.v[1].proto, "smtp");
        CHECK_STR(r.v[1].ip, "192.0.2.2");
        CHECK_INT(r.v[1].first, 5);
        CHECK_INT(r.v[1].nprotos, 2);
    }
    login_rows_free(&r);
    user_list_free(&u);
}

static void t_mysql_conf(void)
{
    struct mysql_conf c;
    char err[256];
    static const char good[] = "# ISPmail\nuser = mailwarden\npassword = p#ss = word \n"
        "database = mail-server\nsocket=/run/mysqld/mysqld.sock\n"
        "table = virtual_users\ncolumn = last_login_2\nkey_column = email\n"
        "value = epoch\ntimeout = 5\n";
    int rc = mysql_conf_parse(str_c(good), &c, err, sizeof err);
    CHECK_INT(rc, 0);
    CHECK_STR(c.user, "mailwarden");
    CHECK_STR(c.password, "p#ss = word");
    CHECK_STR(c.database, "mail-server");
    CHECK_STR(c.socket, "/run/mysqld/mysqld.sock");
    CHECK_STR(c.column, "last_login_2");
    CHECK(c.epoch);
    CHECK_INT(c.timeout, 5);
    CHECK_INT(c.port, 3306);
    /* defaults */
    CHECK_INT(mysql_conf_parse(str_c("user=u\ndatabase=d"), &c, err, sizeof err), 0);
    CHECK_STR(c.table, "virtual_users");
    CHECK_STR(c.column, "lastlogin");
    CHECK_STR(c.key_column, "email");
    CHECK(!c.epoch);
    /* identifiers are never SQL text from anyone but [A-Za-z0-9_] */
    static const char *const bad[] = {
        "user=u\ndatabase=d\ntable=virtual_users; DROP TABLE x",
        "user=u\ndatabase=d\ncolumn=`lastlogin`",
        "user=u\ndatabase=d\nkey_column=email OR 1=1",
        "user=u\ndatabase=d\ntable=",
        "user=u\ndatabase=d\ntable=a.b",
        "user=u\ndatabase=d\ntable=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "user=u\ndatabase=d\nhost=h\nhost=h",
        "user=u\ndatabase=d\nfoo=bar",
        "user=u\ndatabase=d\nport=0",
        "user=u\ndatabase=d\nvalue=now()",
        "user=u\ndatabase=d\njust a line",
        "database=d",
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        if (mysql_conf_parse(str_c(bad[i]), &c, err, sizeof err) == 0) {
            char m[200];
            snprintf(m, sizeof m, "accepted bad config #%d", i);
            check_report(__FILE__, __LINE__, m);
        }
    }
    CHECK(mysql_ident_ok("virtual_users"));
    CHECK(!mysql_ident_ok("virtual-users"));
    CHECK(!mysql_ident_ok(""));
}

static void t_mysql_conf_file_mode(void)
{
    char path[] = "/tmp/mw-test-mysql.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    const char *txt = "user = u\npassword = secret\ndatabase = d\n";
    CHECK_INT(write(fd, txt, strlen(txt)), (long long)strlen(txt));
    close(fd);
    struct mysql_conf c;
    char err[512] = "";
    chmod(path, 0600);
    CHECK_INT(mysql_conf_load(path, &c, err, sizeof err), 0);
    CHECK_STR(c.password, "secret");
    chmod(path, 0640);
    CHECK_INT(mysql_conf_load(path, &c, err, sizeof err), 0);
    chmod(path, 0644);
    CHECK_INT(mysql_conf_load(path, &c, err, sizeof err), -1);
    CHECK(strstr(err, "others") != NULL);
    CHECK(strstr(err, "secret") == NULL);
    chmod(path, 0660);
    CHECK_INT(mysql_conf_load(path, &c, err, sizeof err), -1);
    unlink(path);
    CHECK_INT(mysql_conf_load(path, &c, err, sizeof err), -1);
}

static void t_store(void)
{
    char dir[] = "/tmp/mw-test-store.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/t.db", dir);
    char err[512] = "";
    /* read-only on a missing file fails */
    CHECK(store_open(path, 100, STORE_RDONLY, err, sizeof err) == NULL);
    struct store *s = store_open(path, 100, 0, err, sizeof err);
    CHECK(s != NULL);
    if (!s) { fprintf(stderr, "%s\n", err); return; }
    CHECK_INT(store_schema_version(s), store_schema_current());
    struct store_login e = { "hook@x", "imap", "192.0.2.1", "192.0.2.9", 1000 };
    CHECK_INT(store_login_record(s, &e, err, sizeof err), 0);
    CHECK_INT(store_login_record(s, &e, err, sizeof err), 0);   /* same second: last_n 2 */

    /* a scan that saw these two logins at 1000 and one more later: one new */
    struct logins *l = logins_new();
    CHECK_INT(store_logins_marks(s, l, err, sizeof err), 0);
    struct ipaddr ip;
    ipaddr_parse_c("192.0.2.5", &ip);
    logins_add_login(l, str_c("hook@x"), str_c("imap"), 1000, &ip);
    logins_add_login(l, str_c("hook@x"), str_c("imap"), 1000, &ip);
    logins_add_login(l, str_c("hook@x"), str_c("imap"), 2000, &ip);
    logins_add_login(l, str_c("new@x"), str_c("smtp"), 1500, &ip);
    logins_add_failure(l, str_c("hook@x"), str_c("pop3"), 1800, &ip);
    logins_add_failure(l, str_c("admin"), str_c("smtp"), 1900, &ip);
    struct store_apply_stats as;
    CHECK_INT(store_logins_apply(s, l, &as, err, sizeof err), 0);
    CHECK_INT(as.users, 2);
    CHECK_INT(as.new_logins, 2);
    CHECK_INT(as.fail_names, 2);
    /* applying the same scan again with fresh marks adds nothing */
    logins_free(l);
    l = logins_new();
    CHECK_INT(store_logins_marks(s, l, err, sizeof err), 0);
    logins_add_login(l, str_c("hook@x"), str_c("imap"), 1000, &ip);
    logins_add_login(l, str_c("hook@x"), str_c("imap"), 1000, &ip);
    logins_add_login(l, str_c("hook@x"), str_c("imap"), 2000, &ip);
    logins_add_login(l, str_c("new@x"), str_c("smtp"), 1500, &ip);
    CHECK_INT(store_logins_apply(s, l, &as, err, sizeof err), 0);
    CHECK_INT(as.new_logins, 0);
    logins_free(l);

    struct login_rows r;
    login_rows_init(&r);
    CHECK_INT(store_logins_rows(s, &r, err, sizeof err), 0);
    struct user_list u;
    user_list_init(&u);
    user_list_parse(&u, str_c("admin\nhook@x\nnew@x\n"));
    login_rows_add_listed(&r, &u);
    CHECK_INT(store_logins_fails(s, &r, err, sizeof err), 0);
    struct login_row *h = login_rows_find(&r, str_c("hook@x"));
    CHECK(h != NULL);
    if (h) {
        CHECK_INT(h->count, 3);
        CHECK_INT(h->first, 1000);
        CHECK_INT(h->last, 2000);
        CHECK_STR(h->ip, "192.0.2.5");
        CHECK(h->has_fail);
        CHECK_STR(h->fail_proto, "pop3");
    }
    struct login_row *a = login_rows_find(&r, str_c("admin"));
    CHECK(a != NULL);
    if (a) {
        CHECK(!a->logged_in);       /* a failure never makes a user */
        CHECK(a->has_fail);
        CHECK_INT(a->fail_t, 1900);
    }
    login_rows_free(&r);
    user_list_free(&u);
    store_close(s);

    /* reopen read-only: fine; a database from a newer mailwarden is refused */
    s = store_open(path, 100, STORE_RDONLY, err, sizeof err);
    CHECK(s != NULL);
    store_close(s);
    s = store_open(path, 100, 0, err, sizeof err);
    CHECK(s != NULL);
    store_close(s);
    {
        /* bump the version behind the store's back */
        sqlite3 *db;
        CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
        CHECK_INT(sqlite3_exec(db, "UPDATE schema_version SET version = 99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        s = store_open(path, 100, 0, err, sizeof err);
        CHECK(s == NULL);
        CHECK(strstr(err, "newer") != NULL);
        store_close(s);
    }
    logins_free(NULL);
    char wal[160], shm[160];
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    rmdir(dir);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    RUN(t_dovecot_login_and_failures);
    RUN(t_smtp_sessions_across_chunks);
    RUN(t_watermark);
    RUN(t_hostile_names);
    RUN(t_user_list);
    RUN(t_rows_filter_sort);
    RUN(t_mysql_conf);
    RUN(t_mysql_conf_file_mode);
    RUN(t_store);
    return check_done();
}
