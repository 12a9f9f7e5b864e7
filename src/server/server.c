/* server.c -- libmicrohttpd glue and the middleware of ComfyUI's server (see server.h).
 *
 * One MHD daemon per listening socket, each with its own thread pool. A request's body
 * is gathered in memory up to --max-upload-size (a larger Content-Length is answered 413
 * before the body is read; a larger chunked body is drained and answered 413). The raw
 * URI comes from MHD's URI log callback so routes see the path exactly as sent.
 *
 * Middleware, in ComfyUI's order around the router: cache headers, then either CORS
 * (--enable-cors-header) or the same-origin guard, then the CSP of --disable-api-nodes.
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "server/http.h"
#include "server/listen.h"
#include "server/router.h"
#include "server/ws_hub.h"

static struct {
    server_options opts;
    struct MHD_Daemon *daemons[LISTEN_MAX];
    int n_daemons;
    uint64_t max_body;
    char *tls_key, *tls_cert;
    char describe[1024];
} srv;

const server_options *server_opts(void) { return &srv.opts; }
const char *server_describe(void) { return srv.describe; }

typedef struct conn_ctx {
    char *uri;
    char *body;
    size_t len, cap;
    int headers_seen;        /* the first access-handler call has happened */
    int too_large;
    void (*on_sent)(void *ud);   /* the response's after-send hook */
    void *on_sent_ud;
} conn_ctx;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls, (void)c;
    conn_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx) ctx->uri = strdup(uri ? uri : "/");
    return ctx;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    conn_ctx *ctx = *con_cls;
    if (!ctx) return;
    if (ctx->on_sent) ctx->on_sent(ctx->on_sent_ud);
    free(ctx->uri);
    free(ctx->body);
    free(ctx);
    *con_cls = NULL;
}

/* MHD must not decode the URL: routes match on the raw path (see router.h). */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    return strlen(s);
}

static const char *req_header(const http_request *req, const char *name) {
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* ---- middleware ---- */

static int ends_with_ci(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    return n >= k && !strncasecmp(s + n - k, suffix, k);
}

static void cache_headers(const http_request *req, http_response *res) {
    if (http_get_header(res, "Cache-Control")) return;
    const char *path = req->path;
    size_t n = strlen(path);
    const char *last = strrchr(path, '/');
    last = last ? last + 1 : path;
    if ((n >= 3 && !strcmp(path + n - 3, ".js")) || (n >= 4 && !strcmp(path + n - 4, ".css")) ||
        (!strncmp(last, "index", 5) && n >= 5 && !strcmp(path + n - 5, ".json"))) {
        http_set_header(res, "Cache-Control", "no-store");
        return;
    }
    static const char *const images[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
        if (!ends_with_ci(path, n, images[i])) continue;
        int s = res->status;
        if ((s >= 200 && s <= 206) || s == 301 || s == 308) http_set_header(res, "Cache-Control", "public, max-age=86400");
        else if (s == 404) http_set_header(res, "Cache-Control", "public, max-age=3600");
        else if (s == 302 || s == 303 || s == 307) http_set_header(res, "Cache-Control", "no-cache");
        return;
    }
}

static int is_loopback_host(const char *hostname) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(hostname, NULL, &hints, &ai)) return 0;
    int loop = 1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            loop &= (ntohl(((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr) >> 24) == 127;
        } else if (a->ai_family == AF_INET6) {
            loop &= IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr);
        }
    }
    freeaddrinfo(ai);
    return loop;
}

/* Splits "host:port" / "[v6]:port" into host and port ("" when none); lower-cased. */
static void split_hostport(const char *in, char *host, size_t hcap, char *port, size_t pcap) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", in);
    for (char *p = buf; *p; p++) *p = (char)tolower((unsigned char)*p);
    port[0] = '\0';
    char *colon = NULL;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (close && close[1] == ':') colon = close + 1;
    } else if (strchr(buf, ':') == strrchr(buf, ':')) {
        colon = strchr(buf, ':');
    }
    if (colon) {
        snprintf(port, pcap, "%s", colon + 1);
        *colon = '\0';
    }
    if (snprintf(host, hcap, "%s", buf) >= (int)hcap) host[0] = '\0';
}

/* ComfyUI's guard against cross-site requests to a server on loopback (1.3). */
static int same_origin_ok(const http_request *req) {
    const char *site = req_header(req, "Sec-Fetch-Site");
    if (site && !strcasecmp(site, "cross-site")) return 0;
    const char *host = req_header(req, "Host"), *origin = req_header(req, "Origin");
    if (!host || !origin) return 1;
    char hhost[256], hport[16], ohost[256], oport[16];
    split_hostport(host, hhost, sizeof hhost, hport, sizeof hport);
    char bare[256];
    snprintf(bare, sizeof bare, "%s", hhost);
    if (bare[0] == '[') {
        bare[strcspn(bare, "]")] = '\0';
        memmove(bare, bare + 1, strlen(bare));
    }
    if (!is_loopback_host(bare)) return 1;
    const char *netloc = strstr(origin, "://");
    netloc = netloc ? netloc + 3 : origin;
    char nl[512];
    snprintf(nl, sizeof nl, "%.*s", (int)strcspn(netloc, "/?#"), netloc);
    split_hostport(nl, ohost, sizeof ohost, oport, sizeof oport);
    if (strcmp(hhost, ohost)) return 0;
    return !hport[0] || !oport[0] || !strcmp(hport, oport);
}

static void handle(http_request *req, http_response *res) {
    const server_options *o = &srv.opts;
    int cors = o->cors_origin && o->cors_origin[0];
    if (!cors && !same_origin_ok(req)) {
        log_warn("refused cross-origin %s %s (Origin: %s)", req->method, req->path,
                 req_header(req, "Origin") ? req_header(req, "Origin") : "-");
        http_reply_empty(res, 403);
    } else if (!strcmp(req->method, "OPTIONS")) {
        http_reply_empty(res, 200);
    } else {
        router_dispatch(req, res);
    }
    cache_headers(req, res);
    if (cors) {
        http_set_header(res, "Access-Control-Allow-Origin", o->cors_origin);
        http_set_header(res, "Access-Control-Allow-Methods", "POST, GET, DELETE, PUT, OPTIONS, PATCH");
        http_set_header(res, "Access-Control-Allow-Headers", "Content-Type, Authorization");
        http_set_header(res, "Access-Control-Allow-Credentials", "true");
    }
    if (o->disable_api_nodes)
        http_set_header(res, "Content-Security-Policy",
                        "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
                        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; "
                        "connect-src 'self' data:; frame-src 'self'; object-src 'self';");
}

/* ---- MHD plumbing ---- */

typedef struct upgrade_ctx {
    http_upgrade_fn fn;
    void *ud;
} upgrade_ctx;

static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in, size_t extra_in_size,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
    (void)c, (void)con_cls;
    upgrade_ctx u = *(upgrade_ctx *)cls;
    free(cls);
    u.fn(u.ud, sock, extra_in, extra_in_size, urh);
}

static struct MHD_Response *to_mhd(http_response *res) {
    struct MHD_Response *r;
    if (res->status == 101 && res->upgrade) {
        upgrade_ctx *u = malloc(sizeof *u);      /* freed by on_upgrade */
        if (!u) return NULL;
        u->fn = res->upgrade;
        u->ud = res->upgrade_ud;
        r = MHD_create_response_for_upgrade(on_upgrade, u);
        if (!r) { free(u); return NULL; }
        MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    } else if (res->fd >= 0) {
        r = MHD_create_response_from_fd_at_offset64(res->fd_len, res->fd, res->fd_offset);
        if (r) res->fd = -1;      /* MHD closes it */
    } else {
        r = MHD_create_response_from_buffer(res->body_len, res->body ? res->body : (char *)"", res->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (r) res->body = NULL;
    }
    if (!r) return NULL;
    if (res->content_type[0]) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    for (int i = 0; i < res->n_headers; i++) MHD_add_response_header(r, res->header_names[i], res->header_values[i]);
    return r;
}

static enum MHD_Result send_response(struct MHD_Connection *c, http_response *res) {
    struct MHD_Response *r = to_mhd(res);
    http_response_free(res);
    if (!r) return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status) {
    http_response res;
    http_response_init(&res);
    http_reply_error(&res, status);
    return send_response(c, &res);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls) {
    (void)cls, (void)url, (void)version;
    conn_ctx *ctx = *con_cls;
    if (!ctx || !ctx->uri) return MHD_NO;

    if (upload_data && *upload_data_size) {           /* a piece of the body */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (ctx->too_large || ctx->len + n > srv.max_body) {
            ctx->too_large = 1;
            free(ctx->body);
            ctx->body = NULL;
            return MHD_YES;
        }
        if (ctx->len + n + 1 > ctx->cap) {
            size_t cap = ctx->cap ? ctx->cap : 65536;
            while (cap < ctx->len + n + 1) cap *= 2;
            char *grown = realloc(ctx->body, cap);
            if (!grown) return MHD_NO;
            ctx->body = grown;
            ctx->cap = cap;
        }
        memcpy(ctx->body + ctx->len, upload_data, n);
        ctx->len += n;
        ctx->body[ctx->len] = '\0';
        return MHD_YES;
    }
    if (!ctx->headers_seen) {
        /* First call: refuse an announced oversized body before reading it. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        ctx->headers_seen = 1;
        if (cl && strtoull(cl, NULL, 10) > srv.max_body) return send_error(c, 413);
        return MHD_YES;
    }
    if (ctx->too_large) return send_error(c, 413);

    char *q = strchr(ctx->uri, '?');
    if (q) *q = '\0';
    http_request req = {
        .method = strcmp(method, "HEAD") ? method : "GET",
        .is_head = !strcmp(method, "HEAD"),
        .path = ctx->uri,
        .query = q ? q + 1 : "",
        .body = ctx->body ? ctx->body : "",
        .body_len = ctx->len,
        .header = req_header,
        .conn = c,
    };
    http_response res;
    http_response_init(&res);
    handle(&req, &res);
    ctx->on_sent = res.on_sent;
    ctx->on_sent_ud = res.on_sent_ud;
    log_debug("%s %s%s%s -> %d", method, ctx->uri, q ? "?" : "", q ? q + 1 : "", res.status);
    return send_response(c, &res);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("http: %s", line);
}

static char *read_file(const char *path, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 && n < (1 << 24) ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        snprintf(err, errlen, "cannot read '%s'", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int server_start(const server_options *opts, char *err, size_t errlen) {
    memset(&srv, 0, sizeof srv);
    srv.opts = *opts;
    srv.max_body = (uint64_t)(opts->max_upload_mb * 1048576.0);
    int fds[LISTEN_MAX];
    int n = listen_inherited(fds, LISTEN_MAX);
    if (n > 0) log_info("using %d socket(s) passed by systemd", n);
    else if ((n = listen_open(opts->listen, opts->port, fds, LISTEN_MAX, err, errlen)) < 0) return -1;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    int tls = opts->tls_key_file && opts->tls_key_file[0] && opts->tls_cert_file && opts->tls_cert_file[0];
    if (tls) {
        if (!(srv.tls_key = read_file(opts->tls_key_file, err, errlen)) ||
            !(srv.tls_cert = read_file(opts->tls_cert_file, err, errlen))) {
            for (int i = 0; i < n; i++) close(fds[i]);
            return -1;
        }
        flags |= MHD_USE_TLS;
    }
    ws_hub_start();
    for (int i = 0; i < n; i++) {
        struct MHD_OptionItem tls_opts[] = {
            {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, srv.tls_key},
            {MHD_OPTION_HTTPS_MEM_CERT, 0, srv.tls_cert},
            {MHD_OPTION_END, 0, NULL},
        };
        srv.daemons[i] = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, NULL,
            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
            MHD_OPTION_LISTEN_SOCKET, fds[i],
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(opts->threads > 0 ? opts->threads : 4),
            MHD_OPTION_CONNECTION_LIMIT, 1000u,
            MHD_OPTION_CONNECTION_TIMEOUT, 300u,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
            MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
            MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
            MHD_OPTION_ARRAY, tls_opts,
            MHD_OPTION_END);
        char where[128];
        listen_describe(fds[i], where, sizeof where);
        if (!srv.daemons[i]) {
            snprintf(err, errlen, "cannot start the HTTP server on %s", where);
            for (int k = i; k < n; k++) close(fds[k]);
            server_stop();
            return -1;
        }
        srv.n_daemons++;
        size_t len = strlen(srv.describe);
        snprintf(srv.describe + len, sizeof srv.describe - len, "%s%s://%s", len ? ", " : "", tls ? "https" : "http", where);
    }
    return 0;
}

void server_stop(void) {
    for (int i = 0; i < srv.n_daemons; i++) MHD_quiesce_daemon(srv.daemons[i]);
    ws_hub_stop();
    for (int i = 0; i < srv.n_daemons; i++) MHD_stop_daemon(srv.daemons[i]);
    srv.n_daemons = 0;
    free(srv.tls_key);
    free(srv.tls_cert);
    srv.tls_key = srv.tls_cert = NULL;
}
