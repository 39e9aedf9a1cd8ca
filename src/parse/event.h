/*
 * event - the line model: one parsed log line, as every consumer sees it.
 *
 * parse_line() turns a raw line into a `struct event`: the syslog envelope, which daemon
 * wrote it (Postfix service and instance, Dovecot process, sshd), its queue ID, its kind,
 * and the fields each kind carries. Fields are taken positionally from the structure the
 * daemon writes, so text an attacker controls (HELO, sender, user name, Subject, remote
 * replies) cannot masquerade as another field: the client address comes only from
 * Postfix's "name[addr]" right after a fixed keyword, Dovecot's last "rip=" field / the
 * right end of "passwd-file(USER,IP,<session>)", and sshd's trailing "from ADDR port N".
 *
 * No allocation: every slice points into the line (valid while the line is). Parsing never
 * fails hard: a line no parser understands is EV_UNPARSED (counted per program by callers),
 * a line of a known program with a message we don't model is EV_OTHER.
 */
#ifndef MW_EVENT_H
#define MW_EVENT_H
#include <stdint.h>
#include <stdbool.h>
#include "util/str.h"
#include "util/ipaddr.h"
#include "parse/syslog.h"

enum ev_src { SRC_NONE, SRC_POSTFIX, SRC_DOVECOT, SRC_SSHD, SRC_OTHER };

enum ev_kind {
    EV_UNPARSED = 0,      /* not a syslog line at all */
    EV_OTHER,             /* known envelope, message not modelled */
    /* Postfix smtpd / submission / smtps */
    EV_CONNECT,           /* connect from name[ip] */
    EV_DISCONNECT,        /* disconnect from name[ip] ehlo=1 ... commands=N/M */
    EV_LOST_CONN,         /* lost connection after CMD from name[ip] */
    EV_TIMEOUT,           /* timeout after CMD from name[ip] */
    EV_TOO_MANY_ERRORS,   /* too many errors after CMD from name[ip] */
    EV_NONSMTP,           /* warning: non-SMTP command from name[ip]: text */
    EV_CLIENT,            /* QID: client=name[ip][, sasl_method=M, sasl_username=U] */
    EV_SASL_FAIL,         /* warning: name[ip]: SASL M authentication failed: reason */
    EV_TLS,               /* ... TLS connection established from name[ip]: TLSv1.3 with ... */
    EV_REJECT,            /* NOQUEUE|QID: reject: ... (smtpd, postscreen, cleanup) */
    EV_REJECT_WARNING,    /* reject_warning: */
    EV_HOLD,              /* QID: hold: */
    EV_DISCARD,           /* QID: discard: */
    EV_REDIRECT, EV_FILTER, EV_HEADER_WARNING, /* cleanup actions */
    EV_PREGREET,          /* postscreen PREGREET N after T from [ip]:port: text */
    EV_PS_DNSBL,          /* postscreen DNSBL rank N for [ip]:port */
    EV_PS_HANGUP,         /* postscreen HANGUP after T from [ip]:port in STATE */
    EV_PS_DENYLISTED,     /* postscreen DENYLISTED/BLACKLISTED [ip]:port */
    EV_PS_CONNECT,        /* postscreen CONNECT from [ip]:port to [ip]:port */
    EV_PS_PASS,           /* postscreen PASS NEW/OLD, ALLOWLISTED/WHITELISTED */
    EV_PS_OTHER,          /* other postscreen connection events (COMMAND PIPELINING ...) */
    /* Postfix queue life */
    EV_PICKUP,            /* pickup: QID: uid=N from=<s> */
    EV_MESSAGE_ID,        /* cleanup: QID: message-id=<id> (resent-message-id too) */
    EV_QMGR_FROM,         /* qmgr: QID: from=<s>, size=N, nrcpt=N (queue active) */
    EV_EXPIRED,           /* qmgr: QID: from=<s>, status=expired, returned to sender */
    EV_DELIVERY,          /* smtp|lmtp|local|virtual|pipe|error...: QID: to=<r>, ... status=X */
    EV_REMOVED,           /* qmgr|postsuper: QID: removed */
    EV_POSTSUPER,         /* postsuper: QID: placed on hold | released from hold | requeued */
    EV_BOUNCE_NOTICE,     /* bounce: QID: sender non-delivery|delay|delivery status notification: QID2 */
    EV_QUEUE_WARNING,     /* QID: warning: ... (size limit etc.) */
    /* Postfix daemon messages */
    EV_WARNING, EV_ERROR, EV_FATAL, EV_PANIC,
    EV_MASTER,            /* master: daemon started / reload / terminating */
    /* Dovecot */
    EV_DV_LOGIN,          /* *-login: Login: user=<u>, method=M, rip=IP, lip=IP, ... */
    EV_DV_LOGIN_FAIL,     /* *-login: Disconnected ...(auth failed, N attempts ...): user=<u>, rip=IP */
    EV_DV_NO_AUTH,        /* *-login: Disconnected (no auth attempts ...): rip=IP */
    EV_DV_LOGIN_OTHER,    /* other *-login lines carrying rip= */
    EV_DV_AUTH_FAIL,      /* auth[-worker]: DRIVER(user,IP[,<session>]): unknown user | Password mismatch | ... */
    EV_DV_DELIVERED,      /* lmtp|lda(user)...: msgid=<m>: saved mail to MAILBOX */
    EV_DV_DELIVERY_FAIL,  /* lmtp|lda(user)...: msgid=<m>: save failed to ... */
    EV_DV_LOGOUT,         /* imap|pop3(user)...: Disconnected: Logged out ... */
    /* sshd */
    EV_SSH_FAIL,          /* Failed password|publickey|keyboard-interactive/pam for [invalid user] U from IP port N ssh2 */
    EV_SSH_INVALID_USER,  /* Invalid user U from IP port N; Illegal user U from IP (old);
                             User U from IP not allowed because ... (AllowUsers/DenyGroups...) */
    EV_SSH_ACCEPTED,      /* Accepted password|publickey for U from IP port N ssh2 */
    EV_SSH_PREAUTH,       /* Connection closed|reset by [invalid|authenticating user U] IP port N [preauth],
                             Disconnected from ..., Did not receive identification string from IP,
                             banner exchange / kex errors from IP */
    EV_SSH_MAXAUTH,       /* maximum authentication attempts exceeded for ... from IP port N ssh2 */
    EV_SSH_PAM_FAIL,      /* error: PAM: Authentication failure for [illegal user ]U from IP */
    EV_KIND_MAX
};
_Static_assert(EV_KIND_MAX <= 64, "event kinds must fit a 64-bit interest mask");

/* Key=value fields of Postfix queue lines (all slices; empty when absent). */
struct pf_fields {
    struct str from, to, orig_to, relay, conn_use, delay, delays, dsn, status, reply;
    struct str size, nrcpt, message_id, uid;
    struct str sasl_method, sasl_username, sasl_sender;
    struct str proto, helo;          /* of reject lines */
};

struct event {
    struct syslog_hdr h;
    enum ev_src src;
    enum ev_kind kind;
    struct str service;    /* postfix: daemon ("smtpd", "qmgr"); dovecot: process ("imap-login",
                              "auth", "lmtp", "imap"); sshd: "sshd" */
    struct str instance;   /* postfix: syslog name before the daemon ("postfix",
                              "postfix/submission", "postfix-out"); dovecot: protocol ("imap",
                              "pop3", "submission", "managesieve", "lmtp") */
    struct str qid;        /* queue ID, empty when none; NOQUEUE gives noqueue = true */
    bool noqueue;
    struct ipaddr client;  /* family 0 when the line names no client */
    struct str client_name;/* "unknown", "mx1.partner.test"; empty when not given */
    int port;              /* client port (postscreen, sshd, dovecot rport), -1 unknown */
    struct str user;       /* SASL/Dovecot/ssh user name (attacker-controlled text!) */
    struct str session;    /* dovecot session id */
    unsigned attempts;     /* dovecot "auth failed, N attempts"; 0 otherwise */
    bool tls;              /* dovecot login over TLS */
    struct str text;       /* kind-specific text: reject reason, warning text, SASL failure
                              reason, DSN reply, new queue ID of a bounce notice, ... */
    struct str stage;      /* reject stage "RCPT"/"MAIL"/"DATA"/"header"/"body"; lost-conn cmd */
    struct pf_fields f;
};

/* Parser options (per input). */
struct parse_opts {
    struct str syslog_name;    /* empty: any Postfix instance name; else only this one (and
                                  its "name/..." sub-services), like pflogsumm --syslog-name */
    uint64_t kinds;            /* EV_BIT()s the caller wants; 0 = all. Unwanted kinds are
                                  recognised but their fields are not parsed (speed). */
};
#define EV_BIT(k) ((uint64_t)1 << (k))
static inline bool ev_wanted(const struct parse_opts *o, enum ev_kind k)
{
    return !o || !o->kinds || (o->kinds & EV_BIT(k));
}

/* Parse one line. Always fills ev (EV_UNPARSED when the envelope is not syslog). With
 * opt->kinds set, events of other kinds have ev->h.t == 0 and no fields (not computed). */
void parse_line(struct syslog_ctx *ctx, const struct parse_opts *opt, struct str line, struct event *ev);
/* parse_line() for a line whose envelope h (from syslog_parse_lazy) is already parsed. */
void parse_envelope_message(struct syslog_ctx *ctx, const struct parse_opts *opt,
                            const struct syslog_hdr *h, struct event *ev);
/* Parse the message part of an envelope already in ev->h (used by the journal source). */
void parse_message(const struct parse_opts *opt, struct event *ev);
/* A cheap necessary condition on the envelope's program name alone: can parse_message()
 * give a line of program prog the source src (SRC_POSTFIX, SRC_DOVECOT, SRC_SSHD)? Lets a
 * consumer interested in one daemon skip the other lines unparsed. */
bool parse_prog_may_be(enum ev_src src, struct str prog);

/* Sub-parsers (parse_message dispatches); exposed for tests and the built-in filters. */
bool parse_postfix(const struct parse_opts *opt, struct event *ev);
bool parse_dovecot(const struct parse_opts *opt, struct event *ev);
bool parse_sshd(const struct parse_opts *opt, struct event *ev);

/* Is s a Postfix queue ID (short hex or long form, see Postfix mail_queue.h)? */
bool pf_is_qid(struct str s);
/* Parse "name[addr]" (Postfix client/relay notation) at the start of s. On success sets
 * name/addr, *used to the bytes consumed (through ']'). addr must be a valid IP. */
bool pf_name_addr(struct str s, struct str *name, struct ipaddr *addr, size_t *used);
/* Read the value of a "<...>" token at the start of s (handles quoted local parts with '>'
 * inside). Returns bytes consumed including the brackets, 0 when s does not start with '<'. */
size_t pf_angle(struct str s, struct str *inner);
/* Parse Postfix key=value fields after the queue ID of a queue line into f. */
void pf_fields_parse(struct str s, struct pf_fields *f);

const char *ev_kind_name(enum ev_kind k);

#endif
