/* msg - see msg.h. Thread-safe: one mutex around the output. */
#include "util/msg.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <pthread.h>

static const char *progname = "mailwarden";
static bool use_syslog, quiet;
static int verbose;
static unsigned long nwarn;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void msg_set_progname(const char *name) { progname = name; }
void msg_set_syslog(bool on) { use_syslog = on; if (on) openlog(progname, LOG_PID, LOG_DAEMON); }
void msg_set_quiet(bool on) { quiet = on; }
void msg_set_verbose(int level) { verbose = level; }
unsigned long msg_warn_count(void) { return nwarn; }

void msg_vlog(enum msg_level lvl, const char *fmt, va_list ap)
{
    static const char *const tag[] = { "debug: ", "", "warning: ", "error: ", "fatal: " };
    static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT };
    if (lvl == MSG_DEBUG && verbose <= 0) return;
    pthread_mutex_lock(&lock);
    if (lvl >= MSG_WARN) nwarn++;
    if (!(quiet && (lvl == MSG_INFO || lvl == MSG_WARN))) {
        va_list ap2;
        va_copy(ap2, ap);
        fprintf(stderr, "%s: %s", progname, tag[lvl]);
        vfprintf(stderr, fmt, ap2);
        fputc('\n', stderr);
        va_end(ap2);
        if (use_syslog) vsyslog(prio[lvl], fmt, ap);
    }
    pthread_mutex_unlock(&lock);
}

#define DEFINE_LEVEL(fn, lvl) \
    void fn(const char *fmt, ...) { va_list ap; va_start(ap, fmt); msg_vlog(lvl, fmt, ap); va_end(ap); }
DEFINE_LEVEL(msg_debug, MSG_DEBUG)
DEFINE_LEVEL(msg_info, MSG_INFO)
DEFINE_LEVEL(msg_warn, MSG_WARN)
DEFINE_LEVEL(msg_error, MSG_ERROR)

void msg_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(MSG_FATAL, fmt, ap);
    va_end(ap);
    exit(2);
}

/* Small fixed table: keys are static strings compared by address, so lookups are cheap. */
#define RL_SLOTS 64
static struct { const char *key; unsigned long n; } rl[RL_SLOTS];

void msg_warn_rl(const char *key, int burst, const char *fmt, ...)
{
    unsigned long n = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < RL_SLOTS; i++) {
        if (rl[i].key == key || rl[i].key == NULL) {
            rl[i].key = key;
            n = ++rl[i].n;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    if (n > (unsigned long)burst + 1) return;
    va_list ap;
    va_start(ap, fmt);
    if (n == (unsigned long)burst + 1)
        msg_warn("%s: further messages of this kind suppressed", key);
    else
        msg_vlog(MSG_WARN, fmt, ap);
    va_end(ap);
}
