/*
 * dovecot - the Dovecot part of the line model (see event.h).
 *
 * Syslog lines carry prog "dovecot" and a message that starts with the process:
 *   imap-login: Login: user=<u>, method=PLAIN, rip=IP, lip=IP, mpid=N, TLS, session=<s>
 *   imap-login: Disconnected: REASON (auth failed, 3 attempts in 14 secs): user=<u>, ..., rip=IP, ...
 *   imap-login: Disconnected: Connection closed (no auth attempts in 0 secs): user=<>, rip=IP, ...
 *   auth: passwd-file(USER,IP[,<session>]): unknown user | Password mismatch | ...
 *   auth-worker(123): pam(USER,IP[,<session>]): pam_authenticate() failed: ...
 *   auth-worker(123): conn unix:auth-worker (pid=N,uid=N): auth-worker<N>: sql(USER,IP): ...
 *   auth: pam_unix(dovecot:auth): authentication failure; ... ruser=U rhost=IP[ user=U]
 *     (also with syslog program "auth" or "dovecot-auth": PAM's line for Dovecot's service)
 *   lmtp(user)<pid><session>: msgid=<id>: saved mail to INBOX | save failed to ...
 *   imap(user)<pid><session>: Disconnected: Logged out in=N out=N ...
 * A level tag ("Info: ", "Error: " ...) after the process is accepted (file logging).
 *
 * The user name is attacker text and comes before the address, so the address is taken from
 * the right: the last ", rip=" field of login lines, the right end of DRIVER(USER,IP,<s>).
 */
#include "parse/event.h"
#include <string.h>

static struct str skip_level(struct str m)
{
    static const char *const lv[] = { "Info: ", "Warning: ", "Error: ", "Debug: ", "Fatal: ", "Panic: " };
    char c0 = m.len ? m.p[0] : 0;
    if (c0 != 'I' && c0 != 'W' && c0 != 'E' && c0 != 'D' && c0 != 'F' && c0 != 'P') return m;  /* most: no level */
    for (size_t i = 0; i < sizeof lv / sizeof lv[0]; i++)
        if (str_startswith(m, lv[i])) return str_from(m, strlen(lv[i]));
    return m;
}

/* value of "key=" up to ", " or end (plain field) */
static struct str field_at(struct str s, size_t off)
{
    size_t e = off;
    while (e < s.len && s.p[e] != ',') e++;
    return str_sub(s, off, e - off);
}

/* The position of the rip= field (its value starts 6 bytes on), -1 when none. The user field
 * comes first and may hold ", rip=": take the last one. Without any ", rip=" there is no
 * user field before it, and rip= is the first field: "...(reason): rip=IP, ...". */
static ptrdiff_t rip_at(struct str m)
{
    ptrdiff_t rip = str_rfindc(m, ", rip=");
    if (rip < 0) {
        rip = str_rfindc(m, "): rip=");
        if (rip >= 0) rip++;                /* the value is 6 bytes on, as after ", rip=" */
    }
    return rip;
}

static void login_fields(struct str m, struct event *ev)
{
    ptrdiff_t rip = rip_at(m);
    size_t userlimit = m.len;
    if (rip >= 0) {
        struct str v = field_at(m, (size_t)rip + 6);
        if (ipaddr_parse(v, &ev->client) < 0) ev->client.family = 0;
        userlimit = (size_t)rip;
        struct str tail = str_from(m, (size_t)rip);
        ptrdiff_t rp = str_findc(tail, ", rport=");
        if (rp >= 0) {
            uint64_t p;
            if (str_to_u64(field_at(tail, (size_t)rp + 8), &p) && p < 65536) ev->port = (int)p;
        }
        ptrdiff_t s = str_rfindc(tail, "session=<");
        if (s >= 0) {
            struct str sv = str_from(tail, (size_t)s + 9);
            ptrdiff_t e = str_chr(sv, '>');
            if (e >= 0) ev->session = str_sub(sv, 0, (size_t)e);
        }
        if (str_findc(tail, ", TLS") >= 0) ev->tls = true;
    }
    ptrdiff_t u = str_findc(str_sub(m, 0, userlimit), "user=<");
    if (u >= 0) {
        struct str us = str_sub(m, (size_t)u + 6, userlimit - (size_t)u - 6);
        /* the user ends at the last ">, method=" before rip, else at the last '>' */
        ptrdiff_t e = str_rfindc(us, ">, method=");
        if (e < 0) e = str_rchr(us, '>');
        if (e >= 0) ev->user = str_sub(us, 0, (size_t)e);
        struct str after = str_from(us, (size_t)(e >= 0 ? e : 0));
        ptrdiff_t me = str_findc(after, "method=");
        if (me >= 0) ev->f.sasl_method = field_at(after, (size_t)me + 7);
    }
}

static bool parse_login(struct str proto, struct str m, struct event *ev)
{
    ev->instance = proto;
    if (str_startswith(m, "Login: ")) {
        ev->kind = EV_DV_LOGIN;
        login_fields(m, ev);
        return true;
    }
    login_fields(m, ev);
    /* Dovecot's own reason text ends where the attacker-controlled user field starts. */
    ptrdiff_t u = str_findc(m, "user=<");
    ptrdiff_t r = rip_at(m);
    size_t lim = m.len;
    if (u >= 0) lim = (size_t)u;
    else if (r >= 0) lim = (size_t)r;
    struct str reason = str_sub(m, 0, lim);
    ev->text = reason;
    /* Dovecot's verdict is a parenthesised tag in its reason text: one pass over the '('s
     * (the first "(auth failed, " wins, then a refusal, then "(no auth attempts") */
    ptrdiff_t af = -1;
    bool refused = false, noauth = false;
    for (size_t i = 0; i < reason.len;) {
        const char *q = memchr(reason.p + i, '(', reason.len - i);
        if (!q) break;
        struct str t = str_from(reason, (size_t)(q - reason.p));
        if (str_startswith(t, "(auth failed, ")) {
            af = q - reason.p;
            break;
        }
        /* credentials sent where Dovecot refuses them (plaintext without TLS, a disabled
         * mechanism) or refused by the proxy's backend: one failed attempt */
        if (str_startswith(t, "(tried to use disabled ") || str_startswith(t, "(tried to use disallowed ") ||
            str_startswith(t, "(proxy dest auth failed)"))
            refused = true;
        else if (str_startswith(t, "(no auth attempts"))
            noauth = true;
        i = (size_t)(q - reason.p) + 1;
    }
    if (af >= 0) {
        uint64_t n = 0;
        str_lead_u64(str_from(reason, (size_t)af + 14), &n);
        ev->attempts = n > 0 && n < 100000 ? (unsigned)n : 1;
        ev->kind = EV_DV_LOGIN_FAIL;
        return true;
    }
    if (refused) {
        ev->attempts = 1;
        ev->kind = EV_DV_LOGIN_FAIL;
        return true;
    }
    if (noauth) { ev->kind = EV_DV_NO_AUTH; return true; }
    ev->kind = ev->client.family ? EV_DV_LOGIN_OTHER : EV_OTHER;
    return true;
}

static bool is_auth_failure(struct str msg)
{
    return str_startswith(msg, "unknown user") || str_startswith(msg, "Password mismatch") ||
           str_startswith(msg, "pam_authenticate() failed") || str_startswith(msg, "user not found") ||
           str_startswith(msg, "Invalid credentials") || str_startswith(msg, "invalid credentials") ||
           str_startswith(msg, "password mismatch");
}

/*
 * pam_unix's "authentication failure; logname=L uid=N euid=N tty=dovecot ruser=U rhost=H[ user=U]"
 * (Linux-PAM pam_unix_auth.c). Dovecot sets both PAM_RUSER and the PAM user to the login
 * name, attacker text on both sides of rhost=, so the split is taken only where it is
 * unambiguous: the only " rhost=" after "ruser=", or the one split where the text after the
 * address is nothing or " user=" with the same name as ruser; H must be an address.
 */
static bool parse_pam_unix(struct str m, struct event *ev)
{
    ev->stage = STR_LIT("pam_unix");
    ev->text = m;
    if (!str_startswith(m, "authentication failure; ")) return true;
    ptrdiff_t tty = str_findc(m, " tty=");
    if (tty < 0) return true;
    ptrdiff_t ru = str_findc(str_from(m, (size_t)tty), " ruser=");
    if (ru < 0) return true;
    struct str t = str_from(m, (size_t)tty + (size_t)ru + 7);
    while (t.len && (t.p[t.len - 1] == ' ' || t.p[t.len - 1] == '\t')) t.len--;
    size_t nocc = 0, nvalid = 0;
    struct ipaddr host;
    struct str user = STR_NULL;
    bool only_ok = false;
    struct ipaddr only_host;
    struct str only_user = STR_NULL;
    for (size_t from = 0; from <= t.len;) {
        ptrdiff_t r = str_findc(str_from(t, from), " rhost=");
        if (r < 0) break;
        size_t at = from + (size_t)r;
        nocc++;
        struct str u = str_sub(t, 0, at), after = str_from(t, at + 7);
        size_t hl = 0;
        while (hl < after.len && after.p[hl] != ' ') hl++;
        struct ipaddr a;
        bool ip = hl > 0 && ipaddr_parse(str_sub(after, 0, hl), &a) == 0;
        struct str rest = str_from(after, hl);
        while (rest.len && rest.p[0] == ' ') rest = str_from(rest, 1);
        if (ip) {
            if (nocc == 1) { only_ok = true; only_host = a; only_user = u; }
            if (rest.len == 0 || (str_startswith(rest, "user=") && str_eq(str_from(rest, 5), u))) {
                nvalid++;
                host = a;
                user = u;
            }
        }
        from = at + 1;
    }
    if (nocc == 1 && only_ok) { host = only_host; user = only_user; nvalid = 1; }
    if (nvalid != 1) return true;
    ev->client = host;
    ev->user = user;
    ev->kind = EV_DV_AUTH_FAIL;
    return true;
}

/* "DRIVER(USER,IP[,<session>]): MESSAGE": find the right-most "): " whose element list ends in
 * a valid ",IP" or ",IP,<session>" and whose message is an authentication result. */
/* Dovecot 2.3 auth-worker lines carry the worker connection first:
 * "conn unix:auth-worker (pid=N,uid=N): auth-worker<N>: DRIVER(...)". */
static struct str skip_conn(struct str m)
{
    if (!str_startswith(m, "conn ")) return m;
    ptrdiff_t w = str_findc(str_sub(m, 0, 160), "): auth-worker<");
    if (w < 0) return m;
    struct str r = str_from(m, (size_t)w + 15);
    ptrdiff_t e = str_findc(str_sub(r, 0, 24), ">: ");
    return e < 0 ? m : skip_level(str_from(r, (size_t)e + 3));
}

static bool parse_auth(struct str m, struct event *ev)
{
    m = skip_conn(m);
    if (str_startswith(m, "pam_unix(dovecot:auth): ")) return parse_pam_unix(str_from(m, 24), ev);
    size_t dl = 0;
    while (dl < m.len && dl < 32 && (m.p[dl] == '-' || m.p[dl] == '_' ||
           (m.p[dl] >= 'a' && m.p[dl] <= 'z') || (m.p[dl] >= '0' && m.p[dl] <= '9')))
        dl++;
    if (dl == 0 || dl >= m.len || m.p[dl] != '(') { ev->kind = EV_OTHER; ev->text = m; return true; }
    struct str body = str_from(m, dl + 1);
    for (ptrdiff_t end = str_rfindc(body, "): "); end > 0;
         end = str_rfindc(str_sub(body, 0, (size_t)end), "): ")) {
        struct str list = str_sub(body, 0, (size_t)end);
        struct str msg = str_from(body, (size_t)end + 3);
        struct str sess = STR_NULL;
        if (list.len && list.p[list.len - 1] == '>') {
            ptrdiff_t lt = str_rchr(list, '<');
            if (lt < 1 || list.p[lt - 1] != ',') continue;
            sess = str_sub(list, (size_t)lt + 1, list.len - (size_t)lt - 2);
            list = str_sub(list, 0, (size_t)lt - 1);
        }
        ptrdiff_t comma = str_rchr(list, ',');
        if (comma < 0) continue;
        struct ipaddr a;
        if (ipaddr_parse(str_from(list, (size_t)comma + 1), &a) < 0) continue;
        ev->client = a;
        ev->user = str_sub(list, 0, (size_t)comma);
        ev->session = sess;
        ev->text = msg;
        ev->stage = str_sub(m, 0, dl);           /* driver: passwd-file, pam, sql ... */
        ev->kind = is_auth_failure(msg) ? EV_DV_AUTH_FAIL : EV_OTHER;
        return true;
    }
    ev->kind = EV_OTHER;
    ev->text = m;
    return true;
}

/* "lmtp(user)<pid><session>: msgid=<id>: saved mail to INBOX" */
static bool parse_mail_process(struct str proc, struct str m, struct event *ev)
{
    ev->instance = proc;
    ev->text = m;
    if (str_startswith(m, "msgid=")) {
        struct str v = str_from(m, 6);
        size_t n = pf_angle(v, &ev->f.message_id);
        struct str rest = n ? str_from(v, n) : STR_NULL;
        if (!n) {
            ptrdiff_t c = str_findc(v, ": ");
            if (c >= 0) { ev->f.message_id = str_sub(v, 0, (size_t)c); rest = str_from(v, (size_t)c); }
        }
        if (str_startswith(rest, ": ")) rest = str_from(rest, 2);
        ev->text = rest;
        if (str_startswith(rest, "saved mail to ") || str_startswith(rest, "stored mail into mailbox"))
            ev->kind = EV_DV_DELIVERED;
        else if (str_startswith(rest, "save failed to ") || str_startswith(rest, "rejected"))
            ev->kind = EV_DV_DELIVERY_FAIL;
        else
            ev->kind = EV_OTHER;
        return true;
    }
    if (str_startswith(m, "Disconnected: ") || str_startswith(m, "Logged out")) {
        ev->kind = EV_DV_LOGOUT;
        return true;
    }
    ev->kind = EV_OTHER;
    return true;
}

bool parse_dovecot(const struct parse_opts *opt, struct event *ev)
{
    if (!parse_prog_may_be(SRC_DOVECOT, ev->h.prog)) return false;
    struct str m = ev->h.msg;
    /* syslog program "auth": PAM's own line for Dovecot's PAM service, nothing else */
    if (!str_startswith(ev->h.prog, "dovecot") && !str_startswith(m, "pam_unix(dovecot:auth): ")) return false;
    ev->src = SRC_DOVECOT;
    ev->kind = EV_OTHER;
    /* "dovecot[N]: dovecot: auth(...): ..." (a second program tag) */
    if (str_startswith(m, "dovecot: ")) m = str_from(m, 9);
    if (str_startswith(m, "pam_unix(dovecot:auth): ")) {
        ev->service = STR_LIT("auth");
        return parse_pam_unix(str_from(m, 24), ev);
    }
    /* process name: up to ": " or "(" */
    size_t i = 0;
    while (i < m.len && i < 40 && m.p[i] != ':' && m.p[i] != '(' && m.p[i] != ' ') i++;
    if (i == 0 || i >= m.len) { ev->text = m; return true; }
    struct str proc = str_sub(m, 0, i);
    ev->service = proc;
    if (m.p[i] == ':') {
        struct str rest = skip_level(str_from(m, i + (i + 1 < m.len && m.p[i + 1] == ' ' ? 2 : 1)));
        if (str_endswith(proc, "-login"))
            return parse_login(str_sub(proc, 0, proc.len - 6), rest, ev);
        if (str_eqc(proc, "auth")) return parse_auth(rest, ev);
        ev->text = rest;
        return true;
    }
    if (m.p[i] == '(') {
        /* "auth-worker(123): ..." or "lmtp(user)<pid><session>: ..." */
        bool worker = str_eqc(proc, "auth-worker") || str_eqc(proc, "auth");   /* auth(default) */
        if (!worker && !ev_wanted(opt, EV_DV_DELIVERED) &&
            !ev_wanted(opt, EV_DV_DELIVERY_FAIL) && !ev_wanted(opt, EV_DV_LOGOUT)) {
            ev->text = m;            /* a mail process line nobody asked for: skip the work */
            return true;
        }
        struct str r = str_from(m, i + 1);
        /* cl: the first "): ", cl2: the first ")<" (-1: none), in one walk over the ')'s.
         * A worker needs cl; otherwise the one found first decides (the other stays -1). */
        ptrdiff_t cl = -1, cl2 = -1;
        for (const char *q = memchr(r.p, ')', r.len); q; ) {
            size_t at = (size_t)(q - r.p);
            if (cl < 0 && at + 2 < r.len && q[1] == ':' && q[2] == ' ') cl = (ptrdiff_t)at;
            if (cl2 < 0 && at + 1 < r.len && q[1] == '<') cl2 = (ptrdiff_t)at;
            if (worker ? cl >= 0 : (cl >= 0 || cl2 >= 0)) break;
            q = at + 1 < r.len ? memchr(q + 1, ')', r.len - at - 1) : NULL;
        }
        if (worker && cl >= 0) return parse_auth(skip_level(str_from(r, (size_t)cl + 3)), ev);
        size_t uend;
        struct str after;
        if (cl2 >= 0 && (cl < 0 || cl2 < cl)) {
            uend = (size_t)cl2;
            ptrdiff_t c = str_findc(str_from(r, uend), ">: ");
            if (c < 0) { ev->text = r; return true; }
            after = str_from(r, uend + (size_t)c + 3);
        } else if (cl >= 0) {
            uend = (size_t)cl;
            after = str_from(r, uend + 3);
        } else {
            ev->text = r;
            return true;
        }
        struct str who = str_sub(r, 0, uend);
        uint64_t pid;
        if (!str_to_u64(who, &pid)) ev->user = who;     /* lmtp(28999) has a pid, not a user */
        return parse_mail_process(proc, skip_level(after), ev);
    }
    ev->text = m;
    return true;
}
