/*
 * metrics - a small metrics registry and its Prometheus text exposition (format 0.0.4), plus
 * the guard's own metric set on top of it (gmetrics_*).
 *
 * Registry (mx_*): families (name, help, counter|gauge|histogram, at most one label name);
 * each family holds series keyed by the label's value. Label values are copied, cut to
 * MX_LABEL_MAX bytes at a UTF-8 boundary, with invalid UTF-8 and control bytes other than
 * newline replaced by '?'; the writer escapes \ " and newline as the format requires. A
 * family may cap its distinct label values (`cap`): values beyond it are counted in one
 * series labelled MX_OTHER, so attacker-chosen values (program names from log lines) cannot
 * grow the registry. Output is deterministic: families in registration order, series
 * sorted by label value.
 *
 * The guard's set (gmetrics_*): per jail lines, failures, ignored failures, bans (counters),
 * current bans and tracked entries (gauges); unparsed lines per program (capped at
 * GM_PROGRAM_CAP); per action runs as a histogram of seconds and errors; tracker evictions;
 * start time; build info. The core and the action queues keep their own plain counters (no
 * metrics code on the hot path); gmetrics_sample() adds what changed since the last sample,
 * so counters stay monotonic across `reload` (which rebuilds the core: call
 * gmetrics_retire() before freeing the old one).
 *
 * Ownership: the registry owns families and series; gmetrics owns its registry. Not
 * thread-safe: the daemon calls everything, the HTTP listener included, from its one loop.
 * Errors: none at run time (allocation failure aborts via xalloc); mx_write returns -1 when
 * the output buffer's maximum is reached.
 */
#ifndef MW_METRICS_H
#define MW_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"
#include "util/str.h"

#define MX_LABEL_MAX 128
#define MX_OTHER "other"
#define MX_MAX_BUCKETS 16

enum mx_type { MX_COUNTER, MX_GAUGE, MX_HISTOGRAM };

struct mx;
struct mx_fam;
struct mx_series;

struct mx *mx_new(void);
void mx_free(struct mx *m);
/* A family. `label` NULL: one series without labels. cap 0: no cap. Histogram bucket
 * upper bounds (ascending, +Inf implied) are copied; at most MX_MAX_BUCKETS. The strings
 * name and help must outlive the registry (string literals). */
struct mx_fam *mx_family(struct mx *m, const char *name, const char *help, enum mx_type t, const char *label,
                         size_t cap);
struct mx_fam *mx_histogram(struct mx *m, const char *name, const char *help, const char *label,
                            const double *bounds, size_t nbounds);
/* The series for a label value (created at 0; MX_OTHER's when the cap is reached). For a
 * family without label the value is ignored. Never NULL. */
struct mx_series *mx_get(struct mx_fam *f, struct str value);
void mx_add(struct mx_series *s, double v);
void mx_set(struct mx_series *s, double v);
void mx_observe(struct mx_fam *f, struct mx_series *s, double v);   /* histogram */
/* Drop every series (gauges rebuilt at each sample: a removed jail's disappear). */
void mx_clear(struct mx_fam *f);
size_t mx_count(const struct mx_fam *f);
/* Append the exposition text of every family. 0, or -1 when out is full. */
int mx_write(const struct mx *m, struct buf *out);

/* ---- the guard's metrics ---- */
#define GM_PROGRAM_CAP 64

struct core;
struct gmetrics;

struct gmetrics *gmetrics_new(int64_t start_time, const char *version);
void gmetrics_free(struct gmetrics *gm);
struct mx *gmetrics_registry(struct gmetrics *gm);
/* Bring the registry up to date with core (and the count of permanent blocks). */
void gmetrics_sample(struct gmetrics *gm, struct core *c, size_t nblocks);
/* Take the last changes of a core about to be freed; the next core starts from zero. */
void gmetrics_retire(struct gmetrics *gm, struct core *c);
/* A line no parser modelled, with its syslog program (empty when there is no envelope). */
void gmetrics_unparsed(struct gmetrics *gm, struct str program);
/* One run of action `name`'s queue: its duration and whether it failed. */
void gmetrics_action(struct gmetrics *gm, const char *name, double seconds, int failed);
/* Sample, then render the exposition text into out (reset first). 0 or -1. */
int gmetrics_render(struct gmetrics *gm, struct core *c, size_t nblocks, struct buf *out);
/* Write the text to path atomically (path.tmp, fsync, rename), mode 0644. 0 or -1 with err. */
int gmetrics_write_file(const char *path, const struct buf *text, char *err, size_t errlen);

#endif
