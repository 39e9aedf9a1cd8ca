/*
 * f2b_regex - see f2b_regex.h. Python sources mirrored: fail2ban server/failregex.py
 * (_resolveHostTag, R_HOST, RH4TAG, R_GLOB2LOCFLAGS) and Python's sre syntax.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "guard/f2b_regex.h"
#include "util/xalloc.h"
#include <pcre2.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fail2ban tag expansion ---------------------------------------------------------- */

#define IP4_RE "(?:\\d{1,3}\\.){3}\\d{1,3}"
#define IP6_RE "(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)"
#define R_IPV4 "(?:::f{4,6}:)?(?P<ip4>" IP4_RE ")"
#define R_IPV6 "(?P<ip6>" IP6_RE ")"
#define R_DNS "(?P<dns>[\\w\\-.^_]*\\w)"
#define R_ADDR "\\[?(?:" R_IPV4 "|" R_IPV6 ")\\]?"
#define R_HOST "(?:" R_ADDR "|" R_DNS ")"
#define R_CIDR "(?P<cidr>\\d+)"
#define R_SUBNET "\\[?(?:" R_IPV4 "|" R_IPV6 ")(?:/" R_CIDR ")?\\]?"

static const struct { const char *tag, *re; } rh4tag[] = {
    { "IP4", R_IPV4 }, { "F-IP4/", R_IPV4 },
    { "IP6", R_IPV6 }, { "F-IP6/", R_IPV6 },
    { "ADDR", R_ADDR }, { "F-ADDR/", R_ADDR },
    { "CIDR", R_CIDR }, { "F-CIDR/", R_CIDR },
    { "SUBNET", R_SUBNET }, { "F-SUBNET/", R_SUBNET },
    { "DNS", R_DNS }, { "F-DNS/", R_DNS },
    { "F-ID/", "(?P<fid>\\S+)" },
    { "F-PORT/", "(?P<fport>\\w+)" },
};

static bool wchar(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }

int f2b_tags_resolve(const char *regex, unsigned flags, struct buf *out)
{
    /* names of opened <F-...> tags */
    char opened[64][48];
    int nopen = 0, nl = 0;
    const char *p = regex;
    while (*p) {
        /* FTAG_CRE = </?[\w\-]+/?> */
        if (*p == '<') {
            const char *q = p + 1;
            if (*q == '/') q++;
            const char *w = q;
            while (wchar((unsigned char)*q) || *q == '-') q++;
            if (q > w) {
                const char *e = q;
                if (*e == '/') e++;
                if (*e == '>') {
                    size_t tl = (size_t)(e - p - 1);      /* tn = tag[1:-1] */
                    char tn[128];
                    if (tl < sizeof tn) {
                        memcpy(tn, p + 1, tl);
                        tn[tl] = 0;
                        const char *rep = NULL;
                        char tmp[96];
                        if (strcmp(tn, "HOST") == 0) {
                            rep = flags & F2B_RE_USEDNS_NO ? R_ADDR : R_HOST;
                        } else if (strcmp(tn, "SKIPLINES") == 0) {
                            snprintf(tmp, sizeof tmp, "\\n(?P<skiplines%d>(?:(?:.*\\n)*?))", nl++);
                            rep = tmp;
                        } else {
                            for (size_t i = 0; i < sizeof rh4tag / sizeof *rh4tag; i++)
                                if (strcmp(tn, rh4tag[i].tag) == 0) rep = rh4tag[i].re;
                        }
                        if (!rep) {
                            /* FCUSTNAME_CRE = ^(/?)F-([A-Z0-9_\-]+)$ */
                            const char *t = tn;
                            bool close = *t == '/';
                            if (close) t++;
                            bool ok = strncmp(t, "F-", 2) == 0 && t[2];
                            for (const char *c = t + 2; ok && *c; c++)
                                if (!(isupper((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_' || *c == '-'))
                                    ok = false;
                            if (ok) {
                                const char *name = t + 2;
                                bool was = false;
                                for (int i = 0; i < nopen; i++)
                                    if (strcmp(opened[i], name) == 0) was = true;
                                if (close) {
                                    rep = was ? ")" : NULL;
                                } else {
                                    if (!was && nopen < 64 && strlen(name) < sizeof opened[0])
                                        snprintf(opened[nopen++], sizeof opened[0], "%s", name);
                                    char low[64];
                                    size_t k = 0;
                                    for (; name[k] && k < sizeof low - 1; k++)
                                        low[k] = (char)tolower((unsigned char)name[k]);
                                    low[k] = 0;
                                    const char *g = strcmp(low, "id") == 0 ? "fid" :
                                                    strcmp(low, "port") == 0 ? "fport" : low;
                                    snprintf(tmp, sizeof tmp, "(?P<%s>", g);
                                    rep = tmp;
                                }
                            }
                        }
                        if (rep) {
                            if (buf_puts(out, rep) < 0) return -1;
                            p = e + 1;
                            continue;
                        }
                    }
                    /* not a known tag: copy it unchanged */
                    if (buf_append(out, p, (size_t)(e + 1 - p)) < 0) return -1;
                    p = e + 1;
                    continue;
                }
            }
        }
        if (buf_putc(out, *p) < 0) return -1;
        p++;
    }
    return 0;
}

/* R_GLOB2LOCFLAGS: (?<!\\)\((?:\?:)?(\(\?[a-z]+)\) -> \1:   e.g. ((?i)a|b) -> (?i:a|b) */
static int glob2loc(const char *s, struct buf *out)
{
    for (size_t i = 0; s[i];) {
        if (s[i] == '(' && (i == 0 || s[i - 1] != '\\')) {
            size_t j = i + 1;
            if (s[j] == '?' && s[j + 1] == ':') j += 2;
            if (s[j] == '(' && s[j + 1] == '?' && islower((unsigned char)s[j + 2])) {
                size_t k = j + 2;
                while (islower((unsigned char)s[k])) k++;
                if (s[k] == ')') {
                    if (buf_append(out, s + j, k - j) < 0 || buf_putc(out, ':') < 0) return -1;
                    i = k + 1;
                    continue;
                }
            }
        }
        if (buf_putc(out, s[i]) < 0) return -1;
        i++;
    }
    return 0;
}

/* ---- Python -> PCRE2 ----------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int put_utf8(struct buf *out, unsigned long cp, bool group)
{
    unsigned char b[4];
    int n;
    if (cp < 0x80) { b[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (unsigned char)(0xc0 | cp >> 6); b[1] = (unsigned char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12); b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f)); n = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | cp >> 18); b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f)); b[3] = (unsigned char)(0x80 | (cp & 0x3f)); n = 4;
    }
    if (group && n > 1 && buf_puts(out, "(?:") < 0) return -1;
    for (int i = 0; i < n; i++)
        if (buf_printf(out, "\\x%02x", b[i]) < 0) return -1;
    if (group && n > 1 && buf_putc(out, ')') < 0) return -1;
    return 0;
}

int f2b_py2pcre(const char *py, struct buf *out, char *err, size_t errlen)
{
    bool cls = false;
    size_t cls_start = 0;
    for (size_t i = 0; py[i];) {
        char c = py[i];
        if (c == '\\') {
            char n = py[i + 1];
            if (!n) {
                snprintf(err, errlen, "bad escape (end of pattern)");
                return -1;
            }
            if (n == 'Z' && !cls) {
                if (buf_puts(out, "\\z") < 0) return -1;
                i += 2;
            } else if (n == 'v') {
                if (buf_puts(out, "\\x0b") < 0) return -1;
                i += 2;
            } else if (n == 'u' || n == 'U') {
                int nd = n == 'u' ? 4 : 8;
                unsigned long cp = 0;
                for (int k = 0; k < nd; k++) {
                    int h = hexval((unsigned char)py[i + 2 + k]);
                    if (h < 0) {
                        snprintf(err, errlen, "incomplete escape \\%c at position %zu", n, i);
                        return -1;
                    }
                    cp = cp << 4 | (unsigned long)h;
                }
                if (cp > 0x10ffff) {
                    snprintf(err, errlen, "bad escape \\%c at position %zu", n, i);
                    return -1;
                }
                if (put_utf8(out, cp, !cls) < 0) return -1;
                i += 2 + (size_t)nd;
            } else if (n == 'N') {
                snprintf(err, errlen, "\\N{...} escapes are not supported");
                return -1;
            } else {
                if (buf_putc(out, c) < 0 || buf_putc(out, n) < 0) return -1;
                i += 2;
            }
            continue;
        }
        if (cls) {
            if (c == ']' && i > cls_start) {
                cls = false;
            } else if (c == '[') {
                if (buf_puts(out, "\\[") < 0) return -1;
                i++;
                continue;
            }
            if (buf_putc(out, c) < 0) return -1;
            i++;
            continue;
        }
        if (c == '[') {
            cls = true;
            if (buf_putc(out, c) < 0) return -1;
            i++;
            if (py[i] == '^') {
                if (buf_putc(out, '^') < 0) return -1;
                i++;
            }
            cls_start = i;          /* a ']' right here is literal */
            if (py[i] == ']') {
                if (buf_puts(out, "\\]") < 0) return -1;
                i++;
            }
            continue;
        }
        if (c == '{' && py[i + 1] == ',' && isdigit((unsigned char)py[i + 2])) {
            size_t k = i + 2;
            while (isdigit((unsigned char)py[k])) k++;
            if (py[k] == '}') {
                if (buf_puts(out, "{0,") < 0 || buf_append(out, py + i + 2, k - i - 2) < 0 || buf_putc(out, '}') < 0)
                    return -1;
                i = k + 1;
                continue;
            }
        }
        if (c == '(' && py[i + 1] == '?' && strchr("aiLmsux-", py[i + 2]) && py[i + 2]) {
            /* inline flags: (?aiLmsux) or (?aiLmsux-imsx:...) */
            size_t k = i + 2;
            char on[16], off[16];
            size_t non = 0, noff = 0;
            while (py[k] && strchr("aiLmsux", py[k]) && non < 15) {
                if (!strchr("aLu", py[k])) on[non++] = py[k];
                k++;
            }
            if (py[k] == '-') {
                k++;
                while (py[k] && strchr("imsx", py[k]) && noff < 15) off[noff++] = py[k++];
                if (py[k] != ':') goto plain;
            }
            if (py[k] != ')' && py[k] != ':') goto plain;
            on[non] = 0;
            off[noff] = 0;
            if (py[k] == ')') {
                if (non && buf_printf(out, "(?%s)", on) < 0) return -1;
            } else if (buf_printf(out, "(?%s%s%s:", on, noff ? "-" : "", off) < 0) {
                return -1;
            }
            i = k + 1;
            continue;
        }
plain:
        if (buf_putc(out, c) < 0) return -1;
        i++;
    }
    if (cls) {
        snprintf(err, errlen, "unterminated character set");
        return -1;
    }
    return 0;
}

/* ---- literal prefilter extraction ----------------------------------------------------- */

#define LIT_MAXLEN 200

struct lset {
    int n;
    char *s[F2B_PF_MAX];
    size_t len[F2B_PF_MAX];
};

struct info {
    bool exact;         /* matches exactly one of ex */
    struct lset ex;
    bool hasreq;        /* a match contains one of req */
    struct lset req;
};

static void lset_free(struct lset *s)
{
    for (int i = 0; i < s->n; i++) free(s->s[i]);
    s->n = 0;
}

static bool lset_add(struct lset *s, const char *p, size_t len)
{
    for (int i = 0; i < s->n; i++)
        if (s->len[i] == len && memcmp(s->s[i], p, len) == 0) return true;
    if (s->n >= F2B_PF_MAX || len > LIT_MAXLEN) return false;
    s->s[s->n] = xmalloc(len + 1);
    memcpy(s->s[s->n], p, len);
    s->s[s->n][len] = 0;
    s->len[s->n] = len;
    s->n++;
    return true;
}

static void lset_copy(struct lset *d, const struct lset *s)
{
    d->n = 0;
    for (int i = 0; i < s->n; i++) lset_add(d, s->s[i], s->len[i]);
}

static bool lset_cross(struct lset *d, const struct lset *a, const struct lset *b)
{
    d->n = 0;
    if ((long)a->n * b->n > F2B_PF_MAX) return false;
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < b->n; j++) {
            size_t l = a->len[i] + b->len[j];
            if (l > LIT_MAXLEN) { lset_free(d); return false; }
            char tmp[2 * LIT_MAXLEN + 1];
            memcpy(tmp, a->s[i], a->len[i]);
            memcpy(tmp + a->len[i], b->s[j], b->len[j]);
            if (!lset_add(d, tmp, l)) { lset_free(d); return false; }
        }
    return true;
}

static bool lset_union(struct lset *d, const struct lset *a, const struct lset *b)
{
    lset_copy(d, a);
    for (int i = 0; i < b->n; i++)
        if (!lset_add(d, b->s[i], b->len[i])) { lset_free(d); return false; }
    return true;
}

static size_t lset_minlen(const struct lset *s)
{
    size_t m = (size_t)-1;
    for (int i = 0; i < s->n; i++) if (s->len[i] < m) m = s->len[i];
    return s->n ? m : 0;
}

static void info_free(struct info *f)
{
    lset_free(&f->ex);
    lset_free(&f->req);
}

static void info_empty(struct info *f)
{
    memset(f, 0, sizeof *f);
    f->exact = true;
    lset_add(&f->ex, "", 0);
}

static void info_unknown(struct info *f) { memset(f, 0, sizeof *f); }

/* The requirement an info stands for: its exact set, else its req set. */
static const struct lset *info_req(const struct info *f)
{
    if (f->exact) return f->ex.n ? &f->ex : NULL;
    return f->hasreq ? &f->req : NULL;
}

/* Keep the better of best and cand (longer shortest literal, then fewer literals). */
static void consider(struct lset *best, bool *have, const struct lset *cand)
{
    if (!cand || !cand->n) return;
    size_t m = lset_minlen(cand);
    if (m == 0) return;
    if (*have) {
        size_t bm = lset_minlen(best);
        if (m < bm || (m == bm && cand->n >= best->n)) return;
        lset_free(best);
    }
    lset_copy(best, cand);
    *have = true;
}

struct lp {
    const char *p;
    bool icase, fail;
    int depth;
};

static void parse_alt(struct lp *l, struct info *out);

/* Skip a balanced group body up to and including its ')'. */
static void skip_group(struct lp *l)
{
    int d = 1;
    bool cls = false;
    while (*l->p && d > 0) {
        char c = *l->p++;
        if (c == '\\' && *l->p) { l->p++; continue; }
        if (cls) { if (c == ']') cls = false; continue; }
        if (c == '[') { cls = true; if (*l->p == '^') l->p++; if (*l->p == ']') l->p++; }
        else if (c == '(') d++;
        else if (c == ')') d--;
    }
    if (d > 0) l->fail = true;
}

static void lit_char(struct lp *l, struct info *f, unsigned char c)
{
    if (l->icase && isalpha(c)) { info_unknown(f); return; }
    memset(f, 0, sizeof *f);
    f->exact = true;
    char ch = (char)c;
    lset_add(&f->ex, &ch, 1);
}

/* One escape after '\\' (l->p at the char after the backslash). */
static void parse_escape(struct lp *l, struct info *f)
{
    unsigned char c = (unsigned char)*l->p++;
    switch (c) {
    case 0: l->fail = true; l->p--; info_unknown(f); return;
    case 'b': case 'B': case 'A': case 'z': case 'Z': case 'G': case 'E': info_empty(f); return;
    case 'K': l->fail = true; info_unknown(f); return;
    case 'n': lit_char(l, f, '\n'); return;
    case 't': lit_char(l, f, '\t'); return;
    case 'r': lit_char(l, f, '\r'); return;
    case 'f': lit_char(l, f, '\f'); return;
    case 'a': lit_char(l, f, 7); return;
    case 'e': lit_char(l, f, 27); return;
    case 'x': {
        int h1 = hexval((unsigned char)l->p[0]), h2 = h1 >= 0 ? hexval((unsigned char)l->p[1]) : -1;
        if (h1 >= 0 && h2 >= 0) { l->p += 2; lit_char(l, f, (unsigned char)(h1 * 16 + h2)); return; }
        l->fail = true; info_unknown(f); return;
    }
    case 'p': case 'P': case 'g': case 'k':
        if (*l->p == '{' || *l->p == '<' || *l->p == '\'') {
            char close = *l->p == '{' ? '}' : *l->p == '<' ? '>' : '\'';
            const char *e = strchr(l->p, close);
            if (!e) { l->fail = true; info_unknown(f); return; }
            l->p = e + 1;
        } else if (c == 'g' || c == 'p' || c == 'P') {
            while (isdigit((unsigned char)*l->p) || *l->p == '-') l->p++;
            if (c != 'g' && *l->p) l->p++;
        }
        info_unknown(f);
        return;
    case 'Q': {
        const char *e = strstr(l->p, "\\E");
        size_t n = e ? (size_t)(e - l->p) : strlen(l->p);
        bool alpha = false;
        for (size_t i = 0; i < n; i++) if (isalpha((unsigned char)l->p[i])) alpha = true;
        if (l->icase && alpha) info_unknown(f);
        else {
            memset(f, 0, sizeof *f);
            f->exact = true;
            if (!lset_add(&f->ex, l->p, n)) info_unknown(f);
        }
        l->p += n + (e ? 2 : 0);
        return;
    }
    default:
        if (isdigit(c)) {
            if (c == '0') {     /* octal */
                int v = 0, k = 0;
                while (k < 2 && *l->p >= '0' && *l->p <= '7') { v = v * 8 + (*l->p++ - '0'); k++; }
                lit_char(l, f, (unsigned char)v);
                return;
            }
            while (isdigit((unsigned char)*l->p)) l->p++;
            info_unknown(f);      /* back reference (or octal: unknown is safe) */
            return;
        }
        if (isalnum(c)) { info_unknown(f); return; }   /* \d \w \s \h \R \X ... */
        lit_char(l, f, c);
        return;
    }
}

/* [...] : small sets of plain characters become exact, anything else unknown. */
static void parse_class(struct lp *l, struct info *f)
{
    bool neg = false, simple = true;
    char chars[8];
    int n = 0;
    if (*l->p == '^') { neg = true; l->p++; }
    bool first = true;
    for (;;) {
        unsigned char c = (unsigned char)*l->p;
        if (!c) { l->fail = true; info_unknown(f); return; }
        if (c == ']' && !first) { l->p++; break; }
        first = false;
        l->p++;
        if (c == '\\') {
            unsigned char e = (unsigned char)*l->p;
            if (!e) { l->fail = true; info_unknown(f); return; }
            l->p++;
            if (isalnum(e)) {
                simple = false;
                if (e == 'x') while (isxdigit((unsigned char)*l->p)) l->p++;
                if ((e == 'p' || e == 'P') && *l->p == '{') { const char *q = strchr(l->p, '}'); if (q) l->p = q + 1; }
                continue;
            }
            c = e;
        } else if (c == '[' && *l->p == ':') {
            simple = false;          /* POSIX class */
            const char *q = strstr(l->p, ":]");
            if (q) l->p = q + 2;
            continue;
        } else if (c == '-' && *l->p != ']' && n > 0) {
            simple = false;          /* range */
            continue;
        }
        if (l->icase && isalpha(c)) simple = false;
        if (n < 8) chars[n++] = (char)c;
        else simple = false;
    }
    if (neg || !simple || n == 0 || n > 4) { info_unknown(f); return; }
    memset(f, 0, sizeof *f);
    f->exact = true;
    for (int i = 0; i < n; i++) lset_add(&f->ex, &chars[i], 1);
}

/* Atom at l->p. */
static void parse_atom(struct lp *l, struct info *f)
{
    char c = *l->p++;
    switch (c) {
    case '.': info_unknown(f); return;
    case '^': case '$': info_empty(f); return;
    case '\\': parse_escape(l, f); return;
    case '[': parse_class(l, f); return;
    case '(': break;
    default: lit_char(l, f, (unsigned char)c); return;
    }
    if (++l->depth > 200) { l->fail = true; info_unknown(f); return; }
    bool saved = l->icase;
    if (*l->p == '*') { l->fail = true; info_unknown(f); l->depth--; return; }
    if (*l->p != '?') {
        parse_alt(l, f);
    } else {
        l->p++;
        char k = *l->p;
        if (k == ':' || k == '>' || k == '|') {
            l->p++;
            parse_alt(l, f);
        } else if (k == '=' || k == '!' || (k == '<' && (l->p[1] == '=' || l->p[1] == '!'))) {
            l->p += k == '<' ? 2 : 1;
            struct info tmp;
            parse_alt(l, &tmp);
            info_free(&tmp);
            info_empty(f);
        } else if (k == '#') {
            const char *e = strchr(l->p, ')');
            if (!e) { l->fail = true; info_unknown(f); l->depth--; return; }
            l->p = e;
            info_empty(f);
        } else if (k == 'P' && l->p[1] == '<') {
            const char *e = strchr(l->p, '>');
            if (!e) { l->fail = true; info_unknown(f); l->depth--; return; }
            l->p = e + 1;
            parse_alt(l, f);
        } else if ((k == '<' || k == '\'') && (isalpha((unsigned char)l->p[1]) || l->p[1] == '_')) {
            const char *e = strchr(l->p + 1, k == '<' ? '>' : '\'');
            if (!e) { l->fail = true; info_unknown(f); l->depth--; return; }
            l->p = e + 1;
            parse_alt(l, f);
        } else if (k == 'P' && (l->p[1] == '=' || l->p[1] == '>')) {
            skip_group(l);
            info_unknown(f);
            l->depth--;
            return;
        } else if (k == '(') {
            skip_group(l);              /* conditional: give up on it */
            info_unknown(f);
            l->depth--;
            return;
        } else if (strchr("imsxnJU-^", k) && k) {
            bool on = true, icase = l->icase;
            while (*l->p && *l->p != ')' && *l->p != ':') {
                char fl = *l->p++;
                if (fl == '-') on = false;
                else if (fl == '^') icase = false;
                else if (fl == 'i') icase = on;
                else if (fl == 'x') { l->fail = true; }
            }
            if (*l->p == ')') {           /* flags for the rest of the enclosing group */
                l->p++;
                l->icase = icase;
                info_empty(f);
                l->depth--;
                return;
            }
            if (*l->p != ':') { l->fail = true; info_unknown(f); l->depth--; return; }
            l->p++;
            l->icase = icase;
            parse_alt(l, f);
        } else {
            l->fail = true;             /* recursion, callouts, ... */
            skip_group(l);
            info_unknown(f);
            l->depth--;
            return;
        }
    }
    l->icase = saved;
    if (*l->p == ')') l->p++;
    else l->fail = true;
    l->depth--;
}

/* Quantifier at l->p: sets min/max (max -1: unbounded); false if none. */
static bool parse_quant(struct lp *l, long *min, long *max)
{
    const char *p = l->p;
    if (*p == '*') { *min = 0; *max = -1; p++; }
    else if (*p == '+') { *min = 1; *max = -1; p++; }
    else if (*p == '?') { *min = 0; *max = 1; p++; }
    else if (*p == '{' && isdigit((unsigned char)p[1])) {
        char *e;
        long a = strtol(p + 1, &e, 10), b = a;
        if (*e == ',') {
            if (isdigit((unsigned char)e[1])) b = strtol(e + 1, &e, 10);
            else { b = -1; e++; }
        }
        if (*e != '}') return false;
        *min = a;
        *max = b;
        p = e + 1;
    } else {
        return false;
    }
    if (*p == '?' || *p == '+') p++;
    l->p = p;
    return true;
}

struct seq {
    struct lset run;       /* exact strings of the current run */
    bool all_exact;
    struct lset best;
    bool have;
};

static void seq_break(struct seq *s)
{
    consider(&s->best, &s->have, &s->run);
    lset_free(&s->run);
    lset_add(&s->run, "", 0);
    s->all_exact = false;
}

static void seq_feed(struct seq *s, const struct info *it)
{
    if (it->exact) {
        struct lset x = { 0 };
        if (lset_cross(&x, &s->run, &it->ex)) {
            lset_free(&s->run);
            s->run = x;
        } else {
            consider(&s->best, &s->have, &s->run);
            lset_free(&s->run);
            lset_copy(&s->run, &it->ex);
            s->all_exact = false;
        }
        return;
    }
    seq_break(s);
    if (it->hasreq) consider(&s->best, &s->have, &it->req);
}

static void parse_seq(struct lp *l, struct info *out)
{
    struct seq s = { { 0 }, true, { 0 }, false };
    lset_add(&s.run, "", 0);
    while (*l->p && *l->p != '|' && *l->p != ')' && !l->fail) {
        struct info a;
        parse_atom(l, &a);
        long min, max;
        if (!parse_quant(l, &min, &max)) {
            seq_feed(&s, &a);
        } else if (min == 0) {
            struct info it;
            if (max == 1 && a.exact) {
                memset(&it, 0, sizeof it);
                it.exact = true;
                if (!lset_union(&it.ex, &a.ex, &(struct lset){ 1, { "" }, { 0 } })) info_unknown(&it);
            } else {
                info_unknown(&it);
            }
            seq_feed(&s, &it);
            info_free(&it);
        } else {
            seq_feed(&s, &a);               /* the first repetition is certain */
            if (max != 1) {
                seq_break(&s);
                if (min > 1 && a.exact) {       /* and so is the last one */
                    struct info again = a;
                    seq_feed(&s, &again);
                    seq_break(&s);
                }
            }
        }
        info_free(&a);
    }
    memset(out, 0, sizeof *out);
    if (s.all_exact) {
        out->exact = true;
        out->ex = s.run;
        lset_free(&s.best);
        return;
    }
    consider(&s.best, &s.have, &s.run);
    lset_free(&s.run);
    out->hasreq = s.have;
    out->req = s.best;
}

static void parse_alt(struct lp *l, struct info *out)
{
    parse_seq(l, out);
    while (*l->p == '|' && !l->fail) {
        l->p++;
        struct info b, r;
        parse_seq(l, &b);
        memset(&r, 0, sizeof r);
        if (out->exact && b.exact && lset_union(&r.ex, &out->ex, &b.ex)) {
            r.exact = true;
        } else {
            const struct lset *ra = info_req(out), *rb = info_req(&b);
            if (ra && rb && lset_minlen(ra) > 0 && lset_minlen(rb) > 0 && lset_union(&r.req, ra, rb))
                r.hasreq = true;
        }
        info_free(out);
        info_free(&b);
        *out = r;
    }
}

/* Extract the prefilter of a PCRE2 pattern into re->pf. */
static void extract_prefilter(struct f2b_re *re, bool icase)
{
    struct lp l = { re->pattern, icase, false, 0 };
    struct info top;
    parse_alt(&l, &top);
    if (*l.p) l.fail = true;             /* unbalanced ')' */
    const struct lset *r = info_req(&top);
    if (!l.fail && r && lset_minlen(r) >= 3) {
        for (int i = 0; i < r->n; i++) {
            re->pf[i] = xstrndup(r->s[i], r->len[i]);
            re->pflen[i] = r->len[i];
        }
        re->npf = (size_t)r->n;
    }
    info_free(&top);
}

/* ---- PCRE2 compile / match --------------------------------------------------------------- */

static uint8_t *g_tables;
static pthread_once_t g_tables_once = PTHREAD_ONCE_INIT;

static void tables_init(void)
{
    const uint8_t *def = pcre2_maketables(NULL);
    /* layout (pcre2_internal.h): lcc[256] fcc[256] cbits[320] ctypes[256] */
    enum { CBITS = 512, CBIT_SPACE = 0, CBIT_WORD = 160, CTYPES = 512 + 320 };
    size_t total = 512 + 320 + 256;
    uint8_t *t = xmalloc(total);
    memcpy(t, def, total);
    free((void *)def);
    /* sanity check of the layout before patching it */
    bool ok = (t[CTYPES + 'A'] & 0x10) && (t[CTYPES + '_'] & 0x10) && !(t[CTYPES + ' '] & 0x10) &&
              (t[CTYPES + ' '] & 0x01) && (t[CBITS + CBIT_WORD + 'A' / 8] & (1 << ('A' % 8))) &&
              (t[CBITS + CBIT_SPACE + ' ' / 8] & (1 << (' ' % 8)));
    if (ok) {
        for (int c = 0x80; c < 0x100; c++) {
            t[CTYPES + c] |= 0x10;
            t[CBITS + CBIT_WORD + c / 8] |= (uint8_t)(1 << (c % 8));
        }
        for (int c = 0x1c; c <= 0x1f; c++) {
            t[CTYPES + c] |= 0x01;
            t[CBITS + CBIT_SPACE + c / 8] |= (uint8_t)(1 << (c % 8));
        }
    }
    g_tables = t;
}

const uint8_t *f2b_char_tables(void)
{
    pthread_once(&g_tables_once, tables_init);
    return g_tables;
}

static void build_groups(struct f2b_re *re)
{
    pcre2_code *code = re->code;
    uint32_t count = 0, esize = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &re->ncap);
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &count);
    if (!count) return;
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &esize);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    re->groups = xcalloc(count, sizeof *re->groups);
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * esize;
        uint32_t num = (uint32_t)(e[0] << 8 | e[1]);
        const char *name = (const char *)e + 2;
        struct f2b_group *g = NULL;
        for (size_t k = 0; k < re->ngroups; k++)
            if (strcmp(re->groups[k].name, name) == 0) g = &re->groups[k];
        if (!g) {
            g = &re->groups[re->ngroups++];
            g->name = xstrdup(name);
        }
        if (g->nnum < 4) g->num[g->nnum++] = num;
    }
}

/* MAILWARDEN_NO_JIT=1 selects PCRE2's interpreter: valgrind cannot follow JIT-generated code
 * (it reports every JIT match as use of uninitialised memory), so `make check` runs its
 * valgrind pass with it. Results are identical; only speed differs. */
static bool jit_disabled(void)
{
    const char *e = getenv("MAILWARDEN_NO_JIT"); /* per compile: cheap next to compiling */
    return e && *e && strcmp(e, "0") != 0;
}

struct f2b_re *f2b_re_compile(const char *regex, unsigned flags, char *err, size_t errlen)
{
    struct buf tagged = BUF_INIT(1u << 20), loc = BUF_INIT(1u << 20), pat = BUF_INIT(1u << 20);
    char e2[256] = "";
    struct f2b_re *re = NULL;
    const char *src = regex;
    if (!(flags & F2B_RE_NOTAGS)) {
        if (f2b_tags_resolve(regex, flags, &tagged) < 0 || glob2loc(buf_cstr(&tagged), &loc) < 0) {
            snprintf(err, errlen, "regex too long: %.80s", regex);
            goto out;
        }
        src = buf_cstr(&loc);
        const char *t = src;
        while (*t == ' ' || *t == '\t') t++;
        if (!*t) {
            snprintf(err, errlen, "cannot add empty regex");
            goto out;
        }
    }
    if (f2b_py2pcre(src, &pat, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "unable to compile regular expression '%.200s': %s", regex, e2);
        goto out;
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    pcre2_set_character_tables(cc, f2b_char_tables());
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    pcre2_set_max_pattern_length(cc, 1u << 20);
    int ec = 0;
    PCRE2_SIZE eo = 0;
    uint32_t opts = PCRE2_DUPNAMES | (flags & F2B_RE_MULTILINE ? PCRE2_MULTILINE : 0) |
                    (flags & F2B_RE_ICASE ? PCRE2_CASELESS : 0);
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)buf_cstr(&pat), pat.len, opts, &ec, &eo, cc);
    pcre2_compile_context_free(cc);
    if (!code) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errlen, "unable to compile regular expression '%.200s': %s at offset %zu",
                 regex, (const char *)msg, (size_t)eo);
        goto out;
    }
    re = xcalloc(1, sizeof *re);
    re->code = code;
    re->jit = !(flags & F2B_RE_NOJIT) && !jit_disabled() &&
              pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    re->source = xstrdup(regex);
    re->resolved = xstrdup(src);
    re->pattern = xstrndup(buf_cstr(&pat), pat.len);
    build_groups(re);
    extract_prefilter(re, (flags & F2B_RE_ICASE) != 0);
out:
    buf_free(&tagged);
    buf_free(&loc);
    buf_free(&pat);
    return re;
}

void f2b_re_free(struct f2b_re *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    free(re->source);
    free(re->resolved);
    free(re->pattern);
    for (size_t i = 0; i < re->ngroups; i++) free(re->groups[i].name);
    free(re->groups);
    for (size_t i = 0; i < re->npf; i++) free(re->pf[i]);
    free(re);
}

void f2b_mctx_init(struct f2b_mctx *mx)
{
    memset(mx, 0, sizeof *mx);
    mx->mdcap = 64;
    mx->md = pcre2_match_data_create(mx->mdcap, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(mc, F2B_MATCH_LIMIT);
    pcre2_set_depth_limit(mc, F2B_DEPTH_LIMIT);
    pcre2_set_heap_limit(mc, 64 * 1024);   /* KiB, for the interpreter */
    mx->js = pcre2_jit_stack_create(32 * 1024, F2B_JIT_STACK_MAX, NULL);
    if (mx->js) pcre2_jit_stack_assign(mc, NULL, mx->js);
    mx->mc = mc;
    if (!mx->md) abort();
}

void f2b_mctx_init_light(struct f2b_mctx *mx)
{
    memset(mx, 0, sizeof *mx);
    mx->mdcap = 16;
    mx->md = pcre2_match_data_create(mx->mdcap, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(mc, F2B_MATCH_LIMIT);
    pcre2_set_depth_limit(mc, F2B_DEPTH_LIMIT);
    mx->mc = mc;
    if (!mx->md || !mc) abort();
}

void f2b_mctx_free(struct f2b_mctx *mx)
{
    pcre2_match_data_free(mx->md);
    pcre2_match_context_free(mx->mc);
    if (mx->js) pcre2_jit_stack_free(mx->js);
    memset(mx, 0, sizeof *mx);
}

bool f2b_re_may_match(const struct f2b_re *re, const char *subj, size_t len)
{
    if (!re->npf) return true;
    for (size_t i = 0; i < re->npf; i++)
        if (re->pflen[i] <= len && memmem(subj, len, re->pf[i], re->pflen[i])) return true;
    return false;
}

int f2b_re_search(const struct f2b_re *re, struct f2b_mctx *mx, const char *subj, size_t len, size_t pos)
{
    if (re->ncap + 1 > mx->mdcap) {
        pcre2_match_data_free(mx->md);
        mx->mdcap = re->ncap + 1;
        mx->md = pcre2_match_data_create(mx->mdcap, NULL);
        if (!mx->md) abort();
    }
    mx->subj = subj;
    mx->npairs = 0;
    if (pos > len) return 0;
    int rc;
    if (re->jit)
        rc = pcre2_jit_match(re->code, (PCRE2_SPTR)subj, len, pos, 0, mx->md, mx->mc);
    else
        rc = pcre2_match(re->code, (PCRE2_SPTR)subj, len, pos, 0, mx->md, mx->mc);
    if (rc >= 0) {              /* rc == 0: ovector too small cannot happen (sized above) */
        mx->npairs = (uint32_t)rc; /* pairs past rc are left unwritten by pcre2 */
        return 1;
    }
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    mx->limit_hits++;
    return -1;
}

bool f2b_group_span(const struct f2b_mctx *mx, uint32_t n, size_t *so, size_t *eo)
{
    if (n >= mx->npairs) return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(mx->md);
    if (ov[2 * n] == PCRE2_UNSET) return false;
    *so = ov[2 * n];
    *eo = ov[2 * n + 1];
    return true;
}

int f2b_named_span(const struct f2b_re *re, const struct f2b_mctx *mx, const char *name,
                   size_t *so, size_t *eo)
{
    for (size_t i = 0; i < re->ngroups; i++)
        if (strcmp(re->groups[i].name, name) == 0) {
            for (int k = 0; k < re->groups[i].nnum; k++)
                if (f2b_group_span(mx, re->groups[i].num[k], so, eo)) return 1;
            return 0;
        }
    return -1;
}

bool f2b_re_has_group(const struct f2b_re *re, const char *name)
{
    for (size_t i = 0; i < re->ngroups; i++)
        if (strcmp(re->groups[i].name, name) == 0) return true;
    return false;
}

/* ---- multi-literal prefilter scanner ------------------------------------------------------
 * Every literal gets an anchor: its rarest pair of adjacent bytes (by a byte frequency table
 * for log text). A line is scanned once, testing each pair of adjacent bytes against a 64 Kbit
 * bitmap of anchors (independent loads, no state to carry); at a hit, the literals anchored
 * on that pair are compared in place. */

struct ac_ent {
    uint16_t lit, off, next;   /* next: index + 1 in the bucket chain, 0 = end */
    uint64_t head8;            /* the literal's first 8 bytes (when it has 8) */
};

struct f2b_ac {
    /* nibble tables for the SIMD pre-check: a position may start an anchor when
     * lo1[b0 & 15] & hi1[b0 >> 4] & lo2[b1 & 15] & hi2[b1 >> 4] != 0 (8 buckets) */
    uint8_t lo1[16], hi1[16], lo2[16], hi2[16];
    uint8_t bm[8192];          /* anchor pairs, bit (b0 | b1 << 8) */
    uint16_t head[4096];       /* hash of the pair -> first entry + 1 */
    struct ac_ent *ent;
    uint16_t *pair;            /* anchor pair of entry i */
    char **lit;
    size_t *len;
    size_t nlits, words;
    bool simd;                 /* the CPU has SSSE3 */
};

size_t f2b_ac_words(const struct f2b_ac *ac) { return ac ? ac->words : 1; }

void f2b_ac_free(struct f2b_ac *ac)
{
    if (!ac) return;
    for (size_t i = 0; i < ac->nlits; i++) free(ac->lit[i]);
    free(ac->lit);
    free(ac->len);
    free(ac->ent);
    free(ac->pair);
    free(ac);
}

/* rough frequency of a byte in log text (higher: more common) */
static unsigned byte_freq(unsigned char c)
{
    if (c == ' ') return 100;
    if (c >= '0' && c <= '9') return 60;
    if (strchr("etaoinsrlhdcu", c) && c) return 50;
    if (c >= 'a' && c <= 'z') return 25;
    if (c == '.') return 50;                 /* addresses, host names */
    if (strchr(":=[]-/_,<>()@", c) && c) return 30;
    if (c >= 'A' && c <= 'Z') return 12;
    if (c == '\n') return 5;
    return 4;
}

static unsigned pair_hash(unsigned v) { return (v * 40503u) >> 4 & 4095; }

struct f2b_ac *f2b_ac_build(struct f2b_re *const *res, size_t n)
{
    const char *lit[F2B_AC_MAX_LITS];
    size_t llen[F2B_AC_MAX_LITS], nl = 0;
    for (size_t r = 0; r < n; r++) {
        if (!res[r]) continue;
        for (size_t i = 0; i < res[r]->npf; i++) {
            if (res[r]->pflen[i] < 2) return NULL;
            size_t k = 0;
            for (; k < nl; k++)
                if (llen[k] == res[r]->pflen[i] && memcmp(lit[k], res[r]->pf[i], llen[k]) == 0) break;
            if (k == nl) {
                if (nl == F2B_AC_MAX_LITS) return NULL;
                lit[nl] = res[r]->pf[i];
                llen[nl] = res[r]->pflen[i];
                nl++;
            }
        }
    }
    if (!nl) return NULL;
    struct f2b_ac *ac = xcalloc(1, sizeof *ac);
    ac->nlits = nl;
    ac->words = (nl + 63) / 64;
#if defined(__x86_64__) && defined(__GNUC__)
    ac->simd = __builtin_cpu_supports("ssse3");
#endif
    ac->lit = xcalloc(nl, sizeof *ac->lit);
    ac->len = xcalloc(nl, sizeof *ac->len);
    ac->ent = xcalloc(nl, sizeof *ac->ent);
    ac->pair = xcalloc(nl, sizeof *ac->pair);
    for (size_t k = 0; k < nl; k++) {
        ac->lit[k] = xstrndup(lit[k], llen[k]);
        ac->len[k] = llen[k];
        size_t best = 0;
        unsigned bs = ~0u;
        for (size_t j = 0; j + 1 < llen[k]; j++) {
            unsigned sc = byte_freq((unsigned char)lit[k][j]) * byte_freq((unsigned char)lit[k][j + 1]);
            if (sc < bs) { bs = sc; best = j; }
        }
        unsigned v = (unsigned char)lit[k][best] | (unsigned)(unsigned char)lit[k][best + 1] << 8;
        ac->bm[v >> 3] |= (uint8_t)(1u << (v & 7));
        uint8_t bucket = (uint8_t)(1u << (k & 7)), b0 = (uint8_t)(v & 0xff), b1 = (uint8_t)(v >> 8);
        ac->lo1[b0 & 15] |= bucket;
        ac->hi1[b0 >> 4] |= bucket;
        ac->lo2[b1 & 15] |= bucket;
        ac->hi2[b1 >> 4] |= bucket;
        ac->ent[k].lit = (uint16_t)k;
        ac->ent[k].off = (uint16_t)best;
        if (llen[k] >= 8) memcpy(&ac->ent[k].head8, lit[k], 8);
        ac->pair[k] = (uint16_t)v;
        unsigned h = pair_hash(v);
        ac->ent[k].next = ac->head[h];
        ac->head[h] = (uint16_t)(k + 1);
    }
    for (size_t r = 0; r < n; r++) {
        if (!res[r]) continue;
        for (size_t i = 0; i < res[r]->npf; i++)
            for (size_t k = 0; k < nl; k++)
                if (llen[k] == res[r]->pflen[i] && memcmp(lit[k], res[r]->pf[i], llen[k]) == 0) {
                    res[r]->pfid[i] = (uint16_t)k;
                    break;
                }
        res[r]->in_ac = res[r]->npf > 0;
        uint64_t m = 0;
        bool small = true;
        for (size_t i = 0; i < res[r]->npf; i++) {
            if (res[r]->pfid[i] >= 64) small = false;
            else m |= 1ull << res[r]->pfid[i];
        }
        res[r]->pfmask = small ? m : 0;
    }
    return ac;
}

static void ac_verify(const struct f2b_ac *ac, const char *s, size_t len, size_t i, unsigned v, uint64_t *found)
{
    for (unsigned e = ac->head[pair_hash(v)]; e; e = ac->ent[e - 1].next) {
        const struct ac_ent *x = &ac->ent[e - 1];
        if (ac->pair[e - 1] != v || i < x->off) continue;
        size_t st = i - x->off, l = ac->len[x->lit];
        if (st + l > len) continue;
        if (l >= 8) {
            uint64_t w;
            memcpy(&w, s + st, 8);
            if (w != x->head8) continue;
        }
        if (memcmp(s + st, ac->lit[x->lit], l) == 0) found[x->lit >> 6] |= 1ull << (x->lit & 63);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* 16 positions per step: nibble lookups (pshufb) of each byte and its successor give the
 * buckets the pair may belong to; only positions with a common bucket are checked exactly. */
__attribute__((target("ssse3")))
static size_t scan_ssse3(const struct f2b_ac *ac, const char *s, size_t len, uint64_t *found)
{
    const unsigned char *u = (const unsigned char *)s;
    const __m128i nib = _mm_set1_epi8(0x0f), zero = _mm_setzero_si128();
    const __m128i l1 = _mm_loadu_si128((const __m128i *)ac->lo1), h1 = _mm_loadu_si128((const __m128i *)ac->hi1);
    const __m128i l2 = _mm_loadu_si128((const __m128i *)ac->lo2), h2 = _mm_loadu_si128((const __m128i *)ac->hi2);
    size_t i = 0;
    for (; i + 17 <= len; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(u + i)), y = _mm_loadu_si128((const __m128i *)(u + i + 1));
        __m128i a = _mm_and_si128(_mm_shuffle_epi8(l1, _mm_and_si128(x, nib)),
                                  _mm_shuffle_epi8(h1, _mm_and_si128(_mm_srli_epi16(x, 4), nib)));
        __m128i b = _mm_and_si128(_mm_shuffle_epi8(l2, _mm_and_si128(y, nib)),
                                  _mm_shuffle_epi8(h2, _mm_and_si128(_mm_srli_epi16(y, 4), nib)));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(a, b), zero)) ^ 0xffffu;
        while (m) {
            unsigned k = (unsigned)__builtin_ctz(m);
            m &= m - 1;
            unsigned v = u[i + k] | (unsigned)u[i + k + 1] << 8;
            if (ac->bm[v >> 3] & (1u << (v & 7))) ac_verify(ac, s, len, i + k, v, found);
        }
    }
    return i;
}
#endif

void f2b_ac_scan(const struct f2b_ac *ac, const char *s, size_t len, uint64_t *found)
{
    memset(found, 0, ac->words * sizeof *found);
    if (len < 2) return;
    const unsigned char *u = (const unsigned char *)s;
    const uint8_t *bm = ac->bm;
    size_t i = 0, last = len - 1;         /* pairs start at 0 .. len-2 */
#if defined(__x86_64__) && defined(__GNUC__)
    if (ac->simd) i = scan_ssse3(ac, s, len, found);
#endif
#define PAIR(k) ((unsigned)u[(k)] | (unsigned)u[(k) + 1] << 8)
#define HIT(v) (bm[(v) >> 3] & (1u << ((v) & 7)))
    for (; i + 4 <= last; i += 4) {
        unsigned v0 = PAIR(i), v1 = PAIR(i + 1), v2 = PAIR(i + 2), v3 = PAIR(i + 3);
        if (!(HIT(v0) | HIT(v1) | HIT(v2) | HIT(v3))) continue;
        if (HIT(v0)) ac_verify(ac, s, len, i, v0, found);
        if (HIT(v1)) ac_verify(ac, s, len, i + 1, v1, found);
        if (HIT(v2)) ac_verify(ac, s, len, i + 2, v2, found);
        if (HIT(v3)) ac_verify(ac, s, len, i + 3, v3, found);
    }
    for (; i < last; i++) {
        unsigned v = PAIR(i);
        if (HIT(v)) ac_verify(ac, s, len, i, v, found);
    }
#undef PAIR
#undef HIT
}
