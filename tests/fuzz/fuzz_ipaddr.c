/* fuzz_ipaddr - address and CIDR parsing on arbitrary text: parse(format(x)) == x, the
 * canonical text is a fixed point, a CIDR contains its own address; raw bytes as addresses
 * format and parse back; a CIDR set finds what was added. */
#include "util/ipaddr.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void roundtrip(const struct ipaddr *x)
{
    char t1[IPADDR_STRLEN], t2[IPADDR_STRLEN];
    struct ipaddr y;
    size_t n = ipaddr_format(x, t1, sizeof t1);
    if (n == 0 || n >= sizeof t1 || strlen(t1) != n) abort();
    if (ipaddr_parse(str_make(t1, n), &y) < 0 || !ipaddr_eq(x, &y) || ipaddr_cmp(x, &y) != 0)
        abort();
    ipaddr_format(&y, t2, sizeof t2);
    if (strcmp(t1, t2) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (size) memcpy(s, data, size);
    struct str in = str_make(s, size);
    struct ipaddr x;
    if (ipaddr_parse(in, &x) == 0) {
        if (x.family != 4 && x.family != 6) abort();
        roundtrip(&x);
    }
    struct cidr c, c2;
    if (cidr_parse(in, &c) == 0) {
        char t[64];
        size_t n = cidr_format(&c, t, sizeof t);
        if (cidr_parse(str_make(t, n), &c2) < 0 || !ipaddr_eq(&c.addr, &c2.addr) ||
            c.prefix != c2.prefix || !cidr_contains(&c, &c.addr))
            abort();
        struct cidrset *set = cidrset_new();
        cidrset_add(set, &c);
        if (!cidrset_contains(set, &c.addr) || cidrset_count(set) != 1) abort();
        struct ipaddr m = c.addr;
        ipaddr_mask(&m, c.prefix);
        if (!ipaddr_eq(&m, &c.addr)) abort();
        cidrset_free(set);
    }
    free(s);

    /* raw bytes as addresses */
    if (size >= 16) {
        struct ipaddr r;
        memset(&r, 0, sizeof r);
        r.family = 6;
        memcpy(r.b, data, 16);
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(r.b, mapped, 12) == 0) { /* parse turns these into IPv4 */
            memmove(r.b, r.b + 12, 4);
            memset(r.b + 4, 0, 12);
            r.family = 4;
        }
        roundtrip(&r);
        struct cidr rc = { r, (uint8_t)(size > 16 ? data[16] % 129 : 128) };
        if (r.family == 4) rc.prefix %= 33;
        ipaddr_mask(&rc.addr, rc.prefix);
        struct cidrset *set = cidrset_new();
        cidrset_add(set, &rc);
        if (!cidrset_contains(set, &r) || !cidr_contains(&rc, &r)) abort();
        cidrset_free(set);
    }
    if (size >= 4) {
        struct ipaddr r;
        memset(&r, 0, sizeof r);
        r.family = 4;
        memcpy(r.b, data, 4);
        roundtrip(&r);
    }
    return 0;
}
