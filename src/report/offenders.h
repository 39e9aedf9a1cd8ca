/*
 * offenders - which client IPs keep failing: a scan consumer (parse/scan.h) that counts
 * failed attempts per client IP by category, with the counting rule of the README:
 *
 *   reject      smtpd "reject:" lines (NOQUEUE or queued), one per rejected command
 *   content     cleanup header/body rejects; the client is the one of the queue ID's
 *               "client=" line (never the text of the reject line, which holds the Subject)
 *   postscreen  one per postscreen connection that failed a test (PREGREET, DNSBL,
 *               DENYLISTED, COMMAND PIPELINING, NON-SMTP COMMAND, BARE NEWLINE) or was
 *               rejected: the PREGREET and the reject that follows on the same [ip]:port
 *               are one event
 *   sasl        SMTP AUTH failures: Postfix's "SASL ... authentication failed" warnings
 *               (incl. the UGFzc3dvcmQ6 probe) and Dovecot's session-less auth: lines for
 *               the same attempts are one: per IP the larger of the two counts
 *   imap, pop3, submission, managesieve
 *               Dovecot login failures: "Disconnected (auth failed, N attempts)" counts N;
 *               the auth: lines of that session are not counted again; auth: lines of a
 *               session that ends otherwise (successful login after typos, or no session
 *               line in the input) count one each
 *   ssh         sshd "Failed <method> for" lines one each; "Invalid user" counts one only
 *               when no "Failed ... for invalid user" line of the same sshd pid follows
 *
 * Memory: per-IP table (capped, see OFFENDERS_MAX_IPS) plus small in-flight tables.
 */
#ifndef MW_OFFENDERS_H
#define MW_OFFENDERS_H
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
#include "parse/scan.h"

#define OFFENDERS_MAX_IPS 1000000

enum ocat { OC_REJECT, OC_CONTENT, OC_POSTSCREEN, OC_SASL, OC_IMAP, OC_POP3, OC_SUBMISSION,
            OC_MANAGESIEVE, OC_DOVECOT, OC_SSH, OC_MAX };

struct offender {
    struct ipaddr ip;
    uint64_t count;
    uint64_t cat[OC_MAX];
    int64_t first, last;
};

struct offenders;
struct offenders *offenders_new(void);
/* The consumer to pass to scan_run(); global is the offenders object. */
/* prefilter: skip lines offenders_may_count() refuses before their message is parsed
 * (about 80 % of a mail log; those lines are then missing from the per-program counts of
 * scan_stats, so --stats turns it off). */
struct scan_consumer offenders_consumer(struct offenders *o, bool prefilter);
/* False only for a line whose event feed() would ignore (a conservative test on the
 * program and the message's first bytes; test_offenders checks it against the parser). */
bool offenders_may_count(const struct syslog_hdr *h);
/* After the scan: resolve what is pending and return the rows with count >= min, sorted by
 * count (desc) then IP. The array belongs to o. */
const struct offender *offenders_result(struct offenders *o, uint64_t min, size_t *n);
const char *offenders_cat_name(enum ocat c);
/* The event kinds the consumer needs (struct parse_opts.kinds). */
uint64_t offenders_kinds(void);
void offenders_print_text(FILE *f, const struct offender *rows, size_t n);
void offenders_print_json(FILE *f, const struct offender *rows, size_t n);
void offenders_free(struct offenders *o);

#endif
