/* multipart.c -- see multipart.h. */
#include "server/multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int get_boundary(const char *ct, char *out, size_t cap) {
    if (!ct || strncasecmp(ct, "multipart/form-data", 19)) return -1;
    const char *b = strcasestr(ct, "boundary=");
    if (!b) return -1;
    b += 9;
    size_t n;
    if (*b == '"') {
        b++;
        n = strcspn(b, "\"");
    } else {
        n = strcspn(b, "; \t");
    }
    if (n == 0 || n > 70 || n + 1 > cap) return -1;
    memcpy(out, b, n);
    out[n] = '\0';
    return 0;
}

/* Value of a Content-Disposition parameter (name="x"); 1 when present. */
static int disposition_param(const char *line, size_t len, const char *key, char *out, size_t cap) {
    size_t klen = strlen(key);
    for (size_t i = 0; i + klen + 1 < len; i++) {
        if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == ';') && !strncasecmp(line + i, key, klen) && line[i + klen] == '=') {
            const char *v = line + i + klen + 1, *end = line + len;
            size_t n;
            if (*v == '"') {
                v++;
                const char *q = v;
                while (q < end && *q != '"') q += (*q == '\\' && q + 1 < end) ? 2 : 1;
                n = (size_t)(q - v);
            } else {
                n = strcspn(v, ";");
                if (v + n > end) n = (size_t)(end - v);
            }
            /* copy, dropping backslash escapes */
            size_t w = 0;
            for (size_t k = 0; k < n && w + 1 < cap; k++) {
                if (v[k] == '\\' && k + 1 < n) k++;
                out[w++] = v[k];
            }
            out[w] = '\0';
            return 1;
        }
    }
    return 0;
}

static void parse_headers(const char *h, size_t len, mp_part *p) {
    const char *end = h + len;
    while (h < end) {
        const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
        size_t n = eol ? (size_t)(eol - h) : (size_t)(end - h);
        if (n > 20 && !strncasecmp(h, "Content-Disposition:", 20)) {
            disposition_param(h, n, "name", p->name, sizeof p->name);
            p->has_filename = disposition_param(h, n, "filename", p->filename, sizeof p->filename);
        } else if (n > 13 && !strncasecmp(h, "Content-Type:", 13)) {
            const char *v = h + 13;
            while (*v == ' ') v++;
            snprintf(p->content_type, sizeof p->content_type, "%.*s", (int)(n - (size_t)(v - h)), v);
        }
        h += n + 2;
    }
}

int multipart_parse(const char *content_type, const char *body, size_t len, mp_part *parts, int max) {
    char boundary[80], delim[88];
    if (get_boundary(content_type, boundary, sizeof boundary)) return -1;
    int dlen = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    /* The first delimiter may start the body without the leading CRLF. */
    const char *end = body + len, *p;
    if (len >= (size_t)dlen - 2 && !memcmp(body, delim + 2, (size_t)dlen - 2)) p = body + dlen - 2;
    else if ((p = memmem(body, len, delim, (size_t)dlen))) p += dlen;
    else return -1;
    int n = 0;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') return n;          /* closing delimiter */
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return -1;
        p += 2;
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        const char *data;
        if (hend) data = hend + 4;
        else if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') data = p + 2, hend = p;   /* no headers */
        else return -1;
        const char *next = memmem(data, (size_t)(end - data), delim, (size_t)dlen);
        if (!next) return -1;
        if (n < max) {
            mp_part *part = &parts[n];
            memset(part, 0, sizeof *part);
            parse_headers(p, (size_t)(hend - p), part);
            part->data = data;
            part->len = (size_t)(next - data);
            n++;
        }
        p = next + dlen;
    }
}

const mp_part *multipart_get(const mp_part *parts, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(parts[i].name, name)) return &parts[i];
    return NULL;
}
