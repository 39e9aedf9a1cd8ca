/*
 * cmd_simulate - `mailwarden simulate`: replay logs through the configured jails by the
 * logs' own timestamps and print the bans that would have happened; and `mailwarden
 * explain`: how one line is parsed and what each jail would make of it.
 */
#include "cli/cli.h"
#include "guard/bandb.h"
#include "guard/core.h"
#include "guard/jailconf.h"
#include "guard/jfollow.h"
#include "parse/journal.h"
#include "util/buf.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/msg.h"
#include "util/reader.h"
#include "util/timeparse.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sim {
    bool json;
    struct hmap hist;           /* (jail id, cidr) -> uint32 bans made in this replay */
    struct hmap hist_all;       /* cidr -> uint32 */
    struct bandb *db;
    uint64_t bans;
};

struct hkey {
    uint16_t jail;
    uint8_t fam, prefix;
    uint8_t b[16];
};

static struct hkey hk(int jail, const struct cidr *t)
{
    struct hkey k;
    memset(&k, 0, sizeof k);
    k.jail = (uint16_t)jail;
    k.fam = t->addr.family;
    k.prefix = t->prefix;
    memcpy(k.b, t->addr.b, 16);
    return k;
}

static long sim_history(void *ud, const struct gjail *j, const struct cidr *t, bool overall)
{
    struct sim *s = ud;
    struct hkey k = hk(overall ? 0xffff : j->id, t);
    uint32_t *n = hmap_get(overall ? &s->hist_all : &s->hist, (struct str){ (const char *)&k, sizeof k });
    long prev = n ? (long)*n : 0;
    if (s->db) {
        long d = bandb_ban_count(s->db, overall ? NULL : j->c->name, t, 0);
        if (d > 0) prev += d;
    }
    return prev;
}

static void sim_ban(void *ud, struct gjail *j, const struct ban *b)
{
    struct sim *s = ud;
    struct hkey k = hk(j->id, &b->target);
    (*(uint32_t *)hmap_put(&s->hist, (struct str){ (const char *)&k, sizeof k }, NULL))++;
    k = hk(0xffff, &b->target);
    (*(uint32_t *)hmap_put(&s->hist_all, (struct str){ (const char *)&k, sizeof k }, NULL))++;
    s->bans++;
    char ip[IPADDR_STRLEN + 8];
    if (b->target.prefix == (b->target.addr.family == 4 ? 32 : 128)) ipaddr_format(&b->target.addr, ip, sizeof ip);
    else cidr_format(&b->target, ip, sizeof ip);
    if (s->json) {
        struct jw w;
        jw_init(&w, stdout, false);
        jw_obj(&w);
        jw_key(&w, "time"); jw_int(&w, b->start);
        jw_key(&w, "jail"); jw_cstr(&w, j->c->name);
        jw_key(&w, "ip"); jw_cstr(&w, ip);
        jw_key(&w, "bantime"); jw_int(&w, b->bantime);
        jw_key(&w, "failures"); jw_uint(&w, b->failures);
        if (b->nmembers) {
            /* a prefix ban: the member bans that caused it */
            jw_key(&w, "members");
            jw_arr(&w);
            for (size_t i = 0; i < b->nmembers; i++) {
                const struct cidr *m = &b->members[i];
                if (m->prefix == (m->addr.family == 4 ? 32 : 128)) ipaddr_format(&m->addr, ip, sizeof ip);
                else cidr_format(m, ip, sizeof ip);
                jw_cstr(&w, ip);
            }
            jw_arr_end(&w);
        }
        jw_obj_end(&w);
        jw_end(&w);
    } else {
        char ts[64];
        mwtime_rfc3339(b->start, -1, ts, sizeof ts);
        printf("%s %s %s %lld %u\n", ts, j->c->name, ip, (long long)b->bantime, b->failures);
    }
}

/* ---- the journal: jails with backend = systemd, each reader with its jails' matches ---- */

struct jrep {
    struct jsource *src;
    char *key;
    int jails[64];
    size_t njails;
    struct buf line;            /* the reader's next entry, copied */
    uint64_t usec;
    bool have;
};

static void jrep_next(struct jrep *r)
{
    char err[512];
    struct str line;
    int k = journal_next(r->src, &line, err, sizeof err);
    if (k < 0) msg_warn("%s", err);
    r->have = k == 1;
    if (!r->have) return;
    buf_reset(&r->line);
    buf_putstr(&r->line, line);
    r->usec = journal_usec(r->src);
}

/* Replay the journal (path, or each jail's own journal when NULL) through the journal jails
 * (sel: --jail), entries of all readers merged by time. -1 when nothing could be read. */
static int replay_journal(struct core *core, const char *path, const int *sel, size_t nsel, int64_t ref)
{
    struct jrep *rd = NULL;
    size_t nr = 0;
    int rc = 0;
    for (size_t i = 0; i < core_njails(core); i++) {
        struct gjail *j = core_jail(core, i);
        if (!j->c->journal) continue;
        bool want = !nsel;
        for (size_t k = 0; k < nsel; k++) want |= sel[k] == j->id;
        if (!want) continue;
        const char *jp = path ? path : j->c->journal_path;
        char *key = jfollow_key(jp, j->c->jmatch);
        size_t r;
        for (r = 0; r < nr; r++)
            if (!strcmp(rd[r].key, key)) break;
        if (r == nr) {
            char err[512];
            struct jsource *s = journal_open(jp, (const char *const *)j->c->jmatch, INT64_MIN, err, sizeof err);
            if (!s) {
                msg_error("[%s] %s", j->c->name, err);
                free(key);
                rc = -1;
                continue;
            }
            rd = xrealloc(rd, (nr + 1) * sizeof *rd);
            memset(&rd[nr], 0, sizeof *rd);
            rd[nr].src = s;
            rd[nr].key = key;
            rd[nr].line = BUF_INIT(1 << 20);
            nr++;
        } else {
            free(key);
        }
        if (rd[r].njails < 64) rd[r].jails[rd[r].njails++] = j->id;
    }
    if (!nr) {
        if (rc == 0) msg_error("no enabled jail has backend = systemd: the journal has nothing to replay");
        free(rd);
        return -1;
    }
    for (size_t r = 0; r < nr; r++) jrep_next(&rd[r]);
    for (;;) {
        struct jrep *best = NULL;
        for (size_t r = 0; r < nr; r++)
            if (rd[r].have && (!best || rd[r].usec < best->usec)) best = &rd[r];
        if (!best) break;
        core_line_replay(core, best->jails, best->njails, buf_str(&best->line), ref);
        jrep_next(best);
    }
    for (size_t r = 0; r < nr; r++) {
        journal_close(rd[r].src);
        free(rd[r].key);
        buf_free(&rd[r].line);
    }
    free(rd);
    return rc;
}

static int run_simulate(int argc, char **argv)
{
    const char *dir = GUARD_DEFAULT_DIR, *f2b = NULL, *dbpath = NULL;
    const char *jails[64];
    size_t njails = 0;
    struct sim s;
    memset(&s, 0, sizeof s);
    int64_t ref = 0;
    const char *jfile = NULL;
    bool journal = false;
    enum { O_JAIL = 0x2000, O_DB, O_JSON, O_COMPAT, O_NOW, O_JOURNAL, O_JFILE };
    static const struct option lo[] = {
        { "journal", no_argument, NULL, O_JOURNAL },
        { "journal-file", required_argument, NULL, O_JFILE },
        { "now", required_argument, NULL, O_NOW },
        { "config", required_argument, NULL, 'c' },
        { "jail", required_argument, NULL, O_JAIL },
        { "db", required_argument, NULL, O_DB },
        { "json", no_argument, NULL, O_JSON },
        { "fail2ban-compat", required_argument, NULL, O_COMPAT },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", lo, NULL)) != -1) {
        switch (c) {
        case 'c': dir = optarg; break;
        case O_JAIL:
            if (njails == 64) return cli_usage_error("simulate", "too many --jail");
            jails[njails++] = optarg;
            break;
        case O_DB: dbpath = optarg; break;
        case O_JSON: s.json = true; break;
        case O_COMPAT: f2b = optarg; break;
        case O_JOURNAL: journal = true; break;
        case O_JFILE: jfile = optarg; journal = true; break;
        case O_NOW: {
            char e[256];
            if (mwtime_parse(optarg, (int64_t)time(NULL), &ref, e, sizeof e) < 0)
                return cli_usage_error("simulate", "--now %s: %s", optarg, e);
            break;
        }
        default: return cli_usage_error("simulate", "unknown option");
        }
    }
    if (journal && optind < argc)
        return cli_usage_error("simulate", "give LOG files or --journal/--journal-file, not both");
    if (!journal && optind >= argc) return cli_usage_error("simulate", "no log file given");
    char err[1024];
    struct guard_conf *gc = guard_conf_load(dir, f2b, err, sizeof err);
    if (!gc) {
        msg_error("configuration: %s", err);
        return EXIT_USAGE;
    }
    hmap_init(&s.hist, sizeof(uint32_t));
    hmap_init(&s.hist_all, sizeof(uint32_t));
    if (dbpath) {
        s.db = bandb_open(dbpath, err, sizeof err);
        if (!s.db) {
            msg_error("%s", err);
            guard_conf_free(gc);
            return EXIT_FAIL;
        }
    }
    struct core_cb cb = { .ud = &s, .on_ban = sim_ban, .history = sim_history };   /* recidive counts in memory */
    struct core *core = core_new(gc, &cb, err, sizeof err);
    int rc = EXIT_OK;
    if (!core) {
        msg_error("configuration: %s", err);
        rc = EXIT_USAGE;
        goto out;
    }
    int sel[64];
    for (size_t i = 0; i < njails; i++) {
        struct gjail *j = core_jail_by_name(core, jails[i]);
        if (!j) {
            msg_error("--jail %s: no such enabled jail", jails[i]);
            rc = EXIT_USAGE;
            goto out;
        }
        sel[i] = j->id;
    }
    if (journal) {
        if (replay_journal(core, jfile, sel, njails, ref ? ref : (int64_t)time(NULL)) < 0) rc = EXIT_FAIL;
        goto out;
    }
    size_t readable = 0;
    for (int i = optind; i < argc; i++) {
        struct reader *r = reader_open(argv[i], err, sizeof err);
        if (!r) {
            msg_warn("%s", err);
            continue;
        }
        readable++;
        int64_t fref = ref ? ref : (int64_t)reader_mtime(r);
        struct str line;
        int k;
        while ((k = reader_next(r, &line)) == 1) core_line_replay(core, njails ? sel : NULL, njails, line, fref);
        if (k < 0) msg_warn("%s", reader_error(r));
        reader_close(r);
    }
    if (!readable) rc = EXIT_FAIL;
out:
    core_free(core);
    bandb_close(s.db);
    hmap_free(&s.hist);
    hmap_free(&s.hist_all);
    guard_conf_free(gc);
    return rc;
}

const struct command cmd_simulate = {
    "simulate", run_simulate, "guard: which bans would this config have made on these logs?",
    "usage: mailwarden simulate [-c DIR] [--jail J]... [--json] [--db PATH] [--now T]\n"
    "                           [--fail2ban-compat F2BDIR] LOG... | --journal | --journal-file PATH\n"
    "\n"
    "Replays the logs through the configured jails (every jail sees every line; --jail\n"
    "restricts) by the logs' own timestamps, with bantime.increment applied, and prints\n"
    "one line per ban:  TIME JAIL IP BANTIME FAILURES  (bantime -1: permanent).\n"
    "--json: JSON lines {\"time\": EPOCH, \"jail\": J, \"ip\": IP, \"bantime\": S, \"failures\": N}.\n"
    "A prefix ban (prefix.escalate) is a line whose IP is the network (203.0.113.0/24) and\n"
    "whose FAILURES is the number of member bans that caused it (JSON: also \"members\"); a\n"
    "recidive ban's FAILURES is the number of bans in the other jails.\n"
    "State starts empty and in memory; --db PATH takes earlier bans (for bantime.increment)\n"
    "from that database (read only). --now T: the reference time for year-less syslog\n"
    "stamps (default: each file's modification time).\n"
    "--journal: replay the journal instead, through the jails with backend = systemd, each with\n"
    "its journalmatch (their journal_path, else the system journal); --journal-file PATH: the\n"
    "journal file or directory PATH for all of them. Entries of all jails are merged by time.\n",
};

/* ---- explain ---- */

static int run_explain(int argc, char **argv)
{
    const char *dir = GUARD_DEFAULT_DIR, *f2b = NULL;
    enum { O_COMPAT = 0x2000 };
    static const struct option lo[] = {
        { "config", required_argument, NULL, 'c' },
        { "fail2ban-compat", required_argument, NULL, O_COMPAT },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:", lo, NULL)) != -1) {
        switch (c) {
        case 'c': dir = optarg; break;
        case O_COMPAT: f2b = optarg; break;
        default: return cli_usage_error("explain", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("explain", "give one log line (quoted)");
    char err[1024];
    struct guard_conf *gc = guard_conf_load(dir, f2b, err, sizeof err);
    struct guard_conf fallback;
    struct jail_conf fj[3];
    if (!gc) {
        fprintf(stderr, "mailwarden explain: %s; showing the built-in filters with default settings\n", err);
        memset(&fallback, 0, sizeof fallback);
        memset(fj, 0, sizeof fj);
        static const char *const names[3][2] = {
            { "postfix", "mailwarden-postfix" }, { "dovecot", "mailwarden-dovecot" }, { "sshd", "mailwarden-sshd" } };
        for (int i = 0; i < 3; i++) {
            fj[i].name = (char *)names[i][0];
            fj[i].filter = fj[i].filter_spec = (char *)names[i][1];
            fj[i].maxretry = 5;
            fj[i].findtime = 600;
            fj[i].bt.bantime = 3600;
        }
        fallback.jails = fj;
        fallback.njails = 3;
        fallback.dir = (char *)dir;
    }
    struct core *core = core_new(gc ? gc : &fallback, NULL, err, sizeof err);
    if (!core) {
        msg_error("configuration: %s", err);
        guard_conf_free(gc);
        return EXIT_USAGE;
    }
    core_explain(core, str_c(argv[optind]), (int64_t)time(NULL), stdout);
    core_free(core);
    guard_conf_free(gc);
    return EXIT_OK;
}

const struct command cmd_explain = {
    "explain", run_explain, "guard: how a log line is parsed and which jail would count it",
    "usage: mailwarden explain [-c DIR] [--fail2ban-compat F2BDIR] 'LOG LINE'\n"
    "\n"
    "Prints the syslog envelope, the parser and event kind, the fields it extracted (the\n"
    "host only from its structural slot), and for each enabled jail whether its filter\n"
    "counts the line, for which host, or why not (not a failure, ignoreip, ...).\n",
};
