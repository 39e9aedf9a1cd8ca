/*
 * trace - "where did my mail go?": the story of one message, or of every message of an
 * address, told from the log lines that belong to it.
 *
 * WHAT is a Postfix queue ID (short hex or long form), a Message-ID written "<...>", or an
 * e-mail address (sender or recipient, matched byte for byte like `grep -F`). See
 * trace_classify().
 *
 * How it searches (a search, not a full parse; see trace.c for the details):
 *   1. a substring pass over the whole input: only lines holding the queue ID, "<address>"
 *      or "<Message-ID>" are parsed (plain files are read with pread() in blocks on every
 *      core and searched with memchr for the needle's rarest byte, the driver jumping from
 *      hit to hit; streams are filtered line by line);
 *   2. for addresses and Message-IDs, a pass over byte windows around the hits that
 *      collects every line whose queue-ID slot is one of the messages found; a message not
 *      finished (no "removed") at the end of its window is followed to the end of the input,
 *      one whose first line (smtpd client= or pickup; notifications and forwarded copies
 *      start with cleanup) is missing is looked for further back, TRACE_WIN_EXTEND bytes
 *      and then twice as much, at most three times;
 *   3. children (bounce/delay notifications, "forwarded as", "queued as" hops answered by a
 *      host whose log is in the input) are searched in windows around the line that names
 *      them, and followed the same way (at most TRACE_MAX_DEPTH generations);
 *   4. the smtpd session of each message received by smtpd (connect from / disconnect of
 *      the same smtpd pid on the same host) is looked up in a window around its client=
 *      line, searching only for "smtpd[PID]: " (a second, wider window when not found).
 * Only a line whose queue-ID slot ("prog[pid]: QID: ...") is the message's ID belongs to
 * the message: an ID inside a Subject, a HELO or a remote reply never pulls a line in.
 * Messages are keyed by (host, queue ID); a short ID reused after "removed" (or by a new
 * client=/pickup line) starts a new message.
 *
 * Limits: at most TRACE_MAX_MESSAGES messages (the newest; trace_opts.max_messages),
 * TRACE_MAX_LINES lines per message (the rest counted), TRACE_MAX_DEPTH generations of
 * children. Windows: TRACE_WIN_BEFORE bytes before the first hit, TRACE_WIN_AFTER after the
 * last (extended as above), TRACE_WIN_SESSION around a client= line (then
 * TRACE_WIN_EXTEND). Streams (compressed files, the journal) are searched whole on every
 * pass; stdin is first copied to a temporary file (removed by trace_free).
 *
 * --json: one JSON document per message, one per line (JSON Lines), in output order; a
 * message's children follow it. Schema (docs/trace-json.md has the long form):
 *   { "queue_id": str|null, "host": str, "first": RFC3339, "last": RFC3339,
 *     "state": "delivered"|"bounced"|"expired"|"deleted"|"discarded"|"rejected"|"held"|
 *              "deferred"|"queued"|"mixed"|"unknown",
 *     "finished": bool,                      -- "removed" (or discard/reject) seen
 *     "sender": str|null, "size": int|null, "nrcpt": int|null, "message_id": str|null,
 *     "origin": "smtpd"|"pickup"|"notification"|"forward"|"hop"|"local"|"noqueue",
 *     "client": null | { "name", "ip", "service", "pid", "sasl_method", "sasl_username" },
 *     "recipients": [ { "to", "orig_to"|null, "state", "attempts",
 *         "dsn"|null, "dsn_class": "success"|"temporary"|"permanent"|null,
 *         "dsn_meaning"|null, "relay"|null, "reply"|null, "remote_queue_id"|null,
 *         "delay"|null, "delays": null | { "before_qmgr", "in_qmgr", "conn_setup",
 *         "transmission" }, "last_attempt": RFC3339|null } ],
 *     "parent": null | { "queue_id", "host", "via" },
 *     "children": [ { "queue_id", "host"|null, "via", "found": bool } ],
 *     "lines": [ str ], "lines_omitted": int }
 * "via": "non-delivery notification" | "delay notification" | "delivery status
 * notification" | "postmaster notification" | "forwarded" | "queued as" (hop).
 *
 * Ownership: struct trace owns everything it returns; trace_free() releases it.
 * Errors: trace_run() returns -1 when no input could be read (warnings were printed).
 */
#ifndef MW_TRACE_H
#define MW_TRACE_H
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
#include "parse/scan.h"

#define TRACE_MAX_MESSAGES 10000
#define TRACE_MAX_LINES 5000
#define TRACE_MAX_DEPTH 8
#define TRACE_MAX_KEYS 1000000           /* distinct (host, qid) hits kept while selecting */
#define TRACE_WIN_BEFORE (128u << 10)
#define TRACE_WIN_AFTER (64u << 10)
#define TRACE_WIN_CHILD (64u << 10)       /* before the line naming a child */
#define TRACE_WIN_SESSION (64u << 10)
#define TRACE_MAX_WHAT 512

enum trace_what { TW_INVALID, TW_QID, TW_MSGID, TW_ADDR };

/*
 * Classify WHAT. A queue ID (pf_is_qid), "<...>" (a Message-ID; *needle is the whole
 * "<...>"), or an address (contains '@', no '<', '>', spaces or control bytes). Anything
 * else, and anything longer than TRACE_MAX_WHAT, is TW_INVALID with a reason in err.
 * *needle points into what.
 */
enum trace_what trace_classify(struct str what, struct str *needle, char *err, size_t errlen);

struct trace_opts {
    const char *what;
    bool verbose;            /* address / Message-ID: full stories instead of one line each */
    bool json;
    int64_t since, until;    /* select messages with a matching line in this window */
    size_t max_messages;     /* 0 = TRACE_MAX_MESSAGES */
    /* For tests: the scanner to use (default scan_run). */
    int (*scan_fn)(const struct scan_opts *, const struct scan_consumer *, struct scan_stats *);
};

struct trace;
/* NULL when WHAT is invalid (err says why). */
struct trace *trace_new(const struct trace_opts *o, char *err, size_t errlen);
/* Search the inputs (so->since/until are ignored: trace applies its own window). */
int trace_run(struct trace *t, const struct scan_opts *so);
/* Number of messages found (roots listed in the output; children not counted). */
size_t trace_count(const struct trace *t);
void trace_print_text(struct trace *t, FILE *f);
void trace_print_json(struct trace *t, FILE *f);
/* Input statistics of the first pass (files, bytes; lines only where parsed: a search
 * skips most lines), NULL before trace_run. */
const struct scan_stats *trace_input_stats(const struct trace *t);
/* Passes run and lines parsed (for --debug and tests). */
void trace_stats(const struct trace *t, unsigned *passes, uint64_t *parsed);
void trace_free(struct trace *t);

/* ---- helpers (trace_util.c), exposed for tests and the fuzz target ---- */

/* "queued as ID" (the last one) in a delivery reply; ID is 1..64 bytes of [A-Za-z0-9]. */
bool trace_reply_queued_as(struct str reply, struct str *id);
/* local(8)/virtual(8) "forwarded as ID". */
bool trace_reply_forwarded_as(struct str reply, struct str *id);
/* The ID a remote server gave for the message, to quote to its postmaster: Postfix
 * "queued as X", Exim "OK id=X", sendmail "X Message accepted for delivery", Gmail
 * "OK <n> X - gsmtp", Exchange "InternalId=X". Empty when none. */
struct str trace_remote_id(struct str reply);
/* Strip "host NAME[IP] said: " (into *who when not NULL) and " (in reply to ... command)". */
struct str trace_reply_core(struct str reply, struct str *who, struct str *stage);
/* DSN "x.y.z": class text ("success", "temporary", "permanent"; NULL when not a DSN) and a
 * one-line meaning of the subject.detail (RFC 3463), written into buf. */
const char *trace_dsn_class(struct str dsn);
size_t trace_dsn_meaning(struct str dsn, char *buf, size_t cap);
/* delays=a/b/c/d -> d[4] (seconds). false when malformed. */
bool trace_delays_parse(struct str s, double d[4]);
/* Substring search: memchr for the needle's rarest byte (by a table of byte frequencies
 * in real mail logs), then memcmp; about twice glibc memmem on log text. The needle is
 * borrowed. */
struct finder { const char *p; size_t len, rare; };
void finder_init(struct finder *f, struct str needle);
const char *finder_find(const struct finder *f, const char *hay, size_t n);

#endif
