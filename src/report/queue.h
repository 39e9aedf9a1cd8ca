/*
 * queue - what is stuck in the Postfix queue and why: parses `postqueue -j` (JSON lines) and
 * the classic `mailq` / `postqueue -p` text, groups the messages, and writes a text or JSON
 * report. It never touches the queue: the postsuper commands it prints are for the admin.
 *
 * Use:  queue_init(&q, "postqueue -j", now);
 *       for each line: queue_feed(&q, line, lineno);        (format auto-detected)
 *       queue_finish(&q);                                    (flush, check trailer, group)
 *       queue_report_text(&q, stdout, top);  or  queue_report_json(&q, stdout, top);
 *       queue_free(&q);
 * queue_parse_json_line() / queue_parse_mailq() can be called directly when the format is
 * known. Lines are borrowed for the duration of the call; everything kept is copied into the
 * queue's arena and freed by queue_free().
 *
 * Input formats
 *   postqueue -j: one JSON object per line (Postfix >= 3.1): queue_name, queue_id,
 *     arrival_time (epoch), message_size, forced_expire, sender, recipients[{address,
 *     delay_reason?}]. A line that is not such an object (syntax error, wrong type, missing
 *     field, invalid queue ID) is warned about as "NAME:LINE: ..." and skipped.
 *   mailq text (Postfix showq_compat): header "-Queue ID- --Size-- ----Arrival Time----
 *     -Sender/Recipient-------" (short or long-ID widths), then per message
 *     "QID[*|!][#] SIZE Dow Mon DD HH:MM:SS SENDER", "(reason)" lines that apply to the
 *     recipient lines after them ("(reason unavailable)" = none), recipient lines, a blank
 *     line; trailer "-- N Kbytes in M Request(s)." or "Mail queue is empty". '*' = active,
 *     '!' = hold, '#' = forced to expire; unmarked messages are "deferred" when they carry a
 *     reason, else "incoming" (the text format cannot tell incoming from maildrop). The
 *     arrival time has no year: it is resolved by the year rule (util/timeparse.h) against
 *     `now`. Senders are kept as listed (showq shows the null sender as "MAILER-DAEMON" in
 *     both formats), so both formats of the same queue give the same report. A missing
 *     trailer (truncated output) or a trailer whose count disagrees is warned about; what was
 *     parsed is kept.
 *
 * Reason normalisation (queue_normalise_reason), so that one problem is one group:
 *   - NAME[ADDR] where ADDR is an IPv4/IPv6 literal (optionally "IPv6:") -> "*[*]";
 *     a bracket that is not an address ("[TSS04]", "[private/lmtp]") is kept.
 *   - "host NAME said:" -> "host * said:"; "name=VALUE" (DNS errors) -> "name=*".
 *   - bare IPv4/IPv6 literals -> "*"; e-mail addresses (a token with '@') -> "*"
 *     ("<bob@x.test>" -> "<*>").
 *   - DSN codes (4.7.1, 5.1.1) are kept; a three-digit SMTP code 2xx-5xx is kept when it
 *     starts the text, follows ": " or is followed by a DSN code ("450-4.2.1", "451 4.7.1").
 *   - every other number -> "*" ("port :2525" -> ":*", "Greylisted for 300 seconds" ->
 *     "Greylisted for * seconds"); an ID-like word of >= 8 characters with letters and at
 *     least 2 digits (remote queue IDs, "e9si123456qkf") -> "*"; shorter mixed words
 *     ("TSS04", "RFC5321") are kept.
 *   - runs of white space -> one space; control characters -> '?'; adjacent "*" collapse;
 *     the result is cut at QUEUE_REASON_MAX bytes (ending in "...").
 *   A recipient without a reason is grouped as "(none: QUEUE)", e.g. "(none: hold)".
 *
 * Groups: by reason (per recipient, normalised), by recipient domain (lower case; "(none)"
 * for an address without '@'), by age (qshape buckets of `now - arrival`: 0-5, 5-10, ...,
 * 640-1280, 1280+ minutes; a future arrival counts as 0), by sender, by queue. A message
 * counts once per group it has recipients in, so reason/domain groups can add up to more
 * than the total. For reason and domain groups `queue_ids` lists every message in the group
 * and `deletable_ids` those whose recipients are *all* in the group: `postsuper -d` removes
 * whole messages, so a message that also has recipients elsewhere is never suggested.
 * Suggested command: "postsuper -d ID..." when there are at most QUEUE_INLINE_IDS deletable
 * messages; otherwise (text report) a pipeline that re-reads the live queue:
 *   mailwarden queue --json | jq -r '.by_domain[] | select(.domain == "D") | .deletable_ids[]' | postsuper -d -
 * printed only when the key has no quote, backslash or control character (else "see
 * --json"). Queue IDs are validated (1..QUEUE_ID_MAX letters/digits), so nothing from the
 * input can reach a shell through these commands. IDs from a saved file may be stale.
 *
 * JSON report (one document):
 *   {"input":{"source","format":"postqueue-json"|"mailq"|null,"lines","bad_lines",
 *             "dropped_messages","dropped_recipients","truncated"},
 *    "now": RFC 3339,
 *    "total":{"messages","recipients","bytes"},
 *    "by_reason":[{"reason","messages","recipients","bytes","queue_ids":[],
 *                  "deletable_ids":[],"postsuper": "postsuper -d ..." | null}],
 *    "by_domain":[{"domain", ...same as by_reason}],
 *    "by_age":[{"bucket":"0-5m"|"5-10m"|...|"640-1280m"|"1280m+","messages","bytes"}],
 *    "by_sender":[{"sender","messages","bytes"}],
 *    "by_queue":{"active":{"messages","bytes"},"deferred":..,"hold":..,"incoming":..,
 *                "maildrop":..},
 *    "oldest":[{"queue_id","queue","arrival" (RFC 3339),"age_seconds","sender","size",
 *               "forced_expire","recipients_total",
 *               "recipients":[{"address","reason" (raw, or null)}]}]}
 *   Groups are sorted by messages, then bytes (descending), then key; "postsuper" lists
 *   deletable_ids (null when there are none); "oldest" lists at most QUEUE_OLDEST_RCPTS
 *   recipients per message.
 *
 * Limits: QUEUE_MAX_MSGS messages and QUEUE_MAX_RCPTS recipients in all (further ones are
 * counted as dropped and warned about once); addresses and senders are cut at
 * QUEUE_ADDR_MAX bytes, raw reasons at QUEUE_RAW_REASON_MAX. Group tables are bounded by
 * these. Warnings are rate limited (msg_warn_rl). Nothing here exits.
 */
#ifndef MW_QUEUE_H
#define MW_QUEUE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "util/arena.h"
#include "util/hash.h"
#include "util/str.h"
#include "util/timeparse.h"

#define QUEUE_ID_MAX 32
#define QUEUE_ADDR_MAX 1024
#define QUEUE_RAW_REASON_MAX 2048
#define QUEUE_REASON_MAX 512
#define QUEUE_MAX_MSGS 2000000u
#define QUEUE_MAX_RCPTS 5000000u
#define QUEUE_INLINE_IDS 10
#define QUEUE_OLDEST_RCPTS 100
#define QUEUE_NBUCKETS 10

enum queue_name { QN_ACTIVE, QN_DEFERRED, QN_HOLD, QN_INCOMING, QN_MAILDROP, QN_COUNT };
enum queue_format { QF_UNKNOWN, QF_JSON, QF_MAILQ };

struct queue_rcpt {
    const char *address;
    const char *reason;       /* raw delay reason, NULL if none */
    const char *norm;         /* normalised reason (group key), never NULL */
};

struct queue_msg {
    char id[QUEUE_ID_MAX + 1];
    enum queue_name queue;
    bool forced_expire;
    int64_t arrival;
    uint64_t size;
    const char *sender;       /* as listed; "" shown as "<>" */
    uint32_t nrcpt;
    struct queue_rcpt *rcpt;
};

/* One row of a grouping (reason, domain, sender). Message indices refer to queue.msgs. */
struct queue_group {
    const char *key;
    uint64_t messages, recipients, bytes;
    uint32_t *ids, nids, capids;      /* every message in the group */
    uint32_t *del, ndel, capdel;      /* messages with all recipients in the group */
    uint32_t last;                    /* last message counted + 1 (0 = none) */
};

struct queue_count {
    uint64_t messages, bytes;
};

struct queue {
    const char *name;                 /* source name for warnings (borrowed) */
    int64_t now;
    enum queue_format format;
    struct arena arena;
    struct tcache tc;

    struct queue_msg **msgs;          /* arena-allocated messages */
    size_t nmsgs, capmsgs;
    uint64_t nrcpts;

    /* input statistics */
    uint64_t lines, bad_lines, dropped_msgs, dropped_rcpts;

    /* mailq text state */
    struct queue_msg *cur;            /* message being read, NULL between messages */
    struct queue_rcpt *cur_rcpt;      /* heap, grows; moved to the arena at flush */
    size_t cur_cap;
    const char *cur_reason, *cur_norm; /* the last "(reason)" line (arena) */
    bool skip_entry;                  /* bad header: ignore lines up to the blank line */
    bool saw_header, saw_trailer, saw_empty;
    uint64_t trailer_count;

    /* set by queue_finish() */
    bool finished;
    bool truncated;                   /* mailq text without its trailer */
    struct hmap ids;                  /* queue IDs seen (duplicates are skipped) */
    struct hmap reasons_raw;          /* raw reason -> arena copy + normalised form */
    struct hmap by_reason, by_domain, by_sender;  /* key -> struct queue_group */
    struct queue_count by_queue[QN_COUNT];
    struct queue_count by_age[QUEUE_NBUCKETS];
    struct queue_count total;
};

void queue_init(struct queue *q, const char *name, int64_t now);
/* Feed one line (without '\n'); the format is detected on the first non-blank line
 * ('{' = postqueue -j, else mailq text). lineno is for warnings. */
void queue_feed(struct queue *q, struct str line, unsigned long lineno);
/* One postqueue -j line. Returns 0 (stored, or blank line), -1 (warned and skipped). */
int queue_parse_json_line(struct queue *q, struct str line, unsigned long lineno);
/* One line of mailq text. Returns 0, or -1 for a line that was warned about and ignored. */
int queue_parse_mailq(struct queue *q, struct str line, unsigned long lineno);
/* End of input: flush a pending mailq entry, check the trailer, build the groups. Call
 * once before the reports (later calls do nothing). */
void queue_finish(struct queue *q);

/* Reports (after queue_finish). `top` = how many of the oldest messages to list. */
void queue_report_text(const struct queue *q, FILE *f, unsigned top);
void queue_report_json(const struct queue *q, FILE *f, unsigned top);
void queue_free(struct queue *q);

/* Normalise a delay reason (rules above) into out[cap] (NUL-terminated; cap >= 8).
 * Returns the length. */
size_t queue_normalise_reason(struct str in, char *out, size_t cap);
const char *queue_name_str(enum queue_name qn);
/* qshape bucket of an age in seconds: 0..QUEUE_NBUCKETS-1; its label ("0-5m"). */
unsigned queue_age_bucket(int64_t age_seconds);
const char *queue_bucket_label(unsigned b);
/* A group by key (after queue_finish), or NULL. */
const struct queue_group *queue_group_get(const struct hmap *m, const char *key);

#endif
