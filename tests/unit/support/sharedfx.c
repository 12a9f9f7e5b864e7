/* sharedfx.c -- where the tests find ../shared (SHARED, as tests/run.sh exports it). */
#include "sharedfx.h"

#include <stdio.h>
#include <stdlib.h>

const char *sharedfx_dir(void) {
    const char *s = getenv("SHARED");
    return s && *s ? s : "../shared";
}

char *sharedfx_read(const char *rel, size_t *len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", sharedfx_dir(), rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) { free(buf); buf = NULL; }
    fclose(f);
    if (!buf) return NULL;
    buf[size] = '\0';
    if (len) *len = (size_t)size;
    return buf;
}
