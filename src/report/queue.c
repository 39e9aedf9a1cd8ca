/*
 * queue - parsing of `postqueue -j` and mailq text, grouping, text and JSON reports.
 * See queue.h for the formats, the normalisation rules, the JSON schema and the limits.
 *
 * Ownership: messages, recipients and strings live in q->arena; the group tables own their
 * ID arrays (freed in queue_free). The mailq entry being read keeps its recipients in a
 * heap array (q->cur_rcpt) until the blank line that ends it.
 */
#include "report/queue.h"
#include "util/buf.h"
#include "util/ipaddr.h"
#include "util/json.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <jansson.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char RL_BAD[] = "queue: bad input";
static const char RL_LIMIT[] = "queue: limit";

/* Text tables list at most this many groups; --json has them all. */
#define TEXT_MAX_ROWS 20
/* Recipients shown per message in the text list of oldest messages. */
#define TEXT_OLDEST_RCPTS 5

static const char *const qnames[QN_COUNT] = { "active", "deferred", "hold", "incoming", "maildrop" };
static const char *const none_reason[QN_COUNT] = {
    "(none: active)", "(none: deferred)", "(none: hold)", "(none: incoming)", "(none: maildrop)"
};
/* Upper bounds of the qshape buckets in minutes; the last bucket is open. */
static const int64_t bucket_min[QUEUE_NBUCKETS - 1] = { 5, 10, 20, 40, 80, 160, 320, 640, 1280 };
static const char *const bucket_label[QUEUE_NBUCKETS] = {
    "0-5m", "5-10m", "10-20m", "20-40m", "40-80m", "80-160m", "160-320m", "320-640m",
    "640-1280m", "1280m+"
};

const char *queue_name_str(enum queue_name qn) { return qn < QN_COUNT ? qnames[qn] : "?"; }

unsigned queue_age_bucket(int64_t age)
{
    unsigned b = 0;
    while (b < QUEUE_NBUCKETS - 1 && age >= bucket_min[b] * 60) b++;
    return b;
}

const char *queue_bucket_label(unsigned b) { return b < QUEUE_NBUCKETS ? bucket_label[b] : "?"; }

/* ---- character classes ------------------------------------------------------------- */

static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static inline bool is_alnum(unsigned char c) { return is_digit(c) || is_alpha(c); }
static inline bool is_hex(unsigned char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
static inline bool is_host(unsigned char c) { return is_alnum(c) || c == '.' || c == '-' || c == '_'; }
static inline bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
/* Characters of an e-mail address token (RFC 5322 atext, '.', '@'). */
static inline bool is_addr(unsigned char c)
{
    return c && (is_alnum(c) || strchr("._%+-=/!#$&'*?^`{|}~@", c) != NULL);
}

static bool valid_qid(struct str s)
{
    if (s.len == 0 || s.len > QUEUE_ID_MAX) return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_alnum((unsigned char)s.p[i])) return false;
    return true;
}

/* ---- reason normalisation ------------------------------------------------------------ */

struct nout {
    char *p;
    size_t len, lim;   /* lim: room for text, "..." and NUL are reserved beyond it */
    bool full;
};

static void nput(struct nout *o, const char *s, size_t n)
{
    if (o->full) return;
    if (n > o->lim - o->len) {
        n = o->lim - o->len;
        o->full = true;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void nputc(struct nout *o, char c) { nput(o, &c, 1); }

static void nstar(struct nout *o)
{
    if (o->len && o->p[o->len - 1] == '*') return;
    nputc(o, '*');
}

/* Parse s[i..j) as an address, also without one trailing '.' or ':'. Returns the length. */
static size_t ip_try(struct str s, size_t i, size_t j)
{
    for (int trim = 0; trim < 2 && j > i; trim++) {
        struct ipaddr a;
        if (ipaddr_parse(str_make(s.p + i, j - i), &a) == 0) return j - i;
        if (s.p[j - 1] != '.' && s.p[j - 1] != ':') break;
        j--;
    }
    return 0;
}

/* Length of an IPv4/IPv6 literal at s[i..], 0 if there is none. A trailing '.' (end of a
 * sentence) or ":port" after an IPv4 address is not part of it. */
static size_t ip_at(struct str s, size_t i)
{
    size_t j = i, dots = 0, colons = 0;
    while (j < s.len && j - i <= 64 && (is_hex((unsigned char)s.p[j]) || s.p[j] == '.' || s.p[j] == ':')) {
        if (s.p[j] == '.') dots++;
        if (s.p[j] == ':') colons++;
        j++;
    }
    if (j - i > 64 || (colons < 2 && dots < 3)) return 0;
    if (j < s.len && is_alnum((unsigned char)s.p[j])) return 0;
    size_t n = colons >= 2 ? ip_try(s, i, j) : 0;
    if (n == 0 && dots >= 3) {
        /* IPv4, perhaps followed by ":port" */
        size_t k = i;
        while (k < j && s.p[k] != ':') k++;
        n = ip_try(s, i, k);
    }
    return n;
}

/* DSN status code d.ddd.ddd (class 2, 4 or 5) at s[i..]: its length, or 0. */
static size_t dsn_at(struct str s, size_t i)
{
    size_t j = i;
    if (j >= s.len || (s.p[j] != '2' && s.p[j] != '4' && s.p[j] != '5')) return 0;
    j++;
    for (int part = 0; part < 2; part++) {
        if (j >= s.len || s.p[j] != '.') return 0;
        j++;
        size_t k = j;
        while (j < s.len && j - k < 4 && is_digit((unsigned char)s.p[j])) j++;
        if (j == k || j - k > 3) return 0;
    }
    if (j < s.len && (is_alnum((unsigned char)s.p[j]) ||
                      (s.p[j] == '.' && j + 1 < s.len && is_digit((unsigned char)s.p[j + 1]))))
        return 0;
    return j - i;
}

/* A three-digit SMTP reply code that should be kept (see queue.h). */
static bool smtp_code_at(struct str s, size_t i, size_t olen)
{
    if (i + 3 > s.len || s.p[i] < '2' || s.p[i] > '5' || !is_digit((unsigned char)s.p[i + 1]) ||
        !is_digit((unsigned char)s.p[i + 2]))
        return false;
    if (i + 3 < s.len && s.p[i + 3] != ' ' && s.p[i + 3] != '-') return false;
    if (olen == 0) return true;
    if (i >= 2 && s.p[i - 2] == ':' && s.p[i - 1] == ' ') return true;
    return i + 4 < s.len && dsn_at(s, i + 4) > 0;
}

size_t queue_normalise_reason(struct str in, char *out, size_t cap)
{
    struct nout o = { out, 0, cap > 4 ? cap - 4 : 0, false };
    size_t i = 0;
    while (i < in.len && !o.full) {
        unsigned char c = (unsigned char)in.p[i];
        unsigned char prev = i ? (unsigned char)in.p[i - 1] : ' ';
        if (is_space(c)) {
            if (o.len && out[o.len - 1] != ' ') nputc(&o, ' ');
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            nputc(&o, '?');
            i++;
            continue;
        }
        bool word_start = !is_alnum(prev);
        bool host_start = !is_host(prev) && prev != '@';
        if (word_start && in.len - i > 5 && memcmp(in.p + i, "host ", 5) == 0) {
            /* "host NAME said:" -- the server's name, without [addr] */
            size_t j = i + 5, k = j;
            while (k < in.len && is_host((unsigned char)in.p[k])) k++;
            if (k > j && in.len - k >= 6 && memcmp(in.p + k, " said:", 6) == 0) {
                nput(&o, "host * said:", 12);
                i = k + 6;
                continue;
            }
        }
        if (word_start && in.len - i > 5 && memcmp(in.p + i, "name=", 5) == 0) {
            size_t k = i + 5;
            while (k < in.len && !is_space((unsigned char)in.p[k])) k++;
            while (k > i + 5 && strchr(":,;.", in.p[k - 1])) k--;
            nput(&o, "name=*", 6);
            i = k;
            continue;
        }
        if (host_start && (is_host(c) || c == '[')) {
            /* NAME[ADDR] or [ADDR] with an address literal inside */
            size_t j = i;
            while (j < in.len && is_host((unsigned char)in.p[j])) j++;
            if (j < in.len && in.p[j] == '[') {
                size_t k = j + 1;
                while (k < in.len && k - j < 70 && in.p[k] != ']') k++;
                if (k < in.len && in.p[k] == ']') {
                    struct str a = str_make(in.p + j + 1, k - j - 1);
                    struct ipaddr ip;
                    if (a.len > 5 && strncasecmp(a.p, "IPv6:", 5) == 0) a = str_from(a, 5);
                    if (ipaddr_parse(a, &ip) == 0) {
                        if (j > i) nstar(&o);
                        nput(&o, "[*]", 3);
                        i = k + 1;
                        continue;
                    }
                }
            }
        }
        if (host_start && (is_hex(c) || c == ':')) {
            size_t n = ip_at(in, i);
            if (n) {
                nstar(&o);
                i += n;
                continue;
            }
        }
        if (host_start && is_addr(c)) {
            size_t j = i, at = 0;
            while (j < in.len && is_addr((unsigned char)in.p[j])) {
                if (in.p[j] == '@' && !at) at = j;
                j++;
            }
            while (j > i && in.p[j - 1] == '.') j--;
            if (at > i && at + 1 < j) {
                nstar(&o);
                i = j;
                continue;
            }
        }
        if (word_start && is_digit(c)) {
            size_t n = dsn_at(in, i);
            if (n) {
                nput(&o, in.p + i, n);
                i += n;
                continue;
            }
            if (smtp_code_at(in, i, o.len)) {
                nput(&o, in.p + i, 3);
                i += 3;
                continue;
            }
        }
        if (word_start && is_alnum(c)) {
            size_t j = i, digits = 0, letters = 0;
            while (j < in.len && is_alnum((unsigned char)in.p[j])) {
                if (is_digit((unsigned char)in.p[j])) digits++;
                else letters++;
                j++;
            }
            if (letters == 0 || (digits >= 2 && j - i >= 8)) nstar(&o);
            else nput(&o, in.p + i, j - i);
            i = j;
            continue;
        }
        nputc(&o, (char)c);
        i++;
    }
    while (o.len && out[o.len - 1] == ' ') o.len--;
    if (o.full && cap >= 4) {
        memcpy(out + o.len, "...", 3);
        o.len += 3;
    }
    if (cap) out[o.len < cap ? o.len : cap - 1] = 0;
    return o.len;
}

/* ---- storing messages ------------------------------------------------------------------ */

struct raw_reason {
    const char *raw, *norm;
};

void queue_init(struct queue *q, const char *name, int64_t now)
{
    memset(q, 0, sizeof *q);
    q->name = name ? name : "(input)";
    q->now = now;
    hmap_init(&q->reasons_raw, sizeof(struct raw_reason));
    hmap_init(&q->ids, 1);
    hmap_init(&q->by_reason, sizeof(struct queue_group));
    hmap_init(&q->by_domain, sizeof(struct queue_group));
    hmap_init(&q->by_sender, sizeof(struct queue_group));
}

static struct str cut(struct str s, size_t max, uint64_t *counter)
{
    if (s.len > max) {
        s.len = max;
        if (counter) (*counter)++;
    }
    return s;
}

/* The shared arena copy of a raw reason, with its normalised form. */
static const struct raw_reason *intern_reason(struct queue *q, struct str raw)
{
    raw = cut(raw, QUEUE_RAW_REASON_MAX, NULL);
    bool isnew;
    struct raw_reason *r = hmap_put(&q->reasons_raw, raw, &isnew);
    if (isnew) {
        char norm[QUEUE_REASON_MAX];
        size_t n = queue_normalise_reason(raw, norm, sizeof norm);
        r->raw = arena_strdup(&q->arena, raw);
        r->norm = arena_strdup(&q->arena, str_make(norm, n));
    }
    return r;
}

static bool room_for_message(struct queue *q, const char *id, unsigned long lineno)
{
    if (q->nmsgs >= QUEUE_MAX_MSGS) {
        q->dropped_msgs++;
        msg_warn_rl(RL_LIMIT, 3, "%s:%lu: more than %u messages; message %s and later ones ignored",
                    q->name, lineno, QUEUE_MAX_MSGS, id);
        return false;
    }
    bool isnew;
    hmap_put(&q->ids, str_c(id), &isnew);
    if (!isnew) {
        q->bad_lines++;
        msg_warn_rl(RL_BAD, 20, "%s:%lu: queue ID %s listed twice; the second entry is ignored",
                    q->name, lineno, id);
        return false;
    }
    return true;
}

/* How many of n recipients fit under QUEUE_MAX_RCPTS; the rest are counted as dropped. */
static uint32_t rcpt_room(struct queue *q, size_t n, const char *id, unsigned long lineno)
{
    uint64_t left = QUEUE_MAX_RCPTS - q->nrcpts;
    if (n <= left) return (uint32_t)n;
    q->dropped_rcpts += n - left;
    msg_warn_rl(RL_LIMIT, 3, "%s:%lu: more than %u recipients in all; some of message %s ignored",
                q->name, lineno, QUEUE_MAX_RCPTS, id);
    return (uint32_t)left;
}

static void add_message(struct queue *q, struct queue_msg *m)
{
    for (uint32_t i = 0; i < m->nrcpt; i++)
        if (!m->rcpt[i].norm) m->rcpt[i].norm = none_reason[m->queue];
    q->msgs = xgrow(q->msgs, &q->capmsgs, q->nmsgs + 1, sizeof *q->msgs);
    q->msgs[q->nmsgs++] = m;
    q->nrcpts += m->nrcpt;
}

static bool parse_queue_name(struct str s, enum queue_name *out)
{
    for (int i = 0; i < QN_COUNT; i++)
        if (str_eqc(s, qnames[i])) {
            *out = (enum queue_name)i;
            return true;
        }
    return false;
}

/* ---- postqueue -j ---------------------------------------------------------------------- */

static void bad_line(struct queue *q, unsigned long lineno, const char *what, const char *detail)
{
    q->bad_lines++;
    msg_warn_rl(RL_BAD, 20, "%s:%lu: %s%s%s; line skipped", q->name, lineno, what,
                detail ? ": " : "", detail ? detail : "");
}

static struct str jstr(json_t *v) { return str_make(json_string_value(v), json_string_length(v)); }

int queue_parse_json_line(struct queue *q, struct str line, unsigned long lineno)
{
    q->lines++;
    if (q->format == QF_UNKNOWN) q->format = QF_JSON;
    line = str_trim(line);
    if (line.len == 0) return 0;
    json_error_t err;
    json_t *root = json_loadb(line.p, line.len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        bad_line(q, lineno, "not JSON", err.text);
        return -1;
    }
    int rc = -1;
    json_t *qn = json_object_get(root, "queue_name"), *id = json_object_get(root, "queue_id");
    json_t *at = json_object_get(root, "arrival_time"), *sz = json_object_get(root, "message_size");
    json_t *snd = json_object_get(root, "sender"), *rc_ = json_object_get(root, "recipients");
    json_t *fe = json_object_get(root, "forced_expire");
    enum queue_name qname;
    if (!json_is_object(root)) {
        bad_line(q, lineno, "not a postqueue -j record", "not an object");
    } else if (!json_is_string(id) || !valid_qid(jstr(id))) {
        bad_line(q, lineno, "missing or invalid queue_id", NULL);
    } else if (!json_is_string(qn) || !parse_queue_name(jstr(qn), &qname)) {
        bad_line(q, lineno, "missing or unknown queue_name", NULL);
    } else if (!json_is_integer(at) || json_integer_value(at) < 0 ||
               json_integer_value(at) > ((json_int_t)1 << 40)) {
        bad_line(q, lineno, "arrival_time is not a time stamp", NULL);
    } else if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
        bad_line(q, lineno, "message_size is not a size", NULL);
    } else if (!json_is_string(snd)) {
        bad_line(q, lineno, "sender is not a string", NULL);
    } else if (!json_is_array(rc_)) {
        bad_line(q, lineno, "recipients is not an array", NULL);
    } else if (fe && !json_is_boolean(fe)) {
        bad_line(q, lineno, "forced_expire is not a boolean", NULL);
    } else {
        size_t n = json_array_size(rc_), i;
        json_t *r;
        json_array_foreach(rc_, i, r) {
            json_t *a = json_object_get(r, "address"), *why = json_object_get(r, "delay_reason");
            if (!json_is_object(r) || !json_is_string(a) || (why && !json_is_string(why))) break;
        }
        if (i < n) {
            bad_line(q, lineno, "a recipient is not {\"address\": string, \"delay_reason\": string}", NULL);
        } else if (room_for_message(q, json_string_value(id), lineno)) {
            struct queue_msg *m = arena_alloc(&q->arena, sizeof *m);
            str_copy(m->id, sizeof m->id, jstr(id));
            m->queue = qname;
            m->forced_expire = fe && json_is_true(fe);
            m->arrival = (int64_t)json_integer_value(at);
            m->size = (uint64_t)json_integer_value(sz);
            m->sender = arena_strdup(&q->arena, cut(jstr(snd), QUEUE_ADDR_MAX, NULL));
            m->nrcpt = rcpt_room(q, n, m->id, lineno);
            m->rcpt = arena_alloc(&q->arena, (m->nrcpt ? m->nrcpt : 1) * sizeof *m->rcpt);
            for (i = 0; i < m->nrcpt; i++) {
                r = json_array_get(rc_, i);
                json_t *why = json_object_get(r, "delay_reason");
                m->rcpt[i].address = arena_strdup(&q->arena,
                    cut(jstr(json_object_get(r, "address")), QUEUE_ADDR_MAX, NULL));
                if (why && json_string_length(why)) {
                    const struct raw_reason *rr = intern_reason(q, jstr(why));
                    m->rcpt[i].reason = rr->raw;
                    m->rcpt[i].norm = rr->norm;
                }
            }
            add_message(q, m);
            rc = 0;
        }
    }
    json_decref(root);
    return rc;
}

/* ---- mailq text ------------------------------------------------------------------------- */

/* Next white-space separated token of *s; *s advances past it. */
static struct str next_tok(struct str *s)
{
    size_t i = 0;
    while (i < s->len && is_space((unsigned char)s->p[i])) i++;
    size_t j = i;
    while (j < s->len && !is_space((unsigned char)s->p[j])) j++;
    struct str t = str_make(s->p + i, j - i);
    *s = str_from(*s, j);
    return t;
}

static bool parse_2d(struct str s, int *out, int max)
{
    uint64_t v;
    if (s.len < 1 || s.len > 2 || !str_to_u64(s, &v) || v > (uint64_t)max) return false;
    *out = (int)v;
    return true;
}

static void flush_entry(struct queue *q, unsigned long lineno)
{
    struct queue_msg *m = q->cur;
    if (!m) return;
    q->cur = NULL;
    q->cur_reason = q->cur_norm = NULL;
    if (m->queue == QN_COUNT) {
        /* unmarked: deferred if anything has a reason, else incoming (or maildrop) */
        m->queue = QN_INCOMING;
        for (uint32_t i = 0; i < m->nrcpt; i++)
            if (q->cur_rcpt[i].reason) m->queue = QN_DEFERRED;
    }
    if (!room_for_message(q, m->id, lineno)) return;
    struct queue_rcpt *r = arena_alloc(&q->arena, (m->nrcpt ? m->nrcpt : 1) * sizeof *r);
    if (m->nrcpt) memcpy(r, q->cur_rcpt, m->nrcpt * sizeof *r);
    m->rcpt = r;
    add_message(q, m);
}

static int mailq_entry(struct queue *q, struct str line, unsigned long lineno)
{
    struct str rest = line;
    struct str qid = next_tok(&rest), size = next_tok(&rest), dow = next_tok(&rest);
    struct str mon = next_tok(&rest), mday = next_tok(&rest), hms = next_tok(&rest);
    struct str sender = str_trim(rest);
    enum queue_name qn = QN_COUNT;
    bool expire = false;
    /* showq_compat appends '*' (active) or '!' (hold), then '#' (forced to expire) */
    if (qid.len && qid.p[qid.len - 1] == '#') {
        expire = true;
        qid.len--;
    }
    if (qid.len && qid.p[qid.len - 1] == '*') qn = QN_ACTIVE;
    else if (qid.len && qid.p[qid.len - 1] == '!') qn = QN_HOLD;
    if (qn != QN_COUNT) qid.len--;
    uint64_t sz;
    int month = mwtime_month(mon), d, hh, mm, ss;
    if (!valid_qid(qid)) {
        bad_line(q, lineno, "not a mailq entry", "no valid queue ID");
    } else if (!str_to_u64(size, &sz)) {
        bad_line(q, lineno, "not a mailq entry", "bad size");
    } else if (dow.len != 3 || !month || !parse_2d(mday, &d, 31) || d < 1 || hms.len != 8 ||
               hms.p[2] != ':' || hms.p[5] != ':' || !parse_2d(str_sub(hms, 0, 2), &hh, 23) ||
               !parse_2d(str_sub(hms, 3, 2), &mm, 59) || !parse_2d(str_sub(hms, 6, 2), &ss, 60)) {
        bad_line(q, lineno, "not a mailq entry", "bad arrival time");
    } else if (sender.len == 0) {
        bad_line(q, lineno, "not a mailq entry", "no sender");
    } else {
        struct queue_msg *m = arena_alloc(&q->arena, sizeof *m);
        str_copy(m->id, sizeof m->id, qid);
        m->queue = qn;
        m->forced_expire = expire;
        m->size = sz;
        m->arrival = mwtime_yearless(&q->tc, month, d, hh, mm, ss, q->now);
        m->sender = arena_strdup(&q->arena, cut(sender, QUEUE_ADDR_MAX, NULL));
        q->cur = m;
        return 0;
    }
    q->skip_entry = true;
    return -1;
}

int queue_parse_mailq(struct queue *q, struct str line, unsigned long lineno)
{
    q->lines++;
    if (q->format == QF_UNKNOWN) q->format = QF_MAILQ;
    while (line.len && (line.p[line.len - 1] == '\r' || line.p[line.len - 1] == '\n')) line.len--;
    struct str t = str_trim(line);
    if (t.len == 0) {
        flush_entry(q, lineno);
        q->skip_entry = false;
        return 0;
    }
    if (line.p[0] == '-') {
        flush_entry(q, lineno);
        q->skip_entry = false;
        if (str_startswith(t, "-- ")) {
            /* "-- 97 Kbytes in 12 Requests." */
            struct str rest = str_from(t, 3);
            struct str kb = next_tok(&rest), unit = next_tok(&rest), in = next_tok(&rest);
            struct str n = next_tok(&rest), req = next_tok(&rest);
            uint64_t v, count;
            if (str_to_u64(kb, &v) && str_eqc(unit, "Kbytes") && str_eqc(in, "in") &&
                str_to_u64(n, &count) && str_startswith(req, "Request")) {
                q->saw_trailer = true;
                q->trailer_count = count;
                return 0;
            }
        } else if (str_findc(t, "Queue ID") >= 0) {
            q->saw_header = true;
            return 0;
        }
        bad_line(q, lineno, "not a mailq line", NULL);
        return -1;
    }
    if (str_eqc(t, "Mail queue is empty")) {
        flush_entry(q, lineno);
        q->saw_empty = true;
        return 0;
    }
    if (is_space((unsigned char)line.p[0]) || line.p[0] == '(') {
        if (q->skip_entry) return 0;   /* the rest of an entry whose first line was bad */
        struct queue_msg *m = q->cur;
        if (!m) {
            bad_line(q, lineno, "recipient or reason outside a mailq entry", NULL);
            return -1;
        }
        if (t.p[0] == '(') {
            struct str why = str_from(t, 1);
            if (why.len && why.p[why.len - 1] == ')') why.len--;
            /* "(reason unavailable)": this recipient has none, the one before had one */
            q->cur_reason = q->cur_norm = NULL;
            if (why.len && !str_eqc(why, "reason unavailable")) {
                const struct raw_reason *rr = intern_reason(q, why);
                q->cur_reason = rr->raw;
                q->cur_norm = rr->norm;
            }
            return 0;
        }
        if (q->nrcpts + m->nrcpt >= QUEUE_MAX_RCPTS) {
            q->dropped_rcpts++;
            msg_warn_rl(RL_LIMIT, 3, "%s:%lu: more than %u recipients in all; some of message %s ignored",
                        q->name, lineno, QUEUE_MAX_RCPTS, m->id);
            return 0;
        }
        q->cur_rcpt = xgrow(q->cur_rcpt, &q->cur_cap, (size_t)m->nrcpt + 1, sizeof *q->cur_rcpt);
        struct queue_rcpt *r = &q->cur_rcpt[m->nrcpt++];
        r->address = arena_strdup(&q->arena, cut(t, QUEUE_ADDR_MAX, NULL));
        r->reason = q->cur_reason;
        r->norm = q->cur_norm;
        return 0;
    }
    flush_entry(q, lineno);
    q->skip_entry = false;
    return mailq_entry(q, line, lineno);
}

void queue_feed(struct queue *q, struct str line, unsigned long lineno)
{
    if (q->format == QF_UNKNOWN) {
        struct str t = str_trim(line);
        if (t.len == 0) {
            q->lines++;
            return;
        }
        q->format = t.p[0] == '{' ? QF_JSON : QF_MAILQ;
    }
    if (q->format == QF_JSON) queue_parse_json_line(q, line, lineno);
    else queue_parse_mailq(q, line, lineno);
}

/* ---- grouping ---------------------------------------------------------------------------- */

static void push_id(uint32_t **arr, uint32_t *n, uint32_t *cap, uint32_t v)
{
    if (*n == *cap) {
        size_t c = *cap;
        *arr = xgrow(*arr, &c, (size_t)*n + 1, sizeof **arr);
        *cap = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    }
    (*arr)[(*n)++] = v;
}

/* Count message idx into group g (once per message). Returns true when g is new for it. */
static bool group_add(struct queue_group *g, uint32_t idx, uint64_t size)
{
    g->recipients++;
    if (g->last == idx + 1) return false;
    g->last = idx + 1;
    g->messages++;
    g->bytes += size;
    push_id(&g->ids, &g->nids, &g->capids, idx);
    return true;
}

/* Lower-case domain of an address into buf; "(none)" without '@'. */
static struct str domain_of(const char *addr, char *buf, size_t cap)
{
    struct str a = str_c(addr);
    if (a.len && a.p[a.len - 1] == '>') a.len--;
    ptrdiff_t at = str_rchr(a, '@');
    if (at < 0 || (size_t)at + 1 == a.len) return str_c("(none)");
    struct str d = str_from(a, (size_t)at + 1);
    size_t n = d.len < cap ? d.len : cap;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d.p[i];
        buf[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    return str_make(buf, n);
}

static void set_keys(struct hmap *m)
{
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(m, &it, &k, &v)) ((struct queue_group *)v)->key = k.p;
}

void queue_finish(struct queue *q)
{
    if (q->finished) return;
    q->finished = true;
    flush_entry(q, q->lines);
    if (q->format == QF_MAILQ && !q->saw_empty) {
        q->truncated = !q->saw_trailer && q->nmsgs + q->bad_lines > 0;
        if (q->truncated)
            msg_warn("%s: mailq output ends without its \"-- N Kbytes in M Requests.\" line "
                     "(truncated?); the report covers the %zu messages read", q->name, q->nmsgs);
        else if (q->saw_trailer && q->trailer_count != q->nmsgs + q->dropped_msgs)
            msg_warn("%s: mailq says %" PRIu64 " requests but %zu were read", q->name,
                     q->trailer_count, q->nmsgs + (size_t)q->dropped_msgs);
    }
    for (size_t i = 0; i < q->nmsgs; i++) {
        const struct queue_msg *m = q->msgs[i];
        uint32_t idx = (uint32_t)i;
        q->total.messages++;
        q->total.bytes += m->size;
        q->by_queue[m->queue].messages++;
        q->by_queue[m->queue].bytes += m->size;
        unsigned b = queue_age_bucket(q->now - m->arrival);
        q->by_age[b].messages++;
        q->by_age[b].bytes += m->size;

        struct queue_group *g = hmap_put(&q->by_sender, str_c(m->sender), NULL);
        g->messages++;
        g->recipients += m->nrcpt;
        g->bytes += m->size;

        struct queue_group *first = NULL;
        unsigned distinct = 0;
        for (uint32_t r = 0; r < m->nrcpt; r++) {
            g = hmap_put(&q->by_reason, str_c(m->rcpt[r].norm), NULL);
            if (group_add(g, idx, m->size)) {
                distinct++;
                first = g;
            }
        }
        if (distinct == 1) push_id(&first->del, &first->ndel, &first->capdel, idx);

        first = NULL;
        distinct = 0;
        for (uint32_t r = 0; r < m->nrcpt; r++) {
            char dbuf[256];
            g = hmap_put(&q->by_domain, domain_of(m->rcpt[r].address, dbuf, sizeof dbuf), NULL);
            if (group_add(g, idx, m->size)) {
                distinct++;
                first = g;
            }
        }
        if (distinct == 1) push_id(&first->del, &first->ndel, &first->capdel, idx);
    }
    set_keys(&q->by_reason);
    set_keys(&q->by_domain);
    set_keys(&q->by_sender);
}

const struct queue_group *queue_group_get(const struct hmap *m, const char *key)
{
    return hmap_get(m, str_c(key));
}

static void free_groups(struct hmap *m)
{
    size_t it = 0;
    struct str k;
    void *v;
    while (hmap_next(m, &it, &k, &v)) {
        struct queue_group *g = v;
        free(g->ids);
        free(g->del);
    }
    hmap_free(m);
}

void queue_free(struct queue *q)
{
    free_groups(&q->by_reason);
    free_groups(&q->by_domain);
    free_groups(&q->by_sender);
    hmap_free(&q->reasons_raw);
    hmap_free(&q->ids);
    free(q->msgs);
    free(q->cur_rcpt);
    arena_free(&q->arena);
    memset(q, 0, sizeof *q);
}

/* ---- report helpers ----------------------------------------------------------------------- */

static int cmp_group(const void *a, const void *b)
{
    const struct queue_group *x = *(const struct queue_group *const *)a;
    const struct queue_group *y = *(const struct queue_group *const *)b;
    if (x->messages != y->messages) return x->messages > y->messages ? -1 : 1;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Groups of m sorted for output; caller frees the array. */
static const struct queue_group **sorted_groups(const struct hmap *m, size_t *n)
{
    const struct queue_group **v = xmalloc((hmap_count(m) + 1) * sizeof *v);
    size_t it = 0, i = 0;
    struct str k;
    void *val;
    while (hmap_next(m, &it, &k, &val)) v[i++] = val;
    qsort(v, i, sizeof *v, cmp_group);
    *n = i;
    return v;
}

static int cmp_age(const void *a, const void *b)
{
    const struct queue_msg *x = *(const struct queue_msg *const *)a;
    const struct queue_msg *y = *(const struct queue_msg *const *)b;
    if (x->arrival != y->arrival) return x->arrival < y->arrival ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* The `top` oldest messages; caller frees the array. */
static const struct queue_msg **oldest(const struct queue *q, unsigned top, size_t *n)
{
    const struct queue_msg **v = xmalloc((q->nmsgs + 1) * sizeof *v);
    for (size_t i = 0; i < q->nmsgs; i++) v[i] = q->msgs[i];
    qsort(v, q->nmsgs, sizeof *v, cmp_age);
    *n = q->nmsgs < top ? q->nmsgs : top;
    return v;
}

/* "postsuper -d ID ID ..." for the deletable messages of g, into b. */
static void postsuper_cmd(const struct queue *q, const struct queue_group *g, struct buf *b)
{
    buf_puts(b, "postsuper -d");
    for (uint32_t i = 0; i < g->ndel; i++) {
        buf_putc(b, ' ');
        buf_puts(b, q->msgs[g->del[i]]->id);
    }
}

/* Key safe to put between double quotes inside single quotes on a shell line. */
static bool shell_safe(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '\'' || *s == '"' || *s == '\\') return false;
    return true;
}

/* Write s for a terminal: control characters and invalid UTF-8 become '?'. */
static void put_safe(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        if (c < 0x80) {
            fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
            p++;
            continue;
        }
        size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        size_t k = 1;
        while (k < len && (p[k] & 0xc0) == 0x80) k++;
        /* C1 controls (U+0080..U+009F) are control characters too */
        if (len == 0 || k < len || (c == 0xc2 && p[1] < 0xa0)) {
            fputc('?', f);
            p += k ? k : 1;
            continue;
        }
        fwrite(p, 1, len, f);
        p += len;
    }
}

static const char *disp_sender(const char *s) { return *s ? s : "<>"; }

/* "95s", "4m05s", "3h07m", "2d04h" */
static void fmt_age(int64_t s, char *buf, size_t cap)
{
    if (s < 0) s = 0;
    if (s < 60) snprintf(buf, cap, "%" PRId64 "s", s);
    else if (s < 3600) snprintf(buf, cap, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400) snprintf(buf, cap, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
    else snprintf(buf, cap, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
}

static const char *format_name(enum queue_format f)
{
    return f == QF_JSON ? "postqueue-json" : f == QF_MAILQ ? "mailq" : NULL;
}

/* ---- text report ---------------------------------------------------------------------------- */

static void text_groups(const struct queue *q, FILE *f, const struct hmap *m, const char *title,
                        const char *section, const char *field)
{
    size_t n;
    const struct queue_group **v = sorted_groups(m, &n);
    fprintf(f, "\n%s\n", title);
    if (n == 0) fputs("  (none)\n", f);
    else fprintf(f, "  %7s %7s %12s  %s\n", "msgs", "rcpts", "bytes", field);
    struct buf b = BUF_INIT((size_t)1 << 20);
    for (size_t i = 0; i < n && i < TEXT_MAX_ROWS; i++) {
        const struct queue_group *g = v[i];
        fprintf(f, "  %7" PRIu64 " %7" PRIu64 " %12" PRIu64 "  ", g->messages, g->recipients, g->bytes);
        put_safe(f, g->key);
        fputc('\n', f);
        fprintf(f, "%32s", "");
        if (g->ndel == 0) {
            fputs("(no message has all its recipients here; postsuper -d would remove others too)\n", f);
        } else if (g->ndel <= QUEUE_INLINE_IDS) {
            buf_reset(&b);
            postsuper_cmd(q, g, &b);
            fprintf(f, "delete: %s\n", buf_cstr(&b));
        } else if (shell_safe(g->key)) {
            fprintf(f, "delete (%" PRIu32 " msgs): mailwarden queue --json | jq -r '.%s[] | "
                    "select(.%s == \"%s\") | .deletable_ids[]' | postsuper -d -\n",
                    g->ndel, section, field, g->key);
        } else {
            fprintf(f, "delete (%" PRIu32 " msgs): see deletable_ids in --json\n", g->ndel);
        }
        if (g->ndel && g->ndel < g->messages)
            fprintf(f, "%32s(%" PRIu64 " more with recipients elsewhere are not included)\n", "",
                    g->messages - g->ndel);
    }
    buf_free(&b);
    if (n > TEXT_MAX_ROWS) fprintf(f, "  ... %zu more (see --json)\n", n - TEXT_MAX_ROWS);
    free(v);
}

void queue_report_text(const struct queue *q, FILE *f, unsigned top)
{
    char t[64];
    mwtime_human(q->now, t, sizeof t);
    fprintf(f, "Mail queue (%s", q->name);
    if (format_name(q->format)) fprintf(f, ", %s", format_name(q->format));
    fprintf(f, ") as of %s\n", t);
    fprintf(f, "Total: %" PRIu64 " messages, %" PRIu64 " recipients, %" PRIu64 " bytes\n",
            q->total.messages, q->nrcpts, q->total.bytes);
    if (q->bad_lines || q->dropped_msgs || q->dropped_rcpts || q->truncated)
        fprintf(f, "Input problems: %" PRIu64 " bad lines, %" PRIu64 " messages and %" PRIu64
                " recipients over the limits%s (see warnings)\n", q->bad_lines, q->dropped_msgs,
                q->dropped_rcpts, q->truncated ? ", mailq output truncated" : "");

    fprintf(f, "\nBy queue\n  %-10s %7s %12s\n", "queue", "msgs", "bytes");
    for (int i = 0; i < QN_COUNT; i++)
        fprintf(f, "  %-10s %7" PRIu64 " %12" PRIu64 "\n", qnames[i], q->by_queue[i].messages,
                q->by_queue[i].bytes);

    fprintf(f, "\nBy age\n  %-10s %7s %12s\n", "age", "msgs", "bytes");
    for (unsigned i = 0; i < QUEUE_NBUCKETS; i++)
        fprintf(f, "  %-10s %7" PRIu64 " %12" PRIu64 "\n", bucket_label[i], q->by_age[i].messages,
                q->by_age[i].bytes);

    text_groups(q, f, &q->by_reason, "By reason", "by_reason", "reason");
    text_groups(q, f, &q->by_domain, "By recipient domain", "by_domain", "domain");

    size_t n;
    const struct queue_group **v = sorted_groups(&q->by_sender, &n);
    fprintf(f, "\nBy sender\n");
    if (n == 0) fputs("  (none)\n", f);
    else fprintf(f, "  %7s %7s %12s  %s\n", "msgs", "rcpts", "bytes", "sender");
    for (size_t i = 0; i < n && i < TEXT_MAX_ROWS; i++) {
        fprintf(f, "  %7" PRIu64 " %7" PRIu64 " %12" PRIu64 "  ", v[i]->messages, v[i]->recipients,
                v[i]->bytes);
        put_safe(f, disp_sender(v[i]->key));
        fputc('\n', f);
    }
    if (n > TEXT_MAX_ROWS) fprintf(f, "  ... %zu more (see --json)\n", n - TEXT_MAX_ROWS);
    free(v);

    const struct queue_msg **o = oldest(q, top, &n);
    fprintf(f, "\nOldest %zu message%s\n", n, n == 1 ? "" : "s");
    if (n) fprintf(f, "  %-16s %-8s %-19s %7s %9s  %s\n", "queue id", "queue", "arrival", "age",
                   "size", "sender");
    for (size_t i = 0; i < n; i++) {
        const struct queue_msg *m = o[i];
        char at[64], age[32];
        mwtime_human(m->arrival, at, sizeof at);
        fmt_age(q->now - m->arrival, age, sizeof age);
        fprintf(f, "  %-16s %-8s %-19s %7s %9" PRIu64 "  ", m->id, qnames[m->queue], at, age, m->size);
        put_safe(f, disp_sender(m->sender));
        fputc('\n', f);
        for (uint32_t r = 0; r < m->nrcpt && r < TEXT_OLDEST_RCPTS; r++) {
            fputs("      -> ", f);
            put_safe(f, m->rcpt[r].address);
            if (m->rcpt[r].reason && (r == 0 || m->rcpt[r - 1].reason != m->rcpt[r].reason)) {
                fputs("  (", f);
                put_safe(f, m->rcpt[r].reason);
                fputc(')', f);
            }
            fputc('\n', f);
        }
        if (m->nrcpt > TEXT_OLDEST_RCPTS)
            fprintf(f, "      ... %" PRIu32 " more recipients\n", m->nrcpt - TEXT_OLDEST_RCPTS);
    }
    free(o);
}

/* ---- JSON report ----------------------------------------------------------------------------- */

static void json_count(struct jw *w, const char *key, const struct queue_count *c)
{
    if (key) jw_key(w, key);
    jw_obj(w);
    jw_key(w, "messages");
    jw_uint(w, c->messages);
    jw_key(w, "bytes");
    jw_uint(w, c->bytes);
    jw_obj_end(w);
}

static void json_ids(struct jw *w, const struct queue *q, const uint32_t *ids, uint32_t n)
{
    jw_arr(w);
    for (uint32_t i = 0; i < n; i++) jw_cstr(w, q->msgs[ids[i]]->id);
    jw_arr_end(w);
}

static void json_groups(const struct queue *q, struct jw *w, const struct hmap *m, const char *key,
                        bool ids)
{
    size_t n;
    const struct queue_group **v = sorted_groups(m, &n);
    struct buf b = BUF_INIT((size_t)256 << 20);
    jw_arr(w);
    for (size_t i = 0; i < n; i++) {
        const struct queue_group *g = v[i];
        jw_obj(w);
        jw_key(w, key);
        jw_cstr(w, g->key);
        jw_key(w, "messages");
        jw_uint(w, g->messages);
        jw_key(w, "recipients");
        jw_uint(w, g->recipients);
        jw_key(w, "bytes");
        jw_uint(w, g->bytes);
        if (ids) {
            jw_key(w, "queue_ids");
            json_ids(w, q, g->ids, g->nids);
            jw_key(w, "deletable_ids");
            json_ids(w, q, g->del, g->ndel);
            jw_key(w, "postsuper");
            if (g->ndel) {
                buf_reset(&b);
                postsuper_cmd(q, g, &b);
                jw_str(w, buf_str(&b));
            } else {
                jw_null(w);
            }
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
    buf_free(&b);
    free(v);
}

void queue_report_json(const struct queue *q, FILE *f, unsigned top)
{
    struct jw w;
    char t[64];
    jw_init(&w, f, false);
    jw_obj(&w);

    jw_key(&w, "input");
    jw_obj(&w);
    jw_key(&w, "source");
    jw_cstr(&w, q->name);
    jw_key(&w, "format");
    jw_cstr(&w, format_name(q->format));
    jw_key(&w, "lines");
    jw_uint(&w, q->lines);
    jw_key(&w, "bad_lines");
    jw_uint(&w, q->bad_lines);
    jw_key(&w, "dropped_messages");
    jw_uint(&w, q->dropped_msgs);
    jw_key(&w, "dropped_recipients");
    jw_uint(&w, q->dropped_rcpts);
    jw_key(&w, "truncated");
    jw_bool(&w, q->truncated);
    jw_obj_end(&w);

    mwtime_rfc3339(q->now, -1, t, sizeof t);
    jw_key(&w, "now");
    jw_cstr(&w, t);

    jw_key(&w, "total");
    jw_obj(&w);
    jw_key(&w, "messages");
    jw_uint(&w, q->total.messages);
    jw_key(&w, "recipients");
    jw_uint(&w, q->nrcpts);
    jw_key(&w, "bytes");
    jw_uint(&w, q->total.bytes);
    jw_obj_end(&w);

    jw_key(&w, "by_reason");
    json_groups(q, &w, &q->by_reason, "reason", true);
    jw_key(&w, "by_domain");
    json_groups(q, &w, &q->by_domain, "domain", true);

    jw_key(&w, "by_age");
    jw_arr(&w);
    for (unsigned i = 0; i < QUEUE_NBUCKETS; i++) {
        jw_obj(&w);
        jw_key(&w, "bucket");
        jw_cstr(&w, bucket_label[i]);
        jw_key(&w, "messages");
        jw_uint(&w, q->by_age[i].messages);
        jw_key(&w, "bytes");
        jw_uint(&w, q->by_age[i].bytes);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);

    jw_key(&w, "by_sender");
    json_groups(q, &w, &q->by_sender, "sender", false);

    jw_key(&w, "by_queue");
    jw_obj(&w);
    for (int i = 0; i < QN_COUNT; i++) json_count(&w, qnames[i], &q->by_queue[i]);
    jw_obj_end(&w);

    size_t n;
    const struct queue_msg **o = oldest(q, top, &n);
    jw_key(&w, "oldest");
    jw_arr(&w);
    for (size_t i = 0; i < n; i++) {
        const struct queue_msg *m = o[i];
        jw_obj(&w);
        jw_key(&w, "queue_id");
        jw_cstr(&w, m->id);
        jw_key(&w, "queue");
        jw_cstr(&w, qnames[m->queue]);
        mwtime_rfc3339(m->arrival, -1, t, sizeof t);
        jw_key(&w, "arrival");
        jw_cstr(&w, t);
        jw_key(&w, "age_seconds");
        jw_int(&w, q->now - m->arrival);
        jw_key(&w, "sender");
        jw_cstr(&w, m->sender);
        jw_key(&w, "size");
        jw_uint(&w, m->size);
        jw_key(&w, "forced_expire");
        jw_bool(&w, m->forced_expire);
        jw_key(&w, "recipients_total");
        jw_uint(&w, m->nrcpt);
        jw_key(&w, "recipients");
        jw_arr(&w);
        for (uint32_t r = 0; r < m->nrcpt && r < QUEUE_OLDEST_RCPTS; r++) {
            jw_obj(&w);
            jw_key(&w, "address");
            jw_cstr(&w, m->rcpt[r].address);
            jw_key(&w, "reason");
            jw_cstr(&w, m->rcpt[r].reason);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    free(o);

    jw_obj_end(&w);
    jw_end(&w);
}
