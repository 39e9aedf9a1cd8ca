/*
 * cmd_postlogin - `mailwarden postlogin`: Dovecot's post-login hook (script-login).
 *
 * Dovecot's script-login puts the login into the environment (USER, IP, LOCAL_IP and the
 * userdb fields), connects the client to our stdin/stdout, and runs
 *   mailwarden postlogin [OPTIONS] /usr/lib/dovecot/script-login
 * expecting us to exec the rest of our arguments (the next script or script-login itself)
 * with the same environment and file descriptors. So:
 *   - stdout is the client's connection: nothing is ever written to it;
 *   - messages go to stderr (Dovecot's log) and, with --syslog, to syslog;
 *   - whatever happens (bad options, missing USER, database locked, read-only or corrupt,
 *     MariaDB down) the login goes on: we log a warning and exec the next program. The
 *     database waits at most --busy-timeout (default 100 ms); a watchdog timer (--deadline,
 *     default 2000 ms) execs the next program from its signal handler if anything else
 *     hangs (a stuck file system, a MySQL server that accepts and never answers);
 *   - the only failure left is an exec that fails (a configuration error): exit 1.
 */
#include "cli/cli.h"
#include "guard/store.h"
#include "report/lastlogin_mysql.h"
#include "util/ipaddr.h"
#include "util/msg.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: mailwarden postlogin [--db PATH] [--no-db] [--busy-timeout MS] [--deadline MS]\n"
    "                            [--service NAME] [--mysql CONF] [--syslog] [PROGRAM [ARGS...]]\n"
    "\n"
    "Dovecot post-login hook: records the login in the environment ($USER, $IP, $LOCAL_IP)\n"
    "with the time and the service in the database, then execs PROGRAM ARGS (what Dovecot's\n"
    "script-login appended). Never fails or delays the login beyond the timeouts: problems\n"
    "are logged to stderr (Dovecot's log) and the program is executed anyway.\n"
    "\n"
    "  --db PATH           database (default " STORE_DEFAULT_PATH ")\n"
    "  --no-db             do not write the database (only --mysql)\n"
    "  --busy-timeout MS   wait at most MS for a locked database (default 100)\n"
    "  --deadline MS       exec PROGRAM after MS whatever is still pending (default 2000)\n"
    "  --service NAME      protocol to record: imap, pop3, ... (default: dovecot)\n"
    "  --mysql CONF        also set the last-login column of a MySQL/MariaDB table\n"
    "                      (see docs/logins.md for the file; it must be 0600/0640, root)\n"
    "  --syslog            log to syslog as well as to stderr\n"
    "\n"
    "Dovecot (conf.d/10-master.conf):\n"
    "  service imap { executable = imap imap-postlogin }\n"
    "  service imap-postlogin {\n"
    "    executable = script-login /usr/local/bin/mailwarden postlogin --service imap\n"
    "    user = root\n"
    "    unix_listener imap-postlogin { }\n"
    "  }\n"
    "Exit: only when PROGRAM cannot be executed (1), or 0 when there is no PROGRAM.\n";

static char **next_argv;   /* what we exec; set before the watchdog is armed */
static bool next_has_slash;

static void exec_next(void)
{
    if (next_has_slash) execv(next_argv[0], next_argv);
    else execvp(next_argv[0], next_argv);
}

static void watchdog(int sig)
{
    static const char m[] = "mailwarden postlogin: warning: deadline reached, login continues without recording\n";
    (void)sig;
    ssize_t w = write(STDERR_FILENO, m, sizeof m - 1);
    (void)w;
    /* the signal mask survives exec: the next program must not start with SIGALRM blocked
     * (SA_NODEFER already keeps it unblocked; this is belt and braces) */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    if (next_argv) exec_next();
    _exit(1);
}

static void arm(long ms)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog;
    sa.sa_flags = SA_NODEFER | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_usec = (ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &it, NULL);
}

/* Interval timers survive execve(): always disarm before exec'ing in the normal path. */
static void disarm(void)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    signal(SIGALRM, SIG_DFL);
}

static bool parse_ms(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

static bool service_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= LOGINS_PROTO_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

/* Record the login; every problem is a warning. */
static void record(const char *db, bool use_db, long busy, const char *service, const char *mysql_conf)
{
    const char *user = getenv("USER");
    const char *ip = getenv("IP"), *lip = getenv("LOCAL_IP");
    if (!user || !*user) {
        msg_warn("USER is not set: is this running under Dovecot's script-login? (nothing recorded)");
        return;
    }
    if (strlen(user) > LOGINS_USER_MAX) {
        msg_warn("user name longer than %d bytes: not recorded", LOGINS_USER_MAX);
        return;
    }
    /* addresses are stored in canonical form, or not at all */
    struct ipaddr a, la;
    char ipc[IPADDR_STRLEN] = "", lipc[IPADDR_STRLEN] = "";
    if (ip && *ip && ipaddr_parse_c(ip, &a) == 0) ipaddr_format(&a, ipc, sizeof ipc);
    if (lip && *lip && ipaddr_parse_c(lip, &la) == 0) ipaddr_format(&la, lipc, sizeof lipc);
    struct store_login e = { user, service, ipc, lipc, (int64_t)time(NULL) };
    char err[512];
    if (use_db) {
        struct store *s = store_open(db, (int)busy, 0, err, sizeof err);
        if (!s) {
            msg_warn("login of %s not recorded: %s", user, err);
        } else {
            if (store_login_record(s, &e, err, sizeof err) < 0)
                msg_warn("login of %s not recorded%s: %s", user,
                         store_is_busy(s) ? " (database locked)" : "", err);
            store_close(s);
        }
    }
    if (mysql_conf) {
        struct mysql_conf mc;
        struct lastlogin_mysql *m = NULL;
        if (mysql_conf_load(mysql_conf, &mc, err, sizeof err) < 0 ||
            !(m = lastlogin_mysql_open(&mc, err, sizeof err)) ||
            lastlogin_mysql_update(m, str_c(user), e.t, err, sizeof err) < 0)
            msg_warn("last login of %s not written to MySQL: %s", user, err);
        lastlogin_mysql_close(m);
        memset(&mc, 0, sizeof mc);
    }
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "db", required_argument, NULL, 'd' },
        { "no-db", no_argument, NULL, 'n' },
        { "busy-timeout", required_argument, NULL, 'b' },
        { "deadline", required_argument, NULL, 'D' },
        { "service", required_argument, NULL, 's' },
        { "mysql", required_argument, NULL, 'm' },
        { "syslog", no_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    const char *db = STORE_DEFAULT_PATH, *service = "dovecot", *mysql_conf = NULL;
    long busy = 100, deadline = 2000;
    bool use_db = true, bad = false;
    int c;
    msg_set_progname("mailwarden postlogin");
    optind = 1;
    opterr = 0;
    /* '+': stop at the first non-option, the program to exec and its own arguments */
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'n': use_db = false; break;
        case 'b':
            if (!parse_ms(optarg, 0, 60000, &busy)) { msg_error("--busy-timeout wants 0..60000 ms"); bad = true; }
            break;
        case 'D':
            if (!parse_ms(optarg, 10, 600000, &deadline)) { msg_error("--deadline wants 10..600000 ms"); bad = true; }
            break;
        case 's':
            if (!service_ok(optarg)) { msg_error("--service wants a short lower-case name"); bad = true; }
            else service = optarg;
            break;
        case 'm': mysql_conf = optarg; break;
        case 'S': msg_set_syslog(true); break;
        default:
            msg_error("unknown option or missing value (%s)", argv[optind - 1]);
            bad = true;
        }
    }
    if (optind < argc) {
        next_argv = argv + optind;
        next_has_slash = strchr(next_argv[0], '/') != NULL;
    }
    if (bad) {
        msg_warn("bad options: login not recorded");
    } else {
        arm(deadline);
        record(db, use_db, busy, service, mysql_conf);
        disarm();
    }
    if (!next_argv) return bad ? EXIT_USAGE : EXIT_OK;
    exec_next();
    msg_error("cannot execute %s: %s", next_argv[0], strerror(errno));
    return EXIT_FAIL;
}

const struct command cmd_postlogin = {
    "postlogin", run, "Dovecot post-login hook: record the login, exec the next program", usage,
};
