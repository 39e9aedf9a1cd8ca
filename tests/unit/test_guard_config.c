/* Unit tests for the guard's configuration (fail2ban jail syntax: .local overrides,
 * interpolation, jail.d order, validation), the decision core fed from text (ignoreip,
 * maxretry/findtime, banned IPs not counted, manual bans, unban, expiry callbacks) and the
 * SQLite ban store (history, active bans, positions, blocks). */
#include "check.h"
#include "guard/bandb.h"
#include "guard/core.h"
#include "guard/jailconf.h"
#include "guard/jfollow.h"
#include "parse/journal.h"
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void put(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static void mkconf(void)
{
    snprintf(dir, sizeof dir, "/tmp/mw-conf.XXXXXX");
    if (!mkdtemp(dir)) abort();
    char p[256];
    snprintf(p, sizeof p, "%s/jail.d", dir);
    mkdir(p, 0755);
}

static void rmconf(void)
{
    static const char *const names[] = { "jail.conf", "jail.local", "jail.d/a.conf", "jail.d/b.local",
                                         "mailwarden.conf", "mailwarden.local", "mw.db", "mw.db-wal",
                                         "mw.db-shm", "jail.d" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (unlink(p) < 0) rmdir(p);
    }
    rmdir(dir);
}

static const char base[] =
    "[DEFAULT]\n"
    "ignoreip = 127.0.0.1/8 ::1 10.0.0.0/8\n"
    "ignoreself = false\n"
    "maxretry = 5\n"
    "findtime = 10m\n"
    "bantime = 1h\n"
    "banaction = null\n"
    "mail_log = /var/log/mail.log\n"
    "[postfix]\n"
    "enabled = true\n"
    "filter = mailwarden-postfix[mode=aggressive]\n"
    "logpath = %(mail_log)s\n"
    "[sshd]\n"
    "enabled = false\n"
    "filter = mailwarden-sshd\n"
    "logpath = /var/log/auth.log\n";

static void t_load_and_override(void)
{
    mkconf();
    put("jail.conf", base);
    put("jail.d/a.conf", "[sshd]\nenabled = true\nmaxretry = 7\n");
    put("jail.local", "[DEFAULT]\nbantime = 2h\n[sshd]\nmaxretry = 4\n");
    put("jail.d/b.local", "[sshd]\nbantime = 4d\nbantime.increment = true\nbantime.multipliers = 1 2 8\n");
    put("mailwarden.conf", "[Definition]\nsocket = /tmp/x.sock\nmaxentries = 5000\n");
    put("mailwarden.local", "[Definition]\nunban_on_stop = true\n");
    char err[512];
    struct guard_conf *c = guard_conf_load(dir, NULL, err, sizeof err);
    CHECK(c != NULL);
    if (!c) { fprintf(stderr, "  %s\n", err); rmconf(); return; }
    CHECK_INT(c->njails, 2);
    struct jail_conf *p = guard_conf_jail(c, "postfix"), *s = guard_conf_jail(c, "sshd");
    CHECK(p && s);
    if (p && s) {
        CHECK_STR(p->filter, "mailwarden-postfix");
        CHECK_STR(p->filter_mode, "aggressive");
        CHECK_INT(p->nlogpath, 1);
        CHECK_STR(p->logpath[0], "/var/log/mail.log");
        CHECK_INT(p->bt.bantime, 7200);            /* jail.local [DEFAULT] */
        CHECK_INT(p->findtime, 600);
        CHECK_INT(s->maxretry, 4);                 /* jail.local after jail.d/a.conf */
        CHECK_INT(s->bt.bantime, 4 * 86400);       /* jail.d/b.local last */
        CHECK(s->bt.increment);
        CHECK_INT(s->bt.nmult, 3);
        CHECK_INT(s->bt.mult[2], 8);
        CHECK_INT(p->actions[0].kind, ACT_NULL);
        struct ipaddr a;
        ipaddr_parse_c("10.1.2.3", &a);
        CHECK(cidrset_contains(p->ignore, &a));
        ipaddr_parse_c("::ffff:127.0.0.9", &a);
        CHECK(cidrset_contains(p->ignore, &a));
        ipaddr_parse_c("192.0.2.1", &a);
        CHECK(!cidrset_contains(p->ignore, &a));
    }
    CHECK_STR(c->socket, "/tmp/x.sock");
    CHECK_INT(c->maxentries, 5000);
    CHECK(c->unban_on_stop);
    guard_conf_free(c);
    rmconf();
}

static void t_errors(void)
{
    static const struct { const char *local, *want; } cases[] = {
        { "[postfix]\nmaxretry = 0\n", "maxretry = 0" },
        { "[postfix]\nmaxretry = lots\n", "maxretry = lots" },
        { "[postfix]\nbantime = 10 parsecs\n", "bantime = 10 parsecs" },
        { "[postfix]\nfilter = mailwarden-postfix[mode=paranoid]\n", "unknown mode 'paranoid'" },
        { "[postfix]\nignoreip = 300.1.1.1/8\n", "ignoreip" },
        { "[postfix]\nenabled = maybe\n", "enabled = maybe" },
        { "[postfix]\nport = smtp,nosuchport\n", "nosuchport" },
        { "[postfix]\naction = command[actionban=\"/bin/echo 'unterminated\"]\n", "unterminated" },
        { "[postfix]\nlogpath = %(nosuch)s\n", "nosuch" },
        { "[bad name]\nenabled = true\nfilter = mailwarden-sshd\nlogpath = /x\n", "jail name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mkconf();
        put("jail.conf", base);
        put("jail.local", cases[i].local);
        char err[512] = "";
        struct guard_conf *c = guard_conf_load(dir, NULL, err, sizeof err);
        CHECK(c == NULL);
        if (!strstr(err, cases[i].want)) {
            fprintf(stderr, "  case %zu: error '%s' lacks '%s'\n", i, err, cases[i].want);
            CHECK(0);
        }
        guard_conf_free(c);
        rmconf();
    }
}

static void t_actions_mapping(void)
{
    mkconf();
    put("jail.conf", base);
    put("jail.local", "[postfix]\naction = iptables-multiport[port=\"smtp,465\", protocol=tcp]\n"
                      "          sendmail-whois[dest=root]\n"
                      "          command[actionban=\"/usr/bin/logger -t mw <ip> <jail>\", timeout=5]\n");
    char err[512];
    struct guard_conf *c = guard_conf_load(dir, NULL, err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        struct jail_conf *p = guard_conf_jail(c, "postfix");
        CHECK_INT(p->nactions, 2);
        CHECK_INT(p->actions[0].kind, ACT_IPSET);
        CHECK_STR(p->port, "smtp,465");
        CHECK_INT(p->actions[1].kind, ACT_COMMAND);
        CHECK_STR(p->actions[1].cmd.ban, "/usr/bin/logger -t mw <ip> <jail>");
        CHECK_INT(p->actions[1].cmd.timeout, 5);
        bool warned_sendmail = false, warned_ipt = false;
        for (size_t i = 0; i < c->nwarnings; i++) {
            if (strstr(c->warnings[i], "sendmail-whois")) warned_sendmail = true;
            if (strstr(c->warnings[i], "no iptables action yet")) warned_ipt = true;
        }
        CHECK(warned_sendmail && !warned_ipt);
    }
    guard_conf_free(c);
    rmconf();
}

/* ---- core ---- */

struct rec { char log[4096]; };
static void rec_ban(void *ud, struct gjail *j, const struct ban *b)
{
    struct rec *r = ud;
    char ip[64];
    ipaddr_format(&b->target.addr, ip, sizeof ip);
    size_t l = strlen(r->log);
    snprintf(r->log + l, sizeof r->log - l, "ban %s %s %lld %u;", j->c->name, ip, (long long)b->bantime, b->failures);
}
static void rec_unban(void *ud, struct gjail *j, const struct ban *b, const char *how)
{
    struct rec *r = ud;
    char ip[64];
    ipaddr_format(&b->target.addr, ip, sizeof ip);
    size_t l = strlen(r->log);
    snprintf(r->log + l, sizeof r->log - l, "unban %s %s %s;", j->c->name, ip, how);
}

static void t_core_from_text(void)
{
    mkconf();
    put("jail.conf", base);
    put("jail.local", "[postfix]\nmaxretry = 3\nbantime = 100\n");
    char err[512];
    struct guard_conf *c = guard_conf_load(dir, NULL, err, sizeof err);
    CHECK(c != NULL);
    if (!c) { rmconf(); return; }
    struct rec r = { "" };
    struct core_cb cb = { .ud = &r, .on_ban = rec_ban, .on_unban = rec_unban };
    struct core *core = core_new(c, &cb, err, sizeof err);
    CHECK(core != NULL);
    int64_t now = 1795000000;   /* lines carry no year: the ref is now */
    const char *l1 = "Nov 22 10:00:01 mail postfix/smtpd[1]: warning: unknown[192.0.2.1]: SASL PLAIN authentication failed: x";
    const char *ign = "Nov 22 10:00:01 mail postfix/smtpd[1]: warning: unknown[10.9.9.9]: SASL PLAIN authentication failed: x";
    /* a line's time far in the past (> findtime before now) is not counted */
    for (int i = 0; i < 5; i++) core_line(core, NULL, 0, str_c(l1), now);
    CHECK_STR(r.log, "");
    struct gjail *j = core_jail_by_name(core, "postfix");
    CHECK_INT(j->total_failed, 0);
    /* lines without a usable time count at now */
    const char *l2 = "garbage: warning: unknown[192.0.2.1]: SASL";
    core_line(core, NULL, 0, str_c(l2), now);
    CHECK_INT(j->total_failed, 0);
    /* feed failures directly */
    struct ipaddr a, b;
    ipaddr_parse_c("192.0.2.1", &a);
    ipaddr_parse_c("10.9.9.9", &b);
    for (int i = 0; i < 5; i++) core_failure(core, j, &b, now, 1, now);
    CHECK_INT(j->total_failed, 0);                    /* ignoreip */
    (void)ign;
    CHECK(!core_failure(core, j, &a, now, 1, now));
    CHECK(!core_failure(core, j, &a, now, 1, now));
    CHECK(core_failure(core, j, &a, now, 1, now));
    CHECK_STR(r.log, "ban postfix 192.0.2.1 100 3;");
    CHECK(!core_failure(core, j, &a, now, 1, now));   /* banned: not counted */
    CHECK_INT(j->total_failed, 3);
    core_expire(core, now + 99);
    CHECK_INT(bans_count(core_bans(core)), 1);
    core_expire(core, now + 100);
    CHECK_INT(bans_count(core_bans(core)), 0);
    CHECK(strstr(r.log, "unban postfix 192.0.2.1 expired;") != NULL);
    struct cidr t;
    cidr_parse(STR_LIT("198.51.100.0/24"), &t);
    CHECK(core_ban(core, j, &t, now, 0) != NULL);
    CHECK_INT(core_unban(core, NULL, &t, "unban"), 1);
    CHECK_INT(core_unban(core, NULL, &t, "unban"), 0);
    core_free(core);
    guard_conf_free(c);
    rmconf();
}

static void t_bandb(void)
{
    mkconf();
    char p[256];
    snprintf(p, sizeof p, "%s/mw.db", dir);
    char err[512];
    struct bandb *db = bandb_open(p, err, sizeof err);
    CHECK(db != NULL);
    if (!db) { fprintf(stderr, "  %s\n", err); rmconf(); return; }
    struct cidr a, n;
    cidr_parse(STR_LIT("192.0.2.1"), &a);
    cidr_parse(STR_LIT("2001:db8::/48"), &n);
    CHECK_INT(bandb_begin(db), 0);
    CHECK_INT(bandb_ban_add(db, "sshd", &a, 1000, 600, 5, 0), 0);
    CHECK_INT(bandb_ban_add(db, "postfix", &a, 1000, 600, 5, 0), 0);
    CHECK_INT(bandb_ban_add(db, "sshd", &n, 1000, -1, 5, 0), 0);
    CHECK_INT(bandb_commit(db), 0);
    CHECK_INT(bandb_ban_count(db, "sshd", &a, 0), 1);
    CHECK_INT(bandb_ban_count(db, NULL, &a, 0), 2);
    CHECK_INT(bandb_ban_count(db, "sshd", &a, 1001), 0);
    CHECK_INT(bandb_ban_end(db, "postfix", &a, 1200, "unban"), 0);
    int cnt = 0;
    struct counter { int *n; } ctr = { &cnt };
    (void)ctr;
    void cb(void *ud, const struct bandb_ban *b);
    CHECK_INT(bandb_active(db, 1500, cb, &cnt), 0);
    CHECK_INT(cnt, 2);                                /* sshd a + permanent n */
    cnt = 0;
    CHECK_INT(bandb_active(db, 1700, cb, &cnt), 0);
    CHECK_INT(cnt, 1);                                /* only the permanent one */
    struct logpos lp = { 1, 2, 300, 0xdeadbeef, 5 }, got;
    CHECK_INT(bandb_pos_get(db, "/var/log/x", &got), 0);
    CHECK_INT(bandb_pos_set(db, "/var/log/x", &lp), 0);
    lp.pos = 400;
    CHECK_INT(bandb_pos_set(db, "/var/log/x", &lp), 0);
    CHECK_INT(bandb_pos_get(db, "/var/log/x", &got), 1);
    CHECK_INT(got.pos, 400);
    CHECK_INT(got.hash, 0xdeadbeef);
    CHECK_INT(bandb_block_add(db, &n, 1, NULL), 0);
    CHECK_INT(bandb_block_add(db, &n, 2, NULL), 0);
    CHECK_INT(bandb_block_del(db, &n), 1);
    CHECK_INT(bandb_block_del(db, &n), 0);
    bandb_close(db);
    /* reopening keeps everything (and the schema is current) */
    db = bandb_open(p, err, sizeof err);
    CHECK(db != NULL);
    if (db) CHECK_INT(bandb_ban_count(db, NULL, &a, 0), 2);
    bandb_close(db);
    rmconf();
}

void cb(void *ud, const struct bandb_ban *b)
{
    (*(int *)ud)++;
}

/* backend = systemd: default matches of the filters, fail2ban's backend arguments, validation */
static void t_journal_conf(void)
{
    mkconf();
    char p[256];
    snprintf(p, sizeof p, "%s/filter.d", dir);
    mkdir(p, 0755);
    put("filter.d/myd.conf", "[Definition]\nfailregex = ^fail from <HOST>$\n[Init]\n"
        "journalmatch = _SYSTEMD_UNIT=myd.service\n    _COMM=myd PRIORITY=5\n");
    put("jail.conf",
        "[DEFAULT]\nbanaction = null\nbackend = systemd\n"
        "[postfix]\nenabled = true\nfilter = mailwarden-postfix\n"
        "[dovecot]\nenabled = true\nfilter = mailwarden-dovecot\nbackend = systemd[journalpath=/srv/j]\n"
        "journalmatch = _SYSTEMD_UNIT=dovecot.service   +  SYSLOG_IDENTIFIER=dovecot\n"
        "[myd]\nenabled = true\nfilter = myd\njournal_path = /srv/j2/x.journal\n"
        "[files]\nenabled = true\nfilter = mailwarden-sshd\nbackend = auto\nlogpath = /var/log/auth.log\n");
    char err[512];
    struct guard_conf *c = guard_conf_load(dir, NULL, err, sizeof err);
    CHECK(c != NULL);
    if (!c) { fprintf(stderr, "  %s\n", err); goto out; }
    struct jail_conf *pf = guard_conf_jail(c, "postfix"), *dv = guard_conf_jail(c, "dovecot"),
                     *my = guard_conf_jail(c, "myd"), *fl = guard_conf_jail(c, "files");
    CHECK(pf && dv && my && fl);
    if (!pf || !dv || !my || !fl) goto out;
    CHECK(pf->journal && dv->journal && my->journal && !fl->journal);
    CHECK_INT(pf->nlogpath, 0);
    CHECK(pf->journal_path == NULL);
    CHECK_STR(pf->jmatch[0], "_SYSTEMD_UNIT=postfix@-.service");
    CHECK_STR(pf->jmatch[1], "+");
    CHECK_STR(dv->journal_path, "/srv/j");
    CHECK_STR(dv->jmatch[0], "_SYSTEMD_UNIT=dovecot.service");
    CHECK_STR(dv->jmatch[1], "+");
    CHECK_STR(dv->jmatch[2], "SYSLOG_IDENTIFIER=dovecot");
    CHECK(dv->jmatch[3] == NULL);
    CHECK_STR(my->journal_path, "/srv/j2/x.journal");
    /* a fail2ban filter's journalmatch, its lines as alternatives */
    CHECK_STR(my->journalmatch, "_SYSTEMD_UNIT=myd.service + _COMM=myd PRIORITY=5");
    CHECK_INT(fl->nlogpath, 1);
    /* one database key per (journal, matches) */
    char *k = jfollow_key(dv->journal_path, dv->jmatch);
    CHECK_STR(k, "journal:/srv/j|_SYSTEMD_UNIT=dovecot.service + SYSLOG_IDENTIFIER=dovecot");
    free(k);
    k = jfollow_key(NULL, NULL);
    CHECK_STR(k, "journal:system|");
    free(k);
    guard_conf_free(c);
    /* malformed matches are configuration errors */
    static const char *const bad[] = { "lower=x", "+ A=1", "A=1 +", "A=1 + + B=2", "NOEQUALS", "=x", "1A=x",
                                       "A-B=1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "[j]\nenabled = true\nbanaction = null\nfilter = mailwarden-sshd\n"
                 "backend = systemd\njournalmatch = %s\n", bad[i]);
        put("jail.conf", text);
        c = guard_conf_load(dir, NULL, err, sizeof err);
        CHECK(c == NULL);
        if (c) { fprintf(stderr, "  accepted: %s\n", bad[i]); guard_conf_free(c); }
        else CHECK(strstr(err, "journalmatch") != NULL);
    }
    put("jail.conf", "[j]\nenabled = true\nbanaction = null\nfilter = mailwarden-sshd\nbackend = journald\n");
    c = guard_conf_load(dir, NULL, err, sizeof err);
    CHECK(c == NULL);
    guard_conf_free(c);
out:
    snprintf(p, sizeof p, "%s/filter.d/myd.conf", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/filter.d", dir);
    rmdir(p);
    rmconf();
}

/* cursors: the database round trip and the time read back from a cursor string */
static void t_journal_cursor(void)
{
    mkconf();
    char p[256], err[512];
    snprintf(p, sizeof p, "%s/mw.db", dir);
    struct bandb *db = bandb_open(p, err, sizeof err);
    CHECK(db != NULL);
    if (db) {
        int rc = 1;
        char *c = bandb_cursor_get(db, "journal:system|", &rc);
        CHECK(c == NULL);
        CHECK_INT(rc, 0);
        CHECK_INT(bandb_cursor_set(db, "journal:system|", "s=1;i=2", 10), 0);
        CHECK_INT(bandb_cursor_set(db, "journal:system|", "s=1;i=3", 11), 0);
        c = bandb_cursor_get(db, "journal:system|", &rc);
        CHECK_STR(c, "s=1;i=3");
        free(c);
        bandb_close(db);
    }
    CHECK_INT(journal_cursor_usec("s=a1;i=2f;b=b0;m=1;t=5f0e1d2c3b4a5;x=9"), 0x5f0e1d2c3b4a5ULL);
    CHECK_INT(journal_cursor_usec("t=10"), 16);
    CHECK_INT(journal_cursor_usec("s=1;t="), 0);
    CHECK_INT(journal_cursor_usec("s=1;t=zz;x=1"), 0);
    CHECK_INT(journal_cursor_usec("s=1;t=12zz"), 0);
    CHECK_INT(journal_cursor_usec("s=1;i=2"), 0);
    CHECK_INT(journal_cursor_usec(""), 0);
    CHECK_INT(journal_cursor_usec("st=5;t=ffffffffffffffffff"), 0);
    rmconf();
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    RUN(t_load_and_override);
    RUN(t_errors);
    RUN(t_actions_mapping);
    RUN(t_core_from_text);
    RUN(t_bandb);
    RUN(t_journal_conf);
    RUN(t_journal_cursor);
    return check_done();
}
