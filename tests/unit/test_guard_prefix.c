/* Unit tests for prefix escalation, per-prefix IPv6 counting and recidive in the
 * ban-decision layer (guard/core.c, guard/prefix.c), deterministic: every failure is fed with
 * its own time through core_failure / core_ban, no clock, no log. The callbacks record
 * each ban and unban as a line of text that the tests compare. */
#include "check.h"
#include "guard/core.h"
#include "guard/prefix.h"
#include "util/buf.h"
#include <stdlib.h>

static struct buf rec = BUF_INIT(1 << 20);
static long recent_answer = -1;     /* what the `recent` callback says (-1: unknown) */

static void fmt(const struct cidr *t, char *b, size_t cap)
{
    if (t->prefix == (t->addr.family == 4 ? 32 : 128)) ipaddr_format(&t->addr, b, cap);
    else cidr_format(t, b, cap);
}

static void on_ban(void *ud, struct gjail *j, const struct ban *b)
{
    char t[IPADDR_STRLEN + 8];
    fmt(&b->target, t, sizeof t);
    buf_printf(&rec, "ban %s %s %lld %u", j->c->name, t, (long long)b->bantime, b->failures);
    for (size_t i = 0; i < b->nmembers; i++) {
        fmt(&b->members[i], t, sizeof t);
        buf_printf(&rec, "%s%s", i ? "," : " [", t);
    }
    if (b->nmembers) buf_putc(&rec, ']');
    buf_putc(&rec, '\n');
}

static void on_unban(void *ud, struct gjail *j, const struct ban *b, const char *how)
{
    char t[IPADDR_STRLEN + 8];
    fmt(&b->target, t, sizeof t);
    buf_printf(&rec, "unban %s %s %s\n", j->c->name, t, how);
}

static long recent(void *ud, const struct gjail *j, const struct cidr *t, int64_t since)
{
    return recent_answer;
}

static char *take(void)
{
    char *s = strdup(buf_cstr(&rec));
    buf_reset(&rec);
    return s;
}

#define CHECK_REC(want) do { char *g_ = take(); CHECK_STR(g_, want); free(g_); } while (0)

static struct ipaddr IP(const char *s)
{
    struct ipaddr a;
    if (ipaddr_parse_c(s, &a) < 0) memset(&a, 0, sizeof a);
    return a;
}

static struct cidr C(const char *s)
{
    struct cidr c;
    if (cidr_parse(str_c(s), &c) < 0) memset(&c, 0, sizeof c);
    return c;
}

/* A configuration of up to 3 jails; jail 0 "sshd" (maxretry 1, bantime 1h, prefix
 * escalation 3 in 1h on /24 and /48), jail 1 "postfix" (the same without escalation),
 * jail 2 "recidive" (maxretry 3 in 1d, bantime 1w). */
struct setup {
    struct jail_conf jc[3];
    struct guard_conf gc;
    struct core *core;
};

/* The configuration; adjust s->jc, then setup_go(). */
static void setup_init(struct setup *s, size_t njails)
{
    memset(s, 0, sizeof *s);
    static const char *const names[3] = { "sshd", "postfix", "recidive" };
    for (size_t i = 0; i < 3; i++) {
        struct jail_conf *j = &s->jc[i];
        j->name = (char *)names[i];
        j->filter = j->filter_spec = i == 2 ? (char *)JAIL_RECIDIVE_FILTER : (char *)"mailwarden-sshd";
        j->maxretry = i == 2 ? 3 : 1;
        j->findtime = i == 2 ? 86400 : 600;
        j->bt.bantime = i == 2 ? 604800 : 3600;
        j->recidive = i == 2;
        j->pfx = (struct prefix_conf){ i == 0, 24, 48, 3, 3600, false, 0 };
    }
    s->gc.jails = s->jc;
    s->gc.njails = njails;
    s->gc.dir = (char *)"/nonexistent";
}

static void setup_go(struct setup *s, bool with_recent)
{
    struct core_cb cb = { .on_ban = on_ban, .on_unban = on_unban, .recent = with_recent ? recent : NULL };
    char err[256];
    s->core = core_new(&s->gc, &cb, err, sizeof err);
    if (!s->core) fprintf(stderr, "core_new: %s\n", err);
    buf_reset(&rec);
}

static void setup_free(struct setup *s)
{
    core_free(s->core);
    for (size_t i = 0; i < 3; i++) cidrset_free(s->jc[i].ignore);
}

static bool fail(struct setup *s, int jail, const char *ip, int64_t t)
{
    struct ipaddr a = IP(ip);
    return core_failure(s->core, core_jail(s->core, (size_t)jail), &a, t, 1, t);
}

static void t_escalates(void)
{
    struct setup s;
    setup_init(&s, 1);
    setup_go(&s, false);
    CHECK(fail(&s, 0, "203.0.113.5", 1000));
    CHECK(fail(&s, 0, "203.0.113.7", 1100));
    CHECK_REC("ban sshd 203.0.113.5 3600 1\nban sshd 203.0.113.7 3600 1\n");
    CHECK(fail(&s, 0, "203.0.113.9", 1200));
    /* the network's ban takes the members over and lasts as long as the longest of them */
    CHECK_REC("ban sshd 203.0.113.9 3600 1\n"
              "unban sshd 203.0.113.5 prefix\nunban sshd 203.0.113.7 prefix\nunban sshd 203.0.113.9 prefix\n"
              "ban sshd 203.0.113.0/24 3600 3 [203.0.113.5,203.0.113.7,203.0.113.9]\n");
    CHECK_INT(bans_count(core_bans(s.core)), 1);
    /* another member is covered: no ban, not even counted */
    CHECK(!fail(&s, 0, "203.0.113.11", 1300));
    CHECK_REC("");
    const struct ban *b = core_ban(s.core, core_jail(s.core, 0), &(struct cidr){ IP("203.0.113.12"), 32 }, 1300, 0);
    CHECK(b != NULL && b->target.prefix == 24);
    CHECK_REC("");
    /* another network is separate */
    CHECK(fail(&s, 0, "203.0.114.5", 1300));
    CHECK_REC("ban sshd 203.0.114.5 3600 1\n");
    /* unban of the network lifts it; its members were merged into it */
    struct cidr P = C("203.0.113.0/24");
    CHECK_INT(core_unban(s.core, NULL, &P, "unban"), 1);
    CHECK_REC("unban sshd 203.0.113.0/24 unban\n");
    /* the network's ban lasts as long as its longest member (here until 1200 + 3600) */
    setup_free(&s);
}

static void t_bantime_covers_members(void)
{
    struct setup s;
    setup_init(&s, 1);
    s.jc[0].pfx.bantime_set = true;
    s.jc[0].pfx.bantime = 60;
    setup_go(&s, false);
    fail(&s, 0, "198.51.100.1", 1000);
    fail(&s, 0, "198.51.100.2", 1500);
    fail(&s, 0, "198.51.100.3", 2000);
    const struct ban *b = bans_find(core_bans(s.core), 0, &(struct cidr[]){ C("198.51.100.0/24") }[0]);
    CHECK(b != NULL);
    if (b) CHECK_INT(b->end, 2000 + 3600);      /* not 2000 + 60: .3's ban lasted that long */
    /* expiry at that time, not before */
    core_expire(s.core, 2000 + 3599);
    CHECK_INT(bans_count(core_bans(s.core)), 1);
    core_expire(s.core, 2000 + 3600);
    CHECK_INT(bans_count(core_bans(s.core)), 0);
    setup_free(&s);
    /* permanent member: the network's ban is permanent */
    setup_init(&s, 1);
    s.jc[0].bt.bantime = -1;
    s.jc[0].pfx.bantime_set = true;
    s.jc[0].pfx.bantime = 60;
    setup_go(&s, false);
    fail(&s, 0, "198.51.100.1", 1000);
    fail(&s, 0, "198.51.100.2", 1500);
    fail(&s, 0, "198.51.100.3", 2000);
    b = bans_find(core_bans(s.core), 0, &(struct cidr[]){ C("198.51.100.0/24") }[0]);
    CHECK(b != NULL && b->bantime == -1 && b->end == BAN_PERMANENT);
    setup_free(&s);
}

static void t_window_and_distinct(void)
{
    struct setup s;
    setup_init(&s, 1);
    setup_go(&s, false);
    /* three members, but not within one hour */
    fail(&s, 0, "192.0.2.1", 1000);
    fail(&s, 0, "192.0.2.2", 3000);
    core_expire(s.core, 4700);
    fail(&s, 0, "192.0.2.3", 4700);
    CHECK_INT(bans_count(core_bans(s.core)), 2);
    char *g = take();
    CHECK(strstr(g, "/24") == NULL);
    free(g);
    /* .2 and .3 are within the hour: one more distinct member escalates */
    fail(&s, 0, "192.0.2.4", 4800);
    CHECK(bans_find(core_bans(s.core), 0, &(struct cidr[]){ C("192.0.2.0/24") }[0]) != NULL);
    g = take();
    CHECK(strstr(g, "ban sshd 192.0.2.0/24 3600 3 [192.0.2.2,192.0.2.3,192.0.2.4]\n") != NULL);
    free(g);
    setup_free(&s);
    /* one address banned three times is one member */
    setup_init(&s, 1);
    s.jc[0].bt.bantime = 10;
    setup_go(&s, false);
    for (int i = 0; i < 3; i++) {
        core_expire(s.core, 1000 + i * 100);
        CHECK(fail(&s, 0, "192.0.2.1", 1000 + i * 100));
    }
    CHECK_INT(bans_count(core_bans(s.core)), 1);
    g = take();
    CHECK(strstr(g, "/24") == NULL);
    free(g);
    setup_free(&s);
}

static void t_ignored_inside(void)
{
    struct setup s;
    setup_init(&s, 1);
    s.jc[0].ignore = cidrset_new();
    struct cidr ig = C("192.0.2.250");
    cidrset_add(s.jc[0].ignore, &ig);
    setup_go(&s, false);
    fail(&s, 0, "192.0.2.1", 1000);
    fail(&s, 0, "192.0.2.2", 1001);
    fail(&s, 0, "192.0.2.3", 1002);
    CHECK_INT(bans_count(core_bans(s.core)), 3);        /* the network holds an ignored address */
    CHECK(!fail(&s, 0, "192.0.2.250", 1003));
    setup_free(&s);
}

static void t_ipv6(void)
{
    struct setup s;
    /* per address by default: two addresses of one /64 are two hosts */
    setup_init(&s, 1);
    s.jc[0].maxretry = 2;
    setup_go(&s, false);
    CHECK(!fail(&s, 0, "2001:db8:1:2::1", 1000));
    CHECK(!fail(&s, 0, "2001:db8:1:2::2", 1001));
    CHECK_REC("");
    setup_free(&s);
    /* ipv6_prefix = 64: they count together and the /64 is banned; IPv4 is not affected */
    setup_init(&s, 1);
    s.jc[0].maxretry = 2;
    s.jc[0].ipv6_prefix = 64;
    setup_go(&s, false);
    CHECK(!fail(&s, 0, "2001:db8:1:2::1", 1000));
    CHECK(fail(&s, 0, "2001:db8:1:2:ffff::2", 1001));
    CHECK(!fail(&s, 0, "2001:db8:1:2::3", 1002));      /* the /64 is banned already */
    CHECK(!fail(&s, 0, "192.0.2.1", 1003));
    CHECK(!fail(&s, 0, "192.0.2.2", 1003));
    CHECK_REC("ban sshd 2001:db8:1:2::/64 3600 2\n");
    /* three /64s of one /48 escalate to the /48 */
    fail(&s, 0, "2001:db8:1:3::1", 1010);
    fail(&s, 0, "2001:db8:1:3::2", 1010);
    fail(&s, 0, "2001:db8:1:4::1", 1020);
    fail(&s, 0, "2001:db8:1:4::2", 1020);
    CHECK_REC("ban sshd 2001:db8:1:3::/64 3600 2\nban sshd 2001:db8:1:4::/64 3600 2\n"
              "unban sshd 2001:db8:1:2::/64 prefix\nunban sshd 2001:db8:1:3::/64 prefix\n"
              "unban sshd 2001:db8:1:4::/64 prefix\n"
              "ban sshd 2001:db8:1::/48 3600 3 [2001:db8:1:2::/64,2001:db8:1:3::/64,2001:db8:1:4::/64]\n");
    struct cidr t = core_fail_target(core_jail(s.core, 0), &(struct ipaddr[]){ IP("2001:db8:9::5") }[0]);
    CHECK_INT(t.prefix, 64);
    setup_free(&s);
}

static void t_manual_cidr_takes_over(void)
{
    struct setup s;
    setup_init(&s, 2);
    setup_go(&s, false);
    /* postfix has no escalation: a network banned by hand still takes over its hosts */
    fail(&s, 1, "198.51.100.7", 1000);
    fail(&s, 1, "198.51.100.200", 1000);
    fail(&s, 1, "198.51.101.1", 1000);
    fail(&s, 0, "198.51.100.8", 1000);                 /* another jail: untouched */
    buf_reset(&rec);
    struct cidr n = C("198.51.100.0/25");
    const struct ban *b = core_ban(s.core, core_jail(s.core, 1), &n, 1100, 0);
    CHECK(b != NULL);
    CHECK_REC("unban postfix 198.51.100.7 prefix\nban postfix 198.51.100.0/25 3600 0\n");
    CHECK_INT(bans_count(core_bans(s.core)), 4);
    /* a host inside is covered now */
    CHECK(!fail(&s, 1, "198.51.100.9", 1200));
    CHECK_REC("");
    setup_free(&s);
}

static void t_recidive_memory(void)
{
    struct setup s;
    setup_init(&s, 3);
    s.jc[0].pfx.on = false;
    setup_go(&s, false);
    /* bans in sshd and postfix count; after the third within a day: one week on recidive */
    CHECK(fail(&s, 0, "192.0.2.77", 1000));
    CHECK(fail(&s, 1, "192.0.2.77", 1500));
    CHECK_REC("ban sshd 192.0.2.77 3600 1\nban postfix 192.0.2.77 3600 1\n");
    core_expire(s.core, 1000 + 3600);
    buf_reset(&rec);
    CHECK(fail(&s, 0, "192.0.2.77", 5000));
    CHECK_REC("ban sshd 192.0.2.77 3600 1\nban recidive 192.0.2.77 604800 3\n");
    CHECK_INT(core_jail(s.core, 2)->total_failed, 3);
    /* the recidive jail's own bans do not count; a ban outside findtime does not either */
    core_expire(s.core, 5000 + 3600);
    buf_reset(&rec);
    CHECK(fail(&s, 1, "192.0.2.88", 10000));
    core_expire(s.core, 10000 + 3600);
    CHECK(fail(&s, 1, "192.0.2.88", 10000 + 90000));
    core_expire(s.core, 10000 + 90000 + 3600);
    CHECK(fail(&s, 1, "192.0.2.88", 10000 + 100000));
    char *g = take();
    CHECK(strstr(g, "recidive") == NULL);
    free(g);
    setup_free(&s);
}

static void t_recidive_history(void)
{
    struct setup s;
    setup_init(&s, 3);
    s.jc[0].pfx.on = false;
    setup_go(&s, true);
    /* the history (the database in the daemon) decides, not the in-memory count */
    recent_answer = 2;
    CHECK(fail(&s, 0, "192.0.2.90", 1000));
    CHECK_REC("ban sshd 192.0.2.90 3600 1\n");
    recent_answer = 5;
    CHECK(fail(&s, 1, "192.0.2.91", 1000));
    CHECK_REC("ban postfix 192.0.2.91 3600 1\nban recidive 192.0.2.91 604800 5\n");
    /* ignored addresses of the recidive jail are not banned there */
    s.jc[2].ignore = cidrset_new();
    struct cidr ig = C("192.0.2.92");
    cidrset_add(s.jc[2].ignore, &ig);
    CHECK(fail(&s, 1, "192.0.2.92", 1000));
    CHECK_REC("ban postfix 192.0.2.92 3600 1\n");
    recent_answer = -1;
    setup_free(&s);
}

static void t_restore(void)
{
    struct setup s;
    setup_init(&s, 1);
    setup_go(&s, false);
    /* two members restored (a restart): a third new one within the window escalates */
    struct cidr m1 = C("203.0.113.1"), m2 = C("203.0.113.2");
    core_restore(s.core, core_jail(s.core, 0), &m1, 1000, 3600, 1, 0, NULL, 0);
    core_restore(s.core, core_jail(s.core, 0), &m2, 1100, 3600, 1, 0, NULL, 0);
    CHECK_REC("");
    fail(&s, 0, "203.0.113.3", 1200);
    CHECK_REC("ban sshd 203.0.113.3 3600 1\nunban sshd 203.0.113.1 prefix\nunban sshd 203.0.113.2 prefix\n"
              "unban sshd 203.0.113.3 prefix\n"
              "ban sshd 203.0.113.0/24 3600 3 [203.0.113.1,203.0.113.2,203.0.113.3]\n");
    setup_free(&s);
    /* a prefix ban restored with its members covers new failures */
    setup_init(&s, 1);
    setup_go(&s, false);
    struct cidr P = C("203.0.113.0/24"), mem[2] = { C("203.0.113.1"), C("203.0.113.2") };
    core_restore(s.core, core_jail(s.core, 0), &P, 1000, 3600, 3, 0, mem, 2);
    const struct ban *b = bans_find(core_bans(s.core), 0, &P);
    CHECK(b != NULL && b->nmembers == 2);
    CHECK(!fail(&s, 0, "203.0.113.50", 1100));
    CHECK_REC("");
    setup_free(&s);
}

static void t_sweep(void)
{
    struct pfxtab p;
    pfx_init(&p);
    struct cidr out[PFX_MAXNEED], a = C("192.0.2.1"), b = C("192.0.2.2"), c = C("198.51.100.1");
    CHECK_INT(pfx_member_ban(&p, 0, &a, 24, 3, 100, 60, out, PFX_MAXNEED), 1);
    CHECK_INT(pfx_member_ban(&p, 0, &b, 24, 3, 130, 60, out, PFX_MAXNEED), 2);
    CHECK_INT(pfx_member_ban(&p, 1, &c, 24, 3, 130, 60, out, PFX_MAXNEED), 1);
    CHECK_INT(pfx_member_ban(&p, 0, &a, 24, 3, 170, 60, out, PFX_MAXNEED), 2);   /* .1 again moves */
    CHECK(ipaddr_eq(&out[0].addr, &b.addr) && ipaddr_eq(&out[1].addr, &a.addr));
    CHECK_INT(pfx_groups(&p), 2);
    /* active members keep a group alive past its window */
    CHECK_INT(pfx_sweep(&p, 1000), 0);
    pfx_member_end(&p, 0, &a, 24);
    pfx_member_end(&p, 0, &b, 24);
    CHECK_INT(pfx_sweep(&p, 1000), 1);
    size_t n;
    struct cidr P = C("198.51.100.0/24");
    struct cidr *v = pfx_active(&p, 1, &P, &n);
    CHECK_INT(n, 1);
    free(v);
    pfx_free(&p);
}

static void t_cidrset_overlaps(void)
{
    struct cidrset *s = cidrset_new();
    struct cidr a = C("192.0.2.250"), b = C("10.0.0.0/8"), c = C("2001:db8::/32");
    cidrset_add(s, &a);
    cidrset_add(s, &b);
    cidrset_add(s, &c);
    struct cidr q1 = C("192.0.2.0/24"), q2 = C("192.0.3.0/24"), q3 = C("10.1.2.0/24"), q4 = C("2001:db8:1::/48"),
                q5 = C("2001:db9::/48"), q6 = C("192.0.2.250"), q7 = C("192.0.2.0/25");
    CHECK(cidrset_overlaps(s, &q1));      /* holds an address of the set */
    CHECK(!cidrset_overlaps(s, &q2));
    CHECK(cidrset_overlaps(s, &q3));      /* inside a prefix of the set */
    CHECK(cidrset_overlaps(s, &q4));
    CHECK(!cidrset_overlaps(s, &q5));
    CHECK(cidrset_overlaps(s, &q6));
    CHECK(!cidrset_overlaps(s, &q7));
    CHECK(!cidrset_overlaps(NULL, &q1));
    cidrset_free(s);
}

int main(void)
{
    RUN(t_escalates);
    RUN(t_bantime_covers_members);
    RUN(t_window_and_distinct);
    RUN(t_ignored_inside);
    RUN(t_ipv6);
    RUN(t_manual_cidr_takes_over);
    RUN(t_recidive_memory);
    RUN(t_recidive_history);
    RUN(t_restore);
    RUN(t_sweep);
    RUN(t_cidrset_overlaps);
    buf_free(&rec);
    return check_done();
}
