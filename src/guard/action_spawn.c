/*
 * action_spawn - what the process-running backends (command, ipset, firewalld) share (see
 * action.h): one posix_spawn helper with a timeout, stdin from a memory file, stdout and
 * stderr captured; the port and protocol lists of a jail; the check and canonical text of
 * an operation's target.
 *
 * Nothing here goes through a shell: argv arrays only. Output capture is bounded (16 MB of
 * stdout, the first line of stderr up to errlen). Errors come back as -1 or a non-zero exit
 * status with a message; nothing is fatal.
 */
#include "guard/action.h"
#include "util/xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SPAWN_OUT_MAX (16u << 20)

int64_t action_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int memfd(const char *name)
{
    return memfd_create(name, MFD_CLOEXEC);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read what the child wrote into fd (from the start), at most max bytes. */
static void read_back(int fd, struct buf *b, size_t max)
{
    if (lseek(fd, 0, SEEK_SET) < 0) return;
    char tmp[8192];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t take = (size_t)r;
        if (got + take > max) take = max - got;
        if (take) buf_append(b, tmp, take);
        got += take;
        if (got >= max) break;
    }
}

pid_t action_spawn_start(char *const *argv, const char *in, size_t inlen, int *outfd, int *errfd, char *err,
                         size_t errlen)
{
    if (outfd) *outfd = -1;
    if (errfd) *errfd = -1;
    if (!argv || !argv[0]) {
        snprintf(err, errlen, "nothing to run");
        return -1;
    }
    int infd = -1, ofd = -1, efd = -1;
    if (in) {
        infd = memfd("mw-stdin");
        if (infd < 0 || write_all(infd, in, inlen) < 0 || lseek(infd, 0, SEEK_SET) < 0) {
            snprintf(err, errlen, "%s: stdin: %s", argv[0], strerror(errno));
            if (infd >= 0) close(infd);
            return -1;
        }
    }
    if (outfd) ofd = memfd("mw-stdout");
    if (errfd) efd = memfd("mw-stderr");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (infd >= 0) posix_spawn_file_actions_adddup2(&fa, infd, 0);
    else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (ofd >= 0) posix_spawn_file_actions_adddup2(&fa, ofd, 1);
    else posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (efd >= 0) posix_spawn_file_actions_adddup2(&fa, efd, 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigset_t all;
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&at, &all);
    /* a process group of its own: a timeout or a stop can end the command with whatever it
     * started (kill(-pid)) */
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (infd >= 0) close(infd);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", argv[0], strerror(rc));
        if (ofd >= 0) close(ofd);
        if (efd >= 0) close(efd);
        return -1;
    }
    if (outfd) *outfd = ofd;
    if (errfd) *errfd = efd;
    return pid;
}

int action_spawn_wait(pid_t pid, const char *name, int64_t deadline, int timeout, int errfd, char *err,
                      size_t errlen)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int status = 0, ret = -1;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            snprintf(err, errlen, "%s: waitpid: %s", name, strerror(errno));
            goto done;
        }
        int64_t left = deadline - action_mono_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(err, errlen, "%s: killed after %d s", name, timeout);
            goto done;
        }
        if (pfd >= 0) {
            struct pollfd p = { .fd = pfd, .events = POLLIN };
            poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        } else {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        }
    }
    if (WIFEXITED(status)) {
        ret = WEXITSTATUS(status);
        if (ret != 0) {
            struct buf e = BUF_INIT(512);
            if (errfd >= 0) read_back(errfd, &e, 400);
            const char *m = buf_cstr(&e);
            while (*m == '\n' || *m == ' ') m++;
            int ml = (int)strcspn(m, "\n");
            snprintf(err, errlen, "%s exited with status %d%s%.*s", name, ret, ml ? ": " : "", ml, m);
            buf_free(&e);
        }
    } else {
        snprintf(err, errlen, "%s killed by signal %d", name, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
done:
    if (pfd >= 0) close(pfd);
    return ret;
}

int action_spawn(char *const *argv, const char *in, size_t inlen, struct buf *out, int timeout,
                 char *err, size_t errlen)
{
    if (timeout <= 0) timeout = 30;
    int outfd = -1, errfd = -1;
    pid_t pid = action_spawn_start(argv, in, inlen, out ? &outfd : NULL, &errfd, err, errlen);
    if (pid < 0) return -1;
    int rc = action_spawn_wait(pid, argv[0], action_mono_ms() + (int64_t)timeout * 1000, timeout, errfd, err,
                               errlen);
    if (rc >= 0 && outfd >= 0) read_back(outfd, out, SPAWN_OUT_MAX);
    if (outfd >= 0) close(outfd);
    if (errfd >= 0) close(errfd);
    return rc;
}

int fw_ports_parse(const char *spec, const char *proto, struct fw_portrange *out, size_t cap,
                   char *err, size_t errlen)
{
    if (!spec) return 0;
    const char *p = spec;
    size_t items = 0;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '\n') p++;
        char tok[64];
        size_t tl = (size_t)(p - s);
        if (tl >= sizeof tok) {
            snprintf(err, errlen, "port '%.*s': too long", (int)(tl > 80 ? 80 : tl), s);
            return -1;
        }
        memcpy(tok, s, tl);
        tok[tl] = 0;
        if (!strcmp(tok, "all") || !strcmp(tok, "0:65535") || !strcmp(tok, "0-65535") ||
            !strcmp(tok, "1:65535") || !strcmp(tok, "1-65535"))
            return 0;
        long v[2] = { -1, -1 };
        char *sep = strpbrk(tok, ":-");
        char *parts[2] = { tok, sep ? sep + 1 : NULL };
        if (sep) *sep = 0;
        for (int k = 0; k < (sep ? 2 : 1); k++) {
            char *end;
            errno = 0;
            long x = strtol(parts[k], &end, 10);
            if (*parts[k] && !*end) {
                if (errno || x < 1 || x > 65535) {
                    snprintf(err, errlen, "port '%s' out of range", parts[k]);
                    return -1;
                }
            } else {
                struct servent *se = getservbyname(parts[k], proto && !strncmp(proto, "udp", 3) ? "udp" : "tcp");
                if (!se) {
                    snprintf(err, errlen, "unknown port name '%s'", parts[k]);
                    return -1;
                }
                x = ntohs((uint16_t)se->s_port);
            }
            v[k] = x;
        }
        if (!sep) v[1] = v[0];
        if (items == cap) {
            snprintf(err, errlen, "more than %zu ports", cap);
            return -1;
        }
        out[items].lo = (uint16_t)(v[0] < v[1] ? v[0] : v[1]);
        out[items].hi = (uint16_t)(v[0] < v[1] ? v[1] : v[0]);
        items++;
    }
    return (int)items;
}

int fw_protos_parse(const char *spec, const char **out, char *err, size_t errlen)
{
    static const char *const known[FW_MAX_PROTOS] = { "tcp", "udp", "sctp", "dccp", "udplite" };
    if (!spec || !*spec) spec = "tcp";
    const char *p = spec;
    int items = 0;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        if (!*p) break;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t') p++;
        size_t l = (size_t)(p - s);
        if (l == 3 && !strncmp(s, "all", 3)) return 0;
        const char *hit = NULL;
        for (size_t k = 0; k < FW_MAX_PROTOS; k++)
            if (strlen(known[k]) == l && !strncmp(s, known[k], l)) hit = known[k];
        if (!hit) {
            snprintf(err, errlen, "unknown protocol '%.*s'", (int)(l > 40 ? 40 : l), s);
            return -1;
        }
        bool dup = false;
        for (int k = 0; k < items; k++)
            if (out[k] == hit) dup = true;
        if (!dup) out[items++] = hit;
    }
    return items;
}

bool fw_target(const struct cidr *in, struct cidr *o, char *buf, size_t cap)
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    *o = *in;
    if (o->addr.family == 6 && o->prefix >= 96 && o->prefix <= 128 && !memcmp(o->addr.b, mapped, 12)) {
        memmove(o->addr.b, o->addr.b + 12, 4);
        memset(o->addr.b + 4, 0, 12);
        o->addr.family = 4;
        o->prefix = (uint8_t)(o->prefix - 96);
    }
    unsigned max = o->addr.family == 4 ? 32 : o->addr.family == 6 ? 128 : 0;
    if (!max || o->prefix == 0 || o->prefix > max) return false;
    ipaddr_mask(&o->addr, o->prefix);
    if (o->prefix == max) ipaddr_format(&o->addr, buf, cap);
    else cidr_format(o, buf, cap);
    return true;
}
