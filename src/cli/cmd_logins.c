/*
 * cmd_logins - `mailwarden logins`: who still uses their mailbox.
 *
 * Three ways to run it:
 *   logins [REPORT OPTIONS]              report from the database (--db)
 *   logins [REPORT OPTIONS] LOG...       report straight from the logs; the database is
 *                                        neither read nor written
 *   logins --update [LOG...]             read the logs (default /var/log/mail.log) into the
 *                                        database without counting a line twice (see
 *                                        report/logins.h; each input is stored before the
 *                                        next is read); silent unless -v, and prints the
 *                                        report from the database afterwards only when a
 *                                        report option (--inactive, --never, --users,
 *                                        --json) is given
 */
#include "cli/cli.h"
#include "guard/store.h"
#include "report/lastlogin_mysql.h"
#include "report/logins.h"
#include "util/buf.h"
#include "util/msg.h"
#include "util/reader.h"
#include "util/timeparse.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USERS_FILE_MAX (256u << 20)

static const char usage[] =
    "usage: mailwarden logins [--update] [--inactive DURATION] [--never] [--users FILE|-]\n"
    "                         [--json] [--db PATH] [--now T] [--since T] [--until T]\n"
    "                         [--rotated] [--mysql CONF] [-v] [LOG...]\n"
    "\n"
    "Last successful login of every user (Dovecot IMAP/POP3/submission/ManageSieve logins and\n"
    "Postfix SMTP AUTH), with protocol, client IP, number of logins and the last failed\n"
    "attempt. Only successful logins make a user: names that only failed (what brute forcers\n"
    "try) are never listed as users. Sorted: never logged in first, then the longest idle.\n"
    "\n"
    "  (no LOG, no --update)  report from the database\n"
    "  LOG...                 report straight from these logs (database not used)\n"
    "  --update               add the logs (default /var/log/mail.log) to the database; a\n"
    "                         line read twice is counted once (cron, or a first import of\n"
    "                         the rotated history with --rotated). Silent unless -v; prints\n"
    "                         the report afterwards when a report option is given\n"
    "  --inactive DURATION    only users whose last login is at least that old (90d, 12w)\n"
    "  --users FILE|-         the accounts that exist, one per line (doveadm user '*'):\n"
    "                         report exactly these, including those that never logged in\n"
    "  --never                only listed accounts that never logged in (needs --users)\n"
    "  --json                 JSON array of {user, logged_in, last_login, protocol, ip,\n"
    "                         logins, protocols, last_failure, ...}\n"
    "  --db PATH              database (default " STORE_DEFAULT_PATH ")\n"
    "  --mysql CONF           with --update: also set the last-login column of a MySQL/\n"
    "                         MariaDB table (see docs/logins.md)\n"
    "  --now T                reference time for ages and year-less stamps\n"
    "  --since T, --until T   only log lines in this window\n"
    "  --rotated              read each LOG's logrotate family, oldest first\n"
    "  --journal, --journal-file P, --journal-match M   read the systemd journal instead\n"
    "  -v, --verbose          with --update: print what was stored\n"
    "\n"
    "Example: doveadm user '*' | mailwarden logins --inactive 90d --users -\n"
    "Exit: 0 done, 1 no input / database error, 2 usage error.\n";

static int read_users(const char *path, struct user_list *u)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        msg_error("--users %s: %s", path, strerror(errno));
        return -1;
    }
    /* parse block by block, each ending at a line boundary */
    struct buf b = BUF_INIT(LOGINS_USER_MAX * 4 + 65536);
    char tmp[65536];
    size_t n, total = 0;
    int rc = 0;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
        total += n;
        if (total > USERS_FILE_MAX) { msg_error("--users %s: larger than %u MB", path, USERS_FILE_MAX >> 20); rc = -1; break; }
        buf_append(&b, tmp, n);
        struct str s = buf_str(&b);
        ptrdiff_t nl = str_rchr(s, '\n');
        if (nl < 0) {
            if (b.len > LOGINS_USER_MAX * 4) { u->skipped++; buf_reset(&b); }
            continue;
        }
        user_list_parse(u, str_sub(s, 0, (size_t)nl + 1));
        size_t rest = b.len - (size_t)nl - 1;
        memmove(b.p, b.p + nl + 1, rest);
        b.len = rest;
        b.p[rest] = 0;
    }
    if (ferror(f)) { msg_error("--users %s: read error", path); rc = -1; }
    if (rc == 0 && b.len) user_list_parse(u, buf_str(&b));
    buf_free(&b);
    if (f != stdin) fclose(f);
    if (u->skipped) msg_warn("--users %s: %llu over-long lines skipped", path, (unsigned long long)u->skipped);
    return rc;
}

static int mysql_push(const char *conf, const struct logins *l)
{
    struct mysql_conf mc;
    char err[512];
    if (mysql_conf_load(conf, &mc, err, sizeof err) < 0) { msg_error("%s", err); return -1; }
    struct lastlogin_mysql *m = lastlogin_mysql_open(&mc, err, sizeof err);
    memset(&mc, 0, sizeof mc);
    if (!m) { msg_error("%s", err); return -1; }
    struct login_rows r;
    login_rows_init(&r);
    login_rows_from_logins(&r, l);
    int rc = 0;
    unsigned long changed = 0;
    for (size_t i = 0; i < r.n; i++) {
        int n = lastlogin_mysql_update(m, str_c(r.v[i].user), r.v[i].last, err, sizeof err);
        if (n < 0) { msg_error("%s", err); rc = -1; break; }
        changed += (unsigned long)n;
    }
    msg_debug("MySQL: %lu rows moved forward", changed);
    login_rows_free(&r);
    lastlogin_mysql_close(m);
    return rc;
}

/* One input into the database: watermarks, scan, one transaction. 0 done, 1 the input
 * could not be read (reported), -1 database error (reported). */
static int update_one(struct store *s, const struct scan_opts *so, const char *name,
                      const char *mysql_conf, bool verbose)
{
    char err[512];
    int rc = 0;
    struct logins *l = logins_new();
    if (store_logins_marks(s, l, err, sizeof err) < 0) { msg_error("%s", err); rc = -1; goto out; }
    struct scan_consumer cons = logins_consumer(l);
    struct scan_stats st;
    int r = scan_run(so, &cons, &st);
    scan_stats_free(&st);
    if (r < 0) { rc = 1; goto out; }
    if (logins_skipped(l))
        msg_warn("%s: %llu over-long or excess user names skipped", name, (unsigned long long)logins_skipped(l));
    struct store_apply_stats as;
    if (store_logins_apply(s, l, &as, err, sizeof err) < 0) { msg_error("%s", err); rc = -1; goto out; }
    if (verbose)
        fprintf(stderr, "logins: %s: %llu user/protocol rows, %llu new logins, %llu failure names"
                " (%llu old failure-only names pruned)\n", name, (unsigned long long)as.users,
                (unsigned long long)as.new_logins, (unsigned long long)as.fail_names,
                (unsigned long long)as.pruned);
    if (mysql_conf && mysql_push(mysql_conf, l) < 0) rc = -1;
out:
    logins_free(l);
    return rc;
}

/*
 * --update: each input (each member of a rotated family, oldest first) is scanned and
 * stored on its own, so the watermarks written after one input apply to the next: lines
 * that two inputs share (the same file given twice, overlapping copies) count once.
 * Returns 0, 1 when no input could be read, -1 on a database error.
 */
static int update_all(struct store *s, const struct scan_opts *so, const char *mysql_conf, bool verbose)
{
    if (so->journal) {
        int r = update_one(s, so, so->journal_path ? so->journal_path : "journal", mysql_conf, verbose);
        if (r > 0) msg_error("the journal could not be read");
        return r;
    }
    size_t nread = 0;
    for (size_t i = 0; i < so->npaths; i++) {
        char **members = NULL;
        size_t n = 1;
        char err[512];
        if (so->rotated && strcmp(so->paths[i], "-") != 0) {
            n = rotate_expand(so->paths[i], &members, err, sizeof err);
            if (n == 0) { msg_warn("%s", err); continue; }
        }
        for (size_t k = 0; k < n; k++) {
            struct scan_opts one = *so;
            one.paths = members ? &members[k] : &so->paths[i];
            one.npaths = 1;
            one.rotated = false;
            int r = update_one(s, &one, one.paths[0], mysql_conf, verbose);
            if (r < 0) { if (members) rotate_free(members, n); return -1; }
            if (r == 0) nread++;
        }
        if (members) rotate_free(members, n);
    }
    if (!nread) { msg_error("no input could be read"); return 1; }
    return 0;
}

static int run(int argc, char **argv)
{
    enum { O_UPDATE = OPT_COMMON_END + 1, O_INACTIVE, O_NEVER, O_USERS, O_MYSQL, O_DBOPT };
    static const struct option longopts[] = {
        { "update", no_argument, NULL, O_UPDATE },
        { "inactive", required_argument, NULL, O_INACTIVE },
        { "never", no_argument, NULL, O_NEVER },
        { "users", required_argument, NULL, O_USERS },
        { "db", required_argument, NULL, O_DBOPT },
        { "mysql", required_argument, NULL, O_MYSQL },
        { "verbose", no_argument, NULL, 'v' },
        CLI_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct cli_common co;
    cli_common_init(&co);
    bool update = false, never = false, verbose = false;
    int64_t inactive = 0;
    const char *users_path = NULL, *db = STORE_DEFAULT_PATH, *mysql_conf = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
        switch (c) {
        case O_UPDATE: update = true; break;
        case O_NEVER: never = true; break;
        case O_USERS: users_path = optarg; break;
        case O_DBOPT: db = optarg; break;
        case O_MYSQL: mysql_conf = optarg; break;
        case 'v': verbose = true; msg_set_verbose(1); break;
        case O_INACTIVE:
            if (mwtime_duration(str_c(optarg), false, &inactive) < 0 || inactive <= 0)
                return cli_usage_error("logins", "--inactive wants a duration like 90d, not '%s'", optarg);
            break;
        case '?':
            return cli_usage_error("logins", "unknown option");
        default: {
            int r = cli_common_opt(&co, c, optarg);
            if (r < 0) return EXIT_USAGE;
            if (r == 0) return cli_usage_error("logins", "unknown option");
        }
        }
    }
    int nlogs = argc - optind;
    if (never && !users_path)
        return cli_usage_error("logins", "--never needs --users (the accounts that exist)");
    if (mysql_conf && !update)
        return cli_usage_error("logins", "--mysql is only used with --update");
    if (users_path && !strcmp(users_path, "-"))
        for (int i = optind; i < argc; i++)
            if (!strcmp(argv[i], "-")) return cli_usage_error("logins", "--users - and LOG - both want stdin");
    bool report = !update || co.json || inactive || never || users_path;
    bool from_logs = !update && nlogs > 0;

    struct user_list ul;
    user_list_init(&ul);
    struct logins *l = NULL;
    struct store *s = NULL;
    struct login_rows rows;
    login_rows_init(&rows);
    int rc = EXIT_OK;
    char err[512];
    if (users_path && read_users(users_path, &ul) < 0) { rc = EXIT_FAIL; goto out; }

    if (update) {
        struct scan_opts so;
        if (cli_scan_opts(&co, nlogs, argv + optind, &so) < 0) { rc = EXIT_USAGE; goto out; }
        so.parse.kinds = logins_kinds();
        s = store_open(db, STORE_BUSY_DEFAULT_MS, 0, err, sizeof err);
        if (!s) { msg_error("%s", err); rc = EXIT_FAIL; goto out; }
        int r = update_all(s, &so, mysql_conf, verbose);
        if (r < 0) { rc = EXIT_FAIL; goto out; }
        if (r > 0) rc = EXIT_FAIL;
    } else if (from_logs) {
        struct scan_opts so;
        if (cli_scan_opts(&co, nlogs, argv + optind, &so) < 0) { rc = EXIT_USAGE; goto out; }
        so.parse.kinds = logins_kinds();
        l = logins_new();
        struct scan_consumer cons = logins_consumer(l);
        struct scan_stats st;
        int r = scan_run(&so, &cons, &st);
        scan_stats_free(&st);
        if (r < 0) { msg_error("no input could be read"); rc = EXIT_FAIL; goto out; }
        if (logins_skipped(l))
            msg_warn("%llu over-long or excess user names skipped", (unsigned long long)logins_skipped(l));
    }
    if (!report) goto out;

    if (from_logs) {
        login_rows_from_logins(&rows, l);
        if (users_path) login_rows_add_listed(&rows, &ul);
        login_rows_fails_from_logins(&rows, l);
    } else {
        if (!s) {
            if (access(db, F_OK) < 0) {
                msg_error("%s: %s (run 'mailwarden logins --update' first, or give LOG files)", db, strerror(errno));
                rc = EXIT_FAIL;
                goto out;
            }
            s = store_open(db, STORE_BUSY_DEFAULT_MS, STORE_RDONLY, err, sizeof err);
            if (!s) { msg_error("%s", err); rc = EXIT_FAIL; goto out; }
        }
        if (store_logins_rows(s, &rows, err, sizeof err) < 0) { msg_error("%s", err); rc = EXIT_FAIL; goto out; }
        if (users_path) login_rows_add_listed(&rows, &ul);
        if (store_logins_fails(s, &rows, err, sizeof err) < 0) { msg_error("%s", err); rc = EXIT_FAIL; goto out; }
    }
    if (timewin_finish(&co.tw) < 0) { rc = EXIT_USAGE; goto out; }
    struct login_filter f = { co.tw.now, inactive, never, users_path ? &ul : NULL };
    login_rows_finish(&rows, &f);
    if (co.json) logins_print_json(stdout, &rows, co.tw.now);
    else logins_print_text(stdout, &rows, co.tw.now);
    if (fflush(stdout) != 0) rc = EXIT_FAIL;
out:
    login_rows_free(&rows);
    user_list_free(&ul);
    logins_free(l);
    store_close(s);
    return rc;
}

const struct command cmd_logins = {
    "logins", run, "last login of every user, inactive and never-used accounts", usage,
};
