/* test_privsep - the privileged helper's message codec (valid and hostile records) and its
 * serve loop over a real socketpair: the proxy action in this thread, privsep_serve() with
 * the null and command backends in another. */
#include "check.h"
#include "guard/privsep.h"
#include "util/buf.h"
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void put(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

static void mkconf(const char *jail)
{
    snprintf(dir, sizeof dir, "/tmp/mw-ps.XXXXXX");
    if (!mkdtemp(dir)) abort();
    put("jail.conf", jail);
    /* never the real firewall-cmd from a unit test */
    put("mailwarden.conf", "[Definition]\nprivsep = yes\nuser = mw-no-such-user\nfirewallcmd = /nonexistent/firewall-cmd\n");
}

static void rmconf(void)
{
    char p[256];
    snprintf(p, sizeof p, "%s/jail.conf", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/mailwarden.conf", dir);
    unlink(p);
    rmdir(dir);
}

static const char jails[] =
    "[DEFAULT]\nbanaction = null\nmaxretry = 3\nlogpath = /var/log/mail.log\n"
    "[postfix]\nenabled = true\nfilter = mailwarden-postfix\n"
    "[sshd]\nenabled = true\nfilter = mailwarden-sshd\n"
    "[cmd]\nenabled = true\nfilter = mailwarden-sshd\naction = command[actionban=\"/bin/false <ip>\"]\n"
    "[fwd]\nenabled = true\nfilter = mailwarden-sshd\naction = firewalld[mode=ipset]\n";

static struct ps_msg op(enum ps_type t, const char *target, const char *jail)
{
    struct ps_msg m;
    memset(&m, 0, sizeof m);
    m.type = t;
    if (cidr_parse(str_c(target), &m.target) < 0) abort();
    snprintf(m.name, sizeof m.name, "%s", jail);
    m.timeout = 600;
    m.bantime = 600;
    m.failures = 3;
    return m;
}

static void t_codec_roundtrip(void)
{
    uint8_t rec[PS_REC];
    struct ps_msg m = op(PS_BAN, "2001:db8::/48", "postfix"), d;
    m.expiry = true;
    char err[128];
    CHECK_INT(ps_encode(&m, rec), 0);
    CHECK_INT(ps_decode(rec, &d, err, sizeof err), 0);
    CHECK_INT(d.type, PS_BAN);
    CHECK_INT(d.target.prefix, 48);
    CHECK_INT(d.target.addr.family, 6);
    CHECK(!memcmp(d.target.addr.b, m.target.addr.b, 16));
    CHECK_INT(d.timeout, 600);
    CHECK_INT(d.bantime, 600);
    CHECK_INT(d.failures, 3);
    CHECK(d.expiry);
    CHECK_STR(d.name, "postfix");
    struct ps_msg b = op(PS_BLOCK, "198.51.100.0/24", "");
    b.bantime = -1;
    b.timeout = 0;
    CHECK_INT(ps_encode(&b, rec), 0);
    CHECK_INT(ps_decode(rec, &d, err, sizeof err), 0);
    CHECK_INT(d.bantime, -1);
    /* headers */
    struct ps_msg h;
    memset(&h, 0, sizeof h);
    h.type = PS_APPLY;
    h.count = 2;
    snprintf(h.name, sizeof h.name, "command:cmd:0");
    CHECK_INT(ps_encode(&h, rec), 0);
    CHECK_INT(ps_decode(rec, &d, err, sizeof err), 0);
    CHECK_INT(d.count, 2);
    CHECK_STR(d.name, "command:cmd:0");
    /* replies */
    uint8_t rep[PS_REPLY];
    int64_t res;
    uint64_t us;
    ps_encode_reply(7, 1234, "nft: no such table", rep);
    CHECK_INT(ps_decode_reply(rep, &res, &us, err, sizeof err), 0);
    CHECK_INT(res, 7);
    CHECK_INT(us, 1234);
    CHECK_STR(err, "nft: no such table");
    rep[PS_REPLY - 1] = 'x';
    CHECK_INT(ps_decode_reply(rep, &res, &us, err, sizeof err), -1);
}

/* what the encoder refuses: nothing non-canonical or out of the fixed set leaves the parent */
static void t_encode_refuses(void)
{
    uint8_t rec[PS_REC];
    struct ps_msg m = op(PS_BAN, "192.0.2.1", "postfix");
    m.target.addr.b[3] = 1;
    m.target.prefix = 24;                                   /* host bits set */
    CHECK_INT(ps_encode(&m, rec), -1);
    m = op(PS_BAN, "192.0.2.1", "");                        /* ban without a jail */
    CHECK_INT(ps_encode(&m, rec), -1);
    m = op(PS_BLOCK, "192.0.2.1", "postfix");               /* block with a jail */
    CHECK_INT(ps_encode(&m, rec), -1);
    m = op(PS_BAN, "192.0.2.1", "post fix");                /* space in a name */
    CHECK_INT(ps_encode(&m, rec), -1);
    m = op(PS_BAN, "192.0.2.1", "postfix");
    m.timeout = -5;
    CHECK_INT(ps_encode(&m, rec), -1);
    m = op(PS_BAN, "192.0.2.1", "postfix");
    m.target.prefix = 0;                                    /* the whole Internet */
    CHECK_INT(ps_encode(&m, rec), -1);
    m.type = (enum ps_type)42;
    CHECK_INT(ps_encode(&m, rec), -1);
}

/* hostile records, each a mutation of a valid one */
static void t_decode_hostile(void)
{
    uint8_t good[PS_REC], rec[PS_REC];
    struct ps_msg m = op(PS_BAN, "192.0.2.7", "postfix"), d;
    CHECK_INT(ps_encode(&m, good), 0);
    char err[128];
    struct { int off; uint8_t val; const char *why; } muts[] = {
        { 0, 'X', "bad magic" },
        { 4, 0, "unknown type" },
        { 4, 99, "unknown type" },
        { 4, PS_REPLY_T, "unknown type" },
        { 5, 5, "canonical" },                       /* family 5 */
        { 5, 0, "canonical" },
        { 6, 33, "canonical" },                      /* /33 for IPv4 */
        { 6, 0, "canonical" },
        { 7, 2, "flags" },
        { 8 + 4, 1, "canonical" },                   /* bytes past an IPv4 address */
        { 24 + 7, 0x80, "range" },                   /* negative timeout */
        { 32 + 7, 0x40, "range" },                   /* huge bantime */
        { 44, 1, "count" },                          /* count in an operation */
        { 48 + 9, 'x', "bytes after the name" },     /* garbage after the NUL */
        { 48, 0, "name" },                           /* empty jail name, rest garbage */
        { 48, ' ', "jail" },
        { 48, 0x7f, "jail" },
        { 48, '\n', "jail" },
        { 120, 1, "reserved" },
    };
    for (size_t i = 0; i < sizeof muts / sizeof muts[0]; i++) {
        memcpy(rec, good, PS_REC);
        rec[muts[i].off] = muts[i].val;
        err[0] = 0;
        int r = ps_decode(rec, &d, err, sizeof err);
        if (r != -1 || !strstr(err, muts[i].why)) {
            fprintf(stderr, "  mutation %zu (offset %d): r=%d err=%s\n", i, muts[i].off, r, err);
            CHECK(0);
        }
    }
    /* an unterminated name */
    memcpy(rec, good, PS_REC);
    memset(rec + 48, 'a', PS_NAME);
    CHECK_INT(ps_decode(rec, &d, err, sizeof err), -1);
    /* host bits set in a network */
    struct ps_msg n = op(PS_BAN, "10.1.0.0/16", "postfix");
    CHECK_INT(ps_encode(&n, rec), 0);
    rec[8 + 3] = 9;
    CHECK_INT(ps_decode(rec, &d, err, sizeof err), -1);
    /* IPv4-mapped IPv6 is not canonical (the parent sends IPv4) */
    n = op(PS_BAN, "2001:db8::1", "postfix");
    CHECK_INT(ps_encode(&n, rec), 0);
    static const uint8_t mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 };
    memcpy(rec + 8, mapped, 16);
    CHECK_INT(ps_decode(rec, &d, err, sizeof err), -1);
    /* a batch header above the cap, an address in a header */
    struct ps_msg h;
    memset(&h, 0, sizeof h);
    h.type = PS_APPLY;
    snprintf(h.name, sizeof h.name, "nftables");
    CHECK_INT(ps_encode(&h, rec), 0);
    rec[44] = 0xff; rec[45] = 0xff; rec[46] = 0xff; rec[47] = 0x7f;
    CHECK_INT(ps_decode(rec, &d, err, sizeof err), -1);
    CHECK_INT(ps_encode(&h, rec), 0);
    rec[9] = 1;
    CHECK_INT(ps_decode(rec, &d, err, sizeof err), -1);
    /* the whole 256 values of the type byte: only the fixed set decodes */
    int ok = 0;
    for (int t = 0; t < 256; t++) {
        memcpy(rec, good, PS_REC);
        rec[4] = (uint8_t)t;
        if (ps_decode(rec, &d, err, sizeof err) == 0) ok++;
    }
    CHECK_INT(ok, 2);       /* BAN and UNBAN with this jail name and target */
}

struct srv {
    int fd;
    struct guard_conf *conf;
    bool null;
    struct buf log;
    int rc;
};

static void *serve(void *arg)
{
    struct srv *s = arg;
    s->rc = privsep_serve(s->fd, s->conf, s->null, &s->log);
    close(s->fd);
    return NULL;
}

static bool start(struct srv *s, pthread_t *th, int *fd, bool null)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return false;
    char err[512];
    s->conf = guard_conf_load(dir, NULL, err, sizeof err);
    if (!s->conf) {
        fprintf(stderr, "  %s\n", err);
        return false;
    }
    s->fd = sv[1];
    s->null = null;
    s->log = (struct buf)BUF_INIT(1u << 20);
    s->rc = 99;
    *fd = sv[0];
    return pthread_create(th, NULL, serve, s) == 0;
}

static void t_serve_proxy(void)
{
    mkconf(jails);
    struct srv s;
    pthread_t th;
    int fd;
    CHECK(start(&s, &th, &fd, true));
    struct privsep *ps = privsep_attach(fd);
    struct action *a = privsep_action_new(ps, "null");
    char err[512] = "";
    struct fw_jail fj[] = { { "postfix", NULL, NULL }, { "sshd", NULL, NULL } };
    CHECK_INT(a->ops->setup(a->st, fj, 2, err, sizeof err), 0);
    CHECK_STR(buf_cstr(&s.log), "setup postfix,sshd\n");
    buf_reset(&s.log);
    struct fw_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0] = (struct fw_op){ FW_BAN, 1, { { 0, { 0 } }, 0 }, 600, 600, 3, false };
    cidr_parse(str_c("192.0.2.9"), &ops[0].target);
    ops[1] = ops[0];
    ops[1].jail = 0;
    cidr_parse(str_c("::ffff:198.51.100.1"), &ops[1].target);       /* canonicalised to IPv4 */
    ops[2] = (struct fw_op){ FW_BLOCK, -1, { { 0, { 0 } }, 0 }, 0, -1, 0, false };
    cidr_parse(str_c("203.0.113.0/24"), &ops[2].target);
    ops[3] = ops[0];
    ops[3].kind = FW_UNBAN;
    CHECK_INT(a->ops->apply(a->st, ops, 4, err, sizeof err), 4);
    CHECK_STR(buf_cstr(&s.log), "ban sshd 192.0.2.9 timeout=600 bantime=600 failures=3\n"
                                "ban postfix 198.51.100.1 timeout=600 bantime=600 failures=3\n"
                                "block - 203.0.113.0/24\n"
                                "unban sshd 192.0.2.9\n");
    buf_reset(&s.log);
    CHECK_INT(a->ops->flush(a->st, err, sizeof err), 0);
    CHECK_STR(buf_cstr(&s.log), "flush\n");
    CHECK(!privsep_dead(ps));                       /* an idle, healthy helper */
    /* a jail unknown to the helper's configuration: an error reply, the session goes on */
    struct fw_jail bad[] = { { "nosuchjail", NULL, NULL } };
    CHECK_INT(a->ops->setup(a->st, bad, 1, err, sizeof err), -1);
    CHECK(strstr(err, "nosuchjail") != NULL);
    CHECK(!privsep_dead(ps));
    /* reload re-reads the files: a jail added on disk becomes known */
    put("jail.local", "[extra]\nenabled = true\nfilter = mailwarden-sshd\n");
    CHECK_INT(privsep_reload(ps, err, sizeof err), 0);
    struct fw_jail ex[] = { { "extra", NULL, NULL } };
    CHECK_INT(a->ops->setup(a->st, ex, 1, err, sizeof err), 0);
    char p[256];
    snprintf(p, sizeof p, "%s/jail.local", dir);
    unlink(p);
    action_free(a);
    privsep_free(ps);           /* EOF: the helper ends cleanly */
    pthread_join(th, NULL);
    CHECK_INT(s.rc, 0);
    buf_free(&s.log);
    rmconf();
}

/* the command backend's failure reaches the parent as an error, with the count not done */
static void t_serve_errors(void)
{
    mkconf(jails);
    struct srv s;
    pthread_t th;
    int fd;
    CHECK(start(&s, &th, &fd, false));
    struct privsep *ps = privsep_attach(fd);
    struct action *a = privsep_action_new(ps, "command:cmd:0");
    char err[512] = "";
    struct fw_jail fj[] = { { "cmd", NULL, NULL } };
    CHECK_INT(a->ops->setup(a->st, fj, 1, err, sizeof err), 0);
    struct fw_op o = { FW_BAN, 0, { { 0, { 0 } }, 0 }, 600, 600, 3, false };
    cidr_parse(str_c("192.0.2.9"), &o.target);
    struct actq q;
    actq_init(&q, a);
    actq_push(&q, &o);
    CHECK_INT(actq_run(&q, 100), -1);
    CHECK_INT(q.errors, 1);
    CHECK_INT(q.n, 1);
    CHECK(q.last_error[0] != 0);
    /* no nftables action outside the configuration's reach is refused? nftables is a
     * configured kind name, but a command key for a jail without one is not */
    struct action *b = privsep_action_new(ps, "command:postfix:0");
    CHECK_INT(b->ops->setup(b->st, fj, 1, err, sizeof err), -1);
    CHECK(strstr(err, "no command action") != NULL);
    /* firewalld:MODE only for a mode the configuration names */
    struct action *f = privsep_action_new(ps, "firewalld:bogus");
    struct fw_jail ff[] = { { "fwd", NULL, NULL } };
    CHECK_INT(f->ops->setup(f->st, ff, 1, err, sizeof err), -1);
    CHECK(strstr(err, "no firewalld action with mode bogus") != NULL);
    action_free(f);
    f = privsep_action_new(ps, "firewalld:ipset");
    f->ops->setup(f->st, ff, 1, err, sizeof err);       /* runs (and fails: no firewall-cmd) */
    CHECK(strstr(err, "no firewalld action") == NULL);
    action_free(f);
    /* null outside --dry-run is refused too */
    struct action *c = privsep_action_new(ps, "null");
    CHECK_INT(c->ops->setup(c->st, fj, 1, err, sizeof err), -1);
    action_free(b);
    action_free(c);
    actq_free(&q);
    action_free(a);
    privsep_free(ps);
    pthread_join(th, NULL);
    CHECK_INT(s.rc, 0);
    buf_free(&s.log);
    rmconf();
}

/* a hostile peer: a malformed record ends the session; nothing reaches the backend */
static void t_serve_hostile(void)
{
    mkconf(jails);
    struct srv s;
    pthread_t th;
    int fd;
    CHECK(start(&s, &th, &fd, true));
    uint8_t recs[3 * PS_REC];
    struct ps_msg h;
    memset(&h, 0, sizeof h);
    h.type = PS_SETUP;
    h.count = 1;
    snprintf(h.name, sizeof h.name, "null");
    ps_encode(&h, recs);
    memset(&h, 0, sizeof h);
    h.type = PS_JAIL;
    snprintf(h.name, sizeof h.name, "postfix");
    ps_encode(&h, recs + PS_REC);
    CHECK(write(fd, recs, 2 * PS_REC) == 2 * PS_REC);
    uint8_t rep[PS_REPLY];
    CHECK(read(fd, rep, sizeof rep) == (ssize_t)sizeof rep);
    /* an APPLY of two records whose second is a ban with a non-canonical target */
    memset(&h, 0, sizeof h);
    h.type = PS_APPLY;
    h.count = 2;
    snprintf(h.name, sizeof h.name, "null");
    ps_encode(&h, recs);
    struct ps_msg m = op(PS_BAN, "192.0.2.1", "postfix");
    ps_encode(&m, recs + PS_REC);
    ps_encode(&m, recs + 2 * PS_REC);
    recs[2 * PS_REC + 6] = 24;                      /* 192.0.2.1/24: host bits set */
    buf_reset(&s.log);
    CHECK(write(fd, recs, 3 * PS_REC) == 3 * PS_REC);
    ssize_t r = read(fd, rep, sizeof rep);
    CHECK(r == (ssize_t)sizeof rep);
    int64_t res = 0;
    uint64_t us;
    char err[512];
    CHECK_INT(ps_decode_reply(rep, &res, &us, err, sizeof err), 0);
    CHECK_INT(res, -1);
    CHECK(strstr(err, "protocol violation") != NULL);
    pthread_join(th, NULL);
    CHECK_INT(s.rc, -1);
    CHECK_STR(buf_cstr(&s.log), "");                /* the valid first ban was not applied */
    CHECK(read(fd, rep, sizeof rep) == 0);          /* session over */
    close(fd);
    buf_free(&s.log);
    rmconf();

    /* a proxy over a dead session reports it */
    mkconf(jails);
    CHECK(start(&s, &th, &fd, true));
    memset(recs, 0x41, PS_REC);
    CHECK(write(fd, recs, PS_REC) == PS_REC);
    pthread_join(th, NULL);
    CHECK_INT(s.rc, -1);
    struct privsep *ps = privsep_attach(fd);
    CHECK(privsep_dead(ps));                        /* noticed without a request */
    CHECK_INT(privsep_reload(ps, err, sizeof err), -1);
    struct action *a = privsep_action_new(ps, "null");
    struct fw_jail fj[] = { { "postfix", NULL, NULL } };
    CHECK_INT(a->ops->setup(a->st, fj, 1, err, sizeof err), -1);
    CHECK(privsep_dead(ps));
    action_free(a);
    privsep_free(ps);
    buf_free(&s.log);
    rmconf();
}

/* the user lookup: a missing user falls back to nobody, groups adm and the user's own */
static void t_user(void)
{
    uid_t uid;
    gid_t gid, g[PS_MAX_GROUPS];
    char note[256], err[256];
    int n = privsep_user("mw-no-such-user", &uid, &gid, g, note, sizeof note, err, sizeof err);
    CHECK(n >= 1);
    CHECK(uid != 0);
    CHECK(strstr(note, "nobody") != NULL);
    CHECK_INT(g[0], gid);
    CHECK_INT(privsep_user("root", &uid, &gid, g, note, sizeof note, err, sizeof err), -1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    guard_conf_set_resolve(false);
    RUN(t_codec_roundtrip);
    RUN(t_encode_refuses);
    RUN(t_decode_hostile);
    RUN(t_serve_proxy);
    RUN(t_serve_errors);
    RUN(t_serve_hostile);
    RUN(t_user);
    return check_done();
}
