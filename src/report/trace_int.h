/*
 * trace_int - what trace.c (the search), trace_story.c (lines -> messages) and
 * trace_print.c (text and JSON) share. Not a public interface.
 *
 * Positions: a line's position is (input index << 40) | byte offset, so positions sort in
 * input order and the byte windows of one file are ranges of positions.
 *
 * Ownership: the trace owns every record; record lines live in the trace's arenas (one per
 * merged chunk) and are NUL-terminated. Story structures are rebuilt from the records after
 * every pass (story_build) and freed by story_free.
 */
#ifndef MW_TRACE_INT_H
#define MW_TRACE_INT_H
#include "report/trace.h"
#include "util/arena.h"
#include "util/hash.h"

#define POS_FILE_SHIFT 40
#define POS_EOF UINT64_MAX
#define POS(file, off) (((uint64_t)(file) << POS_FILE_SHIFT) | (uint64_t)(off))
#define POS_FILEOF(p) ((size_t)((p) >> POS_FILE_SHIFT))
#define POS_OFF(p) ((p) & ((UINT64_C(1) << POS_FILE_SHIFT) - 1))
#define TRACE_MAX_RECORDS 4000000     /* stored lines in all (then: warn, stop storing) */
#define TRACE_MAX_NOQUEUE 10000       /* NOQUEUE rejects kept for an address */
#define TRACE_MAX_NEEDLES 3           /* more search keys than this: per-line key lookup */
#define TRACE_BLOOM_BITS (1u << 18)
#define TRACE_WIN_EXTEND (32u << 20)  /* backward/forward steps when a window was too small */
#define TRACE_MAX_BACK 3              /* backward steps: 32, 64, 128 MB before the first hit */

enum rec_kind {
    REC_STORY,      /* queue-ID slot is a searched ID */
    REC_PARENT,     /* names a searched ID as its child (bounce notice, queued/forwarded as) */
    REC_SESSION,    /* smtpd session line of a searched pid */
    REC_NOQUEUE,    /* NOQUEUE reject of the searched address */
};

struct trec {
    uint64_t pos;
    int64_t t;
    int32_t usec;
    uint8_t kind;
    struct str line;
};

/* Hits of the selection pass, per "host\0qid". */
struct thit {
    uint64_t first_pos, last_pos;
    int64_t first_t, last_t;
    uint32_t n;
};

struct span { uint64_t lo, hi; unsigned back; };   /* searched so far; backward steps */

/* A search window for one key (queue ID, or smtpd pid for the session pass). */
struct ttarget {
    char key[40];
    uint8_t keylen;
    char needle[56];              /* "QID: " or "smtpd[PID]: " */
    uint8_t nlen;
    struct finder fnd;            /* of needle */
    uint64_t lo, hi;              /* positions; hi may be POS_EOF */
};

/* A window of one target in the current file (byte offsets). */
struct trange { uint64_t lo, hi; uint32_t target; };

/* ---- story (trace_story.c) ---- */

enum rstate { RS_QUEUED, RS_DELIVERED, RS_DEFERRED, RS_BOUNCED, RS_EXPIRED, RS_DELETED,
              RS_HELD, RS_DISCARDED, RS_REJECTED, RS_OTHER, RS_MAX };

/* What the story keeps per line (16 bytes; the fields are re-parsed when printed). */
struct tev {
    int64_t t;
    uint8_t kind;                 /* enum ev_kind */
    uint8_t status;               /* EV_DELIVERY: enum rstate of status= */
};

struct trcpt {
    struct str to, orig_to;       /* slices of record lines */
    enum rstate state;
    unsigned attempts;
    int last;                     /* line index of the last delivery line, -1 none */
    int64_t since;                /* time of the state (last attempt, hold, removal) */
};

enum link_via { VIA_NDN, VIA_DELAY, VIA_DSN, VIA_POSTMASTER, VIA_FORWARD, VIA_QUEUED, VIA_MAX };

struct tlink {
    enum link_via via;
    struct str qid;               /* child queue ID */
    int ev;                       /* line index of the announcing line */
    int child;                    /* instance index, -1 when not in the input */
    struct str relay;             /* VIA_QUEUED: the relay that answered */
};

struct tinst {
    struct str host, qid, msgid;
    uint64_t first_pos, last_pos;
    int64_t first_t, last_t;
    int *ev;                      /* line indices, input order */
    size_t nev, capev, omitted;
    int client, pickup, msgid_ev, qmgr, expired, removed, hold, release, discard, reject;
    bool removed_by_postsuper, finished, wanted, in_output, smtpd, null_sender;
    long smtpd_pid;
    struct trcpt *r;
    size_t nr, capr;
    struct tlink *kids;
    size_t nkids, capkids;
    int parent;                   /* instance index, -1 */
    enum link_via via;            /* how the parent made it */
    int parent_ev;                /* announcing line index in the parent (-1) */
    int conn, conn_end;           /* session lines (-1) */
    int *sess;                    /* extra session lines shown (TLS, rejects) */
    size_t nsess, capsess;
};

struct story {
    struct trec *recs;            /* sorted, deduplicated copy of the record array */
    struct tev *ev;               /* per line */
    size_t n;
    struct syslog_ctx pctx;       /* for re-parsing lines (story_event) */
    const struct parse_opts *popts;
    struct tinst *in;
    size_t nin, capin;
    struct hmap cur;              /* "host\0qid" -> int current instance */
    struct hmap byqid;            /* qid -> int last instance (chain via next_same_qid) */
    int *next_same_qid;
    struct hmap sessions;         /* "host\0pid" -> struct ilist of session lines */
    int *noq;                     /* NOQUEUE reject lines */
    size_t nnoq, capnoq;
    int *out;                     /* instances listed, output order */
    size_t nout, capout;
    int *parents;                 /* REC_PARENT lines naming a root (qid mode) */
    size_t nparents, capparents;
};

/* Parse line i of the story into *ev (its time as found by the scan). Slices point into
 * the trace's records. */
const struct event *story_event(struct story *s, int i, struct event *ev);

struct trace {
    struct trace_opts o;
    enum trace_what what;
    char *whatbuf;                /* NUL-terminated copy of WHAT */
    struct parse_opts popts;      /* as the scan parsed (for re-parsing records) */
    struct str needle;
    struct str select_needle;     /* what the selection pass looks for ("<addr>", "@dom>") */
    char *selbuf;
    bool domain;                  /* address search "@domain" */
    size_t built_nrecs;           /* records when the story was last built (SIZE_MAX: never) */
    size_t max_messages;
    unsigned passes;
    uint64_t parsed;
    bool warned_records;

    /* the pass being run */
    enum { P_SELECT, P_STORY, P_SESSION } pass;
    struct str needles[TRACE_MAX_NEEDLES];
    struct finder finders[TRACE_MAX_NEEDLES];
    char nbuf[TRACE_MAX_NEEDLES][64];
    size_t nneedles;              /* > 0: memmem search; 0: per-line key lookup in keys */
    struct hmap keys;             /* qids (P_STORY) or pids as text (P_SESSION) */
    uint64_t bloom[TRACE_BLOOM_BITS / 64];   /* of the keys: most lines are rejected here */
    bool parent_links;            /* P_STORY: also lines that name a key as a child */
    struct ttarget *targets;
    size_t ntargets, captargets;

    /* the input being read */
    size_t cur_file;
    const char *cur_map;
    size_t cur_len;
    struct { uint64_t lo, hi; } *ranges;   /* byte ranges of the current file (merged) */
    size_t nranges, capranges;
    struct trange *tr;            /* per-target windows of the current file, by lo */
    size_t ntr, captr;
    enum { FM_NEEDLES, FM_TARGETS, FM_KEYS } fmode;   /* how this file is searched */
    size_t *flen;                 /* input lengths seen (mapped files; 0 for streams) */
    size_t nflen, capflen;

    /* results */
    struct arena *arenas;
    size_t narenas, caparenas;
    struct trec *recs;
    size_t nrecs, caprecs;
    size_t nnoqueue;
    struct hmap hits;             /* P_SELECT: "host\0qid" -> struct thit */
    bool hits_capped;
    struct hmap searched;         /* qid -> struct span searched so far */
    unsigned session_rounds;
    struct story st;
    size_t dropped_old;           /* messages beyond max_messages */
    char *spool;                  /* stdin copied here (a search reads its input more than once) */
    char **paths;                 /* the inputs with "-" replaced by spool */
    struct scan_stats first;      /* input statistics of the first pass (--stats) */
    bool have_first;
};

/* Does the address a match the search (byte for byte, or the "@domain" suffix)? */
bool trace_addr_match(const struct trace *t, struct str a);
/* The trailer "; from=<s> to=<r> proto=..." of a cleanup action line (hold, discard,
 * header/body reject or warning), taken from the right: the header text before it is the
 * sender's. */
void trace_action_trailer(const struct event *ev, struct pf_fields *f);
/* Rebuild t->st from t->recs. */
void story_build(struct trace *t);
void story_free(struct story *s);
/* Text for a recipient state / link. */
const char *story_state_name(enum rstate s);
const char *story_via_name(enum link_via v);

#endif
