/*
 * builtin_filters - the mail filters of the shipped jails, on the line model (parse/event.h):
 * the failing host is ev->client, which the parsers take only from the structural slot each
 * daemon writes it in, so a user name holding "rip=", "[1.2.3.4]", " from 1.2.3.4" or an
 * escaped "#012" newline cannot aim a ban at somebody else.
 *
 *   mailwarden-postfix   mode=normal (default): smtpd/postscreen rejects with a client, SASL
 *                        authentication failures;  mode=auth: SASL failures only;
 *                        mode=ddos: PREGREET, non-SMTP commands, too many errors, lost
 *                        connection after AUTH;  mode=aggressive: normal + ddos
 *   mailwarden-dovecot   mode=normal: auth-process failures (auth: and auth-worker:
 *                        unknown user, password mismatch, ...) one each, PAM's own
 *                        "pam_unix(dovecot:auth): authentication failure" one each (and
 *                        Dovecot's pam(...) line of that attempt then not), and
 *                        login-process "auth failed, N attempts" / "tried to use disallowed
 *                        plaintext auth" for the attempts not already counted from that
 *                        session's auth lines, or from session-less auth lines of that
 *                        address in the last 10 minutes;  mode=aggressive: also "no auth
 *                        attempts" disconnects
 *   mailwarden-sshd      mode=normal: "Failed <method> for", "Invalid user" / "Illegal
 *                        user" / "User U from IP not allowed because ..." (one attempt with
 *                        the "Failed ... for invalid user" of the same pid), "error: PAM:
 *                        Authentication failure for" (one attempt with the "Failed
 *                        keyboard-interactive/pam" line of the same pid that follows);
 *                        mode=aggressive: also pre-auth disconnects and "maximum
 *                        authentication attempts exceeded"
 *   mailwarden-recidive  no line ever matches: the jail's failures are the bans of the
 *                        other jails (guard/core.c), fail2ban's recidive without a second
 *                        pass over a log
 * Counting follows the rule of report/offenders.c, made immediate (a daemon cannot wait for
 * the end of a session): Dovecot auth lines count at once and the session's summary line
 * adds only the remainder.
 *
 * State: Dovecot sessions and sshd pids in capped tables (FILTER_STATE_MAX; when full the
 * table is reset, which can at worst count one attempt twice). The per-address Dovecot tally
 * is an ipmap (~56 bytes per address instead of a hash node's ~90), as it grows with the
 * number of attacking addresses.
 */
#include "guard/jailfilter.h"
#include "util/hash.h"
#include "util/ipmap.h"
#include "util/xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_STATE_MAX 20000

enum bf_kind { BF_POSTFIX, BF_DOVECOT, BF_SSHD, BF_RECIDIVE };
enum { M_REJECT = 1, M_SASL = 2, M_DDOS = 4, M_NOAUTH = 8, M_PREAUTH = 16 };

struct bf {
    enum bf_kind kind;
    unsigned mask;
    struct hmap state;          /* dovecot: session -> uint32 counted; sshd: pid -> uint32 */
    struct hmap ips;            /* sshd: pid -> struct pamfail */
    struct ipmap tally;         /* dovecot: address -> struct iptally (one per attacking address) */
};

/* Dovecot attempts counted from lines no session line can claim, per client address. */
struct iptally {
    uint32_t pam;               /* pam_unix failures whose Dovecot pam(...) line is still due */
    uint32_t noses;             /* counted without a session, not yet met by a login summary */
    int64_t t;                  /* last update; older tallies are stale (TALLY_TTL) */
};
#define TALLY_TTL 600

/* sshd: a PAM failure line counted for this pid, its "Failed ..." line still due. */
struct pamfail {
    struct ipaddr ip;
    uint32_t n;
};

static const struct { const char *name; enum bf_kind kind; const char *modes; } builtins[] = {
    { "mailwarden-postfix", BF_POSTFIX, "normal, auth, ddos, aggressive" },
    { "mailwarden-dovecot", BF_DOVECOT, "normal, aggressive" },
    { "mailwarden-sshd", BF_SSHD, "normal, aggressive" },
    { "mailwarden-recidive", BF_RECIDIVE, "normal" },
};

bool jfilter_is_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(name, builtins[i].name)) return true;
    return false;
}

/* Where each daemon's lines are in the journal, on Debian and on RHEL/Fedora: the unit
 * (postfix@-.service is Debian's instance, postfix.service RHEL's), and the syslog
 * identifiers for setups that log from elsewhere (another unit, a container). Terms on
 * different fields are joined with "+" (OR), since sd-journal ANDs different fields. */
const char *jfilter_builtin_journalmatch(const char *name)
{
    if (!strcmp(name, "mailwarden-postfix"))
        return "_SYSTEMD_UNIT=postfix@-.service + _SYSTEMD_UNIT=postfix.service"
               " + SYSLOG_IDENTIFIER=postfix/smtpd + SYSLOG_IDENTIFIER=postfix/postscreen"
               " + SYSLOG_IDENTIFIER=postfix/submission/smtpd + SYSLOG_IDENTIFIER=postfix/smtps/smtpd";
    if (!strcmp(name, "mailwarden-dovecot"))
        return "_SYSTEMD_UNIT=dovecot.service + SYSLOG_IDENTIFIER=dovecot";
    if (!strcmp(name, "mailwarden-sshd"))
        return "_SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service + _COMM=sshd + _COMM=sshd-session";
    return NULL;
}

const char *jfilter_builtin_modes(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(name, builtins[i].name)) return builtins[i].modes;
    return "";
}

static void state_check_v(struct hmap *m, size_t valsize)
{
    if (hmap_count(m) >= FILTER_STATE_MAX) {
        hmap_free(m);
        hmap_init(m, valsize);
    }
}

static void state_check(struct hmap *m) { state_check_v(m, sizeof(uint32_t)); }

static struct iptally *tally(struct bf *b, const struct event *ev, bool create)
{
    struct iptally *t;
    if (create) {
        if (ipmap_count(&b->tally) >= FILTER_STATE_MAX) ipmap_free(&b->tally);
        t = ipmap_put(&b->tally, &ev->client, NULL);
    } else {
        t = ipmap_get(&b->tally, &ev->client);
    }
    if (t && t->t && (ev->h.t - t->t > TALLY_TTL || ev->h.t < t->t - TALLY_TTL)) t->pam = t->noses = 0;
    if (t && create) t->t = ev->h.t;
    return t;
}

static size_t hit(struct jfilter_hit *out, size_t max, const struct event *ev, unsigned n, const char *rule)
{
    if (!max || !ev->client.family || !n) return 0;
    out[0].ip = ev->client;
    out[0].n = n;
    out[0].t = ev->h.t;
    out[0].rule = rule;
    return 1;
}

static size_t m_postfix(struct bf *b, const struct event *ev, struct jfilter_hit *out, size_t max, const char **why)
{
    if (ev->src != SRC_POSTFIX) return 0;
    switch (ev->kind) {
    case EV_SASL_FAIL:
        if (b->mask & M_SASL) return hit(out, max, ev, 1, "postfix SASL authentication failed");
        *why = "SASL failures are not counted in this mode";
        return 0;
    case EV_REJECT:
        if (!ev->client.family) {
            *why = "reject without a client address (cleanup content reject)";
            return 0;
        }
        if (b->mask & M_REJECT) return hit(out, max, ev, 1, "postfix reject");
        *why = "rejects are not counted in this mode";
        return 0;
    case EV_PREGREET:
    case EV_NONSMTP:
    case EV_TOO_MANY_ERRORS:
        if (b->mask & M_DDOS) return hit(out, max, ev, 1, ev_kind_name(ev->kind));
        *why = "counted only with mode=ddos or mode=aggressive";
        return 0;
    case EV_LOST_CONN:
        if ((b->mask & M_DDOS) && str_eqc(ev->stage, "AUTH")) return hit(out, max, ev, 1, "lost connection after AUTH");
        *why = (b->mask & M_DDOS) ? "lost connection not after AUTH" : "counted only with mode=ddos or mode=aggressive";
        return 0;
    default:
        *why = "not a failure kind of this filter";
        return 0;
    }
}

static size_t m_dovecot(struct bf *b, const struct event *ev, struct jfilter_hit *out, size_t max, const char **why)
{
    if (ev->src != SRC_DOVECOT) return 0;
    switch (ev->kind) {
    case EV_DV_AUTH_FAIL: {
        if (!ev->client.family) return 0;
        if (str_eqc(ev->stage, "pam_unix")) {
            /* PAM's own line, written inside pam_authenticate(): counts now; Dovecot's
             * pam(...) line and the login summary of the same attempt then do not */
            struct iptally *t = tally(b, ev, true);
            t->pam++;
            t->noses++;
            return hit(out, max, ev, 1, "dovecot pam_unix authentication failure");
        }
        bool counted = false;
        if (str_eqc(ev->stage, "pam")) {
            struct iptally *t = tally(b, ev, false);
            if (t && t->pam) {
                t->pam--;
                counted = true;
                if (ev->session.len && t->noses) t->noses--;   /* the session claims it now */
            }
        }
        if (ev->session.len) {
            state_check(&b->state);
            uint32_t *c = hmap_put(&b->state, ev->session, NULL);
            (*c)++;
        } else if (!counted) {
            tally(b, ev, true)->noses++;
        }
        if (counted) {
            *why = "counted with its pam_unix line";
            return 0;
        }
        return hit(out, max, ev, 1, "dovecot auth failure");
    }
    case EV_DV_LOGIN_FAIL: {
        uint32_t seen = 0;
        if (ev->session.len) {
            uint32_t *c = hmap_get(&b->state, ev->session);
            if (c) seen = *c;
            hmap_del(&b->state, ev->session);
        }
        unsigned n = ev->attempts ? ev->attempts : 1;
        if (seen < n && ev->client.family) {
            /* attempts counted from session-less auth lines of this address */
            struct iptally *t = tally(b, ev, false);
            if (t && t->noses) {
                uint32_t take = t->noses < n - seen ? t->noses : n - seen;
                t->noses -= take;
                if (t->pam > t->noses) t->pam = t->noses;
                seen += take;
            }
        }
        if (seen >= n) {
            *why = "the session's attempts were already counted from its auth lines";
            return 0;
        }
        return hit(out, max, ev, n - seen, "dovecot login: auth failed");
    }
    case EV_DV_LOGIN:
        if (ev->session.len) hmap_del(&b->state, ev->session);
        if (ev->client.family) {
            /* the failures before this login were counted; none is left for a summary */
            struct iptally *t = tally(b, ev, false);
            if (t) t->noses = t->pam = 0;
        }
        *why = "successful login";
        return 0;
    case EV_DV_NO_AUTH:
        if (b->mask & M_NOAUTH) return hit(out, max, ev, 1, "dovecot: no auth attempts");
        *why = "no auth attempts: counted only with mode=aggressive";
        return 0;
    default:
        *why = "not a failure kind of this filter";
        return 0;
    }
}

static size_t m_sshd(struct bf *b, const struct event *ev, struct jfilter_hit *out, size_t max, const char **why)
{
    if (ev->src != SRC_SSHD) return 0;
    struct str pk = { (const char *)&ev->h.pid, sizeof ev->h.pid };
    switch (ev->kind) {
    case EV_SSH_INVALID_USER:
        if (ev->h.pid >= 0) {
            state_check(&b->state);
            *(uint32_t *)hmap_put(&b->state, pk, NULL) = 1;
        }
        return hit(out, max, ev, 1, "sshd invalid user");
    case EV_SSH_PAM_FAIL:
        if (str_eqc(ev->stage, "invalid") && ev->h.pid >= 0 && hmap_get(&b->state, pk)) {
            *why = "counted with its \"Invalid user\" line";
            return 0;
        }
        if (ev->h.pid >= 0) {
            /* the "Failed keyboard-interactive/pam" line of this attempt follows */
            state_check_v(&b->ips, sizeof(struct pamfail));
            struct pamfail *pf = hmap_put(&b->ips, pk, NULL);
            if (!ipaddr_eq(&pf->ip, &ev->client)) pf->n = 0;
            pf->ip = ev->client;
            pf->n++;
        }
        return hit(out, max, ev, 1, "sshd PAM authentication failure");
    case EV_SSH_FAIL:
        if (str_eqc(ev->stage, "invalid") && ev->h.pid >= 0 && hmap_del(&b->state, pk)) {
            *why = "counted with its \"Invalid user\" line";
            return 0;
        }
        if (ev->h.pid >= 0 && str_eqc(ev->f.sasl_method, "keyboard-interactive/pam")) {
            struct pamfail *pf = hmap_get(&b->ips, pk);
            if (pf && pf->n && ipaddr_eq(&pf->ip, &ev->client)) {
                if (--pf->n == 0) hmap_del(&b->ips, pk);
                *why = "counted with its \"PAM: Authentication failure\" line";
                return 0;
            }
        }
        return hit(out, max, ev, 1, "sshd failed authentication");
    case EV_SSH_PREAUTH:
    case EV_SSH_MAXAUTH:
        if (b->mask & M_PREAUTH) return hit(out, max, ev, 1, ev_kind_name(ev->kind));
        *why = "counted only with mode=aggressive";
        return 0;
    default:
        *why = "not a failure kind of this filter";
        return 0;
    }
}

static size_t bf_match(void *st, const struct event *ev, struct str line, struct jfilter_hit *out,
                       size_t max, const char **why)
{
    struct bf *b = st;
    const char *w = NULL;
    size_t n = 0;
    static const char *const other[] = { "not a Postfix line", "not a Dovecot line", "not an sshd line",
                                         "a recidive jail counts the bans of the other jails, not log lines" };
    w = other[b->kind];
    switch (b->kind) {
    case BF_POSTFIX: n = m_postfix(b, ev, out, max, &w); break;
    case BF_DOVECOT: n = m_dovecot(b, ev, out, max, &w); break;
    case BF_SSHD: n = m_sshd(b, ev, out, max, &w); break;
    case BF_RECIDIVE: break;
    }
    if (why) *why = w;
    return n;
}

static void bf_free(void *st)
{
    struct bf *b = st;
    if (!b) return;
    hmap_free(&b->state);
    hmap_free(&b->ips);
    ipmap_free(&b->tally);
    free(b);
}

static const struct jfilter_ops bf_ops = { .match = bf_match, .free = bf_free };

struct jfilter *jfilter_new_builtin(const char *name, const char *mode, char *err, size_t errlen)
{
    size_t i;
    for (i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(name, builtins[i].name)) break;
    if (i == sizeof builtins / sizeof builtins[0]) {
        snprintf(err, errlen, "no built-in filter '%s'", name);
        return NULL;
    }
    if (!mode || !*mode) mode = "normal";
    unsigned mask = 0;
    enum bf_kind k = builtins[i].kind;
    bool ok = true;
    if (k == BF_POSTFIX) {
        if (!strcmp(mode, "normal") || !strcmp(mode, "more")) mask = M_REJECT | M_SASL;
        else if (!strcmp(mode, "auth")) mask = M_SASL;
        else if (!strcmp(mode, "ddos")) mask = M_DDOS;
        else if (!strcmp(mode, "aggressive")) mask = M_REJECT | M_SASL | M_DDOS;
        else ok = false;
    } else {
        if (!strcmp(mode, "normal")) mask = 0;
        else if (!strcmp(mode, "aggressive")) mask = M_NOAUTH | M_PREAUTH;
        else ok = false;
    }
    if (!ok) {
        snprintf(err, errlen, "filter %s: unknown mode '%s' (modes: %s)", name, mode, builtins[i].modes);
        return NULL;
    }
    struct bf *b = xcalloc(1, sizeof *b);
    b->kind = k;
    b->mask = mask;
    hmap_init(&b->state, sizeof(uint32_t));
    hmap_init(&b->ips, sizeof(struct pamfail));
    ipmap_init(&b->tally, sizeof(struct iptally));
    struct jfilter *f = xcalloc(1, sizeof *f);
    f->ops = &bf_ops;
    f->st = b;
    f->name = strcmp(mode, "normal") ? xasprintf("%s[mode=%s]", name, mode) : xstrdup(name);
    return f;
}

bool jfilter_builtin_interest(const struct jfilter *f, enum ev_src *src, uint64_t *kinds,
                              const char *const **services)
{
    /* the Postfix daemons that log SASL failures, client rejects, PREGREET, non-SMTP
     * commands, too many errors and lost connections with the client (m_postfix) */
    static const char *const pf_services[] = { "smtpd", "postscreen", NULL };
    if (!f || f->ops != &bf_ops) return false;
    const struct bf *b = f->st;
    uint64_t k = 0;
    *services = NULL;
    switch (b->kind) {
    case BF_POSTFIX:
        *src = SRC_POSTFIX;
        *services = pf_services;
        if (b->mask & M_SASL) k |= EV_BIT(EV_SASL_FAIL);
        if (b->mask & M_REJECT) k |= EV_BIT(EV_REJECT);
        if (b->mask & M_DDOS)
            k |= EV_BIT(EV_PREGREET) | EV_BIT(EV_NONSMTP) | EV_BIT(EV_TOO_MANY_ERRORS) | EV_BIT(EV_LOST_CONN);
        break;
    case BF_DOVECOT:
        *src = SRC_DOVECOT;
        k = EV_BIT(EV_DV_AUTH_FAIL) | EV_BIT(EV_DV_LOGIN_FAIL) | EV_BIT(EV_DV_LOGIN);   /* login: state */
        if (b->mask & M_NOAUTH) k |= EV_BIT(EV_DV_NO_AUTH);
        break;
    case BF_SSHD:
        *src = SRC_SSHD;
        k = EV_BIT(EV_SSH_INVALID_USER) | EV_BIT(EV_SSH_FAIL) | EV_BIT(EV_SSH_PAM_FAIL);
        if (b->mask & M_PREAUTH) k |= EV_BIT(EV_SSH_PREAUTH) | EV_BIT(EV_SSH_MAXAUTH);
        break;
    case BF_RECIDIVE:
        /* no line: a kind no parsed line has (0 would mean every kind) */
        *src = SRC_NONE;
        k = EV_BIT(EV_UNPARSED);
        break;
    }
    *kinds = k;
    return true;
}

void jfilter_free(struct jfilter *f)
{
    if (!f) return;
    if (f->ops && f->ops->free) f->ops->free(f->st);
    free(f->name);
    free(f);
}
