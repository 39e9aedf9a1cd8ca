/* Unit tests for the firewall layer: argv templates (no shell, no word splitting of data),
 * the null backend's record, the retry queue's back-off, the nft script text and the
 * command backend running real programs. */
#include "check.h"
#include "guard/action.h"
#include <stdlib.h>
#include <unistd.h>

static struct fw_op OP(enum fw_kind k, int jail, const char *cidr, int64_t timeout)
{
    struct fw_op op;
    memset(&op, 0, sizeof op);
    op.kind = k;
    op.jail = jail;
    cidr_parse(str_c(cidr), &op.target);
    op.timeout = timeout;
    op.bantime = timeout ? timeout : -1;
    op.failures = 5;
    return op;
}

static void t_argv_split(void)
{
    char **av;
    char err[256];
    CHECK_INT(argv_split("/bin/echo  'a b' \"c \\\"d\" e\\ f <ip>", &av, err, sizeof err), 5);
    CHECK_STR(av[0], "/bin/echo");
    CHECK_STR(av[1], "a b");
    CHECK_STR(av[2], "c \"d");
    CHECK_STR(av[3], "e f");
    CHECK_STR(av[4], "<ip>");
    CHECK(av[5] == NULL);
    struct fw_op op = OP(FW_BAN, 0, "2001:DB8:0::1", 600);
    char **s = argv_subst(av, &op, "postfix");
    CHECK_STR(s[4], "2001:db8::1");
    argv_free(s);
    argv_free(av);
    CHECK_INT(argv_split("x 'unterminated", &av, err, sizeof err), -1);
    CHECK(av == NULL);
    /* a tag value is one word whatever it holds */
    CHECK_INT(argv_split("/bin/x --jail=<jail> <failures>/<bantime>", &av, err, sizeof err), 3);
    op = OP(FW_BAN, 0, "192.0.2.0/24", 3600);
    s = argv_subst(av, &op, "a b;rm -rf");
    CHECK_STR(s[1], "--jail=a b;rm -rf");
    CHECK_STR(s[2], "5/3600");
    CHECK(s[3] == NULL);
    argv_free(s);
    s = argv_subst((char *[]){ "<ip>", NULL }, &op, "j");
    CHECK_STR(s[0], "192.0.2.0/24");
    argv_free(s);
    argv_free(av);
}

static void t_null_records(void)
{
    struct action *a = action_null_new();
    char err[256];
    struct fw_jail j[2] = { { "postfix", NULL, NULL }, { "sshd", "ssh", "tcp" } };
    CHECK_INT(a->ops->setup(a->st, j, 2, err, sizeof err), 0);
    struct fw_op ops[3] = { OP(FW_BAN, 0, "192.0.2.1", 600), OP(FW_UNBAN, 1, "2001:db8::1", 0),
                            OP(FW_BLOCK, -1, "198.51.100.0/24", 0) };
    CHECK_INT(a->ops->apply(a->st, ops, 3, err, sizeof err), 3);
    CHECK_STR(action_null_log(a), "setup postfix,sshd\n"
              "ban postfix 192.0.2.1 timeout=600 bantime=600 failures=5\n"
              "unban sshd 2001:db8::1\n"
              "block - 198.51.100.0/24\n");
    action_free(a);
}

static void t_actq_backoff(void)
{
    struct action *a = action_null_new();
    struct actq q;
    actq_init(&q, a);
    struct fw_op op = OP(FW_BAN, 0, "192.0.2.9", 60);
    actq_push(&q, &op);
    action_null_fail(a, 3);
    CHECK_INT(actq_run(&q, 100), -1);
    CHECK_INT(q.next_try, 101);
    CHECK_INT(actq_run(&q, 100), -1);          /* too early: no call */
    CHECK_INT(q.errors, 1);
    CHECK_INT(actq_run(&q, 101), -1);
    CHECK_INT(q.next_try, 103);
    actq_push(&q, &op);
    CHECK_INT(actq_run(&q, 103), -1);
    CHECK_INT(q.next_try, 107);
    CHECK_INT(q.n, 2);
    CHECK_INT(actq_run(&q, 107), 0);           /* both in one batch */
    CHECK_INT(q.n, 0);
    CHECK_INT(q.applied, 2);
    CHECK_STR(action_null_log(a), "apply-failed\napply-failed\napply-failed\n"
              "ban - 192.0.2.9 timeout=60 bantime=60 failures=5\n"
              "ban - 192.0.2.9 timeout=60 bantime=60 failures=5\n");
    actq_free(&q);
    action_free(a);
}

static void t_nft_script(void)
{
    struct fw_jail j[2] = { { "postfix-sasl", "smtp,465,submission", "tcp" }, { "all", NULL, "all" } };
    struct buf b = BUF_INIT(1 << 20);
    char err[256];
    CHECK_INT(nft_script_setup(&b, "mailwarden", j, 2, err, sizeof err), 0);
    CHECK(strstr(buf_cstr(&b), "add set inet mailwarden j_postfix_sasl_4 { type ipv4_addr; flags interval, timeout; }\n"));
    CHECK(strstr(buf_cstr(&b), "add rule inet mailwarden input meta l4proto { tcp } th dport { 25, 465, 587 } ip saddr @j_postfix_sasl_4 drop\n"));
    CHECK(strstr(buf_cstr(&b), "add rule inet mailwarden input ip6 saddr @j_all_6 drop\n"));
    buf_reset(&b);
    struct fw_op ops[3] = { OP(FW_BAN, 0, "::ffff:192.0.2.1", 600), OP(FW_UNBAN, 1, "2001:db8::1", 0),
                            OP(FW_BAN, 1, "2001:db8::/48", 0) };
    nft_script_ops(&b, "mailwarden", j, 2, ops, 3);
    CHECK_STR(buf_cstr(&b),
              "add element inet mailwarden j_postfix_sasl_4 { 192.0.2.1 }\n"
              "delete element inet mailwarden j_postfix_sasl_4 { 192.0.2.1 }\n"
              "add element inet mailwarden j_postfix_sasl_4 { 192.0.2.1 timeout 600s }\n"
              "add element inet mailwarden j_all_6 { 2001:db8::1 }\n"
              "delete element inet mailwarden j_all_6 { 2001:db8::1 }\n"
              "add element inet mailwarden j_all_6 { 2001:db8::/48 }\n"
              "delete element inet mailwarden j_all_6 { 2001:db8::/48 }\n"
              "add element inet mailwarden j_all_6 { 2001:db8::/48 }\n");
    /* a ban taken over by a prefix ban in the same batch: only the last operation on an
     * element is written (the kernel fails a transaction that re-adds and deletes it twice) */
    buf_reset(&b);
    struct fw_op fold[4] = { OP(FW_BAN, 0, "203.0.113.9", 600), OP(FW_UNBAN, 0, "203.0.113.5", 600),
                             OP(FW_UNBAN, 0, "203.0.113.9", 600), OP(FW_BAN, 0, "203.0.113.0/24", 600) };
    nft_script_ops(&b, "mailwarden", j, 2, fold, 4);
    CHECK_STR(buf_cstr(&b),
              "add element inet mailwarden j_postfix_sasl_4 { 203.0.113.5 }\n"
              "delete element inet mailwarden j_postfix_sasl_4 { 203.0.113.5 }\n"
              "add element inet mailwarden j_postfix_sasl_4 { 203.0.113.9 }\n"
              "delete element inet mailwarden j_postfix_sasl_4 { 203.0.113.9 }\n"
              "add element inet mailwarden j_postfix_sasl_4 { 203.0.113.0/24 }\n"
              "delete element inet mailwarden j_postfix_sasl_4 { 203.0.113.0/24 }\n"
              "add element inet mailwarden j_postfix_sasl_4 { 203.0.113.0/24 timeout 600s }\n");
    buf_reset(&b);
    struct fw_jail bad = { "x", "nosuchservice", "tcp" };
    CHECK_INT(nft_script_setup(&b, "mailwarden", &bad, 1, err, sizeof err), -1);
    CHECK(strstr(err, "nosuchservice") != NULL);
    buf_free(&b);
}

static void t_cmd_runs(void)
{
    char path[] = "/tmp/mw-test-cmd.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    char ban[512], unban[512];
    /* the template is the admin's; data only ever lands in single argv words */
    snprintf(ban, sizeof ban, "/bin/sh -c 'printf \"%%s %%s %%s %%s\\n\" \"$1\" \"$2\" \"$3\" \"$4\" >> \"$0\"' %s <jail> <ip> <bantime> <failures>", path);
    snprintf(unban, sizeof unban, "/bin/false <ip>");
    struct cmd_templates t = { .ban = ban, .unban = unban, .timeout = 5 };
    char err[256];
    struct action *a = action_cmd_new(&t, err, sizeof err);
    CHECK(a != NULL);
    if (!a) return;
    struct fw_jail j[1] = { { "x;y $(id)", NULL, NULL } };
    CHECK_INT(a->ops->setup(a->st, j, 1, err, sizeof err), 0);
    struct fw_op ops[3] = { OP(FW_BAN, 0, "192.0.2.1", 600), OP(FW_BAN, 0, "2001:db8::7", 60),
                            OP(FW_UNBAN, 0, "192.0.2.1", 0) };
    CHECK_INT(a->ops->apply(a->st, ops, 3, err, sizeof err), 2);
    CHECK(strstr(err, "exited with status 1") != NULL);
    FILE *f = fopen(path, "r");
    char got[512] = "";
    size_t n = f ? fread(got, 1, sizeof got - 1, f) : 0;
    got[n] = 0;
    if (f) fclose(f);
    /* the two ban commands ran in parallel: either order */
    CHECK(strstr(got, "x;y $(id) 192.0.2.1 600 5\n") != NULL);
    CHECK(strstr(got, "x;y $(id) 2001:db8::7 60 5\n") != NULL);
    CHECK_INT(strlen(got), strlen("x;y $(id) 192.0.2.1 600 5\nx;y $(id) 2001:db8::7 60 5\n"));
    unlink(path);
    action_free(a);
    struct cmd_templates t2 = { .ban = "/nonexistent/prog <ip>", .timeout = 5 };
    a = action_cmd_new(&t2, err, sizeof err);
    CHECK_INT(a->ops->apply(a->st, ops, 1, err, sizeof err), 0);
    action_free(a);
    struct cmd_templates t3 = { .ban = "/bin/sleep 10", .timeout = 1 };
    a = action_cmd_new(&t3, err, sizeof err);
    CHECK_INT(a->ops->apply(a->st, ops, 1, err, sizeof err), 0);
    CHECK(strstr(err, "killed after 1 s") != NULL);
    action_free(a);
    /* a long batch yields after its time budget without an error */
    struct cmd_templates t4 = { .ban = "/bin/true", .timeout = 5 };
    a = action_cmd_new(&t4, err, sizeof err);
    struct fw_op many[400];
    for (int i = 0; i < 400; i++) many[i] = OP(FW_BAN, 0, "192.0.2.1", 60);
    size_t done = a->ops->apply(a->st, many, 400, err, sizeof err);
    CHECK(done > 0 && done <= 400);
    if (done < 400) CHECK_STR(err, "");
    action_free(a);
}

int main(void)
{
    RUN(t_argv_split);
    RUN(t_null_records);
    RUN(t_actq_backoff);
    RUN(t_nft_script);
    RUN(t_cmd_runs);
    return check_done();
}
