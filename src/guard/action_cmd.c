/*
 * action_cmd - the command backend (see action.h): argv templates split once at load
 * (argv_split: no shell, no expansion), <ip> <jail> <bantime> <failures> substituted per
 * word (so an address can never become a second argument), run with posix_spawnp with
 * stdin and stdout on /dev/null (the shared helper in action_spawn.c). Ban and unban
 * commands run asynchronously (see cmd_apply) with a timeout (SIGKILL when it expires); a
 * non-zero exit is a failure: the operation goes back to the caller's actq and is retried
 * with back-off. actionstart and actionflush run synchronously (start, stop).
 */
#include "guard/action.h"
#include "util/msg.h"
#include "util/xalloc.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CMD_PARALLEL 32

struct job {
    pid_t pid;
    int pidfd;                  /* -1 when pidfd_open is not available */
    bool killed;
    int64_t deadline;           /* monotonic ms */
    struct fw_op op;
    char *name;                 /* argv[0], for messages */
};

struct failed {
    struct fw_op op;
    char err[256];
};

struct cmd_state {
    char **ban, **unban, **flush, **start;
    int timeout;
    char **jails;
    size_t nj;
    struct job jobs[CMD_PARALLEL];
    size_t njobs;
    struct failed *failed;      /* finished with an error, not yet handed back (poll) */
    size_t nfailed, capfailed;
    size_t nok;                 /* finished fine since the last poll */
};

static int64_t mono_ms(void) { return action_mono_ms(); }

/* Start argv (action_spawn_start: stdin and stdout on /dev/null, stderr inherited); the
 * child's pid, or -1 with err. */
static pid_t spawn_argv(char *const *argv, char *err, size_t errlen)
{
    return action_spawn_start(argv, NULL, 0, NULL, NULL, err, errlen);
}

/* Wait for pid until deadline (monotonic ms); SIGKILL after it. 0 on exit status 0. */
static int wait_child(pid_t pid, const char *name, int64_t deadline, int timeout, char *err, size_t errlen)
{
    return action_spawn_wait(pid, name, deadline, timeout, -1, err, errlen) == 0 ? 0 : -1;
}

/* Run argv, wait at most timeout seconds. 0 on exit status 0. */
static int run_argv(char *const *argv, int timeout, char *err, size_t errlen)
{
    if (!argv || !argv[0]) return 0;
    pid_t pid = spawn_argv(argv, err, errlen);
    if (pid < 0) return -1;
    return wait_child(pid, argv[0], mono_ms() + (int64_t)timeout * 1000, timeout, err, errlen);
}

static int cmd_setup(void *st, const struct fw_jail *jails, size_t n, char *err, size_t errlen)
{
    struct cmd_state *s = st;
    for (size_t i = 0; i < s->nj; i++) free(s->jails[i]);
    free(s->jails);
    s->jails = xcalloc(n + 1, sizeof *s->jails);
    for (size_t i = 0; i < n; i++) s->jails[i] = xstrdup(jails[i].name);
    s->nj = n;
    if (s->start) {
        for (size_t i = 0; i < n; i++) {
            struct fw_op op;
            memset(&op, 0, sizeof op);
            char **av = argv_subst(s->start, &op, jails[i].name);
            int rc = run_argv(av, s->timeout, err, errlen);
            argv_free(av);
            if (rc < 0) return -1;
        }
    }
    return 0;
}

/*
 * apply() only starts commands: each op's child is spawned and the loop goes on; poll()
 * (on every loop turn, the daemon wakes on SIGCHLD) reaps them and hands failures back to
 * the queue. So a slow or hanging command never delays reading the logs or the next ban,
 * and bans found together are spawned together. At most CMD_PARALLEL children run at once;
 * apply() waits for a slot when all are busy (back-pressure under a flood), at most
 * CMD_TURN_MS per call: then it yields (returns short without an error) so the loop still
 * answers the control socket and reads the logs. Two commands for one target never run at
 * the same time (a ban and its unban keep their order).
 */
#define CMD_TURN_MS 100

static bool same_target(const struct fw_op *a, const struct fw_op *b)
{
    return a->target.prefix == b->target.prefix && a->target.addr.family == b->target.addr.family &&
           memcmp(a->target.addr.b, b->target.addr.b, sizeof a->target.addr.b) == 0;
}

/* Collect job k's exit status (blocking: it has exited or was killed) and remove it. */
static void job_done(struct cmd_state *s, size_t k, int status)
{
    struct job *j = &s->jobs[k];
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        struct failed f;
        f.op = j->op;
        if (WIFEXITED(status))
            snprintf(f.err, sizeof f.err, "%s exited with status %d", j->name, WEXITSTATUS(status));
        else if (j->killed)
            snprintf(f.err, sizeof f.err, "%s: killed after %d s", j->name, s->timeout);
        else
            snprintf(f.err, sizeof f.err, "%s killed by signal %d", j->name, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        s->failed = xgrow(s->failed, &s->capfailed, s->nfailed + 1, sizeof *s->failed);
        s->failed[s->nfailed++] = f;
    } else {
        s->nok++;
    }
    if (j->pidfd >= 0) close(j->pidfd);
    free(j->name);
    s->jobs[k] = s->jobs[--s->njobs];
}

/* Reap every job that has exited; kill those past their deadline. block_ms > 0: wait up to
 * that long for at least one to finish (when none has). */
static void reap(struct cmd_state *s, int block_ms)
{
    for (int round = 0; round < 2; round++) {
        size_t before = s->njobs;
        int64_t t = mono_ms();
        for (size_t k = 0; k < s->njobs;) {
            struct job *j = &s->jobs[k];
            int status;
            pid_t w = waitpid(j->pid, &status, WNOHANG);
            if (w == j->pid || (w < 0 && errno == ECHILD)) {
                if (w < 0) status = 0;          /* reaped elsewhere: nothing to report */
                job_done(s, k, status);
                continue;
            }
            if (t >= j->deadline && !j->killed) {
                kill(-j->pid, SIGKILL);         /* its process group: what it started too */
                kill(j->pid, SIGKILL);
                j->killed = true;
                waitpid(j->pid, &status, 0);
                job_done(s, k, status);
                continue;
            }
            k++;
        }
        if (round || block_ms <= 0 || !s->njobs || s->njobs < before) return;
        /* nothing finished yet: sleep until one does (pidfds), or the earliest deadline */
        struct pollfd pf[CMD_PARALLEL];
        int64_t first = INT64_MAX;
        nfds_t np = 0;
        for (size_t k = 0; k < s->njobs; k++) {
            if (s->jobs[k].deadline < first) first = s->jobs[k].deadline;
            if (s->jobs[k].pidfd >= 0) pf[np++] = (struct pollfd){ .fd = s->jobs[k].pidfd, .events = POLLIN };
        }
        int64_t wait = first - t;
        if (wait > block_ms) wait = block_ms;
        if (wait < 0) wait = 0;
        if (np == s->njobs) {
            poll(pf, np, (int)wait);
        } else {
            struct timespec ts = { 0, 1000000 };   /* no pidfd (old kernel): look again in 1 ms */
            nanosleep(&ts, NULL);
        }
    }
}

/* Wait until no child of ours runs (at stop, before a flush, on reload). */
static void drain(struct cmd_state *s)
{
    while (s->njobs) reap(s, 1000);
}

static size_t cmd_apply(void *st, const struct fw_op *ops, size_t n, char *err, size_t errlen)
{
    struct cmd_state *s = st;
    int64_t t0 = mono_ms();
    err[0] = 0;
    reap(s, 0);
    for (size_t i = 0; i < n; i++) {
        const struct fw_op *op = &ops[i];
        char **tmpl = op->kind == FW_BAN || op->kind == FW_BLOCK ? s->ban : s->unban;
        if (!tmpl) continue;
        for (;;) {
            bool busy = s->njobs >= CMD_PARALLEL;
            for (size_t k = 0; !busy && k < s->njobs; k++)
                if (same_target(&s->jobs[k].op, op)) busy = true;
            if (!busy) break;
            int64_t left = t0 + CMD_TURN_MS - mono_ms();
            if (left <= 0) return i;            /* yield: the rest on the next loop turn */
            reap(s, (int)left);
        }
        const char *jail = op->jail >= 0 && (size_t)op->jail < s->nj ? s->jails[op->jail] : "block";
        char **av = argv_subst(tmpl, op, jail);
        pid_t pid = spawn_argv(av, err, errlen);
        if (pid < 0) {
            argv_free(av);
            return i;                           /* err is set: the queue backs off */
        }
        struct job *j = &s->jobs[s->njobs++];
        j->pid = pid;
        j->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        j->deadline = mono_ms() + (int64_t)s->timeout * 1000;
        j->killed = false;
        j->op = *op;
        j->name = xstrdup(av[0]);
        argv_free(av);
    }
    return n;
}

static size_t cmd_poll(void *st, struct actq *q, int64_t now)
{
    struct cmd_state *s = st;
    reap(s, 0);
    if (s->nok && !s->nfailed) q->backoff = 0;          /* the command works again */
    for (size_t i = 0; i < s->nfailed; i++) actq_fail(q, &s->failed[i].op, s->failed[i].err, now);
    s->nfailed = 0;
    s->nok = 0;
    return s->njobs;
}

static int cmd_flush(void *st, char *err, size_t errlen)
{
    struct cmd_state *s = st;
    if (s->flush) {
        /* everything is removed next: a ban command still running is ended, with whatever
         * it started (its process group), rather than waited for; it must not land after
         * the flush */
        for (size_t k = 0; k < s->njobs; k++) {
            kill(-s->jobs[k].pid, SIGKILL);
            kill(s->jobs[k].pid, SIGKILL);
            s->jobs[k].killed = true;
        }
    }
    drain(s);
    s->nfailed = 0;
    if (!s->flush) return s->unban ? 1 : 0;     /* the caller unbans one by one */
    for (size_t i = 0; i < s->nj; i++) {
        struct fw_op op;
        memset(&op, 0, sizeof op);
        char **av = argv_subst(s->flush, &op, s->jails[i]);
        int rc = run_argv(av, s->timeout, err, errlen);
        argv_free(av);
        if (rc < 0) return -1;
    }
    return 0;
}

static void cmd_free(void *st)
{
    struct cmd_state *s = st;
    if (!s) return;
    drain(s);
    for (size_t i = 0; i < s->nfailed; i++)
        msg_warn_rl("action-failed", 20, "action command: %s (not retried: stopping)", s->failed[i].err);
    free(s->failed);
    argv_free(s->ban);
    argv_free(s->unban);
    argv_free(s->flush);
    argv_free(s->start);
    for (size_t i = 0; i < s->nj; i++) free(s->jails[i]);
    free(s->jails);
    free(s);
}

static const struct action_ops cmd_ops = {
    .name = "command", .setup = cmd_setup, .apply = cmd_apply, .flush = cmd_flush, .free = cmd_free,
    .poll = cmd_poll, .async = true,
};

static int tmpl(const char *src, char ***out, const char *what, char *err, size_t errlen)
{
    *out = NULL;
    if (!src || !*src) return 0;
    char e2[256];
    int n = argv_split(src, out, e2, sizeof e2);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", what, e2);
        return -1;
    }
    if (n == 0) {
        argv_free(*out);
        *out = NULL;
    }
    return 0;
}

struct action *action_cmd_new(const struct cmd_templates *t, char *err, size_t errlen)
{
    struct cmd_state *s = xcalloc(1, sizeof *s);
    s->timeout = t->timeout > 0 ? t->timeout : 30;
    if (tmpl(t->ban, &s->ban, "actionban", err, errlen) < 0 ||
        tmpl(t->unban, &s->unban, "actionunban", err, errlen) < 0 ||
        tmpl(t->flush, &s->flush, "actionflush", err, errlen) < 0 ||
        tmpl(t->start, &s->start, "actionstart", err, errlen) < 0) {
        cmd_free(s);
        return NULL;
    }
    struct action *a = xcalloc(1, sizeof *a);
    a->ops = &cmd_ops;
    a->st = s;
    a->name = xstrdup("command");
    return a;
}
