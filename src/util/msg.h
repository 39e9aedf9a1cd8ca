/*
 * msg - diagnostics. One place decides where messages go (stderr by default, syslog for the
 * daemon) and how often a message that hostile input can trigger may repeat.
 * Formats are always literals in our code; log data is passed as "%s"/"%.*s" arguments.
 */
#ifndef MW_MSG_H
#define MW_MSG_H
#include <stdarg.h>
#include <stdbool.h>

enum msg_level { MSG_DEBUG, MSG_INFO, MSG_WARN, MSG_ERROR, MSG_FATAL };

void msg_set_progname(const char *name);
void msg_set_syslog(bool on);          /* daemon: send to syslog(3) as well as stderr */
void msg_set_quiet(bool on);           /* suppress info/warn (errors still print) */
void msg_set_verbose(int level);       /* >0 enables debug */

void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints and exits(2). Only main and configuration loading may call it. */
void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void msg_vlog(enum msg_level lvl, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * Rate-limited warning: at most `burst` messages per `key` (a static string naming the
 * condition), then one "(further messages suppressed)" note. Counts are kept per key.
 */
void msg_warn_rl(const char *key, int burst, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Number of messages issued at level >= MSG_WARN so far (for exit codes). */
unsigned long msg_warn_count(void);

#endif
