/*
 * action - the firewall layer: what the ban-decision layer's changes turn into. One small
 * interface (struct action_ops), one file per backend:
 *   action_nft.c   nftables through libnftables: table `inet mailwarden`, per jail one set
 *                  per family with `flags interval, timeout` (CIDR bans, kernel-side expiry
 *                  even if the daemon dies), a `block4`/`block6` pair for the permanent
 *                  block list; every batch of changes is one transaction
 *   action_cmd.c   argv templates (<ip> <jail> <bantime> <failures>) run with posix_spawn,
 *                  never a shell, with a timeout
 *   action_null.c  records every call (tests, dry runs, --test-config)
 *   action_ipset.c ipset sets mw-<jail>-4/-6 (hash:net, per-entry timeouts) matched by
 *                  iptables/ip6tables rules; one `ipset restore -exist` per batch
 *   action_firewalld.c  firewall-cmd rich rules with runtime --timeout; permanent blocks as
 *                  --permanent rules as well
 *   action_spawn.c the one posix_spawn helper every process-running backend uses, and the
 *                  port/protocol/target helpers the iptables and firewalld backends share
 * The follow-up issue adds a privileged helper process that owns the real backend while the parsing process
 * holds a proxy action speaking a fixed message set: everything that crosses this
 * interface is already validated, structured data (struct fw_op), never log text.
 *
 * Batching and retries (actq): the daemon queues operations per action instance and calls
 * apply() once per event-loop turn with everything pending. apply() reports how many
 * operations from the front were carried out; the rest stay queued and are retried with
 * exponential back-off (1 s doubling to 60 s). Failures are logged (rate-limited) and
 * counted, never fatal.
 *
 * Ownership: an action owns its state; action_free() releases it. Strings in fw_jail are
 * borrowed for the duration of setup() only (backends copy what they keep).
 */
#ifndef MW_ACTION_H
#define MW_ACTION_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include "util/ipaddr.h"
#include "util/buf.h"

enum fw_kind { FW_BAN, FW_UNBAN, FW_BLOCK, FW_UNBLOCK };

struct fw_op {
    enum fw_kind kind;
    int jail;                   /* index into the jails given to setup(); -1 for blocks */
    struct cidr target;
    int64_t timeout;            /* seconds the kernel should keep it; 0 = no timeout */
    int64_t bantime;            /* the ban's time (-1 permanent), for templates */
    uint32_t failures;
    bool expiry;                /* FW_UNBAN because the ban's time is over: backends whose
                                   kernel timeout already removed it may skip it */
};

struct fw_jail {
    const char *name;
    const char *port;           /* "25,465,submission,1000:2000"; NULL/""/"all": every port */
    const char *protocol;       /* "tcp", "udp", "tcp,udp", "all"; NULL = tcp */
};

struct actq;

struct action_ops {
    const char *name;
    /* Create what the backend needs for these jails; idempotent (called at start and on
     * reload with the full list). */
    int (*setup)(void *st, const struct fw_jail *jails, size_t n, char *err, size_t errlen);
    /* Carry out ops in order, as one transaction where possible. Returns how many from the
     * front were done (n on success); on a shortfall err says why, or is left empty when
     * the backend merely yields (time budget of one loop turn): no error, no back-off. */
    size_t (*apply)(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen);
    /* Remove every ban of every jail (unban_on_stop), one transaction; blocks stay.
     * Returns 1 when the backend cannot flush and wants one unban per ban instead. */
    int (*flush)(void *st, char *err, size_t errlen);
    void (*free)(void *st);
    /* Optional. Backends whose apply() only starts the work (the command backend spawns
     * and returns: the loop never waits for a child) finish it here: reap what is done and
     * hand failed operations back with actq_fail(). Also where resources held for bursts
     * are released after idle time. Called on every loop turn (the daemon wakes on
     * SIGCHLD). Returns how many operations are still in flight. */
    size_t (*poll)(void *st, struct actq *q, int64_t now);
    bool async;                 /* apply() only starts operations; poll() reports failures */
};

struct action {
    const struct action_ops *ops;
    void *st;
    char *name;                 /* instance name for messages ("nftables", "command") */
};

void action_free(struct action *a);

/* Backends. NULL with a message in err on failure. */
struct action *action_nft_new(const char *table, char *err, size_t errlen);
/* Generate the nft script for ops (exposed for tests); appends to out. */
void nft_script_ops(struct buf *out, const char *table, const struct fw_jail *jails, size_t nj,
                    const struct fw_op *ops, size_t n);
int nft_script_setup(struct buf *out, const char *table, const struct fw_jail *jails, size_t nj,
                     char *err, size_t errlen);

struct cmd_templates {
    const char *ban, *unban, *flush, *start;   /* NULL or "" = nothing to run */
    int timeout;                               /* seconds, default 30 */
};
struct action *action_cmd_new(const struct cmd_templates *t, char *err, size_t errlen);
/* Split a template into words (whitespace separated; '...' and "..." group, backslash
 * escapes the next byte; no expansion of any kind). Returns word count or -1. */
int argv_split(const char *s, char ***argv, char *err, size_t errlen);
void argv_free(char **argv);
/* Substitute <ip> <jail> <bantime> <failures> (and <name> = <jail>) in each word. */
char **argv_subst(char *const *tmpl, const struct fw_op *op, const char *jail);

/* Run argv (no shell; argv[0] a path, or a name looked up in PATH) and wait at most
 * timeout seconds (SIGKILL after). stdin is `in` (inlen bytes, through a memfd, so a large
 * script cannot deadlock the pipe) or /dev/null; stdout is kept in *out when out is not
 * NULL (at most 16 MB, the rest dropped), else /dev/null; stderr is captured and its first
 * line goes into err. Returns the exit status (0..255; err says why when non-zero), or -1
 * when the program could not be run, timed out or died of a signal. */
int action_spawn(char *const *argv, const char *in, size_t inlen, struct buf *out, int timeout,
                 char *err, size_t errlen);
/* The two halves, for running several at once: start (stdin as above; stdout/stderr into a
 * memfd returned in *outfd and *errfd when those are not NULL, else stdout to /dev/null and
 * stderr inherited; the caller closes the fds), and wait until `deadline` (action_mono_ms
 * time; SIGKILL after, `timeout` is for the message). start returns the pid or -1; wait
 * returns as action_spawn, with errfd's first line (or -1: none) in the message. */
pid_t action_spawn_start(char *const *argv, const char *in, size_t inlen, int *outfd, int *errfd, char *err,
                         size_t errlen);
int action_spawn_wait(pid_t pid, const char *name, int64_t deadline, int timeout, int errfd, char *err,
                      size_t errlen);
int64_t action_mono_ms(void);

/* Ports and protocols of a jail, as both iptables and firewalld need them. */
struct fw_portrange { uint16_t lo, hi; };
#define FW_MAX_PORTS 256
/* "25, 465,submission,1000:2000" (names through getservbyname). Returns the count, 0 for
 * every port (NULL, "", "all", "0:65535", ...), -1 with err. */
int fw_ports_parse(const char *spec, const char *proto, struct fw_portrange *out, size_t cap,
                   char *err, size_t errlen);
/* "tcp,udp" -> names from a fixed list (pointers to static strings). 0 = every protocol. */
#define FW_MAX_PROTOS 5
int fw_protos_parse(const char *spec, const char **out, char *err, size_t errlen);
/* Check and canonicalise an operation's target: IPv4-mapped IPv6 becomes IPv4, host bits
 * are cleared; false for an address no backend may pass on (no family, prefix 0 or out of
 * range). Writes the canonical text (address alone for a host) to buf. */
bool fw_target(const struct cidr *in, struct cidr *outc, char *buf, size_t cap);

/* ipset + iptables/ip6tables. Strings are copied; NULL/"" = the default. */
struct ipset_conf {
    const char *ipset, *iptables, *ip6tables;  /* default /usr/sbin/{ipset,iptables,ip6tables} */
    const char *chain;                         /* default INPUT */
    const char *blocktype;                     /* DROP (default) or REJECT */
    int timeout;                               /* seconds per command, default 30 */
};
#define IPSET_MAX_TIMEOUT 2147483              /* the kernel's limit for an entry's timeout */
#define IPSET_JAIL_MAX 26                      /* "mw-" + jail + "-4" <= 31 */
struct action *action_ipset_new(const struct ipset_conf *c, char *err, size_t errlen);
/* A jail name usable in a set name ([A-Za-z0-9._@-], at most IPSET_JAIL_MAX, not "block"). */
int ipset_jail_check(const char *name, char *err, size_t errlen);
/* The `ipset restore` scripts (exposed for tests); append to out. */
int ipset_script_setup(struct buf *out, const struct fw_jail *jails, size_t nj, char *err, size_t errlen);
void ipset_script_ops(struct buf *out, const struct fw_jail *jails, size_t nj, const struct fw_op *ops,
                      size_t n);
void ipset_script_flush(struct buf *out, const struct fw_jail *jails, size_t nj);

/* firewalld through firewall-cmd. */
struct fwcmd_conf {
    const char *cmd;                           /* default /usr/bin/firewall-cmd */
    const char *zone;                          /* NULL/"": firewalld's default zone */
    const char *blocktype;                     /* drop (default) or reject */
    const char *mode;                          /* "richrule" (default); "ipset" not yet */
    int timeout;                               /* seconds per command, default 30 */
};
#define FWCMD_BATCH 200                        /* rich rules per firewall-cmd run at most */
struct action *action_firewalld_new(const struct fwcmd_conf *c, char *err, size_t errlen);

struct action *action_null_new(void);
/* The null backend's record: one line per call ("setup a,b", "ban a 192.0.2.1 600 ...",
 * "flush"), valid until the next call. */
const char *action_null_log(const struct action *a);
void action_null_clear(struct action *a);
/* Make the next n apply() calls fail (retry tests). */
void action_null_fail(struct action *a, int n);

/* The retry queue of one action instance. */
struct actq {
    struct action *a;
    struct fw_op *ops;
    size_t n, cap;
    int64_t next_try;           /* no attempt before this (monotonic seconds) */
    int64_t backoff;            /* current back-off, seconds */
    uint64_t applied, errors;
    char last_error[256];
};
void actq_init(struct actq *q, struct action *a);
void actq_push(struct actq *q, const struct fw_op *op);
/* An operation a backend accepted earlier failed (see action_ops.poll): queue it again,
 * count the error and back off as for a failed apply(). */
void actq_fail(struct actq *q, const struct fw_op *op, const char *err, int64_t now);
/* The backend's poll() (if any): completions and idle work. Returns operations in flight. */
size_t actq_poll(struct actq *q, int64_t now);
/* Try to apply what is pending (when the back-off allows). Returns 0 when nothing is left
 * pending, -1 when something remains (see next_try). */
int actq_run(struct actq *q, int64_t now);
void actq_free(struct actq *q);

#endif
