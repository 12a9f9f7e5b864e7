/* http.c -- response building, percent-decoding and query strings (see http.h). */
#include "server/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

void http_response_init(http_response *res) {
    memset(res, 0, sizeof *res);
    res->status = 200;
    res->fd = -1;
}

void http_response_free(http_response *res) {
    free(res->body);
    if (res->fd >= 0) close(res->fd);
    res->body = NULL;
    res->fd = -1;
}

void http_set_header(http_response *res, const char *name, const char *value) {
    for (int i = 0; i < res->n_headers; i++) {
        if (strcasecmp(res->header_names[i], name)) continue;
        snprintf(res->header_values[i], sizeof res->header_values[i], "%s", value);
        return;
    }
    if (res->n_headers == HTTP_MAX_HEADERS) return;
    snprintf(res->header_names[res->n_headers], sizeof res->header_names[0], "%s", name);
    snprintf(res->header_values[res->n_headers], sizeof res->header_values[0], "%s", value);
    res->n_headers++;
}

const char *http_get_header(const http_response *res, const char *name) {
    for (int i = 0; i < res->n_headers; i++)
        if (!strcasecmp(res->header_names[i], name)) return res->header_values[i];
    return NULL;
}

void http_reply(http_response *res, int status, const char *content_type, char *body, size_t len) {
    free(res->body);
    if (res->fd >= 0) close(res->fd);
    res->fd = -1;
    res->status = status;
    res->body = body;
    res->body_len = len;
    snprintf(res->content_type, sizeof res->content_type, "%s", content_type ? content_type : "");
}

void http_reply_text(http_response *res, int status, const char *text) {
    char *copy = strdup(text);
    http_reply(res, status, "text/plain; charset=utf-8", copy, copy ? strlen(copy) : 0);
}

void http_reply_json_text(http_response *res, int status, char *json) {
    http_reply(res, status, "application/json; charset=utf-8", json, json ? strlen(json) : 0);
}

void http_reply_json(http_response *res, int status, cJSON *json) {
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        http_reply_error(res, 500);
        return;
    }
    http_reply_json_text(res, status, text);
}

void http_reply_empty(http_response *res, int status) {
    http_reply(res, status, "application/octet-stream", NULL, 0);
}

const char *http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 416: return "Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

void http_reply_error(http_response *res, int status) {
    char text[80];
    snprintf(text, sizeof text, "%d: %s", status, http_reason(status));
    http_reply_text(res, status, text);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *http_decode(const char *s, size_t len, int plus_space) {
    char *out = malloc(len + 1), *w = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) { free(out); return NULL; }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == '\0') { free(out); return NULL; }
        *w++ = c;
    }
    *w = '\0';
    return out;
}

char *http_query_get(const char *query, const char *name) {
    size_t nlen = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        char *key = http_decode(p, klen, 1);
        int match = key && strlen(key) == nlen && !memcmp(key, name, nlen);
        free(key);
        if (match) return eq ? http_decode(eq + 1, plen - klen - 1, 1) : strdup("");
        p = end ? end + 1 : NULL;
    }
    return NULL;
}

void http_py_float(double v, char *out, size_t cap) {
    if (v != v) { snprintf(out, cap, "NaN"); return; }
    if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308) { snprintf(out, cap, v > 0 ? "Infinity" : "-Infinity"); return; }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) break;
    }
    /* Python writes exponents with at least two digits and integral values with ".0";
     * it switches to exponent form from 1e16 up, as %g does from the precision up. */
    char *e = strchr(out, 'e');
    if (!e) {
        if (!strchr(out, '.') && !strchr(out, 'n') && strlen(out) + 2 < cap) strcat(out, ".0");
        return;
    }
    char mant[64], *exp = e + 1;
    snprintf(mant, sizeof mant, "%.*s", (int)(e - out), out);
    int ex = atoi(exp);
    if (ex >= -4 && ex < 16) {               /* %g chose exponent form only for precision */
        snprintf(out, cap, "%.1f", v);
        if (strtod(out, NULL) != v) snprintf(out, cap, "%.17g", v);
        return;
    }
    snprintf(out, cap, "%se%c%02d", mant, ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
}

/* "bytes=a-b", "bytes=a-", "bytes=-n" against a file of size n; 0 ok, -1 unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *len) {
    if (strncmp(h, "bytes=", 6) || strchr(h, ',')) return -1;
    const char *p = h + 6;
    char *end;
    if (*p == '-') {
        uint64_t n = strtoull(p + 1, &end, 10);
        if (*end || end == p + 1 || n == 0) return -1;
        if (n > size) n = size;
        *from = size - n;
        *len = n;
        return size ? 0 : -1;
    }
    uint64_t a = strtoull(p, &end, 10);
    if (end == p || *end != '-' || a >= size) return -1;
    p = end + 1;
    uint64_t b = size - 1;
    if (*p) {
        b = strtoull(p, &end, 10);
        if (*end || b < a) return -1;
        if (b >= size) b = size - 1;
    }
    *from = a;
    *len = b - a + 1;
    return 0;
}

int http_reply_file(const http_request *req, http_response *res, const char *path, const char *content_type) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return -1;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    http_reply(res, 200, content_type ? content_type : "application/octet-stream", NULL, 0);
    res->fd = fd;
    res->fd_offset = 0;
    res->fd_len = (uint64_t)st.st_size;
    http_set_header(res, "Accept-Ranges", "bytes");
    const char *range = req->header ? req->header(req, "Range") : NULL;
    if (!range) return 0;
    uint64_t from, len;
    char cr[96];
    if (parse_range(range, res->fd_len, &from, &len)) {
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, res->fd_len);
        http_reply_error(res, 416);
        http_set_header(res, "Content-Range", cr);
        return 0;
    }
    snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, from + len - 1, res->fd_len);
    res->status = 206;
    res->fd_offset = from;
    res->fd_len = len;
    http_set_header(res, "Content-Range", cr);
    return 0;
}
