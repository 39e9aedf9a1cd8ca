/*
 * summary - `mailwarden summary`: pflogsumm's report, with its counting rules, and what
 * pflogsumm leaves out. A scan consumer (parse/scan.h): chunks of the input are counted in
 * parallel, the merge step (in input order) resolves what depends on earlier lines (queue
 * IDs whose client=, qmgr and delivery lines fall into different chunks; smtpd connections
 * whose connect and disconnect do).
 *
 * Counting rules (pflogsumm 1.1.5, /usr/sbin/pflogsumm, copied rule by rule):
 *   Only lines of syslog name "postfix" (or --syslog-name) count, as in pflogsumm:
 *   "postfix[/smtps|/submission]/CMD" and "postfix[-script]".
 *   received      smtpd/postscreen "QID: client=" lines + pickup "QID: uid=|sender=" lines
 *   delivered     "to=<..>, relay=.., delay=.., status=sent" lines, not "forwarded as"
 *   forwarded     the same with "forwarded as" in the reply
 *   deferred      distinct queue IDs with a status=deferred line; deferrals = such lines
 *   bounced       status=bounced lines
 *   rejected, reject warnings, held, discarded
 *                 smtpd/postscreen "reject|reject_warning|hold|discard:" lines and cleanup
 *                 header/body checks lines of those actions (cleanup's "warning: header"
 *                 counts as a reject warning); "rejected %" = rejected / (delivered +
 *                 rejected + discarded)
 *   bytes received  size= of the first qmgr "from=<..>, size=N" line of a queue ID that
 *                 had a client=/pickup line (in an earlier line); bytes delivered: that
 *                 size once per delivered recipient
 *   senders / sending domains   from those qmgr lines (domain of the address, else of the
 *                 client host); recipients / domains from delivered lines (the domain
 *                 part of addresses is lower-cased, or all with --ignore-case)
 *   per-hour / per-day: the hour and date of each counted line; the per-hour table is a
 *   daily average when the log spans more than one day (number of distinct dates of
 *   Postfix lines), rounded like pflogsumm.
 *   Detail texts are normalised with pflogsumm's regular expressions (reject reasons,
 *   "said:" trimming to 65/66 characters, "..." ellipses) unless --verbose-msg-detail.
 *
 * Beyond pflogsumm (sections after pflogsumm's, and in --json / --html):
 *   expired       qmgr "from=<..>, status=expired, returned to sender" lines
 *   content filter  a delivery to a loopback relay whose reply says "queued as NEWQID"
 *                 (amavis/spamassassin re-injection on 127.0.0.1:10025 and the like) is a
 *                 filter hop, not a delivery; the re-injected NEWQID is not received again
 *                 (its client= line and its sender are not counted a second time).
 *                 Reported as "content filter: N hops, N re-injected messages counted once".
 *   Dovecot       logins by protocol and user, failed logins (sessions, attempts) by IP,
 *                 auth: failure lines by user and IP, LMTP/LDA deliveries and failures
 *   SASL          successful AUTH (client= lines with sasl_username) by user and IP,
 *                 failures ("SASL ... authentication failed") by IP, user and method
 *   postscreen    CONNECT, PASS NEW/OLD, allowlisted, PREGREET, DNSBL, HANGUP,
 *                 DENYLISTED, rejects, and the IPs that failed
 *   TLS           "TLS connection established" by service and protocol; share of smtpd
 *                 connections with TLS
 *   IPv6          smtpd connections by address family; IPv6 clients are named correctly
 *                 in the SMTPD statistics (pflogsumm prints an empty host for them)
 *   --by-host     received/delivered/deferred/bounced/rejected per syslog host
 *
 * JSON schema: see docs/summary-json.md (summary_print_json writes one object; every
 * figure of the text report is in it).
 *
 * Memory: the tables grow with distinct senders, recipients, domains, hosts and detail
 * texts (each table capped at SM_TABLE_MAX keys, then counted under "(other)"); the queue
 * ID table holds messages in flight (removed at "removed", swept after 7 days).
 */
#ifndef MW_SUMMARY_H
#define MW_SUMMARY_H
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
#include "parse/scan.h"

struct summary_opts {
    bool ignore_case;          /* --ignore-case: lower-case whole addresses */
    bool verbose_msg_detail;   /* --verbose-msg-detail: detail texts untrimmed */
    bool smtpd_stats;          /* --smtpd-stats */
    bool by_host;              /* --by-host */
    bool problems_first;       /* --problems-first */
    bool zero_fill;            /* --zero-fill: every day seen in the per-day table */
    bool iso_date_time;        /* --iso-date-time */
    int top_hosts, top_users;  /* --top-hosts/--top-users: -1 all, 0 none */
    /* detail limits derived from --detail (-1 all, 0 suppress) */
    int bounce_detail, deferral_detail, smtp_detail, smtpd_warn_detail, reject_detail;
    struct str syslog_name;    /* pflogsumm --syslog-name ("postfix" is always accepted) */
    char date_label[32];       /* "-d": "Nov 22" / "2026-11-22" for the heading; "" none */
    int threads;               /* for sorting and formatting the report (0: the CPUs) */
};

struct summary;

/* Defaults: everything -1 (all), flags off. */
void summary_opts_init(struct summary_opts *o);
struct summary *summary_new(const struct summary_opts *o);
/* The consumer to pass to scan_run(); global is the summary. */
struct scan_consumer summary_consumer(struct summary *s);
/* After scan_run(): settle pending state and record input statistics. */
void summary_finish(struct summary *s, const struct scan_stats *st);
void summary_print_text(const struct summary *s, FILE *f);
void summary_print_json(const struct summary *s, FILE *f);
/* One self-contained HTML document (inline CSS and SVG, no scripts). */
void summary_print_html(const struct summary *s, FILE *f);
void summary_free(struct summary *s);

#endif
