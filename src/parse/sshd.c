/*
 * sshd - OpenSSH server lines (see event.h). The user name is attacker text that comes
 * before the address, so the address is taken from the right: the line must end in
 * "from ADDR port N[ ssh2][ [preauth]]" (or "ADDR port N ..." for "Connection closed by").
 *   Failed password for [invalid user] U from IP port N ssh2
 *   Invalid user U from IP port N
 *   Illegal user U from IP                     (OpenSSH < 3.8)
 *   User U from IP not allowed because not listed in AllowUsers | listed in DenyUsers | ...
 *   error: PAM: Authentication failure for [illegal user ]U from IP   (auth-pam.c, kbd-int)
 *   Accepted publickey for U from IP port N ssh2: ED25519 SHA256:...
 *   Connection closed by [invalid|authenticating user U] IP port N [preauth]
 *   Disconnected from [invalid|authenticating user U] IP port N [preauth]
 *   error: maximum authentication attempts exceeded for [invalid user] U from IP port N ssh2 [preauth]
 *   Did not receive identification string from IP port N
 *   Unable to negotiate with IP port N: no matching ...   (text after ':' is the client's)
 */
#include "parse/event.h"
#include <string.h>

/* Parse "ADDR port N" ending at the end of s (after stripping " ssh2", " [preauth]",
 * ": ..." is not stripped). On success *start is where ADDR begins. */
static bool tail_addr_port(struct str s, struct event *ev, size_t *start)
{
    for (;;) {
        if (str_endswith(s, " [preauth]")) s.len -= 10;
        else if (str_endswith(s, " ssh2")) s.len -= 5;
        else if (str_endswith(s, " ssh1")) s.len -= 5;
        else break;
    }
    ptrdiff_t p = str_rfindc(s, " port ");
    if (p <= 0) return false;
    uint64_t port;
    if (!str_to_u64(str_from(s, (size_t)p + 6), &port) || port > 65535) return false;
    struct str head = str_sub(s, 0, (size_t)p);
    ptrdiff_t sp = str_rchr(head, ' ');
    size_t a0 = sp < 0 ? 0 : (size_t)sp + 1;
    if (ipaddr_parse(str_from(head, a0), &ev->client) < 0) return false;
    ev->port = (int)port;
    *start = a0;
    return true;
}

/* "U from ADDR" with ADDR ending s: the last " from " (U is attacker text and comes first; a
 * host name there, with UseDNS, is no address and gives nothing). */
static bool from_end(struct str s, struct event *ev, struct str *user)
{
    ptrdiff_t f = str_rfindc(s, " from ");
    if (f < 0 || ipaddr_parse(str_from(s, (size_t)f + 6), &ev->client) < 0) {
        ev->client.family = 0;
        return false;
    }
    *user = str_sub(s, 0, (size_t)f);
    return true;
}

/* "… for [invalid user ]U from ADDR port N ssh2": user between `lead` and the last " from " */
static bool user_from(struct str r, struct event *ev)
{
    size_t a0;
    if (!tail_addr_port(r, ev, &a0)) return false;
    if (a0 < 6 || memcmp(r.p + a0 - 6, " from ", 6) != 0) { ev->client.family = 0; return false; }
    struct str u = str_sub(r, 0, a0 - 6);
    if (str_startswith(u, "invalid user ")) { u = str_from(u, 13); ev->stage = STR_LIT("invalid"); }
    ev->user = u;
    return true;
}

bool parse_sshd(const struct parse_opts *opt, struct event *ev)
{
    (void)opt;
    if (!parse_prog_may_be(SRC_SSHD, ev->h.prog)) return false;
    ev->src = SRC_SSHD;
    ev->service = STR_LIT("sshd");
    ev->kind = EV_OTHER;
    struct str m = ev->h.msg;
    ev->text = m;
    if (str_startswith(m, "error: ")) m = str_from(m, 7);
    if (str_startswith(m, "Failed ")) {
        struct str r = str_from(m, 7);
        ptrdiff_t f = str_findc(str_sub(r, 0, 48), " for ");
        if (f < 0) return true;
        ev->f.sasl_method = str_sub(r, 0, (size_t)f);
        if (user_from(str_from(r, (size_t)f + 5), ev)) ev->kind = EV_SSH_FAIL;
        return true;
    }
    if (str_startswith(m, "PAM: ")) {
        /* auth-pam.c: "PAM: %s for %s%.100s from %.100s", pam_strerror(), "illegal user "
         * or "", user, client: the address ends the line */
        struct str r = str_from(m, 5);
        ptrdiff_t f = str_findc(str_sub(r, 0, 80), " for ");
        if (f < 0) return true;
        struct str u;
        if (from_end(str_from(r, (size_t)f + 5), ev, &u)) {
            if (str_startswith(u, "illegal user ")) { u = str_from(u, 13); ev->stage = STR_LIT("invalid"); }
            ev->user = u;
            ev->text = str_sub(r, 0, (size_t)f);
            ev->kind = EV_SSH_PAM_FAIL;
        }
        return true;
    }
    if (str_startswith(m, "Illegal user ")) {          /* OpenSSH before 3.8 */
        struct str r = str_from(m, 13), u;
        size_t a0;
        if (tail_addr_port(r, ev, &a0) && a0 >= 6 && memcmp(r.p + a0 - 6, " from ", 6) == 0) {
            ev->user = str_sub(r, 0, a0 - 6);
            ev->kind = EV_SSH_INVALID_USER;
        } else if (from_end(r, ev, &u)) {
            ev->user = u;
            ev->kind = EV_SSH_INVALID_USER;
        } else {
            ev->client.family = 0;
        }
        return true;
    }
    if (str_startswith(m, "User ")) {
        /* auth.c allowed_user(): "User %.100s from %.100s not allowed because REASON"; only the
         * reasons that name the client, and the line must end with one */
        static const char *const why[] = {
            " not allowed because not listed in AllowUsers", " not allowed because listed in DenyUsers",
            " not allowed because not in any group", " not allowed because a group is listed in DenyGroups",
            " not allowed because none of user's groups are listed in AllowGroups",
        };
        struct str r = str_from(m, 5), u;
        for (size_t i = 0; i < sizeof why / sizeof why[0]; i++) {
            if (!str_endswith(r, why[i])) continue;
            if (from_end(str_sub(r, 0, r.len - strlen(why[i])), ev, &u)) {
                ev->user = u;
                ev->stage = STR_LIT("not-allowed");
                ev->kind = EV_SSH_INVALID_USER;
            }
            break;
        }
        return true;
    }
    if (str_startswith(m, "Invalid user ")) {
        struct str r = str_from(m, 13);
        size_t a0;
        if (tail_addr_port(r, ev, &a0) && a0 >= 6 && memcmp(r.p + a0 - 6, " from ", 6) == 0) {
            ev->user = str_sub(r, 0, a0 - 6);
            ev->kind = EV_SSH_INVALID_USER;
        } else {
            ev->client.family = 0;
        }
        return true;
    }
    if (str_startswith(m, "Accepted ")) {
        struct str r = str_from(m, 9);
        ptrdiff_t f = str_findc(str_sub(r, 0, 48), " for ");
        if (f < 0) return true;
        ev->f.sasl_method = str_sub(r, 0, (size_t)f);
        r = str_from(r, (size_t)f + 5);
        ptrdiff_t colon = str_rfindc(r, " ssh2: ");     /* key fingerprint follows */
        if (colon >= 0) r = str_sub(r, 0, (size_t)colon + 5);
        if (user_from(r, ev)) ev->kind = EV_SSH_ACCEPTED;
        return true;
    }
    if (str_startswith(m, "maximum authentication attempts exceeded for ")) {
        if (user_from(str_from(m, 46), ev)) ev->kind = EV_SSH_MAXAUTH;
        return true;
    }
    static const char *const pre[] = { "Connection closed by ", "Connection reset by ",
                                       "Disconnected from ", "Disconnecting " };
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        if (!str_startswith(m, pre[i])) continue;
        struct str r = str_from(m, strlen(pre[i]));
        /* "Disconnecting authenticating user root 1.2.3.4 port 22: Too many ..." */
        ptrdiff_t c = str_findc(r, ": ");
        size_t a0;
        struct str cand = c >= 0 && str_findc(str_sub(r, 0, (size_t)c), " port ") >= 0 ? str_sub(r, 0, (size_t)c) : r;
        if (tail_addr_port(cand, ev, &a0)) {
            ev->kind = EV_SSH_PREAUTH;
            struct str u = str_sub(cand, 0, a0 ? a0 - 1 : 0);
            if (str_startswith(u, "invalid user ")) ev->user = str_from(u, 13);
            else if (str_startswith(u, "authenticating user ")) ev->user = str_from(u, 20);
            else if (str_startswith(u, "user ")) ev->user = str_from(u, 5);
        }
        return true;
    }
    if (str_startswith(m, "Did not receive identification string from ") ||
        str_startswith(m, "Unable to negotiate with ") ||
        str_startswith(m, "banner exchange: Connection from ")) {
        struct str r = m;
        ptrdiff_t c = str_findc(r, ": ");
        if (str_startswith(m, "banner exchange")) { r = str_from(m, 33); c = str_findc(r, ": "); }
        if (c >= 0 && !str_startswith(m, "Did not")) r = str_sub(r, 0, (size_t)c);
        size_t a0;
        if (tail_addr_port(r, ev, &a0)) ev->kind = EV_SSH_PREAUTH;
        return true;
    }
    return true;
}
