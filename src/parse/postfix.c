/*
 * postfix - the Postfix part of the line model (see event.h).
 *
 * Shapes handled (from Postfix 3.x sources: smtpd.c, smtpd_check.c, postscreen, cleanup,
 * qmgr, bounce, the delivery agents' log_adhoc.c, postsuper.c, master.c):
 *   [QID|NOQUEUE]: reject|reject_warning|hold|discard|redirect|filter|warning: ...
 *   QID: client=..., QID: uid=N from=<>, QID: message-id=<>, QID: from=<>, size=...
 *   QID: to=<>, [orig_to=<>,] relay=..., [conn_use=N,] delay=..., delays=a/b/c/d, dsn=x.y.z, status=S (reply)
 *   QID: removed | placed on hold | released from hold | requeued
 *   QID: sender non-delivery notification: QID2
 *   connect from / disconnect from / lost connection after / timeout after / too many errors after
 *   warning: name[ip]: SASL M authentication failed: reason[, sasl_username=u]
 *   postscreen: CONNECT / PREGREET / DNSBL / HANGUP / DENYLISTED / PASS / ... [ip]:port
 *   warning: / error: / fatal: / panic: daemon messages, master daemon messages
 * Client addresses are taken only right after the fixed keyword that precedes them.
 */
#include "parse/event.h"
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Postfix daemon names, the busiest first (this runs for every line). */
#define D(s) { s, sizeof(s) - 1 }
static const struct { const char *name; size_t len; } daemons[] = {
    D("smtpd"), D("qmgr"), D("postscreen"), D("cleanup"), D("lmtp"), D("smtp"), D("local"),
    D("bounce"), D("pickup"), D("virtual"), D("pipe"), D("error"), D("postsuper"), D("anvil"),
    D("master"), D("scache"), D("oqmgr"), D("defer"), D("trace"), D("retry"), D("discard"),
    D("dnsblog"), D("tlsproxy"), D("postqueue"), D("sendmail"), D("postdrop"), D("postlogd"),
    D("trivial-rewrite"), D("verify"), D("flush"), D("proxymap"), D("proxywrite"), D("showq"),
    D("spawn"), D("tlsmgr"), D("postmap"), D("postalias"), D("postfix-script"), D("postfix"),
    D("qmqpd"), D("postmulti"), D("postconf"), D("postkick"), D("postlock"), D("postlog"),
    D("smtp-sink"), D("smtp-source"),
};
#undef D

static bool is_daemon(struct str s)
{
    for (size_t i = 0; i < sizeof daemons / sizeof daemons[0]; i++)
        if (daemons[i].len == s.len && memcmp(daemons[i].name, s.p, s.len) == 0) return true;
    return false;
}

/* Character classes of queue IDs: 1 short (hex upper), 2 long (mail_queue.h: digits and
 * letters except vowels). */
static const unsigned char qid_class[256] = {
    ['0'] = 3, ['1'] = 3, ['2'] = 3, ['3'] = 3, ['4'] = 3, ['5'] = 3, ['6'] = 3, ['7'] = 3,
    ['8'] = 3, ['9'] = 3, ['A'] = 1, ['B'] = 3, ['C'] = 3, ['D'] = 3, ['E'] = 1, ['F'] = 3,
    ['G'] = 2, ['H'] = 2, ['J'] = 2, ['K'] = 2, ['L'] = 2, ['M'] = 2, ['N'] = 2, ['P'] = 2,
    ['Q'] = 2, ['R'] = 2, ['S'] = 2, ['T'] = 2, ['V'] = 2, ['W'] = 2, ['X'] = 2, ['Y'] = 2,
    ['Z'] = 2, ['b'] = 2, ['c'] = 2, ['d'] = 2, ['f'] = 2, ['g'] = 2, ['h'] = 2, ['j'] = 2,
    ['k'] = 2, ['l'] = 2, ['m'] = 2, ['n'] = 2, ['p'] = 2, ['q'] = 2, ['r'] = 2, ['s'] = 2,
    ['t'] = 2, ['v'] = 2, ['w'] = 2, ['x'] = 2, ['y'] = 2, ['z'] = 2,
};

bool pf_is_qid(struct str s)
{
    if (s.len < 6 || s.len > 32) return false;
    unsigned acc = 3;
    for (size_t i = 0; i < s.len && acc; i++) acc &= qid_class[(unsigned char)s.p[i]];
    if (acc & 1) return true;
    bool longid = acc & 2;
    /* long form: at least 12 chars, contains the inode separator 'z' */
    return longid && s.len >= 12 && memchr(s.p, 'z', s.len) != NULL;
}

/* Offset of the first of a, b, c in p[0, n), or n. */
static inline size_t find3(const char *p, size_t n, char a, char b, char c)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b), vc = _mm_set1_epi8(c);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)), _mm_cmpeq_epi8(x, vc)));
        if (m) return i + (unsigned)__builtin_ctz(m);
    }
#endif
    for (; i < n; i++)
        if (p[i] == a || p[i] == b || p[i] == c) return i;
    return n;
}

bool pf_name_addr(struct str s, struct str *name, struct ipaddr *addr, size_t *used)
{
    /* the name: up to '[' (not past a ' ' or ']'), within 256 bytes */
    size_t i = find3(s.p, s.len < 256 ? s.len : 256, '[', ' ', ']');
    if (i >= s.len || s.p[i] != '[') return false;
    size_t a0 = i + 1, j = a0;
    size_t al = s.len - a0 < 64 ? s.len - a0 : 64;
    const char *rb = al ? memchr(s.p + a0, ']', al) : NULL;
    j = rb ? (size_t)(rb - s.p) : a0 + al;
    if (j >= s.len || s.p[j] != ']') return false;
    struct str a = str_sub(s, a0, j - a0);
    if (str_startswith(a, "IPv6:")) a = str_from(a, 5);
    if (ipaddr_parse(a, addr) < 0) return false;
    *name = str_sub(s, 0, i);
    *used = j + 1;
    return true;
}

/* "[addr]:port" (postscreen notation) at the start of s. */
static bool ps_addr_port(struct str s, struct ipaddr *addr, int *port, size_t *used)
{
    if (!s.len || s.p[0] != '[') return false;
    ptrdiff_t e = str_chr(str_sub(s, 0, 70), ']');
    if (e < 0) return false;
    if (ipaddr_parse(str_sub(s, 1, (size_t)e - 1), addr) < 0) return false;
    size_t i = (size_t)e + 1;
    *port = -1;
    if (i < s.len && s.p[i] == ':') {
        uint64_t v;
        size_t n = str_lead_u64(str_from(s, i + 1), &v);
        if (n && v < 65536) { *port = (int)v; i += 1 + n; }
    }
    *used = i;
    return true;
}

size_t pf_angle(struct str s, struct str *inner)
{
    if (!s.len || s.p[0] != '<') return 0;
    /* the common case: no quote before the first '>' (that '>' ends the token) */
    const char *gt = memchr(s.p + 1, '>', s.len - 1);
    if (gt && !memchr(s.p + 1, '"', (size_t)(gt - s.p) - 1)) {
        *inner = str_sub(s, 1, (size_t)(gt - s.p) - 1);
        return (size_t)(gt - s.p) + 1;
    }
    bool q = false;
    for (size_t i = 1; i < s.len; i++) {
        char c = s.p[i];
        if (q) {
            if (c == '\\' && i + 1 < s.len) i++;
            else if (c == '"') q = false;
        } else if (c == '"') {
            q = true;
        } else if (c == '>') {
            *inner = str_sub(s, 1, i - 1);
            return i + 1;
        }
    }
    /* unbalanced quote: fall back to the first '>' so a stray '"' cannot eat the line */
    ptrdiff_t e = str_chr(s, '>');
    if (e < 0) return 0;
    *inner = str_sub(s, 1, (size_t)e - 1);
    return (size_t)e + 1;
}

/* Value of a plain field: up to ", " or end (relay=, delay=, dsn=, size= ...). */
static size_t plain_value(struct str s, struct str *v)
{
    size_t i = 0;
    while (i < s.len && s.p[i] != ',' && s.p[i] != ' ') i++;
    *v = str_sub(s, 0, i);
    return i;
}

struct fdesc { const char *key; size_t klen; size_t off; bool angle; };
#define FD(k, m, a) { k, sizeof(k) - 1, offsetof(struct pf_fields, m), a }
static const struct fdesc fdescs[] = {
    FD("to=", to, true), FD("orig_to=", orig_to, true), FD("from=", from, true),
    FD("relay=", relay, false), FD("conn_use=", conn_use, false), FD("delay=", delay, false),
    FD("delays=", delays, false), FD("dsn=", dsn, false), FD("size=", size, false),
    FD("nrcpt=", nrcpt, false), FD("message-id=", message_id, true), FD("uid=", uid, false),
    FD("sasl_method=", sasl_method, false), FD("sasl_username=", sasl_username, false),
    FD("sasl_sender=", sasl_sender, true), FD("proto=", proto, false), FD("helo=", helo, true),
};

/* The descriptor whose key starts `rest`, looked up by first letter (runs for every field of
 * every delivery line). */
static const struct fdesc *fdesc_find(struct str rest)
{
    if (rest.len < 4) return NULL;
    size_t lo, hi;
    switch (rest.p[0]) {
    case 't': lo = 0; hi = 1; break;            /* to= */
    case 'o': lo = 1; hi = 2; break;            /* orig_to= */
    case 'f': lo = 2; hi = 3; break;            /* from= */
    case 'r': lo = 3; hi = 4; break;            /* relay= */
    case 'c': lo = 4; hi = 5; break;            /* conn_use= */
    case 'd': lo = 5; hi = 8; break;            /* delay= delays= dsn= */
    case 's': lo = 8; hi = 15; break;           /* size= ... sasl_sender= (status= handled) */
    case 'n': lo = 9; hi = 10; break;
    case 'm': lo = 10; hi = 11; break;
    case 'u': lo = 11; hi = 12; break;
    case 'p': lo = 15; hi = 16; break;
    case 'h': lo = 16; hi = 17; break;
    default: return NULL;
    }
    for (size_t k = lo; k < hi; k++)
        if (rest.len > fdescs[k].klen && memcmp(rest.p, fdescs[k].key, fdescs[k].klen) == 0)
            return &fdescs[k];
    return NULL;
}

void pf_fields_parse(struct str s, struct pf_fields *f)
{
    size_t i = 0;
    while (i < s.len) {
        while (i < s.len && (s.p[i] == ' ' || s.p[i] == ',')) i++;
        struct str rest = str_from(s, i);
        if (rest.len >= 7 && rest.p[0] == 's' && memcmp(rest.p, "status=", 7) == 0) {
            /* status is last: everything after is the free-form reply */
            struct str v;
            size_t n = plain_value(str_from(rest, 7), &v);
            f->status = v;
            struct str r = str_trim(str_from(rest, 7 + n));
            if (r.len >= 2 && r.p[0] == '(' && r.p[r.len - 1] == ')') r = str_sub(r, 1, r.len - 2);
            f->reply = r;
            return;
        }
        const struct fdesc *d = fdesc_find(rest);
        if (!d) {
            /* unknown key or free text such as "(queue active)": skip one token */
            while (i < s.len && s.p[i] != ',' && s.p[i] != ' ') i++;
            continue;
        }
        struct str *slot = (struct str *)((char *)f + d->off);
        struct str val = str_from(rest, d->klen);
        size_t n;
        if (d->angle && val.len && val.p[0] == '<') {
            n = pf_angle(val, slot);
            if (!n) { *slot = val; return; }
        } else {
            n = plain_value(val, slot);
        }
        i += d->klen + n;
    }
}

/* "RCPT from name[ip]: reply; from=<> to=<> proto=P helo=<>" (smtpd) or with "[ip]:port"
 * (postscreen). Sets stage, client, text (the reply), and the trailing fields. */
static void parse_reject_body(struct str s, struct event *ev)
{
    ptrdiff_t sp = str_chr(str_sub(s, 0, 32), ' ');
    if (sp <= 0) { ev->text = s; return; }
    ev->stage = str_sub(s, 0, (size_t)sp);
    struct str r = str_from(s, (size_t)sp + 1);
    if (!str_startswith(r, "from ")) {
        /* cleanup: "header Subject: text from name[ip]; from=<>..." — the client sits after
         * attacker text, so it is not taken here (consumers use the QID's client= line). */
        ev->text = r;
        ptrdiff_t semi = str_findc(r, "; from=<");
        if (semi >= 0) pf_fields_parse(str_from(r, (size_t)semi + 2), &ev->f);
        return;
    }
    r = str_from(r, 5);
    size_t used = 0;
    if (r.len && r.p[0] == '[') {
        if (!ps_addr_port(r, &ev->client, &ev->port, &used)) { ev->text = r; return; }
    } else if (!pf_name_addr(r, &ev->client_name, &ev->client, &used)) {
        ev->text = r;
        return;
    }
    r = str_from(r, used);
    if (str_startswith(r, ": ")) r = str_from(r, 2);
    /* split "reply; from=<...> to=<...> proto=X helo=<...>" at the first "; from=<" */
    ptrdiff_t semi = str_findc(r, "; from=<");
    if (semi >= 0) {
        ev->text = str_sub(r, 0, (size_t)semi);
        pf_fields_parse(str_from(r, (size_t)semi + 2), &ev->f);
    } else {
        ev->text = r;
    }
}

/* "... from name[ip]..." after a fixed lead-in, e.g. "lost connection after DATA from ". */
static bool take_client(struct str s, struct event *ev)
{
    size_t used;
    if (!pf_name_addr(s, &ev->client_name, &ev->client, &used)) return false;
    ev->text = str_trim(str_from(s, used));
    if (str_startswith(ev->text, ":")) ev->text = str_trim(str_from(ev->text, 1));
    return true;
}

/* "lost connection after CMD from name[ip]" and friends */
static bool after_cmd_from(struct str m, const char *lead, enum ev_kind k, struct event *ev)
{
    if (!str_startswith(m, lead)) return false;
    struct str r = str_from(m, strlen(lead));
    ptrdiff_t f = str_findc(str_sub(r, 0, 64), " from ");
    if (f < 0) return false;
    ev->stage = str_sub(r, 0, (size_t)f);
    ev->kind = k;
    if (!take_client(str_from(r, (size_t)f + 6), ev)) ev->client.family = 0;
    return true;
}

static bool parse_postscreen(const struct parse_opts *opt, struct str m, struct event *ev)
{
    static const struct { const char *lead; enum ev_kind kind; bool from; } ps[] = {
        { "CONNECT from ", EV_PS_CONNECT, true },
        { "PREGREET ", EV_PREGREET, false },
        { "DNSBL rank ", EV_PS_DNSBL, false },
        { "HANGUP after ", EV_PS_HANGUP, false },
        { "DENYLISTED ", EV_PS_DENYLISTED, true },
        { "BLACKLISTED ", EV_PS_DENYLISTED, true },
        { "PASS NEW ", EV_PS_PASS, true },
        { "PASS OLD ", EV_PS_PASS, true },
        { "ALLOWLISTED ", EV_PS_PASS, true },
        { "WHITELISTED ", EV_PS_PASS, true },
        { "DISCONNECT ", EV_PS_OTHER, true },
        { "COMMAND PIPELINING from ", EV_PS_OTHER, true },
        { "DATA without valid RCPT from ", EV_PS_OTHER, true },
        { "NON-SMTP COMMAND from ", EV_PS_OTHER, true },
        { "BARE NEWLINE from ", EV_PS_OTHER, true },
        { "COMMAND TIME LIMIT from ", EV_PS_OTHER, true },
        { "COMMAND COUNT LIMIT from ", EV_PS_OTHER, true },
        { "COMMAND LENGTH LIMIT from ", EV_PS_OTHER, true },
    };
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        if (!str_startswith(m, ps[i].lead)) continue;
        if (!ev_wanted(opt, ps[i].kind)) { ev->kind = ps[i].kind; return true; }
        struct str r = str_from(m, strlen(ps[i].lead));
        if (!ps[i].from) {
            /* "PREGREET 24 after 0 from [ip]:port: text", "DNSBL rank 3 for [ip]:port",
             * "HANGUP after 1.2 from [ip]:port in tests after SMTP handshake" */
            ptrdiff_t f = str_findc(str_sub(r, 0, 48), ps[i].kind == EV_PS_DNSBL ? " for [" : " from [");
            if (f < 0) return false;
            ev->stage = str_sub(r, 0, (size_t)f);
            r = str_from(r, (size_t)f + (ps[i].kind == EV_PS_DNSBL ? 5 : 6));
        }
        size_t used;
        if (!ps_addr_port(r, &ev->client, &ev->port, &used)) return false;
        ev->kind = ps[i].kind;
        ev->text = str_from(r, used);
        if (str_startswith(ev->text, ": ")) ev->text = str_from(ev->text, 2);
        else ev->text = str_trim(ev->text);
        return true;
    }
    return false;
}

/* Actions shared by smtpd and cleanup after "QID: " / "NOQUEUE: " */
static bool parse_action(struct str r, struct event *ev)
{
    if (!r.len || !strchr("rhdf", r.p[0])) return false;
    static const struct { const char *lead; enum ev_kind kind; } acts[] = {
        { "reject: ", EV_REJECT }, { "reject_warning: ", EV_REJECT_WARNING },
        { "hold: ", EV_HOLD }, { "discard: ", EV_DISCARD }, { "redirect: ", EV_REDIRECT },
        { "filter: ", EV_FILTER },
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        if (str_startswith(r, acts[i].lead)) {
            ev->kind = acts[i].kind;
            parse_reject_body(str_from(r, strlen(acts[i].lead)), ev);
            return true;
        }
    }
    return false;
}

static void parse_queue_line(const struct parse_opts *opt, struct str r, struct event *ev)
{
    /* the busiest shapes first; fields only for kinds the caller wants */
    if (r.len > 11 && r.p[0] == 'm' && memcmp(r.p, "message-id=", 11) == 0) {
        ev->kind = EV_MESSAGE_ID;
        if (ev_wanted(opt, EV_MESSAGE_ID) && !pf_angle(str_from(r, 11), &ev->f.message_id))
            ev->f.message_id = str_from(r, 11);
        return;
    }
    if (r.len > 6 && r.p[0] == 'f' && memcmp(r.p, "from=<", 6) == 0) {
        bool expired = str_findc(r, ", status=expired") >= 0;
        ev->kind = expired ? EV_EXPIRED : EV_QMGR_FROM;
        if (ev_wanted(opt, ev->kind)) pf_fields_parse(r, &ev->f);
        if (expired) ev->text = ev->f.reply;
        return;
    }
    if (r.len == 7 && memcmp(r.p, "removed", 7) == 0) { ev->kind = EV_REMOVED; return; }
    if (r.len > 4 && r.p[0] == 't' && memcmp(r.p, "to=<", 4) == 0) {
        ev->kind = EV_DELIVERY;
        if (!ev_wanted(opt, EV_DELIVERY)) return;
        pf_fields_parse(r, &ev->f);
        ev->text = ev->f.reply;
        return;
    }
    if (parse_action(r, ev)) return;
    if (str_startswith(r, "client=")) {
        ev->kind = EV_CLIENT;
        struct str c = str_from(r, 7);
        size_t used;
        if (pf_name_addr(c, &ev->client_name, &ev->client, &used))
            pf_fields_parse(str_from(c, used), &ev->f);
        ev->user = ev->f.sasl_username;
        return;
    }
    if (str_startswith(r, "resent-message-id=")) {
        ev->kind = EV_MESSAGE_ID;
        struct str v = str_from(r, 18);
        if (!pf_angle(v, &ev->f.message_id)) ev->f.message_id = v;
        return;
    }
    if (str_startswith(r, "uid=")) {
        ev->kind = EV_PICKUP;
        pf_fields_parse(r, &ev->f);
        return;
    }
    if (str_eqc(r, "placed on hold") || str_eqc(r, "released from hold") || str_eqc(r, "requeued")) {
        ev->kind = EV_POSTSUPER;
        ev->text = r;
        return;
    }
    if (str_startswith(r, "sender non-delivery notification: ") ||
        str_startswith(r, "sender delay notification: ") ||
        str_startswith(r, "sender delivery status notification: ") ||
        str_startswith(r, "postmaster non-delivery notification: ") ||
        str_startswith(r, "postmaster delay notification: ")) {
        ev->kind = EV_BOUNCE_NOTICE;
        ptrdiff_t c = str_rfindc(r, ": ");
        ev->stage = str_sub(r, 0, (size_t)c);
        ev->text = str_from(r, (size_t)c + 2);
        return;
    }
    if (str_startswith(r, "warning: header ") || str_startswith(r, "warning: body ")) {
        ev->kind = EV_HEADER_WARNING;
        parse_reject_body(str_from(r, 9), ev);
        return;
    }
    if (str_startswith(r, "warning: ")) {
        ev->kind = EV_QUEUE_WARNING;
        ev->text = str_from(r, 9);
        return;
    }
    ev->kind = EV_OTHER;
    ev->text = r;
}

bool parse_postfix(const struct parse_opts *opt, struct event *ev)
{
    struct str prog = ev->h.prog;
    ptrdiff_t slash = str_rchr(prog, '/');
    if (slash <= 0) return false;
    struct str svc = str_from(prog, (size_t)slash + 1);
    if (!is_daemon(svc)) return false;
    struct str inst = str_sub(prog, 0, (size_t)slash);
    if (opt && opt->syslog_name.len) {
        if (!(str_eq(inst, opt->syslog_name) ||
              (inst.len > opt->syslog_name.len && inst.p[opt->syslog_name.len] == '/' &&
               memcmp(inst.p, opt->syslog_name.p, opt->syslog_name.len) == 0)))
            return false;
    }
    ev->src = SRC_POSTFIX;
    ev->service = svc;
    ev->instance = inst;
    ev->kind = EV_OTHER;
    struct str m = ev->h.msg;

    /* "QID: ..." or "NOQUEUE: ..." */
    ptrdiff_t colon = str_chr_head(m, ':', 34);
    if (colon > 0 && (size_t)colon + 1 < m.len && m.p[colon + 1] == ' ') {
        struct str id = str_sub(m, 0, (size_t)colon);
        struct str r = str_from(m, (size_t)colon + 2);
        if (str_eqc(id, "NOQUEUE")) {
            ev->noqueue = true;
            if (!parse_action(r, ev)) { ev->kind = EV_OTHER; ev->text = r; }
            return true;
        }
        if (pf_is_qid(id)) {
            ev->qid = id;
            parse_queue_line(opt, r, ev);
            return true;
        }
    }

    if (svc.len == 10 && svc.p[0] == 'p' && str_eqc(svc, "postscreen") && m.len &&
        strchr("CPDHBAWN", m.p[0]) && parse_postscreen(opt, m, ev))
        return true;

    /* the commonest lines: their fields only when someone wants them */
    if (str_startswith(m, "connect from ")) {
        ev->kind = EV_CONNECT;
        if (ev_wanted(opt, EV_CONNECT)) take_client(str_from(m, 13), ev);
        return true;
    }
    if (str_startswith(m, "disconnect from ")) {
        ev->kind = EV_DISCONNECT;
        if (ev_wanted(opt, EV_DISCONNECT)) take_client(str_from(m, 16), ev);
        return true;
    }
    if (after_cmd_from(m, "lost connection after ", EV_LOST_CONN, ev) ||
        after_cmd_from(m, "timeout after ", EV_TIMEOUT, ev) ||
        after_cmd_from(m, "too many errors after ", EV_TOO_MANY_ERRORS, ev))
        return true;
    if (str_startswith(m, "warning: ")) {
        struct str w = str_from(m, 9);
        size_t used;
        struct ipaddr a;
        struct str name;
        if (str_startswith(w, "non-SMTP command from ")) {
            ev->kind = EV_NONSMTP;
            take_client(str_from(w, 22), ev);
            return true;
        }
        /* "warning: name[ip]: SASL LOGIN authentication failed: reason[, sasl_username=u]" */
        if (pf_name_addr(w, &name, &a, &used) && str_startswith(str_from(w, used), ": SASL ")) {
            struct str r = str_from(w, used + 7);
            ptrdiff_t af = str_findc(str_sub(r, 0, 64), " authentication failed");
            if (af >= 0) {
                ev->kind = EV_SASL_FAIL;
                ev->client = a;
                ev->client_name = name;
                ev->f.sasl_method = str_sub(r, 0, (size_t)af);
                struct str reason = str_from(r, (size_t)af + 22);
                if (str_startswith(reason, ": ")) reason = str_from(reason, 2);
                ptrdiff_t u = str_findc(reason, ", sasl_username=");
                if (u >= 0) {
                    ev->user = str_from(reason, (size_t)u + 16);
                    ev->f.sasl_username = ev->user;
                    reason = str_sub(reason, 0, (size_t)u);
                }
                ev->text = reason;
                return true;
            }
        }
        ev->kind = EV_WARNING;
        ev->text = w;
        return true;
    }
    if (str_startswith(m, "fatal: ")) { ev->kind = EV_FATAL; ev->text = str_from(m, 7); return true; }
    if (str_startswith(m, "panic: ")) { ev->kind = EV_PANIC; ev->text = str_from(m, 7); return true; }
    if (str_startswith(m, "error: ")) { ev->kind = EV_ERROR; ev->text = str_from(m, 7); return true; }
    if (str_eqc(svc, "master")) { ev->kind = EV_MASTER; ev->text = m; return true; }
    /* "Anonymous TLS connection established from name[ip]: TLSv1.3 with cipher ..." */
    ptrdiff_t t = m.len && strchr("ATUV", m.p[0]) ?
                  str_findc(str_sub(m, 0, 48), " TLS connection established from ") : -1;
    if (t >= 0) {
        ev->kind = EV_TLS;
        if (!ev_wanted(opt, EV_TLS)) return true;
        ev->stage = str_sub(m, 0, (size_t)t);       /* Anonymous / Trusted / Verified / Untrusted */
        if (take_client(str_from(m, (size_t)t + 33), ev)) {
            ptrdiff_t sp = str_chr(ev->text, ' ');
            if (sp > 0) ev->text = str_sub(ev->text, 0, (size_t)sp);   /* protocol */
        }
        return true;
    }
    ev->text = m;
    return true;
}
