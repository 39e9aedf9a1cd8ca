/* Unit tests for the ban-decision layer: tracker (failure counting, cap, eviction, expiry)
 * and bans (timer heap, bantime.increment rules). */
#include "check.h"
#include "guard/tracker.h"
#include "guard/bans.h"
#include <stdlib.h>

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

static void t_maxretry_window(void)
{
    struct tracker *t = tracker_new(1000);
    int j = tracker_add_jail(t, 3, 600);
    struct ipaddr a = IP("192.0.2.1");
    CHECK_INT(tracker_fail(t, j, &a, 1000, 1), 1);
    CHECK_INT(tracker_fail(t, j, &a, 1100, 1), 2);
    /* the first failure falls out of the window */
    CHECK_INT(tracker_fail(t, j, &a, 1650, 1), 2);
    CHECK_INT(tracker_fail(t, j, &a, 1660, 1), 3);
    CHECK_INT(tracker_jail_count(t, j), 1);
    tracker_forget(t, j, &a);
    CHECK_INT(tracker_jail_count(t, j), 0);
    CHECK_INT(tracker_count(t, j, &a, 1701), 0);
    tracker_free(t);
}

static void t_weighted_and_ring(void)
{
    struct tracker *t = tracker_new(1000);
    int j = tracker_add_jail(t, 5, 600);
    struct ipaddr a = IP("2001:db8::1");
    CHECK_INT(tracker_fail(t, j, &a, 100, 3), 3);
    CHECK_INT(tracker_fail(t, j, &a, 101, 9), 5);   /* capped at maxretry */
    for (int i = 0; i < 20; i++) tracker_fail(t, j, &a, 200 + i, 1);
    CHECK_INT(tracker_count(t, j, &a, 219), 5);
    CHECK_INT(tracker_count(t, j, &a, 217 + 600), 3);  /* 217,218,219 still inside */
    tracker_free(t);
}

static void t_v4_mapped_is_v4(void)
{
    struct tracker *t = tracker_new(1000);
    int j = tracker_add_jail(t, 3, 600);
    struct ipaddr a = IP("192.0.2.7"), b = IP("::ffff:192.0.2.7"), c = IP("::FFFF:c000:207");
    tracker_fail(t, j, &a, 10, 1);
    tracker_fail(t, j, &b, 11, 1);
    CHECK_INT(tracker_fail(t, j, &c, 12, 1), 3);
    CHECK_INT(tracker_jail_count(t, j), 1);
    /* differently spelled IPv6 is one host; another IPv6 is another */
    struct ipaddr d = IP("2001:db8:0:0::5"), e = IP("2001:DB8::0:5"), f = IP("2001:db8::6");
    tracker_fail(t, j, &d, 10, 1);
    CHECK_INT(tracker_fail(t, j, &e, 10, 1), 2);
    CHECK_INT(tracker_fail(t, j, &f, 10, 1), 1);
    CHECK_INT(tracker_jail_count(t, j), 3);
    tracker_free(t);
}

/* IPv4 and IPv6 entries live in separate pools (4- and 16-byte keys): an IPv6 address that
 * starts with an IPv4 address's bytes is another host; eviction, expiry, forget and visit
 * see both pools */
struct seen { int v4, v6; unsigned n6; };
static void count_seen(void *ud, int jail, const struct ipaddr *ip, const uint32_t *times, unsigned n)
{
    struct seen *s = ud;
    (void)jail; (void)times;
    if (ip->family == 4) s->v4++;
    else { s->v6++; s->n6 = n; }
}

static void t_families(void)
{
    struct tracker *t = tracker_new(3);
    int j = tracker_add_jail(t, 3, 600);
    struct ipaddr a = IP("1.2.3.4"), b = IP("102:304::"), c = IP("2001:db8::9");
    CHECK_INT(tracker_fail(t, j, &a, 100, 1), 1);
    CHECK_INT(tracker_fail(t, j, &b, 101, 2), 2);
    CHECK_INT(tracker_count(t, j, &a, 101), 1);
    CHECK_INT(tracker_jail_count(t, j), 2);
    struct seen s = { 0, 0, 0 };
    CHECK_INT(tracker_visit(t, false, count_seen, &s), 2);
    CHECK_INT(s.v4, 1);
    CHECK_INT(s.v6, 1);
    CHECK_INT(s.n6, 2);
    /* the cap counts both pools: a third address fills it, a fourth evicts the stalest (a) */
    tracker_fail(t, j, &c, 102, 1);
    struct ipaddr d = IP("5.6.7.8");
    tracker_fail(t, j, &d, 103, 1);
    CHECK_INT(tracker_total(t), 3);
    CHECK_INT(tracker_evictions(t), 1);
    CHECK_INT(tracker_count(t, j, &a, 103), 0);
    CHECK_INT(tracker_count(t, j, &b, 103), 2);
    tracker_forget(t, j, &b);
    CHECK_INT(tracker_count(t, j, &b, 103), 0);
    CHECK_INT(tracker_count(t, j, &c, 103), 1);
    CHECK_INT(tracker_expire(t, 102 + 601), 1);       /* c (102) goes, d (103) stays */
    CHECK_INT(tracker_count(t, j, &d, 703), 1);
    tracker_clear_jail(t, j);
    CHECK_INT(tracker_total(t), 0);
    CHECK_INT(tracker_fail(t, j, &d, 800, 1), 1);
    tracker_free(t);
}

static void t_jails_separate(void)
{
    struct tracker *t = tracker_new(1000);
    int j1 = tracker_add_jail(t, 3, 600), j2 = tracker_add_jail(t, 2, 60);
    struct ipaddr a = IP("198.51.100.1");
    tracker_fail(t, j1, &a, 10, 1);
    CHECK_INT(tracker_fail(t, j2, &a, 10, 1), 1);
    CHECK_INT(tracker_fail(t, j1, &a, 11, 1), 2);
    CHECK_INT(tracker_total(t), 2);
    tracker_free(t);
}

static void t_cap_evicts_stalest(void)
{
    struct tracker *t = tracker_new(100);
    int j1 = tracker_add_jail(t, 3, 1000000), j2 = tracker_add_jail(t, 5, 1000000);
    char buf[64];
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof buf, "10.0.%d.%d", i / 256, i % 256);
        struct ipaddr a = IP(buf);
        tracker_fail(t, i % 2 ? j1 : j2, &a, 1000 + i, 1);
    }
    CHECK_INT(tracker_total(t), 100);
    /* touch the oldest so it is no longer the stalest */
    struct ipaddr first = IP("10.0.0.0");
    tracker_fail(t, j2, &first, 5000, 1);
    for (int i = 0; i < 10000; i++) {
        snprintf(buf, sizeof buf, "172.16.%d.%d", i / 256, i % 256);
        struct ipaddr a = IP(buf);
        tracker_fail(t, j1, &a, 2000 + i, 1);
        CHECK(tracker_total(t) <= 100);
    }
    CHECK_INT(tracker_total(t), 100);
    CHECK_INT(tracker_evictions(t), 10000);
    /* the re-touched one outlived the j1 entries older than it, then went too */
    CHECK_INT(tracker_count(t, j2, &first, 5000), 0);
    CHECK_INT(tracker_jail_count(t, j1), 100);
    struct ipaddr stale = IP("10.0.0.1");
    CHECK_INT(tracker_count(t, j1, &stale, 5000), 0);
    struct ipaddr last = IP("172.16.39.15");    /* i = 9999 */
    CHECK_INT(tracker_count(t, j1, &last, 12000), 1);
    tracker_free(t);
}

static void t_expire(void)
{
    struct tracker *t = tracker_new(1000);
    int j = tracker_add_jail(t, 3, 100);
    char buf[64];
    for (int i = 0; i < 50; i++) {
        snprintf(buf, sizeof buf, "10.1.0.%d", i);
        struct ipaddr a = IP(buf);
        tracker_fail(t, j, &a, 1000 + i, 1);
    }
    CHECK_INT(tracker_expire(t, 1120), 20);       /* newest < 1020 */
    CHECK_INT(tracker_jail_count(t, j), 30);
    CHECK_INT(tracker_expire(t, 2000), 30);
    CHECK_INT(tracker_total(t), 0);
    /* reuse of freed entries after deletion keeps lookups right */
    for (int i = 0; i < 50; i++) {
        snprintf(buf, sizeof buf, "10.2.0.%d", i);
        struct ipaddr a = IP(buf);
        tracker_fail(t, j, &a, 3000, 1);
        CHECK_INT(tracker_fail(t, j, &a, 3001, 1), 2);
    }
    tracker_free(t);
}

static void t_bytes_per_entry(void)
{
    struct tracker *t = tracker_new(200000);
    int j = tracker_add_jail(t, 5, 600);
    CHECK_INT(tracker_stride(t, j, 4), 36);
    CHECK_INT(tracker_stride(t, j, 6), 48);
    char buf[64];
    for (int i = 0; i < 100000; i++) {
        snprintf(buf, sizeof buf, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        struct ipaddr a = IP(buf);
        tracker_fail(t, j, &a, 1000, 1);
    }
    /* allocated (not all touched) bytes: entries + index */
    double per = (double)tracker_bytes(t) / 100000.0;
    CHECK(per <= 72.0);
    fprintf(stderr, "  tracker: %.1f bytes allocated per entry (maxretry 5)\n", per);
    tracker_free(t);
}

static void t_heap_order(void)
{
    struct bans b;
    bans_init(&b, 100);
    struct cidr c1 = C("192.0.2.1"), c2 = C("192.0.2.2"), c3 = C("192.0.2.0/24"), c4 = C("2001:db8::1");
    CHECK(bans_add(&b, 0, &c1, 100, 50, 3, 0) != NULL);
    CHECK(bans_add(&b, 0, &c2, 100, 10, 3, 0) != NULL);
    CHECK(bans_add(&b, 1, &c3, 100, -1, 3, 0) != NULL);
    CHECK(bans_add(&b, 1, &c4, 100, 30, 3, 0) != NULL);
    CHECK_INT(bans_count(&b), 4);
    CHECK_INT(bans_next_end(&b), 110);
    CHECK(bans_due(&b, 109) == NULL);
    struct ban *x = bans_due(&b, 200);
    CHECK(x && x->end == 110);
    bans_remove(&b, x);
    x = bans_due(&b, 200);
    CHECK(x && x->end == 130 && x->target.addr.family == 6);
    bans_remove(&b, x);
    x = bans_due(&b, 200);
    CHECK(x && x->end == 150);
    bans_remove(&b, x);
    CHECK(bans_due(&b, 1000000) == NULL);          /* the permanent one stays */
    CHECK_INT(bans_count(&b), 1);
    CHECK(bans_find(&b, 1, &c3) != NULL);
    CHECK(bans_find(&b, 0, &c3) == NULL);
    bans_free(&b);
}

static void t_heap_random(void)
{
    struct bans b;
    bans_init(&b, 10000);
    char buf[64];
    srand(7);
    for (int i = 0; i < 2000; i++) {
        snprintf(buf, sizeof buf, "10.3.%d.%d", i / 256, i % 256);
        struct cidr c = C(buf);
        bans_add(&b, 0, &c, 0, 1 + rand() % 5000, 1, 0);
    }
    /* remove some from the middle, re-add some with new times */
    for (int i = 0; i < 2000; i += 3) {
        snprintf(buf, sizeof buf, "10.3.%d.%d", i / 256, i % 256);
        struct cidr c = C(buf);
        struct ban *x = bans_find(&b, 0, &c);
        if (i % 2) bans_remove(&b, x); else bans_add(&b, 0, &c, 0, 1 + rand() % 5000, 1, 0);
    }
    int64_t last = 0;
    size_t n = 0, total = bans_count(&b);
    struct ban *x;
    while ((x = bans_due(&b, INT64_MAX - 1))) {
        CHECK(x->end >= last);
        last = x->end;
        bans_remove(&b, x);
        n++;
    }
    CHECK_INT(n, total);
    CHECK_INT(bans_count(&b), 0);
    bans_free(&b);
}

static void t_cap(void)
{
    struct bans b;
    bans_init(&b, 2);
    struct cidr c1 = C("192.0.2.1"), c2 = C("192.0.2.2"), c3 = C("192.0.2.3");
    CHECK(bans_add(&b, 0, &c1, 0, 10, 1, 0) != NULL);
    CHECK(bans_add(&b, 0, &c2, 0, 10, 1, 0) != NULL);
    CHECK(bans_add(&b, 0, &c3, 0, 10, 1, 0) == NULL);
    CHECK(bans_add(&b, 0, &c2, 0, 20, 1, 1) != NULL);   /* replacing is fine */
    CHECK_INT(bans_next_end(&b), 10);
    bans_free(&b);
}

static void t_bantime_rules(void)
{
    struct bantime_rule r;
    memset(&r, 0, sizeof r);
    r.bantime = 600;
    CHECK_INT(bantime_calc(&r, 5, 0), 600);
    r.increment = true;
    r.factor = 1;
    CHECK_INT(bantime_calc(&r, 0, 0), 600);
    CHECK_INT(bantime_calc(&r, 1, 0), 1200);
    CHECK_INT(bantime_calc(&r, 3, 0), 4800);
    r.factor = 2;
    CHECK_INT(bantime_calc(&r, 1, 0), 2400);
    r.maxtime = 3000;
    CHECK_INT(bantime_calc(&r, 1, 0), 2400);
    CHECK_INT(bantime_calc(&r, 5, 0), 3000);
    r.maxtime = 0;
    r.factor = 1;
    r.nmult = 3;
    r.mult[0] = 1; r.mult[1] = 5; r.mult[2] = 30;
    CHECK_INT(bantime_calc(&r, 0, 0), 600);
    CHECK_INT(bantime_calc(&r, 1, 0), 3000);
    CHECK_INT(bantime_calc(&r, 9, 0), 18000);
    r.rndtime = 100;
    CHECK_INT(bantime_calc(&r, 0, 0.5), 650);
    r.bantime = -1;
    CHECK_INT(bantime_calc(&r, 3, 0), -1);
}

int main(void)
{
    RUN(t_maxretry_window);
    RUN(t_weighted_and_ring);
    RUN(t_v4_mapped_is_v4);
    RUN(t_families);
    RUN(t_jails_separate);
    RUN(t_cap_evicts_stalest);
    RUN(t_expire);
    RUN(t_bytes_per_entry);
    RUN(t_heap_order);
    RUN(t_heap_random);
    RUN(t_cap);
    RUN(t_bantime_rules);
    return check_done();
}
