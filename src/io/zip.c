/* zip.c -- see zip.h.
 *
 * Reading goes end -> central directory -> local headers: find the end-of-central-
 * directory record in the last 64 KiB, follow the zip64 locator when a field is
 * saturated, then walk the central directory. Each entry's data offset comes from
 * its local header (whose name/extra lengths may differ from the central copy).
 */
#include "io/zip.h"

#include <stdlib.h>
#include <string.h>

#include "io/ckpt_internal.h"

static uint64_t zrd(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Bytes [off, off + n) lie inside the buffer. */
static int zin(const zip_archive *z, uint64_t off, uint64_t n) {
    return off <= z->len && n <= z->len - off;
}

static int zip_find_eocd(const zip_archive *z, uint64_t *cd_off, uint64_t *cd_size,
                         uint64_t *count, char *err) {
    if (z->len < 22) return io_fail(err, "zip archive too short");
    size_t lo = z->len > 22 + 65535 ? z->len - 22 - 65535 : 0;
    size_t at = z->len - 22;
    while (memcmp(z->buf + at, "PK\5\6", 4) != 0) {
        if (at == lo) return io_fail(err, "zip end-of-central-directory record not found "
                                          "(truncated file?)");
        at--;
    }
    const uint8_t *e = z->buf + at;
    *count = zrd(e + 10, 2);
    *cd_size = zrd(e + 12, 4);
    *cd_off = zrd(e + 16, 4);
    if (*count != 0xffff && *cd_size != 0xffffffff && *cd_off != 0xffffffff) return 0;
    /* zip64: locator just before the record points at the zip64 end record. */
    if (at < 20 || memcmp(z->buf + at - 20, "PK\6\7", 4) != 0)
        return io_fail(err, "zip64 end-of-central-directory locator missing");
    uint64_t off64 = zrd(z->buf + at - 20 + 8, 8);
    if (!zin(z, off64, 56) || memcmp(z->buf + off64, "PK\6\6", 4) != 0)
        return io_fail(err, "zip64 end-of-central-directory record outside the file");
    *count = zrd(z->buf + off64 + 32, 8);
    *cd_size = zrd(z->buf + off64 + 40, 8);
    *cd_off = zrd(z->buf + off64 + 48, 8);
    return 0;
}

/* Sizes and offset saturated in a central record come from its zip64 extra field. */
static int zip_extra64(const uint8_t *x, size_t xlen, uint64_t *usize, uint64_t *csize,
                       uint64_t *loc, char *err) {
    for (size_t i = 0; i + 4 <= xlen;) {
        uint16_t id = (uint16_t)zrd(x + i, 2), n = (uint16_t)zrd(x + i + 2, 2);
        if (i + 4 + n > xlen) break;
        if (id == 1) {
            const uint8_t *p = x + i + 4, *end = p + n;
            uint64_t *f[3] = {usize, csize, loc};
            for (int k = 0; k < 3; k++) {
                if (*f[k] != 0xffffffff) continue;
                if (p + 8 > end) return io_fail(err, "zip64 extra field too short");
                *f[k] = zrd(p, 8);
                p += 8;
            }
            return 0;
        }
        i += 4 + (size_t)n;
    }
    if (*usize == 0xffffffff || *csize == 0xffffffff || *loc == 0xffffffff)
        return io_fail(err, "zip entry needs a zip64 extra field but has none");
    return 0;
}

static int zip_entry_at(zip_archive *z, const uint8_t *c, size_t avail, size_t *used,
                        zip_entry *e, char *err) {
    if (avail < 46 || memcmp(c, "PK\1\2", 4) != 0)
        return io_fail(err, "zip central directory is corrupt");
    uint64_t nlen = zrd(c + 28, 2), xlen = zrd(c + 30, 2), clen = zrd(c + 32, 2);
    if (46 + nlen + xlen + clen > avail) return io_fail(err, "zip central directory is corrupt");
    e->flags = (uint16_t)zrd(c + 8, 2);
    e->method = (uint16_t)zrd(c + 10, 2);
    uint64_t csize = zrd(c + 20, 4), usize = zrd(c + 24, 4), loc = zrd(c + 42, 4);
    if (zip_extra64(c + 46 + nlen, xlen, &usize, &csize, &loc, err)) return -1;
    if (!(e->name = malloc(nlen + 1))) return io_fail(err, "out of memory");
    memcpy(e->name, c + 46, nlen);
    e->name[nlen] = 0;
    if (!zin(z, loc, 30) || memcmp(z->buf + loc, "PK\3\4", 4) != 0)
        return io_fail(err, "zip entry '%s': local header outside the file or corrupt", e->name);
    e->data = loc + 30 + zrd(z->buf + loc + 26, 2) + zrd(z->buf + loc + 28, 2);
    e->size = csize;
    if (!zin(z, e->data, csize))
        return io_fail(err, "zip entry '%s': %llu bytes at offset %llu run past the end of the "
                            "file (truncated?)", e->name, (unsigned long long)csize,
                       (unsigned long long)e->data);
    if (e->method == 0 && usize != csize)
        return io_fail(err, "zip entry '%s': stored entry with differing sizes", e->name);
    *used = 46 + nlen + xlen + clen;
    return 0;
}

int zip_open(zip_archive *z, const uint8_t *buf, size_t len, char *err) {
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->len = len;
    uint64_t cd_off = 0, cd_size = 0, count = 0;
    if (zip_find_eocd(z, &cd_off, &cd_size, &count, err)) return -1;
    if (!zin(z, cd_off, cd_size))
        return io_fail(err, "zip central directory lies outside the file (truncated?)");
    if (count > cd_size / 46) return io_fail(err, "zip central directory is corrupt");
    if (!(z->e = calloc(count ? count : 1, sizeof *z->e))) return io_fail(err, "out of memory");
    size_t at = 0;
    for (uint64_t i = 0; i < count; i++) {
        size_t used = 0;
        int rc = zip_entry_at(z, buf + cd_off + at, cd_size - at, &used, &z->e[i], err);
        z->n = i + 1;
        if (rc) { zip_close(z); return -1; }
        at += used;
    }
    return 0;
}

void zip_close(zip_archive *z) {
    for (size_t i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    z->e = NULL;
    z->n = 0;
}

const zip_entry *zip_find(const zip_archive *z, const char *name) {
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, name) == 0) return &z->e[i];
    return NULL;
}

const uint8_t *zip_data(const zip_archive *z, const zip_entry *e, char *err) {
    if (e->flags & 1) { io_fail(err, "zip entry '%s' is encrypted", e->name); return NULL; }
    if (e->method != 0) {
        io_fail(err, "zip entry '%s' is compressed (method %u); only stored entries are "
                     "supported, as torch.save writes them", e->name, e->method);
        return NULL;
    }
    return z->buf + e->data;
}
