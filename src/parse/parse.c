/* parse - dispatch a line to the program parsers (see event.h). */
#include "parse/event.h"
#include <string.h>

static const char *const kind_names[EV_KIND_MAX] = {
    [EV_UNPARSED] = "unparsed", [EV_OTHER] = "other", [EV_CONNECT] = "connect",
    [EV_DISCONNECT] = "disconnect", [EV_LOST_CONN] = "lost-connection", [EV_TIMEOUT] = "timeout",
    [EV_TOO_MANY_ERRORS] = "too-many-errors", [EV_NONSMTP] = "non-smtp-command",
    [EV_CLIENT] = "client", [EV_SASL_FAIL] = "sasl-failure", [EV_TLS] = "tls",
    [EV_REJECT] = "reject", [EV_REJECT_WARNING] = "reject-warning", [EV_HOLD] = "hold",
    [EV_DISCARD] = "discard", [EV_REDIRECT] = "redirect", [EV_FILTER] = "filter",
    [EV_HEADER_WARNING] = "header-warning", [EV_PREGREET] = "pregreet",
    [EV_PS_DNSBL] = "dnsbl", [EV_PS_HANGUP] = "hangup", [EV_PS_DENYLISTED] = "denylisted",
    [EV_PS_CONNECT] = "postscreen-connect", [EV_PS_PASS] = "postscreen-pass",
    [EV_PS_OTHER] = "postscreen-other", [EV_PICKUP] = "pickup", [EV_MESSAGE_ID] = "message-id",
    [EV_QMGR_FROM] = "qmgr-from", [EV_EXPIRED] = "expired", [EV_DELIVERY] = "delivery",
    [EV_REMOVED] = "removed", [EV_POSTSUPER] = "postsuper", [EV_BOUNCE_NOTICE] = "bounce-notice",
    [EV_QUEUE_WARNING] = "queue-warning", [EV_WARNING] = "warning", [EV_ERROR] = "error",
    [EV_FATAL] = "fatal", [EV_PANIC] = "panic", [EV_MASTER] = "master",
    [EV_DV_LOGIN] = "login", [EV_DV_LOGIN_FAIL] = "login-failed", [EV_DV_NO_AUTH] = "no-auth",
    [EV_DV_LOGIN_OTHER] = "login-other", [EV_DV_AUTH_FAIL] = "auth-failed",
    [EV_DV_DELIVERED] = "delivered", [EV_DV_DELIVERY_FAIL] = "delivery-failed",
    [EV_DV_LOGOUT] = "logout", [EV_SSH_FAIL] = "ssh-failed", [EV_SSH_INVALID_USER] = "ssh-invalid-user",
    [EV_SSH_ACCEPTED] = "ssh-accepted", [EV_SSH_PREAUTH] = "ssh-preauth", [EV_SSH_MAXAUTH] = "ssh-maxauth",
    [EV_SSH_PAM_FAIL] = "ssh-pam-failed",
};

const char *ev_kind_name(enum ev_kind k)
{
    return (k < EV_KIND_MAX && kind_names[k]) ? kind_names[k] : "?";
}

bool parse_prog_may_be(enum ev_src src, struct str prog)
{
    switch (src) {
    case SRC_POSTFIX: return str_rchr(prog, '/') > 0;          /* parse_postfix: "inst/daemon" */
    case SRC_DOVECOT: return str_startswith(prog, "dovecot") || str_eqc(prog, "auth");  /* parse_dovecot */
    case SRC_SSHD: return str_eqc(prog, "sshd") || str_eqc(prog, "sshd-session");
    default: return true;
    }
}

void parse_message(const struct parse_opts *opt, struct event *ev)
{
    ev->src = SRC_OTHER;
    ev->kind = EV_OTHER;
    if (!ev->h.prog.len) return;
    char c = ev->h.prog.p[0];
    if ((c == 'd' || c == 'a') && parse_dovecot(opt, ev)) return;
    if (c == 's' && parse_sshd(opt, ev)) return;
    if (parse_postfix(opt, ev)) return;
    ev->src = SRC_OTHER;
    ev->kind = EV_OTHER;
}

void parse_line(struct syslog_ctx *ctx, const struct parse_opts *opt, struct str line, struct event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->port = -1;
    if (syslog_parse_lazy(ctx, line, &ev->h) < 0) {
        ev->kind = EV_UNPARSED;
        ev->src = SRC_NONE;
        ev->text = line;
        return;
    }
    parse_message(opt, ev);
    /* the epoch only for events someone wants (it is the costly part of the envelope) */
    if (ev_wanted(opt, ev->kind)) syslog_time(ctx, &ev->h);
}

void parse_envelope_message(struct syslog_ctx *ctx, const struct parse_opts *opt,
                            const struct syslog_hdr *h, struct event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->port = -1;
    ev->h = *h;
    parse_message(opt, ev);
    if (ev_wanted(opt, ev->kind)) syslog_time(ctx, &ev->h);
}
