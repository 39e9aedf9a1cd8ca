/* test_failstore - failure counts across a restart: tracker -> SQLite -> tracker. */
#include "check.h"
#include "guard/failstore.h"
#include "guard/core.h"
#include "guard/bandb.h"
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

static void rmall(void)
{
    static const char *const names[] = { "jail.conf", "mailwarden.conf", "mw.db", "mw.db-wal", "mw.db-shm" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static char bans[1024];
static void on_ban(void *ud, struct gjail *j, const struct ban *b)
{
    char ip[IPADDR_STRLEN];
    ipaddr_format(&b->target.addr, ip, sizeof ip);
    size_t l = strlen(bans);
    snprintf(bans + l, sizeof bans - l, "%s %s %u;", j->c->name, ip, b->failures);
}

static struct guard_conf *conf;
static struct core *mkcore(void)
{
    char err[512];
    struct core_cb cb = { .on_ban = on_ban };
    struct core *c = core_new(conf, &cb, err, sizeof err);
    if (!c) fprintf(stderr, "core: %s\n", err);
    return c;
}

static struct ipaddr IP(const char *s)
{
    struct ipaddr a;
    ipaddr_parse_c(s, &a);
    return a;
}

static struct bandb *opendb(void)
{
    char p[256], err[512];
    snprintf(p, sizeof p, "%s/mw.db", dir);
    struct bandb *db = bandb_open(p, err, sizeof err);
    if (!db) fprintf(stderr, "db: %s\n", err);
    return db;
}

static void save(struct core *c, struct bandb *db, bool all, int64_t now, size_t expect)
{
    CHECK_INT(bandb_begin(db), 0);
    CHECK_INT(failstore_save(c, db, all, now), expect);
    CHECK_INT(bandb_commit(db), 0);
}

static void t_restart_keeps_counts(void)
{
    int64_t now = 1795000000;
    struct core *c = mkcore();
    struct bandb *db = opendb();
    CHECK(c && db);
    if (!c || !db) return;
    struct gjail *pf = core_jail_by_name(c, "postfix");
    struct ipaddr a = IP("192.0.2.1"), b = IP("2001:db8::5"), ign = IP("10.1.2.3");
    for (int i = 0; i < 3; i++) core_failure(c, pf, &a, now - 100 + i, 1, now);
    core_failure(c, pf, &b, now - 5, 1, now);
    CHECK_INT(tracker_count(core_tracker(c), pf->id, &a, now), 3);
    save(c, db, true, now, 2);
    /* a second save writes only what changed since */
    save(c, db, false, now, 0);
    core_failure(c, pf, &b, now - 4, 1, now);
    save(c, db, false, now, 1);
    core_free(c);
    bandb_close(db);

    /* "restart": a new core and a new database handle */
    c = mkcore();
    db = opendb();
    pf = core_jail_by_name(c, "postfix");
    CHECK_INT(failstore_restore(c, db, now + 10), 2);
    CHECK_INT(tracker_count(core_tracker(c), pf->id, &a, now + 10), 3);
    CHECK_INT(tracker_count(core_tracker(c), pf->id, &b, now + 10), 2);
    CHECK_INT(tracker_count(core_tracker(c), pf->id, &ign, now + 10), 0);
    /* 3 before the restart + 2 after = maxretry 5: a ban */
    bans[0] = 0;
    core_failure(c, pf, &a, now + 11, 1, now + 11);
    CHECK_STR(bans, "");
    CHECK(core_failure(c, pf, &a, now + 12, 1, now + 12));
    CHECK_STR(bans, "postfix 192.0.2.1 5;");
    /* the ban drops the saved row as the tracker drops the entry */
    CHECK_INT(bandb_begin(db), 0);
    failstore_forget(db, "postfix", &bans_find(core_bans(c), (uint16_t)pf->id,
                                               &(struct cidr){ a, 32 })->target);
    CHECK_INT(bandb_commit(db), 0);
    core_free(c);
    c = mkcore();
    pf = core_jail_by_name(c, "postfix");
    CHECK_INT(failstore_restore(c, db, now + 20), 1);
    CHECK_INT(tracker_count(core_tracker(c), pf->id, &a, now + 20), 0);
    core_free(c);
    bandb_close(db);
}

static void t_old_failures_dropped(void)
{
    int64_t now = 1796000000;
    struct core *c = mkcore();
    struct bandb *db = opendb();
    if (!c || !db) return;
    struct gjail *sj = core_jail_by_name(c, "sshd");       /* findtime 60 */
    struct ipaddr a = IP("198.51.100.7"), b = IP("198.51.100.8");
    core_failure(c, sj, &a, now - 50, 1, now);
    core_failure(c, sj, &b, now - 50, 1, now);
    core_failure(c, sj, &b, now - 10, 1, now);
    save(c, db, true, now, 2);
    core_free(c);
    c = mkcore();
    sj = core_jail_by_name(c, "sshd");
    /* 20 s later: a's only failure is past findtime (its row is not even read), b keeps one */
    CHECK_INT(failstore_restore(c, db, now + 20), 1);
    CHECK_INT(tracker_count(core_tracker(c), sj->id, &a, now + 20), 0);
    CHECK_INT(tracker_count(core_tracker(c), sj->id, &b, now + 20), 1);
    CHECK_INT(tracker_jail_count(core_tracker(c), sj->id), 1);
    /* the next save prunes the expired row */
    save(c, db, false, now + 20, 0);
    core_free(c);
    c = mkcore();
    CHECK_INT(failstore_restore(c, db, now - 60), 1);       /* only b's row is left */
    core_free(c);
    bandb_close(db);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/mw-failstore.XXXXXX");
    if (!mkdtemp(dir)) abort();
    put("jail.conf",
        "[DEFAULT]\nignoreip = 127.0.0.1/8 10.0.0.0/8\nignoreself = false\nbanaction = null\n"
        "[postfix]\nenabled = true\nfilter = mailwarden-postfix\nlogpath = /dev/null\nmaxretry = 5\nfindtime = 600\n"
        "[sshd]\nenabled = true\nfilter = mailwarden-sshd\nlogpath = /dev/null\nmaxretry = 3\nfindtime = 60\n");
    char err[512];
    conf = guard_conf_load(dir, NULL, err, sizeof err);
    if (!conf) {
        fprintf(stderr, "config: %s\n", err);
        rmall();
        return 1;
    }
    RUN(t_restart_keeps_counts);
    RUN(t_old_failures_dropped);
    guard_conf_free(conf);
    rmall();
    return check_done();
}
