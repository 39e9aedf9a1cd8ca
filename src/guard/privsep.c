/* privsep - the privileged firewall helper, its message codec, the proxy action of the
 * parsing process and the privilege drop (see privsep.h). */
#include "guard/privsep.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PATH_MAX_PS 1024

static const uint8_t MAGIC[4] = { 'M', 'W', 'P', '1' };

/* ---- codec ---- */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool is_op(enum ps_type t) { return t == PS_BAN || t == PS_UNBAN || t == PS_BLOCK || t == PS_UNBLOCK; }
static bool is_keyed(enum ps_type t) { return t == PS_SETUP || t == PS_APPLY || t == PS_FLUSH; }

/* Names: printable ASCII without space, 1..63 bytes (jail names and instance keys). */
static bool name_ok(const char *s, size_t len)
{
    if (len == 0 || len >= PS_NAME) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return false;
    return true;
}

/* A canonical firewall target: what fw_target() would return unchanged. */
static bool target_ok(const struct cidr *c)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    unsigned max = c->addr.family == 4 ? 32 : c->addr.family == 6 ? 128 : 0;
    if (!max || c->prefix == 0 || c->prefix > max) return false;
    if (c->addr.family == 4) {
        for (int i = 4; i < 16; i++)
            if (c->addr.b[i]) return false;
    } else if (!memcmp(c->addr.b, mapped, 12)) {
        return false;
    }
    struct ipaddr m = c->addr;
    ipaddr_mask(&m, c->prefix);
    return !memcmp(m.b, c->addr.b, 16);
}

static int check_msg(const struct ps_msg *m, char *err, size_t errlen)
{
    size_t nl = strnlen(m->name, PS_NAME);
    if (nl == PS_NAME) {
        snprintf(err, errlen, "name not terminated");
        return -1;
    }
    if (is_op(m->type)) {
        if (!target_ok(&m->target)) {
            snprintf(err, errlen, "not a canonical address or network");
            return -1;
        }
        if (m->timeout < 0 || m->timeout > PS_MAX_TIMEOUT || m->bantime < -1 || m->bantime > PS_MAX_TIMEOUT) {
            snprintf(err, errlen, "timeout or bantime out of range");
            return -1;
        }
        bool jail = m->type == PS_BAN || m->type == PS_UNBAN;
        if (jail ? !name_ok(m->name, nl) : nl != 0) {
            snprintf(err, errlen, jail ? "bad jail name" : "a block names no jail");
            return -1;
        }
        if (m->count) {
            snprintf(err, errlen, "count in an operation");
            return -1;
        }
        return 0;
    }
    if (m->target.addr.family || m->target.prefix || m->expiry || m->timeout || m->bantime || m->failures) {
        snprintf(err, errlen, "operation fields in a %s record", m->type == PS_JAIL ? "jail" : "request");
        return -1;
    }
    switch (m->type) {
    case PS_SETUP:
    case PS_APPLY:
        if (m->count > PS_BATCH_MAX) {
            snprintf(err, errlen, "count %u above %d", m->count, PS_BATCH_MAX);
            return -1;
        }
        /* fall through */
    case PS_FLUSH:
    case PS_JAIL:
        if (!name_ok(m->name, nl)) {
            snprintf(err, errlen, "bad name");
            return -1;
        }
        if (m->type == PS_FLUSH || m->type == PS_JAIL) {
            if (m->count) {
                snprintf(err, errlen, "count in a record without one");
                return -1;
            }
        }
        return 0;
    case PS_RELOAD:
        if (nl || m->count) {
            snprintf(err, errlen, "fields in a reload record");
            return -1;
        }
        return 0;
    default:
        snprintf(err, errlen, "unknown type %d", (int)m->type);
        return -1;
    }
}

int ps_encode(const struct ps_msg *m, uint8_t *rec)
{
    char err[64];
    if (check_msg(m, err, sizeof err) < 0) return -1;
    memset(rec, 0, PS_REC);
    memcpy(rec, MAGIC, 4);
    rec[4] = (uint8_t)m->type;
    rec[5] = m->target.addr.family;
    rec[6] = m->target.prefix;
    rec[7] = m->expiry ? 1 : 0;
    memcpy(rec + 8, m->target.addr.b, 16);
    put64(rec + 24, (uint64_t)m->timeout);
    put64(rec + 32, (uint64_t)m->bantime);
    put32(rec + 40, m->failures);
    put32(rec + 44, m->count);
    memcpy(rec + 48, m->name, strnlen(m->name, PS_NAME));
    return 0;
}

int ps_decode(const uint8_t *rec, struct ps_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (memcmp(rec, MAGIC, 4)) {
        snprintf(err, errlen, "bad magic");
        return -1;
    }
    for (int i = 112; i < PS_REC; i++)
        if (rec[i]) {
            snprintf(err, errlen, "reserved bytes set");
            return -1;
        }
    if (rec[7] & ~1u) {
        snprintf(err, errlen, "unknown flags");
        return -1;
    }
    m->type = (enum ps_type)rec[4];
    m->target.addr.family = rec[5];
    m->target.prefix = rec[6];
    m->expiry = rec[7] & 1;
    memcpy(m->target.addr.b, rec + 8, 16);
    m->timeout = (int64_t)get64(rec + 24);
    m->bantime = (int64_t)get64(rec + 32);
    m->failures = get32(rec + 40);
    m->count = get32(rec + 44);
    const char *name = (const char *)rec + 48;
    size_t nl = strnlen(name, PS_NAME);
    if (nl == PS_NAME) {
        snprintf(err, errlen, "name not terminated");
        return -1;
    }
    for (size_t i = nl; i < PS_NAME; i++)
        if (name[i]) {
            snprintf(err, errlen, "bytes after the name");
            return -1;
        }
    memcpy(m->name, name, nl);
    if (!is_op(m->type) && m->type != PS_RELOAD && m->type != PS_JAIL && !is_keyed(m->type)) {
        snprintf(err, errlen, "unknown type %u", rec[4]);
        return -1;
    }
    /* the address bytes beyond the family and an absent family must be zero as well */
    if (!is_op(m->type)) {
        for (int i = 0; i < 16; i++)
            if (m->target.addr.b[i]) {
                snprintf(err, errlen, "address in a %s record", "non-operation");
                return -1;
            }
    }
    return check_msg(m, err, errlen);
}

int ps_encode_reply(int64_t result, uint64_t latency_us, const char *err, uint8_t *rep)
{
    memset(rep, 0, PS_REPLY);
    memcpy(rep, MAGIC, 4);
    rep[4] = PS_REPLY_T;
    put64(rep + 8, (uint64_t)result);
    put64(rep + 16, latency_us);
    if (err) {
        size_t n = strnlen(err, PS_REPLY - 25);
        memcpy(rep + 24, err, n);
    }
    return 0;
}

int ps_decode_reply(const uint8_t *rep, int64_t *result, uint64_t *latency_us, char *err, size_t errlen)
{
    if (memcmp(rep, MAGIC, 4) || rep[4] != PS_REPLY_T || rep[PS_REPLY - 1] != 0) {
        snprintf(err, errlen, "privileged helper: malformed reply");
        return -1;
    }
    *result = (int64_t)get64(rep + 8);
    *latency_us = get64(rep + 16);
    snprintf(err, errlen, "%s", (const char *)rep + 24);
    return 0;
}

/* ---- I/O ---- */

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* 1 = read n bytes, 0 = clean EOF before the first byte, -1 = error or EOF inside */
static int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return got ? -1 : 0;
        got += (size_t)r;
    }
    return 1;
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- helper ---- */

struct hinst {
    char *key;
    struct action *a;
    enum act_kind kind;
    char **jails;               /* names given to the last SETUP, in order */
    size_t nj;
    bool ready;
    struct actq q;              /* asynchronous backends (command): what failed after the
                                   reply, retried here with back-off (helper_tick) */
};

struct helper {
    struct guard_conf *conf;
    bool null_actions;
    struct buf *null_log;
    struct hinst *in;
    size_t n;
};

static void hinst_free_all(struct helper *h)
{
    for (size_t i = 0; i < h->n; i++) {
        action_free(h->in[i].a);
        actq_free(&h->in[i].q);
        free(h->in[i].key);
        for (size_t k = 0; k < h->in[i].nj; k++) free(h->in[i].jails[k]);
        free(h->in[i].jails);
    }
    free(h->in);
    h->in = NULL;
    h->n = 0;
}

/* The instance for key, created from the helper's own configuration: the parsing process
 * names it, never describes it. */
static struct hinst *hinst_get(struct helper *h, const char *key, char *err, size_t errlen)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->in[i].key, key)) return &h->in[i];
    enum act_kind kind;
    struct action *a = NULL;
    if (h->null_actions || !strcmp(key, "null")) {
        if (!h->null_actions) {
            snprintf(err, errlen, "no null action outside --dry-run");
            return NULL;
        }
        kind = ACT_NULL;
        a = action_null_new();
    } else if (!strcmp(key, "nftables")) {
        kind = ACT_NFTABLES;
        a = action_nft_new(h->conf->nft_table, err, errlen);
    } else if (!strcmp(key, "ipset")) {
        kind = ACT_IPSET;
        a = action_ipset_new(&h->conf->ipset, err, errlen);
    } else if (!strcmp(key, "firewalld") || !strncmp(key, "firewalld:", 10)) {
        /* firewalld:MODE - a mode some jail's firewalld[mode=...] action names */
        struct fwcmd_conf fc = h->conf->fwcmd;
        if (key[9] == ':') {
            const char *mode = NULL;
            for (size_t i = 0; i < h->conf->njails && !mode; i++)
                for (size_t k = 0; k < h->conf->jails[i].nactions; k++) {
                    const struct jail_action *ja = &h->conf->jails[i].actions[k];
                    if (ja->kind == ACT_FIREWALLD && ja->mode && !strcmp(ja->mode, key + 10)) mode = ja->mode;
                }
            if (!mode) {
                snprintf(err, errlen, "no firewalld action with mode %s in the configuration", key + 10);
                return NULL;
            }
            fc.mode = mode;
        }
        kind = ACT_FIREWALLD;
        a = action_firewalld_new(&fc, err, errlen);
    } else if (!strncmp(key, "command:", 8)) {
        /* command:JAIL:N - the N-th action of JAIL, which must be a command action */
        const char *j = key + 8, *colon = strrchr(j, ':');
        char *end;
        if (!colon || colon == j || !colon[1]) {
            snprintf(err, errlen, "bad action key %s", key);
            return NULL;
        }
        unsigned long k = strtoul(colon + 1, &end, 10);
        char *jn = xstrndup(j, (size_t)(colon - j));
        const struct jail_conf *jc = guard_conf_jail(h->conf, jn);
        free(jn);
        if (*end || !jc || k >= jc->nactions || jc->actions[k].kind != ACT_COMMAND) {
            snprintf(err, errlen, "no command action %s in the configuration", key);
            return NULL;
        }
        kind = ACT_COMMAND;
        a = action_cmd_new(&jc->actions[k].cmd, err, errlen);
    } else {
        snprintf(err, errlen, "unknown action %s", key);
        return NULL;
    }
    if (!a) return NULL;
    h->in = xrealloc(h->in, (h->n + 1) * sizeof *h->in);
    struct hinst *in = &h->in[h->n++];
    memset(in, 0, sizeof *in);
    in->key = xstrdup(key);
    in->a = a;
    actq_init(&in->q, a);
    in->kind = kind;
    return in;
}

static void null_record(struct helper *h, struct hinst *in)
{
    if (!h->null_log || in->kind != ACT_NULL) return;
    buf_puts(h->null_log, action_null_log(in->a));
    action_null_clear(in->a);
}

/* does jail jc use an action of this instance's kind? */
static bool jail_uses(const struct jail_conf *jc, const struct hinst *in)
{
    if (in->kind == ACT_NULL) return true;
    if (in->kind == ACT_COMMAND) {
        size_t nl = strlen(jc->name);
        return !strncmp(in->key + 8, jc->name, nl) && in->key[8 + nl] == ':';
    }
    for (size_t k = 0; k < jc->nactions; k++)
        if (jc->actions[k].kind == in->kind) return true;
    return false;
}

static int64_t do_setup(struct helper *h, struct hinst *in, struct ps_msg *jm, size_t n, char *err, size_t errlen)
{
    struct fw_jail *fj = xcalloc(n + 1, sizeof *fj);
    for (size_t i = 0; i < n; i++) {
        const struct jail_conf *jc = guard_conf_jail(h->conf, jm[i].name);
        if (!jc || !jail_uses(jc, in)) {
            snprintf(err, errlen, "jail %s does not use action %s in the helper's configuration", jm[i].name,
                     in->key);
            free(fj);
            return -1;
        }
        fj[i] = (struct fw_jail){ jc->name, jc->port, jc->protocol };
    }
    int r = in->a->ops->setup(in->a->st, fj, n, err, errlen);
    free(fj);
    null_record(h, in);
    for (size_t k = 0; k < in->nj; k++) free(in->jails[k]);
    free(in->jails);
    in->jails = xcalloc(n + 1, sizeof *in->jails);
    for (size_t i = 0; i < n; i++) in->jails[i] = xstrdup(jm[i].name);
    in->nj = n;
    in->ready = r == 0;
    return r;
}

static int64_t do_apply(struct helper *h, struct hinst *in, const struct ps_msg *om, size_t n, char *err,
                        size_t errlen)
{
    if (!in->ready) {
        snprintf(err, errlen, "action %s is not set up", in->key);
        return 0;
    }
    struct fw_op *ops = xcalloc(n + 1, sizeof *ops);
    for (size_t i = 0; i < n; i++) {
        const struct ps_msg *m = &om[i];
        struct fw_op *op = &ops[i];
        op->kind = m->type == PS_BAN ? FW_BAN : m->type == PS_UNBAN ? FW_UNBAN
                 : m->type == PS_BLOCK ? FW_BLOCK : FW_UNBLOCK;
        op->jail = -1;
        if (m->name[0]) {
            size_t k;
            for (k = 0; k < in->nj; k++)
                if (!strcmp(in->jails[k], m->name)) break;
            if (k == in->nj) {
                snprintf(err, errlen, "jail %s is not set up in action %s", m->name, in->key);
                free(ops);
                return 0;
            }
            op->jail = (int)k;
        }
        op->target = m->target;
        op->timeout = m->timeout;
        op->bantime = m->bantime;
        op->failures = m->failures;
        op->expiry = m->expiry;
    }
    size_t done = in->a->ops->apply(in->a->st, ops, n, err, errlen);
    free(ops);
    null_record(h, in);
    return (int64_t)(done > n ? n : done);
}

/* Read `n` records that must all be of the types op (true) or JAIL (false). */
static int read_batch(int fd, struct ps_msg *v, size_t n, bool op, char *err, size_t errlen)
{
    uint8_t rec[PS_REC];
    for (size_t i = 0; i < n; i++) {
        if (read_all(fd, rec, PS_REC) != 1) {
            snprintf(err, errlen, "short batch");
            return -1;
        }
        if (ps_decode(rec, &v[i], err, errlen) < 0) return -1;
        if (op ? !is_op(v[i].type) : v[i].type != PS_JAIL) {
            snprintf(err, errlen, "record of type %d inside a %s", (int)v[i].type, op ? "batch" : "setup");
            return -1;
        }
    }
    return 0;
}

static int reply(int fd, int64_t result, uint64_t t0, const char *err)
{
    uint8_t rep[PS_REPLY];
    ps_encode_reply(result, mono_us() - t0, err, rep);
    return write_all(fd, rep, sizeof rep);
}

/* The backends' poll(): children of the command backend reaped, failures retried with
 * back-off, the nftables context released when idle. After every request and at least once
 * a second while none comes. */
static void helper_tick(struct helper *h)
{
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < h->n; i++) {
        struct hinst *in = &h->in[i];
        actq_poll(&in->q, now);
        if (in->ready && in->q.n) actq_run(&in->q, now);
    }
}

int privsep_serve(int fd, struct guard_conf *conf, bool null_actions, struct buf *null_log)
{
    struct helper H = { conf, null_actions, null_log, NULL, 0 }, *h = &H;
    int rc = 0;
    for (;;) {
        uint8_t rec[PS_REC];
        struct pollfd pf = { fd, POLLIN, 0 };
        int pr;
        while ((pr = poll(&pf, 1, 1000)) == 0 || (pr < 0 && errno == EINTR)) helper_tick(h);
        int r = read_all(fd, rec, PS_REC);
        if (r == 0) break;
        char err[512] = "";
        uint64_t t0 = mono_us();
        struct ps_msg m;
        if (r < 0 || ps_decode(rec, &m, err, sizeof err) < 0 || (!is_keyed(m.type) && m.type != PS_RELOAD)) {
            if (r < 0) snprintf(err, sizeof err, "read: %s", strerror(errno));
            else if (!err[0]) snprintf(err, sizeof err, "record of type %d outside a batch", (int)m.type);
            msg_error("privileged helper: protocol violation (%s): session ended", err);
            char e2[600];
            snprintf(e2, sizeof e2, "protocol violation: %s", err);
            reply(fd, -1, t0, e2);
            rc = -1;
            break;
        }
        int64_t res = -1;
        struct ps_msg *batch = NULL;
        if (m.type == PS_SETUP || m.type == PS_APPLY) {
            /* read the whole batch first: the stream stays in step whatever is decided */
            batch = xcalloc(m.count + 1, sizeof *batch);
            if (read_batch(fd, batch, m.count, m.type == PS_APPLY, err, sizeof err) < 0) {
                msg_error("privileged helper: protocol violation (%s): session ended", err);
                char e2[600];
                snprintf(e2, sizeof e2, "protocol violation: %s", err);
                reply(fd, -1, t0, e2);
                free(batch);
                rc = -1;
                break;
            }
        }
        if (m.type == PS_RELOAD) {
            struct guard_conf *nc = guard_conf_load(h->conf->dir, h->conf->f2bdir, err, sizeof err);
            if (nc) {
                hinst_free_all(h);
                guard_conf_free(h->conf);
                h->conf = nc;
                res = 0;
            }
        } else {
            struct hinst *in = hinst_get(h, m.name, err, sizeof err);
            if (in && m.type == PS_SETUP) res = do_setup(h, in, batch, m.count, err, sizeof err);
            else if (in && m.type == PS_APPLY) res = do_apply(h, in, batch, m.count, err, sizeof err);
            else if (in) {
                res = in->a->ops->flush(in->a->st, err, sizeof err);
                null_record(h, in);
            }
        }
        free(batch);
        if (reply(fd, res, t0, err) < 0) {
            rc = -1;
            break;
        }
        helper_tick(h);
    }
    hinst_free_all(h);
    guard_conf_free(h->conf);
    return rc;
}

/* ---- capabilities ---- */

static int caps_set(uint64_t keep)
{
    struct __user_cap_header_struct hd = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    d[0].effective = d[0].permitted = (uint32_t)keep;
    d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
    return (int)syscall(SYS_capset, &hd, d);
}

/* Drop every capability not in keep from the bounding set, and the ambient set. */
static int bounding_drop(uint64_t keep, char *err, size_t errlen)
{
    for (int c = 0; c < 64; c++) {
        int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
        if (r < 0) break;                       /* past the kernel's last capability */
        if (r == 1 && !(keep & (UINT64_C(1) << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
            snprintf(err, errlen, "dropping capability %d from the bounding set: %s", c, strerror(errno));
            return -1;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
        snprintf(err, errlen, "clearing ambient capabilities: %s", strerror(errno));
        return -1;
    }
    return 0;
}

#define HELPER_CAPS ((UINT64_C(1) << CAP_NET_ADMIN) | (UINT64_C(1) << CAP_NET_RAW))

static int helper_caps(char *err, size_t errlen)
{
    if (bounding_drop(HELPER_CAPS, err, errlen) < 0) return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
        return -1;
    }
    if (caps_set(HELPER_CAPS) < 0) {
        snprintf(err, errlen, "capset: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* /etc/passwd and /etc/group first; NSS (getpwnam/getgrnam) for names not there, in a
 * short-lived child: an NSS lookup maps modules such as libnss_systemd (~300 kB of resident
 * pages) into the process for good. Returns 1 found (ids set), 0 not found. */
static int nss_child(const char *name, bool group, uint32_t *id, uint32_t *gid)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return 0;
    pid_t pid = fork();
    if (pid == 0) {
        uint32_t v[3] = { 0, 0, 0 };
        if (group) {
            struct group *g = getgrnam(name);
            if (g) v[0] = 1, v[1] = (uint32_t)g->gr_gid;
        } else {
            struct passwd *pw = getpwnam(name);
            if (pw) v[0] = 1, v[1] = (uint32_t)pw->pw_uid, v[2] = (uint32_t)pw->pw_gid;
        }
        _exit(write(p[1], v, sizeof v) == (ssize_t)sizeof v ? 0 : 1);
    }
    close(p[1]);
    uint32_t v[3] = { 0, 0, 0 };
    ssize_t r = pid > 0 ? read(p[0], v, sizeof v) : -1;
    close(p[0]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    if (r != (ssize_t)sizeof v || !v[0]) return 0;
    *id = v[1];
    *gid = v[2];
    return 1;
}

/* The returned struct is valid until the next lookup. */
static struct passwd *pw_lookup(const char *name)
{
    FILE *f = fopen("/etc/passwd", "re");
    struct passwd *pw = NULL;
    while (f && (pw = fgetpwent(f)) && strcmp(pw->pw_name, name) != 0) {}
    if (f) fclose(f);
    if (pw) return pw;
    static struct passwd one;
    static char nm[256];
    uint32_t uid, gid;
    if (!nss_child(name, false, &uid, &gid)) return NULL;
    snprintf(nm, sizeof nm, "%s", name);
    memset(&one, 0, sizeof one);
    one.pw_name = nm;
    one.pw_uid = (uid_t)uid;
    one.pw_gid = (gid_t)gid;
    return &one;
}

static struct group *gr_lookup(const char *name)
{
    FILE *f = fopen("/etc/group", "re");
    struct group *gr = NULL;
    while (f && (gr = fgetgrent(f)) && strcmp(gr->gr_name, name) != 0) {}
    if (f) fclose(f);
    if (gr) return gr;
    static struct group one;
    static char nm[256];
    uint32_t id, unused;
    if (!nss_child(name, true, &id, &unused)) return NULL;
    snprintf(nm, sizeof nm, "%s", name);
    memset(&one, 0, sizeof one);
    one.gr_name = nm;
    one.gr_gid = (gid_t)id;
    return &one;
}

int privsep_user(const char *name, uid_t *uid, gid_t *gid, gid_t *groups, char *note, size_t notelen,
                 char *err, size_t errlen)
{
    if (note && notelen) note[0] = 0;
    struct passwd *pw = pw_lookup(name && *name ? name : "nobody");
    if (!pw && name && strcmp(name, "nobody")) {
        if (note) snprintf(note, notelen, "user %s does not exist: running as nobody", name);
        pw = pw_lookup("nobody");
    }
    if (!pw) {
        snprintf(err, errlen, "neither user %s nor nobody exists", name ? name : "nobody");
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(err, errlen, "user %s is root", pw->pw_name);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    int n = 0;
    groups[n++] = pw->pw_gid;
    static const char *const extra[] = { "adm", "systemd-journal" };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        struct group *gr = gr_lookup(extra[i]);
        if (gr && gr->gr_gid != 0 && gr->gr_gid != pw->pw_gid) groups[n++] = gr->gr_gid;
    }
    return n;
}

int privsep_drop(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, char *err, size_t errlen)
{
    if (bounding_drop(0, err, errlen) < 0) return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
        return -1;
    }
    if (setgroups((size_t)ngroups, groups) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
        snprintf(err, errlen, "becoming uid %ld: %s", (long)uid, strerror(errno));
        return -1;
    }
    if (caps_set(0) < 0) {
        snprintf(err, errlen, "capset: %s", strerror(errno));
        return -1;
    }
    /* a drop that can be undone is no drop */
    if (setuid(0) == 0 || setgid(0) == 0) {
        snprintf(err, errlen, "privileges could be regained after the drop");
        return -1;
    }
    return 0;
}

int privsep_check_readable(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, char *const *paths, size_t n,
                           char *first, size_t firstlen)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        char err[256];
        if (setgroups((size_t)ngroups, groups) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
            _exit(255);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            int fd = open(paths[i], O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
            bool ok = fd >= 0;
            if (fd >= 0) close(fd);
            else if (errno == ENOENT) {
                /* not there yet: the directory must let us watch and open it later */
                char *d = xstrdup(paths[i]);
                char *sl = strrchr(d, '/');
                if (sl) *sl = 0;
                ok = access(sl ? (*d ? d : "/") : ".", R_OK | X_OK) == 0;
                free(d);
            }
            if (!ok) {
                if (!bad) {
                    snprintf(err, sizeof err, "%s", paths[i]);
                    if (write(pfd[1], err, strlen(err)) < 0) { /* the count still says it */ }
                }
                bad++;
            }
        }
        _exit(bad > 250 ? 250 : bad);
    }
    close(pfd[1]);
    ssize_t r = read(pfd[0], first, firstlen ? firstlen - 1 : 0);
    if (firstlen) first[r > 0 ? r : 0] = 0;
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 255) return -1;
    return WEXITSTATUS(st);
}

/* ---- parent side ---- */

struct privsep {
    int fd;
    pid_t pid;
    bool dead;
    uid_t uid;
    gid_t gid;
    gid_t groups[PS_MAX_GROUPS];
    int ngroups;
};

struct privsep *privsep_attach(int fd)
{
    struct privsep *ps = xcalloc(1, sizeof *ps);     /* freed by privsep_free */
    ps->fd = fd;
    ps->pid = -1;
    return ps;
}

struct privsep *privsep_start(struct guard_conf *conf, bool null_actions, const char *sockpath, char *err,
                              size_t errlen)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    if (pid == 0) {
        /* the helper: only its end of the socketpair and stdio stay open */
        char *sp = sockpath ? xstrdup(sockpath) : NULL;
        /* forget syslog's socket first: after close_range its number could name another
         * fd of ours (a netlink socket) that syslog() would then write to or close */
        closelog();
        if (dup2(sv[1], 3) < 0) _exit(1);
        syscall(SYS_close_range, 4u, ~0u, 0u);
        signal(SIGTERM, SIG_IGN);     /* the session ends when the parent closes its end */
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        prctl(PR_SET_NAME, "mailwarden-fw", 0, 0, 0);
        guard_conf_set_resolve(false);  /* no DNS answers parsed with privileges */
        char e[256];
        if (helper_caps(e, sizeof e) < 0) {
            msg_error("privileged helper: %s", e);
            _exit(1);
        }
        int rc = privsep_serve(3, conf, null_actions, NULL);
        if (sp) unlink(sp);
        free(sp);
        _exit(rc < 0 ? 1 : 0);
    }
    close(sv[1]);
    struct privsep *ps = privsep_attach(sv[0]);
    ps->pid = pid;
    return ps;
}

void privsep_free(struct privsep *ps)
{
    if (!ps) return;
    close(ps->fd);
    if (ps->pid > 0) {
        /* the helper exits on EOF; a helper stuck in a backend gets 5 s */
        for (int i = 0; i < 500; i++) {
            pid_t r = waitpid(ps->pid, NULL, WNOHANG);
            if (r == ps->pid || (r < 0 && errno != EINTR)) { ps->pid = -1; break; }
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
        /* the unprivileged parent may not signal a root helper: then it is left to the
         * service manager (KillMode=mixed) rather than waited for forever */
        if (ps->pid > 0 && kill(ps->pid, SIGKILL) == 0) waitpid(ps->pid, NULL, 0);
    }
    free(ps);
}

bool privsep_dead(struct privsep *ps)
{
    if (!ps || ps->dead) return ps != NULL;
    /* the helper never speaks unasked: anything readable here is its end of file */
    struct pollfd p = { ps->fd, POLLIN, 0 };
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) ps->dead = true;
    return ps->dead;
}
pid_t privsep_pid(const struct privsep *ps) { return ps ? ps->pid : -1; }

/* Send records (header first) and read the reply. */
static int64_t request(struct privsep *ps, const uint8_t *recs, size_t nrec, uint64_t *lat, char *err, size_t errlen)
{
    if (ps->dead) {
        snprintf(err, errlen, "privileged helper is gone");
        return -1;
    }
    uint8_t rep[PS_REPLY];
    int64_t res;
    uint64_t l = 0;
    if (write_all(ps->fd, recs, nrec * PS_REC) < 0 || read_all(ps->fd, rep, sizeof rep) != 1) {
        snprintf(err, errlen, "privileged helper is gone: %s", errno ? strerror(errno) : "end of file");
        ps->dead = true;
        return -1;
    }
    if (ps_decode_reply(rep, &res, &l, err, errlen) < 0) {
        ps->dead = true;
        return -1;
    }
    if (lat) *lat = l;
    return res;
}

int privsep_reload(struct privsep *ps, char *err, size_t errlen)
{
    struct ps_msg m;
    memset(&m, 0, sizeof m);
    m.type = PS_RELOAD;
    uint8_t rec[PS_REC];
    ps_encode(&m, rec);
    err[0] = 0;
    return request(ps, rec, 1, NULL, err, errlen) == 0 ? 0 : -1;
}

/* the proxy action */
struct proxy {
    struct privsep *ps;
    char key[PS_NAME];
    char **jails;               /* names of the last setup, by index */
    size_t nj;
    uint64_t last_us;
};

static void proxy_jails_free(struct proxy *p)
{
    for (size_t i = 0; i < p->nj; i++) free(p->jails[i]);
    free(p->jails);
    p->jails = NULL;
    p->nj = 0;
}

static int px_setup(void *st, const struct fw_jail *jails, size_t n, char *err, size_t errlen)
{
    struct proxy *p = st;
    if (n > PS_BATCH_MAX) {
        snprintf(err, errlen, "more than %d jails", PS_BATCH_MAX);
        return -1;
    }
    uint8_t *recs = xcalloc(n + 1, PS_REC);
    struct ps_msg m;
    memset(&m, 0, sizeof m);
    m.type = PS_SETUP;
    m.count = (uint32_t)n;
    memcpy(m.name, p->key, sizeof m.name);
    ps_encode(&m, recs);
    for (size_t i = 0; i < n; i++) {
        memset(&m, 0, sizeof m);
        m.type = PS_JAIL;
        snprintf(m.name, sizeof m.name, "%s", jails[i].name);
        if (strlen(jails[i].name) >= PS_NAME || ps_encode(&m, recs + (i + 1) * PS_REC) < 0) {
            snprintf(err, errlen, "jail name '%s' cannot cross to the privileged helper", jails[i].name);
            free(recs);
            return -1;
        }
    }
    err[0] = 0;
    int64_t r = request(p->ps, recs, n + 1, &p->last_us, err, errlen);
    free(recs);
    proxy_jails_free(p);
    p->jails = xcalloc(n + 1, sizeof *p->jails);
    for (size_t i = 0; i < n; i++) p->jails[i] = xstrdup(jails[i].name);
    p->nj = n;
    return r == 0 ? 0 : -1;
}

static size_t px_apply(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen)
{
    struct proxy *p = st;
    size_t take = n > PS_BATCH_MAX ? PS_BATCH_MAX : n;
    uint8_t *recs = xcalloc(take + 1, PS_REC);      /* freed below */
    size_t k = 0;
    /* operations no backend may pass on are dropped here, as the backends would */
    size_t *from = xcalloc(take + 1, sizeof *from);
    for (size_t i = 0; i < take; i++) {
        struct ps_msg m;
        memset(&m, 0, sizeof m);
        const struct fw_op *op = &ops[i];
        char tb[IPADDR_STRLEN + 8];
        m.type = op->kind == FW_BAN ? PS_BAN : op->kind == FW_UNBAN ? PS_UNBAN
               : op->kind == FW_BLOCK ? PS_BLOCK : PS_UNBLOCK;
        if (!fw_target(&op->target, &m.target, tb, sizeof tb)) continue;
        if (op->jail >= 0 && (size_t)op->jail < p->nj) snprintf(m.name, sizeof m.name, "%s", p->jails[op->jail]);
        else if (op->kind == FW_BAN || op->kind == FW_UNBAN) continue;
        m.timeout = op->timeout < 0 ? 0 : op->timeout > PS_MAX_TIMEOUT ? PS_MAX_TIMEOUT : op->timeout;
        m.bantime = op->bantime < -1 ? -1 : op->bantime > PS_MAX_TIMEOUT ? PS_MAX_TIMEOUT : op->bantime;
        m.failures = op->failures;
        m.expiry = op->expiry;
        if (ps_encode(&m, recs + (k + 1) * PS_REC) < 0) continue;
        from[k++] = i;
    }
    size_t done;
    if (!k) {
        done = take;
    } else {
        struct ps_msg h;
        memset(&h, 0, sizeof h);
        h.type = PS_APPLY;
        h.count = (uint32_t)k;
        memcpy(h.name, p->key, sizeof h.name);
        ps_encode(&h, recs);
        err[0] = 0;
        int64_t r = request(p->ps, recs, k + 1, &p->last_us, err, errlen);
        if (r < 0) r = 0;
        if ((size_t)r >= k) done = take;
        else done = from[r];        /* everything before the first operation not done */
    }
    free(from);
    free(recs);
    if (done == take && take < n) err[0] = 0;       /* more in the next loop turn */
    return done;
}

static int px_flush(void *st, char *err, size_t errlen)
{
    struct proxy *p = st;
    struct ps_msg m;
    memset(&m, 0, sizeof m);
    m.type = PS_FLUSH;
    memcpy(m.name, p->key, sizeof m.name);
    uint8_t rec[PS_REC];
    ps_encode(&m, rec);
    err[0] = 0;
    int64_t r = request(p->ps, rec, 1, &p->last_us, err, errlen);
    return r == 1 ? 1 : r == 0 ? 0 : -1;
}

static void px_free(void *st)
{
    struct proxy *p = st;
    proxy_jails_free(p);
    free(p);
}

static const struct action_ops proxy_ops = {
    .name = "privsep", .setup = px_setup, .apply = px_apply, .flush = px_flush, .free = px_free,
};

struct action *privsep_action_new(struct privsep *ps, const char *key)
{
    struct action *a = xcalloc(1, sizeof *a);       /* freed by action_free */
    struct proxy *p = xcalloc(1, sizeof *p);
    p->ps = ps;
    snprintf(p->key, sizeof p->key, "%s", key);
    a->ops = &proxy_ops;
    a->st = p;
    a->name = xstrdup(key);
    return a;
}

uint64_t privsep_action_helper_us(const struct action *a)
{
    return a && a->ops == &proxy_ops ? ((const struct proxy *)a->st)->last_us : 0;
}

/* ---- the daemon's start ---- */

int privsep_begin(struct guard_conf *conf, bool null_actions, const char *sockpath, struct privsep **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    bool root = geteuid() == 0;
    if (conf->privsep == 0 || (conf->privsep < 0 && !root)) return 0;
    if (!root) {
        snprintf(err, errlen, "privsep = yes needs the daemon to be started as root");
        return -1;
    }
    uid_t uid;
    gid_t gid, groups[PS_MAX_GROUPS];
    char note[256];
    int ng = privsep_user(conf->user, &uid, &gid, groups, note, sizeof note, err, errlen);
    if (ng < 0) return -1;
    if (note[0]) msg_warn("privsep: %s", note);
    size_t np = 0;
    for (size_t i = 0; i < conf->njails; i++) np += conf->jails[i].nlogpath + 1;
    char **paths = xcalloc(np + 1, sizeof *paths);
    np = 0;
    for (size_t i = 0; i < conf->njails; i++) {
        for (size_t k = 0; k < conf->jails[i].nlogpath; k++) paths[np++] = conf->jails[i].logpath[k];
        /* a journal file or directory of a backend = systemd jail is read after the drop too
         * (the system journal through the systemd-journal group) */
        if (conf->jails[i].journal && conf->jails[i].journal_path) paths[np++] = conf->jails[i].journal_path;
    }
    char first[PATH_MAX_PS];
    int bad = np ? privsep_check_readable(uid, gid, groups, ng, paths, np, first, sizeof first) : 0;
    free(paths);
    if (bad != 0) {
        const char *name = getpwuid(uid) ? getpwuid(uid)->pw_name : "?";
        if (bad < 0) snprintf(first, sizeof first, "(check failed)");
        if (conf->privsep > 0) {
            snprintf(err, errlen, "privsep: %d log file(s) not readable by user %s (first: %s); add the user to "
                     "the files' group or set privsep = no", bad, name, first);
            return -1;
        }
        msg_warn("privsep: %d log file(s) not readable by user %s (first: %s): running without privilege "
                 "separation (privsep = auto)", bad, name, first);
        return 0;
    }
    struct privsep *ps = privsep_start(conf, null_actions, sockpath, err, errlen);
    if (!ps) return -1;
    ps->uid = uid;
    ps->gid = gid;
    memcpy(ps->groups, groups, sizeof groups);
    ps->ngroups = ng;
    *out = ps;
    return 0;
}

int privsep_enter(struct privsep *ps, const char *dbpath, char *err, size_t errlen)
{
    /* the database was opened as root; the parsing process keeps writing it (WAL) */
    if (dbpath && *dbpath && strcmp(dbpath, ":memory:")) {
        static const char *const sfx[] = { "", "-wal", "-shm" };
        for (size_t i = 0; i < 3; i++) {
            char *p = xasprintf("%s%s", dbpath, sfx[i]);
            if (lchown(p, ps->uid, ps->gid) < 0 && errno != ENOENT)
                msg_warn("privsep: chown %s: %s", p, strerror(errno));
            free(p);
        }
    }
    if (privsep_drop(ps->uid, ps->gid, ps->groups, ps->ngroups, err, errlen) < 0) return -1;
    msg_info("privsep: parsing as uid %ld gid %ld without capabilities; firewall helper pid %ld",
             (long)ps->uid, (long)ps->gid, (long)ps->pid);
    return 0;
}
