/*
 * metrics_http - the optional `/metrics` listener (metrics_listen = 127.0.0.1:9746), served
 * by libmicrohttpd.
 *
 * Threading: none of its own. MHD runs in external epoll mode: mhttp_fd() is MHD's epoll
 * descriptor, which the daemon adds to its own epoll set and answers with mhttp_run() (and
 * once per tick, so that idle connections time out). The render callback therefore runs in
 * the daemon's loop, between two turns, and reads the live state without locks.
 *
 * Requests: GET (and HEAD) /metrics -> 200, text/plain; version=0.0.4; other paths -> 404;
 * other methods -> 405 with `Allow: GET, HEAD`. At most MHTTP_MAX_CONN connections,
 * MHTTP_TIMEOUT seconds idle each; the request size is bounded by MHD's memory limit.
 *
 * Address: an address literal and a port: "127.0.0.1:9746", "[::1]:9746"; port 0 takes
 * any free port (mhttp_port() tells which). Only loopback addresses (127.0.0.0/8, ::1) are
 * accepted unless `any` (metrics_listen_any = yes): metrics name the jails and how an
 * attack goes, and the listener has no authentication.
 *
 * Ownership: mhttp_start returns an object freed by mhttp_stop (which closes the socket).
 * Errors: mhttp_parse and mhttp_start return -1/NULL with a message.
 */
#ifndef MW_METRICS_HTTP_H
#define MW_METRICS_HTTP_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "util/buf.h"

#define MHTTP_MAX_CONN 16
#define MHTTP_TIMEOUT 10

/* Fill out (already empty) with the exposition text; 0, or -1 to answer 500. */
typedef int (*mhttp_render_fn)(void *ud, struct buf *out);

struct mhttp;

/* Parse and check a metrics_listen value. 0 or -1 with err. */
int mhttp_parse(const char *spec, bool any, struct sockaddr_storage *ss, socklen_t *len, char *err,
                size_t errlen);
struct mhttp *mhttp_start(const char *spec, bool any, mhttp_render_fn fn, void *ud, char *err, size_t errlen);
int mhttp_fd(const struct mhttp *h);
void mhttp_run(struct mhttp *h);
int mhttp_port(const struct mhttp *h);
void mhttp_stop(struct mhttp *h);

#endif
