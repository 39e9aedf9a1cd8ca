/*
 * syslog - the envelope of a log line: time, host, program, pid, message.
 *
 * Formats (detected per line, cheap checks first):
 *   RFC 3164 / traditional   "Nov  2 20:51:08 host prog[pid]: msg"   (also Postfix maillog_file)
 *   RFC 3339 (rsyslog)       "2026-11-22T20:51:08.123456+01:00 host prog[pid]: msg"
 *   journalctl short-iso     "2026-11-22T20:51:08+0100 host prog[pid]: msg"
 *   journalctl short-precise "Nov 22 20:51:08.123456 host prog[pid]: msg"
 *   journalctl short-iso-precise "2026-11-22T20:51:08.123456+0100 host ..."
 * Year-less stamps follow the year rule of timeparse.h against ctx->ref. Stamps without a
 * zone are local time (TZ).
 *
 * The program is everything up to '[' or ':' ("postfix/submission/smtpd", "dovecot",
 * "sshd"); pid is -1 when absent. msg is the rest after ": ". A line that does not have this
 * shape returns -1 (the caller counts it). No allocation; the slices point into `line`.
 *
 * fmt: SYSLOG_RFC3164 "Mon DD HH:MM:SS"; SYSLOG_PRECISE the same with a fraction;
 * SYSLOG_RFC3339 an ISO stamp whose zone is "Z" or "+HH:MM"; SYSLOG_ISO an ISO stamp whose
 * zone is "+HHMM" (journalctl short-iso and short-iso-precise; usec tells them apart) or
 * that has no zone (then local time).
 *
 * Strictness: month names are English (any case), the day may be space-padded ("Nov  2"),
 * unpadded ("Nov 2") or two digits; dates must exist (2026-02-30, day 0 or 32, hour 24 and
 * month 13 are rejected; second 60 is accepted and normalised); a year-less Feb 29 in a
 * non-leap year becomes Mar 1. Fractions have 1..9 digits (usec keeps 6). The host is any
 * run of 1..255 non-space bytes; the program 1..255 bytes without space, '[' or ':'; the
 * pid 1..9 digits. After ':' one space is skipped if present; a line may end right after
 * the ':' (empty msg). A CR before the end of the line is left in msg. Lines of any content
 * (NUL bytes included) are safe to pass.
 */
#ifndef MW_SYSLOG_H
#define MW_SYSLOG_H
#include <stdint.h>
#include "util/str.h"
#include "util/timeparse.h"

enum syslog_fmt { SYSLOG_NONE, SYSLOG_RFC3164, SYSLOG_RFC3339, SYSLOG_ISO, SYSLOG_PRECISE };

struct syslog_ctx {
    int64_t ref;           /* reference time for year-less stamps (see timeparse.h) */
    struct tcache tc;      /* zero-initialise */
    /* The last traditional stamp's minute ("Nov 22 21:12", 12 bytes) and its epoch at :00
     * for ref == mref: a log has ~1000 lines per minute, so most stamps only need their
     * seconds checked. Zero-initialise (mkey[0] == 0: empty). */
    char mkey[12];
    int64_t mbase, mref;
    int8_t mmon, mmday, mhh, mmm;
};

struct syslog_hdr {
    int64_t t;             /* epoch seconds */
    int32_t usec;          /* 0..999999; -1 when the stamp has no fraction */
    enum syslog_fmt fmt;
    struct str host;
    struct str prog;       /* without [pid] */
    long pid;              /* -1 when absent */
    struct str msg;        /* after "prog[pid]: " */
    /* year-less stamp not yet converted (syslog_parse_lazy): month 1..12, or 0 when t is set */
    int8_t lz_mon, lz_mday, lz_hh, lz_mm, lz_ss;
};

int syslog_parse(struct syslog_ctx *ctx, struct str line, struct syslog_hdr *h);
/* The same, but a year-less stamp is only validated; its epoch is computed by
 * syslog_time() when the caller decides it needs the line (most lines are skipped). When
 * the stamp's minute is the cached one, the epoch is cheap and set at once (h->t, lz_mon 0). */
int syslog_parse_lazy(struct syslog_ctx *ctx, struct str line, struct syslog_hdr *h);
static inline void syslog_time(struct syslog_ctx *ctx, struct syslog_hdr *h)
{
    if (h->lz_mon) {
        h->t = mwtime_yearless(&ctx->tc, h->lz_mon, h->lz_mday, h->lz_hh, h->lz_mm, h->lz_ss, ctx->ref);
        h->lz_mon = 0;
    }
}

#endif
