/*
 * ipaddr - IPv4/IPv6 addresses and CIDR sets.
 *
 * An address is stored in network byte order; IPv4 uses b[0..3]. IPv4-mapped IPv6
 * (::ffff:a.b.c.d) is converted to IPv4 on parse, so one attacker is one key however it is
 * spelled. Text output is canonical (RFC 5952: lower case, longest zero run as ::, no
 * leading zeros). Parsing accepts exactly an address (no brackets, no port, no zone id).
 *
 * Details: IPv4 is a dotted quad of decimal octets without leading zeros ("01.2.3.4" is
 * rejected: inet_aton would read it as octal). IPv6 accepts what inet_pton accepts
 * (embedded IPv4 in the last 32 bits, "::" for one or more groups, at most 45 bytes).
 * Only ::ffff:0:0/96 becomes IPv4; IPv4-compatible ::a.b.c.d stays IPv6 and prints as hex.
 * A hand-built family-6 IPv4-mapped address prints as "::ffff:a.b.c.d". Formatting family
 * 0 gives "". Formatting functions truncate to cap, always NUL-terminate when cap > 0 and
 * return the length written. On failure the parse functions set out->family = 0 (ipaddr)
 * or leave *out untouched (cidr).
 */
#ifndef MW_IPADDR_H
#define MW_IPADDR_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "util/str.h"

#define IPADDR_STRLEN 46   /* longest canonical text incl. NUL */

struct ipaddr {
    uint8_t family;        /* 4 or 6; 0 = no address */
    uint8_t b[16];
};

int ipaddr_parse(struct str s, struct ipaddr *out);            /* 0 ok, -1 invalid */
static inline int ipaddr_parse_c(const char *s, struct ipaddr *out) { return ipaddr_parse(str_c(s), out); }
size_t ipaddr_format(const struct ipaddr *a, char *buf, size_t cap); /* canonical; returns length */
bool ipaddr_eq(const struct ipaddr *a, const struct ipaddr *b);
int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b); /* IPv4 before IPv6, then bytes */
/* Key bytes for hash tables: 5 bytes for IPv4, 17 for IPv6 (family byte first). */
static inline struct str ipaddr_key(const struct ipaddr *a)
{
    return (struct str){ (const char *)a, a->family == 4 ? 5u : 17u };
}
/* Keep the first `prefix` bits, zero the rest. */
void ipaddr_mask(struct ipaddr *a, unsigned prefix);

struct cidr {
    struct ipaddr addr;    /* host bits zero */
    uint8_t prefix;        /* 0..32 or 0..128 */
};

/* "10.0.0.0/8", "2001:db8::/32", a bare address (/32 or /128). Host bits are cleared.
 * The prefix is 1..3 decimal digits without leading zero. An IPv4-mapped network
 * "::ffff:10.0.0.0/104" becomes 10.0.0.0/8 (its prefix must be 96..128).
 * cidr_format always writes the prefix ("1.2.3.4/32"). */
int cidr_parse(struct str s, struct cidr *out);
size_t cidr_format(const struct cidr *c, char *buf, size_t cap);
bool cidr_contains(const struct cidr *c, const struct ipaddr *a);

/* A set of CIDRs with lookup in O(prefix length): a binary trie per family. Owns its nodes
 * (one array; cidrset_free(NULL) is fine). contains = some added prefix covers the address
 * (/0 covers the whole family). count = distinct prefixes added (duplicates count once, a
 * prefix inside another still counts). Entries of family 0 are ignored. For configuration
 * (ignoreip), not for attacker-grown data: there is no cap. */
struct cidrset;
struct cidrset *cidrset_new(void);
void cidrset_add(struct cidrset *s, const struct cidr *c);
bool cidrset_contains(const struct cidrset *s, const struct ipaddr *a);
/* Does some prefix of the set share an address with c (covers it, or lies inside it)? */
bool cidrset_overlaps(const struct cidrset *s, const struct cidr *c);
size_t cidrset_count(const struct cidrset *s);
void cidrset_free(struct cidrset *s);

#endif
