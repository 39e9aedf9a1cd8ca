/*
 * summary_pfs - pflogsumm's text helpers, rule by rule (pflogsumm 1.1.5): gimme_domain,
 * said_string_trimmer, string_trimmer, proc_smtpd_reject's reason normalisation,
 * normalize_host and adj_int_units. Each function names the Perl expression it emulates.
 * Pure functions on slices; no allocation; outputs go to caller buffers (see summary_int.h).
 */
#include "report/summary_int.h"
#include <ctype.h>
#include <string.h>

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static inline char lc(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

static ptrdiff_t find_any(struct str s, const char *set)
{
    for (size_t i = 0; i < s.len; i++)
        if (strchr(set, s.p[i]) && s.p[i]) return (ptrdiff_t)i;
    return -1;
}

/* (?:\d{1,3}\.){3}\d{1,3} followed by ']' at s; returns its length (without ']') or 0 */
static size_t dotted_quad_bracket(struct str s)
{
    size_t i = 0;
    for (int g = 0; g < 4; g++) {
        size_t d = 0;
        while (i < s.len && is_digit(s.p[i]) && d < 4) { i++; d++; }
        if (d < 1 || d > 3) return 0;
        if (g < 3) {
            if (i >= s.len || s.p[i] != '.') return 0;
            i++;
        }
    }
    return (i < s.len && s.p[i] == ']') ? i : 0;
}

/*
 * gimme_domain:
 *   ($domain, $ipAddr) = /^([^\[]*)\[((?:\d{1,3}\.){3}\d{1,3})\]/ ||
 *                        /^([^\/]*)\/([0-9a-f.:]+)/i ||
 *                        /^([^\[\(\/]*)[\[\(\/]([^\]\)]+)[\]\)]:?\d*$/
 *   $domain = $ipAddr if $domain eq "" || $domain eq 'unknown';
 *   else s/^(.*)\.([^\.]+)\.([^\.]{3}|[^\.]{2,3}\.[^\.]{2})$/\L$2.$3/
 */
struct str pfs_gimme_domain(struct str in, char *out)
{
    struct str dom = STR_NULL, ip = STR_NULL;
    bool ok = false;
    ptrdiff_t b = str_chr(in, '[');
    if (b >= 0) {
        size_t q = dotted_quad_bracket(str_from(in, (size_t)b + 1));
        if (q) { dom = str_sub(in, 0, (size_t)b); ip = str_sub(in, (size_t)b + 1, q); ok = true; }
    }
    if (!ok) {
        ptrdiff_t sl = str_chr(in, '/');
        if (sl >= 0) {
            size_t i = (size_t)sl + 1, j = i;
            while (j < in.len && (isxdigit((unsigned char)in.p[j]) || in.p[j] == '.' || in.p[j] == ':')) j++;
            if (j > i) { dom = str_sub(in, 0, (size_t)sl); ip = str_sub(in, i, j - i); ok = true; }
        }
    }
    if (!ok) {
        ptrdiff_t o = find_any(in, "[(/");
        if (o >= 0) {
            size_t i = (size_t)o + 1, j = i;
            while (j < in.len && in.p[j] != ']' && in.p[j] != ')') j++;
            if (j > i && j < in.len) {
                size_t k = j + 1;
                if (k < in.len && in.p[k] == ':') k++;
                while (k < in.len && is_digit(in.p[k])) k++;
                if (k == in.len) { dom = str_sub(in, 0, (size_t)o); ip = str_sub(in, i, j - i); ok = true; }
            }
        }
    }
    if (!ok) return STR_NULL;
    if (dom.len == 0 || str_eqc(dom, "unknown")) return ip;
    /* labels from the right */
    ptrdiff_t d1 = str_rchr(dom, '.');
    if (d1 < 0) return dom;
    struct str last = str_from(dom, (size_t)d1 + 1);
    struct str before = str_sub(dom, 0, (size_t)d1);
    size_t keep = 0;   /* bytes of the tail to keep ($2.$3) */
    /* alternative 1: last label of 3 chars, $2 = previous label (non-empty), '.' before it */
    if (last.len == 3) {
        ptrdiff_t d2 = str_rchr(before, '.');
        if (d2 >= 0 && (size_t)d2 + 1 < before.len) keep = dom.len - ((size_t)d2 + 1);
    }
    /* alternative 2: [^.]{2,3}\.[^.]{2} */
    if (!keep && last.len == 2) {
        ptrdiff_t d2 = str_rchr(before, '.');
        if (d2 >= 0) {
            size_t l2 = before.len - ((size_t)d2 + 1);
            struct str b2 = str_sub(before, 0, (size_t)d2);
            ptrdiff_t d3 = str_rchr(b2, '.');
            if (l2 >= 2 && l2 <= 3 && d3 >= 0 && (size_t)d3 + 1 < b2.len)
                keep = dom.len - ((size_t)d3 + 1);
        }
    }
    if (!keep) return dom;
    struct str t = str_from(dom, dom.len - keep);
    for (size_t i = 0; i < t.len; i++) out[i] = lc(t.p[i]);
    return (struct str){ out, t.len };
}

/*
 * said_string_trimmer($s, $maxLen):
 *   while (length > maxLen) {
 *     if (/^.* said: /) { s/^.* said: // }      # greedy: up to the last " said: "
 *     elsif (/^.*: ?/) { s/^.*?: ?// }          # (": *"): up to the first ':' and its spaces
 *     else { $s = substr($s, 0, maxLen - 3) . "..."; last }
 *   }
 */
struct str pfs_said_trim(struct str s, size_t maxlen, char *out)
{
    while (s.len > maxlen) {
        ptrdiff_t p = str_rfindc(s, " said: ");
        if (p >= 0) { s = str_from(s, (size_t)p + 7); continue; }
        ptrdiff_t c = str_chr(s, ':');
        if (c >= 0) {
            size_t i = (size_t)c + 1;
            while (i < s.len && s.p[i] == ' ') i++;
            s = str_from(s, i);
            continue;
        }
        size_t n = maxlen >= 3 ? maxlen - 3 : 0;
        sm_move(out, s.p, n);
        memcpy(out + n, "...", 3);
        return (struct str){ out, n + 3 };
    }
    return s;
}

/* string_trimmer: substr($s, 0, $maxLen - 3) . "..." if !$doNotTrim && length > $maxLen */
struct str pfs_string_trim(struct str s, size_t maxlen, bool verbose, char *out)
{
    if (verbose || s.len <= maxlen) return s;
    size_t n = maxlen - 3;
    sm_move(out, s.p, n);
    memcpy(out + n, "...", 3);
    return (struct str){ out, n + 3 };
}

void pfs_int_units(double v, int64_t *out, char *unit)
{
    *unit = ' ';
    if (v > 536870912.0) { v /= 1048576.0; *unit = 'm'; }
    else if (v > 524288.0) { v /= 1024.0; *unit = 'k'; }
    *out = (int64_t)v;      /* printf "%d" truncates */
}

/*
 * normalize_host: first word (split /\s/); dotted quad -> pack('U4'), else
 * join('', map { lc } reverse split /[.@]/). Octets become one byte each (values above 255
 * are clamped; they sort after all others as in Perl).
 */
size_t pfs_normalize_host(struct str key, char *out, size_t cap)
{
    size_t w = 0;
    while (w < key.len && !is_space(key.p[w])) w++;
    struct str h = str_sub(key, 0, w);
    /* dotted quad? */
    unsigned oct[4];
    size_t i = 0;
    int g = 0;
    bool quad = true;
    for (g = 0; g < 4 && quad; g++) {
        size_t d = 0;
        unsigned v = 0;
        while (i < h.len && is_digit(h.p[i]) && d < 4) { v = v * 10 + (unsigned)(h.p[i] - '0'); i++; d++; }
        if (d < 1 || d > 3) quad = false;
        oct[g] = v;
        if (g < 3) {
            if (i < h.len && h.p[i] == '.') i++;
            else quad = false;
        }
    }
    if (quad && i == h.len && cap >= 4) {
        for (g = 0; g < 4; g++) out[g] = (char)(oct[g] > 255 ? 255 : oct[g]);
        return 4;
    }
    /* split /[.@]/ (trailing empty fields dropped), reverse, lower-case, join */
    size_t end = h.len;
    while (end > 0 && (h.p[end - 1] == '.' || h.p[end - 1] == '@')) end--;
    size_t o = 0;
    size_t j = end;
    while (j > 0 || (j == 0 && end > 0)) {
        size_t k = j;
        while (k > 0 && h.p[k - 1] != '.' && h.p[k - 1] != '@') k--;
        for (size_t x = k; x < j && o < cap; x++) out[o++] = lc(h.p[x]);
        if (k == 0) break;
        j = k - 1;
    }
    return o;
}

/* ---- proc_smtpd_reject ---- */

static bool is_d3(struct str s, size_t i)
{
    return i + 3 <= s.len && is_digit(s.p[i]) && is_digit(s.p[i + 1]) && is_digit(s.p[i + 2]);
}

/* $rejReas =~ s/^(?:.*?[:;] )(?:\[[^\]]+\] )?([^;,]+)[;,].*$/$1/ */
static struct str reas_colon_semi(struct str r)
{
    for (size_t p = 2; p <= r.len; p++) {
        if (r.p[p - 1] != ' ' || (r.p[p - 2] != ':' && r.p[p - 2] != ';')) continue;
        for (int withbr = 1; withbr >= 0; withbr--) {
            size_t q = p;
            if (withbr) {
                if (q >= r.len || r.p[q] != '[') continue;
                size_t e = q + 1;
                while (e < r.len && r.p[e] != ']') e++;
                if (e == q + 1 || e + 1 >= r.len || r.p[e + 1] != ' ') continue;
                q = e + 2;
            }
            size_t e = q;
            while (e < r.len && r.p[e] != ';' && r.p[e] != ',') e++;
            if (e > q && e < r.len) return str_sub(r, q, e - q);
        }
    }
    return r;
}

/* s/(client|Client host|Sender address) .+? blocked/blocked/ into out */
static struct str reas_blocked(struct str r, char *out)
{
    static const char *const alts[] = { "client", "Client host", "Sender address" };
    if (str_findc(r, " blocked") < 0) return r;          /* every match needs one */
    for (size_t i = 0; i < r.len; i++) {
        for (int a = 0; a < 3; a++) {
            if (r.p[i] != alts[a][0]) continue;          /* cheap test first: per byte */
            size_t n = strlen(alts[a]);
            if (i + n + 1 > r.len || memcmp(r.p + i, alts[a], n) != 0 || r.p[i + n] != ' ') continue;
            /* .+? then " blocked": at least one char after the space */
            struct str rest = str_from(r, i + n + 2);
            ptrdiff_t b = str_findc(rest, " blocked");
            if (b < 0) continue;
            size_t end = i + n + 2 + (size_t)b + 8;
            size_t o = 0;
            sm_copy(out, r.p, i); o = i;
            memcpy(out + o, "blocked", 7); o += 7;
            sm_copy(out + o, r.p + end, r.len - end); o += r.len - end;
            return (struct str){ out, o };
        }
    }
    return r;
}

/* Find the rightmost " reject: X from Y: rest" (also reject_warning/hold/discard):
 * /^.* \b(?:reject(?:_warning)?|hold|discard): (\S+) from (\S+?): (.*)$/ */
static bool reject_split(struct str l, struct str *typ, struct str *from, struct str *rmdr)
{
    static const char *const acts[] = { "reject: ", "reject_warning: ", "hold: ", "discard: " };
    static const size_t alen[] = { 8, 16, 6, 9 };
    /* The rightmost " ACT: " whose rest has the shape. Each ACT holds one ':', its last
     * byte but one, so candidates are found from the ": "s, right to left: a candidate
     * ending at a colon further right also starts further right (it cannot span a colon). */
    for (size_t e = l.len; e > 0;) {
        const char *q = memrchr(l.p, ':', e);
        if (!q) break;
        size_t c = (size_t)(q - l.p);
        e = c;
        if (c + 1 >= l.len || l.p[c + 1] != ' ') continue;
        for (int a = 0; a < 4; a++) {
            size_t n = alen[a];
            if (c + 2 < n + 1) continue;                 /* the act starts at i >= 1 */
            size_t i = c + 2 - n;
            if (l.p[i - 1] != ' ' || memcmp(l.p + i, acts[a], n - 2) != 0) continue;
            size_t t0 = i + n, t1 = t0;
            while (t1 < l.len && !is_space(l.p[t1])) t1++;
            if (t1 == t0) continue;
            /* (\S+) is greedy but must be followed by " from ": backtracking cannot find a
             * shorter run followed by a space, so the run is the whole word */
            if (!str_startswith(str_from(l, t1), " from ")) continue;
            size_t f0 = t1 + 6, f1;
            bool ok = false;
            if (f0 >= l.len || is_space(l.p[f0])) continue;
            for (f1 = f0 + 1; f1 < l.len; f1++) {
                if (is_space(l.p[f1])) break;
                if (l.p[f1] == ':' && f1 + 1 < l.len && l.p[f1 + 1] == ' ') { ok = true; break; }
            }
            if (!ok) continue;
            *typ = str_sub(l, t0, t1 - t0);
            *from = str_sub(l, f0, f1 - f0);
            *rmdr = str_from(l, f1 + 2);
            return true;
        }
    }
    return false;
}

/* first "KEY<...>" with [^>]+ (non-empty, up to '>') */
static bool angle_after(struct str s, const char *key, struct str *v)
{
    size_t kl = strlen(key);
    ptrdiff_t off = 0;
    for (;;) {
        ptrdiff_t p = str_findc(str_from(s, (size_t)off), key);
        if (p < 0) return false;
        size_t a = (size_t)off + (size_t)p + kl;
        const char *gt = a < s.len ? memchr(s.p + a, '>', s.len - a) : NULL;
        size_t e = gt ? (size_t)(gt - s.p) : s.len;
        if (e < s.len && e > a) { *v = str_sub(s, a, e - a); return true; }
        off = (ptrdiff_t)a;
    }
}

static size_t put(char *buf, size_t cap, size_t o, struct str s)
{
    size_t n = s.len;
    if (n > cap - o) n = cap - o;
    sm_move(buf + o, s.p, n);
    return o + n;
}

bool pfs_reject_detail(struct str line, bool verbose, bool icase, char *buf, size_t cap,
                       struct pfs_reject *r)
{
    struct str typ, from, rmdr;
    if (!reject_split(line, &typ, &from, &rmdr)) return false;
    /* buf layout: [0, cap/2) reason work area, [cap/2, cap) data */
    size_t half = cap / 2;
    char *rb = buf, *db = buf + half;
    struct str reas = rmdr;
    if (!verbose) {
        if (str_eqc(typ, "RCPT") || str_eqc(typ, "DATA") || str_eqc(typ, "CONNECT")) {
            /* s/^(\d{3} <).*?(>:)/$1$2/ */
            if (is_d3(reas, 0) && reas.len > 5 && reas.p[3] == ' ' && reas.p[4] == '<') {
                ptrdiff_t e = str_findc(str_from(reas, 5), ">:");
                if (e >= 0) {
                    size_t o = put(rb, half, 0, str_sub(reas, 0, 5));
                    o = put(rb, half, o, str_from(reas, 5 + (size_t)e));
                    reas = (struct str){ rb, o };
                }
            }
            /* s/^(?:\d{3} \d\.\d\.\d )(Protocol error);.*$/$1/ */
            if (is_d3(reas, 0) && reas.len >= 10 && reas.p[3] == ' ' && is_digit(reas.p[4]) &&
                reas.p[5] == '.' && is_digit(reas.p[6]) && reas.p[7] == '.' && is_digit(reas.p[8]) &&
                reas.p[9] == ' ' && str_startswith(str_from(reas, 10), "Protocol error;"))
                reas = str_sub(reas, 10, 14);
            reas = reas_colon_semi(reas);
            /* s/^((?:Sender|Recipient) address rejected: [^:]+):.*$/$1/ */
            if (str_startswith(reas, "Sender address rejected: ") || str_startswith(reas, "Recipient address rejected: ")) {
                size_t st = reas.p[0] == 'S' ? 25 : 28;
                size_t e = st;
                while (e < reas.len && reas.p[e] != ':') e++;
                if (e > st && e < reas.len) reas = str_sub(reas, 0, e);
            }
            if (reas.p != rb) { size_t o = put(rb, half, 0, reas); reas = (struct str){ rb, o }; }
            char tmp[1024];
            if (reas.len < sizeof tmp - 8) {
                struct str b = reas_blocked(reas, tmp);
                if (b.p == tmp) { memcpy(rb, tmp, b.len); reas = (struct str){ rb, b.len }; }
            }
        } else if (str_eqc(typ, "MAIL")) {
            /* s/^\d{3} (?:<.+>: )?([^;:]+)[;:]?.*$/$1/ */
            if (is_d3(reas, 0) && reas.len > 4 && reas.p[3] == ' ') {
                size_t q = 4;
                if (reas.p[q] == '<') {
                    ptrdiff_t e = str_rfindc(str_from(reas, q + 2), ">: ");
                    if (e >= 0) q = q + 2 + (size_t)e + 3;
                }
                size_t e = q;
                while (e < reas.len && reas.p[e] != ';' && reas.p[e] != ':') e++;
                if (e > q) reas = str_sub(reas, q, e - q);
            }
        } else {
            /* s/^(?:.*[:;] )?([^,]+).*$/$1/ */
            size_t q = 0;
            for (size_t p = reas.len; p >= 2; p--) {
                if (reas.p[p - 1] == ' ' && (reas.p[p - 2] == ':' || reas.p[p - 2] == ';') &&
                    p < reas.len && reas.p[p] != ',') { q = p; break; }
            }
            size_t e = q;
            while (e < reas.len && reas.p[e] != ',') e++;
            if (e > q) reas = str_sub(reas, q, e - q);
        }
    }
    /* recipient: to=<([^>]+)> || \d{3} <([^>]+)>: User unknown  || to=<(.*?)(?:[, ]|$) || "<>" */
    struct str to;
    if (!angle_after(rmdr, "to=<", &to)) {
        bool found = false;
        for (size_t i = 0; i + 5 < rmdr.len && !found; i++) {
            if (!is_d3(rmdr, i) || rmdr.p[i + 3] != ' ' || rmdr.p[i + 4] != '<') continue;
            size_t a = i + 5, e = a;
            while (e < rmdr.len && rmdr.p[e] != '>') e++;
            if (e > a && str_startswith(str_from(rmdr, e), ">: User unknown ")) { to = str_sub(rmdr, a, e - a); found = true; }
        }
        if (!found) {
            ptrdiff_t p = str_findc(rmdr, "to=<");
            if (p >= 0) {
                size_t a = (size_t)p + 4, e = a;
                while (e < rmdr.len && rmdr.p[e] != ',' && rmdr.p[e] != ' ') e++;
                to = str_sub(rmdr, a, e - a);
            } else {
                to = STR_LIT("<>");
            }
        }
    }
    struct str fromaddr;
    if (!angle_after(rmdr, "from=<", &fromaddr)) fromaddr = STR_LIT("<>");

    struct str data;
    size_t dcap = cap - half;
    if (str_startswith(reas, "Sender address rejected:")) {
        data = fromaddr;
    } else if (str_startswith(reas, "Recipient address rejected:") || str_eqc(reas, "User unknown") ||
               str_startswith(reas, "User unknown ")) {
        data = to;
    } else {
        /* s/^.*?\d{3} (Improper use of SMTP command pipelining);.*$/$1/ etc. */
        static const char *const special[] = {
            "Improper use of SMTP command pipelining", "Message size exceeds fixed limit",
            "Server configuration error", "Server configuration problem",
        };
        int which = -1;
        for (int k = 0; k < 4 && which < 0; k++) {
            /* "\d{3} TEXT;" anywhere: find TEXT, then check around it */
            size_t n = strlen(special[k]);
            for (size_t fi = 4; fi < reas.len && which < 0;) {
                ptrdiff_t j = str_find(str_from(reas, fi), special[k], n);
                if (j < 0) break;
                size_t at = fi + (size_t)j;          /* TEXT starts here: at >= 4 */
                if (is_d3(reas, at - 4) && reas.p[at - 1] == ' ' && at + n < reas.len && reas.p[at + n] == ';')
                    which = k;
                fi = at + 1;
            }
        }
        if (which == 0) {
            reas = str_c(special[0]);
            /* my ($src) = $logLine =~ /^.+? from (\S+?):.*$/ */
            data = STR_NULL;
            for (size_t i = 1; i + 6 < line.len; i++) {
                if (memcmp(line.p + i, " from ", 6) != 0) continue;
                size_t a = i + 6, e = a + 1;
                while (e < line.len && !is_space(line.p[e]) && line.p[e] != ':') e++;
                if (e < line.len && line.p[e] == ':' && !is_space(line.p[a])) { data = str_sub(line, a, e - a); break; }
            }
        } else {
            if (which == 1) reas = str_c(special[1]);
            else if (which == 2) reas = STR_LIT("(Local) Server configuration error");
            else if (which == 3) reas = STR_LIT("(Local) Server configuration problem");
            data = pfs_gimme_domain(from, db);
        }
    }
    if (icase && (data.p == to.p || data.p == fromaddr.p)) {
        size_t n = data.len < dcap ? data.len : dcap;
        for (size_t i = 0; i < n; i++) db[i] = lc(data.p[i]);
        data = (struct str){ db, n };
    }
    r->type = typ;
    r->reason = reas;
    r->data = data;
    return true;
}
