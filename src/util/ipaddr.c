/*
 * ipaddr - IPv4/IPv6 text <-> binary, canonical output, CIDR prefixes and CIDR sets.
 * See ipaddr.h for the contract.
 *
 * Parsing is strict and non-allocating: IPv4 is a dotted quad of decimal octets 0..255
 * without leading zeros ("01.2.3.4" is rejected: inet_aton would read it as octal); IPv6 is
 * any RFC 4291 text form (compressed, embedded IPv4 in the last 32 bits) with 1..4 hex
 * digits per group, and no zone id, brackets or port. ::ffff:a.b.c.d (in any spelling)
 * becomes IPv4.
 *
 * Ownership: struct cidrset owns its nodes (one array, freed by cidrset_free); everything
 * else works in caller memory. Limits: a set holds at most ~2^32 trie nodes (config-sized
 * data, not attacker-grown). Allocation failure aborts (xalloc).
 */
#include "util/ipaddr.h"
#include "util/xalloc.h"
#include <stdlib.h>

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int parse_v4(const char *p, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        if (k) {
            if (i >= n || p[i] != '.') return -1;
            i++;
        }
        size_t s = i;
        unsigned v = 0;
        for (unsigned d; i < n && i - s < 4 && (d = (unsigned)(unsigned char)p[i] - '0') <= 9; i++)
            v = v * 10 + d;
        size_t nd = i - s;
        /* empty, too long (a fourth digit), a leading zero, too large */
        if (nd == 0 || nd > 3 || (nd > 1 && p[s] == '0') || v > 255) return -1;
        out[k] = (uint8_t)v;
    }
    return i == n ? 0 : -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_v6(const char *p, size_t n, uint8_t out[16])
{
    uint8_t b[16] = { 0 };
    size_t i = 0, j = 0, start = 0;
    int gap = -1;
    unsigned val = 0, nd = 0;
    if (n < 2) return -1;
    if (p[0] == ':') {
        if (p[1] != ':') return -1;
        i = 1;
    }
    while (i < n) {
        char c = p[i];
        int h = hexval(c);
        if (h >= 0) {
            if (++nd > 4) return -1;
            val = val << 4 | (unsigned)h;
            i++;
            continue;
        }
        if (c == ':') {
            if (nd == 0) {                  /* second ':' of "::" */
                if (gap >= 0) return -1;
                gap = (int)j;
            } else {
                if (i + 1 == n || j + 2 > 16) return -1; /* trailing ':' / too many groups */
                b[j++] = (uint8_t)(val >> 8);
                b[j++] = (uint8_t)val;
                nd = 0;
                val = 0;
            }
            start = ++i;
            continue;
        }
        if (c == '.' && j + 4 <= 16 && nd > 0) {
            if (parse_v4(p + start, n - start, b + j) < 0) return -1;
            j += 4;
            nd = 0;
            i = n;
            break;
        }
        return -1;
    }
    if (nd > 0) {
        if (j + 2 > 16) return -1;
        b[j++] = (uint8_t)(val >> 8);
        b[j++] = (uint8_t)val;
    }
    if (gap >= 0) {
        if (j == 16) return -1;             /* "::" must stand for at least one group */
        size_t tail = j - (size_t)gap;
        memmove(b + 16 - tail, b + gap, tail);
        memset(b + gap, 0, 16 - j);
    } else if (j != 16) {
        return -1;
    }
    memcpy(out, b, 16);
    return 0;
}

int ipaddr_parse(struct str s, struct ipaddr *out)
{
    struct ipaddr a;
    memset(&a, 0, sizeof a);
    out->family = 0;
    if (!s.p || s.len == 0 || s.len > 45) return -1;
    if (memchr(s.p, ':', s.len)) {
        if (parse_v6(s.p, s.len, a.b) < 0) return -1;
        if (memcmp(a.b, v4mapped_prefix, 12) == 0) {
            memmove(a.b, a.b + 12, 4);
            memset(a.b + 4, 0, 12);
            a.family = 4;
        } else {
            a.family = 6;
        }
    } else {
        if (parse_v4(s.p, s.len, a.b) < 0) return -1;
        a.family = 4;
    }
    *out = a;
    return 0;
}

static size_t fmt_v4(const uint8_t *b, char *o)
{
    size_t n = 0;
    for (int k = 0; k < 4; k++) {
        unsigned v = b[k];
        if (k) o[n++] = '.';
        if (v >= 100) o[n++] = (char)('0' + v / 100);
        if (v >= 10) o[n++] = (char)('0' + v / 10 % 10);
        o[n++] = (char)('0' + v % 10);
    }
    return n;
}

static size_t fmt_v6(const uint8_t *b, char *o)
{
    static const char hex[] = "0123456789abcdef";
    unsigned g[8];
    for (int k = 0; k < 8; k++) g[k] = (unsigned)b[2 * k] << 8 | b[2 * k + 1];
    /* longest run of >= 2 zero groups, leftmost on a tie (RFC 5952 4.2) */
    int best = -1, bestlen = 1;
    for (int k = 0; k < 8;) {
        if (g[k]) { k++; continue; }
        int e = k;
        while (e < 8 && g[e] == 0) e++;
        if (e - k > bestlen) best = k, bestlen = e - k;
        k = e;
    }
    size_t n = 0;
    /* RFC 5952 5: IPv4-mapped addresses keep the dotted quad. */
    int last = memcmp(b, v4mapped_prefix, 12) == 0 ? 6 : 8;
    for (int k = 0; k < last; k++) {
        if (k == best) {
            o[n++] = ':';
            o[n++] = ':';
            k += bestlen - 1;
            continue;
        }
        if (n && o[n - 1] != ':') o[n++] = ':';
        unsigned v = g[k];
        int sh = v >= 0x1000 ? 12 : v >= 0x100 ? 8 : v >= 0x10 ? 4 : 0;
        for (; sh >= 0; sh -= 4) o[n++] = hex[(v >> sh) & 15];
    }
    if (last == 6) {
        if (o[n - 1] != ':') o[n++] = ':';
        n += fmt_v4(b + 12, o + n);
    }
    return n;
}

size_t ipaddr_format(const struct ipaddr *a, char *buf, size_t cap)
{
    char tmp[IPADDR_STRLEN];
    size_t n = 0;
    if (cap == 0) return 0;
    if (a->family == 4) n = fmt_v4(a->b, tmp);
    else if (a->family == 6) n = fmt_v6(a->b, tmp);
    if (n >= cap) n = cap - 1;
    memcpy(buf, tmp, n);
    buf[n] = 0;
    return n;
}

static size_t addr_len(const struct ipaddr *a) { return a->family == 4 ? 4 : a->family == 6 ? 16 : 0; }

bool ipaddr_eq(const struct ipaddr *a, const struct ipaddr *b)
{
    return a->family == b->family && memcmp(a->b, b->b, addr_len(a)) == 0;
}

int ipaddr_cmp(const struct ipaddr *a, const struct ipaddr *b)
{
    if (a->family != b->family) return a->family < b->family ? -1 : 1;
    int r = memcmp(a->b, b->b, addr_len(a));
    return r < 0 ? -1 : r > 0;
}

void ipaddr_mask(struct ipaddr *a, unsigned prefix)
{
    size_t bits = addr_len(a) * 8;
    if (prefix >= bits) return;
    size_t byte = prefix / 8;
    if (prefix % 8) a->b[byte++] &= (uint8_t)(0xff00u >> (prefix % 8));
    memset(a->b + byte, 0, 16 - byte);
}

int cidr_parse(struct str s, struct cidr *out)
{
    ptrdiff_t slash = str_chr(s, '/');
    struct str as = slash < 0 ? s : str_sub(s, 0, (size_t)slash);
    struct ipaddr a;
    if (ipaddr_parse(as, &a) < 0) return -1;
    unsigned max = a.family == 4 ? 32 : 128, prefix = max;
    if (slash >= 0) {
        struct str ps = str_from(s, (size_t)slash + 1);
        uint64_t v;
        if (ps.len == 0 || ps.len > 3 || !str_to_u64(ps, &v) || (ps.len > 1 && ps.p[0] == '0'))
            return -1;
        /* "::ffff:10.0.0.0/104" became IPv4: its prefix counts from bit 96 */
        if (a.family == 4 && memchr(as.p, ':', as.len)) {
            if (v < 96 || v > 128) return -1;
            v -= 96;
        }
        if (v > max) return -1;
        prefix = (unsigned)v;
    }
    ipaddr_mask(&a, prefix);
    out->addr = a;
    out->prefix = (uint8_t)prefix;
    return 0;
}

size_t cidr_format(const struct cidr *c, char *buf, size_t cap)
{
    char tmp[IPADDR_STRLEN + 4];
    size_t n = ipaddr_format(&c->addr, tmp, IPADDR_STRLEN);
    unsigned p = c->prefix;
    tmp[n++] = '/';
    if (p >= 100) tmp[n++] = (char)('0' + p / 100);
    if (p >= 10) tmp[n++] = (char)('0' + p / 10 % 10);
    tmp[n++] = (char)('0' + p % 10);
    if (cap == 0) return 0;
    if (n >= cap) n = cap - 1;
    memcpy(buf, tmp, n);
    buf[n] = 0;
    return n;
}

/* Bit i (0 = most significant of b[0]) of an address. */
static inline unsigned bit_at(const uint8_t *b, unsigned i) { return (b[i >> 3] >> (7 - (i & 7))) & 1u; }

bool cidr_contains(const struct cidr *c, const struct ipaddr *a)
{
    if (c->addr.family != a->family || a->family == 0) return false;
    unsigned p = c->prefix, full = p / 8;
    if (p > addr_len(a) * 8) return false;
    if (memcmp(c->addr.b, a->b, full) != 0) return false;
    if (p % 8 == 0) return true;
    uint8_t m = (uint8_t)(0xff00u >> (p % 8));
    return (c->addr.b[full] & m) == (a->b[full] & m);
}

/* ---- cidrset: one binary trie per family, nodes in one array, index 0 = none ----------- */

struct cnode {
    uint32_t child[2];
    uint8_t term;             /* a prefix ends here */
};

struct cidrset {
    struct cnode *nodes;
    size_t n, cap;
    uint32_t root[2];         /* [0] IPv4, [1] IPv6 */
    size_t count;             /* distinct prefixes added */
};

static uint32_t node_new(struct cidrset *s)
{
    if (s->n >= UINT32_MAX) abort();   /* unreachable for config-sized sets */
    s->nodes = xgrow(s->nodes, &s->cap, s->n + 1, sizeof *s->nodes);
    memset(&s->nodes[s->n], 0, sizeof *s->nodes);
    return (uint32_t)s->n++;
}

struct cidrset *cidrset_new(void)
{
    struct cidrset *s = xcalloc(1, sizeof *s);
    node_new(s);                       /* index 0: the null node */
    s->root[0] = node_new(s);
    s->root[1] = node_new(s);
    return s;
}

void cidrset_add(struct cidrset *s, const struct cidr *c)
{
    const struct ipaddr *a = &c->addr;
    if (a->family != 4 && a->family != 6) return;
    unsigned bits = a->family == 4 ? 32 : 128, p = c->prefix > bits ? bits : c->prefix;
    uint32_t cur = s->root[a->family == 6];
    for (unsigned i = 0; i < p; i++) {
        unsigned bt = bit_at(a->b, i);
        uint32_t nx = s->nodes[cur].child[bt];
        if (!nx) {
            nx = node_new(s);          /* may move s->nodes: index again below */
            s->nodes[cur].child[bt] = nx;
        }
        cur = nx;
    }
    if (!s->nodes[cur].term) {
        s->nodes[cur].term = 1;
        s->count++;
    }
}

bool cidrset_contains(const struct cidrset *s, const struct ipaddr *a)
{
    if (!s || (a->family != 4 && a->family != 6)) return false;
    unsigned bits = a->family == 4 ? 32 : 128;
    uint32_t cur = s->root[a->family == 6];
    for (unsigned i = 0;; i++) {
        if (s->nodes[cur].term) return true;
        if (i == bits) return false;
        cur = s->nodes[cur].child[bit_at(a->b, i)];
        if (!cur) return false;
    }
}

bool cidrset_overlaps(const struct cidrset *s, const struct cidr *c)
{
    const struct ipaddr *a = &c->addr;
    if (!s || (a->family != 4 && a->family != 6)) return false;
    unsigned bits = a->family == 4 ? 32 : 128, p = c->prefix > bits ? bits : c->prefix;
    uint32_t cur = s->root[a->family == 6];
    for (unsigned i = 0; i < p; i++) {
        if (s->nodes[cur].term) return true;          /* a set prefix covers c */
        cur = s->nodes[cur].child[bit_at(a->b, i)];
        if (!cur) return false;
    }
    /* a node at c's depth: some set prefix lies inside c (or is c) */
    return s->nodes[cur].term || s->nodes[cur].child[0] || s->nodes[cur].child[1];
}

size_t cidrset_count(const struct cidrset *s) { return s ? s->count : 0; }

void cidrset_free(struct cidrset *s)
{
    if (!s) return;
    free(s->nodes);
    free(s);
}
