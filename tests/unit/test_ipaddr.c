/* test_ipaddr - address parsing (every RFC 4291 form, hostile text), RFC 5952 output,
 * comparison, masks, CIDR parsing and containment, and the CIDR set trie. */
#include "check.h"
#include "util/ipaddr.h"

/* Parse and format; "!" when parsing fails. */
static const char *canon(const char *in, char *buf, size_t cap)
{
    struct ipaddr a;
    if (ipaddr_parse_c(in, &a) < 0) return "!";
    ipaddr_format(&a, buf, cap);
    return buf;
}

static const char *ccanon(const char *in, char *buf, size_t cap)
{
    struct cidr c;
    if (cidr_parse(str_c(in), &c) < 0) return "!";
    cidr_format(&c, buf, cap);
    return buf;
}

#define CANON(in, out) do { char b_[IPADDR_STRLEN]; CHECK_STR(canon(in, b_, sizeof b_), out); } while (0)
#define CCANON(in, out) do { char b_[64]; CHECK_STR(ccanon(in, b_, sizeof b_), out); } while (0)

static void t_v4(void)
{
    struct ipaddr a;
    CHECK_INT(ipaddr_parse_c("1.2.3.4", &a), 0);
    CHECK_INT(a.family, 4);
    CHECK(a.b[0] == 1 && a.b[1] == 2 && a.b[2] == 3 && a.b[3] == 4);
    for (int i = 4; i < 16; i++) CHECK_INT(a.b[i], 0);
    CANON("0.0.0.0", "0.0.0.0");
    CANON("255.255.255.255", "255.255.255.255");
    CANON("127.0.0.60", "127.0.0.60");
    CANON("10.100.9.200", "10.100.9.200");
    static const char *bad[] = {
        "", "1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.256", "1.2.3.999", "1.2.3.1000",
        "01.2.3.4", "1.2.3.04", "1.2.3.00", "1..3.4", ".1.2.3", "1.2.3.", "1.2.3.4 ",
        " 1.2.3.4", "1.2.3.4x", "1.2.3.4/24", "1.2.3.-4", "+1.2.3.4", "0x1.2.3.4",
        "1.2.3.4:25", "[1.2.3.4]", "1,2,3,4", "１.2.3.4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a.family = 9;
        int r = ipaddr_parse_c(bad[i], &a);
        if (r == 0) fprintf(stderr, "  accepted '%s'\n", bad[i]);
        CHECK_INT(r, -1);
        CHECK_INT(a.family, 0);
    }
    CHECK_INT(ipaddr_parse(str_make("1.2.3.4\0", 8), &a), -1);
    CHECK_INT(ipaddr_parse(str_make("1.2.3.45", 7), &a), 0);     /* the slice, not the C string */
    CANON("1.2.3.4", "1.2.3.4");
    CHECK_INT(ipaddr_parse(STR_NULL, &a), -1);
}

static void t_v6(void)
{
    struct ipaddr a;
    CHECK_INT(ipaddr_parse_c("2001:db8::1", &a), 0);
    CHECK_INT(a.family, 6);
    CHECK(a.b[0] == 0x20 && a.b[1] == 0x01 && a.b[2] == 0x0d && a.b[3] == 0xb8 && a.b[15] == 1);
    CANON("::", "::");
    CANON("::1", "::1");
    CANON("1::", "1::");
    CANON("2001:DB8::1", "2001:db8::1");
    CANON("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1");
    CANON("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1");          /* leftmost on a tie */
    CANON("2001:0:0:1:0:0:0:1", "2001:0:0:1::1");                /* longest run */
    CANON("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1");        /* single 0 not compressed */
    CANON("2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1");
    CANON("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8");
    CANON("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0");
    CANON("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8");
    CANON("fe80::a:b:c:d", "fe80::a:b:c:d");
    CANON("0:0:0:0:0:0:0:0", "::");
    CANON("1:0:0:0:0:0:0:0", "1::");
    CANON("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789", "abcd:ef01:2345:6789:abcd:ef01:2345:6789");
    CANON("0001:0020:0300:4000::", "1:20:300:4000::");
    CANON("::1.2.3.4", "::102:304");                               /* IPv4-compatible: stays v6 */
    CANON("64:ff9b::192.0.2.33", "64:ff9b::c000:221");
    CANON("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304");
    CANON("::ffff:0:1.2.3.4", "::ffff:0:102:304");                /* SIIT, not mapped */
    /* IPv4-mapped -> IPv4, however spelt */
    CHECK_INT(ipaddr_parse_c("::ffff:1.2.3.4", &a), 0);
    CHECK_INT(a.family, 4);
    CANON("::ffff:1.2.3.4", "1.2.3.4");
    CANON("::FFFF:102:304", "1.2.3.4");
    CANON("0:0:0:0:0:ffff:1.2.3.4", "1.2.3.4");
    CANON("0000:0000:0000:0000:0000:ffff:255.255.255.255", "255.255.255.255");
    static const char *bad[] = {
        ":", ":::", "1:", ":1", "1:2", "1::2::3", "1:::2", "12345::", "::12345",
        "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::8",
        "1:2:3:4:5:6:7", "g::1", "fe80::1%eth0", "[::1]", "[::1]:25", "::1/128", " ::1",
        "::1 ", "::ffff:1.2.3", "::ffff:1.2.3.4.5", "::ffff:256.1.1.1", "::ffff:01.2.3.4",
        "::1.2.3.4:5", "1.2.3.4::", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4x", "::ffff:1.2.3.",
        "1:2:3:4:5:6:7:8.", "::.1.2.3", "::1:.1.2.3", "::-1", "0x1::", "1::2:",
        ":1::2", "::1:2:3:4:5:6:7:1.2.3.4", "1::2:3:4:5:6:7:1.2.3.4",
        "0000:0000:0000:0000:0000:ffff:255.255.255.2550",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = ipaddr_parse_c(bad[i], &a);
        if (r == 0) fprintf(stderr, "  accepted '%s'\n", bad[i]);
        CHECK_INT(r, -1);
    }
    CHECK_INT(ipaddr_parse(str_make("::1\0", 4), &a), -1);
}

static void t_format_edge(void)
{
    struct ipaddr a;
    char b[IPADDR_STRLEN];
    /* a mapped address built by hand (not by parse) keeps the dotted quad (RFC 5952 5) */
    memset(&a, 0, sizeof a);
    a.family = 6;
    a.b[10] = a.b[11] = 0xff;
    a.b[12] = 10;
    a.b[15] = 5;
    CHECK_INT(ipaddr_format(&a, b, sizeof b), 15);
    CHECK_STR(b, "::ffff:10.0.0.5");
    /* longest possible text fits */
    CHECK_INT(ipaddr_parse_c("1111:2222:3333:4444:5555:6666:7777:8888", &a), 0);
    CHECK_INT(ipaddr_format(&a, b, sizeof b), 39);
    /* truncation and cap 0 */
    CHECK_INT(ipaddr_format(&a, b, 5), 4);
    CHECK_STR(b, "1111");
    b[0] = 'X';
    CHECK_INT(ipaddr_format(&a, b, 0), 0);
    CHECK_INT(b[0], 'X');
    memset(&a, 0, sizeof a);
    CHECK_INT(ipaddr_format(&a, b, sizeof b), 0);   /* family 0 */
    CHECK_STR(b, "");
    /* keys: v4 5 bytes, v6 17 */
    CHECK_INT(ipaddr_parse_c("::ffff:10.0.0.5", &a), 0);
    CHECK_INT(ipaddr_key(&a).len, 5);
    struct ipaddr a2;
    CHECK_INT(ipaddr_parse_c("10.0.0.5", &a2), 0);
    CHECK(str_eq(ipaddr_key(&a), ipaddr_key(&a2)));
    CHECK_INT(ipaddr_parse_c("::1", &a), 0);
    CHECK_INT(ipaddr_key(&a).len, 17);
}

static void t_cmp_mask(void)
{
    struct ipaddr a, b, c, d;
    ipaddr_parse_c("10.0.0.1", &a);
    ipaddr_parse_c("10.0.0.2", &b);
    ipaddr_parse_c("::1", &c);
    ipaddr_parse_c("::ffff:10.0.0.1", &d);
    CHECK_INT(ipaddr_cmp(&a, &b), -1);
    CHECK_INT(ipaddr_cmp(&b, &a), 1);
    CHECK_INT(ipaddr_cmp(&a, &d), 0);
    CHECK(ipaddr_eq(&a, &d));
    CHECK(!ipaddr_eq(&a, &b));
    CHECK_INT(ipaddr_cmp(&b, &c), -1);                   /* IPv4 before IPv6 */
    CHECK_INT(ipaddr_cmp(&c, &a), 1);
    ipaddr_parse_c("255.0.0.0", &b);
    CHECK_INT(ipaddr_cmp(&a, &b), -1);                   /* bytes compare unsigned */
    char s[IPADDR_STRLEN];
    ipaddr_parse_c("192.168.255.255", &a);
    ipaddr_mask(&a, 20);
    ipaddr_format(&a, s, sizeof s);
    CHECK_STR(s, "192.168.240.0");
    ipaddr_mask(&a, 0);
    ipaddr_format(&a, s, sizeof s);
    CHECK_STR(s, "0.0.0.0");
    ipaddr_parse_c("1.2.3.4", &a);
    ipaddr_mask(&a, 32);
    ipaddr_mask(&a, 200);
    ipaddr_format(&a, s, sizeof s);
    CHECK_STR(s, "1.2.3.4");
    ipaddr_parse_c("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", &a);
    ipaddr_mask(&a, 33);
    ipaddr_format(&a, s, sizeof s);
    CHECK_STR(s, "2001:db8:8000::");
    ipaddr_mask(&a, 1);
    ipaddr_format(&a, s, sizeof s);
    CHECK_STR(s, "::");
}

static void t_cidr(void)
{
    CCANON("1.2.3.4/24", "1.2.3.0/24");
    CCANON("1.2.3.4", "1.2.3.4/32");
    CCANON("10.0.0.0/8", "10.0.0.0/8");
    CCANON("255.255.255.255/0", "0.0.0.0/0");
    CCANON("10.1.2.3/31", "10.1.2.2/31");
    CCANON("2001:db8::1/32", "2001:db8::/32");
    CCANON("2001:db8::1", "2001:db8::1/128");
    CCANON("::/0", "::/0");
    CCANON("fe80::1:2:3:4/64", "fe80::/64");
    CCANON("2001:db8:ffff::/127", "2001:db8:ffff::/127");
    CCANON("::ffff:10.0.0.5", "10.0.0.5/32");
    CCANON("::ffff:10.1.0.0/104", "10.0.0.0/8");
    CCANON("::ffff:0.0.0.0/96", "0.0.0.0/0");
    static const char *bad[] = {
        "1.2.3.4/33", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/08", "1.2.3.4/1000", "1.2.3.4/ 8",
        "1.2.3.4/8 ", "1.2.3.4/8/8", "/8", "::/129", "::1/0x10", "::ffff:10.0.0.0/95",
        "::ffff:10.0.0.0/129", "1.2.3/8", "", "/", "fe80::1%eth0/64",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cidr c;
        int r = cidr_parse(str_c(bad[i]), &c);
        if (r == 0) fprintf(stderr, "  accepted '%s'\n", bad[i]);
        CHECK_INT(r, -1);
    }
    struct cidr c;
    struct ipaddr a;
    CHECK_INT(cidr_parse(str_c("10.0.0.0/8"), &c), 0);
    ipaddr_parse_c("::ffff:10.0.0.5", &a);
    CHECK(cidr_contains(&c, &a));
    ipaddr_parse_c("11.0.0.5", &a);
    CHECK(!cidr_contains(&c, &a));
    ipaddr_parse_c("::a00:5", &a);                       /* v6 with the same low bytes */
    CHECK(!cidr_contains(&c, &a));
    CHECK_INT(cidr_parse(str_c("192.168.1.128/25"), &c), 0);
    ipaddr_parse_c("192.168.1.200", &a);
    CHECK(cidr_contains(&c, &a));
    ipaddr_parse_c("192.168.1.127", &a);
    CHECK(!cidr_contains(&c, &a));
    CHECK_INT(cidr_parse(str_c("0.0.0.0/0"), &c), 0);
    CHECK(cidr_contains(&c, &a));
    CHECK_INT(cidr_parse(str_c("2001:db8::/33"), &c), 0);
    ipaddr_parse_c("2001:db8:7fff::1", &a);
    CHECK(cidr_contains(&c, &a));
    ipaddr_parse_c("2001:db8:8000::1", &a);
    CHECK(!cidr_contains(&c, &a));
    CHECK_INT(cidr_parse(str_c("::1/128"), &c), 0);
    ipaddr_parse_c("::1", &a);
    CHECK(cidr_contains(&c, &a));
    ipaddr_parse_c("::2", &a);
    CHECK(!cidr_contains(&c, &a));
    char b[8];
    CHECK_INT(cidr_parse(str_c("2001:db8::/32"), &c), 0);
    CHECK_INT(cidr_format(&c, b, sizeof b), 7);
    CHECK_STR(b, "2001:db");
}

static struct cidr C(const char *s)
{
    struct cidr c;
    if (cidr_parse(str_c(s), &c) < 0) memset(&c, 0, sizeof c);
    return c;
}

static bool in(const struct cidrset *s, const char *ip)
{
    struct ipaddr a;
    if (ipaddr_parse_c(ip, &a) < 0) return false;
    return cidrset_contains(s, &a);
}

static void t_cidrset(void)
{
    struct cidrset *s = cidrset_new();
    CHECK_INT(cidrset_count(s), 0);
    CHECK(!in(s, "10.0.0.1"));
    CHECK(!in(s, "::1"));
    struct cidr c = C("10.0.0.0/8");
    cidrset_add(s, &c);
    c = C("192.168.1.0/24");
    cidrset_add(s, &c);
    c = C("192.168.1.7");
    cidrset_add(s, &c);                                  /* inside the /24: still counted */
    c = C("2001:db8::/32");
    cidrset_add(s, &c);
    c = C("::1");
    cidrset_add(s, &c);
    c = C("10.0.0.0/8");
    cidrset_add(s, &c);                                  /* duplicate: not counted */
    c = C("10.9.0.0/16");
    cidrset_add(s, &c);                                  /* covered by the /8 */
    CHECK_INT(cidrset_count(s), 6);
    CHECK(in(s, "10.0.0.1"));
    CHECK(in(s, "10.255.255.255"));
    CHECK(in(s, "::ffff:10.0.0.5"));
    CHECK(!in(s, "11.0.0.0"));
    CHECK(!in(s, "9.255.255.255"));
    CHECK(in(s, "192.168.1.255"));
    CHECK(in(s, "192.168.1.7"));
    CHECK(!in(s, "192.168.2.1"));
    CHECK(in(s, "2001:db8:1234::5"));
    CHECK(!in(s, "2001:db9::"));
    CHECK(in(s, "::1"));
    CHECK(!in(s, "::2"));
    CHECK(!in(s, "::"));
    CHECK(!in(s, "::a00:1"));                            /* v6 spelling of 10.0.0.1 bits, not mapped */
    struct ipaddr none;
    memset(&none, 0, sizeof none);
    CHECK(!cidrset_contains(s, &none));
    c = C("1.2.3.4/0");                                  /* everything IPv4 */
    cidrset_add(s, &c);
    CHECK(in(s, "8.8.8.8"));
    CHECK(in(s, "0.0.0.0"));
    CHECK(!in(s, "2001:db9::"));
    c = C("::/0");
    cidrset_add(s, &c);
    CHECK(in(s, "2001:db9::"));
    CHECK_INT(cidrset_count(s), 8);
    memset(&c, 0, sizeof c);                             /* family 0: ignored */
    cidrset_add(s, &c);
    CHECK_INT(cidrset_count(s), 8);
    cidrset_free(s);
    cidrset_free(NULL);

    /* many entries: every added host is found, neighbours are not */
    s = cidrset_new();
    for (int i = 0; i < 2000; i++) {
        char ip[64];
        snprintf(ip, sizeof ip, "172.%d.%d.1", 16 + i / 250, i % 250);
        c = C(ip);
        cidrset_add(s, &c);
        snprintf(ip, sizeof ip, "2001:db8:%x::%x/128", i, i + 1);
        c = C(ip);
        cidrset_add(s, &c);
    }
    CHECK_INT(cidrset_count(s), 4000);
    int miss = 0, extra = 0;
    for (int i = 0; i < 2000; i++) {
        char ip[64];
        snprintf(ip, sizeof ip, "172.%d.%d.1", 16 + i / 250, i % 250);
        miss += !in(s, ip);
        snprintf(ip, sizeof ip, "172.%d.%d.2", 16 + i / 250, i % 250);
        extra += in(s, ip);
        snprintf(ip, sizeof ip, "2001:db8:%x::%x", i, i + 1);
        miss += !in(s, ip);
        snprintf(ip, sizeof ip, "2001:db8:%x::%x", i, i + 2);
        extra += in(s, ip);
    }
    CHECK_INT(miss, 0);
    CHECK_INT(extra, 0);
    cidrset_free(s);
}

int main(void)
{
    RUN(t_v4);
    RUN(t_v6);
    RUN(t_format_edge);
    RUN(t_cmp_mask);
    RUN(t_cidr);
    RUN(t_cidrset);
    return check_done();
}
