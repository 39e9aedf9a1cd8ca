/* Unit tests for the ipset/iptables and firewalld backends:
 *   - the exact `ipset restore` script text (setup, bans with timeouts, blocks, flush,
 *     v4-mapped IPv6 into the -4 set, invalid targets and jails dropped);
 *   - the exact argv sequence of every program run, through a recording fake (a small
 *     shell script written into a temp dir that appends each argv word, one per line, and
 *     its stdin prefixed "< ", then an empty line) configured as ipset/iptables/ip6tables and
 *     firewall-cmd;
 *   - ipset + iptables for real, as root, in a private network namespace (a forked child
 *     after unshare(CLONE_NEWNET)), checked with `ipset list` and `iptables -S`. */
#include "check.h"
#include "guard/action.h"
#include "guard/jailconf.h"
#include "util/buf.h"
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static char logpath[128];

static struct fw_op OP(enum fw_kind k, int jail, const char *cidr, int64_t timeout)
{
    struct fw_op op;
    memset(&op, 0, sizeof op);
    op.kind = k;
    op.jail = jail;
    if (cidr_parse(str_c(cidr), &op.target) < 0) fprintf(stderr, "bad test cidr %s\n", cidr);
    op.timeout = timeout;
    op.bantime = timeout ? timeout : -1;
    op.failures = 5;
    return op;
}

/* ::ffff:a.b.c.d kept as IPv6 bytes, as an operation built by other code than the parser
 * could hold it */
static struct fw_op OP_MAPPED(int jail, const uint8_t v4[4], int64_t timeout)
{
    struct fw_op op;
    memset(&op, 0, sizeof op);
    op.kind = FW_BAN;
    op.jail = jail;
    op.target.addr.family = 6;
    op.target.addr.b[10] = 0xff;
    op.target.addr.b[11] = 0xff;
    memcpy(op.target.addr.b + 12, v4, 4);
    op.target.prefix = 128;
    op.timeout = op.bantime = timeout;
    return op;
}

static const struct fw_jail JAILS[2] = { { "postfix", "25, 465", NULL }, { "sshd", "all", "tcp" } };

/* ---- the recording fake ---- */

static const char FAKE[] =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "{ printf '%s\\n' \"${0##*/}\"; for a in \"$@\"; do printf '%s\\n' \"$a\"; done; sed 's/^/< /'; echo; } >> \"$d/log\"\n"
    "if [ -f \"$d/failon\" ]; then f=$(cat \"$d/failon\"); for a in \"$@\"; do [ \"$a\" = \"$f\" ] && exit 1; done; fi\n"
    "if [ \"$2\" = -C ] && [ ! -f \"$d/present\" ]; then echo 'iptables: Bad rule' >&2; exit 1; fi\n"
    "if [ -f \"$d/stdout\" ]; then cat \"$d/stdout\"; fi\n"
    "exit 0\n";

static void fake_setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mw-fwtest.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(logpath, sizeof logpath, "%s/log", dir);
    static const char *const names[] = { "ipset", "iptables", "ip6tables", "firewall-cmd" };
    for (size_t i = 0; i < 4; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "w");
        if (!f) {
            perror(p);
            exit(1);
        }
        fputs(FAKE, f);
        fclose(f);
        chmod(p, 0755);
    }
}

static void fake_cleanup(void)
{
    static const char *const names[] = { "ipset", "iptables", "ip6tables", "firewall-cmd", "log", "failon", "present",
                                         "stdout" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void fake_file(const char *name, const char *content)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (!content) {
        unlink(p);
        return;
    }
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

/* The log so far (caller frees); the log is emptied. */
static char *fake_take(void)
{
    struct buf b = BUF_INIT(1u << 24);
    FILE *f = fopen(logpath, "r");
    if (f) {
        char tmp[4096];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(&b, tmp, n);
        fclose(f);
    }
    unlink(logpath);
    char *s = strdup(buf_cstr(&b));
    buf_free(&b);
    return s;
}

/* One expected run: words, one per line, then the empty line. */
static void run_words(struct buf *b, ...)
{
    va_list ap;
    va_start(ap, b);
    const char *w;
    while ((w = va_arg(ap, const char *))) {
        buf_puts(b, w);
        buf_putc(b, '\n');
    }
    va_end(ap);
    buf_putc(b, '\n');
}

/* Compare long texts and show the first difference. */
#define CHECK_TEXT(got, want) do { \
        const char *g_ = (got), *w_ = (want); \
        if (strcmp(g_, w_) != 0) { size_t i_ = 0; \
            while (g_[i_] && g_[i_] == w_[i_]) i_++; \
            size_t s_ = i_ > 60 ? i_ - 60 : 0; char m_[600]; \
            snprintf(m_, sizeof m_, "%s differs at byte %zu:\n    got  ...%.160s\n    want ...%.160s", #got, i_, \
                     g_ + s_, w_ + s_); \
            check_report(__FILE__, __LINE__, m_); } } while (0)

/* ---- ipset: script text ---- */

static void t_ipset_script_setup(void)
{
    struct buf o = BUF_INIT(1 << 20);
    char err[256];
    CHECK_INT(ipset_script_setup(&o, JAILS, 2, err, sizeof err), 0);
    CHECK_TEXT(buf_cstr(&o),
               "create mw-block-4 hash:net family inet maxelem 1048576\n"
               "create mw-block-6 hash:net family inet6 maxelem 1048576\n"
               "create mw-postfix-4 hash:net family inet timeout 0 maxelem 1048576\n"
               "create mw-postfix-6 hash:net family inet6 timeout 0 maxelem 1048576\n"
               "create mw-sshd-4 hash:net family inet timeout 0 maxelem 1048576\n"
               "create mw-sshd-6 hash:net family inet6 timeout 0 maxelem 1048576\n");
    buf_reset(&o);
    struct fw_jail bad[] = { { "a b", NULL, NULL } };
    CHECK_INT(ipset_script_setup(&o, bad, 1, err, sizeof err), -1);
    CHECK_INT((long long)o.len, 0);
    buf_free(&o);
}

static void t_ipset_jail_names(void)
{
    char err[256];
    CHECK_INT(ipset_jail_check("postfix-sasl.2@x", err, sizeof err), 0);
    CHECK_INT(ipset_jail_check("abcdefghijklmnopqrstuvwxyz", err, sizeof err), 0);        /* 26 */
    CHECK_INT(ipset_jail_check("abcdefghijklmnopqrstuvwxyz1", err, sizeof err), -1);      /* 27 */
    CHECK_INT(ipset_jail_check("", err, sizeof err), -1);
    CHECK_INT(ipset_jail_check("a;b", err, sizeof err), -1);
    CHECK_INT(ipset_jail_check("a\nadd x", err, sizeof err), -1);
    CHECK_INT(ipset_jail_check("block", err, sizeof err), -1);
}

static void t_ipset_script_ops(void)
{
    static const uint8_t v4[4] = { 192, 0, 2, 77 };
    struct fw_op ops[] = {
        OP(FW_BAN, 0, "192.0.2.1", 600),
        OP(FW_BAN, 0, "2001:DB8::1:0:0:1", 600),
        OP(FW_BAN, 1, "198.51.100.0/24", 3600),
        OP_MAPPED(0, v4, 60),
        OP(FW_BAN, 0, "::ffff:192.0.2.78", 60),          /* the parser maps it already */
        OP(FW_BAN, 0, "192.0.2.2", 0),                    /* permanent ban */
        OP(FW_BAN, 0, "192.0.2.3", 40LL * 86400),         /* beyond the kernel's limit */
        OP(FW_UNBAN, 0, "192.0.2.1", 600),
        OP(FW_UNBAN, 0, "192.0.2.4", 600),
        OP(FW_UNBAN, 0, "192.0.2.3", 40LL * 86400),
        OP(FW_BLOCK, -1, "203.0.113.0/24", 0),
        OP(FW_BLOCK, -1, "2001:db8:ff::/48", 0),
        OP(FW_UNBLOCK, -1, "203.0.113.0/24", 0),
        /* invalid: never in the script */
        OP(FW_BAN, 7, "192.0.2.5", 600),
        OP(FW_BAN, -1, "192.0.2.6", 600),
        OP(FW_BAN, 0, "0.0.0.0/0", 600),
    };
    ops[8].expiry = true;     /* kernel timeout removed it */
    ops[9].expiry = true;     /* had no kernel timeout: removed here */
    struct fw_op nofam = OP(FW_BAN, 0, "192.0.2.7", 600);
    nofam.target.addr.family = 0;
    struct fw_op badprefix = OP(FW_BAN, 0, "192.0.2.8", 600);
    badprefix.target.prefix = 33;
    struct buf o = BUF_INIT(1 << 20);
    ipset_script_ops(&o, JAILS, 2, ops, sizeof ops / sizeof ops[0]);
    ipset_script_ops(&o, JAILS, 2, &nofam, 1);
    ipset_script_ops(&o, JAILS, 2, &badprefix, 1);
    CHECK_TEXT(buf_cstr(&o),
               "add mw-postfix-4 192.0.2.1 timeout 600\n"
               "add mw-postfix-6 2001:db8::1:0:0:1 timeout 600\n"
               "add mw-sshd-4 198.51.100.0/24 timeout 3600\n"
               "add mw-postfix-4 192.0.2.77 timeout 60\n"
               "add mw-postfix-4 192.0.2.78 timeout 60\n"
               "add mw-postfix-4 192.0.2.2 timeout 0\n"
               "add mw-postfix-4 192.0.2.3 timeout 0\n"
               "del mw-postfix-4 192.0.2.1\n"
               "del mw-postfix-4 192.0.2.3\n"
               "add mw-block-4 203.0.113.0/24\n"
               "add mw-block-6 2001:db8:ff::/48\n"
               "del mw-block-4 203.0.113.0/24\n");
    buf_reset(&o);
    ipset_script_flush(&o, JAILS, 2);
    CHECK_TEXT(buf_cstr(&o), "flush mw-postfix-4\nflush mw-postfix-6\nflush mw-sshd-4\nflush mw-sshd-6\n");
    buf_free(&o);
}

static void t_ports(void)
{
    struct fw_portrange pr[8];
    char err[256];
    CHECK_INT(fw_ports_parse("smtp, 465,submission,2000:1000", "tcp", pr, 8, err, sizeof err), 4);
    CHECK_INT(pr[0].lo, 25);
    CHECK_INT(pr[2].lo, 587);
    CHECK_INT(pr[3].lo, 1000);
    CHECK_INT(pr[3].hi, 2000);
    CHECK_INT(fw_ports_parse("0:65535", "tcp", pr, 8, err, sizeof err), 0);
    CHECK_INT(fw_ports_parse(NULL, "tcp", pr, 8, err, sizeof err), 0);
    CHECK_INT(fw_ports_parse("70000", "tcp", pr, 8, err, sizeof err), -1);
    CHECK_INT(fw_ports_parse("nosuchservice", "tcp", pr, 8, err, sizeof err), -1);
    CHECK_INT(fw_ports_parse("1,2,3", "tcp", pr, 2, err, sizeof err), -1);
    const char *p[FW_MAX_PROTOS];
    CHECK_INT(fw_protos_parse("tcp,udp tcp", p, err, sizeof err), 2);
    CHECK_STR(p[1], "udp");
    CHECK_INT(fw_protos_parse(NULL, p, err, sizeof err), 1);
    CHECK_STR(p[0], "tcp");
    CHECK_INT(fw_protos_parse("all", p, err, sizeof err), 0);
    CHECK_INT(fw_protos_parse("icmp", p, err, sizeof err), -1);
}

/* ---- ipset: argv through the fake ---- */

static struct action *ipset_fake(const char *blocktype)
{
    char ips[128], ipt[128], ip6t[128], err[256];
    snprintf(ips, sizeof ips, "%s/ipset", dir);
    snprintf(ipt, sizeof ipt, "%s/iptables", dir);
    snprintf(ip6t, sizeof ip6t, "%s/ip6tables", dir);
    struct ipset_conf c = { ips, ipt, ip6t, NULL, blocktype, 5 };
    struct action *a = action_ipset_new(&c, err, sizeof err);
    if (!a) fprintf(stderr, "action_ipset_new: %s\n", err);
    return a;
}

#define SETRULE(prog, op, set, tgt) prog, "-w", op, "INPUT", "-m", "set", "--match-set", set, "src", "-j", tgt, NULL

static void t_ipset_fake_argv(void)
{
    fake_setup();
    struct action *a = ipset_fake(NULL);
    CHECK(a != NULL);
    if (!a) return;
    char err[512] = "";
    struct fw_jail j[2] = { { "postfix", "smtp,465,submission", NULL }, { "dovecot", "all", "tcp,udp" } };
    CHECK_INT(a->ops->setup(a->st, j, 2, err, sizeof err), 0);
    char *got = fake_take();
    struct buf w = BUF_INIT(1 << 20);
    buf_puts(&w, "ipset\nrestore\n-exist\n"
                 "< create mw-block-4 hash:net family inet maxelem 1048576\n"
                 "< create mw-block-6 hash:net family inet6 maxelem 1048576\n"
                 "< create mw-postfix-4 hash:net family inet timeout 0 maxelem 1048576\n"
                 "< create mw-postfix-6 hash:net family inet6 timeout 0 maxelem 1048576\n"
                 "< create mw-dovecot-4 hash:net family inet timeout 0 maxelem 1048576\n"
                 "< create mw-dovecot-6 hash:net family inet6 timeout 0 maxelem 1048576\n\n");
    static const char *const fam[2][3] = { { "iptables", "mw-postfix-4", "mw-dovecot-4" },
                                           { "ip6tables", "mw-postfix-6", "mw-dovecot-6" } };
    for (int f = 0; f < 2; f++) {
        for (int k = 0; k < 2; k++) {
            const char *op = k ? "-I" : "-C";
            run_words(&w, fam[f][0], "-w", op, "INPUT", "-p", "tcp", "-m", "multiport", "--dports", "25,465,587",
                      "-m", "set", "--match-set", fam[f][1], "src", "-j", "DROP", NULL);
        }
        for (int p = 0; p < 2; p++)
            for (int k = 0; k < 2; k++)
                run_words(&w, fam[f][0], "-w", k ? "-I" : "-C", "INPUT", "-p", p ? "udp" : "tcp", "-m", "set",
                          "--match-set", fam[f][2], "src", "-j", "DROP", NULL);
    }
    run_words(&w, SETRULE("iptables", "-C", "mw-block-4", "DROP"));
    run_words(&w, SETRULE("iptables", "-I", "mw-block-4", "DROP"));
    run_words(&w, SETRULE("ip6tables", "-C", "mw-block-6", "DROP"));
    run_words(&w, SETRULE("ip6tables", "-I", "mw-block-6", "DROP"));
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* set up again with the rules present: only checks */
    fake_file("present", "");
    CHECK_INT(a->ops->setup(a->st, j, 1, err, sizeof err), 0);
    got = fake_take();
    buf_reset(&w);
    buf_puts(&w, "ipset\nrestore\n-exist\n"
                 "< create mw-block-4 hash:net family inet maxelem 1048576\n"
                 "< create mw-block-6 hash:net family inet6 maxelem 1048576\n"
                 "< create mw-postfix-4 hash:net family inet timeout 0 maxelem 1048576\n"
                 "< create mw-postfix-6 hash:net family inet6 timeout 0 maxelem 1048576\n\n");
    run_words(&w, "iptables", "-w", "-C", "INPUT", "-p", "tcp", "-m", "multiport", "--dports", "25,465,587", "-m",
              "set", "--match-set", "mw-postfix-4", "src", "-j", "DROP", NULL);
    run_words(&w, "ip6tables", "-w", "-C", "INPUT", "-p", "tcp", "-m", "multiport", "--dports", "25,465,587", "-m",
              "set", "--match-set", "mw-postfix-6", "src", "-j", "DROP", NULL);
    run_words(&w, SETRULE("iptables", "-C", "mw-block-4", "DROP"));
    run_words(&w, SETRULE("ip6tables", "-C", "mw-block-6", "DROP"));
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* a batch is one ipset process */
    struct fw_op ops[] = { OP(FW_BAN, 0, "192.0.2.1", 600), OP(FW_BAN, 0, "192.0.2.2", 600),
                           OP(FW_BAN, 0, "2001:db8::2", 300), OP(FW_UNBAN, 0, "192.0.2.9", 600),
                           OP(FW_BLOCK, -1, "203.0.113.0/24", 0), OP(FW_BAN, 3, "192.0.2.3", 600) };
    CHECK_INT(a->ops->apply(a->st, ops, 6, err, sizeof err), 6);
    got = fake_take();
    CHECK_TEXT(got, "ipset\nrestore\n-exist\n"
                    "< add mw-postfix-4 192.0.2.1 timeout 600\n"
                    "< add mw-postfix-4 192.0.2.2 timeout 600\n"
                    "< add mw-postfix-6 2001:db8::2 timeout 300\n"
                    "< del mw-postfix-4 192.0.2.9\n"
                    "< add mw-block-4 203.0.113.0/24\n\n");
    free(got);
    /* nothing valid: no process at all */
    struct fw_op bad = OP(FW_BAN, 5, "192.0.2.4", 600);
    CHECK_INT(a->ops->apply(a->st, &bad, 1, err, sizeof err), 1);
    got = fake_take();
    CHECK_STR(got, "");
    free(got);
    /* a failing ipset leaves everything queued */
    fake_file("failon", "restore");
    CHECK_INT(a->ops->apply(a->st, ops, 2, err, sizeof err), 0);
    CHECK(strstr(err, "exited with status 1") != NULL);
    fake_file("failon", NULL);
    free(fake_take());
    CHECK_INT(a->ops->flush(a->st, err, sizeof err), 0);
    got = fake_take();
    CHECK_TEXT(got, "ipset\nrestore\n-exist\n< flush mw-postfix-4\n< flush mw-postfix-6\n\n");
    free(got);
    /* an invalid jail name: setup fails before any process runs */
    struct fw_jail badj[1] = { { "x;reboot", NULL, NULL } };
    CHECK_INT(a->ops->setup(a->st, badj, 1, err, sizeof err), -1);
    got = fake_take();
    CHECK_STR(got, "");
    free(got);
    action_free(a);

    /* REJECT, and a bad port list fails setup with nothing run */
    a = ipset_fake("reject");
    struct fw_jail pj[1] = { { "p", "nosuchport", NULL } };
    CHECK_INT(a->ops->setup(a->st, pj, 1, err, sizeof err), -1);
    CHECK(strstr(err, "nosuchport") != NULL);
    got = fake_take();
    CHECK_STR(got, "");
    free(got);
    fake_file("present", NULL);
    struct fw_jail aj[1] = { { "p", NULL, "all" } };
    CHECK_INT(a->ops->setup(a->st, aj, 1, err, sizeof err), 0);
    got = fake_take();
    CHECK(strstr(got, "iptables\n-w\n-I\nINPUT\n-m\nset\n--match-set\nmw-p-4\nsrc\n-j\nREJECT\n\n") != NULL);
    free(got);
    action_free(a);
    CHECK(ipset_fake("ACCEPT") == NULL);
    buf_free(&w);
    fake_cleanup();
}

/* ---- firewalld: argv through the fake ---- */

static struct action *fwd_fake(const char *zone, const char *blocktype)
{
    char p[128], err[256];
    snprintf(p, sizeof p, "%s/firewall-cmd", dir);
    struct fwcmd_conf c = { p, zone, blocktype, NULL, 5 };
    struct action *a = action_firewalld_new(&c, err, sizeof err);
    if (!a) fprintf(stderr, "action_firewalld_new: %s\n", err);
    return a;
}

#define R4(ip, port) "rule family=\"ipv4\" source address=\"" ip "\" port port=\"" port "\" protocol=\"tcp\" drop"

static void t_firewalld_fake_argv(void)
{
    fake_setup();
    struct action *a = fwd_fake(NULL, NULL);
    CHECK(a != NULL);
    if (!a) return;
    char err[512] = "";
    CHECK_INT(a->ops->setup(a->st, JAILS, 2, err, sizeof err), 0);
    char *got = fake_take();
    CHECK_TEXT(got, "firewall-cmd\n--state\n\n");
    free(got);

    /* bans: one run per timeout, rules of several addresses in it */
    struct fw_op bans[] = {
        OP(FW_BAN, 0, "192.0.2.1", 600), OP(FW_BAN, 0, "2001:db8::/64", 600), OP(FW_BAN, 1, "192.0.2.2", 600),
        OP(FW_BAN, 7, "192.0.2.66", 600),                 /* no such jail: dropped */
        OP(FW_BAN, 0, "192.0.2.3", 1200), OP(FW_BAN, 1, "192.0.2.4", 0),
    };
    CHECK_INT(a->ops->apply(a->st, bans, 6, err, sizeof err), 6);
    got = fake_take();
    struct buf w = BUF_INIT(1 << 20);
    run_words(&w, "firewall-cmd", "--timeout=600s",
              "--add-rich-rule=" R4("192.0.2.1", "25"),
              "--add-rich-rule=" R4("192.0.2.1", "465"),
              "--add-rich-rule=rule family=\"ipv6\" source address=\"2001:db8::/64\" port port=\"25\" protocol=\"tcp\" drop",
              "--add-rich-rule=rule family=\"ipv6\" source address=\"2001:db8::/64\" port port=\"465\" protocol=\"tcp\" drop",
              "--add-rich-rule=rule family=\"ipv4\" source address=\"192.0.2.2\" protocol value=\"tcp\" drop", NULL);
    run_words(&w, "firewall-cmd", "--timeout=1200s", "--add-rich-rule=" R4("192.0.2.3", "25"),
              "--add-rich-rule=" R4("192.0.2.3", "465"), NULL);
    run_words(&w, "firewall-cmd",
              "--add-rich-rule=rule family=\"ipv4\" source address=\"192.0.2.4\" protocol value=\"tcp\" drop", NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* unbans: removed by the rules that were added, an expired timed one not at all */
    struct fw_op unbans[] = { OP(FW_UNBAN, 0, "192.0.2.1", 600), OP(FW_UNBAN, 1, "192.0.2.2", 600) };
    unbans[1].expiry = true;
    CHECK_INT(a->ops->apply(a->st, unbans, 2, err, sizeof err), 2);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--remove-rich-rule=" R4("192.0.2.1", "25"),
              "--remove-rich-rule=" R4("192.0.2.1", "465"), NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* blocks: permanent and runtime; unblock removes both */
    struct fw_op blocks[] = { OP(FW_BLOCK, -1, "203.0.113.0/24", 0), OP(FW_BLOCK, -1, "2001:db8:ff::/48", 0),
                              OP(FW_UNBLOCK, -1, "203.0.113.0/24", 0) };
    CHECK_INT(a->ops->apply(a->st, blocks, 3, err, sizeof err), 3);
    got = fake_take();
    buf_reset(&w);
    const char *b4 = "rule family=\"ipv4\" source address=\"203.0.113.0/24\" drop";
    const char *b6 = "rule family=\"ipv6\" source address=\"2001:db8:ff::/48\" drop";
    char add4[200], add6[200], rm4[200];
    snprintf(add4, sizeof add4, "--add-rich-rule=%s", b4);
    snprintf(add6, sizeof add6, "--add-rich-rule=%s", b6);
    snprintf(rm4, sizeof rm4, "--remove-rich-rule=%s", b4);
    run_words(&w, "firewall-cmd", "--permanent", add4, add6, NULL);
    run_words(&w, "firewall-cmd", add4, add6, NULL);
    run_words(&w, "firewall-cmd", "--permanent", rm4, NULL);
    run_words(&w, "firewall-cmd", rm4, NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* flush: the ban rules still in place, sorted, blocks untouched */
    CHECK_INT(a->ops->flush(a->st, err, sizeof err), 0);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--remove-rich-rule=" R4("192.0.2.3", "25"),
              "--remove-rich-rule=" R4("192.0.2.3", "465"),
              "--remove-rich-rule=rule family=\"ipv4\" source address=\"192.0.2.4\" protocol value=\"tcp\" drop",
              "--remove-rich-rule=rule family=\"ipv6\" source address=\"2001:db8::/64\" port port=\"25\" protocol=\"tcp\" drop",
              "--remove-rich-rule=rule family=\"ipv6\" source address=\"2001:db8::/64\" port port=\"465\" protocol=\"tcp\" drop",
              NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);
    CHECK_INT(a->ops->flush(a->st, err, sizeof err), 0);
    got = fake_take();
    CHECK_STR(got, "");
    free(got);

    /* invalid targets and jails never reach argv */
    struct fw_op bad[] = { OP(FW_BAN, 0, "192.0.2.8", 600), OP(FW_BAN, 9, "192.0.2.9", 600),
                           OP(FW_BAN, 0, "0.0.0.0/0", 600), OP(FW_BLOCK, -1, "::/0", 0) };
    bad[0].target.addr.family = 0;
    CHECK_INT(a->ops->apply(a->st, bad, 4, err, sizeof err), 4);
    got = fake_take();
    CHECK_STR(got, "");
    free(got);

    /* a failed run: the operations before it count as done, the rest stay queued */
    fake_file("failon", "--timeout=1200s");
    struct fw_op two[] = { OP(FW_BAN, 1, "192.0.2.10", 600), OP(FW_BAN, 1, "192.0.2.11", 1200),
                           OP(FW_BAN, 1, "192.0.2.12", 600) };
    CHECK_INT(a->ops->apply(a->st, two, 3, err, sizeof err), 1);
    CHECK(strstr(err, "exited with status 1") != NULL);
    fake_file("failon", NULL);
    free(fake_take());

    /* at most FWCMD_BATCH rules per run */
    struct fw_op many[101];
    for (int i = 0; i < 101; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "198.51.100.%d", i);
        many[i] = OP(FW_BAN, 0, ip, 60);
    }
    CHECK_INT(a->ops->apply(a->st, many, 101, err, sizeof err), 101);
    got = fake_take();
    int runs = 0, rules = 0;
    for (const char *p = got; (p = strstr(p, "firewall-cmd\n--timeout=60s\n")); p++) runs++;
    for (const char *p = got; (p = strstr(p, "\n--add-rich-rule=")); p++) rules++;
    CHECK_INT(runs, 2);
    CHECK_INT(rules, 202);
    free(got);
    /* the jail's ports change (a reload) and it is banned again: the old rules go */
    struct fw_jail moved[1] = { { "postfix", "587", NULL } };
    CHECK_INT(a->ops->setup(a->st, moved, 1, err, sizeof err), 0);
    free(fake_take());
    struct fw_op again = OP(FW_BAN, 0, "198.51.100.7", 60);
    CHECK_INT(a->ops->apply(a->st, &again, 1, err, sizeof err), 1);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--timeout=60s", "--add-rich-rule=" R4("198.51.100.7", "587"), NULL);
    run_words(&w, "firewall-cmd", "--remove-rich-rule=" R4("198.51.100.7", "25"),
              "--remove-rich-rule=" R4("198.51.100.7", "465"), NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);
    struct fw_op un7 = OP(FW_UNBAN, 0, "198.51.100.7", 60);
    CHECK_INT(a->ops->apply(a->st, &un7, 1, err, sizeof err), 1);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--remove-rich-rule=" R4("198.51.100.7", "587"), NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);
    action_free(a);

    /* zone and reject */
    a = fwd_fake("public", "REJECT");
    CHECK_INT(a->ops->setup(a->st, JAILS, 1, err, sizeof err), 0);
    free(fake_take());
    struct fw_op one[] = { OP(FW_BAN, 0, "192.0.2.1", 60), OP(FW_BLOCK, -1, "192.0.2.2", 0) };
    CHECK_INT(a->ops->apply(a->st, one, 2, err, sizeof err), 2);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--zone=public", "--timeout=60s",
              "--add-rich-rule=rule family=\"ipv4\" source address=\"192.0.2.1\" port port=\"25\" protocol=\"tcp\" reject",
              "--add-rich-rule=rule family=\"ipv4\" source address=\"192.0.2.1\" port port=\"465\" protocol=\"tcp\" reject",
              NULL);
    run_words(&w, "firewall-cmd", "--permanent", "--zone=public",
              "--add-rich-rule=rule family=\"ipv4\" source address=\"192.0.2.2\" reject", NULL);
    run_words(&w, "firewall-cmd", "--zone=public",
              "--add-rich-rule=rule family=\"ipv4\" source address=\"192.0.2.2\" reject", NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);
    action_free(a);
    /* bad settings are refused */
    CHECK(fwd_fake("pub lic", NULL) == NULL);
    CHECK(fwd_fake("--permanent", NULL) == NULL);
    CHECK(fwd_fake(NULL, "accept") == NULL);
    char p[128], e[256];
    snprintf(p, sizeof p, "%s/firewall-cmd", dir);
    struct fwcmd_conf badmode = { p, NULL, NULL, "ipsets", 5 };
    CHECK(action_firewalld_new(&badmode, e, sizeof e) == NULL);
    /* firewalld not running: setup fails */
    fake_file("failon", "--state");
    a = fwd_fake(NULL, NULL);
    CHECK_INT(a->ops->setup(a->st, JAILS, 2, err, sizeof err), -1);
    action_free(a);
    buf_free(&w);
    fake_cleanup();
}


/* mode=ipset: firewalld's own ipsets, the exact argv of setup, bans, unbans, blocks, flush */
static void t_firewalld_ipset_argv(void)
{
    fake_setup();
    char p[128], err[512] = "";
    snprintf(p, sizeof p, "%s/firewall-cmd", dir);
    struct fwcmd_conf c = { p, "public", NULL, "ipset", 5 };
    struct action *a = action_firewalld_new(&c, err, sizeof err);
    CHECK(a != NULL);
    if (!a) return;
    /* two sets exist already (an earlier run): only the others are created, then a reload */
    fake_file("stdout", "mw-postfix-4 other mw-block-6\n");
    CHECK_INT(a->ops->setup(a->st, JAILS, 2, err, sizeof err), 0);
    fake_file("stdout", NULL);
    char *got = fake_take();
    struct buf w = BUF_INIT(1 << 20);
#define IPR(fam, set, match) "rule family=\"ipv" fam "\" source ipset=\"" set "\"" match " drop"
#define PT(port) " port port=\"" port "\" protocol=\"tcp\""
    static const char *const rules[] = {
        IPR("4", "mw-postfix-4", PT("25")), IPR("4", "mw-postfix-4", PT("465")),
        IPR("6", "mw-postfix-6", PT("25")), IPR("6", "mw-postfix-6", PT("465")),
        IPR("4", "mw-sshd-4", " protocol value=\"tcp\""), IPR("6", "mw-sshd-6", " protocol value=\"tcp\""),
        IPR("4", "mw-block-4", ""), IPR("6", "mw-block-6", ""),
    };
    run_words(&w, "firewall-cmd", "--state", NULL);
    run_words(&w, "firewall-cmd", "--permanent", "--get-ipsets", NULL);
    run_words(&w, "firewall-cmd", "--permanent", "--new-ipset=mw-postfix-6", "--type=hash:net", "--option=family=inet6",
              "--option=timeout=0", NULL);
    run_words(&w, "firewall-cmd", "--permanent", "--new-ipset=mw-sshd-4", "--type=hash:net", "--option=family=inet",
              "--option=timeout=0", NULL);
    run_words(&w, "firewall-cmd", "--permanent", "--new-ipset=mw-sshd-6", "--type=hash:net", "--option=family=inet6",
              "--option=timeout=0", NULL);
    run_words(&w, "firewall-cmd", "--permanent", "--new-ipset=mw-block-4", "--type=hash:net", "--option=family=inet",
              NULL);
    run_words(&w, "firewall-cmd", "--reload", NULL);
    for (int perm = 1; perm >= 0; perm--) {
        if (perm) buf_puts(&w, "firewall-cmd\n--permanent\n--zone=public\n");
        else buf_puts(&w, "firewall-cmd\n--zone=public\n");
        for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) buf_printf(&w, "--add-rich-rule=%s\n", rules[i]);
        buf_putc(&w, '\n');
    }
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* bans: one run per set; several addresses of a set through stdin; a network as such;
     * v4-mapped IPv6 goes to the -4 set */
    static const uint8_t v4[4] = { 192, 0, 2, 9 };
    struct fw_op bans[] = {
        OP(FW_BAN, 0, "192.0.2.1", 600), OP(FW_BAN, 0, "203.0.113.0/24", 600), OP(FW_BAN, 0, "2001:db8::/64", 600),
        OP(FW_BAN, 1, "192.0.2.2", 0), OP(FW_BAN, 7, "192.0.2.66", 600), OP_MAPPED(1, v4, 60),
    };
    CHECK_INT(a->ops->apply(a->st, bans, 6, err, sizeof err), 6);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--ipset=mw-postfix-4", "--add-entries-from-file=/dev/stdin",
              "< 192.0.2.1", "< 203.0.113.0/24", NULL);
    run_words(&w, "firewall-cmd", "--ipset=mw-postfix-6", "--add-entry=2001:db8::/64", NULL);
    run_words(&w, "firewall-cmd", "--ipset=mw-sshd-4", "--add-entries-from-file=/dev/stdin",
              "< 192.0.2.2", "< 192.0.2.9", NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* unbans: also an expired one (no kernel timeout in firewalld's sets) */
    struct fw_op unbans[] = { OP(FW_UNBAN, 0, "192.0.2.1", 600), OP(FW_UNBAN, 1, "192.0.2.2", 600) };
    unbans[1].expiry = true;
    CHECK_INT(a->ops->apply(a->st, unbans, 2, err, sizeof err), 2);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--ipset=mw-postfix-4", "--remove-entry=192.0.2.1", NULL);
    run_words(&w, "firewall-cmd", "--ipset=mw-sshd-4", "--remove-entry=192.0.2.2", NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* blocks: the permanent form first, then runtime */
    struct fw_op blocks[] = { OP(FW_BLOCK, -1, "198.51.100.0/24", 0), OP(FW_UNBLOCK, -1, "198.51.100.0/24", 0) };
    CHECK_INT(a->ops->apply(a->st, blocks, 2, err, sizeof err), 2);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--permanent", "--ipset=mw-block-4", "--add-entry=198.51.100.0/24", NULL);
    run_words(&w, "firewall-cmd", "--ipset=mw-block-4", "--add-entry=198.51.100.0/24", NULL);
    run_words(&w, "firewall-cmd", "--permanent", "--ipset=mw-block-4", "--remove-entry=198.51.100.0/24", NULL);
    run_words(&w, "firewall-cmd", "--ipset=mw-block-4", "--remove-entry=198.51.100.0/24", NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* a reload changes postfix's ports: the old rules go (permanent, runtime), all exist now */
    fake_file("stdout", "mw-postfix-4 mw-postfix-6 mw-sshd-4 mw-sshd-6 mw-block-4 mw-block-6\n");
    static const struct fw_jail J2[2] = { { "postfix", "25", NULL }, { "sshd", "all", "tcp" } };
    CHECK_INT(a->ops->setup(a->st, J2, 2, err, sizeof err), 0);
    fake_file("stdout", NULL);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--state", NULL);
    run_words(&w, "firewall-cmd", "--permanent", "--get-ipsets", NULL);
    char r1[200], r2[200];
    snprintf(r1, sizeof r1, "--remove-rich-rule=%s", rules[1]);
    snprintf(r2, sizeof r2, "--remove-rich-rule=%s", rules[3]);
    run_words(&w, "firewall-cmd", "--permanent", "--zone=public", r1, r2, NULL);
    run_words(&w, "firewall-cmd", "--zone=public", r1, r2, NULL);
    for (int perm = 1; perm >= 0; perm--) {
        if (perm) buf_puts(&w, "firewall-cmd\n--permanent\n--zone=public\n");
        else buf_puts(&w, "firewall-cmd\n--zone=public\n");
        for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
            if (i != 1 && i != 3) buf_printf(&w, "--add-rich-rule=%s\n", rules[i]);
        buf_putc(&w, '\n');
    }
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);

    /* flush: what is still in the sets, per set, sorted */
    CHECK_INT(a->ops->flush(a->st, err, sizeof err), 0);
    got = fake_take();
    buf_reset(&w);
    run_words(&w, "firewall-cmd", "--ipset=mw-postfix-4", "--remove-entry=203.0.113.0/24", NULL);
    run_words(&w, "firewall-cmd", "--ipset=mw-postfix-6", "--remove-entry=2001:db8::/64", NULL);
    run_words(&w, "firewall-cmd", "--ipset=mw-sshd-4", "--remove-entry=192.0.2.9", NULL);
    CHECK_TEXT(got, buf_cstr(&w));
    free(got);
    CHECK_INT(a->ops->flush(a->st, err, sizeof err), 0);
    got = fake_take();
    CHECK_TEXT(got, "");
    free(got);

    /* a failing run: apply reports how far it got */
    fake_file("failon", "--ipset=mw-sshd-4");
    struct fw_op two[] = { OP(FW_BAN, 0, "192.0.2.20", 60), OP(FW_BAN, 1, "192.0.2.21", 60) };
    CHECK_INT(a->ops->apply(a->st, two, 2, err, sizeof err), 1);
    fake_file("failon", NULL);
    free(fake_take());
    action_free(a);
    /* a jail name too long for a set name is refused */
    a = action_firewalld_new(&c, err, sizeof err);
    static const struct fw_jail LONG[1] = { { "a-very-long-jail-name-for-sets", "25", NULL } };
    CHECK_INT(a->ops->setup(a->st, LONG, 1, err, sizeof err), -1);
    action_free(a);
    buf_free(&w);
    fake_cleanup();
}

/* ---- registration: banaction names and daemon settings ---- */

static void put(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static struct guard_conf *load(const char *jail, const char *daemon, char *err, size_t errlen)
{
    snprintf(dir, sizeof dir, "/tmp/mw-fwconf.XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    put("jail.conf", jail);
    if (daemon) put("mailwarden.conf", daemon);
    struct guard_conf *c = guard_conf_load(dir, NULL, err, errlen);
    char p[256];
    snprintf(p, sizeof p, "%s/jail.conf", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/mailwarden.conf", dir);
    unlink(p);
    rmdir(dir);
    return c;
}

static void t_banaction_names(void)
{
    static const struct { const char *name; enum act_kind kind; bool warn; } cases[] = {
        { "ipset", ACT_IPSET, false }, { "iptables-ipset", ACT_IPSET, false },
        { "iptables-ipset-proto6-allports", ACT_IPSET, false }, { "iptables-multiport", ACT_IPSET, false },
        { "iptables", ACT_IPSET, false }, { "ip6tables-multiport", ACT_IPSET, false },
        { "firewallcmd-rich-rules", ACT_FIREWALLD, false }, { "firewallcmd-ipset", ACT_FIREWALLD, false },
        { "firewalld", ACT_FIREWALLD, false }, { "nftables-multiport", ACT_NFTABLES, false },
        { "ufw", ACT_NFTABLES, true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char jail[512], err[512] = "";
        snprintf(jail, sizeof jail, "[DEFAULT]\nbanaction = %s\n[postfix]\nenabled = true\nlogpath = /dev/null\n",
                 cases[i].name);
        struct guard_conf *c = load(jail, NULL, err, sizeof err);
        CHECK(c != NULL);
        if (!c) {
            fprintf(stderr, "  %s: %s\n", cases[i].name, err);
            continue;
        }
        struct jail_conf *j = guard_conf_jail(c, "postfix");
        CHECK(j && j->nactions == 1);
        if (j && j->nactions == 1 && j->actions[0].kind != cases[i].kind) {
            fprintf(stderr, "  %s: kind %d, expected %d\n", cases[i].name, j->actions[0].kind, cases[i].kind);
            CHECK(0);
        }
        bool warned = false;
        for (size_t k = 0; k < c->nwarnings; k++)
            if (strstr(c->warnings[k], "no ") && strstr(c->warnings[k], "action yet")) warned = true;
        CHECK(warned == cases[i].warn);
        guard_conf_free(c);
    }
    /* the allports variant and action arguments set the jail's ports */
    char err[512] = "";
    struct guard_conf *c = load("[postfix]\nenabled = true\nlogpath = /dev/null\nport = smtp\n"
                                "action = iptables-ipset-proto6-allports[name=postfix]\n", NULL, err, sizeof err);
    CHECK(c != NULL);
    if (c) CHECK_STR(guard_conf_jail(c, "postfix")->port, "0:65535");
    guard_conf_free(c);
    /* a jail name too long for an ipset set name is a configuration error */
    c = load("[abcdefghijklmnopqrstuvwxyz0]\nenabled = true\nlogpath = /dev/null\nfilter = mailwarden-sshd\n"
             "banaction = ipset\n", NULL, err, sizeof err);
    CHECK(c == NULL);
    CHECK(strstr(err, "ipset needs 1 to 26 characters") != NULL);
    guard_conf_free(c);
    /* daemon settings */
    c = load("[postfix]\nenabled = true\nlogpath = /dev/null\nbanaction = firewalld\n",
             "[Definition]\nblocktype = REJECT\nfirewalld_zone = public\nipset_cmd = /opt/ipset\n"
             "iptables_chain = MW\n", err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->ipset.blocktype, "REJECT");
        CHECK_STR(c->ipset.ipset, "/opt/ipset");
        CHECK_STR(c->ipset.iptables, "/usr/sbin/iptables");
        CHECK_STR(c->ipset.chain, "MW");
        CHECK_STR(c->fwcmd.cmd, "/usr/bin/firewall-cmd");
        CHECK_STR(c->fwcmd.zone, "public");
        CHECK_STR(c->fwcmd.blocktype, "REJECT");
        CHECK_STR(c->fwcmd.mode, "richrule");
    }
    guard_conf_free(c);
    static const char *const bad[] = { "blocktype = ACCEPT\n", "firewalld_mode = ipsets\n",
                                       "firewalld_zone = a b\n", "iptables_chain = -j\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char d[256];
        snprintf(d, sizeof d, "[Definition]\n%s", bad[i]);
        c = load("[postfix]\nenabled = true\nlogpath = /dev/null\n", d, err, sizeof err);
        CHECK(c == NULL);
        guard_conf_free(c);
    }
    /* ipset mode: by the daemon option, the action argument or fail2ban's name; a jail name
     * too long for a set name is a configuration error then, not in rich-rule mode */
    c = load("[postfix]\nenabled = true\nlogpath = /dev/null\nbanaction = firewalld[mode=ipset]\n", NULL, err,
             sizeof err);
    CHECK(c != NULL && c->jails[0].actions[0].kind == ACT_FIREWALLD && c->jails[0].actions[0].mode &&
          !strcmp(c->jails[0].actions[0].mode, "ipset"));
    guard_conf_free(c);
    c = load("[postfix]\nenabled = true\nlogpath = /dev/null\nbanaction = firewallcmd-ipset\n", NULL, err, sizeof err);
    CHECK(c != NULL && c->jails[0].actions[0].mode && !strcmp(c->jails[0].actions[0].mode, "ipset"));
    guard_conf_free(c);
    static const char *const longj = "[a-very-long-jail-name-for-sets]\nenabled = true\nlogpath = /dev/null\n"
                                     "filter = mailwarden-sshd\nbanaction = firewalld\n";
    c = load(longj, "[Definition]\nfirewalld_mode = ipset\n", err, sizeof err);
    CHECK(c == NULL);
    guard_conf_free(c);
    c = load(longj, NULL, err, sizeof err);
    CHECK(c != NULL);
    guard_conf_free(c);
    c = load("[postfix]\nenabled = true\nlogpath = /dev/null\nbanaction = firewalld[mode=bogus]\n", NULL, err,
             sizeof err);
    CHECK(c == NULL);
    guard_conf_free(c);
}

/* ---- ipset + iptables in a private network namespace ---- */

static int ns_fail;
#define NCHECK(c) do { if (!(c)) { fprintf(stderr, "  %s:%d: NCHECK(%s)\n", __FILE__, __LINE__, #c); ns_fail++; } } while (0)

static char *cmd_out(const char *a0, const char *a1, const char *a2, const char *a3)
{
    char *argv[] = { (char *)a0, (char *)a1, (char *)a2, (char *)a3, NULL };
    struct buf o = BUF_INIT(1 << 24);
    char err[256];
    if (action_spawn(argv, NULL, 0, &o, 10, err, sizeof err) != 0) fprintf(stderr, "  %s: %s\n", a0, err);
    char *s = strdup(buf_cstr(&o));
    buf_free(&o);
    return s;
}

/* The member line of addr in `ipset list set` ("" when absent; caller frees). */
static char *member(const char *set, const char *addr)
{
    char *l = cmd_out("/usr/sbin/ipset", "list", set, NULL);
    char *m = strstr(l, "Members:\n");
    char *res = strdup("");
    size_t al = strlen(addr);
    for (char *p = m ? m + 9 : l + strlen(l); *p;) {
        char *e = strchr(p, '\n');
        size_t ll = e ? (size_t)(e - p) : strlen(p);
        if (ll >= al && !strncmp(p, addr, al) && (ll == al || p[al] == ' ')) {
            free(res);
            res = strndup(p, ll);
            break;
        }
        p += ll + (e ? 1 : 0);
    }
    free(l);
    return res;
}

static int count_members(const char *set)
{
    char *l = cmd_out("/usr/sbin/ipset", "list", set, NULL);
    char *m = strstr(l, "Number of entries: ");
    int n = m ? (int)strtol(m + 19, NULL, 10) : -1;
    free(l);
    return n;
}

static void ns_body(void)
{
    char err[512] = "";
    struct action *a = action_ipset_new(NULL, err, sizeof err);
    NCHECK(a != NULL);
    if (!a) return;
    struct fw_jail j[2] = { { "postfix", "smtp,465", NULL }, { "sshd", "all", "tcp" } };
    int rc = a->ops->setup(a->st, j, 2, err, sizeof err);
    if (rc) fprintf(stderr, "  setup: %s\n", err);
    NCHECK(rc == 0);
    char *r4 = cmd_out("/usr/sbin/iptables", "-w", "-S", "INPUT");
    char *r6 = cmd_out("/usr/sbin/ip6tables", "-w", "-S", "INPUT");
    NCHECK(strstr(r4, "-A INPUT -m set --match-set mw-block-4 src -j DROP\n"
                      "-A INPUT -p tcp -m set --match-set mw-sshd-4 src -j DROP\n"
                      "-A INPUT -p tcp -m multiport --dports 25,465 -m set --match-set mw-postfix-4 src -j DROP\n"));
    NCHECK(strstr(r6, "-A INPUT -m set --match-set mw-block-6 src -j DROP\n"));
    NCHECK(strstr(r6, "-A INPUT -p tcp -m multiport --dports 25,465 -m set --match-set mw-postfix-6 src -j DROP\n"));
    /* idempotent: a second setup adds nothing */
    NCHECK(a->ops->setup(a->st, j, 2, err, sizeof err) == 0);
    char *again = cmd_out("/usr/sbin/iptables", "-w", "-S", "INPUT");
    NCHECK(!strcmp(again, r4));
    free(again);
    free(r4);
    free(r6);

    static const uint8_t v4[4] = { 192, 0, 2, 77 };
    struct fw_op ops[] = { OP(FW_BAN, 0, "192.0.2.1", 600), OP(FW_BAN, 0, "2001:db8:1::/64", 600),
                           OP_MAPPED(0, v4, 600), OP(FW_BAN, 1, "192.0.2.2", 0), OP(FW_BAN, 1, "192.0.2.3", 1),
                           OP(FW_BLOCK, -1, "198.51.100.0/24", 0), OP(FW_BLOCK, -1, "2001:db8:ff::/48", 0) };
    size_t n = a->ops->apply(a->st, ops, sizeof ops / sizeof ops[0], err, sizeof err);
    if (n != sizeof ops / sizeof ops[0]) fprintf(stderr, "  apply: %s\n", err);
    NCHECK(n == sizeof ops / sizeof ops[0]);
    char *m = member("mw-postfix-4", "192.0.2.1");
    long to = strstr(m, " timeout ") ? strtol(strstr(m, " timeout ") + 9, NULL, 10) : -1;
    NCHECK(to > 590 && to <= 600);
    free(m);
    m = member("mw-postfix-6", "2001:db8:1::/64");
    NCHECK(strstr(m, " timeout ") != NULL);
    free(m);
    m = member("mw-postfix-4", "192.0.2.77");     /* v4-mapped lands in the -4 set */
    NCHECK(*m);
    free(m);
    NCHECK(count_members("mw-postfix-6") == 1);
    m = member("mw-sshd-4", "192.0.2.2");
    NCHECK(!strcmp(m, "192.0.2.2 timeout 0"));
    free(m);
    m = member("mw-block-4", "198.51.100.0/24");
    NCHECK(!strcmp(m, "198.51.100.0/24"));        /* permanent: no timeout at all */
    free(m);
    m = member("mw-block-6", "2001:db8:ff::/48");
    NCHECK(!strcmp(m, "2001:db8:ff::/48"));
    free(m);
    /* a ban again updates its timeout */
    struct fw_op re = OP(FW_BAN, 0, "192.0.2.1", 100000);
    NCHECK(a->ops->apply(a->st, &re, 1, err, sizeof err) == 1);
    m = member("mw-postfix-4", "192.0.2.1");
    to = strstr(m, " timeout ") ? strtol(strstr(m, " timeout ") + 9, NULL, 10) : -1;
    NCHECK(to > 99000);
    free(m);
    /* the kernel expires a 1 s ban */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        m = member("mw-sshd-4", "192.0.2.3");
        bool gone = !*m;
        free(m);
        if (gone) break;
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 5) {
            NCHECK(!"1 s ban did not expire");
            break;
        }
        struct timespec ts = { 0, 100000000 };
        nanosleep(&ts, NULL);
    }
    /* unban */
    struct fw_op un[] = { OP(FW_UNBAN, 0, "192.0.2.1", 600), OP(FW_UNBAN, 0, "192.0.2.250", 600) };
    NCHECK(a->ops->apply(a->st, un, 2, err, sizeof err) == 2);
    m = member("mw-postfix-4", "192.0.2.1");
    NCHECK(!*m);
    free(m);
    /* flush: jail sets empty, blocks stay */
    NCHECK(a->ops->flush(a->st, err, sizeof err) == 0);
    NCHECK(count_members("mw-postfix-4") == 0);
    NCHECK(count_members("mw-postfix-6") == 0);
    NCHECK(count_members("mw-sshd-4") == 0);
    NCHECK(count_members("mw-block-4") == 1);
    NCHECK(count_members("mw-block-6") == 1);
    struct fw_op ub = OP(FW_UNBLOCK, -1, "198.51.100.0/24", 0);
    NCHECK(a->ops->apply(a->st, &ub, 1, err, sizeof err) == 1);
    NCHECK(count_members("mw-block-4") == 0);
    action_free(a);
}

static void t_ipset_netns(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) < 0) _exit(77);
        ns_body();
        fflush(stderr);
        _exit(ns_fail ? 1 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    RUN(t_ipset_script_setup);
    RUN(t_ipset_jail_names);
    RUN(t_ipset_script_ops);
    RUN(t_ports);
    RUN(t_ipset_fake_argv);
    RUN(t_firewalld_fake_argv);
    RUN(t_firewalld_ipset_argv);
    RUN(t_banaction_names);
    if (geteuid() != 0) {
        SKIP(t_ipset_netns, "needs root for a network namespace");
    } else if (access("/usr/sbin/ipset", X_OK) != 0 || access("/usr/sbin/iptables", X_OK) != 0 ||
               access("/usr/sbin/ip6tables", X_OK) != 0) {
        SKIP(t_ipset_netns, "ipset/iptables not installed (scripts/deps.sh installs them)");
    } else {
        /* can this process make a network namespace at all? */
        pid_t pid = fork();
        if (pid == 0) _exit(unshare(CLONE_NEWNET) < 0 ? 77 : 0);
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) SKIP(t_ipset_netns, "unshare(CLONE_NEWNET) not permitted");
        else RUN(t_ipset_netns);
    }
    return check_done();
}
