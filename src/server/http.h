/* http.h -- one request in, one response out: the types every route handler sees.
 *
 * Handlers never touch libmicrohttpd. They get the method, the raw (still
 * percent-encoded) path, the raw query string, the whole body and a header lookup, and
 * fill an http_response: a status, a body (memory or an open file) and extra headers.
 * server.c turns that into an MHD response and applies the middleware around it.
 */
#ifndef CI_SERVER_HTTP_H
#define CI_SERVER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define HTTP_MAX_HEADERS 12
#define HTTP_MAX_PARAMS 4

typedef struct http_request {
    const char *method;          /* GET (also for HEAD), POST, ... */
    int is_head;
    const char *path;            /* raw path without the query, percent-encoded */
    const char *query;           /* raw query string ("" when none) */
    const char *body;
    size_t body_len;
    char *params[HTTP_MAX_PARAMS];   /* route parameters, percent-decoded */
    int n_params;
    /* Header lookup (case-insensitive); NULL when absent. */
    const char *(*header)(const struct http_request *req, const char *name);
    void *conn;                  /* the server's connection handle */
} http_request;

/* WebSocket upgrades: the route hands over a callback that gets the raw socket. */
typedef void (*http_upgrade_fn)(void *ud, int fd, const char *extra_in, size_t extra_len, void *upgrade_handle);

typedef struct http_response {
    int status;
    char *body;                  /* malloc'd, owned by the response */
    size_t body_len;
    int fd;                      /* >= 0: send this open file instead of body */
    uint64_t fd_offset, fd_len;
    char content_type[128];
    char header_names[HTTP_MAX_HEADERS][48];
    char header_values[HTTP_MAX_HEADERS][512];
    int n_headers;
    http_upgrade_fn upgrade;     /* status 101: called with the socket */
    void *upgrade_ud;
    /* Called once the response has left (or the connection died), on any thread. */
    void (*on_sent)(void *ud);
    void *on_sent_ud;
} http_response;

void http_response_init(http_response *res);
void http_response_free(http_response *res);

void http_set_header(http_response *res, const char *name, const char *value);
const char *http_get_header(const http_response *res, const char *name);
/* Takes ownership of body (malloc'd). */
void http_reply(http_response *res, int status, const char *content_type, char *body, size_t len);
void http_reply_text(http_response *res, int status, const char *text);
void http_reply_json(http_response *res, int status, cJSON *json);  /* consumes json */
void http_reply_json_text(http_response *res, int status, char *json); /* takes ownership */
void http_reply_empty(http_response *res, int status);
/* Sends a regular file (single byte ranges honoured: 206, or 416). Returns 0, or -1
 * when the file cannot be opened (nothing is set then). */
int http_reply_file(const http_request *req, http_response *res, const char *path, const char *content_type);
/* ComfyUI's aiohttp default error bodies: "404: Not Found" etc. */
void http_reply_error(http_response *res, int status);
const char *http_reason(int status);

/* A double as Python's repr prints it: shortest round-trip digits, "8.0" for integral
 * values, "1e-05" style exponents. */
void http_py_float(double v, char *out, size_t cap);

/* Percent-decoding. Returns a malloc'd string, or NULL for a malformed escape or a NUL
 * byte. plus_space: '+' means ' ' (query strings). */
char *http_decode(const char *s, size_t len, int plus_space);
/* The decoded value of a query parameter (first occurrence), malloc'd; NULL if absent. */
char *http_query_get(const char *query, const char *name);

#endif
