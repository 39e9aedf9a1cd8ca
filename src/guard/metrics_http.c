/* metrics_http - see metrics_http.h. */
#include "guard/metrics_http.h"
#include "util/xalloc.h"
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MHTTP_TEXT_MAX (8u << 20)       /* exposition text at most (it is a few KB) */
#ifndef MW_MHD_SONAME
#define MW_MHD_SONAME "libmicrohttpd.so.12"
#endif

/* libmicrohttpd is loaded when a listener starts, not linked: it pulls in GnuTLS and half a
 * dozen more libraries (~2.4 MB of VmRSS, ~0.4 MB RssAnon at start-up) that a daemon without
 * metrics_listen should not carry. The header gives the types; these are the entry points. */
static struct {
    void *h;
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_run) *run;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
} mhd;

/* Load the library once (kept for the life of the process). 0 or -1 with err. */
static int mhd_load(char *err, size_t errlen)
{
    if (mhd.h) return 0;
    void *h = dlopen(MW_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libmicrohttpd.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "metrics_listen needs libmicrohttpd (%s): %s", MW_MHD_SONAME, dlerror());
        return -1;
    }
#define SYM(f) if (!(*(void **)&mhd.f = dlsym(h, "MHD_" #f))) goto missing
    SYM(start_daemon); SYM(stop_daemon); SYM(run); SYM(get_daemon_info);
    SYM(create_response_from_buffer); SYM(add_response_header); SYM(queue_response); SYM(destroy_response);
#undef SYM
    mhd.h = h;
    return 0;
missing:
    snprintf(err, errlen, "metrics_listen: libmicrohttpd lacks a function: %s", dlerror());
    memset(&mhd, 0, sizeof mhd);
    dlclose(h);
    return -1;
}
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct mhttp {
    struct MHD_Daemon *d;
    int epfd, port;
    mhttp_render_fn fn;
    void *ud;
    struct buf text;                    /* reused between scrapes */
};

int mhttp_parse(const char *spec, bool any, struct sockaddr_storage *ss, socklen_t *len, char *err,
                size_t errlen)
{
    memset(ss, 0, sizeof *ss);
    const char *colon = strrchr(spec, ':');
    if (!colon || !colon[1]) {
        snprintf(err, errlen, "metrics_listen %s: give ADDRESS:PORT (127.0.0.1:9746, [::1]:9746)", spec);
        return -1;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (*end || errno || port < 0 || port > 65535) {
        snprintf(err, errlen, "metrics_listen %s: bad port", spec);
        return -1;
    }
    char host[64];
    size_t hl = (size_t)(colon - spec);
    bool bracket = hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']';
    if (bracket) { spec++; hl -= 2; }
    if (hl == 0 || hl >= sizeof host || (!bracket && memchr(spec, ':', hl))) {
        snprintf(err, errlen, "metrics_listen %s: give an address literal (IPv6 in brackets: [::1]:9746)", spec);
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = 0;
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    bool loop;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof *s4;
        loop = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof *s6;
        loop = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
    } else {
        snprintf(err, errlen, "metrics_listen %s: not an IP address literal (IPv6 in brackets: [::1]:9746)", host);
        return -1;
    }
    if (!loop && !any) {
        snprintf(err, errlen, "metrics_listen %s: not a loopback address; the listener has no authentication "
                 "(set metrics_listen_any = yes to allow it)", host);
        return -1;
    }
    return 0;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code, const char *body, size_t len)
{
    /* MUST_COPY: the text buffer is reused by the next scrape while MHD may still send */
    struct MHD_Response *r = mhd.create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, code == 200 ? CONTENT_TYPE : "text/plain");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED) mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = mhd.queue_response(c, code, r);
    mhd.destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **req_cls)
{
    struct mhttp *h = cls;
    static const char nf[] = "not found: the metrics are at /metrics\n";
    static const char na[] = "method not allowed\n";
    static const char ie[] = "metrics could not be rendered\n";
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, na, sizeof na - 1);
    if (strcmp(url, "/metrics")) return answer(c, MHD_HTTP_NOT_FOUND, nf, sizeof nf - 1);
    buf_reset(&h->text);
    if (h->fn(h->ud, &h->text) < 0) return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, ie, sizeof ie - 1);
    return answer(c, MHD_HTTP_OK, buf_cstr(&h->text), h->text.len);
}

struct mhttp *mhttp_start(const char *spec, bool any, mhttp_render_fn fn, void *ud, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (mhttp_parse(spec, any, &ss, &sl, err, errlen) < 0 || mhd_load(err, errlen) < 0) return NULL;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "metrics_listen %s: socket: %s", spec, strerror(errno));
        return NULL;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, MHTTP_MAX_CONN) < 0) {
        snprintf(err, errlen, "metrics_listen %s: %s", spec, strerror(errno));
        close(fd);
        return NULL;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &bl);
    struct mhttp *h = xcalloc(1, sizeof *h);    /* owned by the caller: mhttp_stop() */
    h->fn = fn;
    h->ud = ud;
    h->text = BUF_INIT(MHTTP_TEXT_MAX);
    h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    /* MHD_USE_EPOLL without a polling thread: everything happens in mhttp_run() */
    h->d = mhd.start_daemon(MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
                            on_request, h,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)MHTTP_MAX_CONN,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MHTTP_TIMEOUT,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "metrics_listen %s: libmicrohttpd could not start", spec);
        close(fd);
        buf_free(&h->text);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = mhd.get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    h->epfd = di ? di->epoll_fd : -1;
    if (h->epfd < 0) {
        snprintf(err, errlen, "metrics_listen %s: libmicrohttpd has no epoll descriptor", spec);
        mhttp_stop(h);
        return NULL;
    }
    return h;
}

int mhttp_fd(const struct mhttp *h) { return h ? h->epfd : -1; }
int mhttp_port(const struct mhttp *h) { return h ? h->port : -1; }

void mhttp_run(struct mhttp *h)
{
    if (h) mhd.run(h->d);
}

void mhttp_stop(struct mhttp *h)
{
    if (!h) return;
    mhd.stop_daemon(h->d);              /* closes the listening socket too */
    buf_free(&h->text);
    free(h);
}
