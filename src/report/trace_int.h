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

/* A search window for one key (queue ID, or smtpd pid for the session pass). */
struct ttarget {
    char key[40];
    uint8_t keylen;
    uint64_t lo, hi;              /* positions; hi may be POS_EOF */
};

/* ---- story (trace_story.c) ---- */

enum rstate { RS_QUEUED, RS_DELIVERED, RS_DEFERRED, RS_BOUNCED, RS_EXPIRED, RS_DELETED,
              RS_HELD, RS_DISCARDED, RS_REJECTED, RS_OTHER, RS_MAX };

struct trcpt {
    struct str to, orig_to;
    enum rstate state;
    unsigned attempts;
    int last;                     /* event index of the last delivery line, -1 none */
    int64_t since;                /* time of the state (last attempt, hold, removal) */
};

enum link_via { VIA_NDN, VIA_DELAY, VIA_DSN, VIA_POSTMASTER, VIA_FORWARD, VIA_QUEUED, VIA_MAX };

struct tlink {
    enum link_via via;
    struct str qid;               /* child queue ID */
    int ev;                       /* event index of the announcing line */
    int child;                    /* instance index, -1 when not in the input */
    struct str relay;             /* VIA_QUEUED: the relay that answered */
};

struct tinst {
    struct str host, qid;
    uint64_t first_pos, last_pos;
    int64_t first_t, last_t;
    int *ev;                      /* event indices, input order */
    size_t nev, capev, omitted;
    int client, pickup, msgid, qmgr, expired, removed, hold, release, discard, reject;
    bool removed_by_postsuper, finished, wanted, in_output;
    struct trcpt *r;
    size_t nr, capr;
    struct tlink *kids;
    size_t nkids, capkids;
    int parent;                   /* instance index, -1 */
    enum link_via via;            /* how the parent made it */
    int parent_ev;                /* announcing event index in the parent (-1) */
    int conn, conn_end;           /* session events (-1) */
    int *sess;                    /* extra session lines shown (TLS, rejects) */
    size_t nsess, capsess;
};

struct story {
    struct trec *recs;            /* sorted, deduplicated copy of the record array */
    struct event *evs;            /* parsed records (slices into the record lines) */
    size_t n;
    struct tinst *in;
    size_t nin, capin;
    struct hmap cur;              /* "host\0qid" -> int current instance */
    struct hmap byqid;            /* qid -> int first instance (chain via next[]) */
    int *next_same_qid;
    int *noq;                     /* NOQUEUE reject events */
    size_t nnoq, capnoq;
    int *out;                     /* instances listed, output order */
    size_t nout, capout;
    int *parents;                 /* REC_PARENT events naming a root (qid mode) */
    size_t nparents, capparents;
};

struct trace {
    struct trace_opts o;
    enum trace_what what;
    char *whatbuf;                /* NUL-terminated copy of WHAT */
    struct parse_opts popts;      /* as the scan parsed (for re-parsing records) */
    struct str needle;
    bool domain;                  /* address search "@domain" */
    size_t max_messages;
    unsigned passes;
    uint64_t parsed;
    bool warned_records;

    /* the pass being run */
    enum { P_SELECT, P_STORY, P_SESSION } pass;
    struct str needles[TRACE_MAX_NEEDLES];
    char nbuf[TRACE_MAX_NEEDLES][64];
    size_t nneedles;              /* > 0: memmem search; 0: per-line key lookup in keys */
    struct hmap keys;             /* qids (P_STORY) or pids as text (P_SESSION) */
    bool parent_links;            /* P_STORY: also lines that name a key as a child */
    struct ttarget *targets;
    size_t ntargets, captargets;

    /* the input being read */
    size_t cur_file;
    const char *cur_map;
    size_t cur_len;
    struct { uint64_t lo, hi; } *ranges;   /* byte ranges of the current file */
    size_t nranges, capranges;
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
    struct hmap searched;         /* qid -> uint64_t end of the window searched (POS_EOF) */
    struct hmap pids_searched;    /* "host\0pid\0pos" -> 1 */
    struct story st;
    size_t dropped_old;           /* messages beyond max_messages */
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
