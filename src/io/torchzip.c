/* torchzip.c -- PyTorch zip checkpoints (.ckpt .pt .pth .bin from torch >= 1.6).
 *
 * torch.save writes a zip of stored entries: <root>/data.pkl (the pickled object),
 * <root>/data/<key> (one raw little-endian storage per key) and small records such as
 * <root>/byteorder. The safe pickle VM (pickle.c) yields each tensor as a view of a
 * storage; here the view is checked against the storage's real size and becomes a
 * ckpt entry: a pointer into the mapping when it is contiguous, a gathered heap
 * copy when it is strided.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt_internal.h"
#include "io/pickle.h"
#include "io/zip.h"

typedef struct tz_ctx {
    ckpt *c;
    const zip_archive *z;
    char root[256];          /* "<root>/" or "" */
} tz_ctx;

/* Copies a strided view into a contiguous buffer, last dim fastest. */
static void tz_gather(const uint8_t *base, const pk_tensor *t, size_t es, uint8_t *out) {
    int64_t idx[PK_MAX_DIMS] = {0};
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->ne[d];
    for (int64_t i = 0; i < numel; i++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        memcpy(out + (size_t)i * es, base + (size_t)off * es, es);
        for (int d = t->ndim - 1; d >= 0 && ++idx[d] == t->ne[d]; d--) idx[d] = 0;
    }
}

/* The highest storage element the view reaches, or -1 on a bad view. */
static int64_t tz_extent(const pk_tensor *t, int *contiguous) {
    int64_t hi = t->offset, want = 1;
    *contiguous = 1;
    if (t->offset < 0) return -1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->ne[d] < 0 || t->stride[d] < 0) return -1;
        if (t->ne[d] == 0) return 0;
        int64_t span;
        if (__builtin_mul_overflow(t->ne[d] - 1, t->stride[d], &span) ||
            __builtin_add_overflow(hi, span, &hi))
            return -1;
        if (t->ne[d] > 1 && t->stride[d] != want) *contiguous = 0;
        if (__builtin_mul_overflow(want, t->ne[d], &want)) return -1;
    }
    return hi;
}

static int tz_emit(void *vctx, const char *name, const pk_tensor *t, char *err) {
    tz_ctx *x = vctx;
    char path[600];
    snprintf(path, sizeof path, "%sdata/%s", x->root, t->storage_key);
    const zip_entry *e = zip_find(x->z, path);
    if (!e) return io_fail(err, "tensor '%s': storage '%s' is missing from the archive", name, path);
    const uint8_t *base = zip_data(x->z, e, err);
    if (!base) return -1;
    size_t es = dtype_size(t->dt);
    if (t->storage_numel < 0 || e->size / es < (uint64_t)t->storage_numel)
        return io_fail(err, "storage '%s' holds %llu bytes, fewer than the %lld %s elements the "
                            "pickle declares", path, (unsigned long long)e->size,
                       (long long)t->storage_numel, dtype_name(t->dt));
    int contiguous;
    int64_t hi = tz_extent(t, &contiguous);
    if (hi < 0) return io_fail(err, "tensor '%s': invalid size/stride/offset", name);
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->ne[d];
    if (numel && hi >= t->storage_numel)
        return io_fail(err, "tensor '%s' reaches element %lld of storage '%s', which has %lld",
                       name, (long long)hi, path, (long long)t->storage_numel);
    if (!numel || contiguous)
        return ckpt_add(x->c, name, t->dt, t->ndim, t->ne,
                        base + (numel ? (size_t)t->offset * es : 0), err);
    uint8_t *copy = malloc((size_t)numel * es);
    if (!copy || ckpt_own(x->c, copy, err)) return copy ? -1 : io_fail(err, "out of memory");
    tz_gather(base, t, es, copy);
    return ckpt_add(x->c, name, t->dt, t->ndim, t->ne, copy, err);
}

/* <root>/data.pkl, the root being the archive's single top-level folder. */
static const zip_entry *tz_find_pickle(const zip_archive *z, char *root, size_t rootlen) {
    for (size_t i = 0; i < z->n; i++) {
        const char *n = z->e[i].name, *slash = strchr(n, '/');
        size_t len = strlen(n);
        if (len < 8 || strcmp(n + len - 8, "data.pkl") != 0) continue;
        if (slash && slash != n + len - 9) continue;      /* deeper than <root>/data.pkl */
        if (len - 8 >= rootlen) continue;
        memcpy(root, n, len - 8);
        root[len - 8] = 0;
        return &z->e[i];
    }
    return NULL;
}

int torchzip_read(ckpt *c, const uint8_t *buf, size_t len, char *err) {
    zip_archive z;
    if (zip_open(&z, buf, len, err)) return -1;
    tz_ctx x = {.c = c, .z = &z};
    const zip_entry *pkl = tz_find_pickle(&z, x.root, sizeof x.root);
    const uint8_t *prog = NULL;
    int rc = 0;
    if (!pkl) rc = io_fail(err, "zip archive without data.pkl: not a PyTorch checkpoint");
    if (!rc && !(prog = zip_data(&z, pkl, err))) rc = -1;
    char bo[300];
    snprintf(bo, sizeof bo, "%sbyteorder", x.root);
    const zip_entry *order = rc ? NULL : zip_find(&z, bo);
    if (order) {
        const uint8_t *p = zip_data(&z, order, err);
        if (!p) rc = -1;
        else if (order->size != 6 || memcmp(p, "little", 6) != 0)
            rc = io_fail(err, "big-endian PyTorch checkpoints are not supported");
    }
    if (!rc) rc = pk_load_state_dict(prog, pkl->size, tz_emit, &x, err);
    if (!rc && ckpt_count(c) == 0) rc = io_fail(err, "the checkpoint's state dict holds no tensors");
    zip_close(&z);
    return rc;
}
