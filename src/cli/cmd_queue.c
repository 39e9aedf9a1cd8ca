/*
 * cmd_queue - `mailwarden queue`: what is stuck in the Postfix queue and why.
 *
 * Input: the output of `postqueue -j`, run here with posix_spawnp (argv array, no shell;
 * found in PATH, else /usr/sbin/postqueue), or saved `postqueue -j` / `mailq` /
 * `postqueue -p` output from a file or stdin (--from-file F|-). The report itself is
 * report/queue.c. Nothing here writes to the queue.
 *
 * Lines are read with a bound of CMD_QUEUE_MAX_LINE bytes (a `postqueue -j` line holds every
 * recipient of a message, so the log reader's 64 KiB limit is too small); longer lines are
 * cut, warned about and then fail to parse like any other bad line.
 * Exit: 0 report written (bad lines are warnings), 1 input unreadable or postqueue failed,
 * 2 usage.
 */
#include "cli/cli.h"
#include "report/queue.h"
#include "util/buf.h"
#include "util/msg.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CMD_QUEUE_MAX_LINE (16u << 20)
#define CMD_QUEUE_MAX_TOP 100000u

extern char **environ;

static const char usage[] =
    "usage: mailwarden queue [--json] [--from-file F|-] [--top N] [--now T]\n"
    "\n"
    "Shows what is stuck in the Postfix queue and why: messages and bytes by delay reason\n"
    "(normalised, so the same problem with different IPs/numbers is one group), by recipient\n"
    "domain, by age (qshape buckets), by sender and by queue, and the oldest messages. For\n"
    "each reason and domain it prints the postsuper command that would delete the messages\n"
    "whose recipients are all in that group; it never runs it and never modifies the queue.\n"
    "\n"
    "  --from-file F   read saved `postqueue -j`, `mailq` or `postqueue -p` output from F\n"
    "                  ('-' = stdin) instead of running `postqueue -j`\n"
    "  --json          one JSON document instead of the text report\n"
    "  --top N         list the N oldest messages (default 10)\n"
    "  --now T         the time ages are measured against (default: now); also the\n"
    "                  reference for the year-less arrival times of mailq text\n"
    "  -h, --help      this help\n"
    "\n"
    "Exit status: 0 report written (unparsable lines are warnings), 1 postqueue could not be\n"
    "run or failed, or the input could not be read, 2 usage error.\n";

/* Feed every line of in to q. Returns 0, or -1 on a read error. */
static int read_all(FILE *in, struct queue *q)
{
    struct buf line = BUF_INIT(CMD_QUEUE_MAX_LINE);
    unsigned long lineno = 0;
    bool cut = false, any = false;
    int c;
    for (;;) {
        c = getc_unlocked(in);
        if (c != EOF && c != '\n') {
            any = true;
            if (buf_putc(&line, (char)c) < 0) cut = true;
            continue;
        }
        if (c == EOF && !any) break;
        lineno++;
        if (cut)
            msg_warn_rl("queue: long line", 5, "%s:%lu: line longer than %u bytes cut", q->name,
                        lineno, CMD_QUEUE_MAX_LINE);
        queue_feed(q, buf_str(&line), lineno);
        buf_reset(&line);
        cut = any = false;
        if (c == EOF) break;
    }
    buf_free(&line);
    return ferror(in) ? -1 : 0;
}

/* Start `postqueue -j` with its stdout on a pipe; returns the read end or NULL. */
static FILE *spawn_postqueue(pid_t *pid)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        msg_error("pipe: %s", strerror(errno));
        return NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    char a0[] = "postqueue", a1[] = "-j";
    char *argv[] = { a0, a1, NULL };
    int rc = posix_spawnp(pid, "postqueue", &fa, NULL, argv, environ);
    if (rc == ENOENT)   /* /usr/sbin is often not in an ordinary user's PATH */
        rc = posix_spawn(pid, "/usr/sbin/postqueue", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        msg_error("cannot run postqueue -j: %s%s", strerror(rc),
                  rc == ENOENT ? " (is Postfix installed? use --from-file for saved output)" : "");
        return NULL;
    }
    FILE *f = fdopen(fds[0], "r");
    if (!f) {
        msg_error("fdopen: %s", strerror(errno));
        close(fds[0]);
    }
    return f;
}

static int wait_postqueue(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            msg_error("waitpid postqueue: %s", strerror(errno));
            return -1;
        }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFEXITED(st)) msg_error("postqueue -j failed (exit status %d)", WEXITSTATUS(st));
    else msg_error("postqueue -j was killed by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return -1;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "from-file", required_argument, NULL, 'f' },
        { "top", required_argument, NULL, 't' },
        { "now", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool json = false;
    const char *from = NULL;
    uint64_t top = 10;
    struct timewin w;
    timewin_init(&w);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'f': from = optarg; break;
        case 't':
            if (!str_to_u64(str_c(optarg), &top) || top > CMD_QUEUE_MAX_TOP)
                return cli_usage_error("queue", "--top wants a number from 0 to %u, not '%s'",
                                       CMD_QUEUE_MAX_TOP, optarg);
            break;
        case 'n':
            if (timewin_set(&w, "now", optarg) < 0) return EXIT_USAGE;
            break;
        case 'h':
            cli_help(&cmd_queue, stdout);
            return EXIT_OK;
        case ':':
            return cli_usage_error("queue", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("queue", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("queue", "unexpected argument '%s' (use --from-file F)", argv[optind]);
    if (timewin_finish(&w) < 0) return EXIT_USAGE;

    FILE *in;
    pid_t pid = -1;
    const char *name;
    if (!from) {
        name = "postqueue -j";
        if (!(in = spawn_postqueue(&pid))) return EXIT_FAIL;
    } else if (strcmp(from, "-") == 0) {
        name = "(stdin)";
        in = stdin;
    } else {
        name = from;
        if (!(in = fopen(from, "r"))) {
            msg_error("%s: %s", from, strerror(errno));
            return EXIT_FAIL;
        }
    }

    struct queue q;
    queue_init(&q, name, w.now);
    int rc = read_all(in, &q);
    if (rc < 0) msg_error("%s: read error: %s", name, strerror(errno));
    if (in != stdin) fclose(in);
    if (pid > 0 && wait_postqueue(pid) < 0) rc = -1;
    if (rc < 0) {
        queue_free(&q);
        return EXIT_FAIL;
    }
    queue_finish(&q);
    if (json) queue_report_json(&q, stdout, (unsigned)top);
    else queue_report_text(&q, stdout, (unsigned)top);
    queue_free(&q);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        msg_error("writing the report: %s", strerror(errno));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

const struct command cmd_queue = {
    "queue", run, "what is stuck in the Postfix queue and why", usage,
};
