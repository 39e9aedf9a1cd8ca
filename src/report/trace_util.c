/*
 * trace_util - the small parsers of trace (see trace.h): what the user asked for, what a
 * delivery reply says (hop IDs, the remote's queue ID, the bare SMTP reply), DSN codes and
 * delays=a/b/c/d. Pure functions over slices: no allocation, bounded loops, fuzzed by
 * tests/fuzz/fuzz_trace.c.
 */
#include "report/trace.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

enum trace_what trace_classify(struct str what, struct str *needle, char *err, size_t errlen)
{
    *needle = what;
    if (what.len == 0) {
        snprintf(err, errlen, "empty search");
        return TW_INVALID;
    }
    if (what.len > TRACE_MAX_WHAT) {
        snprintf(err, errlen, "longer than %d bytes", TRACE_MAX_WHAT);
        return TW_INVALID;
    }
    for (size_t i = 0; i < what.len; i++) {
        unsigned char c = (unsigned char)what.p[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(err, errlen, "control character in the search text");
            return TW_INVALID;
        }
    }
    if (what.p[0] == '<') {
        if (what.len < 3 || what.p[what.len - 1] != '>' || memchr(what.p + 1, '>', what.len - 2) ||
            memchr(what.p + 1, '<', what.len - 2)) {
            snprintf(err, errlen, "a Message-ID is written <local@domain>");
            return TW_INVALID;
        }
        return TW_MSGID;
    }
    if (pf_is_qid(what)) return TW_QID;
    if (memchr(what.p, '@', what.len)) {
        if (memchr(what.p, '<', what.len) || memchr(what.p, '>', what.len)) {
            snprintf(err, errlen, "give the address without <>; <...> is a Message-ID");
            return TW_INVALID;
        }
        if (what.len < 2) {
            snprintf(err, errlen, "'@' alone is not an address");
            return TW_INVALID;
        }
        return TW_ADDR;
    }
    snprintf(err, errlen, "not a queue ID, a <Message-ID> or an e-mail address");
    return TW_INVALID;
}

/* Token of [A-Za-z0-9] (plus extra chars) at s, at most max bytes, ended by a delimiter. */
static size_t id_token(struct str s, const char *extra, size_t max)
{
    size_t i = 0;
    while (i < s.len && i <= max && (is_alnum(s.p[i]) || (extra && strchr(extra, s.p[i]) && s.p[i])))
        i++;
    if (i == 0 || i > max) return 0;
    if (i < s.len && !strchr(" ),;.>]", s.p[i])) return 0;
    return i;
}

bool trace_reply_queued_as(struct str reply, struct str *id)
{
    ptrdiff_t q = str_rfindc(reply, "queued as ");
    if (q < 0) return false;
    struct str r = str_from(reply, (size_t)q + 10);
    size_t n = id_token(r, NULL, 64);
    if (!n) return false;
    *id = str_sub(r, 0, n);
    return true;
}

bool trace_reply_forwarded_as(struct str reply, struct str *id)
{
    if (!str_startswith(reply, "forwarded as ")) return false;
    struct str r = str_from(reply, 13);
    size_t n = id_token(r, NULL, 64);
    if (!n) return false;
    *id = str_sub(r, 0, n);
    return true;
}

/* The token just before offset end in s (words separated by spaces). */
static struct str token_before(struct str s, size_t end)
{
    size_t e = end;
    while (e > 0 && s.p[e - 1] == ' ') e--;
    size_t b = e;
    while (b > 0 && s.p[b - 1] != ' ' && e - b < 128) b--;
    if (b > 0 && s.p[b - 1] != ' ') return STR_NULL;
    return str_sub(s, b, e - b);
}

struct str trace_remote_id(struct str reply)
{
    struct str id;
    if (trace_reply_queued_as(reply, &id)) return id;
    ptrdiff_t p = str_rfindc(reply, " id=");
    if (p >= 0) {
        struct str r = str_from(reply, (size_t)p + 4);
        size_t n = id_token(r, "-", 64);
        if (n) return str_sub(r, 0, n);
    }
    p = str_findc(reply, " Message accepted for delivery");
    if (p > 0) {
        struct str t = token_before(reply, (size_t)p);
        if (t.len && id_token(t, "-", 64) == t.len) return t;
    }
    p = str_rfindc(reply, " - gsmtp");
    if (p > 0) {
        struct str t = token_before(reply, (size_t)p);
        if (t.len && id_token(t, "-.", 128) == t.len) return t;
    }
    p = str_findc(reply, "InternalId=");
    if (p >= 0) {
        struct str r = str_from(reply, (size_t)p + 11);
        size_t n = id_token(r, NULL, 32);
        if (n) return str_sub(r, 0, n);
    }
    return STR_NULL;
}

struct str trace_reply_core(struct str reply, struct str *who, struct str *stage)
{
    if (who) *who = STR_NULL;
    if (stage) *stage = STR_NULL;
    struct str r = reply;
    if (str_startswith(r, "host ")) {
        ptrdiff_t s = str_findc(str_sub(r, 0, 320), " said: ");
        if (s > 5) {
            if (who) *who = str_sub(r, 5, (size_t)s - 5);
            r = str_from(r, (size_t)s + 7);
        }
    }
    if (str_endswith(r, " command)")) {
        ptrdiff_t s = str_rfindc(r, " (in reply to ");
        if (s >= 0) {
            if (stage) *stage = str_sub(r, (size_t)s + 14, r.len - (size_t)s - 14 - 9);
            r = str_sub(r, 0, (size_t)s);
        }
    }
    return r;
}

/* "x.y.z" with x one digit, y and z 1..3 digits. */
static bool dsn_split(struct str d, int *cls, int *subj, int *det)
{
    if (d.len < 5 || d.len > 9) return false;
    if (d.p[0] < '0' || d.p[0] > '9' || d.p[1] != '.') return false;
    *cls = d.p[0] - '0';
    size_t i = 2;
    int v[2];
    for (int k = 0; k < 2; k++) {
        size_t st = i;
        int x = 0;
        while (i < d.len && d.p[i] >= '0' && d.p[i] <= '9' && i - st < 3) x = x * 10 + (d.p[i++] - '0');
        if (i == st) return false;
        v[k] = x;
        if (k == 0) {
            if (i >= d.len || d.p[i] != '.') return false;
            i++;
        }
    }
    if (i != d.len) return false;
    *subj = v[0];
    *det = v[1];
    return true;
}

const char *trace_dsn_class(struct str dsn)
{
    int c, s, d;
    if (!dsn_split(dsn, &c, &s, &d)) return NULL;
    switch (c) {
    case 2: return "success";
    case 4: return "temporary";
    case 5: return "permanent";
    default: return NULL;
    }
}

static const struct { int s, d; const char *text; } dsn_tab[] = {
    { 0, 0, "other or undefined status" },
    { 1, 0, "other address status" },
    { 1, 1, "bad destination mailbox address (no such user)" },
    { 1, 2, "bad destination system address (no such domain)" },
    { 1, 3, "bad destination mailbox address syntax" },
    { 1, 4, "destination mailbox address ambiguous" },
    { 1, 6, "destination mailbox has moved" },
    { 1, 7, "bad sender's mailbox address syntax" },
    { 1, 8, "bad sender's system address" },
    { 2, 0, "other or undefined mailbox status" },
    { 2, 1, "mailbox disabled, not accepting messages" },
    { 2, 2, "mailbox full (over quota)" },
    { 2, 3, "message length exceeds administrative limit" },
    { 2, 4, "mailing list expansion problem" },
    { 3, 0, "other or undefined mail system status" },
    { 3, 1, "mail system full" },
    { 3, 2, "system not accepting network messages" },
    { 3, 3, "system not capable of selected features" },
    { 3, 4, "message too big for system" },
    { 3, 5, "system incorrectly configured" },
    { 4, 0, "other or undefined network or routing status" },
    { 4, 1, "no answer from host (connection refused or timed out)" },
    { 4, 2, "bad connection (dropped, or too many connections)" },
    { 4, 3, "directory server failure (DNS lookup failed)" },
    { 4, 4, "unable to route (no MX/A record, or no route to the host)" },
    { 4, 5, "mail system congestion" },
    { 4, 6, "routing loop detected" },
    { 4, 7, "delivery time expired" },
    { 5, 0, "other or undefined protocol status" },
    { 5, 1, "invalid command" },
    { 5, 2, "syntax error" },
    { 5, 3, "too many recipients" },
    { 5, 4, "invalid command arguments" },
    { 5, 5, "wrong protocol version" },
    { 6, 0, "other or undefined media error" },
    { 7, 0, "other or undefined security status" },
    { 7, 1, "delivery not authorized, message refused (policy, spam filter or greylisting)" },
    { 7, 2, "mailing list expansion prohibited" },
    { 7, 7, "message integrity failure" },
    { 7, 8, "authentication credentials invalid" },
    { 7, 9, "authentication mechanism too weak" },
    { 7, 25, "reverse DNS validation failed" },
    { 7, 26, "multiple authentication checks failed (SPF/DKIM/DMARC)" },
};

static const char *const subj_tab[] = {
    "other status", "address status", "mailbox status", "mail system status",
    "network or routing status", "mail delivery protocol status", "message content or media status",
    "security or policy status",
};

size_t trace_dsn_meaning(struct str dsn, char *buf, size_t cap)
{
    int c, s, d;
    if (cap == 0) return 0;
    buf[0] = 0;
    if (!dsn_split(dsn, &c, &s, &d)) return 0;
    const char *t = NULL;
    for (size_t i = 0; i < sizeof dsn_tab / sizeof dsn_tab[0]; i++)
        if (dsn_tab[i].s == s && dsn_tab[i].d == d) { t = dsn_tab[i].text; break; }
    if (!t && s >= 0 && s < (int)(sizeof subj_tab / sizeof subj_tab[0])) t = subj_tab[s];
    if (!t) t = "unknown status";
    int n = snprintf(buf, cap, "%s", t);
    return n < 0 ? 0 : ((size_t)n < cap ? (size_t)n : cap - 1);
}

bool trace_delays_parse(struct str s, double d[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        char tmp[32];
        size_t st = i, dots = 0;
        while (i < s.len && ((s.p[i] >= '0' && s.p[i] <= '9') || s.p[i] == '.')) {
            if (s.p[i] == '.') dots++;
            i++;
        }
        size_t n = i - st;
        if (n == 0 || n >= sizeof tmp || dots > 1 || s.p[st] == '.') return false;
        memcpy(tmp, s.p + st, n);
        tmp[n] = 0;
        d[k] = strtod(tmp, NULL);
        if (k < 3) {
            if (i >= s.len || s.p[i] != '/') return false;
            i++;
        }
    }
    return i == s.len;
}

/* ---- substring search ---- */

/* How common each byte is in mail logs (0 = rarest .. 84 = most common), measured on the
 * Postfix/Dovecot corpus in tests/data. */
static const uint8_t byte_rank[256] = {
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  47,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
     84,   1,   4,   0,   0,   0,   0,   0,  39,  40,   0,  19,  48,  35,  73,  55,
     78,  82,  83,  65,  62,  64,  51,  60,  58,  59,  77,   5,  44,  63,  45,   0,
     42,  49,  26,  34,  38,  27,  17,  15,  12,  20,  11,   9,  30,  10,  52,  31,
     16,  28,  21,  29,  23,   8,   6,  14,  25,  13,   7,  53,   3,  54,   0,  18,
      0,  74,  37,  68,  67,  81,  57,  46,  43,  71,  22,  33,  72,  75,  69,  80,
     70,  32,  66,  76,  79,  50,  61,  24,  56,  41,  36,   0,   2,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
};

void finder_init(struct finder *f, struct str needle)
{
    f->p = needle.p;
    f->len = needle.len;
    f->rare = 0;
    for (size_t i = 1; i < needle.len; i++)
        if (byte_rank[(unsigned char)needle.p[i]] <= byte_rank[(unsigned char)needle.p[f->rare]]) f->rare = i;
}

const char *finder_find(const struct finder *f, const char *hay, size_t n)
{
    if (f->len == 0) return hay;
    if (n < f->len) return NULL;
    const char *end = hay + n, *q = hay + f->rare, *last = end - (f->len - f->rare);
    char c = f->p[f->rare];
    while (q <= last) {
        const char *h = memchr(q, c, (size_t)(last - q) + 1);
        if (!h) return NULL;
        const char *s = h - f->rare;
        if (memcmp(s, f->p, f->len) == 0) return s;
        q = h + 1;
    }
    return NULL;
}
