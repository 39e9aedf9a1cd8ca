/* test_ipmap - the compact per-address map: values found again after many inserts and
 * table growth, families kept apart, spellings of one address are one key, clearing. */
#include "check.h"
#include "util/ipmap.h"

static struct ipaddr IP(const char *s)
{
    struct ipaddr a;
    memset(&a, 0, sizeof a);
    if (ipaddr_parse_c(s, &a) != 0) fprintf(stderr, "  bad test address %s\n", s);
    return a;
}

struct val { uint32_t a, b; int64_t t; };

static void t_put_get(void)
{
    struct ipmap m;
    ipmap_init(&m, sizeof(struct val));
    struct ipaddr x = IP("192.0.2.1");
    CHECK(ipmap_get(&m, &x) == NULL);
    bool isnew = false;
    struct val *v = ipmap_put(&m, &x, &isnew);
    CHECK(isnew);
    CHECK_INT(v->a, 0);                 /* zeroed on insert */
    v->a = 7;
    v->t = -5;
    v = ipmap_put(&m, &x, &isnew);
    CHECK(!isnew);
    CHECK_INT(v->a, 7);
    CHECK_INT(v->t, -5);
    CHECK_INT(ipmap_count(&m), 1);
    ipmap_free(&m);
}

static void t_families_and_spellings(void)
{
    struct ipmap m;
    ipmap_init(&m, sizeof(uint32_t));
    /* IPv6 whose first bytes are an IPv4 address's, and the IPv4 address: two keys */
    struct ipaddr v4 = IP("1.2.3.4"), v6 = IP("102:304::"), mapped = IP("::ffff:1.2.3.4");
    *(uint32_t *)ipmap_put(&m, &v4, NULL) = 4;
    *(uint32_t *)ipmap_put(&m, &v6, NULL) = 6;
    CHECK_INT(ipmap_count(&m), 2);
    CHECK_INT(*(uint32_t *)ipmap_get(&m, &v4), 4);
    CHECK_INT(*(uint32_t *)ipmap_get(&m, &v6), 6);
    CHECK_INT(*(uint32_t *)ipmap_get(&m, &mapped), 4);     /* mapped IPv6 is IPv4 */
    struct ipaddr a = IP("2001:db8:0:0::5"), b = IP("2001:DB8::5");
    *(uint32_t *)ipmap_put(&m, &a, NULL) = 9;
    CHECK_INT(*(uint32_t *)ipmap_get(&m, &b), 9);
    /* an IPv4 address with stray bytes beyond its length is still the same key */
    struct ipaddr dirty = v4;
    memset(dirty.b + 4, 0xAA, 12);
    CHECK(ipmap_get(&m, &dirty) != NULL);
    ipmap_free(&m);
}

static void t_many(void)
{
    struct ipmap m;
    ipmap_init(&m, sizeof(uint32_t));
    char buf[64];
    for (uint32_t i = 0; i < 50000; i++) {
        if (i & 1) snprintf(buf, sizeof buf, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        else snprintf(buf, sizeof buf, "2001:db8::%x:%x", i >> 16, i & 0xffff);
        struct ipaddr a = IP(buf);
        *(uint32_t *)ipmap_put(&m, &a, NULL) = i;
    }
    CHECK_INT(ipmap_count(&m), 50000);
    unsigned bad = 0;
    for (uint32_t i = 0; i < 50000; i++) {
        if (i & 1) snprintf(buf, sizeof buf, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
        else snprintf(buf, sizeof buf, "2001:db8::%x:%x", i >> 16, i & 0xffff);
        struct ipaddr a = IP(buf);
        uint32_t *v = ipmap_get(&m, &a);
        if (!v || *v != i) bad++;
    }
    CHECK_INT(bad, 0);
    struct ipaddr none = IP("203.0.113.1");
    CHECK(ipmap_get(&m, &none) == NULL);
    /* clear: empty, and usable again */
    ipmap_free(&m);
    CHECK_INT(ipmap_count(&m), 0);
    CHECK(ipmap_get(&m, &none) == NULL);
    *(uint32_t *)ipmap_put(&m, &none, NULL) = 1;
    CHECK_INT(*(uint32_t *)ipmap_get(&m, &none), 1);
    ipmap_free(&m);
}

int main(void)
{
    RUN(t_put_get);
    RUN(t_families_and_spellings);
    RUN(t_many);
    return check_done();
}
