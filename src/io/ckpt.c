/* ckpt.c -- the format-independent state dict (see ckpt.h).
 *
 * Entries live in one array in file order; an open-addressing hash table of entry
 * indices (FNV-1a over the name, linear probing, kept at most half full) answers
 * lookups by name. Heap blocks a reader had to allocate (aligned copies, gathered
 * strided views, decoded names) are kept in a list and freed on close.
 */
#include "io/ckpt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct ckpt_entry {
    char *name;
    tensor t;
} ckpt_entry;

struct ckpt {
    char *name;                 /* path, for messages */
    ckpt_format format;
    void *map;                  /* mmapped file, or NULL for ckpt_open_memory */
    size_t size;
    ckpt_entry *e;
    size_t n, cap;
    size_t *slot;               /* hash table of entry index + 1; 0 = empty */
    size_t nslot;               /* power of two */
    char **meta;                /* key, value, key, value, ... */
    size_t nmeta;
    void **owned;
    size_t nowned;
};

int io_fail(char *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, IO_ERR_LEN, fmt, ap);
    va_end(ap);
    return -1;
}

static uint64_t ckpt_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

int64_t io_shape_bytes(dtype dt, int ndim, const int64_t *ne) {
    int64_t n = (int64_t)dtype_size(dt);
    for (int i = 0; i < ndim; i++) {
        if (ne[i] < 0) return -1;
        if (ne[i] != 0 && n > ((int64_t)1 << 62) / ne[i]) return -1;
        n *= ne[i];
    }
    return n;
}

int ckpt_own(ckpt *c, void *block, char *err) {
    void **o = realloc(c->owned, (c->nowned + 1) * sizeof *o);
    if (!o) { free(block); return io_fail(err, "out of memory"); }
    c->owned = o;
    c->owned[c->nowned++] = block;
    return 0;
}

static int ckpt_index_grow(ckpt *c, char *err) {
    size_t nslot = c->nslot ? c->nslot * 2 : 64;
    size_t *slot = calloc(nslot, sizeof *slot);
    if (!slot) return io_fail(err, "out of memory");
    for (size_t i = 0; i < c->n; i++) {
        size_t h = ckpt_hash(c->e[i].name) & (nslot - 1);
        while (slot[h]) h = (h + 1) & (nslot - 1);
        slot[h] = i + 1;
    }
    free(c->slot);
    c->slot = slot;
    c->nslot = nslot;
    return 0;
}

static size_t ckpt_find(const ckpt *c, const char *name) {
    if (!c->nslot) return (size_t)-1;
    for (size_t h = ckpt_hash(name) & (c->nslot - 1); c->slot[h]; h = (h + 1) & (c->nslot - 1))
        if (strcmp(c->e[c->slot[h] - 1].name, name) == 0) return c->slot[h] - 1;
    return (size_t)-1;
}

int ckpt_add(ckpt *c, const char *name, dtype dt, int ndim, const int64_t *ne,
             const void *data, char *err) {
    if (ndim < 0 || ndim > T_MAX_DIMS)
        return io_fail(err, "tensor '%s' has %d dims; at most %d are supported", name, ndim,
                       T_MAX_DIMS);
    int64_t nbytes = io_shape_bytes(dt, ndim, ne);
    if (nbytes < 0) return io_fail(err, "tensor '%s': shape too large", name);
    if (ckpt_find(c, name) != (size_t)-1) return io_fail(err, "duplicate tensor name '%s'", name);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        ckpt_entry *e = realloc(c->e, cap * sizeof *e);
        if (!e) return io_fail(err, "out of memory");
        c->e = e;
        c->cap = cap;
    }
    if (2 * (c->n + 1) > c->nslot && ckpt_index_grow(c, err)) return -1;

    void *p = (void *)data;
    if ((uintptr_t)data % dtype_size(dt)) {   /* unaligned in the file: copy */
        p = malloc(nbytes ? (size_t)nbytes : 1);
        if (!p || ckpt_own(c, p, err)) return p ? -1 : io_fail(err, "out of memory");
        memcpy(p, data, (size_t)nbytes);
    }
    char *nm = strdup(name);
    if (!nm) return io_fail(err, "out of memory");
    ckpt_entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    e->name = nm;
    e->t.dt = dt;
    e->t.ndim = ndim;
    for (int i = 0; i < T_MAX_DIMS; i++) e->t.ne[i] = i < ndim ? ne[i] : 1;
    e->t.data = p;
    e->t.nbytes = (size_t)nbytes;
    e->t.storage = T_BORROWED;
    size_t h = ckpt_hash(nm) & (c->nslot - 1);
    while (c->slot[h]) h = (h + 1) & (c->nslot - 1);
    c->slot[h] = ++c->n;
    return 0;
}

int ckpt_add_meta(ckpt *c, const char *key, const char *value, char *err) {
    char **m = realloc(c->meta, (c->nmeta + 1) * 2 * sizeof *m);
    if (!m) return io_fail(err, "out of memory");
    c->meta = m;
    m[2 * c->nmeta] = strdup(key);
    m[2 * c->nmeta + 1] = strdup(value);
    c->nmeta++;
    if (!m[2 * c->nmeta - 2] || !m[2 * c->nmeta - 1]) return io_fail(err, "out of memory");
    return 0;
}

/* Recognise the container by its first bytes, then let its reader fill the ckpt. */
static int ckpt_read(ckpt *c, const uint8_t *buf, size_t len, char *err) {
    static const uint8_t torch_legacy_magic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8,
                                                 0x50, 0x19};
    if (len >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0) {
        c->format = CKPT_TORCH_ZIP;
        return torchzip_read(c, buf, len, err);
    }
    if (len >= 2 && buf[0] == 0x80 && buf[1] <= 5) {
        int legacy = len >= 4 + sizeof torch_legacy_magic && buf[2] == 0x8a &&
                     memcmp(buf + 4, torch_legacy_magic, sizeof torch_legacy_magic) == 0;
        return io_fail(err, "%s (a bare pickle, not a zip archive) is not supported: "
                            "re-save it with torch >= 1.6 or convert it to .safetensors",
                       legacy ? "legacy PyTorch checkpoint format" : "pickle file");
    }
    if (len >= 4 && memcmp(buf, "GGUF", 4) == 0)
        return io_fail(err, "GGUF files are not supported");
    if (len >= 9 && buf[8] == '{') {
        c->format = CKPT_SAFETENSORS;
        return st_read(c, buf, len, err);
    }
    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)
        return io_fail(err, "gzip-compressed file: decompress it first");
    if (len >= 9)
        return io_fail(err, "unrecognised file format: not safetensors (8-byte length, then "
                            "'{'), a PyTorch zip or a pickle");
    c->format = CKPT_SAFETENSORS;      /* too short for anything: say so in its terms */
    return st_read(c, buf, len, err);
}

static ckpt *ckpt_fail(ckpt *c, char **err, const char *msg) {
    if (err) {
        size_t n = strlen(c->name) + strlen(msg) + 3;
        *err = malloc(n);
        if (*err) snprintf(*err, n, "%s: %s", c->name, msg);
    }
    ckpt_close(c);
    return NULL;
}

static ckpt *ckpt_alloc(const char *name, char **err) {
    if (err) *err = NULL;
    ckpt *c = calloc(1, sizeof *c);
    if (c && !(c->name = strdup(name))) { free(c); c = NULL; }
    if (!c && err) *err = strdup("out of memory");
    return c;
}

ckpt *ckpt_open_memory(const void *buf, size_t len, const char *name, char **err) {
    char msg[IO_ERR_LEN];
    ckpt *c = ckpt_alloc(name ? name : "(memory)", err);
    if (!c) return NULL;
    c->size = len;
    if (ckpt_read(c, buf, len, msg)) return ckpt_fail(c, err, msg);
    return c;
}

ckpt *ckpt_open(const char *path, char **err) {
    char msg[IO_ERR_LEN];
    ckpt *c = ckpt_alloc(path, err);
    if (!c) return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not block us */
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(msg, sizeof msg, "cannot open: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return ckpt_fail(c, err, msg);
    }
    if (!S_ISREG(st.st_mode)) { close(fd); return ckpt_fail(c, err, "not a regular file"); }
    c->size = (size_t)st.st_size;
    if (c->size == 0) { close(fd); return ckpt_fail(c, err, "empty file"); }
    c->map = mmap(NULL, c->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        snprintf(msg, sizeof msg, "cannot mmap: %s", strerror(errno));
        return ckpt_fail(c, err, msg);
    }
    if (ckpt_read(c, c->map, c->size, msg)) return ckpt_fail(c, err, msg);
    return c;
}

void ckpt_close(ckpt *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free(c->e[i].name);
    for (size_t i = 0; i < 2 * c->nmeta; i++) free(c->meta[i]);
    for (size_t i = 0; i < c->nowned; i++) free(c->owned[i]);
    if (c->map) munmap(c->map, c->size);
    free(c->e);
    free(c->slot);
    free(c->meta);
    free(c->owned);
    free(c->name);
    free(c);
}

ckpt_format ckpt_get_format(const ckpt *c) { return c->format; }
const char *ckpt_format_name(ckpt_format f) {
    return f == CKPT_TORCH_ZIP ? "pytorch-zip" : "safetensors";
}
size_t ckpt_file_size(const ckpt *c) { return c->size; }
size_t ckpt_count(const ckpt *c) { return c->n; }
const char *ckpt_key(const ckpt *c, size_t i) { return i < c->n ? c->e[i].name : NULL; }
const tensor *ckpt_at(const ckpt *c, size_t i) { return i < c->n ? &c->e[i].t : NULL; }

const tensor *ckpt_get(const ckpt *c, const char *name) {
    size_t i = ckpt_find(c, name);
    return i == (size_t)-1 ? NULL : &c->e[i].t;
}

size_t ckpt_next(const ckpt *c, const char *prefix, size_t from) {
    size_t plen = strlen(prefix);
    for (size_t i = from; i < c->n; i++)
        if (strncmp(c->e[i].name, prefix, plen) == 0) return i;
    return c->n;
}

size_t ckpt_count_prefix(const ckpt *c, const char *prefix) {
    size_t k = 0;
    for (size_t i = ckpt_next(c, prefix, 0); i < c->n; i = ckpt_next(c, prefix, i + 1)) k++;
    return k;
}

static void shape_str(char *out, size_t len, int ndim, const int64_t *ne) {
    size_t k = (size_t)snprintf(out, len, "[");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(out + k, len - k, "%s%lld", i ? "," : "", (long long)ne[i]);
    if (k < len) snprintf(out + k, len - k, "]");
}

const tensor *ckpt_want(const ckpt *c, char **err, int ndim, const int64_t *ne,
                        const char *fmt, ...) {
    char name[256], msg[IO_ERR_LEN + 256], have[96], want[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (err) *err = NULL;
    const tensor *t = ckpt_get(c, name);
    if (!t) {
        snprintf(msg, sizeof msg, "missing tensor '%s'", name);
    } else {
        int same = !ne || t->ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = t->ne[i] == ne[i];
        if (same) return t;
        shape_str(have, sizeof have, t->ndim, t->ne);
        shape_str(want, sizeof want, ndim, ne);
        snprintf(msg, sizeof msg, "tensor '%s' has shape %s, expected %s", name, have, want);
    }
    if (err) {
        size_t n = strlen(c->name) + strlen(msg) + 3;
        if ((*err = malloc(n))) snprintf(*err, n, "%s: %s", c->name, msg);
    }
    return NULL;
}

size_t ckpt_meta_count(const ckpt *c) { return c->nmeta; }
void ckpt_meta_at(const ckpt *c, size_t i, const char **key, const char **value) {
    *key = i < c->nmeta ? c->meta[2 * i] : NULL;
    *value = i < c->nmeta ? c->meta[2 * i + 1] : NULL;
}
const char *ckpt_meta(const ckpt *c, const char *key) {
    for (size_t i = 0; i < c->nmeta; i++)
        if (strcmp(c->meta[2 * i], key) == 0) return c->meta[2 * i + 1];
    return NULL;
}
