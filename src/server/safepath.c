/* safepath.c -- see safepath.h. */
#include "server/safepath.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* realpath of the longest existing prefix of path, with the rest appended. */
static int resolve(const char *path, char *out) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    char rest[PATH_MAX] = "";
    for (;;) {
        if (realpath(tmp, out)) break;
        char *slash = strrchr(tmp, '/');
        if (!slash || slash == tmp) return -1;
        char joined[PATH_MAX];
        snprintf(joined, sizeof joined, "%s%s", slash, rest);
        snprintf(rest, sizeof rest, "%s", joined);
        *slash = '\0';
    }
    size_t n = strlen(out);
    if (n + strlen(rest) >= PATH_MAX) return -1;
    strcat(out, rest);
    return 0;
}

int safepath_inside(const char *root, const char *path) {
    char r[PATH_MAX], p[PATH_MAX];
    if (!realpath(root, r) || resolve(path, p)) return 0;
    size_t n = strlen(r);
    if (n == 1) return 1;            /* root is "/" */
    return !strncmp(p, r, n) && (p[n] == '\0' || p[n] == '/');
}

int safepath_join(const char *root, const char *rel, char *out, size_t cap) {
    out[0] = '\0';
    if (rel[0] == '/') return -1;
    for (const char *p = rel; *p;) {
        size_t k = strcspn(p, "/");
        if (k == 2 && p[0] == '.' && p[1] == '.') return -1;
        p += k;
        while (*p == '/') p++;
    }
    char joined[PATH_MAX];
    if (snprintf(joined, sizeof joined, "%s%s%s", root, rel[0] ? "/" : "", rel) >= (int)sizeof joined) return -1;
    if (!safepath_inside(root, joined) || strlen(joined) >= cap) return -1;
    memcpy(out, joined, strlen(joined) + 1);
    return 0;
}
