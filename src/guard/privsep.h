/*
 * privsep - least privilege for `mailwarden guard` (issue 8, part 5).
 *
 * The daemon parses attacker-written text; with privilege separation on (`privsep = yes`,
 * or `auto` when started as root) it does so without root:
 *   - started as root, the daemon loads the configuration, binds the control socket, opens
 *     its log target and database, then forks a tiny privileged helper and drops every
 *     privilege of its own (setgroups/setgid/setuid to `user`, all capabilities and the
 *     bounding set dropped, no_new_privs);
 *   - the helper keeps uid 0 but only CAP_NET_ADMIN and CAP_NET_RAW (bounding set too, so
 *     the ipset/iptables/firewall-cmd/command programs it spawns get no more); it is the
 *     only part that touches the firewall. It reads the configuration itself (from the
 *     same files, at start and on RELOAD), so the parsing process can name action
 *     instances and jails but never supply a command, a program path or a table name.
 *
 * Wire format on the socketpair (SOCK_STREAM, both ends on one host): fixed-size records,
 * integers little-endian, every unused byte zero. Requests are PS_REC bytes:
 *     0  magic "MWP1"       4  type             5  family (0, 4, 6)   6  prefix
 *     7  flags (bit 0: expiry)                  8  address, 16 bytes (IPv4 in 0..3)
 *    24  timeout  i64       32  bantime i64     40  failures u32      44  count u32
 *    48  name, 64 bytes, NUL-terminated and NUL-padded             112  16 zero bytes
 * Requests: SETUP key count + `count` JAIL records (jail names); APPLY key count +
 * `count` operation records (BAN/UNBAN name=jail, BLOCK/UNBLOCK name empty; the target a
 * canonical address or network: host bits clear, no IPv4-mapped IPv6, prefix 1..max);
 * FLUSH key; RELOAD. Each request gets one PS_REPLY-byte reply: magic, type REPLY,
 * result i64 at 8, helper-side latency in microseconds at 16, error text (NUL-terminated)
 * at 24. Keys are action instance names ("nftables", "ipset", "firewalld", "null",
 * "command:JAIL:N"). A record that does not decode is a protocol violation: the helper
 * answers with an error and ends the session (a compromised peer gets nothing more); a
 * well-formed request naming an unknown jail or key only gets an error reply.
 *
 * Ownership: struct privsep owns its socket and the helper's pid; privsep_free() closes the
 * socket (the helper exits on EOF) and reaps it. Proxy actions borrow the privsep link.
 * Errors: returned with a message; the helper's loss is reported by privsep_dead() and the
 * daemon stops (systemd restarts it) rather than running without a firewall.
 */
#ifndef MW_PRIVSEP_H
#define MW_PRIVSEP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "guard/action.h"
#include "guard/jailconf.h"

#define PS_REC 128
#define PS_REPLY 320
#define PS_NAME 64
#define PS_BATCH_MAX 16384          /* operations per APPLY; larger batches are split */
#define PS_MAX_TIMEOUT (INT64_C(1) << 40)

enum ps_type {
    PS_SETUP = 1, PS_JAIL, PS_APPLY, PS_BAN, PS_UNBAN, PS_BLOCK, PS_UNBLOCK, PS_FLUSH, PS_RELOAD,
    PS_REPLY_T = 0x7f
};

/* One decoded request record. */
struct ps_msg {
    enum ps_type type;
    struct cidr target;             /* operations */
    bool expiry;
    int64_t timeout, bantime;
    uint32_t failures, count;
    char name[PS_NAME];
};

/* Encode m into rec (PS_REC bytes). Returns -1 when m cannot be encoded (it would not
 * decode: bad name, target, range). */
int ps_encode(const struct ps_msg *m, uint8_t *rec);
/* Decode and validate one record; -1 with a reason in err for anything but a well-formed
 * message of the fixed set. */
int ps_decode(const uint8_t *rec, struct ps_msg *m, char *err, size_t errlen);
int ps_encode_reply(int64_t result, uint64_t latency_us, const char *err, uint8_t *rep);
int ps_decode_reply(const uint8_t *rep, int64_t *result, uint64_t *latency_us, char *err, size_t errlen);

/* Helper side: serve requests on fd until EOF (returns 0) or a protocol violation / I/O
 * error (returns -1). conf is the helper's own configuration (replaced on RELOAD and then
 * owned by the helper; the caller's pointer is freed there, so pass one the caller does not
 * free afterwards); null_actions makes every instance the null backend (--dry-run). When
 * null_log is not NULL, the null backend's record of every call is appended to it (tests). */
int privsep_serve(int fd, struct guard_conf *conf, bool null_actions, struct buf *null_log);

/* Parent side. */
struct privsep;
/* Fork the helper (caller is root). sockpath: the control socket, removed by the helper
 * when the session ends (the unprivileged parent may not be able to). */
struct privsep *privsep_start(struct guard_conf *conf, bool null_actions, const char *sockpath, char *err,
                              size_t errlen);
/* A link over an existing socket (tests: the peer runs privsep_serve in a thread). */
struct privsep *privsep_attach(int fd);
void privsep_free(struct privsep *ps);
/* true once the helper is gone (its end closed, or a request failed) */
bool privsep_dead(struct privsep *ps);
pid_t privsep_pid(const struct privsep *ps);
/* The helper re-reads the configuration and drops its action instances. */
int privsep_reload(struct privsep *ps, char *err, size_t errlen);
/* A proxy action forwarding setup/apply/flush to the helper's instance `key`. */
struct action *privsep_action_new(struct privsep *ps, const char *key);
/* Microseconds the helper spent in the backend for the proxy's last request. */
uint64_t privsep_action_helper_us(const struct action *a);

/* The unprivileged user: `name` when it exists, else "nobody" (warning in note). Fills
 * uid/gid and the supplementary groups (the user's primary group, plus adm and
 * systemd-journal when they exist: Debian's mail.log is root:adm 0640, the journal is
 * readable by both). Returns the group count or -1. */
#define PS_MAX_GROUPS 4
int privsep_user(const char *name, uid_t *uid, gid_t *gid, gid_t *groups, char *note, size_t notelen,
                 char *err, size_t errlen);
/* Become that user for good: bounding set, ambient and effective capabilities emptied,
 * no_new_privs, setgroups/setresgid/setresuid; verified (setuid(0) must fail). */
int privsep_drop(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, char *err, size_t errlen);
/* Which of paths (existing files, or the directories of missing ones) the user cannot
 * read; checked in a child that drops to the user. Returns how many are unreadable and
 * the first one in first (or -1 on error). */
int privsep_check_readable(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, char *const *paths,
                           size_t n, char *first, size_t firstlen);

/* The daemon's start, as root: decide (privsep yes/no/auto, see jailconf), check that the
 * user can read every logpath (auto: run without privilege separation and warn when not;
 * yes: error), fork the helper. *out stays NULL when privilege separation is off. Then,
 * after the database is open, privsep_enter() hands the database files to the user and
 * drops privileges. */
int privsep_begin(struct guard_conf *conf, bool null_actions, const char *sockpath, struct privsep **out, char *err,
                  size_t errlen);
int privsep_enter(struct privsep *ps, const char *dbpath, char *err, size_t errlen);

#endif
